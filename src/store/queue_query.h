/* store/queue_query - read-only views of the queue for floodctl and the
 * control socket: the listing an admin reads when mail piles up. */
#ifndef FLOODGATE_STORE_QUEUE_QUERY_H
#define FLOODGATE_STORE_QUEUE_QUERY_H

#include <jansson.h>
#include "store/store.h"

#include "store/queue_filter.h"

/* store_queue_list - messages that still have undelivered recipients, oldest
 * first, as [{id, created, next_try, size, sender, recipients:[{address,
 * orig, local, state, status, next_try, attempts, last_error}], auth_user,
 * client_ip, client_port, helo, tls, listener, header_from, subject,
 * message_id, state}] where "state" summarises the recipients and
 * "status" is a human phrase ("waiting for remote delivery").  NULL on a
 * store error (logged). */
json_t *store_queue_list(store_db *db, const struct queue_filter *filter);

/* store_queue_top - the selection grouped BY "auth-user", "ip", "from",
 * "header-from", "rcpt-domain" or "subject", biggest first, at most LIMIT
 * groups: [{key, messages, share, distinct_from, distinct_rcpt_domains,
 * oldest, newest}] where share is the group's part of the selection.
 * NULL with ERR set on an unknown grouping or a store error. */
json_t *store_queue_top(store_db *db, const struct queue_filter *filter, const char *by,
                        unsigned limit, char *err, size_t errlen);

/* store_queue_counts - {"messages": n, "recipients": {"queued": n, ...}} */
json_t *store_queue_counts(store_db *db);

/* store_queue_messages_by_state - {"queued": n, "deferred": n, "held": n,
 * ...}: the messages with at least one recipient in each state (a message
 * whose recipients are in two states counts in both); the three pending
 * states always appear.  NULL on a store error. */
json_t *store_queue_messages_by_state(store_db *db);

#endif
