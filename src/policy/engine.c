/* policy/engine - the engine's live state: bans, connections per IP, the
 * hourly counters, the registry of live sessions and the observers (room:
 * policy; the decisions themselves are in engine_stages.c).
 *
 * Everything here is in memory on the event loop, so a connection from a
 * banned IP is refused with one hash lookup and no store access.  Bans are
 * also written to the store (through the committer, never blocking the
 * loop on an fsync) so that they survive a restart; so do the counters
 * (policy_counters_save, saved by smtp/outbreak.c every minute and at
 * shutdown): a restart hands no sender a fresh hour. */
#include "policy/engine_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "accounts/accounts.h"
#include "core/clock.h"
#include "core/ipset.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/strmap.h"
#include "core/util.h"
#include "store/ban_state.h"
#include "store/committer.h"

#define HOUR 3600
#define KEYS_MAX 100000 /* senders or IPs counted at once per table */
#define SWEEP_SECONDS 5 /* how often ended bans are noticed and logged */
#define TOP_SENDERS 10  /* shown by floodctl status */

/* ---- decisions ---- */

void policy_decide(struct policy_decision *d, enum policy_action action, const char *reason,
                   const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->text, sizeof d->text, fmt, ap);
    va_end(ap);
    d->action = action;
    d->code = atoi(d->text);
    d->then[0] = '\0';
    str_copy(d->reason, reason ? reason : "", sizeof d->reason);
}

void policy_accept(struct policy_decision *d)
{
    d->action = POLICY_ACCEPT;
    d->code = 0;
    d->text[0] = d->then[0] = d->reason[0] = '\0';
}

void policy_banned_text(struct policy *p, char *buf, size_t len)
{
    snprintf(buf, len, "421 4.7.0 %s Too many failed attempts from your address, try again later",
             p->cfg->hostname);
}

/* ---- live sessions ---- */

void policy_set_session_ops(struct policy *p, const struct policy_session_ops *ops)
{
    p->ops = *ops;
}

/* live_add - register O's session (HANDLE), newest first. */
static int live_add(struct policy *p, struct origin *o, void *handle)
{
    struct policy_live *l = calloc(1, sizeof *l);
    if (l == NULL)
        return -1;
    l->origin = o;
    l->handle = handle;
    l->next = p->live;
    if (p->live)
        p->live->prev = l;
    else
        p->live_tail = l;
    p->live = l;
    o->live = l;
    return 0;
}

/* live_remove - O's session ended. */
static void live_remove(struct policy *p, struct origin *o)
{
    struct policy_live *l = o->live;
    if (l == NULL)
        return;
    if (l->prev)
        l->prev->next = l->next;
    else
        p->live = l->next;
    if (l->next)
        l->next->prev = l->prev;
    else
        p->live_tail = l->prev;
    o->live = NULL;
    free(l);
}

/* live_matches - does the session of O match M (its IP in NET, the set
 * made of M->ip)? */
static bool live_matches(const struct origin *o, const struct policy_match *m,
                         const struct ipset *net)
{
    if (m->id && o->session != m->id)
        return false;
    if (m->ip && !ipset_contains(net, (const struct sockaddr *)&o->sa))
        return false;
    if (m->user && (o->auth_user == NULL || strcasecmp(o->auth_user, m->user) != 0))
        return false;
    if (m->app_password &&
        (o->app_password == NULL || strcmp(o->app_password, m->app_password) != 0))
        return false;
    return true;
}

/* end_matching - end the sessions matching M but SELF with TEXT. */
static unsigned end_matching(struct policy *p, const struct policy_match *m,
                             const struct origin *self, const char *text, const char *reason)
{
    unsigned n = 0;
    char err[128];
    struct ipset *net = NULL;
    if (p->ops.end == NULL)
        return 0;
    /* An address or network that does not parse matches nothing. */
    if (m->ip &&
        ((net = ipset_new()) == NULL || ipset_add(net, m->ip, NULL, err, sizeof err) < 0)) {
        ipset_free(net);
        return 0;
    }
    /* The end callback may free the session (and its registry entry)
     * at once: step on before calling it. */
    for (struct policy_live *l = p->live, *next; l; l = next) {
        next = l->next;
        if (l->origin == self || !live_matches(l->origin, m, net))
            continue;
        n++;
        p->ops.end(p->ops.ctx, l->handle, text, reason);
    }
    ipset_free(net);
    return n;
}

