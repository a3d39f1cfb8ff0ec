/* control/daemon_commands - handlers for the control socket. */
#include "control/daemon_commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "accounts/accounts.h"
#include "core/clock.h"
#include "core/ipset.h"
#include "core/log.h"
#include "core/util.h"
#include "store/ban_state.h"
#include "store/committer.h"
#include "queue/pause_state.h"
#include "queue/queue_filter.h"
#include "store/queue_query.h"
#include "delivery/scheduler.h"
#include "store/store.h"
#include "policy/engine.h"
#include "smtp/outbreak.h"
#include "smtp/session.h"

/* store_status - the store's health for floodctl status: "ok", or
 * "failing" with why, since when, and the delivery outcomes that wait in
 * memory to be written. */
static json_t *store_status(struct daemon_commands_env *env)
{
    struct store_health h;
    committer_health(env->committer, &h);
    json_t *st = json_pack("{s:s, s:I}", "state", h.fault == STORE_FAULT_NONE ? "ok" : "failing",
                           "unrecorded_outcomes", (json_int_t)scheduler_unrecorded(env->scheduler));
    if (st == NULL || h.fault == STORE_FAULT_NONE)
        return st;
    char since[32];
    json_object_set_new(st, "reason", json_string(store_fault_name(h.fault)));
    json_object_set_new(st, "since", json_string(iso8601_utc(h.since, since, sizeof since)));
    json_object_set_new(st, "error", json_string(h.error));
    return st;
}

/* status_read - on the control reader thread: the queue by state and the
 * pauses (and, when REQ asks "messages_by_state", the messages by state
 * for /metrics).  A store that cannot be read is no reason to hide the
 * rest: they are then left out.  REQ "store": false reads nothing (the
 * web dashboard has the queue counts from the monitor's read). */
static json_t *status_read(void *ctx, json_t *req, char *err, size_t errlen)
{
    if (json_is_false(json_object_get(req, "store")))
        return json_object();
    store_db *db = store_thread_db(STORE_FILE);
    json_t *queue = db ? store_queue_counts(db) : NULL;
    json_t *paused = db ? pause_list(db) : NULL;
    json_t *by_state = db && json_is_true(json_object_get(req, "messages_by_state"))
                           ? store_queue_messages_by_state(db)
                           : NULL;
    json_t *r = json_pack("{s:o*, s:o*, s:o*}", "queue", queue, "paused", paused,
                          "messages_by_state", by_state);
    if (r == NULL)
        snprintf(err, errlen, "out of memory");
    return r;
}

/* status_finish - on the loop: the counters, the store's health and the
 * policy engine's figures ("gate": bans, connected IPs, top senders),
 * which live in the loop's memory. */
static json_t *status_finish(void *ctx, json_t *req, json_t *read, char *err, size_t errlen)
{
    struct daemon_commands_env *env = ctx;
    json_t *store = store_status(env);
    json_t *r = store ? json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o}",
                                  "version", "0.1.0", "pid", (json_int_t)getpid(), "uptime",
                                  (json_int_t)(time(NULL) - env->started), "connections",
                                  (json_int_t)env->smtp->connections, "sessions_total",
                                  (json_int_t)env->smtp->sessions_total, "messages_accepted",
                                  (json_int_t)env->smtp->messages_accepted, "messages_rejected",
                                  (json_int_t)env->smtp->messages_rejected, "store_commits",
                                  (json_int_t)committer_commits(env->committer), "store_jobs",
                                  (json_int_t)committer_jobs(env->committer), "store", store,
                                  "gate", policy_status(env->policy))
                      : NULL;
    if (r && env->reputation)
        json_object_set_new(r, "blocklists", reputation_watch_status(env->reputation));
    return control_finish_merge(r, read, err, errlen);
}

#ifdef FLOODGATE_FAULT_INJECTION
/* cmd_fault_store - test builds only: {"code": N, "after": K} makes every
 * store transaction after the next K fail with the SQLite result code N
 * (0 ends it). */
static json_t *cmd_fault_store(void *ctx, json_t *req, char *err, size_t errlen)
{
    struct daemon_commands_env *env = ctx;
    json_t *code = json_object_get(req, "code");
    if (!json_is_integer(code)) {
        snprintf(err, errlen, "code missing: an SQLite result code, 0 for none");
        return NULL;
    }
    json_int_t after = json_integer_value(json_object_get(req, "after"));
    committer_inject_fault(env->committer, (int)json_integer_value(code),
                           after > 0 ? (unsigned)after : 0);
    log_warnx("event=fault_injection target=store code=%d after=%lld",
              (int)json_integer_value(code), (long long)after);
    return json_object();
}
#endif

