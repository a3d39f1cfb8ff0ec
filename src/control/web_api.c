/* control/web_api - the JSON API's resources beyond the status and the
 * queue's listings and actions (those are in web.c): bans, users,
 * sessions, incidents, one message of the queue, the quarantine and the
 * audit trail (issue 16 item 3).  Room: control.
 *
 * Each answers with the implementation floodctl uses: the store's typed
 * reads and the accounts room on this HTTP thread's own store connection
 * (store_thread_db), the control/admin_ops actions, the daemon's control
 * commands for what lives in it (sessions).  After a change the daemon is
 * told as floodctl tells it.  Every action is recorded in the audit trail
 * with who did it: "api" for the bearer token, else the administrator
 * logged in to the pages (store/audit.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accounts/accounts.h"
#include "accounts/login_state.h"
#include "control/admin_ops.h"
#include "control/web_internal.h"
#include "core/util.h"
#include "queue/queue_filter.h"
#include "store/audit.h"
#include "store/ban_state.h"
#include "store/incidents.h"
#include "store/queue_filter.h"
#include "store/queue_query.h"

/* A request being answered. */
struct api {
    struct web_server *w;
    struct MHD_Connection *c;
    const char *admin; /* who acts */
    json_t *q;         /* the query parameters */
    store_db *db;
    enum MHD_Result rc;
};

static const char *param(struct api *a, const char *key)
{
    return json_string_value(json_object_get(a->q, key));
}

static bool param_true(struct api *a, const char *key)
{
    const char *v = param(a, key);
    return v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0);
}

/* answer - RESULT (stolen) as {"result": ...}, or the error with STATUS. */
static void answer(struct api *a, json_t *result, int status, const char *err)
{
    if (result)
        a->rc = web_respond_json(a->c, 200, json_pack("{s:o}", "result", result));
    else
        a->rc = web_respond_error(a->c, (unsigned)status, err && *err ? err : "failed");
}

/* need - parameter KEY, or a 400 naming it. */
static const char *need(struct api *a, const char *key, const char *what)
{
    const char *v = param(a, key);
    if (v == NULL || *v == '\0') {
        char msg[200];
        snprintf(msg, sizeof msg, "%s: give %s", key, what);
        answer(a, NULL, 400, msg);
    }
    return v && *v ? v : NULL;
}

/* audit - the API's action ACTION on the query's selection, COUNT things. */
static void audit(struct api *a, const char *action, long count)
{
    char *sel = json_dumps(a->q, JSON_COMPACT | JSON_SORT_KEYS);
    audit_record(a->db, a->admin, action, sel ? sel : "", count);
    free(sel);
}

/* tell - a control request to the daemon after a change; its failure
 * does not undo what the store has (the daemon reads it when it starts). */
static void tell(struct api *a, json_t *req)
{
    char err[256];
    json_decref(web_ask(a->w, req, err, sizeof err));
}

/* ---- reads ---- */

static void get_bans(struct api *a)
{
    json_t *list = ban_state_list(a->db, time(NULL), param_true(a, "all"));
    answer(a, list, 503, "cannot read the bans from the store");
}

static void get_users(struct api *a)
{
    struct config_passwords p;
    web_passwords(a->w, &p);
    json_t *list = admin_user_list(a->db, param(a, "domain"), &p);
    answer(a, list, 503, "cannot read the users from the store");
}

static void get_incidents(struct api *a)
{
    json_t *list = incident_list(a->db, param_true(a, "all"));
    answer(a, list, 503, "cannot read the incidents from the store");
}

/* incident_id - the id parameter as an incident number; 0 after a 400. */
static long long incident_id(struct api *a)
{
    const char *v = need(a, "id", "the incident number");
    uint64_t id = 0;
    if (v && (parse_u64(v, strlen(v), &id) < 0 || id == 0 || id > (1ull << 53))) {
        answer(a, NULL, 400, "id: an incident number is needed");
        id = 0;
    }
    return (long long)id;
}

static void get_incident(struct api *a)
{
    long long id = incident_id(a);
    if (id == 0)
        return;
    int found;
    json_t *inc = incident_get(a->db, id, &found);
    answer(a, inc, found ? 503 : 404, found ? "cannot read the incident" : "no such incident");
}

/* show_message - GET /api/v1/queue/show?id=Q (QUEUE_TOO) or
 * /api/v1/quarantine/show?id=Q: the message's listing entry. */
