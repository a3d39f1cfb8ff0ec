/* queue/pause_state - the admin's brakes, kept in the store so that they
 * survive a restart: outbound delivery paused, a listener paused. */
#ifndef FLOODGATE_QUEUE_PAUSE_STATE_H
#define FLOODGATE_QUEUE_PAUSE_STATE_H

#include <jansson.h>
#include "store/store.h"
#include <stdbool.h>

#define PAUSE_DELIVERY "delivery"

/* pause_set - pause (ON) or resume WHAT: "delivery" or "listener:NAME". */
int pause_set(store_db *db, const char *what, bool on);
/* pause_get - is WHAT paused? (false when the store cannot say) */
bool pause_get(store_db *db, const char *what);
/* pause_list - ["delivery", "listener:mx", ...] */
json_t *pause_list(store_db *db);

#endif