/* read_filter - the selection carried by a request. */
static int read_filter(json_t *req, struct queue_filter *f, const char **ids, char *err,
                       size_t errlen)
{
    memset(f, 0, sizeof *f);
    if (queue_filter_from_json(req, f, ids, FILTER_IDS_MAX) < 0) {
        snprintf(err, errlen, "too many queue ids (at most %d)", FILTER_IDS_MAX);
        return -1;
    }
    return 0;
}

static json_t *cmd_queue_list(void *ctx, json_t *req, char *err, size_t errlen)
{
    const char **ids = calloc(FILTER_IDS_MAX, sizeof *ids); /* too big for a stack */
    struct queue_filter f;
    if (ids == NULL || read_filter(req, &f, ids, err, errlen) < 0) {
        free(ids);
        return NULL;
    }
    store_db *db = store_thread_db(STORE_FILE);
    json_t *list = db ? store_queue_list(db, &f) : NULL;
    if (list == NULL)
        snprintf(err, errlen, "cannot read the queue from the store");
    free(ids);
    return list;
}

static json_t *cmd_queue_top(void *ctx, json_t *req, char *err, size_t errlen)
{
    const char **ids = calloc(FILTER_IDS_MAX, sizeof *ids); /* too big for a stack */
    struct queue_filter f;
    if (ids == NULL || read_filter(req, &f, ids, err, errlen) < 0) {
        free(ids);
        return NULL;
    }
    const char *by = json_string_value(json_object_get(req, "by"));
    unsigned limit = (unsigned)json_integer_value(json_object_get(req, "top"));
    store_db *db = store_thread_db(STORE_FILE);
    json_t *top = NULL;
    if (db == NULL)
        snprintf(err, errlen, "cannot open the store");
    else
        top = store_queue_top(db, &f, by ? by : "auth-user", limit, err, errlen);
    free(ids);
    return top;
}

/* cmd_queue_kick - floodctl changed the queue in the store: read it again
 * (the in-memory active queue may hold what was just held or deleted). */
static json_t *cmd_queue_kick(void *ctx, json_t *req, char *err, size_t errlen)
{
    struct daemon_commands_env *env = ctx;
    scheduler_refresh(env->scheduler);
    return json_object();
}

/* cmd_state_reload - floodctl changed pauses in the store: read them. */
/* cmd_sending_counters - {"sender": S}: S's messages, recipients and new
 * domains over the last hour. */
static json_t *cmd_sending_counters(void *ctx, json_t *req, char *err, size_t errlen)
{
    struct daemon_commands_env *env = ctx;
    const char *sender = json_string_value(json_object_get(req, "sender"));
    if (sender == NULL) {
        snprintf(err, errlen, "sender missing");
        return NULL;
    }
    return policy_counters(env->policy, sender);
}

/* cmd_session_list - the live sessions (policy_sessions). */
static json_t *cmd_session_list(void *ctx, json_t *req, char *err, size_t errlen)
{
    struct daemon_commands_env *env = ctx;
    json_t *list = policy_sessions(env->policy);
    if (list == NULL)
        snprintf(err, errlen, "out of memory");
    return list;
}

/* kill_reason - REASON if it is one floodctl may give, else NULL. */
static const char *kill_reason(const char *reason)
{
    static const char *const known[] = {"admin", "suspended", "app_password_revoked"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(reason, known[i]) == 0)
            return known[i];
    return NULL;
}

/* cmd_session_kill - {"id": N | "ip": ADDR|CIDR | "user": ADDR [,
 * "app_password": LABEL], "reason": "admin"|"suspended"|
 * "app_password_revoked"}: end the matching live sessions (421 4.7.0),
 * {"ended": n}. */
static json_t *cmd_session_kill(void *ctx, json_t *req, char *err, size_t errlen)
{
    struct daemon_commands_env *env = ctx;
    struct ipset_entry_facts facts;
    const char *r = json_string_value(json_object_get(req, "reason"));
    const char *reason = kill_reason(r ? r : "admin");
    json_int_t id = json_integer_value(json_object_get(req, "id"));
    struct policy_match m = {.id = id > 0 ? (unsigned long)id : 0,
                             .ip = json_string_value(json_object_get(req, "ip")),
                             .user = json_string_value(json_object_get(req, "user")),
                             .app_password =
                                 json_string_value(json_object_get(req, "app_password"))};
    if (reason == NULL) {
        snprintf(err, errlen, "reason must be admin, suspended or app_password_revoked");
        return NULL;
    }
    if (m.id == 0 && m.ip == NULL && m.user == NULL) {
        snprintf(err, errlen, "say which sessions: id, ip or user");
        return NULL;
    }
    if (m.ip && ipset_inspect(m.ip, &facts, err, errlen) < 0)
        return NULL;
    return json_pack("{s:I}", "ended",
                     (json_int_t)policy_end_sessions(env->policy, &m, NULL, reason));
}