static void show_message(struct api *a, bool queue_too)
{
    const char *given = need(a, "id", "a queue id");
    if (given == NULL)
        return;
    char id[32];
    str_copy(id, given, sizeof id);
    for (char *p = id; *p; p++)
        *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    json_t *m = NULL;
    int found = admin_message_find(a->db, id, queue_too, &m);
    answer(a, found > 0 ? m : NULL, found < 0 ? 503 : 404,
           found < 0 ? "cannot read the store" : "no such message");
}

static void get_quarantine(struct api *a)
{
    const char *ids[1];
    struct queue_filter f;
    memset(&f, 0, sizeof f);
    queue_filter_from_json(a->q, &f, ids, 0);
    f.state = "quarantined";
    json_t *list = store_queue_list(a->db, &f);
    if (list && quarantine_attach(a->db, list) < 0) {
        json_decref(list);
        list = NULL;
    }
    answer(a, list, 503, "cannot read the quarantine");
}

static void get_audit(struct api *a)
{
    json_t *limit = json_object_get(a->q, "limit"), *since = json_object_get(a->q, "since");
    json_t *list =
        store_audit_list(a->db, json_is_integer(since) ? json_integer_value(since) : 0,
                         json_is_integer(limit) ? (unsigned)json_integer_value(limit) : 1000);
    answer(a, list, 503, "cannot read the audit trail");
}

/* ---- actions ---- */

static void post_ban_add(struct api *a)
{
    const char *ip = need(a, "ip", "an IP address or a CIDR network");
    if (ip == NULL)
        return;
    long long seconds = ADMIN_BAN_DEFAULT;
    const char *duration = param(a, "duration");
    if (duration && parse_duration(duration, &seconds) < 0)
        seconds = -1;
    const char *reason = param(a, "reason") ? param(a, "reason") : "banned by the administrator";
    char err[512];
    int status;
    json_t *out = admin_ban_add(a->db, ip, seconds, reason, a->admin, &status, err, sizeof err);
    if (out) {
        audit(a, "ban.add", 1);
        tell(a, json_pack("{s:s}", "cmd", "state.reload"));
    }
    answer(a, out, status, err);
}

static void post_ban_del(struct api *a)
{
    bool all = param_true(a, "all");
    const char *ip = all ? NULL : need(a, "ip", "an IP address or a CIDR network, or all=1");
    if (!all && ip == NULL)
        return;
    char err[512];
    int status;
    json_t *out = admin_ban_del(a->db, ip, a->admin, &status, err, sizeof err);
    if (out) {
        audit(a, "ban.del", (long)json_array_size(json_object_get(out, "lifted")));
        tell(a, json_pack("{s:s}", "cmd", "state.reload"));
    }
    answer(a, out, status, err);
}

/* suspend - POST /api/v1/users/suspend|unsuspend?address=A (ON): as
 * floodctl user suspend: the store, then the user's live sessions end. */
static void suspend(struct api *a, bool on)
{
    const char *addr = need(a, "address", "the user's address");
    if (addr == NULL)
        return;
    char err[512];
    if (accounts_user_suspend(a->db, addr, on, err, sizeof err) < 0) {
        answer(a, NULL, 404, err);
        return;
    }
    audit(a, on ? "user.suspend" : "user.unsuspend", 1);
    if (on)
        tell(a, json_pack("{s:s, s:s, s:s}", "cmd", "session.kill", "user", addr, "reason",
                          "suspended"));
    answer(a, json_pack("{s:s, s:b}", "address", addr, "suspended", on), 0, NULL);
}

static void post_expire(struct api *a)
{
    bool all = param_true(a, "all");
    const char *addr = all ? NULL : need(a, "address", "the user's address, or all=1");
    if (!all && addr == NULL)
        return;
    char err[512];
    long n = 0;
    if (login_expire(a->db, addr, &n, err, sizeof err) < 0) {
        answer(a, NULL, addr ? 404 : 503, err);
        return;
    }
    audit(a, "user.expire", n);
    answer(a, json_pack("{s:I}", "expired", (json_int_t)n), 0, NULL);
}

static void post_session_kill(struct api *a)
{
    json_t *req = json_pack("{s:s, s:s}", "cmd", "session.kill", "reason", "admin");
    static const char *const keys[] = {"ip", "user", "app_password"};
    for (size_t i = 0; req && i < sizeof keys / sizeof keys[0]; i++)
        if (param(a, keys[i]))
            json_object_set_new(req, keys[i], json_string(param(a, keys[i])));
    uint64_t id;
    const char *idv = param(a, "id");
    if (idv && (parse_u64(idv, strlen(idv), &id) < 0 || id == 0)) {
        json_decref(req);
        answer(a, NULL, 400, "id: a session number is needed");
        return;
    }
    if (req && idv)
        json_object_set_new(req, "id", json_integer((json_int_t)id));
    if (json_object_size(req) < 3) {
        json_decref(req);
        answer(a, NULL, 400, "give id, ip or user");
        return;
    }
    char err[512] = "";
    json_t *out = web_ask(a->w, req, err, sizeof err);
    if (out)
        audit(a, "session.kill", (long)json_integer_value(json_object_get(out, "ended")));
    answer(a, out, 400, err);
}

