/* smtp/lookup - the store reads a session needs before it can answer a
 * command (who a recipient is, what the store says about the sender or the
 * logged-in account) run on the lookup threads, each with its own read
 * connection (store_thread_db), never on the event loop (docs/design.md,
 * "The threads").  Meanwhile the session runs no command: what the client
 * pipelined waits in its input buffer and is read, in order, once the
 * answer is back (RFC 2920 3.1).  A session that ends while its lookup
 * runs (its client left, a timeout, floodctl session kill) cancels it: the
 * job then only frees itself when it comes back, and touches no session. */
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "smtp/session.h"
#include "smtp/session_internal.h"

#ifdef FLOODGATE_FAULT_INJECTION
/* Test builds: until these monotonic milliseconds every lookup (or store
 * commit of a session) waits on its thread, as one would on a store that
 * hangs (fault.lookup_hold, fault.commit_hold). */
static _Atomic uint64_t hold_until[SMTP_HOLD_KINDS];

void smtp_fault_hold(enum smtp_fault_hold what, unsigned seconds)
{
    atomic_store(&hold_until[what], seconds ? now_ms() + (uint64_t)seconds * 1000 : 0);
}

void smtp_fault_held(enum smtp_fault_hold what)
{
    while (now_ms() < atomic_load(&hold_until[what]))
        usleep(10000);
}
#endif

struct smtp_lookup {
    struct smtp_session *s; /* NULL once cancelled */
    smtp_lookup_work_fn work;
    smtp_lookup_done_fn done;
    void (*free_arg)(void *arg);
    void *arg;
};

/* lookup_work - on a lookup thread: the job's reads on this thread's own
 * connection (NULL when the store cannot be opened: the job says so). */
static void lookup_work(void *arg)
{
    struct smtp_lookup *l = arg;
#ifdef FLOODGATE_FAULT_INJECTION
    smtp_fault_held(SMTP_HOLD_LOOKUP);
#endif
    l->work(store_thread_db(STORE_FILE), l->arg);
}

/* lookup_done - on the loop: the answer goes to its session, if it is
 * still there.  The wait stays set while DONE runs, so that a DONE which
 * closes the session (a 421) leaves it for smtp_session_resume to end. */
static void lookup_done(void *arg)
{
    struct smtp_lookup *l = arg;
    struct smtp_session *s = l->s;
    if (s) {
        s->lookup = NULL;
        l->done(s, l->arg);
        /* DONE may have started the next wait (DNS, the store, another
         * lookup): that one resumes the session. */
        if (s->wait == SMTP_WAIT_LOOKUP && s->lookup == NULL)
            smtp_session_resume(s);
    }
    if (l->free_arg)
        l->free_arg(l->arg);
    free(l);
}

/* lookup_start - the job on POOL's threads; the session waits. */
static void lookup_start(struct smtp_session *s, struct worker_pool *pool, smtp_lookup_work_fn work,
                         smtp_lookup_done_fn done, void (*free_arg)(void *arg), void *arg)
{
    struct smtp_lookup *l = calloc(1, sizeof *l);
    if (l == NULL) {
        log_warnx("event=session_error session=%lu error=out_of_memory op=lookup", s->serial);
        if (free_arg)
            free_arg(arg);
        smtp_reply(s, "451 4.3.0 Out of memory, try again later");
        return;
    }
    *l = (struct smtp_lookup){.s = s, .work = work, .done = done, .free_arg = free_arg, .arg = arg};
    s->lookup = l;
    s->wait = SMTP_WAIT_LOOKUP; /* its socket stays readable (session_internal.h) */
    /* The clock runs while the store answers (a store that hangs must not
     * hold the connection forever), but from now: the client's idle time
     * before this command is not charged to our lookup. */
    smtp_session_wait_deadline(s);
    worker_pool_submit(pool, lookup_work, lookup_done, l);
}

void smtp_lookup_start(struct smtp_session *s, smtp_lookup_work_fn work, smtp_lookup_done_fn done,
                       void (*free_arg)(void *arg), void *arg)
{
    lookup_start(s, s->srv->lookups, work, done, free_arg, arg);
}

void smtp_lookup_start_checks(struct smtp_session *s, smtp_lookup_work_fn work,
                              smtp_lookup_done_fn done, void (*free_arg)(void *arg), void *arg)
{
    lookup_start(s, s->srv->checks ? s->srv->checks : s->srv->lookups, work, done, free_arg, arg);
}

void smtp_lookup_cancel(struct smtp_session *s)
{
    if (s->wait != SMTP_WAIT_LOOKUP)
        return;
    if (s->lookup)
        s->lookup->s = NULL;
    s->lookup = NULL;
    s->wait = SMTP_WAIT_NONE;
}
