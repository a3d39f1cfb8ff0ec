/* tests/unit/test_committer - queue/committer, the store's single writer,
 * against a real store in a temporary directory: jobs that arrive while a
 * commit runs share the next transaction (group commit); a job that fails
 * is rolled back alone and its caller told, while the others of its batch
 * commit; a failed COMMIT fails every job of the batch; every done callback
 * runs on the loop thread after the data is visible to another connection;
 * the WAL is checkpointed into the database and started over while the
 * commits go on (the checkpointer), so it stays bounded.  The committer
 * writes its WAL through store/walbuf (one write per commit): another
 * connection reading all along sees whole transactions only, thousands of
 * frames go through WAL restarts intact, and a write the kernel refuses
 * still fails the commit and reports the fault. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "core/workers.h"
#include "store/committer.h"
#include "store/store_sql.h"
#include "store/walbuf.h"
#include "tmp_store.h"

#define JOBS_MAX 8

/* One submission: what to insert and how to end, and what came back. */
struct job {
    struct fixture *f;
    const char *name; /* inserted into domains(name) */
    bool fail_after;  /* insert, then report failure: the insert must vanish */
    bool gate;        /* wait for the test's go before inserting */
    int apply_status; /* what apply returned */
    bool done;        /* the done callback ran */
    int status;       /* its STATUS */
    char err[COMMITTER_ERR_MAX];
    bool on_loop; /* it ran on the loop thread */
    int visible;  /* rows named NAME another connection saw then */
};

struct fixture {
    char dir[64];
    char path[128];
    sqlite3 *reader; /* a second connection, as floodctl would have */
    struct event_base *base;
    struct event *tick;
    struct worker_pool *loop;
    struct committer *c;
    pthread_t loop_thread;
    sem_t started, go;
    int finished;
};

/* count_rows - rows of domains named NAME seen by DB (-1 on error). */
static int count_rows(sqlite3 *db, const char *name)
{
    sqlite3_stmt *st = NULL;
    int n = -1;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM domains WHERE name = ?1", -1, &st, NULL) !=
        SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* apply_insert - on the committer thread: insert the job's domain; no
 * cmocka assertion here (not the test's thread), only results. */
static int apply_insert(sqlite3 *db, void *arg, char *err, size_t errlen)
{
    struct job *j = arg;
    if (j->gate) {
        sem_post(&j->f->started);
        sem_wait(&j->f->go);
    }
    sqlite3_stmt *st = NULL;
    int rc =
        sqlite3_prepare_v2(db, "INSERT INTO domains(name, created) VALUES(?1, 0)", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, j->name, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "%s", sqlite3_errmsg(db));
        return j->apply_status = -1;
    }
    if (j->fail_after) {
        snprintf(err, errlen, "refused after the insert");
        return j->apply_status = -1;
    }
    return j->apply_status = 0;
}

/* job_done - on the loop: record what the caller was told. */
static void job_done(void *arg, int status, const char *err)
{
    struct job *j = arg;
    j->done = true;
    j->status = status;
    snprintf(j->err, sizeof j->err, "%s", err ? err : "");
    j->on_loop = pthread_equal(pthread_self(), j->f->loop_thread);
    j->visible = count_rows(j->f->reader, j->name);
    j->f->finished++;
}

/* tick - keeps the loop with one pending event, so that EVLOOP_ONCE
 * waits for the committer's wake-up instead of returning at once. */
static void tick(evutil_socket_t fd, short what, void *arg)
{
}

/* run_until - run the loop until N done callbacks ran in all, then until
 * the committer counted them (it counts a batch after posting its
 * callbacks, so they may run first). */
static void run_until(struct fixture *f, int n)
{
    while (f->finished < n)
        event_base_loop(f->base, EVLOOP_ONCE);
    while (f->c && committer_jobs(f->c) < (unsigned long)n)
        sched_yield();
}

/* setup - a fresh store, a loop with its worker pool, a committer. */
static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    char err[256];
    if (f == NULL)
        return -1;
    f->reader = tmp_store_open("test_committer", f->dir, sizeof f->dir, f->path, sizeof f->path);
    if (f->reader == NULL)
        return -1;
    f->base = event_base_new();
    struct timeval tv = {0, 50000};
    f->tick = event_new(f->base, -1, EV_PERSIST, tick, NULL);
    if (f->base == NULL || f->tick == NULL || event_add(f->tick, &tv) < 0)
        return -1;
    f->loop = worker_pool_new(f->base, 1, "test-loop");
    f->loop_thread = pthread_self();
    sem_init(&f->started, 0, 0);
    sem_init(&f->go, 0, 0);
    f->c = committer_start(f->path, f->loop, 64, err, sizeof err);
    if (f->c == NULL) {
        fprintf(stderr, "committer_start: %s\n", err);
        return -1;
    }
    *state = f;
    return 0;
}

