/* daemon/daemon_internal - the daemon's context and the functions its
 * files share (start-up and shutdown in daemon.c, signals and the drain in
 * signals.c, reload in reload.c, detaching in detach.c).  Private to the
 * daemon room. */
#ifndef FLOODGATE_DAEMON_DAEMON_INTERNAL_H
#define FLOODGATE_DAEMON_DAEMON_INTERNAL_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "control/control.h"
#include "control/daemon_commands.h"
#include "control/login_service.h"
#include "control/monitor.h"
#include "control/web.h"
#include "core/config.h"
#include "core/workers.h"
#include "delivery/scheduler.h"
#include "policy/engine.h"
#include "queue/housekeeping.h"
#include "smtp/listener.h"
#include "smtp/outbreak.h"
#include "smtp/server.h"
#include "store/committer.h"
#include "store/store.h"

/* struct daemon - the process.  It owns every long-lived part and frees
 * them in stop()'s order; the SMTP server (smtp) borrows the shared ones
 * (loop, config, store, workers, committer, policy, scheduler) and owns
 * what only sessions use. */
struct daemon {
    struct event_base *base;
    struct config *cfg; /* current: this reference is the daemon's; sessions
                         * and jobs hold their own to the one they started with */
    time_t started;
    store_db *db; /* the loop's connection */
    struct worker_pool *workers;
    struct committer *committer; /* the store's single writer */
    struct policy *policy;       /* the decision engine: bans, limits, live sessions */
    struct outbreak *outbreak;   /* the detector and its incidents */
    struct scheduler *scheduler;
    struct housekeeping *housekeeping;
    struct smtp_server smtp; /* the protocol server */
    struct listener *listeners;
    struct control_server *control;
    struct daemon_commands_env commands; /* what the control commands reach */
    struct web_server *web;              /* NULL unless the config has a web section */
    struct monitor *monitor;             /* floodctl monitor's figures */
    struct login_service *logins;        /* login.check: IMAP logins through Dovecot */
    struct reputation_watch *reputation; /* the blocklist watch thread */
    bool stopping;                       /* SIGTERM seen: shutting down */
    struct event *sig_hup, *sig_usr1, *sig_term, *sig_int, *drain_timer;
    uint64_t shutdown_deadline; /* monotonic ms: SIGTERM + shutdown_timeout */
};

/* daemon_uses_tls - does any listener of CFG speak TLS? */
bool daemon_uses_tls(const struct config *cfg);
/* daemon_log_warnings - CFG's warnings, one log line each. */
void daemon_log_warnings(const struct config *cfg);

/* daemon_install_signals - SIGHUP, SIGUSR1, SIGTERM and SIGINT through
 * D's loop (signals.c). */
void daemon_install_signals(struct daemon *d);
/* daemon_free_signals - the signal events and the drain timer. */
void daemon_free_signals(struct daemon *d);

/* daemon_reload - SIGHUP and "floodctl reload": read the config file
 * again and switch to it, or keep the running one, log why and say it in
 * ERR (reload.c). */
int daemon_reload(struct daemon *d, char *err, size_t errlen);

/* daemon_detach - without -d: fork, and let the parent wait until the
 * child serves or fails (detach.c). */
void daemon_detach(void);
/* daemon_ready - the server serves: the waiting parent may exit 0. */
void daemon_ready(void);

#endif
