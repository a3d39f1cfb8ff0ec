/* cmd/floodgated - the Floodgate SMTP server: read the config, bind the
 * listeners, drop privileges, open the store and run the event loop.
 *   floodgated -c FILE [-d] [-n] */
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "control/control.h"
#include "control/daemon_commands.h"
#include "control/web.h"
#include "delivery/dns.h"
#include "core/config.h"
#include "core/log.h"
#include "core/private_state.h"
#include "core/privs.h"
#include "core/util.h"
#include "store/committer.h"
#include "queue/housekeeping.h"
#include "queue/pause_state.h"
#include "store/ban_state.h"
#include "delivery/scheduler.h"
#include "store/store.h"
#include "store/store_check.h"
#include "accounts/login_cache.h"
#include "policy/engine.h"
#include "smtp/auth_queue.h"
#include "smtp/listener.h"
#include "smtp/outbreak.h"
#include "smtp/server.h"
#include "smtp/session.h"
#include "smtp/tls.h"

#define WORKER_THREADS 2
#define LOOKUP_THREADS 2

struct daemon {
    struct smtp_server srv;
    struct listener *listeners;
    struct control_server *control;
    struct housekeeping *housekeeping;
    struct web_server *web; /* NULL unless the config has a web section */
    struct event *sig_hup, *sig_usr1, *sig_term, *sig_int, *drain_timer;
    uint64_t shutdown_deadline; /* monotonic ms: SIGTERM + shutdown_timeout */
};

static void usage(void)
{
    fputs("usage: floodgated -c FILE [-d] [-n]\n"
          "  -c FILE  configuration file (default /etc/floodgate/floodgate.conf)\n"
          "  -d       stay in the foreground and log to stderr\n"
          "  -n       check the configuration and exit\n",
          stderr);
    exit(2);
}

static bool uses_tls(const struct config *cfg)
{
    for (size_t i = 0; i < cfg->n_listeners; i++)
        if (cfg->listeners[i].tls != TLS_MODE_NONE)
            return true;
    return false;
}

static void log_warnings(const struct config *cfg)
{
    for (size_t i = 0; i < cfg->n_warnings; i++)
        log_warnx("event=config_warning warning=%s", log_quote(cfg->warnings[i]));
}

