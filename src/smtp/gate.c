/* smtp/gate - bans, per-IP limits and per-user sending limits at run time
 * (room: smtp; the decisions' arithmetic is in src/policy).
 *
 * Everything here is in memory on the event loop, so a connection from a
 * banned IP is refused with one hash lookup and no store access.  Bans are
 * also written to the store (through the committer, never blocking the
 * loop on an fsync) so that they survive a restart; the counters are not:
 * after a restart every sender starts a fresh hour. */
#include "smtp/gate.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accounts/sending.h"
#include "core/log.h"
#include "core/strmap.h"
#include "core/util.h"
#include "policy/bans.h"
#include "policy/counters.h"
#include "store/ban_state.h"
#include "store/committer.h"
#include "smtp/server.h"

#define HOUR 3600
#define KEYS_MAX 100000 /* senders or IPs counted at once per table */
#define SWEEP_SECONDS 5 /* how often ended bans are noticed and logged */
#define TOP_SENDERS 10  /* shown by floodctl status */

struct gate {
    struct smtp_server *srv;
    struct bans *bans;
    struct strmap *connections;   /* ip -> open sessions (as uintptr_t) */
    struct counters *ip_messages; /* per IP, last hour */
    struct counters *unknown_rcpts;
    struct counters *messages; /* per sender, last hour */
    struct counters *recipients;
    struct counters *domains;     /* new recipient domains per sender */
    struct counters *domain_seen; /* "sender\\1domain" seen within the hour */
    struct event *sweep;
};

/* ---- bans ---- */

struct ban_job {
    char ip[64];
    struct ban ban;
};

static int ban_save(sqlite3 *db, void *arg, char *err, size_t errlen)
{
    struct ban_job *j = arg;
    if (ban_state_save(db, j->ip, j->ban.until, j->ban.offenses, j->ban.reason, "floodgated") == 0)
        return 0;
    str_copy(err, sqlite3_errmsg(db), errlen);
    return -1;
}

static void ban_saved(void *arg, int status, const char *err)
{
    struct ban_job *j = arg;
    if (status < 0)
        log_warnx("event=store_error op=save_ban ip=%s error=%s", j->ip, log_quote(err));
    free(j);
}

/* ban - shut IP out per BAN: in memory now, in the store soon. */
static void ban(struct gate *g, const char *ip, const struct ban *b)
{
    if (bans_set(g->bans, ip, b->until, b->offenses, b->reason) < 0) {
        log_warnx("event=ban_error ip=%s error=out_of_memory", ip);
        return;
    }
    log_info("event=ban ip=%s reason=%s seconds=%ld offenses=%u", ip, log_quote(b->reason),
             (long)(b->until - time(NULL)), b->offenses);
    struct ban_job *j = calloc(1, sizeof *j);
    if (j == NULL)
        return;
    str_copy(j->ip, ip, sizeof j->ip);
    j->ban = *b;
    committer_submit(g->srv->committer, ban_save, ban_saved, j);
}

static void log_unban(const char *ip, void *arg)
{
    log_info("event=unban ip=%s reason=expired", ip);
}

static void sweep(evutil_socket_t fd, short what, void *arg)
{
    struct gate *g = arg;
    time_t now = time(NULL);
    bans_expire(g->bans, now, log_unban, NULL);
    struct counters *all[] = {g->ip_messages, g->unknown_rcpts, g->messages,
                              g->recipients,  g->domains,       g->domain_seen};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        counters_sweep(all[i], now);
}

void gate_reload(struct gate *g)
{
    time_t now = time(NULL);
    json_t *list = ban_state_list(g->srv->db, now, 1), *row;
    size_t i;
    if (list == NULL) {
        log_warnx("event=store_error op=read_bans");
        return;
    }
    bans_clear(g->bans);
    json_array_foreach(list, i, row)
    {
        const char *ip = json_string_value(json_object_get(row, "ip"));
        if (ip && bans_set(g->bans, ip, (time_t)json_integer_value(json_object_get(row, "until")),
                           (unsigned)json_integer_value(json_object_get(row, "offenses")),
                           json_string_value(json_object_get(row, "reason"))) < 0)
            log_warnx("event=ban_error ip=%s error=%s", log_quote(ip),
                      log_quote("not an address or network"));
    }
    /* Bans that ended while the daemon was down are history, not news. */
    bans_expire(g->bans, now, NULL, NULL);
    log_info("event=bans_loaded active=%u", bans_count_active(g->bans, now));
    json_decref(list);
}