/* teardown - stop the committer (if the test did not), free the rest. */
static int teardown(void **state)
{
    struct fixture *f = *state;
    committer_stop(f->c);
    worker_pool_free(f->loop);
    event_free(f->tick);
    event_base_free(f->base);
    store_close(f->reader);
    sem_destroy(&f->started);
    sem_destroy(&f->go);
    int rc = tmp_store_remove(f->dir);
    free(f);
    return rc;
}

/* submit_batch - JOBS[0] holds the committer inside its first transaction
 * until JOBS[1..N-1] are all queued: those then make one batch. */
static void submit_batch(struct fixture *f, struct job *jobs, int n)
{
    jobs[0].gate = true;
    for (int i = 0; i < n; i++)
        jobs[i].f = f;
    committer_submit(f->c, apply_insert, job_done, &jobs[0]);
    sem_wait(&f->started);
    for (int i = 1; i < n; i++)
        committer_submit(f->c, apply_insert, job_done, &jobs[i]);
    sem_post(&f->go);
    run_until(f, n);
}

/* test_group_commit - five jobs queued while a commit runs share one
 * transaction: two commits for six jobs; each caller hears 0 on the loop
 * thread, when its row is already visible to another connection. */
static void test_group_commit(void **state)
{
    struct fixture *f = *state;
    struct job jobs[6] = {{.name = "first.test"}, {.name = "a.test"}, {.name = "b.test"},
                          {.name = "c.test"},     {.name = "d.test"}, {.name = "e.test"}};
    submit_batch(f, jobs, 6);
    assert_int_equal(committer_commits(f->c), 2);
    assert_int_equal(committer_jobs(f->c), 6);
    for (int i = 0; i < 6; i++) {
        assert_true(jobs[i].done);
        assert_int_equal(jobs[i].status, 0);
        assert_true(jobs[i].on_loop);
        assert_int_equal(jobs[i].visible, 1);
    }
}

/* test_one_job_fails - in one batch, a job hitting a constraint and a job
 * that fails after its insert are rolled back alone: the others commit,
 * and each caller gets its own status and error. */
static void test_one_job_fails(void **state)
{
    struct fixture *f = *state;
    char err[256];
    assert_int_equal(store_exec(f->reader,
                                "INSERT INTO domains(name, created) VALUES('taken.test', 0)", err,
                                sizeof err),
                     0);
    struct job jobs[5] = {{.name = "first.test"},
                          {.name = "a.test"},
                          {.name = "taken.test"}, /* PRIMARY KEY: already there */
                          {.name = "undone.test", .fail_after = true},
                          {.name = "b.test"}};
    submit_batch(f, jobs, 5);
    assert_int_equal(committer_commits(f->c), 2); /* the failures did not split the batch */
    assert_int_equal(jobs[0].status, 0);
    assert_int_equal(jobs[1].status, 0);
    assert_int_equal(jobs[4].status, 0);
    assert_int_equal(jobs[2].status, STORE_FAULT_JOB);
    assert_non_null(strstr(jobs[2].err, "UNIQUE"));
    assert_int_equal(jobs[3].status, STORE_FAULT_JOB);
    assert_string_equal(jobs[3].err, "refused after the insert");
    /* a job failing on its own says nothing about the store's health */
    assert_int_equal(committer_fault(f->c), STORE_FAULT_NONE);
    assert_int_equal(count_rows(f->reader, "a.test"), 1);
    assert_int_equal(count_rows(f->reader, "b.test"), 1);
    assert_int_equal(count_rows(f->reader, "taken.test"), 1);
    assert_int_equal(count_rows(f->reader, "undone.test"), 0);
}

/* test_commit_fails - when COMMIT itself fails (here: a deferred foreign
 * key left dangling by one job), no job of the batch is durable and every
 * caller is told so, including those whose own work was fine. */
