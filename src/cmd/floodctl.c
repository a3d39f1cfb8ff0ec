/* cmd/floodctl - the administrator's command line.
 *
 * Room: cmd (a thin main).  Domains, users and aliases are changed in the
 * store directly: SQLite in WAL mode lets floodctl write while the daemon
 * runs, and it works the same with the daemon stopped.  "status" and
 * "queue list" ask the daemon over the control socket when it runs and
 * fall back to the store when it does not.  DKIM keys are made here too,
 * as files in the state dir and rows in the store.  Exit codes: 0 done,
 * 1 operational error (the message says what to do next), 2 usage error. */
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "accounts/accounts.h"
#include "accounts/password.h"
#include "control/control.h"
#include "control/control_client.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"
#include "delivery/dkim.h"
#include "queue/queue_actions.h"
#include "queue/queue_query.h"
#include "queue/store.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

#define DEFAULT_CONFIG "/etc/floodgate/floodgate.conf"
#define PASSWORD_MIN 8 /* until the password policy library arrives */
#define CELL_MAX 40    /* display columns of a truncated table cell */
#define ARGS_MAX 8     /* positional arguments of any subcommand */
#define ADDRESS_LEN_MAX 254

/* Everything one run of floodctl needs. */
struct ctl {
    const char *config_path;
    struct config *cfg;
    bool json;
    char store_file[PATH_MAX];
    char socket_file[PATH_MAX];
    sqlite3 *db; /* opened on first use */
    bool setup_done;
    int setup_rc;
};

/* One option a subcommand accepts: a flag, or an option with a value. */
struct opt {
    const char *name;
    bool has_value;
    bool set;
    const char *value;
};

/* Parsed arguments of one subcommand. */
struct args {
    int n;
    char *pos[ARGS_MAX];
};

struct subcommand {
    const char *name;
    int min, max; /* positional arguments */
    int (*run)(struct ctl *c, struct args *a, struct opt *opts);
    struct opt *(*options)(void); /* NULL: takes no options */
};

/* ---------------------------------------------------------------- usage */

static const char usage_domain[] = "  floodctl domain add DOMAIN\n"
                                   "  floodctl domain del DOMAIN [--force]\n"
                                   "  floodctl domain list [--json]\n";
static const char usage_user[] = "  floodctl user add ADDRESS\n"
                                 "  floodctl user del ADDRESS\n"
                                 "  floodctl user passwd ADDRESS\n"
                                 "  floodctl user list [DOMAIN] [--json]\n";
static const char usage_alias[] = "  floodctl alias add ADDRESS TARGET\n"
                                  "  floodctl alias del ADDRESS [TARGET]\n"
                                  "  floodctl alias list [DOMAIN] [--json]\n";
static const char usage_status[] = "  floodctl status [--json]\n";
static const char usage_dkim[] =
    "  floodctl dkim generate DOMAIN [--selector S] [--algorithm rsa|ed25519] [--json]\n"
    "  floodctl dkim show DOMAIN [--json]\n";
static const char usage_queue[] =
    "  floodctl queue list [--auth-user USER] [--state queued|deferred|held]\n"
    "                      [--limit N] [--json]\n"
    "  floodctl queue retry ID|--all\n";

/* usage_all - the whole synopsis to FP. */
static void usage_all(FILE *fp)
{
    fprintf(fp,
            "usage: floodctl [-c CONFIG] [--json] COMMAND ...\n\n"
            "CONFIG defaults to $FLOODGATE_CONFIG, else " DEFAULT_CONFIG ".\n"
            "Passwords are read from the terminal (twice) or one line of stdin.\n\n"
            "commands:\n%s%s%s%s%s%s  floodctl help [COMMAND]\n",
            usage_domain, usage_user, usage_alias, usage_status, usage_queue, usage_dkim);
}

/* usage_of - the synopsis of command NAME, or NULL if there is none. */
static const char *usage_of(const char *name)
{
    static const struct {
        const char *name, *text;
    } table[] = {{"domain", usage_domain}, {"user", usage_user},   {"alias", usage_alias},
                 {"status", usage_status}, {"queue", usage_queue}, {"dkim", usage_dkim}};
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(table[i].name, name) == 0)
            return table[i].text;
    return NULL;
}

/* usage_error - say what is wrong, show the synopsis of GROUP, exit code 2. */
static int usage_error(const char *group, const char *fmt, const char *arg)
{
    fputs("floodctl: ", stderr);
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    const char *text = group ? usage_of(group) : NULL;
    if (text)
        fprintf(stderr, "usage:\n%s", text);
    else
        usage_all(stderr);
    return EXIT_USAGE;
}

/* fail - print an operational error and return exit code 1. */
static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("floodctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return EXIT_FAIL;
}

/* ------------------------------------------------------------- arguments */

/* find_opt - the option called NAME in OPTS, or NULL. */
static struct opt *find_opt(struct opt *opts, const char *name)
{
    for (; opts && opts->name; opts++)
        if (strcmp(opts->name, name) == 0)
            return opts;
    return NULL;
}

/* parse_args - split ARGV into positionals and the OPTS the subcommand
 * knows; -1 with the offending word in *BAD on anything else. */
static int parse_args(int argc, char **argv, struct opt *opts, struct args *a, const char **bad)
{
    a->n = 0;
    for (int i = 0; i < argc; i++) {
        *bad = argv[i];
        if (strncmp(argv[i], "--", 2) != 0 || argv[i][2] == '\0') {
            if (a->n == ARGS_MAX)
                return -1;
            a->pos[a->n++] = argv[i];
            continue;
        }
        struct opt *o = find_opt(opts, argv[i]);
        if (o == NULL || o->set || (o->has_value && i + 1 >= argc))
            return -1;
        o->set = true;
        if (o->has_value)
            o->value = argv[++i];
    }
    return 0;
}

/* run_group - find the subcommand named by ARGV[0] in SUBS, check its
 * arguments, and run it. */
