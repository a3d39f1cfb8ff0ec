/* queue/housekeeping - the daemon's periodic chores on the store: purge
 * quarantine entries older than queue.quarantine_retention. */
#ifndef FLOODGATE_QUEUE_HOUSEKEEPING_H
#define FLOODGATE_QUEUE_HOUSEKEEPING_H

#include "smtp/server.h"

struct housekeeping;

struct housekeeping *housekeeping_start(struct smtp_server *srv);
void housekeeping_free(struct housekeeping *hk);

#endif
