/* control/reputation_watch - the blocklist watch thread (room: control).
 *
 * The articles (seeds/) find out about a listing when legitimate mail
 * starts bouncing.  This thread looks every hour (by default) and says so
 * in the log and to alerts.mail_to the moment a list names one of the
 * server's addresses, and again when it lets go; the webhook and the
 * command hook of alerts { } (policy/alert_hooks.c) hear of it too, at
 * most once per alerts.min_interval for one address on one list (a change
 * within the interval is told by the first round after it, as the state
 * then is).  An "unknown" answer (a refusal, a timeout) is logged but
 * never alerted on: it says nothing about the address, and a resolver
 * outage must not page anyone as a listing. */
#include "control/reputation_watch.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/blocklist.h"
#include "core/dnsq.h"
#include "core/log.h"
#include "core/util.h"
#include "policy/alert_hooks.h"
#include "queue/inject.h"
#include "store/store.h"

/* Each try of a blocklist question waits this long (c-ares tries twice). */
#define WATCH_DNS_TIMEOUT_MS 3000
#define WATCH_RESULTS_MAX (REPUTATION_ADDRESSES_MAX * REPUTATION_BLOCKLISTS_MAX)

/* What the last round found for one address on one list. */
struct watch_result {
    char address[64];
    char list[256];
    struct blocklist_result r;
    time_t since; /* when it last changed state */
    /* the hooks: when they were last told, what (listed or not), and
     * whether a change waits for the interval to pass */
    time_t hooked;
    bool hooked_listed, hook_due;
};

struct reputation_watch {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping;
    bool reloaded;
    struct config *cfg;        /* a reference of its own */
    struct alert_hooks *hooks; /* the outbreak detector's; NULL: none */
    time_t next;               /* when the next round starts */
    time_t checked;            /* when the last round ended; 0 before the first */
    struct watch_result results[WATCH_RESULTS_MAX];
    size_t n;
};

/* find - the previous result for ADDR on LIST, or NULL. */
static struct watch_result *find(struct reputation_watch *w, const char *addr, const char *list)
{
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->results[i].address, addr) == 0 && strcmp(w->results[i].list, list) == 0)
            return &w->results[i];
    return NULL;
}

/* alert_mail - tell alerts.mail_to that ADDR's state on LIST changed
 * (queued like the detector's alerts: a message from <> injected into the
 * queue, on this thread, which may wait on the store). */
static void alert_mail(const struct config *cfg, const struct watch_result *now, bool listed)
{
    if (cfg->alerts.mail_to == NULL)
        return;
    char date[64], text[2048], qid[17], err[256];
    rfc5322_date(time(NULL), date, sizeof date);
    int n = snprintf(
        text, sizeof text,
        "From: Floodgate <postmaster@%s>\nTo: <%s>\nDate: %s\n"
        "Subject: [floodgate] %s %s blocklist %s\nAuto-Submitted: auto-generated\n\n"
        "%s\n\nAddress: %s\nBlocklist: %s\nAnswer: %s\nMeaning: %s\nThe list says: %s\n\n%s\n",
        cfg->hostname, cfg->alerts.mail_to, date, now->address, listed ? "is on" : "left",
        now->list,
        listed ? "A blocklist names one of this server's public addresses: receivers that "
                 "use it refuse or score this server's mail."
               : "A blocklist no longer names this server's address.",
        now->address, now->list, now->r.code[0] ? now->r.code : "NXDOMAIN", now->r.meaning,
        now->r.reason[0] ? now->r.reason : "-",
        listed ? "Find what sent the spam first (floodctl incident list; floodctl queue top "
                 "--by auth-user), then follow the list's delisting procedure. floodctl doctor "
                 "--only blocklists checks again."
               : "");
    if (n < 0 || (size_t)n >= sizeof text)
        return;
    store_db *db = store_thread_db(STORE_FILE);
    FILE *in = fmemopen(text, (size_t)n, "r");
    const char *rcpts[1] = {cfg->alerts.mail_to};
    struct inject_request req = {.path = "blocklist alert",
                                 .in = in,
                                 .sender = "",
                                 .rcpts = rcpts,
                                 .n_rcpts = 1,
                                 .admin = "floodgated",
                                 .hostname = cfg->hostname,
                                 .spool_dir = ".",
                                 .max_size = sizeof text * 2};
    if (db == NULL || in == NULL || queue_inject(db, &req, qid, err, sizeof err) < 0)
        log_warnx("event=alert_error to=%s error=%s", log_quote(cfg->alerts.mail_to),
                  log_quote(db && in ? err : "cannot open the store"));
    if (in)
        fclose(in);
}

