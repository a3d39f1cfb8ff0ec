/* queue/scheduler - local delivery scheduling.
 *
 * A recipient is "in flight" only in memory: the store knows queued,
 * deferred, delivered, bounced and held.  After a crash every recipient that
 * was in flight is simply queued again - the Maildir may then get the
 * message twice, which is the price of never losing one.  Remote recipients
 * wait for the remote delivery agent and are not picked here. */
#include "queue/scheduler.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/util.h"
#include "delivery/maildir.h"
#include "queue/committer.h"
#include "queue/store.h"

#define PASS_RCPTS_MAX 256      /* recipients fetched per pass */
#define PASS_JOBS_MAX 16    /* messages being delivered at once */
#define PASS_INTERVAL_MS 1000
#define PASS_KICK_MS 10     /* a burst of new messages shares one pass */

struct delivery_rcpt {
    sqlite3_int64 id;
    char *address;
    unsigned attempts;
    int status;
    char error[256];
};

struct delivery_job {
    struct scheduler *sch;
    char qid[17];
    char *sender;
    time_t created;
    struct delivery_rcpt *rcpts;
    size_t n;
};

struct scheduler {
    struct smtp_server *srv;
    struct event *timer;
    unsigned jobs;
    bool kicked;             /* a run is already due soon */
    sqlite3_int64 *inflight; /* recipient ids being delivered */
    size_t n_inflight, cap_inflight;
};

unsigned scheduler_backoff(const struct config_queue *q, unsigned attempts)
{
    unsigned long delay = q->retry_initial;
    for (unsigned i = 1; i < attempts && delay < q->retry_max; i++)
        delay *= 2;
    return delay > q->retry_max ? q->retry_max : (unsigned)delay;
}

static bool is_inflight(const struct scheduler *sch, sqlite3_int64 id)
{
    for (size_t i = 0; i < sch->n_inflight; i++)
        if (sch->inflight[i] == id)
            return true;
    return false;
}

static bool inflight_add(struct scheduler *sch, sqlite3_int64 id)
{
    if (sch->n_inflight == sch->cap_inflight) {
        size_t cap = sch->cap_inflight ? sch->cap_inflight * 2 : 64;
        sqlite3_int64 *p = realloc(sch->inflight, cap * sizeof *p);
        if (p == NULL)
            return false;
        sch->inflight = p;
        sch->cap_inflight = cap;
    }
    sch->inflight[sch->n_inflight++] = id;
    return true;
}

static void inflight_del(struct scheduler *sch, sqlite3_int64 id)
{
    for (size_t i = 0; i < sch->n_inflight; i++)
        if (sch->inflight[i] == id) {
            sch->inflight[i] = sch->inflight[--sch->n_inflight];
            return;
        }
}

static void job_free(struct delivery_job *j)
{
    for (size_t i = 0; i < j->n; i++)
        free(j->rcpts[i].address);
    free(j->rcpts);
    free(j->sender);
    free(j);
}

/* ---- on a worker thread ---- */

struct blob_reader {
    sqlite3_blob *blob;
    int size;
};

static long blob_read(void *ctx, size_t off, char *buf, size_t n)
{
    struct blob_reader *r = ctx;
    if (off >= (size_t)r->size)
        return 0;
    if (n > (size_t)r->size - off)
        n = (size_t)r->size - off;
    return sqlite3_blob_read(r->blob, buf, (int)n, (int)off) == SQLITE_OK ? (long)n : -1;
}

static pthread_key_t worker_db_key;
static pthread_once_t worker_db_once = PTHREAD_ONCE_INIT;

static void worker_db_close(void *db)
{
    store_close(db);
}

static void worker_db_init(void)
{
    pthread_key_create(&worker_db_key, worker_db_close);
}

/* worker_db - each worker thread reads bodies through a connection of its
 * own, closed when the thread ends. */
static sqlite3 *worker_db(void)
{
    pthread_once(&worker_db_once, worker_db_init);
    sqlite3 *db = pthread_getspecific(worker_db_key);
    char err[256];
    if (db == NULL) {
        if ((db = store_open(STORE_FILE, err, sizeof err)) == NULL)
            log_warnx("event=store_error op=open error=%s", log_quote(err));
        else
            pthread_setspecific(worker_db_key, db);
    }
    return db;
}