/* state_read - on the control reader thread: the pauses, the bans and
 * the local domains as the store has them now ({"paused": [...] or null,
 * "bans": [...] or null, "domains": [...] or null}: a read that failed
 * leaves the bans the loop has; without the domains the loop asks the
 * store about each one). */
static json_t *state_read(void *ctx, json_t *req, char *err, size_t errlen)
{
    store_db *db = store_thread_db(STORE_FILE);
    json_t *r = json_pack("{s:o*, s:o*, s:o*}", "paused", db ? pause_list(db) : NULL, "bans",
                          db ? ban_state_list(db, time(NULL), 1) : NULL, "domains",
                          db ? accounts_domain_names(db) : NULL);
    if (r == NULL)
        snprintf(err, errlen, "out of memory");
    return r;
}

/* state_apply - on the loop: what state_read found becomes the daemon's
 * (READ, taken). */
static void state_apply(struct daemon_commands_env *env, json_t *read)
{
    json_t *paused = json_object_get(read, "paused");
    if (json_is_array(paused))
        server_set_pauses(env->smtp, json_incref(paused));
    else
        server_set_pauses(env->smtp, NULL);
    json_t *bans = json_object_get(read, "bans");
    policy_set_bans(env->policy, json_is_array(bans) ? bans : NULL);
    json_t *domains = json_object_get(read, "domains");
    policy_set_local_domains(env->policy, json_is_array(domains) ? domains : NULL);
    json_decref(read);
}

/* state_reload_finish - floodctl changed pauses or bans in the store:
 * they rule from now on (a ban ends the IP's live sessions). */
static json_t *state_reload_finish(void *ctx, json_t *req, json_t *read, char *err, size_t errlen)
{
    struct daemon_commands_env *env = ctx;
    state_apply(env, read);
    outbreak_reload_bulk(env->outbreak);
    scheduler_kick(env->scheduler);
    return json_pack("{s:O}", "paused", env->smtp->pauses);
}

#ifdef FLOODGATE_FAULT_INJECTION
/* cmd_fault_reader_hold - test builds only: {"seconds": N} keeps one
 * control reader thread busy for N seconds (at most 60), as a listing of
 * a huge queue would, to show that nothing on the loop waits for it. */
static json_t *cmd_fault_reader_hold(void *ctx, json_t *req, char *err, size_t errlen)
{
    json_int_t n = json_integer_value(json_object_get(req, "seconds"));
    sleep((unsigned)(n < 0 ? 0 : n > 60 ? 60 : n));
    return json_object();
}

/* session_hold - {"seconds": N} (at most 60, 0 ends it) holds WHAT
 * (smtp/session.h); logged as TARGET. */
static json_t *session_hold(json_t *req, enum smtp_fault_hold what, const char *target)
{
    json_int_t n = json_integer_value(json_object_get(req, "seconds"));
    smtp_fault_hold(what, (unsigned)(n < 0 ? 0 : n > 60 ? 60 : n));
    log_warnx("event=fault_injection target=%s seconds=%lld", target, (long long)n);
    return json_object();
}

/* cmd_fault_lookup_hold - test builds only: {"seconds": N} (at most 60,
 * 0 ends it) holds the sessions' store reads on their lookup threads, as a
 * store that hangs would (smtp/session.h). */
static json_t *cmd_fault_lookup_hold(void *ctx, json_t *req, char *err, size_t errlen)
{
    return session_hold(req, SMTP_HOLD_LOOKUP, "lookup");
}

/* cmd_fault_commit_hold - test builds only: {"seconds": N} (at most 60, 0
 * ends it) holds the store commits of accepted messages on the
 * committer's thread, as a store that hangs would (smtp/session.h). */
static json_t *cmd_fault_commit_hold(void *ctx, json_t *req, char *err, size_t errlen)
{
    return session_hold(req, SMTP_HOLD_COMMIT, "commit");
}

/* cmd_fault_scheduler_hold - test builds only: {"seconds": N} (at most 60)
 * holds the scheduler's next selection that finds rows on its reader
 * thread (delivery/scheduler.h). */
static json_t *cmd_fault_scheduler_hold(void *ctx, json_t *req, char *err, size_t errlen)
{
    struct daemon_commands_env *env = ctx;
    json_int_t n = json_integer_value(json_object_get(req, "seconds"));
    scheduler_fault_hold(env->scheduler, (unsigned)(n < 0 ? 0 : n > 60 ? 60 : n));
    return json_object();
}
#endif

/* cmd_clock_advance - {"seconds": N}: the test clock (floodgated -T)
 * moves N seconds forward; refused on a daemon started without it, so
 * that no client of the control socket can move a production server's
 * windows and limits. */
