/* daemon/reload - SIGHUP and "floodctl reload": read the config file
 * again and switch every part of the process to it at once, or keep the
 * running one and say why (file, line and key).  Listeners are not
 * re-bound (that needs a restart), but their tls and auth settings, relay
 * groups, limits and the rest take effect for new sessions; sessions and
 * delivery jobs already running keep a reference to the config they
 * started with, which is freed when the last of them ends. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "accounts/accounts.h"
#include "core/log.h"
#include "core/workers.h"
#include "daemon/daemon_internal.h"
#include "policy/inbound.h"
#include "smtp/tls.h"

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
    if (d->smtp.ssl_ctx && same_path(cfg->tls_certificate, d->cfg->tls_certificate) &&
        same_path(cfg->tls_key, d->cfg->tls_key)) {
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

/* A reload also reads the local domains again (a domain added to the
 * store by other means than floodctl, which tells the daemon itself). */
struct domains_read {
    struct daemon *d;
    json_t *names;
};

static void domains_read_work(void *arg)
{
    struct domains_read *r = arg;
    store_db *db = store_thread_db(STORE_FILE);
    r->names = db ? accounts_domain_names(db) : NULL;
}

static void domains_read_done(void *arg)
{
    struct domains_read *r = arg;
    policy_set_local_domains(r->d->policy, r->names);
    json_decref(r->names);
    free(r);
}

static void domains_reread(struct daemon *d)
{
    struct domains_read *r = calloc(1, sizeof *r);
    if (r == NULL) { /* no memory to read them: ask the store each time */
        policy_set_local_domains(d->policy, NULL);
        return;
    }
    r->d = d;
    worker_pool_submit(d->workers, domains_read_work, domains_read_done, r);
}

/* config_use - CFG (checked, with its TLS context CTX or NULL to keep the
 * running one) becomes the current config of every part at once. */
static void config_use(struct daemon *d, struct config *cfg, SSL_CTX *ctx)
{
    web_reload(d->web, cfg);
    if (ctx) { /* TLS sessions hold their own reference to the old context */
        SSL_CTX_free(d->smtp.ssl_ctx);
        d->smtp.ssl_ctx = ctx;
    }
    listeners_use(d->listeners, cfg);
    config_unref(d->cfg);
    d->cfg = cfg; /* the scheduler and the housekeeping read it through &d->cfg */
    d->smtp.cfg = cfg;
    policy_set_config(d->policy, cfg);
    inbound_configure(cfg);                      /* DMARC's Public Suffix List, read again */
    outbreak_reload(d->outbreak);                /* the detector reads the new thresholds */
    reputation_watch_reload(d->reputation, cfg); /* and looks at the lists again now */
    domains_reread(d);
}

/* config_reload - read the config file again and switch to it, or keep the
 * running one and say why in ERR. */
static int config_reload(struct daemon *d, char *err, size_t errlen)
{
    if (d->stopping) {
        snprintf(err, errlen, "floodgated is shutting down");
        return -1;
    }
    struct config *cfg = config_load(d->cfg->path, err, errlen);
    if (cfg == NULL)
        return -1;
    SSL_CTX *ctx = NULL;
    if (listeners_check(d->listeners, cfg, err, errlen) < 0 ||
        (daemon_uses_tls(cfg) && reload_tls(d, cfg, &ctx, err, errlen) < 0)) {
        config_free(cfg);
        return -1;
    }
    daemon_log_warnings(cfg);
    if (cfg->web.enabled != d->cfg->web.enabled ||
        (cfg->web.enabled &&
         (strcmp(cfg->web.address, d->cfg->web.address) != 0 || cfg->web.tls != d->cfg->web.tls)))
        log_warnx("event=reload warning=%s",
                  log_quote("web.address and web.tls changed: they take effect at a restart "
                            "(the tokens take effect now)"));
    if (!same_dns_servers(cfg, d->cfg))
        log_warnx("event=reload warning=%s",
                  log_quote("dns.servers changed: the resolvers keep the old servers until a "
                            "restart"));
    config_use(d, cfg, ctx);
    return 0;
}

/* daemon_reload - a config that does not load is rejected, logged with
 * the reason (file, line and key) that ERR also gets, and the old one
 * stays. */
int daemon_reload(struct daemon *d, char *err, size_t errlen)
{
    /* sd_notify(3), for Type=notify: RELOADING=1 with the time (systemd
     * >= 253 wants MONOTONIC_USEC, older ones ignore it), READY=1 after.
     * Nothing once STOPPING=1 was said. */
    bool tell = !d->stopping;
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
        log_info("event=reload result=ok config=%s configs_in_use=%u", log_quote(d->cfg->path),
                 config_count());
    if (tell)
        sd_notifyf(0, "READY=1\nSTATUS=%s%s",
                   rc < 0 ? "reload rejected, old config kept: " : "serving", rc < 0 ? err : "");
    return rc;
}
