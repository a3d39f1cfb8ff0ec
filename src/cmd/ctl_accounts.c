/* cmd/ctl_accounts - floodctl domain, user and alias.
 *
 * Room: cmd.  Domains, users and aliases are changed in the store
 * directly: SQLite in WAL mode lets floodctl write while the daemon runs,
 * and it works the same with the daemon stopped.  New passwords are read
 * here, from the terminal with echo off or from one line of stdin. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "accounts/accounts.h"
#include "accounts/login_state.h"
#include "accounts/password.h"
#include "accounts/password_policy.h"
#include "cmd/ctl.h"
#include "control/admin_ops.h"
#include "cmd/ctl_users.h"
#include "core/config.h"

#define ADDRESS_LEN_MAX 254

/* ---------------------------------------------------------------- usage */

const char usage_domain[] = "  floodctl domain add DOMAIN\n"
                            "  floodctl domain del DOMAIN [--force]\n"
                            "  floodctl domain list [--json]\n";
const char usage_user[] = "  floodctl user add ADDRESS\n"
                          "  floodctl user del ADDRESS\n"
                          "  floodctl user passwd ADDRESS\n"
                          "  floodctl user suspend ADDRESS\n"
                          "  floodctl user unsuspend ADDRESS\n"
                          "  floodctl user list [DOMAIN] [--json]\n"
                          "  floodctl user show ADDRESS [--json]\n"
                          "  floodctl user expire ADDRESS|--all\n"
                          "  floodctl user unlock ADDRESS|--all\n"
                          "  floodctl user lockouts [ADDRESS] [--json]\n"
                          "  floodctl user 2fa enable ADDRESS [--code CODE]\n"
                          "  floodctl user 2fa disable ADDRESS\n"
                          "  floodctl user app-password add ADDRESS --label TEXT [--json]\n"
                          "  floodctl user app-password list ADDRESS [--json]\n"
                          "  floodctl user app-password revoke ADDRESS LABEL\n"
                          "  floodctl user grant-send-as ADDRESS SENDER|@DOMAIN\n"
                          "  floodctl user revoke-send-as ADDRESS SENDER|@DOMAIN\n"
                          "  floodctl user limits ADDRESS [--messages N] [--recipients N]"
                          " [--domains N] [--bulk|--no-bulk] [--json]\n"
                          "    (per hour; 0: no limit; 'default': the config's value)\n";
const char usage_alias[] = "  floodctl alias add ADDRESS TARGET\n"
                           "  floodctl alias add ADDRESS --from-file FILE|-\n"
                           "  floodctl alias del ADDRESS [TARGET]\n"
                           "  floodctl alias list [DOMAIN] [--json]\n";

/* ------------------------------------------------------------ addresses */

/* check_address - the light shape check floodctl does before asking for
 * a password: one '@', both parts non-empty, at most 254 octets. */
int check_address(const char *a)
{
    const char *at = strchr(a, '@');
    if (strlen(a) > ADDRESS_LEN_MAX || at == NULL || at == a || at[1] == '\0' ||
        strchr(at + 1, '@') != NULL)
        return fail("invalid address '%s': expected local@domain (at most %d characters)", a,
                    ADDRESS_LEN_MAX);
    return EXIT_OK;
}

/* user_store - the store for a command on the user ADDR, once ADDR has
 * the shape of an address (check_address); NULL when not, or when the
 * store does not open (either said). */
