/* store/delivery - the writes that record a delivery attempt: each
 * recipient's new state, the once-only delay warning flag of a message,
 * the bounce count of the account that sent it, and the removal of a
 * message none of whose recipients is left to deliver.  Called by the
 * scheduler's record step on the committer thread, inside the committer's
 * transaction, so an attempt is recorded whole or not at all. */
#ifndef FLOODGATE_STORE_DELIVERY_H
#define FLOODGATE_STORE_DELIVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "store/store.h"

/* store_rcpt_record - recipient ID is now in STATE ("delivered",
 * "deferred" or "bounced") after ATTEMPTS attempts, next tried at
 * NEXT_TRY, with ERROR as its last error.  A recipient an admin held,
 * quarantined or returned meanwhile keeps that state when the attempt only
 * deferred it.  -1 and ERR on a store error. */
int store_rcpt_record(store_db *db, int64_t id, const char *state, unsigned attempts,
                      time_t next_try, const char *error, time_t now, char *err, size_t errlen);

/* store_message_warn_once - mark message QID as warned of its delay: 1
 * when this call set the mark, 0 when it was set before, -1 on error. */
int store_message_warn_once(store_db *db, const char *qid);

/* store_sender_bounce - count one bounce at NOW against AUTH_USER (the
 * sender_stats table).  -1 on error. */
int store_sender_bounce(store_db *db, const char *auth_user, time_t now);

/* store_message_finish - remove message QID (and its body) when none of
 * its recipients is left to deliver, hold or return.  *QUARANTINED tells
 * whether it had a quarantine entry (its file is to go too).  1 removed,
 * 0 still in the queue, -1 on error. */
int store_message_finish(store_db *db, const char *qid, bool *quarantined);

#endif