static int run_group(struct ctl *c, const char *group, const struct subcommand *subs, int argc,
                     char **argv)
{
    if (argc < 1)
        return usage_error(group, "%s: which subcommand?", group);
    for (const struct subcommand *s = subs; s->name; s++) {
        if (strcmp(s->name, argv[0]) != 0)
            continue;
        struct opt *opts = s->options ? s->options() : NULL;
        struct args a;
        const char *bad = NULL;
        if (parse_args(argc - 1, argv + 1, opts, &a, &bad) < 0)
            return usage_error(group, "unexpected or incomplete argument '%s'", bad);
        if (a.n < s->min || a.n > s->max)
            return usage_error(group, "wrong number of arguments for '%s'", argv[0]);
        /* Domains and addresses are case-insensitive and stored lowercased:
         * echo them back the way they are stored. */
        for (int i = 0; i < a.n; i++)
            str_lower(a.pos[i]);
        return s->run(c, &a, opts);
    }
    return usage_error(group, "unknown subcommand '%s'", argv[0]);
}

/* --------------------------------------------------------------- output */

/* print_json - V to stdout, indented, with a final newline. */
static int print_json(json_t *v)
{
    if (json_dumpf(v, stdout, JSON_INDENT(2)) < 0 || putchar('\n') == EOF)
        return fail("cannot write to stdout");
    return EXIT_OK;
}

/* print_empty - the line shown for an empty listing. */
static int print_empty(const char *text)
{
    if (puts(text) == EOF)
        return fail("cannot write to stdout");
    return EXIT_OK;
}

/* utf8_width - display columns of S, counting code points (good enough
 * for addresses and status lines). */
static size_t utf8_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            w++;
    return w;
}

/* cell - S made safe for a terminal (control characters become '?') and
 * cut to MAXW columns with "…"; MAXW 0 means no limit.  Returns a fresh
 * string or NULL when memory runs out. */
static char *cell(const char *s, size_t maxw)
{
    size_t len = strlen(s), w = 0, o = 0;
    char *out = malloc(len + 4);
    if (out == NULL)
        return NULL;
    bool cut = maxw > 0 && utf8_width(s) > maxw;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch & 0xc0) != 0x80 && cut && ++w > maxw - 1)
            break;
        out[o++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
    }
    if (cut) {
        memcpy(out + o, "\xe2\x80\xa6", 3); /* U+2026 HORIZONTAL ELLIPSIS */
        o += 3;
    }
    out[o] = '\0';
    return out;
}

/* A table whose columns are as wide as their widest cell. */
struct table {
    size_t ncols, nrows, cap;
    const char *const *head;
    char **cells; /* nrows * ncols, owned */
};

/* table_add - append a row of NCOLS strings (copied, cut to MAXW[i]). */
static int table_add(struct table *t, const char *const *row, const size_t *maxw)
{
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        char **p = realloc(t->cells, cap * t->ncols * sizeof *p);
        if (p == NULL)
            return -1;
        t->cells = p;
        t->cap = cap;
    }
    char **dst = t->cells + t->nrows * t->ncols;
    for (size_t i = 0; i < t->ncols; i++) {
        dst[i] = cell(row[i] ? row[i] : "-", maxw ? maxw[i] : 0);
        if (dst[i] == NULL) {
            while (i-- > 0)
                free(dst[i]);
            return -1;
        }
    }
    t->nrows++;
    return 0;
}

/* table_row_print - one line of NCOLS cells padded to WIDTHS. */
static void table_row_print(const struct table *t, const char *const *row, const size_t *widths)
{
    for (size_t i = 0; i < t->ncols; i++) {
        bool last = i + 1 == t->ncols;
        fputs(row[i], stdout);
        for (size_t w = utf8_width(row[i]); !last && w < widths[i] + 2; w++)
            putchar(' ');
    }
    putchar('\n');
}

/* table_print - header and rows, aligned; frees the cells. */
static int table_print(struct table *t)
{
    size_t *widths = calloc(t->ncols, sizeof *widths);
    if (widths == NULL)
        return fail("out of memory");
    for (size_t i = 0; i < t->ncols; i++)
        widths[i] = utf8_width(t->head[i]);
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t i = 0; i < t->ncols; i++) {
            size_t w = utf8_width(t->cells[r * t->ncols + i]);
            widths[i] = w > widths[i] ? w : widths[i];
        }
    table_row_print(t, t->head, widths);
    for (size_t r = 0; r < t->nrows; r++)
        table_row_print(t, (const char *const *)t->cells + r * t->ncols, widths);
    free(widths);
    for (size_t k = 0; k < t->nrows * t->ncols; k++)
        free(t->cells[k]);
    free(t->cells);
    return ferror(stdout) ? fail("cannot write to stdout") : EXIT_OK;
}

/* table_discard - free a table that will not be printed. */
static void table_discard(struct table *t)
{
    for (size_t k = 0; k < t->nrows * t->ncols; k++)
        free(t->cells[k]);
    free(t->cells);
}