store_db *user_store(struct ctl *c, const char *addr)
{
    return check_address(addr) == EXIT_OK ? ctl_store(c) : NULL;
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

/* check_password - the rules a new password for ADDRESS must meet: the
 * length limit of the hash, then the policy (passwords in the config). */
static int check_password(const struct config *cfg, const char *address, const char *pw,
                          int read_rc)
{
    char msg[1024];
    if (read_rc == -2 || strlen(pw) > PASSWORD_MAX)
        return fail("password longer than %d characters refused", PASSWORD_MAX);
    if (read_rc < 0 || pw[0] == '\0')
        return fail("empty password refused");
    if (password_policy_check(&cfg->passwords, address, pw, msg, sizeof msg) != 0)
        return fail("%s", msg);
    return EXIT_OK;
}

/* get_password - a new password for ADDRESS into PW (PASSWORD_MAX + 2):
 * asked twice on a terminal, else one line of stdin (for scripts: never
 * from argv, where every user of the machine could read it in ps). */
static int get_password(const struct config *cfg, const char *address, char *pw, size_t len)
{
    char again[PASSWORD_MAX + 2];
    if (!isatty(STDIN_FILENO))
        return check_password(cfg, address, pw, read_line(pw, len));
    int rc = read_hidden("New password: ", pw, len);
    if (check_password(cfg, address, pw, rc) != EXIT_OK)
        return EXIT_FAIL;
    rc = read_hidden("Retype new password: ", again, sizeof again);
    bool same = rc == 0 && strcmp(pw, again) == 0;
    sodium_memzero(again, sizeof again);
    if (!same)
        return fail("the two passwords do not match; nothing changed");
    return EXIT_OK;
}

/* new_hash - read a new password for ADDRESS and hash it into HASH. */
int new_hash(const struct config *cfg, const char *address, char *hash)
{
    char pw[PASSWORD_MAX + 2];
    int rc = get_password(cfg, address, pw, sizeof pw);
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
    store_db *db = ctl_store(c);
    if (db == NULL)
        return EXIT_FAIL;
    if (accounts_domain_add(db, a->pos[0], err, sizeof err) < 0)
        return fail("%s", err);
    printf("domain %s added\n", a->pos[0]);
    return ctl_state_reload(c); /* the daemon answers MAIL and RCPT from its copy */
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
    store_db *db = ctl_store(c);
    if (db == NULL)
        return EXIT_FAIL;
    if (accounts_domain_del(db, a->pos[0], o[0].set, err, sizeof err) < 0)
        return fail("%s", err);
    printf("domain %s deleted\n", a->pos[0]);
    return ctl_state_reload(c);
}

static int domain_row(struct table *t, json_t *d, void *unused)
{
    char users[24], aliases[24], when[32];
    const char *row[] = {str_of(d, "name"), fmt_count(d, "users", users, sizeof users),
                         fmt_count(d, "aliases", aliases, sizeof aliases),
                         fmt_time(json_object_get(d, "created"), when, sizeof when)};
    return table_add(t, row, NULL);
}

/* domain_list - floodctl domain list */
static int domain_list(struct ctl *c, struct args *a, struct opt *o)
{
    static const char *const head[] = {"Domain", "Users", "Aliases", "Created"};
    store_db *db = ctl_store(c);
    json_t *list = db ? accounts_domain_list(db) : NULL;
    struct table t = {.ncols = 4, .head = head};
    if (list == NULL)
        return db ? fail("cannot list domains (details in the log)") : EXIT_FAIL;
    return print_list(c->json, list, &t, domain_row, NULL,
                      "no domains; add one with 'floodctl domain add DOMAIN'");
}

/* ---------------------------------------------------------------- users */

/* user_precheck - before asking for a password, make sure it will be of
 * use: the domain exists and the user does (or does not) yet. */
static int user_precheck(store_db *db, const char *address, bool must_exist)
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
    store_db *db = user_store(c, addr);
    if (db == NULL || user_precheck(db, addr, false) != EXIT_OK ||
        new_hash(c->cfg, addr, hash) != EXIT_OK)
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
    store_db *db = ctl_store(c);
    if (db == NULL)
        return EXIT_FAIL;
    if (accounts_user_del(db, a->pos[0], err, sizeof err) < 0)
        return fail("%s", err);
    printf("user %s deleted\n", a->pos[0]);
    return EXIT_OK;
}

/* user_passwd - floodctl user passwd ADDRESS: a password of good quality
 * that is none of the user's last ACCOUNTS_PASSWORD_HISTORY. */
static int user_passwd(struct ctl *c, struct args *a, struct opt *o)
{
    char pw[PASSWORD_MAX + 2], err[512];
    const char *addr = a->pos[0];
    store_db *db = user_store(c, addr);
    if (db == NULL || user_precheck(db, addr, true) != EXIT_OK)
        return EXIT_FAIL;
    int rc = get_password(c->cfg, addr, pw, sizeof pw);
    if (rc == EXIT_OK && accounts_user_change_password(db, addr, pw, err, sizeof err) != 0)
        rc = fail("%s; nothing changed", err);
    sodium_memzero(pw, sizeof pw);
    if (rc != EXIT_OK)
        return rc;
    printf("password of %s changed\n", addr);
    /* A new password does not lift a lockout: the guessing goes on. */
    json_t *u = login_facts(db, &c->cfg->passwords, addr, err, sizeof err);
    if (json_is_true(json_object_get(u, "locked")))
        printf("note: %s is locked after failed logins; 'floodctl user unlock %s' lifts it\n", addr,
               addr);
    json_decref(u);
    return EXIT_OK;
}