/* close_incident - POST /api/v1/incidents/release|dismiss?id=N */
static void close_incident(struct api *a, const char *state)
{
    long long id = incident_id(a);
    if (id == 0)
        return;
    char host[256], err[512];
    int status;
    web_hostname(a->w, host, sizeof host);
    json_t *out =
        admin_incident_close(a->db, id, state, a->admin, ".", host, &status, err, sizeof err);
    if (out) {
        audit(a, strcmp(state, "released") == 0 ? "incident.release" : "incident.dismiss", 1);
        tell(a, json_pack("{s:s, s:I, s:s, s:s}", "cmd", "incident.closed", "id", (json_int_t)id,
                          "subject", json_string_value(json_object_get(out, "subject")), "state",
                          state));
        tell(a, json_pack("{s:s}", "cmd", "queue.kick"));
    }
    answer(a, out, status, err);
}

/* ---- the table ---- */

static void post_suspend(struct api *a)
{
    suspend(a, true);
}
static void post_unsuspend(struct api *a)
{
    suspend(a, false);
}
static void post_release(struct api *a)
{
    close_incident(a, "released");
}
static void post_dismiss(struct api *a)
{
    close_incident(a, "dismissed");
}
static void get_queue_show(struct api *a)
{
    show_message(a, true);
}
static void get_quarantine_show(struct api *a)
{
    show_message(a, false);
}

static const struct {
    bool post;
    const char *path;
    void (*run)(struct api *a);
} routes[] = {
    {false, "/api/v1/bans", get_bans},
    {false, "/api/v1/users", get_users},
    {false, "/api/v1/incidents", get_incidents},
    {false, "/api/v1/incidents/show", get_incident},
    {false, "/api/v1/queue/show", get_queue_show},
    {false, "/api/v1/quarantine", get_quarantine},
    {false, "/api/v1/quarantine/show", get_quarantine_show},
    {false, "/api/v1/audit", get_audit},
    {true, "/api/v1/bans/add", post_ban_add},
    {true, "/api/v1/bans/del", post_ban_del},
    {true, "/api/v1/users/suspend", post_suspend},
    {true, "/api/v1/users/unsuspend", post_unsuspend},
    {true, "/api/v1/users/expire", post_expire},
    {true, "/api/v1/sessions/kill", post_session_kill},
    {true, "/api/v1/incidents/release", post_release},
    {true, "/api/v1/incidents/dismiss", post_dismiss},
};

bool web_api_serve(struct web_server *w, struct MHD_Connection *c, const char *url, bool post,
                   const char *admin, enum MHD_Result *rc)
{
    if (!post && strcmp(url, "/api/v1/sessions") == 0) { /* the daemon's own list */
        char err[512] = "";
        json_t *list = web_ask(w, json_pack("{s:s}", "cmd", "session.list"), err, sizeof err);
        *rc = list ? web_respond_json(c, 200, json_pack("{s:o}", "result", list))
                   : web_respond_error(c, 503, err[0] ? err : "no answer");
        return true;
    }
    if (post && (strcmp(url, "/api/v1/quarantine/release") == 0 ||
                 strcmp(url, "/api/v1/quarantine/purge") == 0)) {
        json_t *req = web_query(c, json_object(), rc);
        if (req == NULL)
            return true;
        if (!web_chosen(req)) { /* as for the queue: never everything by accident */
            json_decref(req);
            *rc = web_respond_error(c, 400, "select messages (ids, a filter, or all=1)");
            return true;
        }
        json_object_set_new(req, "state", json_string("quarantined"));
        *rc = web_queue_action(w, c, url[19] == 'r' ? QUEUE_UNQUARANTINE : QUEUE_PURGE, req, admin);
        return true;
    }
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (routes[i].post != post || strcmp(routes[i].path, url) != 0)
            continue;
        struct api a = {.w = w, .c = c, .admin = admin};
        if ((a.q = web_query(c, json_object(), rc)) == NULL)
            return true;
        if ((a.db = store_thread_db(STORE_FILE)) == NULL)
            a.rc = web_respond_error(c, 503, "cannot open the store");
        else
            routes[i].run(&a);
        json_decref(a.q);
        *rc = a.rc;
        return true;
    }
    return false;
}