/* fmt_time - a JSON unix time as local "YYYY-MM-DD HH:MM:SS", or "-". */
static const char *fmt_time(json_t *v, char *buf, size_t len)
{
    struct tm tm;
    time_t t = (time_t)json_integer_value(v);
    if (!json_is_integer(v) || localtime_r(&t, &tm) == NULL ||
        strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        return "-";
    return buf;
}

/* str_of - the string member KEY of OBJ, or NULL. */
static const char *str_of(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* ---------------------------------------------------------------- store */

static int ctl_setup(struct ctl *c);

/* ctl_ready - load the config and switch user on first need, so that a
 * usage error is reported even when the config is broken. */
static bool ctl_ready(struct ctl *c)
{
    if (!c->setup_done) {
        c->setup_done = true;
        c->setup_rc = ctl_setup(c);
    }
    return c->setup_rc == EXIT_OK;
}

/* ctl_store - the store, opened on first use. */
static sqlite3 *ctl_store(struct ctl *c)
{
    char err[512];
    if (!ctl_ready(c))
        return NULL;
    if (c->db == NULL) {
        c->db = store_open(c->store_file, err, sizeof err);
        if (c->db == NULL)
            fail("%s", err);
    }
    return c->db;
}

/* check_address - the light shape check floodctl does before asking for
 * a password: one '@', both parts non-empty, at most 254 octets. */
static int check_address(const char *a)
{
    const char *at = strchr(a, '@');
    if (strlen(a) > ADDRESS_LEN_MAX || at == NULL || at == a || at[1] == '\0' ||
        strchr(at + 1, '@') != NULL)
        return fail("invalid address '%s': expected local@domain (at most %d characters)", a,
                    ADDRESS_LEN_MAX);
    return EXIT_OK;
}

/* ------------------------------------------------------------ passwords */

static struct termios saved_tty;
static volatile sig_atomic_t tty_changed;

/* restore_tty - signal handler: turn echo back on, then die of SIG as
 * the shell expects. */
static void restore_tty(int sig)
{
    if (tty_changed)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* read_line - one line of stdin without its newline into BUF; -1 at end
 * of input, -2 when longer than LEN-1 (the rest of the line is skipped). */
static int read_line(char *buf, size_t len)
{
    size_t n = 0;
    int ch;
    while ((ch = getchar()) != EOF && ch != '\n') {
        if (n + 1 >= len) {
            while ((ch = getchar()) != EOF && ch != '\n')
                ;
            return -2;
        }
        buf[n++] = (char)ch;
    }
    buf[n] = '\0';
    return ch == EOF && n == 0 ? -1 : 0;
}

/* read_hidden - prompt on stderr and read a line from the terminal with
 * echo off; the signal handlers make sure ^C does not leave it off. */
static int read_hidden(const char *prompt, char *buf, size_t len)
{
    struct termios quiet;
    struct sigaction sa = {.sa_handler = restore_tty};
    if (tcgetattr(STDIN_FILENO, &saved_tty) < 0)
        return -1;
    quiet = saved_tty;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGQUIT, &sa, NULL);
    fputs(prompt, stderr);
    fflush(stderr);
    if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) < 0)
        return -1;
    tty_changed = 1;
    int rc = read_line(buf, len);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
    tty_changed = 0;
    fputc('\n', stderr);
    return rc;
}

/* check_password - the rules a new password must meet. */
static int check_password(const char *pw, int read_rc)
{
    if (read_rc == -2 || strlen(pw) > PASSWORD_MAX)
        return fail("password longer than %d characters refused", PASSWORD_MAX);
    if (read_rc < 0 || pw[0] == '\0')
        return fail("empty password refused");
    if (strlen(pw) < PASSWORD_MIN)
        return fail("password shorter than %d characters refused", PASSWORD_MIN);
    return EXIT_OK;
}

/* get_password - a new password into PW (PASSWORD_MAX + 2): asked twice
 * on a terminal, else one line of stdin (for scripts: never from argv,
 * where every user of the machine could read it in ps). */
static int get_password(char *pw, size_t len)
{
    char again[PASSWORD_MAX + 2];
    if (!isatty(STDIN_FILENO))
        return check_password(pw, read_line(pw, len));
    int rc = read_hidden("New password: ", pw, len);
    if (check_password(pw, rc) != EXIT_OK)
        return EXIT_FAIL;
    rc = read_hidden("Retype new password: ", again, sizeof again);
    bool same = rc == 0 && strcmp(pw, again) == 0;
    sodium_memzero(again, sizeof again);
    if (!same)
        return fail("the two passwords do not match; nothing changed");
    return EXIT_OK;
}

/* new_hash - read a new password and hash it into HASH. */
static int new_hash(char *hash)
{
    char pw[PASSWORD_MAX + 2];
    int rc = get_password(pw, sizeof pw);
    if (rc == EXIT_OK && password_hash(pw, hash) < 0)
        rc = fail("cannot hash the password (out of memory?)");
    sodium_memzero(pw, sizeof pw);
    return rc;
}

/* -------------------------------------------------------------- domains */

/* domain_add - floodctl domain add DOMAIN */
static int domain_add(struct ctl *c, struct args *a, struct opt *o)
{
    char err[512];
    sqlite3 *db = ctl_store(c);
    if (db == NULL)
        return EXIT_FAIL;
    if (accounts_domain_add(db, a->pos[0], err, sizeof err) < 0)
        return fail("%s", err);
    printf("domain %s added\n", a->pos[0]);
    return EXIT_OK;
}

/* opts_force - the options of domain del. */
static struct opt *opts_force(void)
{
    static struct opt opts[] = {{"--force", false, false, NULL}, {NULL, false, false, NULL}};
    return opts;
}

/* domain_del - floodctl domain del DOMAIN [--force] */
static int domain_del(struct ctl *c, struct args *a, struct opt *o)
{
    char err[512];
    sqlite3 *db = ctl_store(c);
    if (db == NULL)
        return EXIT_FAIL;
    if (accounts_domain_del(db, a->pos[0], o[0].set, err, sizeof err) < 0)
        return fail("%s", err);
    printf("domain %s deleted\n", a->pos[0]);
    return EXIT_OK;
}