/* user_suspend_set - suspend (ON) or unsuspend the user of A. */
static int user_suspend_set(struct ctl *c, struct args *a, bool on)
{
    char err[512];
    const char *addr = a->pos[0];
    store_db *db = user_store(c, addr);
    if (db == NULL)
        return EXIT_FAIL;
    if (accounts_user_suspend(db, addr, on, err, sizeof err) < 0)
        return fail("%s", err);
    if (on) {
        printf("user %s suspended: its logins and submissions are refused\n", addr);
        ctl_end_sessions(c, addr, NULL, "suspended");
    } else
        printf("user %s unsuspended: it may log in and submit again\n", addr);
    return EXIT_OK;
}

/* user_suspend - floodctl user suspend ADDRESS */
static int user_suspend(struct ctl *c, struct args *a, struct opt *o)
{
    return user_suspend_set(c, a, true);
}

/* user_unsuspend - floodctl user unsuspend ADDRESS */
static int user_unsuspend(struct ctl *c, struct args *a, struct opt *o)
{
    return user_suspend_set(c, a, false);
}

static int user_row(struct table *t, json_t *u, void *unused)
{
    char when[32], state[96], apps[24];
    const char *row[] = {str_of(u, "address"),
                         fmt_time(json_object_get(u, "created"), when, sizeof when),
                         json_is_true(json_object_get(u, "suspended")) ? "yes" : "no",
                         login_summary(u, state, sizeof state),
                         json_is_true(json_object_get(u, "totp_enabled")) ? "on" : "off",
                         fmt_count(u, "app_passwords", apps, sizeof apps)};
    return table_add(t, row, NULL);
}

/* user_list - floodctl user list [DOMAIN] */
static int user_list(struct ctl *c, struct args *a, struct opt *o)
{
    static const char *const head[] = {"Address",  "Created", "Suspended",
                                       "Password", "2FA",     "App passwords"};
    store_db *db = ctl_store(c);
    json_t *list = db ? admin_user_list(db, a->n ? a->pos[0] : NULL, &c->cfg->passwords) : NULL;
    struct table t = {.ncols = 6, .head = head};
    if (list == NULL)
        return db ? fail("cannot list users (details in the log)") : EXIT_FAIL;
    return print_list(c->json, list, &t, user_row, NULL,
                      "no users; add one with 'floodctl user add ADDRESS'");
}

/* -------------------------------------------------------------- aliases */

/* opts_alias_add - the options of alias add. */
static struct opt *opts_alias_add(void)
{
    static struct opt opts[] = {{"--from-file", true, false, NULL}, {NULL, false, false, NULL}};
    return opts;
}

#define TARGET_LINE_MAX 1024 /* octets of one line of a --from-file list */

