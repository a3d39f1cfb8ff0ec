/* delivery/remote - deliver a job to another domain's MX (or to the
 * smarthost): copy the body out of the store and DKIM-sign it on a worker,
 * route through DNS, try the MX hosts in order, speak SMTP, and keep the
 * connection a moment for the next message to the same place. */
#ifndef FLOODGATE_DELIVERY_REMOTE_H
#define FLOODGATE_DELIVERY_REMOTE_H

#include <stdbool.h>
#include <stddef.h>

#include "delivery/delivery_env.h"
#include "delivery/delivery_job.h"

struct remote;

typedef void (*remote_done_fn)(struct delivery_job *job);

/* remote_new - the remote agent on ENV (copied), with its DNS resolver
 * (the config's dns.servers) and client TLS context; NULL and ERR. */
struct remote *remote_new(const struct delivery_env *env, char *err, size_t errlen);
void remote_free(struct remote *rm);

/* remote_has_room - may another job start now, within
 * delivery.max_connections? */
bool remote_has_room(const struct remote *rm);
/* remote_deliver - run JOB; every recipient ends with an outcome and
 * DONE(JOB) runs on the loop. */
void remote_deliver(struct remote *rm, struct delivery_job *job, remote_done_fn done);
/* remote_busy - jobs running, plus connections still saying goodbye. */
unsigned remote_busy(const struct remote *rm);
/* remote_wind_down - shutdown: QUIT every idle connection, and cancel
 * the DNS lookups in flight (their jobs are deferred). */
void remote_wind_down(struct remote *rm);

#endif