struct gate *gate_new(struct smtp_server *srv)
{
    struct gate *g = calloc(1, sizeof *g);
    if (g == NULL)
        return NULL;
    g->srv = srv;
    g->bans = bans_new();
    g->connections = strmap_new();
    g->ip_messages = counters_new(HOUR, KEYS_MAX);
    g->unknown_rcpts = counters_new(HOUR, KEYS_MAX);
    g->messages = counters_new(HOUR, KEYS_MAX);
    g->recipients = counters_new(HOUR, KEYS_MAX);
    g->domains = counters_new(HOUR, KEYS_MAX);
    g->domain_seen = counters_new(HOUR, KEYS_MAX);
    g->sweep = event_new(srv->base, -1, EV_PERSIST, sweep, g);
    struct timeval tv = {SWEEP_SECONDS, 0};
    if (!g->bans || !g->connections || !g->ip_messages || !g->unknown_rcpts || !g->messages ||
        !g->recipients || !g->domains || !g->domain_seen || !g->sweep ||
        event_add(g->sweep, &tv) < 0) {
        gate_free(g);
        return NULL;
    }
    gate_reload(g);
    return g;
}

void gate_free(struct gate *g)
{
    if (g == NULL)
        return;
    if (g->sweep)
        event_free(g->sweep);
    bans_free(g->bans);
    strmap_free(g->connections, NULL);
    counters_free(g->ip_messages);
    counters_free(g->unknown_rcpts);
    counters_free(g->messages);
    counters_free(g->recipients);
    counters_free(g->domains);
    counters_free(g->domain_seen);
    free(g);
}

/* exempt - is IP in client_limits.exempt_groups? */
static bool exempt(struct gate *g, const char *ip)
{
    return ipset_contains_str(g->srv->cfg->client_limits.exempt, ip);
}

enum gate_verdict gate_connect(struct gate *g, const char *ip, long *remaining)
{
    time_t now = time(NULL);
    const struct ban *b = bans_active(g->bans, ip, now);
    if (b) {
        *remaining = (long)(b->until - now);
        return GATE_BANNED;
    }
    uintptr_t open = (uintptr_t)strmap_get(g->connections, ip);
    unsigned max = g->srv->cfg->client_limits.max_connections;
    if (max && open >= max && !exempt(g, ip))
        return GATE_TOO_MANY_CONNECTIONS;
    if (strmap_put(g->connections, ip, (void *)(open + 1), NULL) < 0)
        return GATE_TOO_MANY_CONNECTIONS; /* out of memory: refusing is the safe side */
    return GATE_OPEN;
}

void gate_disconnect(struct gate *g, const char *ip)
{
    uintptr_t open = (uintptr_t)strmap_get(g->connections, ip);
    if (open > 1)
        strmap_put(g->connections, ip, (void *)(open - 1), NULL);
    else
        strmap_del(g->connections, ip);
}

bool gate_banned(struct gate *g, const char *ip)
{
    return bans_active(g->bans, ip, time(NULL)) != NULL;
}

bool gate_failure(struct gate *g, const char *ip, const char *what)
{
    struct ban b;
    char reason[BAN_REASON_MAX];
    snprintf(reason, sizeof reason, "%s failures", what);
    if (!bans_failure(g->bans, &g->srv->cfg->hammering, ip, reason, time(NULL), &b))
        return false;
    ban(g, ip, &b);
    return true;
}

bool gate_unknown_recipient(struct gate *g, const char *ip)
{
    const struct config_client_limits *cl = &g->srv->cfg->client_limits;
    time_t now = time(NULL);
    if (cl->max_unknown_recipients == 0 || exempt(g, ip) ||
        counters_add(g->unknown_rcpts, ip, 1, now) <= cl->max_unknown_recipients)
        return false;
    counters_reset(g->unknown_rcpts, ip);
    struct ban b = {.until = now + cl->unknown_recipients_ban, .offenses = 1};
    str_copy(b.reason, "unknown recipients", sizeof b.reason);
    ban(g, ip, &b);
    return true;
}