static json_t *cmd_clock_advance(void *ctx, json_t *req, char *err, size_t errlen)
{
    json_t *n = json_object_get(req, "seconds");
    long offset;
    if (!clock_test_enabled()) {
        snprintf(err, errlen, "the test clock is off: start floodgated with -T (tests only)");
        return NULL;
    }
    if (!json_is_integer(n) || clock_advance((long)json_integer_value(n), &offset) < 0) {
        snprintf(err, errlen, "seconds: a whole number from 1 to 2592000 (30 days)");
        return NULL;
    }
    char now[32];
    log_warnx("event=test_clock advanced=%lld offset=%ld now=%s", (long long)json_integer_value(n),
              offset, iso8601_utc(clock_now(), now, sizeof now));
    return json_pack("{s:I, s:s}", "offset", (json_int_t)offset, "now", now);
}

/* incident_closed_read - {"id": N, "subject": S, "state": "released" or
 * "dismissed"}: floodctl closed an incident in the store (and undid what
 * containment did there); the detector forgets the episode, or learns it
 * as normal for S, and the bans are read again. */
static json_t *incident_closed_read(void *ctx, json_t *req, char *err, size_t errlen)
{
    const char *subject = json_string_value(json_object_get(req, "subject"));
    const char *state = json_string_value(json_object_get(req, "state"));
    if (subject == NULL || state == NULL ||
        (strcmp(state, "released") != 0 && strcmp(state, "dismissed") != 0)) {
        snprintf(err, errlen, "give subject and state (released or dismissed)");
        return NULL;
    }
    return state_read(ctx, req, err, errlen);
}

static json_t *incident_closed_finish(void *ctx, json_t *req, json_t *read, char *err,
                                      size_t errlen)
{
    struct daemon_commands_env *env = ctx;
    const char *subject = json_string_value(json_object_get(req, "subject"));
    const char *state = json_string_value(json_object_get(req, "state"));
    json_int_t id = json_integer_value(json_object_get(req, "id"));
    outbreak_closed(env->outbreak, (long long)id, subject, state);
    state_apply(env, read);
    scheduler_refresh(env->scheduler);
    return json_object();
}

/* The reload hook: one daemon per process, so one hook. */
static struct {
    daemon_reload_fn fn;
    void *arg;
} reload_hook;

/* cmd_reload - {"cmd":"reload"}: read the config file again; the error
 * (file, line, key) goes back to floodctl when it does not load. */
static json_t *cmd_reload(void *ctx, json_t *req, char *err, size_t errlen)
{
    if (reload_hook.fn(reload_hook.arg, err, errlen) < 0)
        return NULL;
    return json_pack("{s:b, s:I}", "reloaded", 1, "configs_in_use", (json_int_t)config_count());
}

void daemon_commands_register_reload(struct control_server *ctl, daemon_reload_fn fn, void *arg)
{
    reload_hook.fn = fn;
    reload_hook.arg = arg;
    control_server_register(ctl, "reload", cmd_reload, NULL);
}

void daemon_commands_register(struct control_server *ctl, struct daemon_commands_env *env)
{
    control_server_register_reader(ctl, "status", status_read, status_finish, env);
    /* Listings read the store on the control room's reader thread: a long
     * one must not make open SMTP sessions wait (docs/design.md). */
    control_server_register_reader(ctl, "queue.list", cmd_queue_list, NULL, env);
    control_server_register(ctl, "queue.kick", cmd_queue_kick, env);
    control_server_register_reader(ctl, "queue.top", cmd_queue_top, NULL, env);
    /* the pauses and bans are read on the reader thread, applied on the loop */
    control_server_register_reader(ctl, "state.reload", state_read, state_reload_finish, env);
    control_server_register(ctl, "sending.counters", cmd_sending_counters, env);
    control_server_register_reader(ctl, "incident.closed", incident_closed_read,
                                   incident_closed_finish, env);
    control_server_register(ctl, "session.list", cmd_session_list, env);
    control_server_register(ctl, "session.kill", cmd_session_kill, env);
    control_server_register(ctl, "clock.advance", cmd_clock_advance, env);
    if (clock_test_enabled())
        log_warnx("event=test_clock enabled=yes note=%s",
                  log_quote("started with -T: for tests only, never in production"));
#ifdef FLOODGATE_FAULT_INJECTION
    control_server_register(ctl, "fault.store", cmd_fault_store, env);
    control_server_register_reader(ctl, "fault.reader_hold", cmd_fault_reader_hold, NULL, env);
    control_server_register(ctl, "fault.scheduler_hold", cmd_fault_scheduler_hold, env);
    control_server_register(ctl, "fault.lookup_hold", cmd_fault_lookup_hold, env);
    control_server_register(ctl, "fault.commit_hold", cmd_fault_commit_hold, env);
#endif
}
