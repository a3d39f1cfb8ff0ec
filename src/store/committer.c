/* store/committer - the store's single writer and its group commit.
 *
 * Durability argument: a job's done callback is posted only after
 * sqlite3_exec("COMMIT") returned SQLITE_OK on a connection opened with
 * synchronous=FULL in WAL mode, i.e. after the WAL was fsync'd.  Whatever the
 * SMTP server acknowledges from that callback survives kill -9 and a power
 * cut.  If the commit fails, every job of the batch is told so and the client
 * gets a 4xx: the sender keeps responsibility for the message.
 *
 * The committer is also where a failing store shows first: it classifies
 * each failure by SQLite's result code, keeps the store's health for the
 * loop (which then stops deliveries and refuses new mail), logs each change
 * of it once, and probes a failing store with a small write of its own.
 *
 * What a message waits for is kept short: the transaction statements are
 * prepared once; savepoint journals stay in memory (temp_store=MEMORY: a
 * batch larger than 64 KiB would otherwise spill each one into a file it
 * creates and unlinks in /var/tmp); and the WAL is checkpointed by a thread
 * of its own, after the answers went out, instead of inside the COMMIT of
 * the batch that crossed SQLite's threshold (whose sessions then waited for
 * a whole checkpoint: WAL fsync, page copy, database fsync).  The writing
 * connection is opened through the WAL write buffer (store/walbuf.c): a
 * commit's frames reach the kernel in one write, not two per page. */
#include "store/committer.h"
#include "store/store_sql.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/util.h"
#include "core/log.h"
#include "store/store.h"

struct commit_job {
    committer_apply_fn apply;
    committer_done_fn done; /* NULL: the committer's own probe */
    void *arg;
    int status;
    char err[COMMITTER_ERR_MAX];
    struct commit_job *next;
};

/* The transaction statements, prepared once on the writing connection. */
enum tx_op { TX_BEGIN, TX_COMMIT, TX_ROLLBACK, TX_SAVEPOINT, TX_RELEASE, TX_ROLLBACK_TO, TX_N };
static const char *const tx_sql[TX_N] = {
    [TX_BEGIN] = "BEGIN IMMEDIATE", [TX_COMMIT] = "COMMIT",
    [TX_ROLLBACK] = "ROLLBACK",     [TX_SAVEPOINT] = "SAVEPOINT job",
    [TX_RELEASE] = "RELEASE job",   [TX_ROLLBACK_TO] = "ROLLBACK TO job",
};

/* The checkpointer: a thread with its own connection copies the WAL into
 * the database (PASSIVE: it never blocks the committer) each time
 * COMMITTER_CHECKPOINT_FRAMES more frames were written, as SQLite's
 * automatic checkpoint would (its default: 1,000 pages).  A PASSIVE
 * checkpoint that runs beside the commits rarely finds the WAL complete,
 * and only a complete one lets the next transaction start the WAL over: when
 * the WAL reaches COMMITTER_WAL_MAX_FRAMES the committer checkpoints it
 * itself, between two transactions (after answering the last). */
#define COMMITTER_CHECKPOINT_FRAMES 1000
#define COMMITTER_WAL_MAX_FRAMES (4 * COMMITTER_CHECKPOINT_FRAMES)
/* The committer's own checkpoint at COMMITTER_WAL_MAX_FRAMES waits at most
 * this long for the readers still on old frames (a lookup, a delivery
 * reading a body: milliseconds); one that reads longer (queue top over a
 * million messages) makes the attempt give up, and it is tried again
 * COMMITTER_RESTART_RETRY_FRAMES later. */
#define COMMITTER_RESTART_WAIT_MS 100
#define COMMITTER_RESTART_RETRY_FRAMES 250
#define COMMITTER_BUSY_MS 10000 /* store_open's busy timeout, put back */

struct checkpointer {
    sqlite3 *db;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool wanted, stopping, running;
};

struct committer {
    sqlite3 *db;
    sqlite3_stmt *tx[TX_N]; /* NULL: run with store_exec */
    int wal_frames;         /* frames in the WAL after the last commit (wal hook) */
    int ckpt_mark;          /* wal_frames when the checkpointer was last asked */
    int restart_mark;       /* no RESTART checkpoint before the WAL has this many frames */
    struct checkpointer ckpt;
    struct worker_pool *loop;
    unsigned max_batch;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct commit_job *head, *tail;
    bool stopping;
    atomic_ulong commits;
    atomic_ulong jobs;
    /* health: FAULT is read by the loop without the lock; SINCE and ERROR
     * change under HEALTH_LOCK */
    atomic_int fault;
    pthread_mutex_t health_lock;
    time_t since;
    char error[COMMITTER_ERR_MAX];
    unsigned probe_delay; /* seconds before the next probe of a failing store */
#ifdef FLOODGATE_FAULT_INJECTION
    atomic_int inject;        /* SQLite code the transactions fail with, 0: none */
    atomic_uint inject_after; /* transactions that still succeed before that */
#endif
};

