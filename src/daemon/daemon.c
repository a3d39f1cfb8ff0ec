/* daemon/daemon - the process's start-up and shutdown, in the order that
 * keeps every acknowledged message safe (see daemon.h and docs/design.md,
 * "Start-up and shutdown").  Started as root, the daemon binds its ports
 * first and then drops to the configured user, under umask 077. */
#include "daemon/daemon.h"

#include <errno.h>
#include <event2/thread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "accounts/accounts.h"
#include "accounts/login_cache.h"
#include "core/log.h"
#include "core/private_state.h"
#include "core/privs.h"
#include "control/web_auth.h"
#include "daemon/daemon_internal.h"
#include "delivery/dns.h"
#include "policy/inbound.h"
#include "queue/pause_state.h"
#include "smtp/auth_queue.h"
#include "smtp/session.h"
#include "smtp/tls.h"
#include "store/ban_state.h"
#include "store/store_check.h"

#define WORKER_THREADS 2
#define LOOKUP_THREADS 2
#define CHECK_THREADS 4 /* the inbound checks: mostly waiting on the DNS */

bool daemon_uses_tls(const struct config *cfg)
{
    for (size_t i = 0; i < cfg->n_listeners; i++)
        if (cfg->listeners[i].tls != TLS_MODE_NONE)
            return true;
    return false;
}

void daemon_log_warnings(const struct config *cfg)
{
    for (size_t i = 0; i < cfg->n_warnings; i++)
        log_warnx("event=config_warning warning=%s", log_quote(cfg->warnings[i]));
}

/* Seconds after the start before the blocklist watch's first round: the
 * daemon serves by then, and a restart loop does not hammer the lists. */
#define REPUTATION_FIRST_DELAY 2

/* prepare_state_dir - create the state dir, private: it holds the store
 * (password hashes, TOTP secrets, mail), DKIM keys and the Maildirs. */
static void prepare_state_dir(const char *dir)
{
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        fatal("event=start error=%s", log_quote("cannot create state_dir"));
}

static void write_pidfile(void)
{
    FILE *fp = fopen("floodgated.pid", "w");
    if (fp) {
        fprintf(fp, "%d\n", (int)getpid());
        fclose(fp);
    }
}

/* open_store - refuse a store that was lost or damaged (store_guard), else
 * open it, creating it in a brand-new state dir, and keep its marker. */
static store_db *open_store(const char *state_dir)
{
    char err[1024];
    if (store_guard(state_dir, STORE_FILE, true, err, sizeof err) == STORE_REFUSED) {
        /* two values, each under log_quote's limit, so the line keeps both */
        fatal("event=start error=store_refused reason=%s help=%s", log_quote(err),
              log_quote("restore store.db from a backup, or run 'floodctl store init --force' "
                        "to start empty on purpose (docs/admin-guide.md)"));
    }
    store_db *db = store_open(STORE_FILE, err, sizeof err);
    if (db == NULL)
        fatal("event=start error=%s", log_quote(err));
    if (store_mark(db, state_dir, err, sizeof err) < 0)
        fatal("event=start error=%s", log_quote(err));
    return db;
}

/* delivery_paused - the scheduler's view of the admin's pauses: the SMTP
 * server's copy in the loop's memory (delivery_env.paused). */
static bool delivery_paused(void *arg, const char *what)
{
    return server_paused(arg, what);
}

/* reload_command - the control socket's "reload" (daemon_commands.h). */
static int reload_command(void *arg, char *err, size_t errlen)
{
    return daemon_reload(arg, err, errlen);
}

/* start_network - the state dir, detaching, the signals, the log, TLS and
 * the listening sockets: everything done as root, before the privileges
 * go (ports below 1024, a key only root reads). */
static void start_network(struct daemon *d, bool foreground)
{
    struct config *cfg = d->cfg;
    char err[1024];
    prepare_state_dir(cfg->state_dir);
    if (!foreground) {
        daemon_detach();
        event_reinit(d->base);
    }
    daemon_install_signals(d);
    const char *where;
    if (log_open_daemon("floodgated", cfg->log_file, cfg->syslog_socket, foreground, &where) < 0)
        fatal("event=start error=%s log=%s help=%s", log_quote(strerror(errno)), where,
              log_quote(strcmp(where, "syslog") == 0
                            ? "no syslog daemon listens on syslog_socket: start one, or set "
                              "log_file (floodgate.conf(5))"
                            : "cannot open log_file"));
    daemon_log_warnings(cfg);
    /* what an older version, a restore or a cp left readable by others */
    if (private_state_narrow(cfg->state_dir, cfg->log_file) < 0)
        fatal("event=start error=%s", log_quote("cannot read state_dir"));
    if (daemon_uses_tls(cfg) && (d->smtp.ssl_ctx = tls_server_ctx(
                                     cfg->tls_certificate, cfg->tls_key, err, sizeof err)) == NULL)
        fatal("event=start error=%s", log_quote(err));
    if ((d->listeners = listeners_open(&d->smtp, err, sizeof err)) == NULL)
        fatal("event=start error=%s", log_quote(err));
    d->web = web_prepare(cfg, err, sizeof err); /* binds: before the privileges go */
    if (d->web == NULL && err[0])
        fatal("event=start error=%s", log_quote(err));
}