/* domain_list - floodctl domain list */
static int domain_list(struct ctl *c, struct args *a, struct opt *o)
{
    static const char *const head[] = {"Domain", "Users", "Aliases", "Created"};
    sqlite3 *db = ctl_store(c);
    json_t *list = db ? accounts_domain_list(db) : NULL, *d;
    struct table t = {.ncols = 4, .head = head};
    size_t i;
    if (list == NULL)
        return db ? fail("cannot list domains (details in the log)") : EXIT_FAIL;
    if (c->json || json_array_size(list) == 0) {
        int rc = c->json ? print_json(list)
                         : print_empty("no domains; add one with 'floodctl domain add DOMAIN'");
        json_decref(list);
        return rc;
    }
    json_array_foreach(list, i, d)
    {
        char users[24], aliases[24], when[32];
        snprintf(users, sizeof users, "%lld",
                 (long long)json_integer_value(json_object_get(d, "users")));
        snprintf(aliases, sizeof aliases, "%lld",
                 (long long)json_integer_value(json_object_get(d, "aliases")));
        const char *row[] = {str_of(d, "name"), users, aliases,
                             fmt_time(json_object_get(d, "created"), when, sizeof when)};
        if (table_add(&t, row, NULL) < 0) {
            table_discard(&t);
            json_decref(list);
            return fail("out of memory");
        }
    }
    json_decref(list);
    return table_print(&t);
}

/* ---------------------------------------------------------------- users */

/* user_precheck - before asking for a password, make sure it will be of
 * use: the domain exists and the user does (or does not) yet. */
static int user_precheck(sqlite3 *db, const char *address, bool must_exist)
{
    char hash[PASSWORD_HASH_MAX];
    bool suspended;
    const char *domain = strchr(address, '@') + 1;
    if (!must_exist && !accounts_domain_is_local(db, domain))
        return fail("no such domain %s: add it first with 'floodctl domain add %s'", domain,
                    domain);
    int found = accounts_user_credentials(db, address, hash, sizeof hash, &suspended);
    if (found < 0)
        return fail("cannot read the store (details in the log)");
    if (must_exist && found == 0)
        return fail("no such user %s: see 'floodctl user list'", address);
    if (!must_exist && found == 1)
        return fail("user %s already exists: change its password with "
                    "'floodctl user passwd %s'",
                    address, address);
    return EXIT_OK;
}

/* user_add - floodctl user add ADDRESS (password from terminal or stdin) */
static int user_add(struct ctl *c, struct args *a, struct opt *o)
{
    char hash[PASSWORD_HASH_MAX], err[512];
    const char *addr = a->pos[0];
    if (check_address(addr) != EXIT_OK)
        return EXIT_FAIL;
    sqlite3 *db = ctl_store(c);
    if (db == NULL || user_precheck(db, addr, false) != EXIT_OK || new_hash(hash) != EXIT_OK)
        return EXIT_FAIL;
    if (accounts_user_add(db, addr, hash, err, sizeof err) < 0)
        return fail("%s", err);
    printf("user %s added\n", addr);
    return EXIT_OK;
}

/* user_del - floodctl user del ADDRESS */
static int user_del(struct ctl *c, struct args *a, struct opt *o)
{
    char err[512];
    sqlite3 *db = ctl_store(c);
    if (db == NULL)
        return EXIT_FAIL;
    if (accounts_user_del(db, a->pos[0], err, sizeof err) < 0)
        return fail("%s", err);
    printf("user %s deleted\n", a->pos[0]);
    return EXIT_OK;
}

/* user_passwd - floodctl user passwd ADDRESS */
static int user_passwd(struct ctl *c, struct args *a, struct opt *o)
{
    char hash[PASSWORD_HASH_MAX], err[512];
    const char *addr = a->pos[0];
    if (check_address(addr) != EXIT_OK)
        return EXIT_FAIL;
    sqlite3 *db = ctl_store(c);
    if (db == NULL || user_precheck(db, addr, true) != EXIT_OK || new_hash(hash) != EXIT_OK)
        return EXIT_FAIL;
    if (accounts_user_set_password(db, addr, hash, err, sizeof err) < 0)
        return fail("%s", err);
    printf("password of %s changed\n", addr);
    return EXIT_OK;
}

/* user_list - floodctl user list [DOMAIN] */
static int user_list(struct ctl *c, struct args *a, struct opt *o)
{
    static const char *const head[] = {"Address", "Created", "Suspended"};
    sqlite3 *db = ctl_store(c);
    json_t *list = db ? accounts_user_list(db, a->n ? a->pos[0] : NULL) : NULL, *u;
    struct table t = {.ncols = 3, .head = head};
    size_t i;
    if (list == NULL)
        return db ? fail("cannot list users (details in the log)") : EXIT_FAIL;
    if (c->json || json_array_size(list) == 0) {
        int rc = c->json ? print_json(list)
                         : print_empty("no users; add one with 'floodctl user add ADDRESS'");
        json_decref(list);
        return rc;
    }
    json_array_foreach(list, i, u)
    {
        char when[32];
        const char *row[] = {str_of(u, "address"),
                             fmt_time(json_object_get(u, "created"), when, sizeof when),
                             json_is_true(json_object_get(u, "suspended")) ? "yes" : "no"};
        if (table_add(&t, row, NULL) < 0) {
            table_discard(&t);
            json_decref(list);
            return fail("out of memory");
        }
    }
    json_decref(list);
    return table_print(&t);
}

/* -------------------------------------------------------------- aliases */

/* alias_add - floodctl alias add ADDRESS TARGET */
static int alias_add(struct ctl *c, struct args *a, struct opt *o)
{
    char err[512];
    sqlite3 *db = ctl_store(c);
    if (db == NULL)
        return EXIT_FAIL;
    if (accounts_alias_add(db, a->pos[0], a->pos[1], err, sizeof err) < 0)
        return fail("%s", err);
    printf("alias %s -> %s added\n", a->pos[0], a->pos[1]);
    return EXIT_OK;
}

/* alias_del - floodctl alias del ADDRESS [TARGET] */
static int alias_del(struct ctl *c, struct args *a, struct opt *o)
{
    char err[512];
    sqlite3 *db = ctl_store(c);
    if (db == NULL)
        return EXIT_FAIL;
    if (accounts_alias_del(db, a->pos[0], a->n > 1 ? a->pos[1] : NULL, err, sizeof err) < 0)
        return fail("%s", err);
    if (a->n > 1)
        printf("alias %s -> %s deleted\n", a->pos[0], a->pos[1]);
    else
        printf("alias %s deleted\n", a->pos[0]);
    return EXIT_OK;
}

