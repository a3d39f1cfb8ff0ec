/* control/monitor - the control command "monitor" (see monitor.h;
 * docs/floodctl.8.md, monitor, for the fields of the answer).
 *
 * Rates: a ring of one sample of the totals a second; the rate over a
 * window of W seconds is the difference between the totals now and the
 * newest sample at least W seconds old, over the time between them (the
 * oldest sample while the daemon is younger than W).  Senders: two
 * sliding-minute counters (policy/counters.c) keyed by the AUTH user,
 * else the client IP, fed by the policy engine's "accepted" hook. */
#include "control/monitor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "core/metrics.h"
#include "core/util.h"
#include "policy/counters.h"
#include "policy/engine.h"
#include "policy/origin.h"
#include "store/queue_query.h"
#include "smtp/outbreak.h"
#include "store/incidents.h"
#include "store/store.h"

#define RING 64           /* samples kept: one a second */
#define WINDOW_MAX 60     /* seconds a rate may be averaged over */
#define SENDERS_MAX 10000 /* senders counted at once (counters.c forgets idle ones) */
#define TOP_MAX 50        /* senders a request may ask for */
#define TOP_DEFAULT 10
#define INCIDENTS_MAX 50 /* open incidents listed (all are counted) */
#define SWEEP_SECONDS 60

enum { K_ACCEPTED, K_DELIVERED, K_DEFERRED, K_BOUNCED, K_REJECTED, K_N };
static const char *const kind_names[K_N] = {"accepted", "delivered", "deferred", "bounced",
                                            "rejected"};

struct sample {
    double t; /* CLOCK_MONOTONIC seconds */
    double v[K_N];
};

struct monitor {
    struct monitor_env env;
    struct counters *messages, *recipients; /* per sender, the last minute */
    struct event *tick;
    struct sample ring[RING];
    size_t head, n; /* the oldest sample, and how many */
    unsigned ticks;
};

/* now_mono - the monotonic clock in seconds (rates survive a change of
 * the wall clock). */
