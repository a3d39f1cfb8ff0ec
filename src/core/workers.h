/* core/workers - a small pool of threads for work that blocks or burns CPU
 * (argon2 verification, Maildir fsync), and the way results come back: a
 * "done" callback that always runs on the event-loop thread. */
#ifndef FLOODGATE_CORE_WORKERS_H
#define FLOODGATE_CORE_WORKERS_H

#include <event2/event.h>

struct worker_pool;

typedef void (*worker_fn)(void *arg);

/* worker_pool_new - start NTHREADS threads; done callbacks run on BASE. */
struct worker_pool *worker_pool_new(struct event_base *base, int nthreads, const char *name);
/* worker_pool_drain - finish queued work, join the threads, run the done
 * callbacks so far.  The pool stays usable for posts; work submitted
 * after it runs at once on the caller's thread (shutdown). */
void worker_pool_drain(struct worker_pool *pool);
/* worker_pool_free - drain, then run every remaining done callback (also
 * those posted meanwhile, e.g. by the committer) and free. */
void worker_pool_free(struct worker_pool *pool);

/* worker_pool_submit - run WORK(ARG) on a thread, then DONE(ARG) on the loop. */
void worker_pool_submit(struct worker_pool *pool, worker_fn work, worker_fn done, void *arg);
/* worker_pool_post - from any thread: run DONE(ARG) on the loop. */
void worker_pool_post(struct worker_pool *pool, worker_fn done, void *arg);

#endif
