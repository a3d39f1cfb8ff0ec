/* cmd/ctl_queue - floodctl status and queue.
 *
 * Room: cmd.  "status", "queue list" and "queue top" ask the daemon over
 * the control socket when it runs and read the store when it does not.
 * The actions (hold ... purge) and "inject" change the store directly -
 * the same with the daemon running or stopped - and nudge a running
 * daemon to look at once.  Selections are ctl_select.c's, the columns of
 * the listing ctl_columns.c's, one message (show, export) ctl_message.c's. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cmd/ctl.h"
#include "core/util.h"
#include "core/config.h"
#include "queue/inject.h"
#include "queue/pause_state.h"
#include "queue/queue_actions.h"
#include "store/queue_query.h"

#define TOP_DEFAULT 10 /* groups queue top shows */

/* ---------------------------------------------------------------- usage */

const char usage_status[] = "  floodctl status [--json]\n";
const char usage_queue[] =
    "  floodctl queue list [SELECTION] [--sort COLUMN] [--desc] [--columns A,B,...]\n"
    "                      [--limit N] [--json | --csv]\n"
    "  floodctl queue top --by auth-user|ip|from|header-from|rcpt-domain|subject\n"
    "                     [--limit N] [SELECTION] [--json]\n"
    "  floodctl queue show ID [--json]\n"
    "  floodctl queue export ID > FILE\n"
    "  floodctl queue hold|release|retry|bounce SELECTION [--reason TEXT] [--json]\n"
    "  floodctl queue quarantine SELECTION --reason TEXT [--json]\n"
    "  floodctl queue purge SELECTION [--reason TEXT] --yes [--json]\n"
    "  floodctl queue inject FILE --from ADDR --to ADDR [--to ADDR ...]\n" USAGE_SELECTION;

/* --------------------------------------------------------------- status */

/* status_offline - the daemon is down: say so and how to start it, and
 * still show the queue and the pauses from the store. */
static int status_offline(struct ctl *c)
{
    fprintf(stderr,
            "floodgated is not running (no control socket at %s); start it with: "
            "floodgated -c %s\n",
            c->socket_file, c->config_path);
    store_db *db = ctl_store(c);
    json_t *counts = db ? store_queue_counts(db) : NULL;
    json_t *paused = db ? pause_list(db) : NULL;
    if (counts == NULL) {
        json_decref(paused);
        return db ? fail("cannot read the queue (details in the log)") : EXIT_FAIL;
    }
    json_t *out = json_pack("{s:b, s:o, s:o*}", "running", 0, "queue", counts, "paused", paused);
    if (out == NULL)
        return fail("out of memory");
    if (c->json) {
        print_json(out);
    } else {
        print_kv("queue", counts);
        print_paused("paused", paused);
    }
    json_decref(out);
    return EXIT_FAIL;
}

/* print_blocklists - the blocklist watch's last round (floodctl status):
 * a summary line, then each listing and each unknown answer. */
static void print_blocklists(json_t *bl)
{
    if (!json_is_object(bl))
        return;
    json_t *checked = json_object_get(bl, "checked"), *r;
    size_t i;
    if (!json_is_string(checked)) {
        puts("blocklists: not checked yet");
        return;
    }
    printf("blocklists: checked %s: %lld listed, %lld unknown\n", json_string_value(checked),
           (long long)json_integer_value(json_object_get(bl, "listed")),
           (long long)json_integer_value(json_object_get(bl, "unknown")));
    json_array_foreach(json_object_get(bl, "results"), i, r)
    {
        const char *state = str_of(r, "state");
        if (strcmp(state, "listed") == 0)
            printf("  %s is listed on %s (%s: %s) since %s\n", str_of(r, "address"),
                   str_of(r, "list"), str_of(r, "code"), str_of(r, "meaning"), str_of(r, "since"));
        else if (strcmp(state, "unknown") == 0)
            printf("  %s on %s: unknown (%s)\n", str_of(r, "address"), str_of(r, "list"),
                   str_of(r, "meaning"));
    }
}

