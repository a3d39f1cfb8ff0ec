/* daemon/signals - the daemon's signals, through the event loop: SIGHUP
 * reloads the config, SIGUSR1 reopens the log file (logrotate moved it
 * away), SIGTERM and SIGINT begin the shutdown, which drains the sessions
 * and deliveries for at most shutdown_timeout before the loop ends. */
#include <signal.h>
#include <systemd/sd-daemon.h>

#include "core/log.h"
#include "core/util.h"
#include "daemon/daemon_internal.h"
#include "delivery/dns.h"
#include "smtp/session.h"

#define DRAIN_CHECK_USEC 50000

/* drain_check - every 50 ms after SIGTERM: leave the loop once the last
 * session is gone and no delivery runs, or when shutdown_timeout is over,
 * whatever the clients and remote servers do. */
static void drain_check(evutil_socket_t fd, short what, void *arg)
{
    struct daemon *d = arg;
    unsigned deliveries = scheduler_busy(d->scheduler);
    if (d->smtp.connections == 0 && deliveries == 0) {
        event_base_loopexit(d->base, NULL);
        return;
    }
    if (now_ms() >= d->shutdown_deadline) {
        /* A message not yet answered stays the client's; a delivery cut
         * short stays queued and is tried again after the restart. */
        log_warnx("event=stop_timeout seconds=%u sessions=%u deliveries=%u",
                  d->cfg->shutdown_timeout, d->smtp.connections, deliveries);
        smtp_session_abort_all(&d->smtp);
        event_base_loopexit(d->base, NULL);
        return;
    }
    struct timeval tv = {0, DRAIN_CHECK_USEC};
    evtimer_add(d->drain_timer, &tv);
}

/* shutdown_begin - SIGTERM, in this order: stop accepting, end the
 * sessions (421; a message in the store's hands is answered first), stop
 * starting deliveries, and wait for them, at most shutdown_timeout.  After
 * the loop, daemon.c's stop() drains the workers, the committer, and
 * closes the store. */
static void shutdown_begin(struct daemon *d)
{
    if (d->stopping)
        return;
    log_info("event=stop connections=%u", d->smtp.connections);
    sd_notify(0, "STOPPING=1");
    d->stopping = true;
    d->smtp.stopping = true; /* no new sessions */
    d->shutdown_deadline = now_ms() + (uint64_t)d->cfg->shutdown_timeout * 1000;
    listeners_close(d->listeners);
    d->listeners = NULL;
    smtp_session_shutdown_all(&d->smtp);
    dns_cancel(d->smtp.dns); /* sessions waiting on DNS end now */
    scheduler_pause(d->scheduler);
    d->drain_timer = evtimer_new(d->base, drain_check, d);
    drain_check(-1, 0, d);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct daemon *d = arg;
    char err[1024];
    if (sig == SIGHUP)
        daemon_reload(d, err, sizeof err);
    else if (sig == SIGUSR1)
        log_reopen(); /* logrotate moved the file away */
    else
        shutdown_begin(d);
}

/* daemon_install_signals - before any listener or the control socket
 * exists: a client (or a test) that sees the daemon listening may signal
 * it at once, and a SIGHUP met by the default action would kill the
 * daemon without a word. */
void daemon_install_signals(struct daemon *d)
{
    signal(SIGPIPE, SIG_IGN);
    d->sig_hup = evsignal_new(d->base, SIGHUP, on_signal, d);
    d->sig_usr1 = evsignal_new(d->base, SIGUSR1, on_signal, d);
    d->sig_term = evsignal_new(d->base, SIGTERM, on_signal, d);
    d->sig_int = evsignal_new(d->base, SIGINT, on_signal, d);
    evsignal_add(d->sig_hup, NULL);
    evsignal_add(d->sig_usr1, NULL);
    evsignal_add(d->sig_term, NULL);
    evsignal_add(d->sig_int, NULL);
}

/* daemon_free_signals - after the loop. */
void daemon_free_signals(struct daemon *d)
{
    event_free(d->sig_hup);
    event_free(d->sig_usr1);
    event_free(d->sig_term);
    event_free(d->sig_int);
    if (d->drain_timer)
        event_free(d->drain_timer);
}