static void test_commit_fails(void **state)
{
    struct fixture *f = *state;
    char err[256];
    /* The domains of this test reference a parent row checked at COMMIT. */
    assert_int_equal(store_exec(f->reader,
                                "CREATE TABLE parent(name TEXT PRIMARY KEY);"
                                "CREATE TRIGGER dangling AFTER INSERT ON domains "
                                "WHEN NEW.name = 'dangling.test' BEGIN "
                                "INSERT INTO child(parent) VALUES('missing'); END;"
                                "CREATE TABLE child(parent TEXT REFERENCES parent(name) "
                                "DEFERRABLE INITIALLY DEFERRED);",
                                err, sizeof err),
                     0);
    struct job jobs[4] = {
        {.name = "first.test"}, {.name = "a.test"}, {.name = "dangling.test"}, {.name = "b.test"}};
    submit_batch(f, jobs, 4);
    assert_int_equal(jobs[0].status, 0); /* its own batch, committed */
    for (int i = 1; i < 4; i++) {
        assert_int_equal(jobs[i].apply_status, 0);
        assert_true(jobs[i].status < 0); /* which fault: the committer's classification */
        assert_non_null(strstr(jobs[i].err, "store commit failed"));
        assert_int_equal(count_rows(f->reader, jobs[i].name), 0);
    }
    assert_int_equal(count_rows(f->reader, "first.test"), 1);
}

/* test_stop_commits_queued - committer_stop commits what is queued. */
static void test_stop_commits_queued(void **state)
{
    struct fixture *f = *state;
    struct job j = {.f = f, .name = "late.test"};
    committer_submit(f->c, apply_insert, job_done, &j);
    committer_stop(f->c);
    f->c = NULL;
    run_until(f, 1);
    assert_int_equal(j.status, 0);
    assert_int_equal(count_rows(f->reader, "late.test"), 1);
}

/* exec_int - run SQL on DB with the integer V bound to ?1: 0, or -1 with
 * SQLite's words in ERR. */
static int exec_int(sqlite3 *db, const char *sql, int v, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int(st, 1, v);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "%s", sqlite3_errmsg(db));
        return -1;
    }
    return 0;
}

/* apply_blob - on the committer thread: one row of BIG_ROW octets. */
#define BIG_ROW (32 * 1024)
#define BIG_JOBS 1200
static int apply_blob(sqlite3 *db, void *arg, char *err, size_t errlen)
{
    /* row N holds "00000N|" repeated: a frame lost or misplaced shows */
    return exec_int(db,
                    "INSERT INTO big(data) VALUES(replace(hex(zeroblob(?1)), '00',"
                    " printf('%06d|', (SELECT count(*) FROM big) + 1)))",
                    BIG_ROW / 7, err, errlen);
}

static void blob_done(void *arg, int status, const char *err)
{
    struct fixture *f = arg;
    if (status != 0)
        fprintf(stderr, "blob job failed: %s\n", err);
    else
        f->finished++;
}

/* file_size - octets of PATH+SUFFIX, 0 when missing. */
static long long file_size(const char *path, const char *suffix)
{
    char name[160];
    struct stat st;
    snprintf(name, sizeof name, "%s%s", path, suffix);
    return stat(name, &st) == 0 ? (long long)st.st_size : 0;
}

/* assert_integrity - PRAGMA integrity_check on DB: it must say "ok". */
static void assert_integrity(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
}

/* query_int - the first column of SQL's first row on DB. */
static long long query_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    long long v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* test_wal_is_checkpointed - some 10,000 pages (40 MiB) committed back to
 * back: the pages reach the database file (checkpoints ran beside the
 * commits) and the WAL does not grow past a few thousand frames (it was
 * started over: a checkpointer that never catches up would let it grow
 * with every commit).  Every row is there for another connection, with
 * its own content: the WAL write buffer lost no frame across the
 * restarts. */
static void test_wal_is_checkpointed(void **state)
{
    struct fixture *f = *state;
    char err[256];
    assert_int_equal(store_exec(f->reader, "CREATE TABLE big(data BLOB)", err, sizeof err), 0);
    long long wal_max = 0;
    for (int i = 0; i < BIG_JOBS; i++) {
        committer_submit(f->c, apply_blob, blob_done, f);
        if (i % 64 == 63) { /* the loop answers as the daemon's would */
            run_until(f, i + 1);
            long long w = file_size(f->path, "-wal");
            wal_max = w > wal_max ? w : wal_max;
        }
    }
    run_until(f, BIG_JOBS);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(f->reader, "SELECT count(*) FROM big", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), BIG_JOBS);
    sqlite3_finalize(st);
    assert_int_equal(query_int(f->reader, "SELECT count(*) FROM big WHERE data ="
                                          " replace(hex(zeroblob(32768 / 7)), '00',"
                                          " printf('%06d|', rowid))"),
                     BIG_JOBS);
    assert_integrity(f->reader);
    /* WAL frames are a page (4 KiB) and a 24-octet header */
    long long frame = 4096 + 24, total = (long long)BIG_JOBS * BIG_ROW;
    assert_true(file_size(f->path, "") > total / 2);
    assert_true(wal_max < 8000 * frame);
}