const char *store_fault_name(enum store_fault f)
{
    switch (f) {
    case STORE_FAULT_NONE:
        return "ok";
    case STORE_FAULT_FULL:
        return "disk_full";
    case STORE_FAULT_BUSY:
        return "locked";
    case STORE_FAULT_BROKEN:
        return "store_error";
    default:
        return "job";
    }
}

/* classify_code - the fault a failed SQLite call stands for, from its
 * result CODE and the errno SYS under it.  SQLite reports ENOSPC while writing
 * as SQLITE_FULL, but as an I/O error from some calls (ftruncate, the -shm
 * file): the errno tells those apart from a failing disk. */
static enum store_fault classify_code(int code, int sys)
{
    switch (code & 0xff) {
    case SQLITE_FULL:
        return STORE_FAULT_FULL;
    case SQLITE_IOERR:
        return sys == ENOSPC || sys == EDQUOT ? STORE_FAULT_FULL : STORE_FAULT_BROKEN;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return STORE_FAULT_BUSY;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_NOMEM:
    case SQLITE_PROTOCOL:
    case SQLITE_PERM:
        return STORE_FAULT_BROKEN;
    default:
        return STORE_FAULT_JOB;
    }
}

/* classify - the fault the last failed call on DB stands for. */
static enum store_fault classify(sqlite3 *db)
{
    return classify_code(sqlite3_extended_errcode(db), sqlite3_system_errno(db));
}

/* tx - run the transaction statement OP; -1 with WHY on failure (the
 * connection's error code stays for classify()). */