/* status_cmd - floodctl status: the daemon's counters and what is paused. */
int status_cmd(struct ctl *c, struct args *a, struct opt *o)
{
    int not_running;
    json_t *result = ctl_call(c, json_pack("{s:s}", "cmd", "status"), &not_running);
    if (result == NULL)
        return not_running ? status_offline(c) : EXIT_FAIL;
    json_t *paused = json_incref(json_object_get(result, "paused"));
    if (paused == NULL) { /* a daemon from before pauses were reported */
        store_db *db = ctl_store(c);
        paused = db ? pause_list(db) : NULL;
        if (paused != NULL)
            json_object_set(result, "paused", paused);
    }
    int rc = EXIT_OK;
    if (c->json) {
        rc = print_json(result);
    } else {
        json_t *bl = json_incref(json_object_get(result, "blocklists"));
        json_object_del(result, "paused");
        json_object_del(result, "blocklists");
        print_kv("", result);
        print_paused("paused", paused);
        print_blocklists(bl);
        json_decref(bl);
    }
    json_decref(paused);
    json_decref(result);
    return rc;
}

/* ----------------------------------------------------------------- list */

enum { LIST_SORT = SEL_N, LIST_DESC, LIST_COLUMNS, LIST_LIMIT, LIST_CSV };

/* opts_list - the options of queue list. */
static struct opt *opts_list(void)
{
    static struct opt opts[] = {SELECT_OPTS,
                                {"--sort", true, false, NULL},
                                {"--desc", false, false, NULL},
                                {"--columns", true, false, NULL},
                                {"--limit", true, false, NULL},
                                {"--csv", false, false, NULL},
                                {NULL, false, false, NULL}};
    return opts;
}

/* daemon_request - F as a request for the control command CMD. */
static json_t *daemon_request(const char *cmd, const struct queue_filter *f)
{
    json_t *req = queue_filter_to_json(f);
    if (req != NULL && json_object_set_new(req, "cmd", json_string(cmd)) < 0) {
        json_decref(req);
        req = NULL;
    }
    return req;
}

/* queue_fetch - the listing from the daemon, or from the store when the
 * daemon is not running. */
static json_t *queue_fetch(struct ctl *c, const struct queue_filter *f)
{
    int not_running;
    json_t *list = ctl_call(c, daemon_request("queue.list", f), &not_running);
    if (list != NULL || !not_running)
        return list;
    store_db *db = ctl_store(c);
    list = db ? store_queue_list(db, f) : NULL;
    if (db && list == NULL)
        fail("cannot read the queue (details in the log)");
    return list;
}

/* queue_list_cmd - floodctl queue list [SELECTION] [--sort C] [--desc]
 * [--columns A,B] [--limit N] [--json | --csv] */
static int queue_list_cmd(struct ctl *c, struct args *a, struct opt *o)
{
    struct queue_filter f;
    int rc = select_parse("queue", a, o, NULL, &f);
    if (rc != EXIT_OK)
        return rc;
    f.sort = o[LIST_SORT].value;
    f.descending = o[LIST_DESC].set;
    if (c->json && o[LIST_CSV].set)
        return usage_error("queue", "choose one of --json and --csv%s", "");
    if ((o[LIST_LIMIT].value &&
         parse_count("queue", "--limit", o[LIST_LIMIT].value, &f.limit) != EXIT_OK) ||
        select_check("queue", &f) != EXIT_OK || columns_check(o[LIST_COLUMNS].value) != EXIT_OK)
        return EXIT_USAGE;
    json_t *list = queue_fetch(c, &f);
    if (list == NULL)
        return EXIT_FAIL;
    if (!json_is_array(list)) {
        json_decref(list);
        return fail("floodgated: queue.list did not return a list");
    }
    if (c->json)
        rc = print_json(list);
    else
        rc = columns_print(list, o[LIST_COLUMNS].value, o[LIST_CSV].set,
                           select_chosen(a, o) ? "no queued message matches the selection"
                                               : "queue is empty");
    json_decref(list);
    return rc;
}

