/* queue/queue_actions - what an admin does to queued messages, on the
 * store directly, so it works whether the daemon runs or not. */
#ifndef FLOODGATE_QUEUE_QUEUE_ACTIONS_H
#define FLOODGATE_QUEUE_QUEUE_ACTIONS_H

#include <sqlite3.h>

/* queue_retry - make the pending recipients of message QID (every message
 * when QID is NULL) due now.  Returns the number of messages touched, or
 * -1 on a store error (logged). */
long queue_retry(sqlite3 *db, const char *qid);

#endif