/* Rows of seq: row N holds "00000N|" 200 times (1,400 octets), so that
 * a commit of a few rows is a few frames. */
#define SEQ_ROWS 3000
#define SEQ_DATA "replace(hex(zeroblob(200)), '00', printf('%06d|', n))"

/* apply_seq - on the committer thread: the next row of seq, numbered by
 * the job (ARG: its number cast to a pointer). */
static int apply_seq(sqlite3 *db, void *arg, char *err, size_t errlen)
{
    return exec_int(db, "INSERT INTO seq(n, data) SELECT ?1, " SEQ_DATA " FROM (SELECT ?1 AS n)",
                    (int)(intptr_t)arg, err, errlen);
}

static struct fixture *seq_fixture; /* seq_done's: the job's ARG is its number */

static void seq_done(void *arg, int status, const char *err)
{
    if (status != 0)
        fprintf(stderr, "seq job %d failed: %s\n", (int)(intptr_t)arg, err);
    seq_fixture->finished++;
}

/* A reader on a connection of its own (the default VFS), reading seq all
 * along while the committer writes it. */
struct seq_reader {
    const char *path;
    atomic_bool stop;
    int reads;     /* snapshots read */
    int torn;      /* snapshots that were not rows 1..K, each whole */
    int errors;    /* reads that failed */
    int last_seen; /* K of the last snapshot */
};

static void *seq_reader_main(void *arg)
{
    struct seq_reader *r = arg;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    if (sqlite3_open_v2(r->path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT count(*), coalesce(max(n), 0),"
                           " coalesce(sum(data = " SEQ_DATA "), 0) FROM seq",
                           -1, &st, NULL) != SQLITE_OK) {
        r->errors++;
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 5000);
    while (!atomic_load(&r->stop)) {
        if (sqlite3_step(st) != SQLITE_ROW) {
            r->errors++;
        } else {
            int count = sqlite3_column_int(st, 0), max = sqlite3_column_int(st, 1),
                good = sqlite3_column_int(st, 2);
            if (count != max || good != count || max < r->last_seen)
                r->torn++;
            r->last_seen = max;
            r->reads++;
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return NULL;
}

/* test_wal_writes_gathered - 3,000 rows committed in waves of 64 while
 * another connection reads them all along: each of its snapshots is rows
 * 1..K, every one whole (a frame published before it was written would
 * show as a torn or failed read); at the end all are there.  The WAL
 * writes went through the buffer: several per write made, at least a
 * frame (two writes) per commit.  Without the shim nothing is buffered. */
static void test_wal_writes_gathered(void **state)
{
    struct fixture *f = *state;
    char err[256];
    assert_int_equal(store_exec(f->reader, "CREATE TABLE seq(n INTEGER PRIMARY KEY, data TEXT)",
                                err, sizeof err),
                     0);
    unsigned long writes0, flushes0, writes1, flushes1;
    walbuf_counts(&writes0, &flushes0);
    unsigned long commits0 = committer_commits(f->c);
    struct seq_reader r = {.path = f->path};
    pthread_t reader;
    assert_int_equal(pthread_create(&reader, NULL, seq_reader_main, &r), 0);
    seq_fixture = f;
    for (int n = 1; n <= SEQ_ROWS; n++) {
        committer_submit(f->c, apply_seq, seq_done, (void *)(intptr_t)n);
        if (n % 64 == 0 || n == SEQ_ROWS)
            run_until(f, n);
    }
    atomic_store(&r.stop, true);
    pthread_join(reader, NULL);
    assert_int_equal(committer_fault(f->c), STORE_FAULT_NONE);
    assert_true(r.reads > 0);
    assert_int_equal(r.errors, 0);
    assert_int_equal(r.torn, 0);
    assert_int_equal(query_int(f->reader, "SELECT count(*) FROM seq WHERE n BETWEEN 1 AND 3000"
                                          " AND data = " SEQ_DATA),
                     SEQ_ROWS);
    assert_integrity(f->reader);
    walbuf_counts(&writes1, &flushes1);
    unsigned long commits = committer_commits(f->c) - commits0;
    unsigned long writes = writes1 - writes0, flushes = flushes1 - flushes0;
    fprintf(stderr, "%lu commits: %lu WAL writes buffered, %lu made\n", commits, writes, flushes);
    assert_true(writes >= 2 * commits);
    assert_true(flushes > 0);
    assert_true(flushes * 4 <= writes);
}

/* test_refused_write_fails_the_commit - the kernel refuses the WAL's
 * write (RLIMIT_FSIZE: EFBIG, the shim writes at xSync): the commit fails,
 * its job is told and the store is reported failing; the row is not
 * there.  Once writes succeed again, the next job commits and the store
 * is well, nothing lost. */
static void test_refused_write_fails_the_commit(void **state)
{
    struct fixture *f = *state;
    struct job before = {.f = f, .name = "before.test"}, refused = {.f = f, .name = "refused.test"},
               after = {.f = f, .name = "after.test"};
    committer_submit(f->c, apply_insert, job_done, &before);
    run_until(f, 1);
    assert_int_equal(before.status, 0);

    struct rlimit was, limit;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &was), 0);
    limit = was;
    limit.rlim_cur = 1; /* every write past the first octet of any file: EFBIG */
    void (*xfsz)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &limit), 0);
    committer_submit(f->c, apply_insert, job_done, &refused);
    run_until(f, 2);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &was), 0);
    signal(SIGXFSZ, xfsz);

    assert_int_equal(refused.apply_status, 0); /* the insert itself went well */
    assert_int_equal(refused.status, STORE_FAULT_BROKEN);
    assert_non_null(strstr(refused.err, "store commit failed"));
    assert_int_equal(committer_fault(f->c), STORE_FAULT_BROKEN);
    assert_int_equal(count_rows(f->reader, "refused.test"), 0);

    committer_submit(f->c, apply_insert, job_done, &after);
    run_until(f, 3);
    assert_int_equal(after.status, 0);
    assert_int_equal(committer_fault(f->c), STORE_FAULT_NONE);
    assert_int_equal(count_rows(f->reader, "before.test"), 1);
    assert_int_equal(count_rows(f->reader, "after.test"), 1);
    assert_integrity(f->reader);
}