/* hooks_due - under the lock: should the hooks hear of OLD's state now?
 * A listing or a delisting not told yet, once alerts.min_interval has
 * passed since they were last told about this address on this list. */
static bool hooks_due(struct watch_result *old, const struct config *cfg, bool changed, time_t now)
{
    bool listed = old->r.state == BLOCKLIST_LISTED;
    if (old->r.state == BLOCKLIST_UNKNOWN)
        return false; /* says nothing: wait for an answer */
    if (changed && (listed || old->hooked_listed))
        old->hook_due = true;
    if (!old->hook_due || (old->hooked && now - old->hooked < (time_t)cfg->alerts.min_interval))
        return false;
    old->hook_due = false;
    if (listed == old->hooked_listed && old->hooked)
        return false; /* listed and delisted within the interval: nothing to tell */
    old->hooked = now;
    old->hooked_listed = listed;
    return true;
}

/* record - keep R for ADDR on LIST, log a change, mail a listing or a
 * delisting and tell the hooks.  Called without the lock; takes it to
 * write. */
static void record(struct reputation_watch *w, const struct config *cfg, const char *addr,
                   const char *list, const struct blocklist_result *r)
{
    time_t now = time(NULL);
    pthread_mutex_lock(&w->lock);
    struct watch_result *old = find(w, addr, list);
    bool first = old == NULL;
    enum blocklist_state before = first ? BLOCKLIST_CLEAN : old->r.state;
    if (first && w->n < WATCH_RESULTS_MAX) {
        old = &w->results[w->n++];
        snprintf(old->address, sizeof old->address, "%s", addr);
        snprintf(old->list, sizeof old->list, "%s", list);
        old->since = now;
    }
    if (old == NULL) {
        pthread_mutex_unlock(&w->lock);
        return;
    }
    bool changed = first || before != r->state;
    if (changed)
        old->since = now;
    old->r = *r;
    bool hooks = hooks_due(old, cfg, changed && (!first || r->state == BLOCKLIST_LISTED), now);
    struct watch_result copy = *old;
    pthread_mutex_unlock(&w->lock);
    if (hooks)
        alert_hooks_fire_blocklist(w->hooks, cfg->hostname, r->state == BLOCKLIST_LISTED, addr,
                                   list, r->code, r->meaning, r->reason);
    if (!changed)
        return;
    if (r->state == BLOCKLIST_LISTED || (!first && before != BLOCKLIST_CLEAN) ||
        r->state == BLOCKLIST_UNKNOWN)
        log_warnx("event=blocklist address=%s list=%s state=%s code=%s meaning=%s reason=%s", addr,
                  log_quote(list),
                  r->state == BLOCKLIST_LISTED    ? "listed"
                  : r->state == BLOCKLIST_UNKNOWN ? "unknown"
                  : before == BLOCKLIST_LISTED    ? "delisted"
                                                  : "not_listed",
                  r->code[0] ? r->code : "-", log_quote(r->meaning), log_quote(r->reason));
    if (r->state == BLOCKLIST_LISTED && before != BLOCKLIST_LISTED)
        alert_mail(cfg, &copy, true);
    else if (!first && before == BLOCKLIST_LISTED && r->state == BLOCKLIST_CLEAN)
        alert_mail(cfg, &copy, false);
}

/* round - one look at every address on every list. */
static void round_once(struct reputation_watch *w, struct config *cfg)
{
    char err[256];
    const struct config_reputation *rep = &cfg->reputation;
    struct dnsq *q =
        dnsq_new(cfg->dns_servers, cfg->n_dns_servers, WATCH_DNS_TIMEOUT_MS, err, sizeof err);
    if (q == NULL) {
        log_warnx("event=blocklist_error error=%s", log_quote(err));
        return;
    }
    for (size_t i = 0; i < rep->n_public; i++)
        for (size_t j = 0; j < rep->n_blocklists; j++) {
            pthread_mutex_lock(&w->lock);
            bool stop = w->stopping;
            pthread_mutex_unlock(&w->lock);
            if (stop)
                break;
            struct blocklist_result r;
            blocklist_check(q, rep->public_addresses[i], rep->blocklists[j], true, &r);
            record(w, cfg, rep->public_addresses[i], rep->blocklists[j], &r);
        }
    dnsq_free(q);
    pthread_mutex_lock(&w->lock);
    w->checked = time(NULL);
    size_t listed = 0, unknown = 0;
    for (size_t i = 0; i < w->n; i++) {
        listed += w->results[i].r.state == BLOCKLIST_LISTED;
        unknown += w->results[i].r.state == BLOCKLIST_UNKNOWN;
    }
    pthread_mutex_unlock(&w->lock);
    log_info("event=blocklist_round addresses=%zu lists=%zu listed=%zu unknown=%zu", rep->n_public,
             rep->n_blocklists, listed, unknown);
}

