/* queue/queue_filter - a selection of queued messages (struct
 * queue_filter, store/queue_filter.h) as the control protocol carries it,
 * and the durations an admin types. */
#ifndef FLOODGATE_QUEUE_QUEUE_FILTER_H
#define FLOODGATE_QUEUE_QUEUE_FILTER_H

#include <jansson.h>
#include <stddef.h>

#include "store/queue_filter.h"

/* queue_filter_from_json - a filter sent over the control socket (keys
 * as in struct queue_filter); strings point into OBJ, ids into IDS (room
 * for MAX).  Returns 0, or -1 when an id list is too long. */
int queue_filter_from_json(json_t *obj, struct queue_filter *f, const char **ids, size_t max);
/* queue_filter_to_json - F as a JSON object to send; NULL on no memory. */
json_t *queue_filter_to_json(const struct queue_filter *f);

/* parse_duration - "90", "90s", "15m", "2h", "3d", "1w" into seconds. */
int parse_duration(const char *s, long long *out);

#endif
