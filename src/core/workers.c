/* core/workers - thread pool with completions delivered to the event loop.
 *
 * Completions are queued under a mutex and a single libevent event is made
 * active (event_active is thread-safe once evthread_use_pthreads() ran), so
 * the loop drains many completions per wake-up. */
#include "core/workers.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "core/log.h"
#include "core/util.h"

struct job {
    worker_fn work;
    worker_fn done;
    void *arg;
    struct job *next;
};

struct job_list {
    struct job *head, *tail;
};

struct worker_pool {
    struct event_base *base;
    struct event *wake;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct job_list todo;
    struct job_list done;
    bool stopping;
    int nthreads;
    pthread_t *threads;
};

static void list_push(struct job_list *l, struct job *j)
{
    j->next = NULL;
    if (l->tail)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
}

static struct job *list_take_all(struct job_list *l)
{
    struct job *j = l->head;
    l->head = l->tail = NULL;
    return j;
}

/* run_done - drain completions on the loop thread. */
static void run_done(evutil_socket_t fd, short what, void *arg)
{
    struct worker_pool *pool = arg;
    pthread_mutex_lock(&pool->lock);
    struct job *j = list_take_all(&pool->done);
    pthread_mutex_unlock(&pool->lock);
    while (j) {
        struct job *next = j->next;
        if (j->done)
            j->done(j->arg);
        free(j);
        j = next;
    }
}

static void *worker_main(void *arg)
{
    struct worker_pool *pool = arg;
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        while (pool->todo.head == NULL && !pool->stopping)
            pthread_cond_wait(&pool->cond, &pool->lock);
        struct job *j = pool->todo.head;
        if (j == NULL)
            break; /* stopping and nothing left */
        pool->todo.head = j->next;
        if (pool->todo.head == NULL)
            pool->todo.tail = NULL;
        pthread_mutex_unlock(&pool->lock);
        j->work(j->arg);
        pthread_mutex_lock(&pool->lock);
        list_push(&pool->done, j);
        event_active(pool->wake, EV_READ, 0);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

struct worker_pool *worker_pool_new(struct event_base *base, int nthreads, const char *name)
{
    struct worker_pool *pool = calloc(1, sizeof *pool);
    if (pool == NULL)
        return NULL;
    pool->base = base;
    pool->nthreads = nthreads;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->cond, NULL);
    pool->wake = event_new(base, -1, 0, run_done, pool);
    pool->threads = calloc((size_t)nthreads, sizeof *pool->threads);
    if (pool->wake == NULL || pool->threads == NULL)
        fatal("event=workers_init error=out_of_memory");
    for (int i = 0; i < nthreads; i++) {
        if (pthread_create(&pool->threads[i], NULL, worker_main, pool) != 0)
            fatal("event=workers_init error=pthread_create");
        thread_name(pool->threads[i], name);
    }
    return pool;
}

void worker_pool_drain(struct worker_pool *pool)
{
    if (pool == NULL || pool->nthreads == 0)
        return;
    pthread_mutex_lock(&pool->lock);
    pool->stopping = true;
    pthread_cond_broadcast(&pool->cond);
    pthread_mutex_unlock(&pool->lock);
    for (int i = 0; i < pool->nthreads; i++)
        pthread_join(pool->threads[i], NULL);
    pool->nthreads = 0;
    run_done(-1, 0, pool);
}

void worker_pool_free(struct worker_pool *pool)
{
    if (pool == NULL)
        return;
    worker_pool_drain(pool);
    while (pool->done.head) /* a done callback may post another */
        run_done(-1, 0, pool);
    event_free(pool->wake);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->cond);
    free(pool->threads);
    free(pool);
}

static struct job *job_new(worker_fn work, worker_fn done, void *arg)
{
    struct job *j = malloc(sizeof *j);
    if (j == NULL)
        fatal("event=workers_submit error=out_of_memory");
    j->work = work;
    j->done = done;
    j->arg = arg;
    return j;
}

void worker_pool_submit(struct worker_pool *pool, worker_fn work, worker_fn done, void *arg)
{
    struct job *j = job_new(work, done, arg);
    if (pool->nthreads == 0) { /* drained (shutdown): run it here, answer as usual */
        work(arg);
        j->work = NULL;
    }
    pthread_mutex_lock(&pool->lock);
    if (j->work) {
        list_push(&pool->todo, j);
        pthread_cond_signal(&pool->cond);
    } else {
        list_push(&pool->done, j);
        event_active(pool->wake, EV_READ, 0);
    }
    pthread_mutex_unlock(&pool->lock);
}

void worker_pool_post(struct worker_pool *pool, worker_fn done, void *arg)
{
    struct job *j = job_new(NULL, done, arg);
    pthread_mutex_lock(&pool->lock);
    list_push(&pool->done, j);
    event_active(pool->wake, EV_READ, 0);
    pthread_mutex_unlock(&pool->lock);
}