/* drop_privileges - into state_dir, then the configured user. */
static void drop_privileges(struct daemon *d)
{
    char err[1024];
    char *state_dir = realpath(d->cfg->state_dir, NULL); /* the messages name the real place */
    if (state_dir == NULL || chdir(d->cfg->state_dir) < 0)
        fatal("event=start error=%s", log_quote("cannot enter state_dir"));
    if (privs_drop(d->cfg->user, ".", err, sizeof err) < 0)
        fatal("event=start error=%s", log_quote(err));
    d->db = open_store(state_dir);
    free(state_dir);
}

/* start_store - the workers, the committer, and what the store keeps
 * across a restart: pauses, bans, the detector's state. */
static void start_store(struct daemon *d)
{
    struct smtp_server *srv = &d->smtp;
    char err[1024];
    srv->db = d->db;
    write_pidfile();
    d->workers = srv->workers = worker_pool_new(d->base, WORKER_THREADS, "fg-worker");
    /* the sessions' store reads have threads of their own: an RCPT never
     * waits behind a Maildir delivery or an argon2 check (docs/design.md) */
    srv->lookups = worker_pool_new(d->base, LOOKUP_THREADS, "fg-lookup");
    srv->checks = worker_pool_new(d->base, CHECK_THREADS, "fg-checks");
    srv->auth_queue = auth_queue_new(d->workers, WORKER_THREADS);
    srv->logins = login_cache_new();
    if (srv->auth_queue == NULL || srv->logins == NULL)
        fatal("event=start error=out_of_memory");
    d->committer =
        committer_start(STORE_FILE, d->workers, d->cfg->queue.group_commit_max, err, sizeof err);
    if (d->committer == NULL)
        fatal("event=start error=%s", log_quote(err));
    srv->committer = d->committer;
    /* Read before the loop serves (the loop itself never reads the store):
     * pauses and bans survive a restart. */
    server_set_pauses(srv, pause_list(d->db));
    struct policy_env penv = {.base = d->base, .cfg = d->cfg, .committer = d->committer};
    if ((d->policy = srv->policy = policy_new(&penv)) == NULL)
        fatal("event=start error=out_of_memory");
    json_t *bans = ban_state_list(d->db, time(NULL), 1);
    policy_set_bans(d->policy, bans);
    json_decref(bans);
    /* and the local domains, which MAIL and RCPT consult on the loop */
    json_t *domains = accounts_domain_names(d->db);
    policy_set_local_domains(d->policy, domains);
    json_decref(domains);
    smtp_session_register(srv); /* the engine's hands on live sessions */
    /* and the detector's windows, baselines and open incidents */
    if ((d->outbreak = outbreak_new(srv)) == NULL || outbreak_plug(d->outbreak, srv) < 0)
        fatal("event=start error=out_of_memory");
}

/* start_services - DNS, delivery, housekeeping, the control socket and
 * the web server. */
