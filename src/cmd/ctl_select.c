/* cmd/ctl_select - which queued messages a command is about, and what an
 * admin does to them.
 *
 * Room: cmd.  The selection options that every queue and quarantine
 * command shares (queue IDs, --auth-user, --ip, ..., --all) become one
 * struct queue_filter, checked with queue_filter_build before anything
 * runs, so a bad network or sort column is a usage error, not a store
 * error halfway through.  The actions run queue_act on the store itself,
 * so they work whether the daemon runs or not; they show their progress
 * on a terminal and nudge a running daemon when they are done. */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd/ctl.h"
#include "core/config.h"
#include "core/util.h"
#include "queue/queue_actions.h"

#define PROGRESS_MS 100 /* at most ten progress lines a second */

/* ------------------------------------------------------------ selection */

/* select_state - the --state of the queue commands into F; quarantine
 * commands (FIXED "quarantined") select by their own state only. */
static int select_state(const char *group, const char *state, const char *fixed,
                        struct queue_filter *f)
{
    char msg[300];
    if (fixed && state && strcmp(state, fixed) != 0) {
        snprintf(msg, sizeof msg, "--state %.100s: '%s' commands only see %s messages", state,
                 group, fixed);
        return usage_error(group, "%s", msg);
    }
    f->state = fixed ? fixed : state;
    if (!fixed && state && strcmp(state, "queued") != 0 && strcmp(state, "deferred") != 0 &&
        strcmp(state, "held") != 0)
        return usage_error(group, "--state must be queued, deferred or held, not '%s'", state);
    return EXIT_OK;
}

/* select_age - --older-than or --newer-than (option O) into *OUT. */
static int select_age(const char *group, const struct opt *o, long long *out)
{
    char msg[400];
    if (o->value == NULL || parse_duration(o->value, out) == 0)
        return EXIT_OK;
    snprintf(msg, sizeof msg,
             "%s must be a duration like 90s, 15m, 2h, 3d, 1w or plain seconds, not '%.200s'",
             o->name, o->value);
    return usage_error(group, "%s", msg);
}

/* select_ip - --ip must be an address (a network the builder checks). */
static int select_ip(const char *group, const char *ip)
{
    unsigned char addr[sizeof(struct in6_addr)];
    char msg[400];
    if (ip == NULL || strchr(ip, '/') != NULL || inet_pton(AF_INET, ip, addr) == 1 ||
        inet_pton(AF_INET6, ip, addr) == 1)
        return EXIT_OK;
    snprintf(msg, sizeof msg,
             "--ip %.200s: not an IP address or network (like 192.0.2.7 or 192.0.2.0/24)", ip);
    return usage_error(group, "%s", msg);
}

/* select_check - let the store's own builder judge the selection now: a
 * bad network or sort column is a usage error with its message. */
int select_check(const char *group, const struct queue_filter *f)
{
    struct filter_sql fs;
    char err[512];
    int rc = queue_filter_build(f, time(NULL), 0, &fs, err, sizeof err);
    queue_filter_release(&fs);
    return rc < 0 ? usage_error(group, "%s", err) : EXIT_OK;
}

/* select_parse - the selection options O (at SEL_*) and the queue ids in
 * A's positionals into F; STATE is NULL for the queue commands, else the
 * state every selected message is in ("quarantined").  F points into A
 * and O. */
int select_parse(const char *group, struct args *a, struct opt *o, const char *state,
                 struct queue_filter *f)
{
    memset(f, 0, sizeof *f);
    if (a->n > FILTER_IDS_MAX)
        return usage_error(group, "too many queue IDs (at most %s at once)", "100000");
    for (int i = 0; i < a->n; i++)
        qid_upper(a->pos[i]);
    f->ids = (const char *const *)a->pos;
    f->n_ids = (size_t)a->n;
    f->auth_user = o[SEL_AUTH_USER].value;
    f->ip = o[SEL_IP].value;
    f->from = o[SEL_FROM].value;
    if (f->from && strcmp(f->from, "<>") == 0)
        f->from = ""; /* the null sender of DSNs */
    f->header_from = o[SEL_HEADER_FROM].value;
    f->rcpt = o[SEL_RCPT].value;
    f->rcpt_domain = o[SEL_RCPT_DOMAIN].value;
    f->subject = o[SEL_SUBJECT].value;
    f->listener = o[SEL_LISTENER].value;
    f->unauthenticated = o[SEL_UNAUTH].set;
    if (select_state(group, o[SEL_STATE].value, state, f) != EXIT_OK ||
        select_age(group, &o[SEL_OLDER], &f->older_than) != EXIT_OK ||
        select_age(group, &o[SEL_NEWER], &f->newer_than) != EXIT_OK ||
        select_ip(group, f->ip) != EXIT_OK)
        return EXIT_USAGE;
    return select_check(group, f);
}

