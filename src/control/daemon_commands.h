/* control/daemon_commands - the commands the daemon answers on its control
 * socket: status, the queue listings, kicks and state reloads, live
 * sessions, incidents closed, reload.  The control room is below the
 * daemon: the process hands it what the commands reach, in a
 * struct daemon_commands_env, never its own context. */
#ifndef FLOODGATE_CONTROL_DAEMON_COMMANDS_H
#define FLOODGATE_CONTROL_DAEMON_COMMANDS_H

#include <time.h>

#include "control/control.h"
#include "control/reputation_watch.h"
#include "delivery/scheduler.h"
#include "policy/engine.h"
#include "smtp/outbreak.h"
#include "smtp/server.h"
#include "store/committer.h"

/* What the commands act on; the daemon keeps it alive while the control
 * socket serves. */
struct daemon_commands_env {
    struct smtp_server *smtp;            /* the sessions' counters, the pauses */
    struct committer *committer;         /* the store's health and figures */
    struct scheduler *scheduler;         /* kicked when floodctl changed the queue */
    struct policy *policy;               /* bans, counters, live sessions */
    struct outbreak *outbreak;           /* the detector */
    struct reputation_watch *reputation; /* the blocklist watch, or NULL */
    time_t started;                      /* for the uptime */
};

/* daemon_commands_register - the daemon's commands on CTL, acting on ENV. */
void daemon_commands_register(struct control_server *ctl, struct daemon_commands_env *env);

/* A reload of the config file: 0, or -1 with the reason in ERR (the old
 * config stays). */
typedef int (*daemon_reload_fn)(void *arg, char *err, size_t errlen);
/* daemon_commands_register_reload - the "reload" command calls FN(ARG):
 * the daemon owns the reload (it swaps the config, the TLS context and the
 * listeners' settings), the control room only carries the request. */
void daemon_commands_register_reload(struct control_server *ctl, daemon_reload_fn fn, void *arg);

#endif
