/* queue/housekeeping - hourly chores, run on a worker thread. */
#include "queue/housekeeping.h"

#include <stdlib.h>
#include <time.h>

#include "core/log.h"
#include "queue/quarantine_files.h"
#include "queue/queue_actions.h"
#include "store/store.h"

#define HOUSEKEEPING_INTERVAL 3600
#define HOUSEKEEPING_FIRST 60 /* shortly after start, not in its rush */

struct housekeeping {
    struct worker_pool *workers;
    struct config *const *cfg; /* the current config (see housekeeping.h) */
    struct event *timer;
    bool running;
    unsigned retention;
};

/* expire_work - purge quarantine entries past their retention. */
static void expire_work(void *arg)
{
    struct housekeeping *hk = arg;
    store_db *db = store_thread_db(STORE_FILE);
    size_t n = 0;
    char(*ids)[17] = db ? quarantine_expired(db, time(NULL) - hk->retention, &n) : NULL;
    const char **list = n ? calloc(n, sizeof *list) : NULL;
    for (size_t i = 0; list && i < n; i++)
        list[i] = ids[i];
    if (list) {
        struct queue_filter f = {.ids = list, .n_ids = n, .state = "quarantined"};
        struct queue_action_ctx ctx = {
            .state_dir = ".", .admin = "floodgated", .reason = "quarantine retention expired"};
        char err[256];
        long k = queue_act(db, QUEUE_PURGE, &f, &ctx, err, sizeof err);
        if (k < 0)
            log_warnx("event=housekeeping error=%s", log_quote(err));
        else
            log_info("event=quarantine_expired messages=%ld", k);
    }
    free(list);
    free(ids);
}

static void expire_done(void *arg)
{
    struct housekeeping *hk = arg;
    hk->running = false;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct housekeeping *hk = arg;
    hk->retention = (*hk->cfg)->queue.quarantine_retention;
    if (!hk->running && hk->retention > 0) {
        hk->running = true;
        worker_pool_submit(hk->workers, expire_work, expire_done, hk);
    }
    struct timeval tv = {HOUSEKEEPING_INTERVAL, 0};
    evtimer_add(hk->timer, &tv);
}

struct housekeeping *housekeeping_start(struct event_base *base, struct worker_pool *workers,
                                        struct config *const *cfg)
{
    struct housekeeping *hk = calloc(1, sizeof *hk);
    if (hk == NULL)
        return NULL;
    hk->workers = workers;
    hk->cfg = cfg;
    if ((hk->timer = evtimer_new(base, on_timer, hk)) == NULL) {
        free(hk);
        return NULL;
    }
    struct timeval tv = {HOUSEKEEPING_FIRST, 0};
    evtimer_add(hk->timer, &tv);
    return hk;
}

void housekeeping_free(struct housekeeping *hk)
{
    if (hk == NULL)
        return;
    event_free(hk->timer);
    free(hk);
}