/* wal_writes_of - the WAL writes the buffer took while SQL ran on DB. */
static unsigned long wal_writes_of(sqlite3 *db, const char *sql)
{
    char err[256];
    unsigned long writes0, writes1, flushes;
    walbuf_counts(&writes0, &flushes);
    assert_int_equal(store_exec(db, sql, err, sizeof err), 0);
    walbuf_counts(&writes1, &flushes);
    return writes1 - writes0;
}

/* test_buffers_only_at_full - the writer's connection buffers its WAL
 * writes under synchronous=FULL; once set to NORMAL (whose COMMIT does not
 * sync the WAL before publishing its frames) it writes through and cannot
 * be armed again; a connection of store_open never buffers. */
static void test_buffers_only_at_full(void **state)
{
    (void)state;
    char dir[64], path[128], err[256];
    sqlite3 *other = tmp_store_open("test_walbuf", dir, sizeof dir, path, sizeof path);
    assert_non_null(other);
    sqlite3 *writer = store_open_writer(path, err, sizeof err);
    assert_non_null(writer);
    assert_int_equal(store_exec(other, "CREATE TABLE t(x)", err, sizeof err), 0);
    assert_true(wal_writes_of(writer, "INSERT INTO t VALUES(1)") >= 2);
    assert_int_equal(wal_writes_of(other, "INSERT INTO t VALUES(2)"), 0);
    assert_int_equal(store_exec(writer, "PRAGMA synchronous=NORMAL", err, sizeof err), 0);
    assert_int_equal(wal_writes_of(writer, "INSERT INTO t VALUES(3)"), 0);
    assert_false(walbuf_arm(writer));
    assert_int_equal(wal_writes_of(writer, "INSERT INTO t VALUES(4)"), 0);
    assert_int_equal(query_int(other, "SELECT sum(x) FROM t"), 10);
    store_close(writer);
    store_close(other);
    assert_int_equal(tmp_store_remove(dir), 0);
}

/* main - libevent's pthread locking first: threads wake the loop. */
int main(void)
{
    evthread_use_pthreads(); /* the committer wakes the loop from its thread */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_job_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_commits_queued, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_is_checkpointed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_writes_gathered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_write_fails_the_commit, setup, teardown),
        cmocka_unit_test(test_buffers_only_at_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
