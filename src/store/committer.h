/* store/committer - group commit.  One thread owns the store's write
 * connection; every write (a new message, a delivery result) is a job.  The
 * jobs that arrive while a commit is running share the next transaction and
 * its single fsync, and each job's done callback runs on the event loop only
 * after COMMIT returned - that is when the SMTP server may say 250. */
#ifndef FLOODGATE_STORE_COMMITTER_H
#define FLOODGATE_STORE_COMMITTER_H

#include "store/store.h"
#include "store/store_sql.h"
#include <stddef.h>
#include <time.h>

#include "core/workers.h"

#define COMMITTER_ERR_MAX 256

/* APPLY runs on the committer thread inside the transaction (each job in a
 * savepoint of its own, so one failing job does not spoil the others). */
typedef int (*committer_apply_fn)(store_db *db, void *arg, char *err, size_t errlen);
/* What a failed job's STATUS says, read from the SQLite result code (never
 * from the text of the message): the reply a client gets depends on it
 * (RFC 3463: X.3.1 "mail system full", X.3.0 "other mail system status"). */
enum store_fault {
    STORE_FAULT_NONE = 0,
    STORE_FAULT_JOB = -1,    /* the job failed on its own (its data, a constraint):
                                the store itself is well */
    STORE_FAULT_FULL = -2,   /* SQLITE_FULL, or an I/O error whose cause was ENOSPC
                                or EDQUOT: no room left, 452 4.3.1 */
    STORE_FAULT_BUSY = -3,   /* SQLITE_BUSY, SQLITE_LOCKED: the write lock was not
                                had within the busy timeout, 451 4.3.0 */
    STORE_FAULT_BROKEN = -4, /* any other I/O error, a corrupt or read-only store:
                                451 4.3.0 */
};

/* DONE runs on the loop: STATUS 0 when durable, otherwise a negative
 * enum store_fault with ERR. */
typedef void (*committer_done_fn)(void *arg, int status, const char *err);

struct committer;

struct committer *committer_start(const char *store_path, struct worker_pool *loop,
                                  unsigned max_batch, char *err, size_t errlen);
void committer_submit(struct committer *c, committer_apply_fn apply, committer_done_fn done,
                      void *arg);
/* committer_stop - commit what is queued, then stop the thread. */
void committer_stop(struct committer *c);

/* The store's health as the committer saw it on its last transaction.  A
 * failing store stays failing until a transaction commits again; while it
 * fails the committer tries a small write of its own now and then (1 s,
 * doubling to COMMITTER_PROBE_MAX_S) so that it notices the recovery even
 * when nothing else writes.  Each change is logged once:
 * event=store_failing / event=store_recovered. */
#define COMMITTER_PROBE_MAX_S 8

struct store_health {
    enum store_fault fault;        /* STORE_FAULT_NONE or the fault of the failing store */
    time_t since;                  /* when it started failing (0 when well) */
    char error[COMMITTER_ERR_MAX]; /* SQLite's words for the first failure */
};

/* committer_fault - STORE_FAULT_NONE, or why the store fails now (any thread). */
enum store_fault committer_fault(const struct committer *c);
/* committer_health - the state with its details, for floodctl status. */
void committer_health(struct committer *c, struct store_health *h);
/* store_fault_name - "disk_full", "locked", "store_error", "job" or "ok":
 * the reason= of the log lines and of floodctl status. */
const char *store_fault_name(enum store_fault f);

#ifdef FLOODGATE_FAULT_INJECTION
/* committer_inject_fault - test builds only (meson -Dfault_injection=true):
 * after AFTER more transactions, every transaction fails with the SQLite
 * result code CODE (0: no more faults), as if BEGIN had returned it. */
void committer_inject_fault(struct committer *c, int code, unsigned after);
#endif

/* Figures for floodctl status. */
unsigned long committer_commits(const struct committer *c);
unsigned long committer_jobs(const struct committer *c);

#endif
