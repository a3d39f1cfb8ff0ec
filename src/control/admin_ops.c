/* control/admin_ops - the admin actions and lookups floodctl and the web
 * API share: bans, a message of the queue or the quarantine, closing an
 * incident (see control/admin_ops.h).  Room: control. */
#include "control/admin_ops.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accounts/accounts.h"
#include "accounts/login_state.h"
#include "core/log.h"
#include "core/util.h"
#include "queue/queue_actions.h"
#include "store/ban_state.h"
#include "store/incidents.h"
#include "store/queue.h"
#include "store/queue_query.h"

/* fail_with - NULL with *STATUS and ERR set. */
static json_t *fail_with(int *status, int code, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static json_t *fail_with(int *status, int code, char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    *status = code;
    return NULL;
}

/* ---- bans ---- */

/* canonical_network - "ADDR/PREFIX" with the host bits cleared and the
 * address as inet_ntop writes it, so one network has one spelling (and
 * "ban del" finds what "ban add" stored). */
static int canonical_network(const char *text, char *buf, size_t len)
{
    char addr_text[INET6_ADDRSTRLEN];
    unsigned char addr[16];
    const char *slash = strchr(text, '/');
    uint64_t prefix;
    if (slash == NULL || (size_t)(slash - text) >= sizeof addr_text ||
        parse_u64(slash + 1, strlen(slash + 1), &prefix) < 0)
        return -1;
    memcpy(addr_text, text, (size_t)(slash - text));
    addr_text[slash - text] = '\0';
    int family = strchr(addr_text, ':') ? AF_INET6 : AF_INET;
    unsigned bits = family == AF_INET ? 32 : 128;
    if (prefix > bits || inet_pton(family, addr_text, addr) != 1)
        return -1;
    for (unsigned i = 0; i < bits / 8; i++) {
        unsigned keep = prefix > i * 8 ? (unsigned)prefix - i * 8 : 0;
        addr[i] &= keep >= 8 ? 0xff : (unsigned char)(0xff << (8 - keep));
    }
    if (inet_ntop(family, addr, addr_text, sizeof addr_text) == NULL)
        return -1;
    int n = snprintf(buf, len, "%s/%u", addr_text, (unsigned)prefix);
    return n > 0 && (size_t)n < len ? 0 : -1;
}

int admin_canonical_ip(const char *ip, char *buf, size_t len)
{
    unsigned char addr[16];
    if (inet_pton(AF_INET, ip, addr) == 1)
        return inet_ntop(AF_INET, addr, buf, (socklen_t)len) ? 0 : -1;
    if (inet_pton(AF_INET6, ip, addr) == 1)
        return inet_ntop(AF_INET6, addr, buf, (socklen_t)len) ? 0 : -1;
    return canonical_network(ip, buf, len);
}

json_t *admin_ban_add(store_db *db, const char *ip_text, long long seconds, const char *reason,
                      const char *admin, int *status, char *err, size_t errlen)
{
    char ip[64];
    if (admin_canonical_ip(ip_text, ip, sizeof ip) < 0)
        return fail_with(status, ADMIN_BAD_REQUEST, err, errlen,
                         "'%.100s' is not an IP address or a CIDR network "
                         "(e.g. 203.0.113.7, 203.0.113.0/24, 2001:db8::/48)",
                         ip_text);
    if (seconds <= 0 || seconds > ADMIN_BAN_MAX)
        return fail_with(status, ADMIN_BAD_REQUEST, err, errlen,
                         "give a duration such as 30m, 12h, 7d (at most ten years)");
    time_t until = time(NULL) + (time_t)seconds;
    if (ban_state_save(db, ip, until, 1, reason, admin) < 0)
        return fail_with(status, ADMIN_FAILED, err, errlen,
                         "cannot write the ban to the store (details in the log)");
    log_info("event=ban ip=%s reason=%s seconds=%lld admin=%s", ip, log_quote(reason), seconds,
             log_quote(admin));
    *status = ADMIN_OK;
    return json_pack("{s:s, s:I, s:s}", "ip", ip, "until", (json_int_t)until, "reason", reason);
}

/* lift - lift the ban of IP into LIFTED: 1 lifted, 0 none, -1 error. */
static int lift(store_db *db, const char *ip, const char *admin, json_t *lifted)
{
    int rc = ban_state_delete(db, ip);
    if (rc == 1) {
        log_info("event=unban ip=%s reason=admin admin=%s", ip, log_quote(admin));
        json_array_append_new(lifted, json_string(ip));
    }
    return rc;
}

json_t *admin_ban_del(store_db *db, const char *ip_text, const char *admin, int *status, char *err,
                      size_t errlen)
{
    char ip[64];
    if (ip_text && admin_canonical_ip(ip_text, ip, sizeof ip) < 0)
        return fail_with(status, ADMIN_BAD_REQUEST, err, errlen,
                         "'%.100s' is not an IP address or a CIDR network", ip_text);
    json_t *lifted = json_array(), *list = ip_text ? NULL : ban_state_list(db, time(NULL), 0), *b;
    int rc = lifted && (ip_text || list) ? 0 : -1;
    size_t i;
    if (rc == 0 && ip_text)
        rc = lift(db, ip, admin, lifted);
    json_array_foreach(list, i, b)
    {
        if (rc >= 0)
            rc = lift(db, json_string_value(json_object_get(b, "ip")), admin, lifted) < 0 ? -1 : 0;
    }
    json_decref(list);
    if (rc < 0 || (ip_text && rc == 0)) {
        json_decref(lifted);
        if (rc < 0)
            return fail_with(status, ADMIN_FAILED, err, errlen,
                             "cannot write to the store (details in the log)");
        return fail_with(status, ADMIN_NOT_FOUND, err, errlen,
                         "%s is not banned: see 'floodctl ban list'", ip);
    }
    *status = ADMIN_OK;
    return json_pack("{s:o}", "lifted", lifted);
}

/* ---- users ---- */

json_t *admin_user_list(store_db *db, const char *domain, const struct config_passwords *p)
{
    json_t *list = accounts_user_list(db, domain), *u;
    size_t i;
    time_t now = time(NULL);
    json_array_foreach(list, i, u) login_annotate(u, p, now);
    return list;
}

/* ---- messages ---- */

/* page_ids - the ids of LIST as a JSON array text, and an object from
 * id to message in BY_ID; NULL when memory runs out. */
static char *page_ids(json_t *list, json_t *by_id)
{
    json_t *ids = json_array(), *m;
    size_t i;
    int bad = ids == NULL;
    json_array_foreach(list, i, m)
    {
        json_t *id = json_object_get(m, "id");
        bad |= !json_is_string(id) || json_array_append(ids, id) < 0 ||
               json_object_set(by_id, json_string_value(id), m) < 0 ||
               json_object_set_new(m, "recipients", json_array()) < 0;
    }
    char *text = bad ? NULL : json_dumps(ids, JSON_COMPACT);
    json_decref(ids);
    return text;
}

int quarantine_attach(store_db *db, json_t *list)
{
    json_t *by_id = json_object();
    char *ids = by_id ? page_ids(list, by_id) : NULL;
    int rc = ids ? 0 : -1;
    if (rc == 0)
        rc = store_quarantine_attach(db, ids, by_id);
    free(ids);
    json_decref(by_id);
    return rc;
}

int admin_message_find(store_db *db, const char *id, bool queue_too, json_t **out)
{
    const char *ids[1] = {id};
    struct queue_filter f = {.ids = ids, .n_ids = 1, .state = queue_too ? NULL : "quarantined"};
    json_t *list = store_queue_list(db, &f);
    if (list != NULL && json_array_size(list) == 0 && queue_too) {
        json_decref(list);
        f.state = "quarantined";
        list = store_queue_list(db, &f);
    }
    if (list != NULL && f.state != NULL && quarantine_attach(db, list) < 0) {
        json_decref(list);
        list = NULL;
    }
    if (list == NULL)
        return -1;
    *out = json_incref(json_array_get(list, 0));
    json_decref(list);
    return *out != NULL;
}

/* ---- incidents ---- */

/* What closing an incident undid. */
struct undo {
    long released;
    bool unsuspended;
    json_t *unbanned;
};

/* release_held - the messages the incident held go out: those of its
 * SUBJECT held since an hour before it OPENED (the window it saw). */
static int release_held(store_db *db, const char *subject, time_t opened, const char *admin,
                        const char *state_dir, const char *hostname, struct undo *u, char *err,
                        size_t errlen)
{
    struct queue_filter f = {.state = "held"};
    if (strncmp(subject, "ip:", 3) == 0) {
        f.ip = subject + 3;
        f.unauthenticated = true;
    } else {
        f.auth_user = subject;
    }
    f.newer_than = (long long)time(NULL) - opened + 3600;
    struct queue_action_ctx ctx = {.state_dir = state_dir,
                                   .hostname = hostname,
                                   .admin = admin,
                                   .reason = "incident released"};
    char why[400];
    u->released = queue_act(db, QUEUE_RELEASE, &f, &ctx, why, sizeof why);
    if (u->released < 0)
        snprintf(err, errlen, "releasing the held messages stopped: %s (run the command again)",
                 why);
    return u->released < 0 ? -1 : 0;
}

/* undo_actions - lift the suspensions and the bans the incident's actions
 * name (every account a credential stuffer got into is suspended by one
 * incident).  A revoked app password is gone: the user needs a new one. */
static int undo_actions(store_db *db, json_t *inc, const char *admin, struct undo *u, char *err,
                        size_t errlen)
{
    size_t i;
    json_t *act;
    json_array_foreach(json_object_get(inc, "actions"), i, act)
    {
        const char *what = json_string_value(json_object_get(act, "action"));
        const char *detail = json_string_value(json_object_get(act, "detail"));
        if (what == NULL || detail == NULL)
            continue;
        if (strcmp(what, "suspend") == 0) {
            char why[300];
            if (accounts_user_suspend(db, detail, false, why, sizeof why) < 0) {
                snprintf(err, errlen, "cannot unsuspend %s: %s", detail, why);
                return -1;
            }
            u->unsuspended = true;
            log_info("event=unsuspend user=%s reason=incident admin=%s", log_quote(detail),
                     log_quote(admin));
        } else if (strcmp(what, "ban") == 0) {
            int rc = ban_state_delete(db, detail);
            if (rc < 0) {
                snprintf(err, errlen, "cannot lift the ban of %s (details in the log)", detail);
                return -1;
            }
            if (rc == 1) {
                json_array_append_new(u->unbanned, json_string(detail));
                log_info("event=unban ip=%s reason=incident admin=%s", detail, log_quote(admin));
            }
        }
    }
    return 0;
}

json_t *admin_incident_close(store_db *db, long long id, const char *state, const char *admin,
                             const char *state_dir, const char *hostname, int *status, char *err,
                             size_t errlen)
{
    int found;
    json_t *inc = incident_get(db, id, &found);
    if (inc == NULL)
        return fail_with(status, found ? ADMIN_FAILED : ADMIN_NOT_FOUND, err, errlen,
                         found ? "cannot read incident %lld from the store (details in the log)"
                               : "no incident %lld: see 'floodctl incident list --all'",
                         id);
    const char *now_state = json_string_value(json_object_get(inc, "state"));
    const char *subject = json_string_value(json_object_get(inc, "subject"));
    if (now_state && (strcmp(now_state, "released") == 0 || strcmp(now_state, "dismissed") == 0)) {
        fail_with(status, ADMIN_CONFLICT, err, errlen, "incident %lld is already %s: nothing to do",
                  id, now_state);
        json_decref(inc);
        return NULL;
    }
    struct undo u = {.unbanned = json_array()};
    time_t now = time(NULL), opened = 0;
    /* the opening time in seconds, for the selection of held messages */
    struct tm tm = {0};
    const char *opened_text = json_string_value(json_object_get(inc, "opened"));
    if (opened_text && strptime(opened_text, "%Y-%m-%dT%H:%M:%SZ", &tm) != NULL)
        opened = timegm(&tm);
    int rc = subject
                 ? release_held(db, subject, opened, admin, state_dir, hostname, &u, err, errlen)
                 : -1;
    if (rc == 0)
        rc = undo_actions(db, inc, admin, &u, err, errlen);
    char detail[128];
    snprintf(detail, sizeof detail, "%ld held messages released%s, %zu bans lifted", u.released,
             u.unsuspended ? ", account unsuspended" : "", json_array_size(u.unbanned));
    if (rc == 0 &&
        (incident_close(db, id, state, admin, now) < 0 ||
         incident_action(db, id, now, strcmp(state, "released") == 0 ? "release" : "dismiss",
                         detail, admin) < 0)) {
        snprintf(err, errlen, "cannot write to the store (details in the log)");
        rc = -1;
    }
    json_t *out = NULL;
    if (rc == 0) {
        log_info("event=incident id=%lld subject=%s state=%s admin=%s detail=%s", id,
                 log_quote(subject), state, log_quote(admin), log_quote(detail));
        out = json_pack("{s:I, s:s, s:s, s:I, s:b, s:O}", "id", (json_int_t)id, "state", state,
                        "subject", subject, "released_messages", (json_int_t)u.released,
                        "unsuspended", u.unsuspended, "unbanned", u.unbanned);
    }
    *status = rc == 0 ? ADMIN_OK : ADMIN_FAILED;
    json_decref(u.unbanned);
    json_decref(inc);
    return out;
}