static bool same_path(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* reload_tls - the certificate loaded again (it may have been renewed)
 * into *CTX.  A key only root can read cannot be re-read after privileges
 * were dropped: when the paths did not change, *CTX stays NULL and the
 * running context simply stays. */
static int reload_tls(struct daemon *d, const struct config *cfg, SSL_CTX **ctx, char *err,
                      size_t errlen)
{
    *ctx = tls_server_ctx(cfg->tls_certificate, cfg->tls_key, err, errlen);
    if (*ctx)
        return 0;
    if (d->srv.ssl_ctx && same_path(cfg->tls_certificate, d->srv.cfg->tls_certificate) &&
        same_path(cfg->tls_key, d->srv.cfg->tls_key)) {
        log_warnx("event=reload warning=%s", log_quote("TLS files not re-read, keeping the loaded "
                                                       "certificate; restart to load new ones"));
        log_info("event=reload tls_error=%s", log_quote(err));
        return 0;
    }
    return -1;
}

/* same_dns_servers - whether A and B name the same DNS servers. */
static bool same_dns_servers(const struct config *a, const struct config *b)
{
    if (a->n_dns_servers != b->n_dns_servers)
        return false;
    for (size_t i = 0; i < a->n_dns_servers; i++)
        if (strcmp(a->dns_servers[i], b->dns_servers[i]) != 0)
            return false;
    return true;
}

/* config_reload - read the config file again and switch to it, or keep the
 * running one and say why in ERR.  SIGHUP and "floodctl reload" come here.
 * Listeners are not re-bound (that needs a restart), but their tls and
 * auth settings, relay groups, limits and the rest take effect for new
 * sessions; sessions and delivery jobs already running keep a reference
 * to the config they started with, which is freed when the last of them
 * ends. */
static int config_reload(struct daemon *d, char *err, size_t errlen)
{
    if (d->srv.stopping) {
        snprintf(err, errlen, "floodgated is shutting down");
        return -1;
    }
    struct config *cfg = config_load(d->srv.cfg->path, err, errlen);
    if (cfg == NULL)
        return -1;
    SSL_CTX *ctx = NULL;
    if (listeners_check(d->listeners, cfg, err, errlen) < 0 ||
        (uses_tls(cfg) && reload_tls(d, cfg, &ctx, err, errlen) < 0)) {
        config_free(cfg);
        return -1;
    }
    log_warnings(cfg);
    if (cfg->web.enabled != d->srv.cfg->web.enabled ||
        (cfg->web.enabled && (strcmp(cfg->web.address, d->srv.cfg->web.address) != 0 ||
                              cfg->web.tls != d->srv.cfg->web.tls)))
        log_warnx("event=reload warning=%s",
                  log_quote("web.address and web.tls changed: they take effect at a restart "
                            "(the tokens take effect now)"));
    web_reload(d->web, cfg);
    if (!same_dns_servers(cfg, d->srv.cfg))
        log_warnx("event=reload warning=%s",
                  log_quote("dns.servers changed: the resolvers keep the old servers until a "
                            "restart"));
    if (ctx) { /* TLS sessions hold their own reference to the old context */
        SSL_CTX_free(d->srv.ssl_ctx);
        d->srv.ssl_ctx = ctx;
    }
    listeners_use(d->listeners, cfg);
    config_unref(d->srv.cfg);
    d->srv.cfg = cfg;
    policy_set_config(d->srv.policy, cfg);
    outbreak_reload(d->srv.outbreak); /* the detector reads the new thresholds */
    return 0;
}

/* reload - SIGHUP and "floodctl reload": a config that does not load is
 * rejected, logged with the reason (file, line and key) that ERR also
 * gets, and the old one stays. */
static int reload(struct daemon *d, char *err, size_t errlen)
{
    /* sd_notify(3), for Type=notify: RELOADING=1 with the time (systemd
     * >= 253 wants MONOTONIC_USEC, older ones ignore it), READY=1 after.
     * Nothing once STOPPING=1 was said. */
    bool tell = !d->srv.stopping;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (tell)
        sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
                   (unsigned long long)now.tv_sec * 1000000ULL +
                       (unsigned long long)now.tv_nsec / 1000);
    int rc = config_reload(d, err, errlen);
    if (rc < 0)
        log_warnx("event=reload result=rejected error=%s", log_quote(err));
    else
        log_info("event=reload result=ok config=%s configs_in_use=%u", log_quote(d->srv.cfg->path),
                 config_count());
    if (tell)
        sd_notifyf(0, "READY=1\nSTATUS=%s%s",
                   rc < 0 ? "reload rejected, old config kept: " : "serving", rc < 0 ? err : "");
    return rc;
}

/* reload_command - the control socket's "reload" (daemon_commands.h). */
static int reload_command(void *arg, char *err, size_t errlen)
{
    return reload(arg, err, errlen);
}

/* drain_check - every 50 ms after SIGTERM: leave the loop once the last
 * session is gone and no delivery runs, or when shutdown_timeout is over,
 * whatever the clients and remote servers do. */
static void drain_check(evutil_socket_t fd, short what, void *arg)
{
    struct daemon *d = arg;
    struct smtp_server *srv = &d->srv;
    unsigned deliveries = scheduler_busy(srv->scheduler);
    if (srv->connections == 0 && deliveries == 0) {
        event_base_loopexit(srv->base, NULL);
        return;
    }
    if (now_ms() >= d->shutdown_deadline) {
        /* A message not yet answered stays the client's; a delivery cut
         * short stays queued and is tried again after the restart. */
        log_warnx("event=stop_timeout seconds=%u sessions=%u deliveries=%u",
                  srv->cfg->shutdown_timeout, srv->connections, deliveries);
        smtp_session_abort_all(srv);
        event_base_loopexit(srv->base, NULL);
        return;
    }
    struct timeval tv = {0, 50000};
    evtimer_add(d->drain_timer, &tv);
}

/* shutdown - SIGTERM, in this order: stop accepting, end the sessions (421;
 * a message in the store's hands is answered first), stop starting
 * deliveries, and wait for them, at most shutdown_timeout.  stop() then
 * drains the workers, the committer, and closes the store. */
