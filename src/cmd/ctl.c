/* cmd/ctl - what every floodctl command shares.
 *
 * Room: cmd.  The context of one run (config, store, control socket, the
 * switch to the owner of the state dir), the error exits, the argument
 * parser that runs a group's subcommand table, and the output helpers:
 * aligned tables, JSON, "key: value" lines and times. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd/ctl.h"
#include "control/control.h"
#include "control/control_client.h"
#include "core/config.h"
#include "core/log.h"
#include "core/privs.h"
#include "core/util.h"
#include "store/store.h"
#include "store/audit.h"
#include "store/store_check.h"

/* --------------------------------------------------------------- errors */

/* usage_error - say what is wrong, show the synopsis of GROUP, exit code 2. */
int usage_error(const char *group, const char *fmt, const char *arg)
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
int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("floodctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return EXIT_FAIL;
}

/* -------------------------------------------------------------- context */

/* drop_to_owner - when run as root, become the daemon's user (the
 * config's "user", else the owner of the state dir), so that every file
 * floodctl creates - the store itself on a fresh state dir, its WAL, DKIM
 * keys, quarantine files - belongs to the daemon, which could not open a
 * root-owned 0600 file.  The state dir is created and handed over first,
 * exactly as floodgated does at its start. */
static int drop_to_owner(const struct config *cfg)
{
    const char *dir = cfg->state_dir;
    struct stat st;
    char err[512];
    if (geteuid() != 0)
        return EXIT_OK;
    if (cfg->user && *cfg->user) {
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
            return fail("cannot create state_dir %s: %s", dir, strerror(errno));
        if (privs_drop(cfg->user, dir, err, sizeof err) < 0)
            return fail("%s", err);
        return EXIT_OK;
    }
    if (stat(dir, &st) < 0 || st.st_uid == 0)
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
 * affect: its log_file, else syslog (where the journal also takes them).
 * If that cannot be opened, they go to stderr. */
static void open_log(const struct config *cfg)
{
    const char *path = cfg->log_file;
    if (path == NULL) {
        if (log_open_syslog("floodctl", cfg->syslog_socket) < 0) {
            fprintf(stderr, "floodctl: cannot reach syslog at %s (%s); logging to stderr\n",
                    cfg->syslog_socket, strerror(errno));
            log_open("floodctl", NULL);
        }
        return;
    }
    if (strcmp(path, "-") == 0)
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
    if (c->stay_root)
        return EXIT_OK; /* events go to stderr: the log stays the daemon's */
    if (drop_to_owner(c->cfg) != EXIT_OK)
        return EXIT_FAIL;
    open_log(c->cfg);
    return EXIT_OK;
}

/* ctl_ready - load the config and switch user on first need, so that a
 * usage error is reported even when the config is broken. */
bool ctl_ready(struct ctl *c)
{
    if (!c->setup_done) {
        c->setup_done = true;
        c->setup_rc = ctl_setup(c);
    }
    return c->setup_rc == EXIT_OK;
}

/* ctl_store - the store, opened on first use. */
store_db *ctl_store(struct ctl *c)
{
    char err[512];
    if (!ctl_ready(c))
        return NULL;
    if (c->db == NULL) {
        /* a lost store is refused here too, never made again empty */
        if (store_guard(c->cfg->state_dir, STORE_FILE, false, err, sizeof err) == STORE_REFUSED) {
            fail("%s\n%s", err, STORE_WAY_OUT);
            return NULL;
        }
        c->db = store_open(c->store_file, err, sizeof err);
        if (c->db == NULL)
            fail("%s", err);
        else if (store_mark(c->db, c->cfg->state_dir, err, sizeof err) < 0)
            fail("%s", err); /* the store itself is usable: go on */
    }
    return c->db;
}

/* ctl_call - send REQUEST (stolen) to the daemon and return the "result"
 * of a successful reply.  NULL with *NOT_RUNNING set when no daemon
 * listens; NULL with a message printed on any other failure. */
json_t *ctl_call(struct ctl *c, json_t *request, int *not_running)
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

/* ctl_state_reload - the daemon reads its state from the store again. */
int ctl_state_reload(struct ctl *c)
{
    int not_running;
    json_t *res = ctl_call(c, json_pack("{s:s}", "cmd", "state.reload"), &not_running);
    json_decref(res);
    if (res == NULL && !not_running)
        return fail("the change is stored, but floodgated did not read it: restart it, or run "
                    "this command again");
    if (not_running && !c->json)
        puts("(floodgated is not running: it applies this when it starts)");
    return EXIT_OK;
}

/* ctl_kick - tell a running daemon that the queue changed in the store;
 * false when it is not running (the change waits for its start). */
bool ctl_kick(struct ctl *c)
{
    int not_running;
    json_decref(ctl_call(c, json_pack("{s:s}", "cmd", "queue.kick"), &not_running));
    return !not_running;
}

/* ctl_who - remember who runs floodctl, for the log and the quarantine
 * records: the user behind sudo, else the user of the real uid.  Must run
 * before the switch to the owner of the state dir, which loses both. */
void ctl_who(struct ctl *c)
{
    const char *sudo = getenv("SUDO_USER");
    struct passwd *pw = sudo && *sudo ? NULL : getpwuid(getuid());
    if (sudo && *sudo)
        str_copy(c->admin, sudo, sizeof c->admin);
    else if (pw != NULL)
        str_copy(c->admin, pw->pw_name, sizeof c->admin);
    else
        snprintf(c->admin, sizeof c->admin, "uid:%u", (unsigned)getuid());
}

/* ctl_close - close the store and free the config, if they were opened. */
void ctl_close(struct ctl *c)
{
    if (c->db)
        store_close(c->db);
    if (c->cfg)
        config_free(c->cfg);
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

/* The initial value of an option that may be given many times. */
const char OPT_MANY[] = "(many)";

/* parse_args - split ARGV into positionals (moved to the front of ARGV,
 * in order: A->raw) and the OPTS the subcommand knows; the values of the
 * OPT_MANY option go to A->many (room for ARGC).  -1 with the offending
 * word in *BAD on anything else. */
static int parse_args(int argc, char **argv, struct opt *opts, struct args *a, const char **bad)
{
    a->n = a->n_many = 0;
    a->raw = argv;
    for (int i = 0; i < argc; i++) {
        *bad = argv[i];
        if (strncmp(argv[i], "--", 2) != 0 || argv[i][2] == '\0') {
            argv[a->n++] = argv[i]; /* a->n <= i: that slot was read already */
            continue;
        }
        struct opt *o = find_opt(opts, argv[i]);
        bool many = o && o->value == OPT_MANY;
        if (o == NULL || (o->set && !many) || (o->has_value && i + 1 >= argc))
            return -1;
        o->set = true;
        if (many)
            a->many[a->n_many++] = argv[++i];
        else if (o->has_value)
            o->value = argv[++i];
    }
    return 0;
}

/* lower_copies - the N strings RAW lowercased, in one allocation (the
 * pointers, then the strings); NULL when memory runs out. */
static char **lower_copies(char **raw, int n)
{
    size_t len = 1;
    for (int i = 0; i < n; i++)
        len += strlen(raw[i]) + 1;
    char **pos = malloc((size_t)n * sizeof *pos + len);
    if (pos == NULL)
        return NULL;
    char *p = (char *)(pos + n);
    for (int i = 0; i < n; i++) {
        size_t k = strlen(raw[i]) + 1;
        pos[i] = memcpy(p, raw[i], k);
        /* Domains and addresses are case-insensitive and stored lowercased:
         * echo them back the way they are stored. */
        str_lower(pos[i]);
        p += k;
    }
    return pos;
}

/* run_sub - parse the arguments of subcommand S, check them, and run it. */
/* The groups whose commands change accounts, bans, sessions, incidents,
 * pauses or keys: each one that succeeds is recorded in the audit trail
 * (store/audit.h) by run_sub.  The queue's and quarantine's actions are
 * recorded by queue_act, with the number of messages. */
static const char *const audited_groups[] = {"admin",  "domain",  "user",     "alias",
                                             "ban",    "session", "incident", "pause",
                                             "resume", "dkim",    NULL};
/* Subcommands that only read. */
static const char *const reading_subs[] = {"list",  "show", "export",   "lockouts",
                                           "check", "top",  "counters", NULL};

static bool named(const char *const *names, const char *name)
{
    for (; *names; names++)
        if (strcmp(*names, name) == 0)
            return true;
    return false;
}

/* audit_sub - GROUP's subcommand S ran with ARGV and succeeded: record
 * who did it, with the arguments as typed (no secret is ever an argument:
 * passwords are read from the terminal or stdin). */
static void audit_sub(struct ctl *c, const char *group, const struct subcommand *s, int argc,
                      char **argv)
{
    if (!named(audited_groups, group) || named(reading_subs, s->name))
        return;
    char action[64], selection[AUDIT_TEXT_MAX] = "";
    size_t o = 0;
    snprintf(action, sizeof action, "%s.%s", group, s->name);
    for (int i = 0; i < argc && o < sizeof selection; i++)
        o += (size_t)snprintf(selection + o, sizeof selection - o, "%s%s", i ? " " : "", argv[i]);
    store_db *db = ctl_store(c);
    if (db)
        audit_record(db, c->admin, action, selection, c->audit_count >= 0 ? c->audit_count : 1);
}

static int run_sub(struct ctl *c, const char *group, const struct subcommand *s, int argc,
                   char **argv)
{
    struct opt *opts = s->options ? s->options() : NULL;
    struct args a = {.many = calloc((size_t)argc + 1, sizeof *a.many)};
    const char *bad = NULL;
    int rc = EXIT_FAIL;
    if (a.many == NULL)
        return fail("out of memory");
    if (parse_args(argc, argv, opts, &a, &bad) < 0)
        rc = usage_error(group, "unexpected or incomplete argument '%s'", bad);
    else if (a.n < s->min || a.n > s->max)
        rc = usage_error(group, "wrong number of arguments for '%s'", s->name);
    else if ((a.pos = lower_copies(a.raw, a.n)) == NULL)
        rc = fail("out of memory");
    else {
        c->audit_count = -1;
        if ((rc = s->run(c, &a, opts)) == EXIT_OK)
            audit_sub(c, group, s, argc, argv);
    }
    free(a.pos);
    free(a.many);
    return rc;
}

/* run_group - find the subcommand named by ARGV[0] in SUBS and run it. */
int run_group(struct ctl *c, const char *group, const struct subcommand *subs, int argc,
              char **argv)
{
    if (argc < 1)
        return usage_error(group, "%s: which subcommand?", group);
    for (const struct subcommand *s = subs; s->name; s++)
        if (strcmp(s->name, argv[0]) == 0)
            return run_sub(c, group, s, argc - 1, argv + 1);
    return usage_error(group, "unknown subcommand '%s'", argv[0]);
}

/* parse_count - the value of option NAME of GROUP as a positive number
 * into *OUT; a usage error otherwise. */
int parse_count(const char *group, const char *name, const char *value, unsigned *out)
{
    uint64_t v = 0;
    char msg[300];
    if (parse_u64(value, strlen(value), &v) < 0 || v == 0 || v > UINT_MAX) {
        snprintf(msg, sizeof msg, "%s must be a positive number, not '%.200s'", name, value);
        return usage_error(group, "%s", msg);
    }
    *out = (unsigned)v;
    return EXIT_OK;
}

/* --------------------------------------------------------------- output */

/* print_json - V to stdout, indented, with a final newline. */
int print_json(json_t *v)
{
    if (json_dumpf(v, stdout, JSON_INDENT(2)) < 0 || putchar('\n') == EOF)
        return fail("cannot write to stdout");
    return EXIT_OK;
}

/* print_empty - the line shown for an empty listing. */
int print_empty(const char *text)
{
    if (puts(text) == EOF)
        return fail("cannot write to stdout");
    return EXIT_OK;
}

/* print_list - a listing: LIST as JSON with --json; otherwise EMPTY when
 * it has no entry, else table T with a row per entry made by ROW.  LIST is
 * dropped. */
int print_list(bool json, json_t *list, struct table *t, table_row_fn row, void *arg,
               const char *empty)
{
    size_t i;
    json_t *entry;
    int rc = EXIT_OK;
    if (json)
        rc = print_json(list);
    else if (json_array_size(list) == 0)
        rc = print_empty(empty);
    else {
        json_array_foreach(list, i, entry)
        {
            if (rc == EXIT_OK && row(t, entry, arg) < 0)
                rc = fail("out of memory");
        }
        rc = rc == EXIT_OK ? table_print(t) : (table_discard(t), rc);
    }
    json_decref(list);
    return rc;
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
/* table_add - append a row of NCOLS strings (copied, cut to MAXW[i]). */
int table_add(struct table *t, const char *const *row, const size_t *maxw)
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
int table_print(struct table *t)
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
void table_discard(struct table *t)
{
    for (size_t k = 0; k < t->nrows * t->ncols; k++)
        free(t->cells[k]);
    free(t->cells);
}

/* fmt_time - a JSON unix time in UTC as ISO 8601 with its zone
 * ("2026-12-06T20:55:00Z", as the log and --json have it), or "-": every
 * listing prints time the same way, whatever the machine's TZ. */
const char *fmt_time(json_t *v, char *buf, size_t len)
{
    if (!json_is_integer(v))
        return "-";
    return iso8601_utc((time_t)json_integer_value(v), buf, len);
}

const char *fmt_iso(json_t *v, char *buf, size_t len)
{
    const char *s = json_string_value(v);
    if (s == NULL)
        return "-";
    str_copy(buf, s, len);
    return buf;
}

/* fmt_count - the integer member KEY of OBJ in decimal (0 when absent). */
const char *fmt_count(json_t *obj, const char *key, char *buf, size_t len)
{
    snprintf(buf, len, "%lld", (long long)json_integer_value(json_object_get(obj, key)));
    return buf;
}

/* str_of - the string member KEY of OBJ, or NULL. */
const char *str_of(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* print_kv - "key: value" lines for V, nested objects as "a.b: value". */
void print_kv(const char *prefix, json_t *v)
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
