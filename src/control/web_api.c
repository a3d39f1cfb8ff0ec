/* control/web_api - the JSON API's resources beyond the status and the
 * queue's listings (those are in web.c): the queue's actions, bans,
 * users, sessions, incidents, one message of the queue, the quarantine
 * and the audit trail (issue 16 item 3), and the admin operations the
 * web admin's pages share with it (web_op_*).  Room: control.
 *
 * Each answers with the implementation floodctl uses: the store's typed
 * reads and the accounts room on this HTTP thread's own store connection
 * (store_thread_db), the control/admin_ops actions and queue_act, the
 * daemon's control commands for what lives in it (sessions).  After a
 * change the daemon is told as floodctl tells it.  Every action is
 * recorded in the audit trail with who did it: "api" for the bearer
 * token, else the administrator logged in (store/audit.h). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accounts/accounts.h"
#include "accounts/login_state.h"
#include "control/admin_ops.h"
#include "control/web_admin_internal.h"
#include "control/web_internal.h"
#include "core/util.h"
#include "queue/queue_filter.h"
#include "store/audit.h"
#include "store/ban_state.h"
#include "store/incidents.h"
#include "store/queue_filter.h"
#include "store/queue_query.h"

bool web_op_begin(struct web_op *o, struct web_admin *a, const char *admin, json_t *q)
{
    memset(o, 0, sizeof *o);
    o->a = a;
    o->admin = admin;
    o->q = q;
    o->db = store_thread_db(STORE_FILE);
    if (o->db == NULL) {
        o->status = 503;
        snprintf(o->err, sizeof o->err, "cannot open the store (details in the log)");
    }
    return o->db != NULL;
}

static const char *param(struct web_op *o, const char *key)
{
    return json_string_value(json_object_get(o->q, key));
}

static bool param_true(struct web_op *o, const char *key)
{
    const char *v = param(o, key);
    return v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0);
}

/* failed - NULL with STATUS and the message FMT. */
static json_t *failed(struct web_op *o, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static json_t *failed(struct web_op *o, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->err, sizeof o->err, fmt, ap);
    va_end(ap);
    o->status = status;
    return NULL;
}

/* need - parameter KEY, or NULL after a 400 naming it and WHAT it is. */
static const char *need(struct web_op *o, const char *key, const char *what)
{
    const char *v = param(o, key);
    if (v == NULL || *v == '\0') {
        failed(o, 400, "%s: give %s", key, what);
        return NULL;
    }
    return v;
}

/* audit - O's ACTION on its parameters' selection, COUNT things. */
static void audit(struct web_op *o, const char *action, long count)
{
    char *sel = json_dumps(o->q, JSON_COMPACT | JSON_SORT_KEYS);
    audit_record(o->db, o->admin, action, sel ? sel : "", count);
    free(sel);
}

/* tell - a control request to the daemon after a change; its failure
 * does not undo what the store has (the daemon reads it when it starts). */
static void tell(struct web_op *o, json_t *req)
{
    char err[256];
    json_decref(web_admin_ask(o->a, req, err, sizeof err));
}

/* outcome - OUT, or NULL with the admin_ops STATUS (its words are in
 * O->err already). */
static json_t *outcome(struct web_op *o, json_t *out, int status)
{
    if (out == NULL)
        o->status = status;
    return out;
}

/* ---- reads ---- */

static json_t *get_bans(struct web_op *o)
{
    json_t *list = ban_state_list(o->db, time(NULL), param_true(o, "all"));
    return list ? list : failed(o, 503, "cannot read the bans from the store");
}

static json_t *get_users(struct web_op *o)
{
    struct config_passwords p;
    web_settings(o->a, &p, NULL, 0);
    json_t *list = admin_user_list(o->db, param(o, "domain"), &p);
    return list ? list : failed(o, 503, "cannot read the users from the store");
}

static json_t *get_incidents(struct web_op *o)
{
    json_t *list = incident_list(o->db, param_true(o, "all"));
    return list ? list : failed(o, 503, "cannot read the incidents from the store");
}

/* incident_id - the id parameter as an incident number; 0 after a 400. */
static long long incident_id(struct web_op *o)
{
    const char *v = need(o, "id", "the incident number");
    uint64_t id = 0;
    if (v && (parse_u64(v, strlen(v), &id) < 0 || id == 0 || id > (1ull << 53))) {
        failed(o, 400, "id: an incident number is needed");
        id = 0;
    }
    return (long long)id;
}

