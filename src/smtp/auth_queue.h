/* smtp/auth_queue - password checks queued fairly per client IP.  Each
 * check burns tens of milliseconds of argon2id on a worker; a botnet host
 * with 200 connections guessing must not put 200 checks ahead of the
 * legitimate client that logs in next.  Checks are started round-robin
 * over the client IPs that have one waiting, at most SLOTS at a time, so a
 * client waits for about one check per other IP, however many its
 * neighbour queued.  On the event loop. */
#ifndef FLOODGATE_SMTP_AUTH_QUEUE_H
#define FLOODGATE_SMTP_AUTH_QUEUE_H

#include "core/workers.h"

struct auth_queue;

struct auth_queue *auth_queue_new(struct worker_pool *pool, unsigned slots);
/* auth_queue_stop - start no more checks (shutdown: the pool is going). */
void auth_queue_stop(struct auth_queue *q);
/* auth_queue_free - checks still waiting are forgotten. */
void auth_queue_free(struct auth_queue *q);

/* auth_queue_submit - run WORK(ARG) on a worker in IP's turn, then DONE(ARG)
 * on the loop. */
void auth_queue_submit(struct auth_queue *q, const char *ip, worker_fn work, worker_fn done,
                       void *arg);
/* auth_queue_drop - IP was banned: its checks not started yet are taken
 * out and DROPPED(ARG) runs for each, now, instead of WORK and DONE. */
void auth_queue_drop(struct auth_queue *q, const char *ip, worker_fn dropped);
/* auth_queue_drop_all - shutdown: every check not started yet is taken out
 * and DROPPED(ARG) runs for each, now. */
void auth_queue_drop_all(struct auth_queue *q, worker_fn dropped);

#endif
