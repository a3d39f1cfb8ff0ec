/* queue/committer - the store's single writer and its group commit.
 *
 * Durability argument: a job's done callback is posted only after
 * sqlite3_exec("COMMIT") returned SQLITE_OK on a connection opened with
 * synchronous=FULL in WAL mode, i.e. after the WAL was fsync'd.  Whatever the
 * SMTP server acknowledges from that callback survives kill -9 and a power
 * cut.  If the commit fails, every job of the batch is told so and the client
 * gets a 4xx: the sender keeps responsibility for the message. */
#include "queue/committer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "queue/store.h"

struct commit_job {
    committer_apply_fn apply;
    committer_done_fn done;
    void *arg;
    int status;
    char err[COMMITTER_ERR_MAX];
    struct commit_job *next;
};

struct committer {
    sqlite3 *db;
    struct worker_pool *loop;
    unsigned max_batch;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct commit_job *head, *tail;
    bool stopping;
    atomic_ulong commits;
    atomic_ulong jobs;
};

/* job_finish - on the loop thread: tell the submitter, free the job. */
static void job_finish(void *arg)
{
    struct commit_job *j = arg;
    j->done(j->arg, j->status, j->err);
    free(j);
}

/* take_batch - up to max_batch jobs off the queue, waiting for one. */
static struct commit_job *take_batch(struct committer *c)
{
    pthread_mutex_lock(&c->lock);
    while (c->head == NULL && !c->stopping)
        pthread_cond_wait(&c->cond, &c->lock);
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

static void apply_one(struct committer *c, struct commit_job *j)
{
    char why[COMMITTER_ERR_MAX];
    store_exec(c->db, "SAVEPOINT job", why, sizeof why);
    j->status = j->apply(c->db, j->arg, j->err, sizeof j->err);
    if (j->status != 0)
        store_exec(c->db, "ROLLBACK TO job", why, sizeof why);
    store_exec(c->db, "RELEASE job", why, sizeof why);
}

static void run_batch(struct committer *c, struct commit_job *batch)
{
    char why[COMMITTER_ERR_MAX] = "";
    int rc = store_exec(c->db, "BEGIN IMMEDIATE", why, sizeof why);
    for (struct commit_job *j = batch; j; j = j->next) {
        if (rc == 0)
            apply_one(c, j);
    }
    if (rc == 0 && (rc = store_exec(c->db, "COMMIT", why, sizeof why)) != 0)
        store_exec(c->db, "ROLLBACK", (char[COMMITTER_ERR_MAX]){0}, COMMITTER_ERR_MAX);
    if (rc != 0)
        log_warnx("event=store_error op=commit error=%s", log_quote(why));
    unsigned long n = 0;
    for (struct commit_job *j = batch, *next; j; j = next) {
        next = j->next;
        if (rc != 0) {
            j->status = -1;
            snprintf(j->err, sizeof j->err, "store commit failed: %.200s", why);
        }
        n++;
        worker_pool_post(c->loop, job_finish, j);
    }
    c->commits++;
    c->jobs += n;
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
    if ((c->db = store_open(store_path, err, errlen)) == NULL) {
        free(c);
        return NULL;
    }
    c->loop = loop;
    c->max_batch = max_batch ? max_batch : 64;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    if (pthread_create(&c->thread, NULL, committer_main, c) != 0) {
        snprintf(err, errlen, "cannot start the committer thread");
        store_close(c->db);
        free(c);
        return NULL;
    }
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
    store_close(c->db);
    pthread_mutex_destroy(&c->lock);
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