static int open_body(sqlite3 *db, const char *qid, struct blob_reader *r, char *err, size_t len)
{
    sqlite3_stmt *st = store_prepare(db, "SELECT rowid FROM bodies WHERE message = ?");
    if (st == NULL) {
        snprintf(err, len, "store error");
        return -1;
    }
    sqlite3_bind_text(st, 1, qid, -1, SQLITE_STATIC);
    sqlite3_int64 rowid = -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        rowid = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (rowid < 0 || sqlite3_blob_open(db, "main", "bodies", "data", rowid, 0, &r->blob) != SQLITE_OK) {
        snprintf(err, len, "message body missing from the store");
        return -1;
    }
    r->size = sqlite3_blob_bytes(r->blob);
    return 0;
}

static void deliver_work(void *arg)
{
    struct delivery_job *j = arg;
    struct blob_reader r = {0};
    char err[256] = "store unavailable";
    sqlite3 *db = worker_db();
    int rc = db ? open_body(db, j->qid, &r, err, sizeof err) : -1;
    for (size_t i = 0; i < j->n; i++) {
        struct delivery_rcpt *d = &j->rcpts[i];
        if (rc < 0) {
            d->status = -1;
            str_copy(d->error, err, sizeof d->error);
            continue;
        }
        d->status = maildir_deliver(".", d->address, j->sender, blob_read, &r, d->error,
                                    sizeof d->error);
    }
    if (r.blob)
        sqlite3_blob_close(r.blob);
}

/* ---- recording the outcome (committer thread) ---- */

static int record_apply(sqlite3 *db, void *arg, char *err, size_t errlen)
{
    struct delivery_job *j = arg;
    const struct config_queue *q = &j->sch->srv->cfg->queue;
    time_t now = time(NULL);
    sqlite3_stmt *st = store_prepare(db, "UPDATE recipients SET state = ?, attempts = ?,"
                                         " next_try = ?, last_error = ?, updated = ? WHERE id = ?");
    if (st == NULL)
        return -1;
    for (size_t i = 0; i < j->n; i++) {
        struct delivery_rcpt *d = &j->rcpts[i];
        bool expired = d->status != 0 && now - j->created > (time_t)q->lifetime;
        const char *state = d->status == 0 ? "delivered" : expired ? "bounced" : "deferred";
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, (int)d->attempts + 1);
        sqlite3_bind_int64(st, 3, now + scheduler_backoff(q, d->attempts + 1));
        if (d->status == 0)
            sqlite3_bind_null(st, 4);
        else
            sqlite3_bind_text(st, 4, d->error, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, now);
        sqlite3_bind_int64(st, 6, d->id);
        if (sqlite3_step(st) != SQLITE_DONE) {
            snprintf(err, errlen, "update recipient: %s", sqlite3_errmsg(db));
            sqlite3_finalize(st);
            return -1;
        }
    }
    sqlite3_finalize(st);
    /* A message leaves the queue when no recipient is left to deliver. */
    st = store_prepare(db, "DELETE FROM messages WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM"
                           " recipients WHERE message = ?1 AND state IN ('queued','deferred','held'))");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, j->qid, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static void log_outcome(const struct delivery_job *j, const struct delivery_rcpt *d)
{
    long delay = (long)(time(NULL) - j->created);
    if (d->status == 0)
        log_info("event=delivered qid=%s rcpt=%s mailer=maildir delay=%lds", j->qid,
                 log_quote(d->address), delay);
    else
        log_info("event=deferred qid=%s rcpt=%s mailer=maildir delay=%lds attempts=%u error=%s",
                 j->qid, log_quote(d->address), delay, d->attempts + 1, log_quote(d->error));
}

static void record_done(void *arg, int status, const char *err)
{
    struct delivery_job *j = arg;
    struct scheduler *sch = j->sch;
    if (status != 0)
        log_warnx("event=store_error qid=%s op=record_delivery error=%s", j->qid, log_quote(err));
    else
        for (size_t i = 0; i < j->n; i++)
            log_outcome(j, &j->rcpts[i]);
    for (size_t i = 0; i < j->n; i++)
        inflight_del(sch, j->rcpts[i].id);
    sch->jobs--;
    job_free(j);
    scheduler_kick(sch);
}