bool gate_ip_message_allowed(struct gate *g, const char *ip)
{
    unsigned max = g->srv->cfg->client_limits.messages_per_hour;
    return max == 0 || exempt(g, ip) || counters_get(g->ip_messages, ip, time(NULL)) < max;
}

/* ---- sending limits ---- */

void gate_limits_of(struct gate *g, const char *sender, struct sending_limits_of *out)
{
    const struct config_sending_limits *c = &g->srv->cfg->sending_limits;
    struct user_limits u = {-1, -1, -1};
    if (strncmp(sender, "ip:", 3) != 0 && accounts_user_limits(g->srv->db, sender, &u) < 0)
        log_warnx("event=store_error op=user_limits user=%s", log_quote(sender));
    out->messages = u.messages >= 0 ? (unsigned)u.messages : c->messages_per_hour;
    out->recipients = u.recipients >= 0 ? (unsigned)u.recipients : c->recipients_per_hour;
    out->domains = u.domains >= 0 ? (unsigned)u.domains : c->domains_per_hour;
}

/* over - would N more on top of USED exceed LIMIT (0: none)? */
static bool over(unsigned long used, unsigned long n, unsigned limit)
{
    return limit != 0 && used + n > limit;
}

enum gate_send_verdict gate_may_send(struct gate *g, const char *sender,
                                     const struct sending_limits_of *l)
{
    if (over(counters_get(g->messages, sender, time(NULL)), 1, l->messages))
        return GATE_SEND_MESSAGES;
    return GATE_SEND_OK;
}

/* seen_key - "sender\\1domain" into BUF. */
static const char *seen_key(char *buf, size_t len, const char *sender, const char *domain)
{
    snprintf(buf, len, "%s\1%s", sender, domain);
    return buf;
}

bool gate_domain_is_new(struct gate *g, const char *sender, const char *domain)
{
    char key[600];
    return counters_get(g->domain_seen, seen_key(key, sizeof key, sender, domain), time(NULL)) == 0;
}

enum gate_send_verdict gate_may_add_rcpt(struct gate *g, const char *sender,
                                         const struct sending_limits_of *l, unsigned rcpts,
                                         unsigned new_domains)
{
    time_t now = time(NULL);
    if (over(counters_get(g->recipients, sender, now), rcpts, l->recipients))
        return GATE_SEND_RECIPIENTS;
    if (new_domains > 0 && over(counters_get(g->domains, sender, now), new_domains, l->domains))
        return GATE_SEND_DOMAINS;
    return GATE_SEND_OK;
}

void gate_sent(struct gate *g, const char *sender, const char *client_ip, unsigned n_rcpts,
               const char *const *domains, size_t n_domains)
{
    time_t now = time(NULL);
    counters_add(g->ip_messages, client_ip, 1, now);
    if (sender == NULL)
        return;
    counters_add(g->messages, sender, 1, now);
    counters_add(g->recipients, sender, n_rcpts, now);
    for (size_t i = 0; i < n_domains; i++) {
        char key[600];
        seen_key(key, sizeof key, sender, domains[i]);
        if (counters_add(g->domain_seen, key, 1, now) == 1)
            counters_add(g->domains, sender, 1, now);
    }
}

json_t *gate_counters(struct gate *g, const char *sender)
{
    time_t now = time(NULL);
    return json_pack("{s:I, s:I, s:I}", "messages",
                     (json_int_t)counters_get(g->messages, sender, now), "recipients",
                     (json_int_t)counters_get(g->recipients, sender, now), "domains",
                     (json_int_t)counters_get(g->domains, sender, now));
}

json_t *gate_status(struct gate *g)
{
    time_t now = time(NULL);
    struct counter_total top[TOP_SENDERS];
    size_t n = counters_top(g->messages, now, top, TOP_SENDERS);
    json_t *senders = json_array();
    for (size_t i = 0; senders && i < n; i++) {
        json_t *c = gate_counters(g, top[i].key);
        if (c)
            json_object_set_new(c, "sender", json_string(top[i].key));
        json_array_append_new(senders, c);
    }
    return json_pack("{s:I, s:I, s:o}", "bans_active", (json_int_t)bans_count_active(g->bans, now),
                     "ips_connected", (json_int_t)strmap_count(g->connections), "top_senders",
                     senders ? senders : json_array());
}
