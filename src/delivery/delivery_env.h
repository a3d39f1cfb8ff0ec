/* delivery/delivery_env - what the delivery room is given by the process
 * that runs it (daemon/): the event loop, the current config, the
 * committer, the worker threads, and the admin's pause of outbound mail.
 * Narrow on purpose: delivery never sees the daemon's context or the SMTP
 * server's, only these. */
#ifndef FLOODGATE_DELIVERY_DELIVERY_ENV_H
#define FLOODGATE_DELIVERY_DELIVERY_ENV_H

#include <event2/event.h>
#include <stdbool.h>

#include "core/config.h"
#include "core/workers.h"
#include "store/committer.h"

struct delivery_env {
    struct event_base *base;
    /* the daemon's current config, read through the pointer each time: a
     * reload (SIGHUP) swaps *cfg, and each job takes a reference to the
     * one it started with (config_ref) */
    struct config *const *cfg;
    struct committer *committer; /* records outcomes and DSNs */
    struct worker_pool *workers; /* local delivery, body copy and DKIM */
    /* paused(ARG, WHAT): did the admin pause WHAT ("delivery",
     * queue/pause_state.h)?  From the loop's memory, never the store. */
    bool (*paused)(void *arg, const char *what);
    void *arg;
};

#endif