/* ------------------------------------------------------------------ top */

enum { TOP_BY = SEL_N, TOP_LIMIT };

/* What queue top groups by, and the heading of its key column. */
static const struct {
    const char *by;
    const char *head;
} top_keys[] = {
    {"auth-user", "Authenticated sender"},
    {"ip", "Sender IP"},
    {"from", "From"},
    {"header-from", "Header From"},
    {"rcpt-domain", "Rcpt domain"},
    {"subject", "Subject"},
};

/* opts_top - the options of queue top. */
static struct opt *opts_top(void)
{
    static struct opt opts[] = {SELECT_OPTS,
                                {"--by", true, false, NULL},
                                {"--limit", true, false, NULL},
                                {NULL, false, false, NULL}};
    return opts;
}

/* top_fetch - the groups from the daemon, or from the store when the
 * daemon is not running. */
static json_t *top_fetch(struct ctl *c, const struct queue_filter *f, const char *by,
                         unsigned limit)
{
    int not_running;
    char err[512];
    json_t *req = daemon_request("queue.top", f);
    if (req != NULL && (json_object_set_new(req, "by", json_string(by)) < 0 ||
                        json_object_set_new(req, "top", json_integer(limit)) < 0)) {
        json_decref(req);
        req = NULL;
    }
    json_t *top = ctl_call(c, req, &not_running);
    if (top != NULL || !not_running)
        return top;
    store_db *db = ctl_store(c);
    top = db ? store_queue_top(db, f, by, limit, err, sizeof err) : NULL;
    if (db && top == NULL)
        fail("%s", err);
    return top;
}

/* top_row - the table cells of group G. */
static int top_row(struct table *t, json_t *g, void *unused)
{
    static const size_t maxw[] = {CELL_MAX * 2, 0, 0, 0, 0, 0, 0};
    char n[24], share[16], from[24], domains[24], oldest[32], newest[32];
    snprintf(share, sizeof share, "%.1f%%", 100.0 * json_number_value(json_object_get(g, "share")));
    const char *row[] = {str_of(g, "key"),
                         fmt_count(g, "messages", n, sizeof n),
                         share,
                         fmt_count(g, "distinct_from", from, sizeof from),
                         fmt_count(g, "distinct_rcpt_domains", domains, sizeof domains),
                         fmt_time(json_object_get(g, "oldest"), oldest, sizeof oldest),
                         fmt_time(json_object_get(g, "newest"), newest, sizeof newest)};
    return table_add(t, row, maxw);
}

/* queue_top_cmd - floodctl queue top --by KEY [--limit N] [SELECTION] */
static int queue_top_cmd(struct ctl *c, struct args *a, struct opt *o)
{
    struct queue_filter f;
    const char *by = o[TOP_BY].value, *head = NULL;
    unsigned limit = TOP_DEFAULT;
    int rc = select_parse("queue", a, o, NULL, &f);
    if (rc != EXIT_OK)
        return rc;
    for (size_t i = 0; by && i < sizeof top_keys / sizeof top_keys[0]; i++)
        if (strcmp(top_keys[i].by, by) == 0)
            head = top_keys[i].head;
    if (by == NULL)
        return usage_error(
            "queue", "%s",
            "queue top needs --by auth-user|ip|from|header-from|rcpt-domain|subject");
    if (head == NULL)
        return usage_error("queue",
                           "queue top --by must be auth-user, ip, from, header-from, "
                           "rcpt-domain or subject, not '%s'",
                           by);
    if (o[TOP_LIMIT].value &&
        parse_count("queue", "--limit", o[TOP_LIMIT].value, &limit) != EXIT_OK)
        return EXIT_USAGE;
    json_t *top = top_fetch(c, &f, by, limit);
    if (top == NULL)
        return EXIT_FAIL;
    /* the first column is named after what the messages are grouped by */
    const char *const heads[] = {head,           "Messages", "Share", "Distinct From",
                                 "Rcpt domains", "Oldest",   "Newest"};
    struct table t = {.ncols = 7, .head = heads};
    return print_list(c->json, top, &t, top_row, NULL,
                      select_chosen(a, o) ? "no queued message matches the selection"
                                          : "queue is empty");
}