static void deliver_done(void *arg)
{
    struct delivery_job *j = arg;
    committer_submit(j->sch->srv->committer, record_apply, record_done, j);
}

/* ---- picking due recipients (loop thread) ---- */

static struct delivery_job *job_for(struct scheduler *sch, struct delivery_job **open,
                                    sqlite3_stmt *st)
{
    const char *qid = (const char *)sqlite3_column_text(st, 1);
    for (struct delivery_job **p = open; *p; p++)
        if (strcmp((*p)->qid, qid) == 0)
            return *p;
    struct delivery_job *j = calloc(1, sizeof *j);
    if (j == NULL)
        return NULL;
    j->sch = sch;
    str_copy(j->qid, qid, sizeof j->qid);
    j->sender = strdup((const char *)sqlite3_column_text(st, 4));
    j->created = sqlite3_column_int64(st, 5);
    j->rcpts = calloc(PASS_RCPTS_MAX, sizeof *j->rcpts);
    if (j->sender == NULL || j->rcpts == NULL) {
        job_free(j);
        return NULL;
    }
    return j;
}

static void scheduler_run(evutil_socket_t fd, short what, void *arg)
{
    struct scheduler *sch = arg;
    struct delivery_job *open[PASS_JOBS_MAX + 1] = {0};
    sch->kicked = false;
    size_t n_open = 0;
    sqlite3_stmt *st = store_prepare(
        sch->srv->db,
        "SELECT r.id, r.message, r.address, r.attempts, m.sender, m.created FROM recipients r"
        " JOIN messages m ON m.id = r.message WHERE r.local = 1 AND r.state IN"
        " ('queued','deferred') AND r.next_try <= ? ORDER BY r.next_try LIMIT ?");
    if (st != NULL) {
        sqlite3_bind_int64(st, 1, time(NULL));
        sqlite3_bind_int(st, 2, PASS_RCPTS_MAX);
        while (sch->jobs + n_open < PASS_JOBS_MAX && sqlite3_step(st) == SQLITE_ROW) {
            sqlite3_int64 id = sqlite3_column_int64(st, 0);
            if (is_inflight(sch, id))
                continue;
            struct delivery_job *j = job_for(sch, open, st);
            if (j == NULL)
                break;
            if (j->n == 0)
                open[n_open++] = j;
            struct delivery_rcpt *d = &j->rcpts[j->n];
            d->id = id;
            d->address = strdup((const char *)sqlite3_column_text(st, 2));
            d->attempts = (unsigned)sqlite3_column_int(st, 3);
            if (d->address == NULL || !inflight_add(sch, id)) {
                free(d->address);
                break;
            }
            j->n++;
        }
        sqlite3_finalize(st);
    }
    for (size_t i = 0; i < n_open; i++) {
        if (open[i]->n == 0) {
            job_free(open[i]);
            continue;
        }
        sch->jobs++;
        worker_pool_submit(sch->srv->workers, deliver_work, deliver_done, open[i]);
    }
    struct timeval tv = {.tv_sec = PASS_INTERVAL_MS / 1000, .tv_usec = 0};
    evtimer_add(sch->timer, &tv);
}

struct scheduler *scheduler_new(struct smtp_server *srv)
{
    struct scheduler *sch = calloc(1, sizeof *sch);
    if (sch == NULL)
        return NULL;
    sch->srv = srv;
    sch->timer = evtimer_new(srv->base, scheduler_run, sch);
    if (sch->timer == NULL) {
        free(sch);
        return NULL;
    }
    scheduler_kick(sch);
    return sch;
}

void scheduler_kick(struct scheduler *sch)
{
    if (sch->kicked)
        return;
    struct timeval soon = {0, PASS_KICK_MS * 1000};
    evtimer_add(sch->timer, &soon);
    sch->kicked = true;
}

unsigned scheduler_busy(const struct scheduler *sch)
{
    return sch->jobs;
}

void scheduler_free(struct scheduler *sch)
{
    if (sch == NULL)
        return;
    event_free(sch->timer);
    free(sch->inflight);
    free(sch);
}
