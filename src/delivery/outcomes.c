/* delivery/outcomes - delivery outcomes the store could not record yet.
 *
 * Why in memory: a delivery that happened cannot be undone, and the store
 * that should say so is the very thing that fails.  Handing the recipient
 * back to the scheduler would deliver it again at once, and again, for as
 * long as the store fails (measured before this existed: one message 2,748
 * times in 15 s).  So the outcome waits here, its recipients stay in the
 * scheduler's in-flight set, and a timer writes it again.  All of it runs
 * on the loop thread. */
#include "delivery/outcomes.h"

#include <stdlib.h>
#include <time.h>

#define TICK_S 1 /* how often a failing store is looked at again */

struct outcomes {
    struct committer *committer;
    outcomes_write_fn write;
    struct event *timer;
    struct delivery_job *head; /* kept jobs, newest first */
    size_t n;
};

/* outcomes_tick - write again what is due: every outcome that failed
 * because of the store once the store is well, the others after their
 * backoff.  While the store fails nothing is written from here: the
 * committer's own probe finds the recovery. */
static void outcomes_tick(evutil_socket_t fd, short what, void *arg)
{
    struct outcomes *o = arg;
    bool store_ok = committer_fault(o->committer) == STORE_FAULT_NONE;
    time_t now = time(NULL);
    for (struct delivery_job *j = o->head; j; j = j->unrecorded.next) {
        if (j->unrecorded.submitted || !store_ok)
            continue;
        if (j->unrecorded.fault == STORE_FAULT_JOB && j->unrecorded.retry_at > now)
            continue;
        j->unrecorded.submitted = true;
        o->write(j);
    }
    if (o->n > 0) {
        struct timeval tv = {TICK_S, 0};
        evtimer_add(o->timer, &tv);
    }
}

struct outcomes *outcomes_new(struct event_base *base, struct committer *committer,
                              outcomes_write_fn write)
{
    struct outcomes *o = calloc(1, sizeof *o);
    if (o == NULL)
        return NULL;
    o->committer = committer;
    o->write = write;
    if ((o->timer = evtimer_new(base, outcomes_tick, o)) == NULL) {
        free(o);
        return NULL;
    }
    return o;
}

void outcomes_keep(struct outcomes *o, struct delivery_job *j, int fault)
{
    if (!j->unrecorded.kept) {
        j->unrecorded.kept = true;
        j->unrecorded.next = o->head;
        o->head = j;
        o->n++;
        /* the outcome is all that is needed to write it */
        spool_free(&j->body);
        free(j->prefix);
        j->prefix = NULL;
    }
    j->unrecorded.submitted = false;
    j->unrecorded.fault = fault;
    j->unrecorded.tries++;
    unsigned delay = 1;
    for (unsigned i = 1; i < j->unrecorded.tries && delay < OUTCOMES_RETRY_MAX_S; i++)
        delay *= 2;
    j->unrecorded.retry_at =
        time(NULL) + (delay < OUTCOMES_RETRY_MAX_S ? delay : OUTCOMES_RETRY_MAX_S);
    if (!evtimer_pending(o->timer, NULL)) {
        struct timeval tv = {TICK_S, 0};
        evtimer_add(o->timer, &tv);
    }
}

void outcomes_recorded(struct outcomes *o, struct delivery_job *j)
{
    if (!j->unrecorded.kept)
        return;
    for (struct delivery_job **p = &o->head; *p; p = &(*p)->unrecorded.next)
        if (*p == j) {
            *p = j->unrecorded.next;
            o->n--;
            break;
        }
    j->unrecorded.kept = false;
    j->unrecorded.next = NULL;
}

void outcomes_flush(struct outcomes *o)
{
    for (struct delivery_job *j = o->head; j; j = j->unrecorded.next)
        if (!j->unrecorded.submitted) {
            j->unrecorded.submitted = true;
            o->write(j);
        }
}

size_t outcomes_count(const struct outcomes *o)
{
    return o->n;
}

void outcomes_free(struct outcomes *o, void (*free_job)(struct delivery_job *))
{
    if (o == NULL)
        return;
    /* the committer has stopped and its last callbacks have run: no kept
     * job is with it any more */
    for (struct delivery_job *j = o->head, *next; j; j = next) {
        next = j->unrecorded.next;
        if (free_job)
            free_job(j);
    }
    event_free(o->timer);
    free(o);
}

/* outcome_of_reply - the reply's class decides (RFC 5321 4.2.1). */
enum delivery_outcome outcome_of_reply(int code)
{
    return code / 100 == 2   ? OUTCOME_DELIVERED
           : code / 100 == 5 ? OUTCOME_BOUNCED
                             : OUTCOME_DEFERRED;
}