/* ------------------------------------------------------------- messages */

/* queue_show_cmd - floodctl queue show ID */
static int queue_show_cmd(struct ctl *c, struct args *a, struct opt *o)
{
    return message_show(c, "queue", qid_upper(a->pos[0]));
}

/* queue_export_cmd - floodctl queue export ID: the stored message. */
static int queue_export_cmd(struct ctl *c, struct args *a, struct opt *o)
{
    return message_export(c, "queue", qid_upper(a->pos[0]));
}

/* -------------------------------------------------------------- actions */

enum { ACT_REASON = SEL_N, ACT_YES };

/* opts_action - the options of the actions: the selection, a reason for
 * the log (and the quarantine), and the confirmation purge needs. */
static struct opt *opts_action(void)
{
    static struct opt opts[] = {SELECT_OPTS,
                                {"--reason", true, false, NULL},
                                {"--yes", false, false, NULL},
                                {NULL, false, false, NULL}};
    return opts;
}

/* queue_act_cmd - ACT on the selection of A and O. */
static int queue_act_cmd(struct ctl *c, struct args *a, struct opt *o, enum queue_action act)
{
    struct queue_filter f;
    const char *reason = o[ACT_REASON].value;
    int rc = select_parse("queue", a, o, NULL, &f);
    if (rc != EXIT_OK)
        return rc;
    if (!select_chosen(a, o))
        return usage_error("queue", "%s", "select messages with IDs, filters or --all");
    if (act == QUEUE_QUARANTINE && (reason == NULL || *reason == '\0'))
        return usage_error("queue", "%s",
                           "queue quarantine needs --reason TEXT: it is kept with the messages");
    if (o[ACT_YES].set && act != QUEUE_PURGE)
        return usage_error("queue", "%s", "only purge takes --yes");
    if (act == QUEUE_PURGE && !o[ACT_YES].set)
        return usage_error("queue", "%s",
                           "purge deletes the messages for good: add --yes to go ahead");
    return select_act(c, "queue", act, &f, reason);
}

static int queue_hold_cmd(struct ctl *c, struct args *a, struct opt *o)
{
    return queue_act_cmd(c, a, o, QUEUE_HOLD);
}

static int queue_release_cmd(struct ctl *c, struct args *a, struct opt *o)
{
    return queue_act_cmd(c, a, o, QUEUE_RELEASE);
}

static int queue_retry_cmd(struct ctl *c, struct args *a, struct opt *o)
{
    return queue_act_cmd(c, a, o, QUEUE_RETRY);
}

static int queue_bounce_cmd(struct ctl *c, struct args *a, struct opt *o)
{
    return queue_act_cmd(c, a, o, QUEUE_BOUNCE);
}

static int queue_quarantine_cmd(struct ctl *c, struct args *a, struct opt *o)
{
    return queue_act_cmd(c, a, o, QUEUE_QUARANTINE);
}

static int queue_purge_cmd(struct ctl *c, struct args *a, struct opt *o)
{
    return queue_act_cmd(c, a, o, QUEUE_PURGE);
}

/* --------------------------------------------------------------- inject */

/* opts_inject - the envelope of queue inject: one sender, many --to. */
static struct opt *opts_inject(void)
{
    static struct opt opts[] = {
        {"--from", true, false, NULL}, {"--to", true, false, OPT_MANY}, {NULL, false, false, NULL}};
    return opts;
}

