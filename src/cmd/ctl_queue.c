/* cmd/ctl_queue - floodctl status and queue.
 *
 * Room: cmd.  Both ask the daemon over the control socket when it runs
 * and fall back to the store when it does not.  "queue retry" changes the
 * store directly and nudges a running daemon to look at once. */
#include <ctype.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/ctl.h"
#include "core/log.h"
#include "core/util.h"
#include "queue/queue_actions.h"
#include "queue/queue_query.h"

/* ---------------------------------------------------------------- usage */

const char usage_status[] = "  floodctl status [--json]\n";
const char usage_queue[] =
    "  floodctl queue list [--auth-user USER] [--state queued|deferred|held]\n"
    "                      [--limit N] [--json]\n"
    "  floodctl queue retry ID|--all\n";

/* --------------------------------------------------------------- status */

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

/* status_cmd - floodctl status */
int status_cmd(struct ctl *c, struct args *a, struct opt *o)
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

/* ------------------------------------------------------------- commands */

const struct subcommand queue_subs[] = {
    {"list", 0, 0, queue_list_cmd, opts_queue},
    {"retry", 0, 1, queue_retry_cmd, opts_all},
    {NULL, 0, 0, NULL, NULL},
};