/* end_text - the 421 of a session ended for REASON, into BUF.  The
 * client reads why: a mail client shows it to its user. */
static void end_text(struct policy *p, const char *reason, char *buf, size_t len)
{
    static const struct {
        const char *reason, *why;
    } texts[] = {
        {"suspended", "Your account has been suspended, closing connection"},
        {"app_password_revoked", "The app password of this session was revoked, closing "
                                 "connection"},
        {"ip_groups", "The permissions of your address changed, please connect again"},
        {"ban", "Your address has been blocked, closing connection"},
    };
    const char *why = "Your session was closed by the administrator";
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        if (strcmp(reason, texts[i].reason) == 0)
            why = texts[i].why;
    snprintf(buf, len, "421 4.7.0 %s %s", p->cfg->hostname, why);
}

unsigned policy_end_sessions(struct policy *p, const struct policy_match *m, const char *text,
                             const char *reason)
{
    char closed[POLICY_TEXT_MAX];
    if (m->id == 0 && m->ip == NULL && m->user == NULL && m->app_password == NULL)
        return 0; /* "every session" is shutdown's business, not an action's */
    if (text == NULL) {
        end_text(p, reason, closed, sizeof closed);
        text = closed;
    }
    return end_matching(p, m, NULL, text, reason);
}