static double now_mono(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* totals - the counts since the start, into S. */
static void totals(const struct monitor *m, struct sample *s)
{
    s->t = now_mono();
    s->v[K_ACCEPTED] = (double)*m->env.accepted;
    /* every 4xx or 5xx reply to a command (smtp/reply.c): MAIL, RCPT,
     * DATA, AUTH... a spammer's refused recipients show here */
    s->v[K_REJECTED] = metrics_sum("floodgate_smtp_refusals_total", NULL, NULL);
    /* per recipient, as the scheduler records each attempt */
    s->v[K_DELIVERED] = metrics_sum("floodgate_deliveries_total", "result", "delivered");
    s->v[K_DEFERRED] = metrics_sum("floodgate_deliveries_total", "result", "deferred");
    s->v[K_BOUNCED] = metrics_sum("floodgate_deliveries_total", "result", "bounced");
}

/* push - one more sample (the oldest goes when the ring is full). */
static void push(struct monitor *m)
{
    struct sample s;
    totals(m, &s);
    if (m->n == RING) {
        m->head = (m->head + 1) % RING;
        m->n--;
    }
    m->ring[(m->head + m->n) % RING] = s;
    m->n++;
}

/* tick - each second: a sample; each minute: idle senders forgotten. */
static void tick(evutil_socket_t fd, short what, void *arg)
{
    struct monitor *m = arg;
    push(m);
    if (++m->ticks % SWEEP_SECONDS == 0) {
        counters_sweep(m->messages, time(NULL));
        counters_sweep(m->recipients, time(NULL));
    }
}

/* accepted - the policy engine's hook after each 250 to DATA: the
 * sender's minute counts.  The key is the AUTH user (lowercased, as the
 * detector names it), else the client's address. */
static void accepted(void *arg, const struct origin *o, const struct policy_message *msg)
{
    struct monitor *m = arg;
    char key[256];
    time_t now = time(NULL);
    str_copy(key, o->auth_user ? o->auth_user : o->ip, sizeof key);
    str_lower(key);
    /* recipients as the sender wrote them: a list is one */
    size_t n = msg->n_rcpt_orig ? msg->n_rcpt_orig : msg->n_rcpts;
    counters_add(m->messages, key, 1, now);
    counters_add(m->recipients, key, n > 100000 ? 100000 : (unsigned)n, now);
}

/* rates - {"accepted": per second, ...} over the last WINDOW seconds. */
static json_t *rates(const struct monitor *m, unsigned window, double *over)
{
    struct sample cur;
    totals(m, &cur);
    const struct sample *from = &m->ring[m->head]; /* the oldest */
    for (size_t i = m->n; i-- > 0;) {
        const struct sample *s = &m->ring[(m->head + i) % RING];
        if (cur.t - s->t >= window) {
            from = s;
            break;
        }
    }
    double dt = cur.t - from->t;
    json_t *r = json_object();
    for (int k = 0; r && k < K_N; k++) {
        double v = dt > 0.001 ? (cur.v[k] - from->v[k]) / dt : 0;
        json_object_set_new(r, kind_names[k], json_real(v < 0 ? 0 : v));
    }
    *over = dt;
    return r;
}

/* counts - {"accepted": total, ...} since the daemon started. */
static json_t *counts(const struct monitor *m)
{
    struct sample cur;
    totals(m, &cur);
    json_t *r = json_object();
    for (int k = 0; r && k < K_N; k++)
        json_object_set_new(r, kind_names[k], json_integer((json_int_t)cur.v[k]));
    return r;
}

/* score - the detector's score of sender KEY, or JSON null when it does
 * not follow it (a client of the Internet writing to us, not one of our
 * LAN's: the detector watches accounts and trusted IPs). */
static json_t *score(const struct monitor *m, const char *key)
{
    char subject[300];
    if (m->env.outbreak == NULL)
        return json_null();
    if (strchr(key, '@'))
        str_copy(subject, key, sizeof subject);
    else
        snprintf(subject, sizeof subject, "ip:%.256s", key); /* a key is < 256 */
    int s = outbreak_score(m->env.outbreak, subject);
    return s < 0 ? json_null() : json_integer(s);
}

/* top_senders - the N senders with the most messages in the last minute. */
static json_t *top_senders(const struct monitor *m, size_t n)
{
    struct counter_total top[TOP_MAX];
    time_t now = time(NULL);
    size_t got = counters_top(m->messages, now, top, n);
    json_t *list = json_array();
    for (size_t i = 0; list && i < got; i++)
        json_array_append_new(
            list, json_pack("{s:s, s:s, s:I, s:I, s:o}", "sender", top[i].key, "kind",
                            strchr(top[i].key, '@') ? "user" : "ip", "messages_per_minute",
                            (json_int_t)top[i].total, "recipients_per_minute",
                            (json_int_t)counters_get(m->recipients, top[i].key, now), "score",
                            score(m, top[i].key)));
    return list;
}

/* monitor_read - on the control reader thread: the open incidents and
 * the queue by state, from the store. */
static json_t *monitor_read(void *ctx, json_t *req, char *err, size_t errlen)
{
    store_db *db = store_thread_db(STORE_FILE);
    json_t *all = db ? incident_list(db, false) : NULL, *queue = db ? store_queue_counts(db) : NULL;
    json_t *list = json_array(), *v;
    size_t i;
    if (all == NULL || queue == NULL || list == NULL) {
        json_decref(all);
        json_decref(queue);
        json_decref(list);
        snprintf(err, errlen, "cannot read the store (details in the daemon's log)");
        return NULL;
    }
    json_array_foreach(all, i, v)
    {
        if (i == INCIDENTS_MAX)
            break;
        json_array_append_new(
            list,
            json_pack("{s:O*, s:O*, s:O*, s:O*, s:O*}", "id", json_object_get(v, "id"), "subject",
                      json_object_get(v, "subject"), "state", json_object_get(v, "state"), "opened",
                      json_object_get(v, "opened"), "score", json_object_get(v, "score")));
    }
    json_t *r = json_pack("{s:o, s:I, s:o}", "incidents", list, "incidents_open",
                          (json_int_t)json_array_size(all), "queue", queue);
    json_decref(all);
    if (r == NULL)
        snprintf(err, errlen, "out of memory");
    return r;
}

/* number - member NAME of REQ as an integer in 1..MAX, or DEF when absent;
 * -1 when it is there but not such a number. */
static long number(json_t *req, const char *name, long max, long def)
{
    json_t *v = json_object_get(req, name);
    if (v == NULL)
        return def;
    json_int_t n = json_is_integer(v) ? json_integer_value(v) : 0;
    return n >= 1 && n <= max ? (long)n : -1;
}

/* monitor_finish - on the loop: what only the loop has (rates, senders,
 * connections) added to what the reader found. */
static json_t *monitor_finish(void *ctx, json_t *req, json_t *read, char *err, size_t errlen)
{
    struct monitor *m = ctx;
    long window = number(req, "window", WINDOW_MAX, 1),
         top = number(req, "top", TOP_MAX, TOP_DEFAULT);
    if (window < 0 || top < 0) {
        json_decref(read);
        snprintf(err, errlen, "window must be 1 to %d seconds and top 1 to %d", WINDOW_MAX,
                 TOP_MAX);
        return NULL;
    }
    char at[32];
    double over = 0;
    json_t *per_second = rates(m, (unsigned)window, &over);
    json_t *r = json_pack("{s:s, s:I, s:f, s:I, s:o*, s:o*, s:o*}", "at",
                          iso8601_utc(time(NULL), at, sizeof at), "window", (json_int_t)window,
                          "measured_over", over, "connections", (json_int_t)*m->env.connections,
                          "per_second", per_second, "totals", counts(m), "top_senders",
                          top_senders(m, (size_t)top));
    return control_finish_merge(r, read, err, errlen);
}

struct monitor *monitor_start(struct control_server *ctl, const struct monitor_env *env)
{
    struct monitor *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    m->env = *env;
    m->messages = counters_new(60, SENDERS_MAX);
    m->recipients = counters_new(60, SENDERS_MAX);
    m->tick = event_new(env->base, -1, EV_PERSIST, tick, m);
    struct timeval second = {1, 0};
    struct policy_observer obs = {.arg = m, .accepted = accepted};
    if (m->messages == NULL || m->recipients == NULL || m->tick == NULL ||
        event_add(m->tick, &second) < 0 || policy_add_observer(env->policy, &obs) < 0) {
        monitor_free(m);
        return NULL;
    }
    push(m); /* the first sample: the start */
    control_server_register_reader(ctl, "monitor", monitor_read, monitor_finish, m);
    return m;
}

void monitor_free(struct monitor *m)
{
    if (m == NULL)
        return;
    if (m->tick)
        event_free(m->tick);
    counters_free(m->messages);
    counters_free(m->recipients);
    free(m);
}