/* alias_list - floodctl alias list [DOMAIN] */
static int alias_list(struct ctl *c, struct args *a, struct opt *o)
{
    static const char *const head[] = {"Address", "Target", "Created"};
    sqlite3 *db = ctl_store(c);
    json_t *list = db ? accounts_alias_list(db, a->n ? a->pos[0] : NULL) : NULL, *al;
    struct table t = {.ncols = 3, .head = head};
    size_t i;
    if (list == NULL)
        return db ? fail("cannot list aliases (details in the log)") : EXIT_FAIL;
    if (c->json || json_array_size(list) == 0) {
        int rc = c->json ? print_json(list)
                         : print_empty("no aliases; add one with "
                                       "'floodctl alias add ADDRESS TARGET'");
        json_decref(list);
        return rc;
    }
    json_array_foreach(list, i, al)
    {
        char when[32];
        const char *row[] = {str_of(al, "address"), str_of(al, "target"),
                             fmt_time(json_object_get(al, "created"), when, sizeof when)};
        if (table_add(&t, row, NULL) < 0) {
            table_discard(&t);
            json_decref(list);
            return fail("out of memory");
        }
    }
    json_decref(list);
    return table_print(&t);
}

/* --------------------------------------------------------------- daemon */

/* ctl_call - send REQUEST (stolen) to the daemon and return the "result"
 * of a successful reply.  NULL with *NOT_RUNNING set when no daemon
 * listens; NULL with a message printed on any other failure. */
static json_t *ctl_call(struct ctl *c, json_t *request, int *not_running)
{
    char err[512];
    *not_running = 0;
    if (!ctl_ready(c)) {
        json_decref(request);
        return NULL;
    }
    if (request == NULL) {
        fail("out of memory");
        return NULL;
    }
    json_t *reply = control_call(c->socket_file, request, not_running, err, sizeof err);
    json_decref(request);
    if (reply == NULL) {
        if (!*not_running)
            fail("%s", err);
        return NULL;
    }
    if (!json_is_true(json_object_get(reply, "ok"))) {
        const char *e = str_of(reply, "error");
        fail("floodgated: %s", e ? e : "request failed without a reason");
        json_decref(reply);
        return NULL;
    }
    json_t *result = json_incref(json_object_get(reply, "result"));
    json_decref(reply);
    if (result == NULL)
        fail("floodgated: reply without a result");
    return result;
}

/* print_kv - "key: value" lines for V, nested objects as "a.b: value". */
static void print_kv(const char *prefix, json_t *v)
{
    const char *key;
    json_t *sub;
    char name[256];
    if (json_is_object(v)) {
        json_object_foreach(v, key, sub)
        {
            int n = snprintf(name, sizeof name, "%s%s%s", prefix, *prefix ? "." : "", key);
            if (n < 0 || (size_t)n >= sizeof name)
                continue; /* a key this long is no status line anyone reads */
            print_kv(name, sub);
        }
        return;
    }
    if (json_is_string(v)) {
        printf("%s: %s\n", prefix, json_string_value(v));
        return;
    }
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    printf("%s: %s\n", prefix, s ? s : "?");
    free(s);
}

/* status_offline - the daemon is down: say so and how to start it, and
 * still show the queue from the store. */
static int status_offline(struct ctl *c)
{
    fprintf(stderr,
            "floodgated is not running (no control socket at %s); start it with: "
            "floodgated -c %s\n",
            c->socket_file, c->config_path);
    sqlite3 *db = ctl_store(c);
    json_t *counts = db ? queue_counts(db) : NULL;
    if (counts == NULL)
        return EXIT_FAIL;
    if (c->json) {
        json_t *out = json_pack("{s:b, s:o}", "running", 0, "queue", counts);
        if (out != NULL)
            print_json(out);
        json_decref(out);
    } else {
        print_kv("queue", counts);
        json_decref(counts);
    }
    return EXIT_FAIL;
}

/* status - floodctl status */
static int status(struct ctl *c, struct args *a, struct opt *o)
{
    int not_running;
    json_t *result = ctl_call(c, json_pack("{s:s}", "cmd", "status"), &not_running);
    if (result == NULL)
        return not_running ? status_offline(c) : EXIT_FAIL;
    int rc = EXIT_OK;
    if (c->json)
        rc = print_json(result);
    else
        print_kv("", result);
    json_decref(result);
    return rc;
}

/* ---------------------------------------------------------------- queue */

/* opts_queue - the options of queue list. */
static struct opt *opts_queue(void)
{
    static struct opt opts[] = {{"--auth-user", true, false, NULL},
                                {"--state", true, false, NULL},
                                {"--limit", true, false, NULL},
                                {NULL, false, false, NULL}};
    return opts;
}

/* queue_filter_from - check the options of queue list into F. */
static int queue_filter_from(struct opt *o, struct queue_filter *f)
{
    uint64_t limit = 0;
    f->auth_user = o[0].value;
    f->state = o[1].value;
    if (f->state && strcmp(f->state, "queued") != 0 && strcmp(f->state, "deferred") != 0 &&
        strcmp(f->state, "held") != 0)
        return usage_error("queue", "--state must be queued, deferred or held, not '%s'", f->state);
    if (o[2].value &&
        (parse_u64(o[2].value, strlen(o[2].value), &limit) < 0 || limit == 0 || limit > UINT_MAX))
        return usage_error("queue", "--limit must be a positive number, not '%s'", o[2].value);
    f->limit = (unsigned)limit;
    return EXIT_OK;
}

/* set_str - OBJ[KEY] = the string V; -1 when memory runs out. */
static int set_str(json_t *obj, const char *key, const char *v)
{
    return json_object_set_new(obj, key, json_string(v));
}