/* watch_main - wait for the next round (or stop), run it, again. */
static void *watch_main(void *arg)
{
    struct reputation_watch *w = arg;
    pthread_mutex_lock(&w->lock);
    while (!w->stopping) {
        unsigned interval = w->cfg->reputation.check_interval;
        bool idle = interval == 0 || w->cfg->reputation.n_public == 0 ||
                    w->cfg->reputation.n_blocklists == 0;
        time_t now = time(NULL);
        if (idle || now < w->next) {
            struct timespec until = {.tv_sec = idle ? now + 3600 : w->next};
            w->reloaded = false;
            int rc = 0;
            while (!w->stopping && !w->reloaded && rc != ETIMEDOUT)
                rc = pthread_cond_timedwait(&w->wake, &w->lock, &until);
            continue;
        }
        struct config *cfg = config_ref(w->cfg);
        w->next = now + interval;
        pthread_mutex_unlock(&w->lock);
        round_once(w, cfg);
        config_unref(cfg);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

struct reputation_watch *reputation_watch_start(struct config *cfg, unsigned first_delay,
                                                struct alert_hooks *hooks)
{
    struct reputation_watch *w = calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_cond_init(&w->wake, &ca); /* CLOCK_REALTIME: the deadlines are time() */
    pthread_condattr_destroy(&ca);
    w->cfg = config_ref(cfg);
    w->hooks = hooks;
    w->next = time(NULL) + first_delay;
    int rc = pthread_create(&w->thread, NULL, watch_main, w);
    if (rc != 0) {
        log_warnx("event=blocklist_error error=%s", log_quote(strerror(rc)));
        config_unref(w->cfg);
        pthread_cond_destroy(&w->wake);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return NULL;
    }
    return w;
}

void reputation_watch_reload(struct reputation_watch *w, struct config *cfg)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->lock);
    struct config *old = w->cfg;
    w->cfg = config_ref(cfg);
    w->next = time(NULL); /* the admin may have changed addresses, lists or the DNS */
    w->reloaded = true;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    config_unref(old);
}

void reputation_watch_stop(struct reputation_watch *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    config_unref(w->cfg);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

json_t *reputation_watch_status(struct reputation_watch *w)
{
    char when[32], since[32];
    json_t *out = json_object(), *list = json_array();
    if (out == NULL || list == NULL || w == NULL) {
        json_decref(list);
        return out;
    }
    size_t listed = 0, unknown = 0;
    pthread_mutex_lock(&w->lock);
    for (size_t i = 0; i < w->n; i++) {
        const struct watch_result *r = &w->results[i];
        listed += r->r.state == BLOCKLIST_LISTED;
        unknown += r->r.state == BLOCKLIST_UNKNOWN;
        json_array_append_new(
            list, json_pack("{s:s, s:s, s:s, s:s?, s:s, s:s?, s:s}", "address", r->address, "list",
                            r->list, "state", blocklist_state_text(r->r.state), "code",
                            r->r.code[0] ? r->r.code : NULL, "meaning", r->r.meaning, "reason",
                            r->r.reason[0] ? r->r.reason : NULL, "since",
                            iso8601_utc(r->since, since, sizeof since)));
    }
    json_t *checked =
        w->checked ? json_string(iso8601_utc(w->checked, when, sizeof when)) : json_null();
    pthread_mutex_unlock(&w->lock);
    json_object_set_new(out, "checked", checked);
    json_object_set_new(out, "listed", json_integer((json_int_t)listed));
    json_object_set_new(out, "unknown", json_integer((json_int_t)unknown));
    json_object_set_new(out, "results", list);
    return out;
}