static void start_services(struct daemon *d)
{
    struct smtp_server *srv = &d->smtp;
    const struct config *cfg = d->cfg;
    char err[1024];
    srv->dns = dns_resolver_new(d->base, cfg->dns_servers, cfg->n_dns_servers, err, sizeof err);
    if (srv->dns == NULL)
        fatal("event=start error=%s", log_quote(err));
    inbound_configure(cfg); /* DMARC's Public Suffix List, before any mail */
    struct delivery_env denv = {.base = d->base,
                                .cfg = &d->cfg,
                                .committer = d->committer,
                                .workers = d->workers,
                                .paused = delivery_paused,
                                .arg = srv};
    if ((d->scheduler = srv->scheduler = scheduler_new(&denv)) == NULL)
        fatal("event=start error=out_of_memory");
    scheduler_set_outcome_hook(d->scheduler, outbreak_outcome, d->outbreak);
    if ((d->housekeeping = housekeeping_start(d->base, d->workers, &d->cfg)) == NULL)
        fatal("event=start error=out_of_memory");
    if ((d->control = control_server_start(d->base, CONTROL_SOCKET, err, sizeof err)) == NULL)
        fatal("event=start error=%s", log_quote(err));
    d->commands = (struct daemon_commands_env){.smtp = srv,
                                               .committer = d->committer,
                                               .scheduler = d->scheduler,
                                               .policy = d->policy,
                                               .outbreak = d->outbreak,
                                               .started = d->started};
    /* the blocklist watch: its first round a few seconds after the start */
    d->reputation =
        reputation_watch_start(d->cfg, REPUTATION_FIRST_DELAY, outbreak_hooks(d->outbreak));
    d->commands.reputation = d->reputation;
    daemon_commands_register(d->control, &d->commands);
    daemon_commands_register_reload(d->control, reload_command, d);
    web_auth_register(d->control, d->policy);
    struct monitor_env menv = {.base = d->base,
                               .policy = d->policy,
                               .outbreak = d->outbreak,
                               .accepted = &srv->messages_accepted,
                               .connections = &srv->connections};
    if ((d->monitor = monitor_start(d->control, &menv)) == NULL)
        fatal("event=start error=out_of_memory");
    if ((d->logins = login_service_start(d->control, srv, d->workers)) == NULL)
        fatal("event=start error=out_of_memory");
    if (d->web && web_start(d->web, CONTROL_SOCKET, err, sizeof err) < 0)
        fatal("event=start error=%s", log_quote(err));
    if (d->web)
        log_info("event=web_listening address=%s tls=%s", log_quote(cfg->web.address),
                 cfg->web.tls == WEB_TLS_IMPLICIT ? "implicit" : "none");
}

/* stop - after the loop.  Work still on a worker may commit when it is
 * done, and what the committer finishes is answered through the workers'
 * done queue: so the workers drain first, then the committer, then the
 * last answers run, and only then do sessions, the scheduler and the store
 * go. */
static void stop(struct daemon *d)
{
    struct smtp_server *srv = &d->smtp;
    store_allow_thread(); /* the loop is over: what shutdown reads is no one's wait */
    reputation_watch_stop(d->reputation); /* it may be injecting an alert: before the store */
    auth_queue_stop(srv->auth_queue);
    /* IMAP logins not checked yet: answered (temporary failure), none starts */
    login_service_stop(d->logins);
    worker_pool_drain(srv->lookups); /* their answers may hand messages to the committer */
    worker_pool_drain(srv->checks);
    worker_pool_drain(d->workers);
    outbreak_save_now(d->outbreak); /* a restart is no fresh hour */
    committer_stop(d->committer);
    worker_pool_free(d->workers); /* the committer's last answers */
    worker_pool_free(srv->lookups);
    worker_pool_free(srv->checks);
    smtp_session_abort_all(srv); /* any left after shutdown_timeout */
    auth_queue_free(srv->auth_queue);
    login_cache_free(srv->logins);
    housekeeping_free(d->housekeeping);
    outbreak_free(d->outbreak);
    policy_free(d->policy);
    dns_resolver_free(srv->dns);
    scheduler_free(d->scheduler);
    /* after the workers: the last IMAP logins were answered with their results */
    login_service_free(d->logins);
    web_stop(d->web); /* before the control socket it asks */
    control_server_free(d->control);
    monitor_free(d->monitor); /* after the engine and the control socket that call it */
    listeners_close(d->listeners);
    daemon_free_signals(d);
    store_close(d->db);
    SSL_CTX_free(srv->ssl_ctx);
    json_decref(srv->pauses);
    unlink("floodgated.pid");
    log_info("event=exit");
    config_unref(d->cfg);
    event_base_free(d->base);
    log_close();
}

int daemon_run(struct config *cfg, bool foreground)
{
    struct daemon d = {.cfg = cfg};
    evthread_use_pthreads();
    if ((d.base = event_base_new()) == NULL)
        fatal("event=start error=event_base_new");
    d.started = time(NULL);
    d.smtp.base = d.base;
    d.smtp.cfg = d.cfg;
    start_network(&d, foreground);
    drop_privileges(&d);
    start_store(&d);
    start_services(&d);
    log_info("event=start pid=%d config=%s hostname=%s", (int)getpid(), log_quote(d.cfg->path),
             d.cfg->hostname);
    daemon_ready();
    sd_notify(0, "READY=1\nSTATUS=serving"); /* Type=notify: listeners are up */
    /* From here on the loop thread never touches the store: a statement
     * it runs anyway is logged (event=store_on_loop), and aborts the
     * debug and sanitizer builds. */
    store_deny_thread();
    event_base_dispatch(d.base);
    stop(&d);
    return 0;
}
