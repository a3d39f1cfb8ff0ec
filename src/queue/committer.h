/* queue/committer - group commit.  One thread owns the store's write
 * connection; every write (a new message, a delivery result) is a job.  The
 * jobs that arrive while a commit is running share the next transaction and
 * its single fsync, and each job's done callback runs on the event loop only
 * after COMMIT returned - that is when the SMTP server may say 250. */
#ifndef FLOODGATE_QUEUE_COMMITTER_H
#define FLOODGATE_QUEUE_COMMITTER_H

#include <sqlite3.h>
#include <stddef.h>

#include "core/workers.h"

#define COMMITTER_ERR_MAX 256

/* APPLY runs on the committer thread inside the transaction (each job in a
 * savepoint of its own, so one failing job does not spoil the others). */
typedef int (*committer_apply_fn)(sqlite3 *db, void *arg, char *err, size_t errlen);
/* DONE runs on the loop: STATUS 0 when durable, -1 with ERR otherwise. */
typedef void (*committer_done_fn)(void *arg, int status, const char *err);

struct committer;

struct committer *committer_start(const char *store_path, struct worker_pool *loop,
                                  unsigned max_batch, char *err, size_t errlen);
void committer_submit(struct committer *c, committer_apply_fn apply, committer_done_fn done,
                      void *arg);
/* committer_stop - commit what is queued, then stop the thread. */
void committer_stop(struct committer *c);

/* Figures for floodctl status. */
unsigned long committer_commits(const struct committer *c);
unsigned long committer_jobs(const struct committer *c);

#endif