/* queue_fetch - the listing from the daemon, or from the store when the
 * daemon is not running. */
static json_t *queue_fetch(struct ctl *c, const struct queue_filter *f)
{
    int not_running;
    json_t *req = json_pack("{s:s, s:I}", "cmd", "queue.list", "limit", (json_int_t)f->limit);
    if (req != NULL && ((f->auth_user && set_str(req, "auth_user", f->auth_user) < 0) ||
                        (f->state && set_str(req, "state", f->state) < 0))) {
        json_decref(req);
        req = NULL;
    }
    json_t *list = ctl_call(c, req, &not_running);
    if (list != NULL || !not_running)
        return list;
    sqlite3 *db = ctl_store(c);
    list = db ? queue_list(db, f) : NULL;
    if (db && list == NULL)
        fail("cannot read the queue (details in the log)");
    return list;
}

/* queue_row - the table cells of message M. */
static int queue_row(struct table *t, json_t *m)
{
    static const size_t maxw[] = {0, 0, 0, 0, CELL_MAX, CELL_MAX, CELL_MAX, CELL_MAX, 0};
    char created[32], next[32], size[24], to[300];
    json_t *rcpts = json_object_get(m, "recipients");
    json_t *first = json_array_get(rcpts, 0);
    const char *sender = str_of(m, "sender");
    const char *status = str_of(m, "status");
    size_t more = json_array_size(rcpts) > 1 ? json_array_size(rcpts) - 1 : 0;
    snprintf(size, sizeof size, "%lld", (long long)json_integer_value(json_object_get(m, "size")));
    /* An address is at most 254 octets, so TO cannot be cut. */
    if (more)
        snprintf(to, sizeof to, "%s +%zu", first ? str_of(first, "address") : "-", more);
    else
        snprintf(to, sizeof to, "%s", first ? str_of(first, "address") : "-");
    const char *row[] = {str_of(m, "id"),
                         fmt_time(json_object_get(m, "created"), created, sizeof created),
                         fmt_time(json_object_get(m, "next_try"), next, sizeof next),
                         size,
                         sender && *sender ? sender : "<>",
                         to,
                         status ? status : (first ? str_of(first, "status") : NULL),
                         str_of(m, "auth_user"),
                         str_of(m, "client_ip")};
    return table_add(t, row, maxw);
}

/* queue_print - the listing as an aligned table. */
static int queue_print(json_t *list)
{
    static const char *const head[] = {"ID",       "Created", "Next try", "Size",
                                       "From",     "To",      "Status",   "Authenticated sender",
                                       "Sender IP"};
    struct table t = {.ncols = 9, .head = head};
    size_t i;
    json_t *m;
    if (json_array_size(list) == 0) {
        puts("queue is empty");
        return EXIT_OK;
    }
    json_array_foreach(list, i, m)
    {
        if (queue_row(&t, m) < 0) {
            table_discard(&t);
            return fail("out of memory");
        }
    }
    return table_print(&t);
}

/* queue_list_cmd - floodctl queue list [--auth-user U] [--state S] [--limit N] */
static int queue_list_cmd(struct ctl *c, struct args *a, struct opt *o)
{
    struct queue_filter f = {0};
    int rc = queue_filter_from(o, &f);
    if (rc != EXIT_OK)
        return rc;
    json_t *list = queue_fetch(c, &f);
    if (list == NULL)
        return EXIT_FAIL;
    if (!json_is_array(list)) {
        json_decref(list);
        return fail("floodgated: queue.list did not return a list");
    }
    rc = c->json ? print_json(list) : queue_print(list);
    json_decref(list);
    return rc;
}

/* opts_all - the --all option of queue retry. */
static struct opt *opts_all(void)
{
    static struct opt opts[] = {{"--all", false, false, NULL}, {NULL, false, false, NULL}};
    return opts;
}

/* queue_retry_cmd - floodctl queue retry ID|--all: due now.  The store is
 * changed directly; a running daemon is nudged to look at once. */
static int queue_retry_cmd(struct ctl *c, struct args *a, struct opt *o)
{
    const char *qid = a->n ? a->pos[0] : NULL;
    if ((qid == NULL) == !o[0].set)
        return usage_error("queue", "give either a queue ID or --all%s", "");
    sqlite3 *db = ctl_store(c);
    if (db == NULL)
        return EXIT_FAIL;
    char id[32] = "";
    /* arguments arrive lowercased; queue ids are upper-case hex */
    for (size_t i = 0; qid && qid[i] && i + 1 < sizeof id; i++)
        id[i] = (char)toupper((unsigned char)qid[i]);
    long n = queue_retry(db, qid ? id : NULL);
    if (n < 0)
        return fail("cannot update the queue (details in the log)");
    if (qid && n == 0)
        return fail("no pending message %s: see 'floodctl queue list'", id);
    int not_running;
    json_decref(ctl_call(c, json_pack("{s:s}", "cmd", "queue.kick"), &not_running));
    log_info("event=queue_retry qid=%s messages=%ld", qid ? id : "all", n);
    printf("%ld message%s will be retried now%s\n", n, n == 1 ? "" : "s",
           not_running ? " (floodgated is not running: when it starts)" : "");
    return EXIT_OK;
}

/* ----------------------------------------------------------------- dkim */

/* opts_dkim_generate - the options of dkim generate. */
static struct opt *opts_dkim_generate(void)
{
    static struct opt opts[] = {{"--selector", true, false, NULL},
                                {"--algorithm", true, false, NULL},
                                {NULL, false, false, NULL}};
    return opts;
}

/* dkim_default_selector - "fg" and this month, YYYYMM: a new month gives
 * a new name, so a key made later never clobbers the published one. */
static int dkim_default_selector(char *buf, size_t len)
{
    time_t now = time(NULL);
    struct tm tm;
    if (localtime_r(&now, &tm) == NULL || strftime(buf, len, "fg%Y%m", &tm) == 0)
        return fail("cannot read the clock to name a selector; give one with --selector");
    return EXIT_OK;
}