json_t *policy_sessions(struct policy *p)
{
    json_t *arr = json_array();
    for (struct policy_live *l = p->live_tail; arr && l; l = l->prev) {
        const struct origin *o = l->origin;
        char started[32];
        const char *state = p->ops.state ? p->ops.state(p->ops.ctx, l->handle) : "open";
        json_t *row = json_pack(
            "{s:I, s:s, s:i, s:s, s:b, s:s?, s:s?, s:s?, s:s?, s:s, s:I, s:s}", "id",
            (json_int_t)o->session, "ip", o->ip, "port", o->port, "listener", o->listener, "tls",
            o->tls, "tls_info", o->tls ? o->tls_info : NULL, "auth_user", o->auth_user,
            "app_password", o->app_password, "helo", o->helo[0] ? o->helo : NULL, "started",
            iso8601_utc(o->started, started, sizeof started), "messages", (json_int_t)l->messages,
            "state", state);
        if (row == NULL || json_array_append_new(arr, row) < 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

/* ---- observers ---- */

int policy_add_observer(struct policy *p, const struct policy_observer *obs)
{
    if (p->n_observers >= POLICY_OBSERVERS_MAX)
        return -1;
    p->observers[p->n_observers++] = *obs;
    return 0;
}

/* ---- connections ---- */

void policy_connect(struct policy *p, struct origin *o, void *handle, struct policy_decision *d)
{
    time_t now = clock_now();
    const struct ban *b = bans_active(p->bans, o->ip, now);
    if (b) {
        long remaining = (long)(b->until - now);
        log_info("event=refused session=%lu ip=%s reason=banned remaining=%ld", o->session, o->ip,
                 remaining);
        policy_decide(d, POLICY_DISCONNECT, "banned",
                      "421 4.7.0 %s Your address is blocked for %ld more seconds after too many "
                      "failures",
                      p->cfg->hostname, remaining);
        return;
    }
    uintptr_t open = (uintptr_t)strmap_get(p->connections, o->ip);
    unsigned max = p->cfg->client_limits.max_connections;
    /* Out of memory: refusing is the safe side. */
    if ((max && open >= max && !o->exempt) ||
        strmap_put(p->connections, o->ip, (void *)(open + 1), NULL) < 0) {
        log_info("event=refused session=%lu ip=%s reason=connections_per_ip", o->session, o->ip);
        policy_decide(d, POLICY_DISCONNECT, "connections_per_ip",
                      "421 4.7.0 %s Too many connections from your address, try again later",
                      p->cfg->hostname);
        return;
    }
    if (live_add(p, o, handle) < 0) {
        policy_disconnect(p, o);
        policy_decide(d, POLICY_DISCONNECT, "out_of_memory",
                      "421 4.3.0 %s Out of memory, try again later", p->cfg->hostname);
        return;
    }
    policy_accept(d);
}

void policy_disconnect(struct policy *p, struct origin *o)
{
    for (size_t i = 0; o->live && i < p->n_observers; i++)
        if (p->observers[i].session_end)
            p->observers[i].session_end(p->observers[i].arg, o);
    live_remove(p, o);
    uintptr_t open = (uintptr_t)strmap_get(p->connections, o->ip);
    if (open > 1)
        strmap_put(p->connections, o->ip, (void *)(open - 1), NULL);
    else
        strmap_del(p->connections, o->ip);
}

/* ---- bans ---- */

static void ban_saved(void *arg, int status, const char *err)
{
    struct ban_state_job *j = arg;
    if (status < 0)
        log_warnx("event=store_error op=save_ban ip=%s error=%s", j->ip, log_quote(err));
    free(j);
}

/* ban_store - write the ban of IP through the committer. */
static void ban_store(struct policy *p, const char *ip, const struct ban *b, const char *by)
{
    struct ban_state_job *j = calloc(1, sizeof *j);
    if (j == NULL || p->committer == NULL) {
        free(j);
        return;
    }
    str_copy(j->ip, ip, sizeof j->ip);
    j->until = b->until;
    j->offenses = b->offenses;
    str_copy(j->reason, b->reason, sizeof j->reason);
    str_copy(j->by, by, sizeof j->by);
    committer_submit(p->committer, ban_state_save_job, ban_saved, j);
}

void policy_ban_ip(struct policy *p, const char *ip, const struct ban *b, const struct origin *self,
                   const char *text)
{
    if (bans_set(p->bans, ip, b->until, b->offenses, b->reason) < 0) {
        log_warnx("event=ban_error ip=%s error=out_of_memory", ip);
        return;
    }
    log_info("event=ban ip=%s reason=%s seconds=%ld offenses=%u", ip, log_quote(b->reason),
             (long)(b->until - clock_now()), b->offenses);
    ban_store(p, ip, b, "floodgated");
    /* A ban ends every session of that IP, not only the one whose failure
     * earned it: a botnet keeps many open. */
    struct policy_match m = {.ip = ip};
    end_matching(p, &m, self, text, "ban");
    if (p->ops.banned)
        p->ops.banned(p->ops.ctx, ip);
}

int policy_ban_add(struct policy *p, const char *ip, unsigned seconds, const char *reason)
{
    char text[POLICY_TEXT_MAX];
    struct ban b = {.until = clock_now() + seconds, .offenses = 1};
    str_copy(b.reason, reason, sizeof b.reason);
    if (bans_set(p->bans, ip, b.until, b.offenses, b.reason) < 0)
        return -1;
    end_text(p, "ban", text, sizeof text);
    policy_ban_ip(p, ip, &b, NULL, text);
    return 0;
}

bool policy_banned(struct policy *p, const char *ip)
{
    return bans_active(p->bans, ip, clock_now()) != NULL;
}

static void log_unban(const char *ip, void *arg)
{
    log_info("event=unban ip=%s reason=expired", ip);
}

static void sweep(evutil_socket_t fd, short what, void *arg)
{
    struct policy *p = arg;
    time_t now = clock_now();
    bans_expire(p->bans, now, log_unban, NULL);
    struct counters *all[] = {p->ip_messages, p->unknown_rcpts, p->messages,
                              p->recipients,  p->domains,       p->domain_seen};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        counters_sweep(all[i], now);
}

/* end_banned_sessions - the bans were read again: a live session whose IP
 * is banned now ends (floodctl ban add reaches open sessions). */
static void end_banned_sessions(struct policy *p)
{
    char text[POLICY_TEXT_MAX];
    time_t now = clock_now();
    end_text(p, "ban", text, sizeof text);
    for (struct policy_live *l = p->live, *next; l && p->ops.end; l = next) {
        next = l->next;
        if (bans_active(p->bans, l->origin->ip, now) != NULL)
            p->ops.end(p->ops.ctx, l->handle, text, "ban");
    }
}

void policy_set_bans(struct policy *p, json_t *list)
{
    time_t now = clock_now();
    json_t *row;
    size_t i;
    if (list == NULL) {
        log_warnx("event=store_error op=read_bans");
        return;
    }
    bans_clear(p->bans);
    json_array_foreach(list, i, row)
    {
        const char *ip = json_string_value(json_object_get(row, "ip"));
        if (ip && bans_set(p->bans, ip, (time_t)json_integer_value(json_object_get(row, "until")),
                           (unsigned)json_integer_value(json_object_get(row, "offenses")),
                           json_string_value(json_object_get(row, "reason"))) < 0)
            log_warnx("event=ban_error ip=%s error=%s", log_quote(ip),
                      log_quote("not an address or network"));
    }
    /* Bans that ended while the daemon was down are history, not news. */
    bans_expire(p->bans, now, NULL, NULL);
    log_info("event=bans_loaded active=%u", bans_count_active(p->bans, now));
    end_banned_sessions(p);
}

void policy_set_local_domains(struct policy *p, json_t *names)
{
    accounts_domain_set_free(p->local_domains);
    p->local_domains = names ? accounts_domain_set_new(names) : NULL;
    if (p->local_domains)
        log_info("event=local_domains_loaded count=%zu",
                 accounts_domain_set_count(p->local_domains));
    else
        log_warnx("event=store_error op=read_local_domains fallback=store_lookups");
}

int policy_domain_local(const struct policy *p, const char *domain)
{
    return p->local_domains ? accounts_domain_set_has(p->local_domains, domain) : -1;
}

/* ---- life ---- */

struct policy *policy_new(const struct policy_env *env)
{
    struct policy *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->base = env->base;
    p->cfg = config_ref(env->cfg);
    p->committer = env->committer;
    metrics_declare("floodgate_auth_failures_total", METRIC_COUNTER,
                    "SMTP AUTH attempts that did not log in, by listener.");
    p->bans = bans_new();
    p->connections = strmap_new();
    p->ip_messages = counters_new(HOUR, KEYS_MAX);
    p->unknown_rcpts = counters_new(HOUR, KEYS_MAX);
    p->messages = counters_new(HOUR, KEYS_MAX);
    p->recipients = counters_new(HOUR, KEYS_MAX);
    p->domains = counters_new(HOUR, KEYS_MAX);
    p->domain_seen = counters_new(HOUR, KEYS_MAX);
    struct timeval tv = {SWEEP_SECONDS, 0};
    if (p->base)
        p->sweep = event_new(p->base, -1, EV_PERSIST, sweep, p);
    if (!p->bans || !p->connections || !p->ip_messages || !p->unknown_rcpts || !p->messages ||
        !p->recipients || !p->domains || !p->domain_seen || (p->base && !p->sweep) ||
        (p->sweep && event_add(p->sweep, &tv) < 0)) {
        policy_free(p);
        return NULL;
    }
    return p;
}

void policy_free(struct policy *p)
{
    if (p == NULL)
        return;
    if (p->sweep)
        event_free(p->sweep);
    while (p->live)
        live_remove(p, p->live->origin);
    bans_free(p->bans);
    accounts_domain_set_free(p->local_domains);
    strmap_free(p->connections, NULL);
    counters_free(p->ip_messages);
    counters_free(p->unknown_rcpts);
    counters_free(p->messages);
    counters_free(p->recipients);
    counters_free(p->domains);
    counters_free(p->domain_seen);
    config_unref(p->cfg);
    free(p);
}

/* end_regrouped_sessions - a reload changed the IP groups: a live session
 * whose address lost the trust (relay.allow_groups) or the exemption
 * (client_limits.exempt_groups) it was opened with is ended, so that it
 * does not keep rights the admin just took away.  One that gained rights
 * keeps going under the old ones until it connects again. */
static void end_regrouped_sessions(struct policy *p)
{
    char text[POLICY_TEXT_MAX];
    end_text(p, "ip_groups", text, sizeof text);
    for (struct policy_live *l = p->live, *next; l && p->ops.end; l = next) {
        next = l->next;
        const struct sockaddr *sa = (const struct sockaddr *)&l->origin->sa;
        bool trusted = ipset_contains(p->cfg->relay_clients, sa);
        bool exempt = ipset_contains(p->cfg->client_limits.exempt, sa);
        if ((l->origin->trusted && !trusted) || (l->origin->exempt && !exempt))
            p->ops.end(p->ops.ctx, l->handle, text, "ip_groups");
    }
}

void policy_set_config(struct policy *p, struct config *cfg)
{
    config_ref(cfg);
    config_unref(p->cfg);
    p->cfg = cfg;
    end_regrouped_sessions(p);
}

/* ---- figures ---- */

json_t *policy_counters(struct policy *p, const char *sender)
{
    time_t now = clock_now();
    return json_pack("{s:I, s:I, s:I}", "messages",
                     (json_int_t)counters_get(p->messages, sender, now), "recipients",
                     (json_int_t)counters_get(p->recipients, sender, now), "domains",
                     (json_int_t)counters_get(p->domains, sender, now));
}

json_t *policy_status(struct policy *p)
{
    time_t now = clock_now();
    struct counter_total top[TOP_SENDERS];
    size_t n = counters_top(p->messages, now, top, TOP_SENDERS);
    json_t *senders = json_array();
    for (size_t i = 0; senders && i < n; i++) {
        json_t *c = policy_counters(p, top[i].key);
        if (c)
            json_object_set_new(c, "sender", json_string(top[i].key));
        json_array_append_new(senders, c);
    }
    return json_pack("{s:I, s:I, s:o}", "bans_active", (json_int_t)bans_count_active(p->bans, now),
                     "ips_connected", (json_int_t)strmap_count(p->connections), "top_senders",
                     senders ? senders : json_array());
}

/* ---- the counters across a restart ---- */

static const char *const counter_tags[] = {"ip_messages", "unknown_rcpts", "messages",
                                           "recipients",  "domains",       "domain_seen"};

/* tables - P's counters in the order of counter_tags. */
static void tables(struct policy *p, struct counters **out)
{
    struct counters *all[] = {p->ip_messages, p->unknown_rcpts, p->messages,
                              p->recipients,  p->domains,       p->domain_seen};
    memcpy(out, all, sizeof all);
}

int policy_counters_save(struct policy *p, time_t now,
                         int (*emit)(const char *text, size_t len, void *arg), void *arg)
{
    struct counters *t[6];
    tables(p, t);
    for (size_t i = 0; i < 6; i++)
        if (counters_save_tagged(t[i], counter_tags[i], now, emit, arg) < 0)
            return -1;
    return 0;
}

void policy_counters_load(struct policy *p, const char *text, size_t len, time_t now)
{
    struct counters *t[6];
    const char *end = text + len;
    tables(p, t);
    while (text < end) {
        const char *nl = memchr(text, '\n', (size_t)(end - text));
        const char *eol = nl ? nl : end;
        counters_load_tagged(t, counter_tags, 6, text, (size_t)(eol - text), now);
        text = nl ? nl + 1 : end;
    }
}