static void shutdown_begin(struct daemon *d)
{
    if (d->srv.stopping)
        return;
    log_info("event=stop connections=%u", d->srv.connections);
    sd_notify(0, "STOPPING=1");
    d->srv.stopping = true;
    d->shutdown_deadline = now_ms() + (uint64_t)d->srv.cfg->shutdown_timeout * 1000;
    listeners_close(d->listeners);
    d->listeners = NULL;
    smtp_session_shutdown_all(&d->srv);
    dns_cancel(d->srv.dns); /* sessions waiting on DNS end now */
    scheduler_pause(d->srv.scheduler);
    d->drain_timer = evtimer_new(d->srv.base, drain_check, d);
    drain_check(-1, 0, d);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct daemon *d = arg;
    char err[1024];
    if (sig == SIGHUP)
        reload(d, err, sizeof err);
    else if (sig == SIGUSR1)
        log_reopen(); /* logrotate moved the file away */
    else
        shutdown_begin(d);
}

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

/* True in a detached child until it serves: its stderr is then the pipe
 * to the waiting parent, so that fatal()'s message reaches the admin. */
static bool detached_starting;

/* wait_for_child - the parent of a detaching start: copy what the child
 * writes on the pipe FD to our stderr until it says it serves (a NUL
 * octet) or ends.  The exit code of floodgated -c FILE. */
static int wait_for_child(pid_t pid, int fd)
{
    char buf[4096];
    ssize_t n;
    bool ready = false, said = false;
    while ((n = read(fd, buf, sizeof buf)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        char *nul = memchr(buf, '\0', (size_t)n);
        size_t text = nul ? (size_t)(nul - buf) : (size_t)n;
        said |= text > 0;
        if (text > 0 && write_full(2, buf, text) < 0)
            break;
        if (nul) {
            ready = true;
            break;
        }
    }
    if (ready)
        return 0;
    int status = 0;
    if (waitpid(pid, &status, 0) == pid && WIFSIGNALED(status))
        fprintf(stderr, "floodgated: the server was killed by signal %d during start-up\n",
                WTERMSIG(status));
    else if (!said)
        fputs("floodgated: the server stopped during start-up without saying why; see the log\n",
              stderr);
    return 1;
}

/* daemonize - without -d: detach like any daemon, but first, so that
 * whatever fails later (a port taken, the store refused, the switch of
 * user) is reported by the command the admin typed: the parent waits on a
 * pipe that is the child's stderr and exits 0 only when the child serves
 * (daemon_ready), else 1 with the child's error. */
static void daemonize(void)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        fatal("event=start error=pipe_failed");
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        fatal("event=start error=fork_failed");
    if (pid > 0) {
        close(p[1]);
        _exit(wait_for_child(pid, p[0]));
    }
    close(p[0]);
    signal(SIGPIPE, SIG_IGN); /* a parent gone must not kill the start */
    setsid();
    int fd = open("/dev/null", O_RDWR);
    if (fd >= 0) {
        dup2(fd, 0);
        dup2(fd, 1);
        if (fd > 2)
            close(fd);
    }
    dup2(p[1], 2);
    close(p[1]);
    detached_starting = true;
}

/* daemon_ready - the listeners and the control socket are open: tell the
 * waiting parent (one NUL octet) and let go of its pipe. */