static json_t *get_incident(struct web_op *o)
{
    long long id = incident_id(o);
    int found;
    json_t *inc = id ? incident_get(o->db, id, &found) : NULL;
    if (id && inc == NULL)
        failed(o, found ? 503 : 404, found ? "cannot read the incident" : "no such incident");
    return inc;
}

/* show_message - GET /api/v1/queue/show?id=Q (QUEUE_TOO) or
 * /api/v1/quarantine/show?id=Q: the message's listing entry. */
static json_t *show_message(struct web_op *o, bool queue_too)
{
    const char *given = need(o, "id", "a queue id");
    if (given == NULL)
        return NULL;
    char id[32];
    str_copy(id, given, sizeof id);
    for (char *p = id; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    json_t *m = NULL;
    int found = admin_message_find(o->db, id, queue_too, &m);
    if (found <= 0)
        return failed(o, found < 0 ? 503 : 404,
                      found < 0 ? "cannot read the store" : "no such message");
    return m;
}

static json_t *get_queue_show(struct web_op *o)
{
    return show_message(o, true);
}

static json_t *get_quarantine_show(struct web_op *o)
{
    return show_message(o, false);
}

static json_t *get_quarantine(struct web_op *o)
{
    const char *ids[1];
    struct queue_filter f;
    memset(&f, 0, sizeof f);
    queue_filter_from_json(o->q, &f, ids, 0);
    f.state = "quarantined";
    json_t *list = store_queue_list(o->db, &f);
    if (list && quarantine_attach(o->db, list) < 0) {
        json_decref(list);
        list = NULL;
    }
    return list ? list : failed(o, 503, "cannot read the quarantine");
}

static json_t *get_audit(struct web_op *o)
{
    json_t *limit = json_object_get(o->q, "limit"), *since = json_object_get(o->q, "since");
    json_t *list =
        store_audit_list(o->db, json_is_integer(since) ? json_integer_value(since) : 0,
                         json_is_integer(limit) ? (unsigned)json_integer_value(limit) : 1000);
    return list ? list : failed(o, 503, "cannot read the audit trail");
}

static json_t *get_sessions(struct web_op *o)
{
    json_t *list =
        web_admin_ask(o->a, json_pack("{s:s}", "cmd", "session.list"), o->err, sizeof o->err);
    if (list == NULL)
        o->status = 503;
    return list;
}

/* ---- actions ---- */

json_t *web_op_ban_add(struct web_op *o)
{
    const char *ip = need(o, "ip", "an IP address or a CIDR network");
    if (ip == NULL)
        return NULL;
    long long seconds = ADMIN_BAN_DEFAULT;
    const char *duration = param(o, "duration"), *reason = param(o, "reason");
    if (duration && *duration && parse_duration(duration, &seconds) < 0)
        seconds = -1; /* refused by admin_ban_add, with the advice */
    int status;
    json_t *out = admin_ban_add(o->db, ip, seconds,
                                reason && *reason ? reason : "banned by the administrator",
                                o->admin, &status, o->err, sizeof o->err);
    if (out) {
        audit(o, "ban.add", 1);
        tell(o, json_pack("{s:s}", "cmd", "state.reload"));
    }
    return outcome(o, out, status);
}

json_t *web_op_ban_del(struct web_op *o)
{
    bool all = param_true(o, "all");
    const char *ip = all ? NULL : need(o, "ip", "an IP address or a CIDR network, or all=1");
    if (!all && ip == NULL)
        return NULL;
    int status;
    json_t *out = admin_ban_del(o->db, ip, o->admin, &status, o->err, sizeof o->err);
    if (out) {
        audit(o, "ban.del", (long)json_array_size(json_object_get(out, "lifted")));
        tell(o, json_pack("{s:s}", "cmd", "state.reload"));
    }
    return outcome(o, out, status);
}

/* suspend - POST /api/v1/users/suspend|unsuspend?address=A (ON): as
 * floodctl user suspend: the store, then the user's live sessions end. */
static json_t *suspend(struct web_op *o, bool on)
{
    const char *addr = need(o, "address", "the user's address");
    if (addr == NULL)
        return NULL;
    if (accounts_user_suspend(o->db, addr, on, o->err, sizeof o->err) < 0)
        return outcome(o, NULL, 404);
    audit(o, on ? "user.suspend" : "user.unsuspend", 1);
    if (on)
        tell(o, json_pack("{s:s, s:s, s:s}", "cmd", "session.kill", "user", addr, "reason",
                          "suspended"));
    return json_pack("{s:s, s:b}", "address", addr, "suspended", on);
}

json_t *web_op_user_suspend(struct web_op *o)
{
    return suspend(o, true);
}

json_t *web_op_user_unsuspend(struct web_op *o)
{
    return suspend(o, false);
}

json_t *web_op_user_expire(struct web_op *o)
{
    bool all = param_true(o, "all");
    const char *addr = all ? NULL : need(o, "address", "the user's address, or all=1");
    long n = 0;
    if (!all && addr == NULL)
        return NULL;
    if (login_expire(o->db, addr, &n, o->err, sizeof o->err) < 0)
        return outcome(o, NULL, addr ? 404 : 503);
    audit(o, "user.expire", n);
    return json_pack("{s:I}", "expired", (json_int_t)n);
}

json_t *web_op_session_kill(struct web_op *o)
{
    json_t *req = json_pack("{s:s, s:s}", "cmd", "session.kill", "reason", "admin");
    static const char *const keys[] = {"ip", "user", "app_password"};
    for (size_t i = 0; req && i < sizeof keys / sizeof keys[0]; i++)
        if (param(o, keys[i]))
            json_object_set_new(req, keys[i], json_string(param(o, keys[i])));
    uint64_t id;
    const char *idv = param(o, "id");
    if (idv && (parse_u64(idv, strlen(idv), &id) < 0 || id == 0)) {
        json_decref(req);
        return failed(o, 400, "id: a session number is needed");
    }
    if (req && idv)
        json_object_set_new(req, "id", json_integer((json_int_t)id));
    if (json_object_size(req) < 3) {
        json_decref(req);
        return failed(o, 400, "give id, ip or user");
    }
    json_t *out = web_admin_ask(o->a, req, o->err, sizeof o->err);
    if (out)
        audit(o, "session.kill", (long)json_integer_value(json_object_get(out, "ended")));
    else
        o->status = 400;
    return out;
}

/* close_incident - release or dismiss (STATE) incident "id", as floodctl
 * incident release|dismiss: admin_incident_close, then the daemon drops
 * the incident's containment (incident.closed) and reads the queue. */
static json_t *close_incident(struct web_op *o, const char *state)
{
    long long id = incident_id(o);
    if (id == 0)
        return NULL;
    char host[256];
    int status;
    web_settings(o->a, NULL, host, sizeof host);
    json_t *out =
        admin_incident_close(o->db, id, state, o->admin, ".", host, &status, o->err, sizeof o->err);
    if (out) {
        audit(o, strcmp(state, "released") == 0 ? "incident.release" : "incident.dismiss", 1);
        tell(o, json_pack("{s:s, s:I, s:s, s:s}", "cmd", "incident.closed", "id", (json_int_t)id,
                          "subject", json_string_value(json_object_get(out, "subject")), "state",
                          state));
        tell(o, json_pack("{s:s}", "cmd", "queue.kick"));
    }
    return outcome(o, out, status);
}

json_t *web_op_incident_release(struct web_op *o)
{
    return close_incident(o, "released");
}

json_t *web_op_incident_dismiss(struct web_op *o)
{
    return close_incident(o, "dismissed");
}

json_t *web_op_queue(struct web_op *o, enum queue_action act, const struct queue_filter *f,
                     const char *reason)
{
    char host[256];
    web_settings(o->a, NULL, host, sizeof host);
    struct queue_action_ctx ctx = {.state_dir = ".", /* the daemon runs in state_dir */
                                   .hostname = host,
                                   .admin = o->admin,
                                   .reason = reason};
    /* queue_act records itself in the audit trail, with the selection */
    long n = queue_act(o->db, act, f, &ctx, o->err, sizeof o->err);
    if (n < 0)
        return o->err[0] ? outcome(o, NULL, 503) : failed(o, 503, "cannot change the queue");
    tell(o, json_pack("{s:s}", "cmd", "queue.kick"));
    return json_pack("{s:s, s:I}", "action", queue_action_name(act), "messages", (json_int_t)n);
}

/* Members of an action request that are not part of the selection. */
static const char *const not_selection[] = {"reason", "confirm", "all", NULL};

/* chosen - does O's request select anything (a filter, ids, or all=1)?
 * Actions refuse an empty selection, as floodctl's do. */
static bool chosen(struct web_op *o)
{
    const char *key;
    json_t *v;
    json_object_foreach(o->q, key, v)
    {
        bool other = true;
        for (const char *const *n = not_selection; *n; n++)
            other &= strcmp(*n, key) != 0;
        if (other)
            return true;
    }
    return param_true(o, "all");
}

/* queue_action - POST /api/v1/queue/ACTION (and /api/v1/quarantine/...):
 * ACT on the selection of the query, which queue_filter reads as
 * floodctl's options (a single "id" in any case). */
static json_t *queue_action(struct web_op *o, enum queue_action act)
{
    const char *confirm = param(o, "confirm"), *given = param(o, "id");
    if (!chosen(o))
        return failed(o, 400, "select messages (ids, a filter such as auth_user=..., or all=1)");
    if (act == QUEUE_PURGE && (confirm == NULL || strcmp(confirm, "yes") != 0))
        return failed(o, 400, "purge deletes for good: add confirm=yes");
    const char *ids[1];
    struct queue_filter f;
    memset(&f, 0, sizeof f);
    queue_filter_from_json(o->q, &f, ids, 0);
    char id[32];
    if (given) { /* one queue id, in any case: id=0123456789abcdef */
        str_copy(id, given, sizeof id);
        for (char *p = id; *p; p++)
            *p = (char)toupper((unsigned char)*p);
        ids[0] = id;
        f.ids = ids;
        f.n_ids = 1;
    }
    return web_op_queue(o, act, &f, param(o, "reason"));
}

/* The queue's actions: POST /api/v1/queue/NAME, and the quarantine's. */
static const struct {
    const char *path;
    enum queue_action act;
} queue_routes[] = {
    {"/api/v1/queue/hold", QUEUE_HOLD},
    {"/api/v1/queue/release", QUEUE_RELEASE},
    {"/api/v1/queue/retry", QUEUE_RETRY},
    {"/api/v1/queue/bounce", QUEUE_BOUNCE},
    {"/api/v1/queue/quarantine", QUEUE_QUARANTINE},
    {"/api/v1/queue/purge", QUEUE_PURGE},
    {"/api/v1/quarantine/release", QUEUE_UNQUARANTINE},
    {"/api/v1/quarantine/purge", QUEUE_PURGE},
};

/* ---- the table ---- */

static const struct {
    bool post;
    const char *path;
    json_t *(*run)(struct web_op *o);
} routes[] = {
    {false, "/api/v1/bans", get_bans},
    {false, "/api/v1/users", get_users},
    {false, "/api/v1/sessions", get_sessions},
    {false, "/api/v1/incidents", get_incidents},
    {false, "/api/v1/incidents/show", get_incident},
    {false, "/api/v1/queue/show", get_queue_show},
    {false, "/api/v1/quarantine", get_quarantine},
    {false, "/api/v1/quarantine/show", get_quarantine_show},
    {false, "/api/v1/audit", get_audit},
    {true, "/api/v1/bans/add", web_op_ban_add},
    {true, "/api/v1/bans/del", web_op_ban_del},
    {true, "/api/v1/users/suspend", web_op_user_suspend},
    {true, "/api/v1/users/unsuspend", web_op_user_unsuspend},
    {true, "/api/v1/users/expire", web_op_user_expire},
    {true, "/api/v1/sessions/kill", web_op_session_kill},
    {true, "/api/v1/incidents/release", web_op_incident_release},
    {true, "/api/v1/incidents/dismiss", web_op_incident_dismiss},
};

bool web_api_serve(struct web_admin *a, struct MHD_Connection *c, const char *url, bool post,
                   const char *admin, enum MHD_Result *rc)
{
    json_t *(*run)(struct web_op * o) = NULL;
    int act = -1;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (routes[i].post == post && strcmp(routes[i].path, url) == 0)
            run = routes[i].run;
    for (size_t i = 0; post && i < sizeof queue_routes / sizeof queue_routes[0]; i++)
        if (strcmp(queue_routes[i].path, url) == 0)
            act = (int)i;
    if (run == NULL && act < 0) {
        if (!post)
            return false; /* web.c's listings, or a 404 there */
        *rc = web_respond_error(c, MHD_HTTP_NOT_FOUND, "no such action");
        return true;
    }
    struct web_op o;
    json_t *q = web_query(c, json_object(), rc), *out = NULL;
    if (q == NULL)
        return true;
    if (!web_op_begin(&o, a, admin, q))
        ;
    else if (act < 0)
        out = run(&o);
    else if (strncmp(url, "/api/v1/quarantine/", 19) != 0)
        out = queue_action(&o, queue_routes[act].act);
    else if (!chosen(&o)) /* as for the queue: never everything by accident */
        failed(&o, 400, "select messages (ids, a filter, or all=1)");
    else if (json_object_set_new(q, "state", json_string("quarantined")) == 0)
        out = queue_action(&o, queue_routes[act].act);
    json_decref(q);
    *rc = out ? web_respond_json(c, 200, json_pack("{s:o}", "result", out))
              : web_respond_error(c, (unsigned)(o.status ? o.status : 500),
                                  o.err[0] ? o.err : "failed");
    return true;
}