/* dkim_key_exists - whether STATE_DIR/dkim/DOMAIN.SELECTOR.key is there
 * already (dkim_key_generate refuses it; this gives the better message). */
static bool dkim_key_exists(const char *state_dir, const char *domain, const char *selector)
{
    char path[PATH_MAX], sel[64];
    struct stat st;
    if (!str_copy(sel, selector, sizeof sel))
        return false; /* too long: dkim_key_generate says so */
    str_lower(sel);
    int n = snprintf(path, sizeof path, "%s/%s/%s.%s.key", state_dir, DKIM_DIR, domain, sel);
    return n > 0 && (size_t)n < sizeof path && lstat(path, &st) == 0;
}

/* dkim_print - KEY as the TXT record to publish and a hint (or as JSON):
 * what an administrator pastes into the zone of the domain. */
static int dkim_print(struct ctl *c, const struct dkim_key *key, const char *headline)
{
    char name[DKIM_NAME_MAX], err[512];
    if (dkim_dns_name(key, name, sizeof name, err, sizeof err) < 0)
        return fail("%s", err);
    char *value = dkim_dns_value(key, err, sizeof err);
    char *line = value ? dkim_dns_record(key, err, sizeof err) : NULL;
    int rc = EXIT_OK;
    if (line == NULL) {
        rc = fail("%s", err);
    } else if (c->json) {
        json_t *out =
            json_pack("{s:s, s:s, s:s, s:s, s:s}", "domain", key->domain, "selector", key->selector,
                      "algorithm", key->algorithm, "name", name, "value", value);
        rc = out ? print_json(out) : fail("out of memory");
        json_decref(out);
    } else {
        printf("%s\nPublish this TXT record in the DNS zone of %s:\n\n%s\n\n"
               "hint: once published, 'dig +short TXT %s' must print the value above; "
               "receivers check signatures against it.\n",
               headline, key->domain, line, name);
        if (strcmp(key->algorithm, "ed25519") == 0)
            puts("note: not every receiver verifies Ed25519 signatures yet (RFC 8463); "
                 "an RSA key is understood everywhere.");
    }
    free(line);
    free(value);
    return rc;
}

/* dkim_load_print - load the key of DOMAIN from the store and print it,
 * saying whether it was CREATED just now. */
static int dkim_load_print(struct ctl *c, sqlite3 *db, const char *domain, bool created)
{
    char err[512], headline[512];
    struct dkim_key key;
    int found = dkim_key_load(db, c->cfg->state_dir, domain, &key, err, sizeof err);
    if (found < 0)
        return fail("%s", err);
    if (found == 0)
        return fail("no DKIM key for %s: create one with 'floodctl dkim generate %s'", domain,
                    domain);
    snprintf(headline, sizeof headline, "DKIM key %s %s: selector %s, %s.",
             created ? "created for" : "of", key.domain, key.selector, key.algorithm);
    int rc = dkim_print(c, &key, headline);
    dkim_key_clear(&key);
    return rc;
}

/* dkim_generate_cmd - floodctl dkim generate DOMAIN [--selector S]
 * [--algorithm rsa|ed25519] */
static int dkim_generate_cmd(struct ctl *c, struct args *a, struct opt *o)
{
    char sel[64], err[512];
    const char *domain = a->pos[0];
    const char *alg = o[1].value ? o[1].value : "rsa";
    if (strcmp(alg, "rsa") != 0 && strcmp(alg, "ed25519") != 0)
        return usage_error("dkim", "--algorithm must be rsa or ed25519, not '%s'", alg);
    if (o[0].value == NULL && dkim_default_selector(sel, sizeof sel) != EXIT_OK)
        return EXIT_FAIL;
    const char *selector = o[0].value ? o[0].value : sel;
    sqlite3 *db = ctl_store(c);
    if (db == NULL)
        return EXIT_FAIL;
    /* Only our own domains are signed: a key for another would be of no
     * use and would suggest we may send as it. */
    if (!accounts_domain_is_local(db, domain))
        return fail("%s is not a local domain: add it first with 'floodctl domain add %s'", domain,
                    domain);
    if (dkim_key_exists(c->cfg->state_dir, domain, selector))
        return fail("%s already has a key with selector %s; a new key needs a new selector "
                    "(its record may be published): "
                    "floodctl dkim generate %s --selector NEW",
                    domain, selector, domain);
    if (dkim_key_generate(db, c->cfg->state_dir, domain, selector, alg, err, sizeof err) < 0)
        return fail("%s", err);
    log_info("event=dkim_key_generated domain=%s selector=%s algorithm=%s", log_quote(domain),
             log_quote(selector), alg);
    return dkim_load_print(c, db, domain, true);
}

/* dkim_show_cmd - floodctl dkim show DOMAIN */
static int dkim_show_cmd(struct ctl *c, struct args *a, struct opt *o)
{
    sqlite3 *db = ctl_store(c);
    if (db == NULL)
        return EXIT_FAIL;
    return dkim_load_print(c, db, a->pos[0], false);
}

/* ------------------------------------------------------------- commands */

static const struct subcommand domain_subs[] = {
    {"add", 1, 1, domain_add, NULL},
    {"del", 1, 1, domain_del, opts_force},
    {"list", 0, 0, domain_list, NULL},
    {NULL, 0, 0, NULL, NULL},
};
static const struct subcommand user_subs[] = {
    {"add", 1, 1, user_add, NULL},
    {"del", 1, 1, user_del, NULL},
    {"passwd", 1, 1, user_passwd, NULL},
    {"list", 0, 1, user_list, NULL},
    {NULL, 0, 0, NULL, NULL},
};
static const struct subcommand alias_subs[] = {
    {"add", 2, 2, alias_add, NULL},
    {"del", 1, 2, alias_del, NULL},
    {"list", 0, 1, alias_list, NULL},
    {NULL, 0, 0, NULL, NULL},
};
static const struct subcommand queue_subs[] = {
    {"list", 0, 0, queue_list_cmd, opts_queue},
    {"retry", 0, 1, queue_retry_cmd, opts_all},
    {NULL, 0, 0, NULL, NULL},
};
static const struct subcommand dkim_subs[] = {
    {"generate", 1, 1, dkim_generate_cmd, opts_dkim_generate},
    {"show", 1, 1, dkim_show_cmd, NULL},
    {NULL, 0, 0, NULL, NULL},
};

