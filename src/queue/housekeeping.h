/* queue/housekeeping - the daemon's periodic chores on the store: purge
 * quarantine entries older than queue.quarantine_retention. */
#ifndef FLOODGATE_QUEUE_HOUSEKEEPING_H
#define FLOODGATE_QUEUE_HOUSEKEEPING_H

#include <event2/event.h>

#include "core/config.h"
#include "core/workers.h"

struct housekeeping;

/* housekeeping_start - the chores on BASE's timer, run on WORKERS; CFG
 * points to the daemon's current config (read at each round: a reload
 * may change queue.quarantine_retention).  NULL when memory runs out. */
struct housekeeping *housekeeping_start(struct event_base *base, struct worker_pool *workers,
                                        struct config *const *cfg);
void housekeeping_free(struct housekeeping *hk);

#endif