static void daemon_ready(void)
{
    if (!detached_starting)
        return;
    detached_starting = false;
    ssize_t w = write(2, "", 1);
    (void)w;
    int fd = open("/dev/null", O_WRONLY);
    if (fd >= 0) {
        dup2(fd, 2);
        if (fd > 2)
            close(fd);
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

/* install_signals - SIGHUP, SIGUSR1, SIGTERM and SIGINT through the loop.
 * Before any listener or the control socket exists: a client (or a test)
 * that sees the daemon listening may signal it at once, and a SIGHUP met
 * by the default action would kill the daemon without a word. */
static void install_signals(struct daemon *d)
{
    signal(SIGPIPE, SIG_IGN);
    d->sig_hup = evsignal_new(d->srv.base, SIGHUP, on_signal, d);
    d->sig_usr1 = evsignal_new(d->srv.base, SIGUSR1, on_signal, d);
    d->sig_term = evsignal_new(d->srv.base, SIGTERM, on_signal, d);
    d->sig_int = evsignal_new(d->srv.base, SIGINT, on_signal, d);
    evsignal_add(d->sig_hup, NULL);
    evsignal_add(d->sig_usr1, NULL);
    evsignal_add(d->sig_term, NULL);
    evsignal_add(d->sig_int, NULL);
}

/* delivery_paused - the scheduler's view of the admin's pauses (the
 * loop's copy, delivery_env.paused). */
static bool delivery_paused(void *arg, const char *what)
{
    return server_paused(arg, what);
}

static void start(struct daemon *d, bool foreground)
{
    struct smtp_server *srv = &d->srv;
    struct config *cfg = srv->cfg;
    char err[1024];
    prepare_state_dir(cfg->state_dir);
    if (!foreground) {
        daemonize();
        event_reinit(srv->base);
    }
    install_signals(d);
    const char *where;
    if (log_open_daemon("floodgated", cfg->log_file, cfg->syslog_socket, foreground, &where) < 0)
        fatal("event=start error=%s log=%s help=%s", log_quote(strerror(errno)), where,
              log_quote(strcmp(where, "syslog") == 0
                            ? "no syslog daemon listens on syslog_socket: start one, or set "
                              "log_file (floodgate.conf(5))"
                            : "cannot open log_file"));
    log_warnings(cfg);
    /* what an older version, a restore or a cp left readable by others */
    if (private_state_narrow(cfg->state_dir, cfg->log_file) < 0)
        fatal("event=start error=%s", log_quote("cannot read state_dir"));
    if (uses_tls(cfg) && (srv->ssl_ctx = tls_server_ctx(cfg->tls_certificate, cfg->tls_key, err,
                                                        sizeof err)) == NULL)
        fatal("event=start error=%s", log_quote(err));
    if ((d->listeners = listeners_open(srv, err, sizeof err)) == NULL)
        fatal("event=start error=%s", log_quote(err));
    d->web = web_prepare(cfg, err, sizeof err); /* binds: before the privileges go */
    if (d->web == NULL && err[0])
        fatal("event=start error=%s", log_quote(err));
    char *state_dir = realpath(cfg->state_dir, NULL); /* the messages name the real place */
    if (state_dir == NULL || chdir(cfg->state_dir) < 0)
        fatal("event=start error=%s", log_quote("cannot enter state_dir"));
    if (privs_drop(cfg->user, ".", err, sizeof err) < 0)
        fatal("event=start error=%s", log_quote(err));
    srv->db = open_store(state_dir);
    free(state_dir);
    write_pidfile();
    srv->workers = worker_pool_new(srv->base, WORKER_THREADS);
    /* the sessions' store reads have threads of their own: an RCPT never
     * waits behind a Maildir delivery or an argon2 check (docs/design.md) */
    srv->lookups = worker_pool_new(srv->base, LOOKUP_THREADS);
    srv->auth_queue = auth_queue_new(srv->workers, WORKER_THREADS);
    srv->logins = login_cache_new();
    if (srv->auth_queue == NULL || srv->logins == NULL)
        fatal("event=start error=out_of_memory");
    srv->committer =
        committer_start(STORE_FILE, srv->workers, cfg->queue.group_commit_max, err, sizeof err);
    if (srv->committer == NULL)
        fatal("event=start error=%s", log_quote(err));
    /* Read before the loop serves (the loop itself never reads the store):
     * pauses and bans survive a restart. */
    server_set_pauses(srv, pause_list(srv->db));
    struct policy_env penv = {.base = srv->base, .cfg = srv->cfg, .committer = srv->committer};
    if ((srv->policy = policy_new(&penv)) == NULL)
        fatal("event=start error=out_of_memory");
    json_t *bans = ban_state_list(srv->db, time(NULL), 1);
    policy_set_bans(srv->policy, bans);
    json_decref(bans);
    smtp_session_register(srv); /* the engine's hands on live sessions */
    /* and the detector's windows, baselines and open incidents */
    if ((srv->outbreak = outbreak_new(srv)) == NULL || outbreak_plug(srv->outbreak, srv) < 0)
        fatal("event=start error=out_of_memory");
    srv->dns = dns_resolver_new(srv->base, cfg->dns_servers, cfg->n_dns_servers, err, sizeof err);
    if (srv->dns == NULL)
        fatal("event=start error=%s", log_quote(err));
    struct delivery_env denv = {.base = srv->base,
                                .cfg = &srv->cfg,
                                .committer = srv->committer,
                                .workers = srv->workers,
                                .paused = delivery_paused,
                                .arg = srv};
    if ((srv->scheduler = scheduler_new(&denv)) == NULL)
        fatal("event=start error=out_of_memory");
    scheduler_set_outcome_hook(srv->scheduler, outbreak_outcome, srv->outbreak);
    if ((d->housekeeping = housekeeping_start(srv->base, srv->workers, &srv->cfg)) == NULL)
        fatal("event=start error=out_of_memory");
    if ((d->control = control_server_start(srv->base, CONTROL_SOCKET, err, sizeof err)) == NULL)
        fatal("event=start error=%s", log_quote(err));
    daemon_commands_register(d->control, srv);
    daemon_commands_register_reload(d->control, reload_command, d);
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
    struct smtp_server *srv = &d->srv;
    store_allow_thread(); /* the loop is over: what shutdown reads is no one's wait */
    auth_queue_stop(srv->auth_queue);
    worker_pool_drain(srv->lookups); /* their answers may hand messages to the committer */
    worker_pool_drain(srv->workers);
    outbreak_save_now(srv->outbreak); /* a restart is no fresh hour */
    committer_stop(srv->committer);
    worker_pool_free(srv->workers); /* the committer's last answers */
    worker_pool_free(srv->lookups);
    smtp_session_abort_all(srv); /* any left after shutdown_timeout */
    auth_queue_free(srv->auth_queue);
    login_cache_free(srv->logins);
    housekeeping_free(d->housekeeping);
    outbreak_free(srv->outbreak);
    policy_free(srv->policy);
    dns_resolver_free(srv->dns);
    scheduler_free(srv->scheduler);
    web_stop(d->web); /* before the control socket it asks */
    control_server_free(d->control);
    listeners_close(d->listeners);
    event_free(d->sig_hup);
    event_free(d->sig_usr1);
    event_free(d->sig_term);
    event_free(d->sig_int);
    if (d->drain_timer)
        event_free(d->drain_timer);
    store_close(srv->db);
    SSL_CTX_free(srv->ssl_ctx);
    json_decref(srv->pauses);
    unlink("floodgated.pid");
    log_info("event=exit");
    config_unref(srv->cfg);
    event_base_free(srv->base);
    log_close();
}

int main(int argc, char **argv)
{
    umask(PRIVATE_UMASK); /* the store, its WAL, the log, mail: 0600 */
    const char *path =
        getenv("FLOODGATE_CONFIG") ? getenv("FLOODGATE_CONFIG") : "/etc/floodgate/floodgate.conf";
    bool foreground = false, check_only = false;
    int opt;
    while ((opt = getopt(argc, argv, "c:dnh")) != -1) {
        switch (opt) {
        case 'c':
            path = optarg;
            break;
        case 'd':
            foreground = true;
            break;
        case 'n':
            check_only = true;
            break;
        default:
            usage();
        }
    }
    char err[1024], abspath[4096];
    struct daemon d = {0};
    /* Absolute, because the daemon works from inside state_dir and SIGHUP
     * reads the file again from there. */
    if (realpath(path, abspath) != NULL)
        path = abspath;
    if ((d.srv.cfg = config_load(path, err, sizeof err)) == NULL) {
        fprintf(stderr, "floodgated: %s\n", err);
        return 1;
    }
    if (check_only) {
        for (size_t i = 0; i < d.srv.cfg->n_warnings; i++)
            fprintf(stderr, "floodgated: warning: %s\n", d.srv.cfg->warnings[i]);
        config_describe(d.srv.cfg, stdout);
        printf("%s: configuration OK\n", path);
        config_free(d.srv.cfg);
        return 0;
    }
    evthread_use_pthreads();
    if ((d.srv.base = event_base_new()) == NULL)
        fatal("event=start error=event_base_new");
    d.srv.started = time(NULL);
    start(&d, foreground);
    log_info("event=start pid=%d config=%s hostname=%s", (int)getpid(), log_quote(path),
             d.srv.cfg->hostname);
    daemon_ready();
    sd_notify(0, "READY=1\nSTATUS=serving"); /* Type=notify: listeners are up */
    /* From here on the loop thread never touches the store: a statement
     * it runs anyway is logged (event=store_on_loop), and aborts the
     * debug and sanitizer builds. */
    store_deny_thread();
    event_base_dispatch(d.srv.base);
    stop(&d);
    return 0;
}
