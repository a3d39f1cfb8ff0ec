/* delivery/scheduler - picks recipients that are due and hands them to
 * delivery; records each attempt's outcome through the committer. */
#ifndef FLOODGATE_DELIVERY_SCHEDULER_H
#define FLOODGATE_DELIVERY_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"
#include "delivery/delivery_env.h"

struct scheduler;

/* scheduler_new - a scheduler on ENV (copied; what it points to must
 * outlive the scheduler), with its remote agent and its reader thread; a
 * first pass soon.  NULL when memory or the remote agent's set-up fails
 * (logged). */
struct scheduler *scheduler_new(const struct delivery_env *env);
/* SCHEDULER_WHY_MAX - room for scheduler_suspended's reason (a deferral's
 * last error). */
#define SCHEDULER_WHY_MAX 512

/* scheduler_suspended - the destination of remote recipient ADDRESS is
 * dead and its next probe is not due: true, with the time the recipient
 * is deferred until (UNTIL) and the reason (WHY), as the deferral of a
 * queued message would record them.  A new message stores its recipient
 * so, saving that second write and the scheduler's pass over it. */
bool scheduler_suspended(struct scheduler *sch, const char *address, time_t *until, char *why,
                         size_t whylen);
/* scheduler_suspended_stored - such a recipient of message QID (sent by
 * AUTH_USER, or NULL) is stored: logged and counted as a deferral. */
void scheduler_suspended_stored(struct scheduler *sch, const char *qid, const char *address,
                                const char *auth_user, const char *why);
/* scheduler_kick - look for due work soon (after a message was queued). */
void scheduler_kick(struct scheduler *sch);
/* scheduler_refresh - floodctl changed the queue in the store: forget the
 * in-memory active queue, read it again. */
void scheduler_refresh(struct scheduler *sch);
#ifdef FLOODGATE_FAULT_INJECTION
/* scheduler_fault_hold - test builds only: the next selection that reads
 * any row keeps its rows SECONDS on the reader thread before handing them
 * to the loop (logged as event=fault_scheduler_hold), so that a test can
 * change the queue under a read in flight. */
void scheduler_fault_hold(struct scheduler *sch, unsigned seconds);
#endif
/* scheduler_pause - start no new deliveries (shutdown). */
void scheduler_pause(struct scheduler *sch);
/* scheduler_busy - deliveries in flight (shutdown waits for them). */
unsigned scheduler_busy(const struct scheduler *sch);
/* scheduler_unrecorded - delivery attempts whose outcome waits in memory
 * for a failing store (delivery/outcomes.h). */
size_t scheduler_unrecorded(const struct scheduler *sch);
void scheduler_free(struct scheduler *sch);

/* What a remote server answered for one recipient of AUTH_USER's message
 * (CODE, and TEXT: the reply or error with its enhanced status code), once
 * recorded: the outbreak detector's delivery feedback.  On the loop. */
typedef void (*scheduler_outcome_fn)(void *arg, const char *auth_user, int code, const char *text,
                                     bool delivered);
void scheduler_set_outcome_hook(struct scheduler *sch, scheduler_outcome_fn fn, void *arg);

/* scheduler_backoff - seconds to wait after ATTEMPTS failed attempts:
 * retry_initial, doubling, capped at retry_max. */
unsigned scheduler_backoff(const struct config_queue *q, unsigned attempts);

#endif