/* run_command - dispatch ARGV[0], the command word. */
static int run_command(struct ctl *c, int argc, char **argv)
{
    const char *cmd = argv[0];
    if (strcmp(cmd, "domain") == 0)
        return run_group(c, cmd, domain_subs, argc - 1, argv + 1);
    if (strcmp(cmd, "user") == 0)
        return run_group(c, cmd, user_subs, argc - 1, argv + 1);
    if (strcmp(cmd, "alias") == 0)
        return run_group(c, cmd, alias_subs, argc - 1, argv + 1);
    if (strcmp(cmd, "queue") == 0)
        return run_group(c, cmd, queue_subs, argc - 1, argv + 1);
    if (strcmp(cmd, "dkim") == 0)
        return run_group(c, cmd, dkim_subs, argc - 1, argv + 1);
    if (strcmp(cmd, "status") == 0) {
        if (argc > 1)
            return usage_error(cmd, "status takes no arguments, not '%s'", argv[1]);
        return status(c, NULL, NULL);
    }
    return usage_error(NULL, "unknown command '%s'", cmd);
}

/* ------------------------------------------------------------- start-up */

/* drop_to_owner - when run as root, become the owner of the state dir, so
 * that a store or WAL file floodctl creates stays usable by the daemon. */
static int drop_to_owner(const char *dir)
{
    struct stat st;
    if (geteuid() != 0 || stat(dir, &st) < 0 || st.st_uid == 0)
        return EXIT_OK;
    struct passwd *pw = getpwuid(st.st_uid);
    gid_t gid = pw ? pw->pw_gid : st.st_gid;
    if (setgroups(1, &gid) < 0 || setgid(gid) < 0 || setuid(st.st_uid) < 0)
        return fail("cannot switch to uid %u, the owner of %s: %s", (unsigned)st.st_uid, dir,
                    strerror(errno));
    if (setuid(0) == 0) /* must be impossible now */
        return fail("could not give up root privileges");
    return EXIT_OK;
}

/* open_log - append floodctl's event lines (user_added, store errors...)
 * to the daemon's log, so that admin actions sit next to the mail they
 * affect.  If that file cannot be opened, they go to stderr. */
static void open_log(const char *path)
{
    if (path == NULL || strcmp(path, "-") == 0)
        return;
    if (log_open("floodctl", path) < 0)
        fprintf(stderr, "floodctl: cannot open log %s (%s); logging to stderr\n", path,
                strerror(errno));
}

/* ctl_setup - load the config, become the right user, work out paths. */
static int ctl_setup(struct ctl *c)
{
    char err[1024];
    c->cfg = config_load(c->config_path, err, sizeof err);
    if (c->cfg == NULL)
        return fail("%s\n(choose another file with -c CONFIG or $FLOODGATE_CONFIG)", err);
    const char *dir = c->cfg->state_dir;
    int n = snprintf(c->socket_file, sizeof c->socket_file, "%s/%s", dir, CONTROL_SOCKET);
    if (n < 0 || (size_t)n >= sizeof c->socket_file ||
        strlen(dir) + sizeof STORE_FILE + 1 >= sizeof c->store_file)
        return fail("state_dir %s: path too long", dir);
    store_path(dir, c->store_file, sizeof c->store_file);
    if (drop_to_owner(dir) != EXIT_OK)
        return EXIT_FAIL;
    open_log(c->cfg->log_file);
    return EXIT_OK;
}

/* strip_json - remove every "--json" from ARGV (it may appear anywhere)
 * and report whether there was one.  Returns the new argc. */
static int strip_json(int argc, char **argv, bool *json)
{
    int o = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            *json = true;
        else
            argv[o++] = argv[i];
    }
    argv[o] = NULL;
    return o;
}

/* help - floodctl help [COMMAND] */
static int help(int argc, char **argv)
{
    const char *text = argc > 1 ? usage_of(argv[1]) : NULL;
    if (argc > 1 && text == NULL)
        return usage_error(NULL, "no help for unknown command '%s'", argv[1]);
    if (text)
        printf("usage:\n%s", text);
    else
        usage_all(stdout);
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    struct ctl c = {0};
    const char *env = getenv("FLOODGATE_CONFIG");
    c.config_path = env && *env ? env : DEFAULT_CONFIG;
    argc = strip_json(argc - 1, argv + 1, &c.json);
    argv++;
    while (argc > 0 && argv[0][0] == '-') {
        if (strcmp(argv[0], "-c") == 0 && argc < 2) {
            return usage_error(NULL, "%s needs a CONFIG file argument", argv[0]);
        } else if (strcmp(argv[0], "-c") == 0) {
            c.config_path = argv[1];
            argc -= 2, argv += 2;
        } else if (strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0) {
            return help(0, NULL);
        } else {
            return usage_error(NULL, "unknown option '%s'", argv[0]);
        }
    }
    if (argc == 0) {
        usage_all(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[0], "help") == 0)
        return help(argc, argv);
    log_open("floodctl", NULL); /* store warnings go to stderr */
    int rc = run_command(&c, argc, argv);
    if (c.db)
        store_close(c.db);
    if (c.cfg)
        config_free(c.cfg);
    if (fflush(stdout) != 0 && rc == EXIT_OK)
        rc = fail("cannot write to stdout: %s", strerror(errno));
    return rc;
}