/* select_chosen - did the admin select anything at all: IDs, a filter or
 * --all?  Actions refuse to run on an accidental empty selection. */
bool select_chosen(const struct args *a, const struct opt *o)
{
    if (a->n > 0)
        return true;
    for (int i = 0; i < SEL_N; i++)
        if (o[i].set)
            return true;
    return false;
}

/* ------------------------------------------------------------- progress */

struct progress {
    const char *name;
    uint64_t start, last;
    bool shown;
};

/* show_progress - queue_act's callback: "\rquarantine: 1200/9000
 * messages (1523/s)" on stderr, at most every PROGRESS_MS. */
static void show_progress(void *arg, size_t done, size_t total)
{
    struct progress *p = arg;
    uint64_t now = now_ms();
    if (done < total && p->shown && now - p->last < PROGRESS_MS)
        return;
    p->last = now;
    double secs = (double)(now - p->start) / 1000.0;
    fprintf(stderr, "\r%s: %zu/%zu messages (%.0f/s)", p->name, done, total,
            secs > 0 ? (double)done / secs : (double)done);
    fflush(stderr);
    p->shown = true;
}

/* -------------------------------------------------------------- actions */

/* What the result line says an action did. */
static const struct {
    enum queue_action act;
    const char *done;
} action_words[] = {
    {QUEUE_HOLD, "held"},
    {QUEUE_RELEASE, "released"},
    {QUEUE_RETRY, "retried"},
    {QUEUE_BOUNCE, "bounced"},
    {QUEUE_QUARANTINE, "quarantined"},
    {QUEUE_PURGE, "purged"},
    {QUEUE_UNQUARANTINE, "released"},
};

/* act_report - the result of ACT on N messages, as a line or JSON. */
static int act_report(struct ctl *c, enum queue_action act, long n, bool running)
{
    const char *done = "changed", *s = n == 1 ? "" : "s";
    for (size_t i = 0; i < sizeof action_words / sizeof action_words[0]; i++)
        if (action_words[i].act == act)
            done = action_words[i].done;
    if (c->json) {
        json_t *out =
            json_pack("{s:s, s:I}", "action", queue_action_name(act), "messages", (json_int_t)n);
        int rc = out ? print_json(out) : fail("out of memory");
        json_decref(out);
        return rc;
    }
    if (act == QUEUE_QUARANTINE)
        printf("quarantined %ld message%s into %s/%s\n", n, s, c->cfg->state_dir, QUARANTINE_DIR);
    else if (act == QUEUE_UNQUARANTINE)
        printf("released %ld message%s from quarantine into the queue\n", n, s);
    else if (act == QUEUE_BOUNCE)
        printf("bounced %ld message%s; each sender gets a delivery status notification\n", n, s);
    else
        printf("%s %ld message%s\n", done, n, s);
    if (!running && n > 0 && act != QUEUE_PURGE && act != QUEUE_HOLD)
        puts("(floodgated is not running: the queue moves when it starts)");
    return EXIT_OK;
}

/* select_act - ACT on the messages F selects, directly in the store, as
 * the invoking admin with REASON; then nudge a running daemon.  GROUP
 * names the listing to look at when explicit IDs matched nothing. */
int select_act(struct ctl *c, const char *group, enum queue_action act,
               const struct queue_filter *f, const char *reason)
{
    store_db *db = ctl_store(c);
    if (db == NULL)
        return EXIT_FAIL;
    struct progress p = {.name = queue_action_name(act), .start = now_ms()};
    struct queue_action_ctx ctx = {.state_dir = c->cfg->state_dir,
                                   .hostname = c->cfg->hostname,
                                   .admin = c->admin,
                                   .reason = reason,
                                   .progress = isatty(STDERR_FILENO) ? show_progress : NULL,
                                   .progress_arg = &p};
    char err[512];
    long n = queue_act(db, act, f, &ctx, err, sizeof err);
    if (p.shown)
        fputc('\n', stderr);
    if (n < 0)
        return fail("%s stopped: %s (the batches before stay done; run the command again "
                    "to finish; details in the log)",
                    queue_action_name(act), err);
    if (n == 0 && f->n_ids > 0)
        return fail("no message %s%s to %s: see 'floodctl %s list'", f->ids[0],
                    f->n_ids > 1 ? " (nor any other ID given)" : "", queue_action_name(act), group);
    return act_report(c, act, n, ctl_kick(c));
}
