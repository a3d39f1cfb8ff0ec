/* delivery/outcomes - delivery outcomes the store could not record yet.
 *
 * When the remote server (or the Maildir) has taken a message but the
 * store cannot write that down (disk full, I/O error, a corrupt store), the
 * outcome is kept here, in memory, and written later: its recipients stay
 * "in flight" for the scheduler, so they are never handed to delivery
 * again while the process runs.  A crash before the write costs at most
 * one more copy of each such message, the price the store already pays
 * for every delivery in flight.  The write is retried at once when the
 * store is well again, and with a backoff (1 s doubling to
 * OUTCOMES_RETRY_MAX_S) when it failed for a reason of its own. */
#ifndef FLOODGATE_DELIVERY_OUTCOMES_H
#define FLOODGATE_DELIVERY_OUTCOMES_H

#include <event2/event.h>
#include <stddef.h>

#include "store/committer.h"
#include "delivery/delivery_job.h"

#define OUTCOMES_RETRY_MAX_S 60

/* Writes a kept outcome again (the scheduler's record path; its done
 * callback ends in outcomes_kept or outcomes_recorded). */
typedef void (*outcomes_write_fn)(struct delivery_job *j);

struct outcomes;

struct outcomes *outcomes_new(struct event_base *base, struct committer *committer,
                              outcomes_write_fn write);
/* outcomes_keep - the write of J's outcome failed with FAULT (an enum
 * store_fault): keep J until a later write succeeds.  Its body is freed. */
void outcomes_keep(struct outcomes *o, struct delivery_job *j, int fault);
/* outcomes_recorded - J's outcome is in the store: forget it (J itself
 * stays the caller's). */
void outcomes_recorded(struct outcomes *o, struct delivery_job *j);
/* outcomes_flush - write every kept outcome now (shutdown: the committer
 * commits what is queued before it stops). */
void outcomes_flush(struct outcomes *o);
/* outcomes_count - outcomes waiting for the store. */
size_t outcomes_count(const struct outcomes *o);
/* outcome_of_reply - what a server's reply CODE to one recipient means
 * for it, for SMTP and LMTP alike (RFC 5321 4.2.1, RFC 2033 4.2): 2yz
 * delivered, 5yz bounced, anything else (4yz, or 0 when no reply came)
 * deferred, to be tried again. */
enum delivery_outcome outcome_of_reply(int code);

/* outcomes_free - free O and, with FREE_JOB, the jobs still kept. */
void outcomes_free(struct outcomes *o, void (*free_job)(struct delivery_job *));

#endif