/* inject_sender - --from as the envelope sender into BUF: "" and "<>"
 * are the null sender, "<a@b>" is a@b; -1 when it is no address. */
static int inject_sender(const char *from, char *buf, size_t len)
{
    size_t n = strlen(from);
    if (n >= 2 && from[0] == '<' && from[n - 1] == '>')
        from++, n -= 2;
    if (n >= len)
        return -1;
    memcpy(buf, from, n);
    buf[n] = '\0';
    const char *at = strrchr(buf, '@');
    if (n > 0 && (at == NULL || at == buf || at[1] == '\0' || strpbrk(buf, " <>\t") != NULL))
        return -1;
    return 0;
}

/* queue_inject_cmd - floodctl queue inject FILE --from ADDR --to ADDR...
 * The file is opened before floodctl gives up root for the owner of the
 * state dir, who may not be allowed to read it. */
static int queue_inject_cmd(struct ctl *c, struct args *a, struct opt *o)
{
    char sender[256], qid[17], err[512];
    const char *path = a->raw[0];
    if (o[0].value == NULL)
        return usage_error("queue", "%s",
                           "queue inject needs --from ADDR (--from '<>' for the null sender)");
    if (a->n_many == 0)
        return usage_error("queue", "%s", "queue inject needs at least one --to ADDR");
    if (inject_sender(o[0].value, sender, sizeof sender) < 0)
        return fail("--from %s is not an address: expected local@domain, or '<>'", o[0].value);
    FILE *in = fopen(path, "rb");
    if (in == NULL)
        return fail("cannot open %s: %s", path, strerror(errno));
    store_db *db = ctl_store(c);
    int rc = EXIT_FAIL;
    if (db != NULL) {
        struct inject_request req = {.path = path,
                                     .in = in,
                                     .sender = sender,
                                     .rcpts = a->many,
                                     .n_rcpts = (size_t)a->n_many,
                                     .admin = c->admin,
                                     .hostname = c->cfg->hostname,
                                     .spool_dir = c->cfg->state_dir,
                                     .max_size = c->cfg->limits.max_message_size};
        rc = queue_inject(db, &req, qid, err, sizeof err) < 0 ? fail("nothing queued: %s", err)
                                                              : EXIT_OK;
    }
    fclose(in);
    if (rc != EXIT_OK)
        return rc;
    bool running = ctl_kick(c);
    if (c->json) {
        json_t *out = json_pack("{s:s}", "id", qid);
        rc = out ? print_json(out) : fail("out of memory");
        json_decref(out);
        return rc;
    }
    printf("queued as %s%s\n", qid,
           running ? "" : " (floodgated is not running: it goes out when it starts)");
    return EXIT_OK;
}

/* ------------------------------------------------------------- commands */

const struct subcommand queue_subs[] = {
    {"list", 0, FILTER_IDS_MAX, queue_list_cmd, opts_list},
    {"top", 0, FILTER_IDS_MAX, queue_top_cmd, opts_top},
    {"show", 1, 1, queue_show_cmd, NULL},
    {"export", 1, 1, queue_export_cmd, NULL},
    {"hold", 0, FILTER_IDS_MAX, queue_hold_cmd, opts_action},
    {"release", 0, FILTER_IDS_MAX, queue_release_cmd, opts_action},
    {"retry", 0, FILTER_IDS_MAX, queue_retry_cmd, opts_action},
    {"bounce", 0, FILTER_IDS_MAX, queue_bounce_cmd, opts_action},
    {"quarantine", 0, FILTER_IDS_MAX, queue_quarantine_cmd, opts_action},
    {"purge", 0, FILTER_IDS_MAX, queue_purge_cmd, opts_action},
    {"inject", 1, 1, queue_inject_cmd, opts_inject},
    {NULL, 0, 0, NULL, NULL},
};
