/* smtp/auth_queue - fair queueing of password checks per client IP (room:
 * smtp).  A ring of the IPs with checks waiting, each with its own FIFO;
 * a free slot takes the first check of the IP at the head of the ring and
 * moves that IP to the tail. */
#include "smtp/auth_queue.h"

#include <stdlib.h>

#include "core/log.h"
#include "core/strmap.h"
#include "core/util.h"

struct check {
    struct check *next;
    struct auth_queue *q;
    worker_fn work, done;
    void *arg;
};

struct ip_queue {
    struct ip_queue *next_in_ring;
    struct check *head, *tail;
    char ip[64];
};

struct auth_queue {
    struct worker_pool *pool;
    unsigned slots, running;
    struct strmap *waiting;            /* ip -> struct ip_queue with checks waiting */
    struct ip_queue *ring, *ring_tail; /* the same, in turn order */
};

struct auth_queue *auth_queue_new(struct worker_pool *pool, unsigned slots)
{
    struct auth_queue *q = calloc(1, sizeof *q);
    if (q == NULL || (q->waiting = strmap_new()) == NULL) {
        free(q);
        return NULL;
    }
    q->pool = pool;
    q->slots = slots ? slots : 1;
    return q;
}

void auth_queue_stop(struct auth_queue *q)
{
    q->slots = 0;
}

static void free_ip_queue(void *v)
{
    struct ip_queue *iq = v;
    for (struct check *c = iq->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(iq);
}

void auth_queue_free(struct auth_queue *q)
{
    if (q == NULL)
        return;
    strmap_free(q->waiting, free_ip_queue);
    free(q);
}

static void pump(struct auth_queue *q);

static void check_work(void *arg)
{
    struct check *c = arg;
    c->work(c->arg);
}

static void check_done(void *arg)
{
    struct check *c = arg;
    struct auth_queue *q = c->q;
    q->running--;
    c->done(c->arg);
    free(c);
    pump(q);
}

/* pump - start waiting checks while slots are free, one IP at a time. */
static void pump(struct auth_queue *q)
{
    while (q->running < q->slots && q->ring) {
        struct ip_queue *iq = q->ring;
        struct check *c = iq->head;
        q->ring = iq->next_in_ring;
        if (q->ring == NULL)
            q->ring_tail = NULL;
        iq->next_in_ring = NULL;
        if ((iq->head = c->next) == NULL) {
            free(strmap_del(q->waiting, iq->ip));
        } else if (q->ring_tail) { /* its next check waits for the others' turn */
            q->ring_tail->next_in_ring = iq;
            q->ring_tail = iq;
        } else {
            q->ring = q->ring_tail = iq;
        }
        q->running++;
        worker_pool_submit(q->pool, check_work, check_done, c);
    }
}

void auth_queue_submit(struct auth_queue *q, const char *ip, worker_fn work, worker_fn done,
                       void *arg)
{
    struct check *c = calloc(1, sizeof *c);
    struct ip_queue *iq = strmap_get(q->waiting, ip);
    if (c && iq == NULL && (iq = calloc(1, sizeof *iq)) != NULL) {
        str_copy(iq->ip, ip, sizeof iq->ip);
        if (strmap_put(q->waiting, ip, iq, NULL) < 0) {
            free(iq);
            iq = NULL;
        } else if (q->ring_tail) {
            q->ring_tail->next_in_ring = iq;
            q->ring_tail = iq;
        } else {
            q->ring = q->ring_tail = iq;
        }
    }
    if (c == NULL || iq == NULL) { /* out of memory: no fairness, but the check runs */
        log_warnx("event=auth_queue_error error=out_of_memory ip=%s", ip);
        free(c);
        worker_pool_submit(q->pool, work, done, arg);
        return;
    }
    *c = (struct check){.q = q, .work = work, .done = done, .arg = arg};
    if (iq->tail)
        iq->tail->next = c;
    else
        iq->head = c;
    iq->tail = c;
    pump(q);
}

void auth_queue_drop_all(struct auth_queue *q, worker_fn dropped)
{
    while (q->ring) {
        char ip[sizeof q->ring->ip];
        snprintf(ip, sizeof ip, "%s", q->ring->ip); /* freed by the drop */
        auth_queue_drop(q, ip, dropped);
    }
}

void auth_queue_drop(struct auth_queue *q, const char *ip, worker_fn dropped)
{
    struct ip_queue *iq = strmap_del(q->waiting, ip);
    if (iq == NULL)
        return;
    q->ring_tail = NULL;
    /* unlink it from the ring, finding the new tail on the way */
    for (struct ip_queue **p = &q->ring; *p;) {
        if (*p == iq) {
            *p = iq->next_in_ring;
            continue;
        }
        q->ring_tail = *p;
        p = &(*p)->next_in_ring;
    }
    for (struct check *c = iq->head, *next; c; c = next) {
        next = c->next;
        dropped(c->arg);
        free(c);
    }
    free(iq);
}