static int tx(struct committer *c, enum tx_op op, char *why, size_t whylen)
{
    sqlite3_stmt *st = c->tx[op];
    if (st == NULL)
        return store_exec(c->db, tx_sql[op], why, whylen);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        snprintf(why, whylen, "%s", sqlite3_errmsg(c->db));
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* set_health - after a transaction: the store is well (FAULT STORE_FAULT_NONE) or
 * fails with FAULT (WHY in SQLite's words).  Logs a change, once. */
static void set_health(struct committer *c, enum store_fault fault, const char *why)
{
    enum store_fault was = (enum store_fault)atomic_load(&c->fault);
    if (fault == was)
        return;
    time_t now = time(NULL);
    pthread_mutex_lock(&c->health_lock);
    if (fault == STORE_FAULT_NONE) {
        log_info("event=store_recovered reason=%s failed_for=%llds", store_fault_name(was),
                 (long long)(now - c->since));
        c->since = 0;
        c->error[0] = '\0';
    } else {
        /* One line per change of state, not per message: while the store
         * fails, every message would otherwise log its own. */
        log_warnx("event=store_failing reason=%s error=%s", store_fault_name(fault),
                  log_quote(why));
        if (was == STORE_FAULT_NONE) {
            c->since = now;
            c->probe_delay = 1;
        }
        snprintf(c->error, sizeof c->error, "%s", why);
    }
    atomic_store(&c->fault, fault);
    pthread_mutex_unlock(&c->health_lock);
}

enum store_fault committer_fault(const struct committer *c)
{
    return (enum store_fault)atomic_load(&c->fault);
}

void committer_health(struct committer *c, struct store_health *h)
{
    pthread_mutex_lock(&c->health_lock);
    h->fault = (enum store_fault)atomic_load(&c->fault);
    h->since = c->since;
    snprintf(h->error, sizeof h->error, "%s", c->error);
    pthread_mutex_unlock(&c->health_lock);
}

#ifdef FLOODGATE_FAULT_INJECTION
void committer_inject_fault(struct committer *c, int code, unsigned after)
{
    atomic_store(&c->inject_after, after);
    atomic_store(&c->inject, code);
}
#endif

/* job_finish - on the loop thread: tell the submitter, free the job. */
static void job_finish(void *arg)
{
    struct commit_job *j = arg;
    j->done(j->arg, j->status, j->err);
    free(j);
}

/* probe_apply - the committer's own write while the store fails: one row
 * changed, so that COMMIT must append to the WAL and fsync it.  When this
 * commits, the store takes writes again. */
static int probe_apply(sqlite3 *db, void *arg, char *err, size_t errlen)
{
    (void)arg;
    return store_exec(db,
                      "INSERT OR REPLACE INTO meta(key, value)"
                      " VALUES('store_probe', strftime('%s','now'))",
                      err, errlen);
}

/* probe_due - wait on the queue's condition until a job comes or, while
 * the store fails, until the next probe is due.  True when the probe is
 * due.  Called with the lock held. */
static bool probe_due(struct committer *c)
{
    if (atomic_load(&c->fault) == STORE_FAULT_NONE) {
        pthread_cond_wait(&c->cond, &c->lock);
        return false;
    }
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += c->probe_delay;
    if (pthread_cond_timedwait(&c->cond, &c->lock, &until) != ETIMEDOUT)
        return false;
    if (c->probe_delay < COMMITTER_PROBE_MAX_S)
        c->probe_delay *= 2;
    return true;
}

/* take_batch - up to max_batch jobs off the queue, waiting for one; a
 * probe of its own when the store fails and nothing else came. */
static struct commit_job *take_batch(struct committer *c)
{
    pthread_mutex_lock(&c->lock);
    while (c->head == NULL && !c->stopping) {
        if (probe_due(c) && c->head == NULL && !c->stopping) {
            pthread_mutex_unlock(&c->lock);
            struct commit_job *probe = calloc(1, sizeof *probe);
            if (probe != NULL) {
                probe->apply = probe_apply;
                return probe;
            }
            pthread_mutex_lock(&c->lock);
        }
    }
    struct commit_job *first = c->head, *last = NULL, *j = c->head;
    for (unsigned n = 0; j && n < c->max_batch; n++) {
        last = j;
        j = j->next;
    }
    if (last) {
        last->next = NULL;
        c->head = j;
        if (j == NULL)
            c->tail = NULL;
    }
    pthread_mutex_unlock(&c->lock);
    return first;
}

/* apply_one - J in a savepoint of its own.  Returns the store's fault
 * when J failed because of the store (its status says the same). */
static enum store_fault apply_one(struct committer *c, struct commit_job *j)
{
    char why[COMMITTER_ERR_MAX];
    enum store_fault fault = STORE_FAULT_NONE;
    tx(c, TX_SAVEPOINT, why, sizeof why);
    j->status = j->apply(c->db, j->arg, j->err, sizeof j->err);
    if (j->status != 0) {
        /* read before ROLLBACK TO resets the connection's error */
        fault = classify(c->db);
        j->status = fault;
        tx(c, TX_ROLLBACK_TO, why, sizeof why);
    }
    tx(c, TX_RELEASE, why, sizeof why);
    return fault == STORE_FAULT_JOB ? STORE_FAULT_NONE : fault;
}

/* begin - BEGIN IMMEDIATE, or the injected fault of a test build. */
static int begin(struct committer *c, enum store_fault *fault, char *why, size_t whylen)
{
#ifdef FLOODGATE_FAULT_INJECTION
    int code = atomic_load(&c->inject);
    unsigned after = atomic_load(&c->inject_after);
    if (code != 0 && after > 0)
        atomic_store(&c->inject_after, after - 1);
    else if (code != 0) {
        snprintf(why, whylen, "%s (injected)", sqlite3_errstr(code));
        *fault = classify_code(code, 0);
        return -1;
    }
#endif
    if (tx(c, TX_BEGIN, why, whylen) == 0)
        return 0;
    *fault = classify(c->db);
    return -1;
}

/* wal_hook - SQLite, after each commit on the writing connection: FRAMES
 * is the WAL's length in frames.  Setting it also turns off SQLite's
 * automatic checkpoint on this connection (the checkpointer does it). */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    struct committer *c = arg;
    c->wal_frames = frames;
    return SQLITE_OK;
}

static void *checkpointer_main(void *arg)
{
    struct checkpointer *k = arg;
    pthread_mutex_lock(&k->lock);
    for (;;) {
        while (!k->wanted && !k->stopping)
            pthread_cond_wait(&k->cond, &k->lock);
        if (k->stopping)
            break;
        k->wanted = false;
        k->running = true;
        pthread_mutex_unlock(&k->lock);
        /* A failure here (busy: another checkpoint runs) is no fault of
         * the store: the next request, or the committer, tries again. */
        sqlite3_wal_checkpoint_v2(k->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_lock(&k->lock);
        k->running = false;
    }
    pthread_mutex_unlock(&k->lock);
    return NULL;
}

/* checkpointer_start - its connection and thread; false (and the
 * committer checkpoints alone, between transactions) when either fails. */
static bool checkpointer_start(struct checkpointer *k, const char *store_path)
{
    char err[256];
    if ((k->db = store_open(store_path, err, sizeof err)) == NULL) {
        log_warnx("event=store_error op=checkpointer error=%s", log_quote(err));
        return false;
    }
    pthread_mutex_init(&k->lock, NULL);
    pthread_cond_init(&k->cond, NULL);
    if (pthread_create(&k->thread, NULL, checkpointer_main, k) != 0) {
        log_warnx("event=store_error op=checkpointer error=pthread_create");
        pthread_mutex_destroy(&k->lock);
        pthread_cond_destroy(&k->cond);
        store_close(k->db);
        k->db = NULL;
        return false;
    }
    thread_name(k->thread, "fg-checkpoint");
    return true;
}

static void checkpointer_stop(struct checkpointer *k)
{
    if (k->db == NULL)
        return;
    pthread_mutex_lock(&k->lock);
    k->stopping = true;
    pthread_cond_signal(&k->cond);
    pthread_mutex_unlock(&k->lock);
    pthread_join(k->thread, NULL);
    store_close(k->db);
    k->db = NULL;
    pthread_mutex_destroy(&k->lock);
    pthread_cond_destroy(&k->cond);
}

/* checkpoint_restart - copy the whole WAL into the database so that the
 * next transaction starts it over.  A PASSIVE checkpoint stops at the
 * oldest reader's snapshot, and with deliveries and lookups reading all
 * the time it rarely completed on a loaded machine: the WAL then grew past
 * 11,000 frames (test_durability).  RESTART waits, through the busy
 * handler, for those readers to finish (COMMITTER_RESTART_WAIT_MS at
 * most); new readers meanwhile read the database file, not the WAL. */
static void checkpoint_restart(struct committer *c)
{
    sqlite3_busy_timeout(c->db, COMMITTER_RESTART_WAIT_MS);
    int rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_RESTART, NULL, NULL);
    sqlite3_busy_timeout(c->db, COMMITTER_BUSY_MS);
    if (rc != SQLITE_OK) /* busy: a long reader, or the checkpointer's own pass */
        c->restart_mark = c->wal_frames + COMMITTER_RESTART_RETRY_FRAMES;
}

/* checkpoint_after - after a commit whose jobs were answered: ask the
 * checkpointer for a checkpoint every COMMITTER_CHECKPOINT_FRAMES frames,
 * or checkpoint here when the WAL grew past COMMITTER_WAL_MAX_FRAMES (no
 * transaction runs meanwhile, so this one completes and the next
 * transaction starts the WAL over). */
static void checkpoint_after(struct committer *c)
{
    if (c->wal_frames < c->ckpt_mark)
        c->ckpt_mark = 0; /* the WAL started over */
    if (c->wal_frames < c->restart_mark - COMMITTER_RESTART_RETRY_FRAMES)
        c->restart_mark = 0;
    if (c->wal_frames >= COMMITTER_WAL_MAX_FRAMES || c->ckpt.db == NULL) {
        if (c->ckpt.db == NULL && c->wal_frames >= COMMITTER_CHECKPOINT_FRAMES &&
            c->wal_frames < COMMITTER_WAL_MAX_FRAMES)
            sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        else if (c->wal_frames >= COMMITTER_WAL_MAX_FRAMES && c->wal_frames >= c->restart_mark)
            checkpoint_restart(c);
        return;
    }
    if (c->wal_frames < c->ckpt_mark + COMMITTER_CHECKPOINT_FRAMES)
        return;
    c->ckpt_mark = c->wal_frames;
    pthread_mutex_lock(&c->ckpt.lock);
    if (!c->ckpt.running) {
        c->ckpt.wanted = true;
        pthread_cond_signal(&c->ckpt.cond);
    }
    pthread_mutex_unlock(&c->ckpt.lock);
}

static void run_batch(struct committer *c, struct commit_job *batch)
{
    char why[COMMITTER_ERR_MAX] = "";
    /* the first fault of the store in this batch: it decides the state */
    enum store_fault fault = STORE_FAULT_NONE;
    int rc = begin(c, &fault, why, sizeof why);
    for (struct commit_job *j = batch; j && rc == 0; j = j->next) {
        enum store_fault f = apply_one(c, j);
        if (f != STORE_FAULT_NONE && fault == STORE_FAULT_NONE) {
            fault = f;
            snprintf(why, sizeof why, "%s", j->err);
        }
        /* After SQLITE_FULL, IOERR, BUSY or NOMEM, SQLite may have rolled
         * the whole transaction back: the jobs applied so far are gone,
         * and a SAVEPOINT now would start (and RELEASE commit) a
         * transaction of its own.  The batch has failed. */
        if (sqlite3_get_autocommit(c->db))
            rc = -1;
    }
    if (rc == 0 && (rc = tx(c, TX_COMMIT, why, sizeof why)) != 0) {
        if (fault == STORE_FAULT_NONE)
            fault = classify(c->db);
        tx(c, TX_ROLLBACK, (char[COMMITTER_ERR_MAX]){0}, COMMITTER_ERR_MAX);
    }
    if (rc != 0 && (fault == STORE_FAULT_NONE || fault == STORE_FAULT_JOB))
        fault = STORE_FAULT_BROKEN; /* BEGIN or COMMIT failed: the store did */
    if (rc != 0 && why[0] == '\0')
        snprintf(why, sizeof why, "the transaction was rolled back");
    set_health(c, fault, why);
    unsigned long n = 0;
    for (struct commit_job *j = batch, *next; j; j = next) {
        next = j->next;
        if (rc != 0) {
            j->status = fault;
            snprintf(j->err, sizeof j->err, "store commit failed: %.200s", why);
        }
        if (j->done == NULL) { /* a probe */
            free(j);
            continue;
        }
        n++;
        worker_pool_post(c->loop, job_finish, j);
    }
    c->commits++;
    c->jobs += n;
    if (rc == 0)
        checkpoint_after(c);
}

static void *committer_main(void *arg)
{
    struct committer *c = arg;
    struct commit_job *batch;
    while ((batch = take_batch(c)) != NULL)
        run_batch(c, batch);
    return NULL;
}

struct committer *committer_start(const char *store_path, struct worker_pool *loop,
                                  unsigned max_batch, char *err, size_t errlen)
{
    struct committer *c = calloc(1, sizeof *c);
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if ((c->db = store_open_writer(store_path, err, errlen)) == NULL) {
        free(c);
        return NULL;
    }
    c->loop = loop;
    c->max_batch = max_batch ? max_batch : 64;
    char why[256];
    if (store_exec(c->db, "PRAGMA temp_store=MEMORY", why, sizeof why) < 0)
        log_warnx("event=store_error op=temp_store error=%s", log_quote(why));
    for (int i = 0; i < TX_N; i++)
        c->tx[i] = store_prepare(c->db, tx_sql[i]);
    checkpointer_start(&c->ckpt, store_path);
    sqlite3_wal_hook(c->db, wal_hook, c);
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->health_lock, NULL);
    /* the probe's timed wait runs on the monotonic clock: a clock set
     * back must not stop the probes */
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cond, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&c->thread, NULL, committer_main, c) != 0) {
        snprintf(err, errlen, "cannot start the committer thread");
        checkpointer_stop(&c->ckpt);
        for (int i = 0; i < TX_N; i++)
            sqlite3_finalize(c->tx[i]);
        store_close(c->db);
        free(c);
        return NULL;
    }
    thread_name(c->thread, "fg-committer");
    return c;
}

void committer_submit(struct committer *c, committer_apply_fn apply, committer_done_fn done,
                      void *arg)
{
    struct commit_job *j = calloc(1, sizeof *j);
    if (j == NULL)
        fatal("event=committer_submit error=out_of_memory");
    j->apply = apply;
    j->done = done;
    j->arg = arg;
    pthread_mutex_lock(&c->lock);
    if (c->tail)
        c->tail->next = j;
    else
        c->head = j;
    c->tail = j;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

void committer_stop(struct committer *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->lock);
    c->stopping = true;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    checkpointer_stop(&c->ckpt);
    for (int i = 0; i < TX_N; i++)
        sqlite3_finalize(c->tx[i]);
    store_close(c->db);
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->health_lock);
    pthread_cond_destroy(&c->cond);
    free(c);
}

unsigned long committer_commits(const struct committer *c)
{
    return c->commits;
}

unsigned long committer_jobs(const struct committer *c)
{
    return c->jobs;
}