/* free_targets - the N lines of LIST. */
static void free_targets(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

/* read_targets - one address per line of IN (blank lines and '#' comments
 * skipped), at most ALIAS_TARGETS_MAX of them, each line at most
 * TARGET_LINE_MAX octets.  The array, *N its length; NULL after an error
 * (printed, naming PATH and the line). */
static char **read_targets(FILE *in, const char *path, size_t *n)
{
    char line[TARGET_LINE_MAX + 2], **list = NULL;
    size_t cap = 0, lineno = 0;
    *n = 0;
    while (fgets(line, sizeof line, in) != NULL) {
        size_t len = strcspn(line, "\r\n");
        lineno++;
        if (line[len] == '\0' && !feof(in)) {
            fail("%s:%zu: line longer than %d octets", path, lineno, TARGET_LINE_MAX);
            break;
        }
        line[len] = '\0';
        char *t = line + strspn(line, " \t");
        t[strcspn(t, " \t#")] = '\0';
        if (*t == '\0')
            continue;
        if (*n == ALIAS_TARGETS_MAX) {
            fail("%s:%zu: more than %d targets", path, lineno, ALIAS_TARGETS_MAX);
            break;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            char **more = realloc(list, cap * sizeof *more);
            if (more == NULL)
                break;
            list = more;
        }
        if ((list[*n] = strdup(t)) == NULL)
            break;
        (*n)++;
    }
    if (ferror(in) || !feof(in)) {
        if (ferror(in))
            fail("%s: cannot read: %s", path, strerror(errno));
        free_targets(list, *n);
        return NULL;
    }
    return list;
}

/* alias_add_file - floodctl alias add ADDRESS --from-file FILE ('-': stdin) */
static int alias_add_file(store_db *db, const char *address, const char *path)
{
    char err[512];
    size_t n = 0, added = 0;
    FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (in == NULL)
        return fail("%s: cannot open: %s", path, strerror(errno));
    char **list = read_targets(in, path, &n);
    if (in != stdin)
        fclose(in);
    if (list == NULL)
        return EXIT_FAIL;
    int rc =
        accounts_alias_add_many(db, address, (const char *const *)list, n, &added, err, sizeof err);
    free_targets(list, n);
    if (rc < 0)
        return fail("%s (nothing was added)", err);
    printf("alias %s: %zu target(s) added, %zu already there\n", address, added, n - added);
    return EXIT_OK;
}

/* alias_add - floodctl alias add ADDRESS TARGET | ADDRESS --from-file FILE */
static int alias_add(struct ctl *c, struct args *a, struct opt *o)
{
    char err[512];
    if ((a->n == 2) == o[0].set)
        return usage_error("alias", "%s takes ADDRESS TARGET, or ADDRESS --from-file FILE", "add");
    store_db *db = ctl_store(c);
    if (db == NULL)
        return EXIT_FAIL;
    if (o[0].set)
        return alias_add_file(db, a->pos[0], o[0].value);
    if (accounts_alias_add(db, a->pos[0], a->pos[1], err, sizeof err) < 0)
        return fail("%s", err);
    printf("alias %s -> %s added\n", a->pos[0], a->pos[1]);
    return EXIT_OK;
}

/* alias_del - floodctl alias del ADDRESS [TARGET] */
static int alias_del(struct ctl *c, struct args *a, struct opt *o)
{
    char err[512];
    store_db *db = ctl_store(c);
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

static int alias_row(struct table *t, json_t *al, void *unused)
{
    char when[32];
    const char *row[] = {str_of(al, "address"), str_of(al, "target"),
                         fmt_time(json_object_get(al, "created"), when, sizeof when)};
    return table_add(t, row, NULL);
}

/* alias_list - floodctl alias list [DOMAIN] */
static int alias_list(struct ctl *c, struct args *a, struct opt *o)
{
    static const char *const head[] = {"Address", "Target", "Created"};
    store_db *db = ctl_store(c);
    json_t *list = db ? accounts_alias_list(db, a->n ? a->pos[0] : NULL) : NULL;
    struct table t = {.ncols = 3, .head = head};
    if (list == NULL)
        return db ? fail("cannot list aliases (details in the log)") : EXIT_FAIL;
    return print_list(c->json, list, &t, alias_row, NULL,
                      "no aliases; add one with 'floodctl alias add ADDRESS TARGET'");
}

/* ------------------------------------------------------------- commands */

const struct subcommand domain_subs[] = {
    {"add", 1, 1, domain_add, NULL},
    {"del", 1, 1, domain_del, opts_force},
    {"list", 0, 0, domain_list, NULL},
    {NULL, 0, 0, NULL, NULL},
};
const struct subcommand user_subs[] = {
    {"add", 1, 1, user_add, NULL},
    {"del", 1, 1, user_del, NULL},
    {"passwd", 1, 1, user_passwd, NULL},
    {"suspend", 1, 1, user_suspend, NULL},
    {"unsuspend", 1, 1, user_unsuspend, NULL},
    {"list", 0, 1, user_list, NULL},
    {"show", 1, 1, user_show, NULL},
    {"expire", 0, 1, user_expire, opts_all},
    {"unlock", 0, 1, user_unlock, opts_all},
    {"lockouts", 0, 1, user_lockouts, NULL},
    {"2fa", 2, 2, user_2fa, opts_2fa},
    {"app-password", 2, 3, user_app_password, opts_app_password},
    {"grant-send-as", 2, 2, user_grant_send_as, NULL},
    {"revoke-send-as", 2, 2, user_revoke_send_as, NULL},
    {"limits", 1, 1, user_limits, user_limits_options},
    {NULL, 0, 0, NULL, NULL},
};
const struct subcommand alias_subs[] = {
    {"add", 1, 2, alias_add, opts_alias_add},
    {"del", 1, 2, alias_del, NULL},
    {"list", 0, 1, alias_list, NULL},
    {NULL, 0, 0, NULL, NULL},
};
