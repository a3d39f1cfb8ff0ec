/* delivery/remote - the remote delivery agent.
 *
 * The life of a job: prepare (worker: body out of the store into a spool,
 * DKIM signature) -> route (DNS) -> for each MX address until one answers:
 * connect, transaction -> outcome per recipient -> done.  A connection
 * that did its job waits IDLE_SECONDS for another message to the same
 * domain (RFC 5321 allows many transactions per session). */
#include "delivery/remote.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "delivery/dkim.h"
#include "delivery/dns.h"
#include "delivery/outcomes.h"
#include "store/body.h"
#include "store/store.h"
#include "delivery/client.h"

#define IDLE_SECONDS 3

struct remote_conn;

struct remote {
    struct delivery_env env;
    struct dns_resolver *dns;
    SSL_CTX *tls;
    struct remote_conn *conns; /* every open connection, busy or idle */
    struct attempt *attempts;  /* jobs running; each uses one connection at most */
    unsigned active;
};

/* One connection, and the job it is doing (NULL while idle). */
struct remote_conn {
    struct remote *rm;
    struct smtp_client *client;
    char domain[256]; /* the destination: the job's dest_name */
    char peer[300];
    struct event *idle_timer;
    struct remote_conn *next;
    struct attempt *at;
};

/* One job on its way: the routes found and which one is being tried. */
struct attempt {
    struct remote *rm;
    struct attempt *next;
    struct delivery_job *job;
    remote_done_fn done;
    struct mx_target targets[DNS_TARGETS_MAX];
    size_t n_targets, next_target;
    char last_error[DELIVERY_ERROR_MAX];
    int last_code;
    struct client_rcpt *crcpts;
    struct client_txn txn;
};

static void try_next_target(struct attempt *at);

/* ---- connections ---- */

static void conn_unlink(struct remote_conn *conn)
{
    for (struct remote_conn **p = &conn->rm->conns; *p; p = &(*p)->next)
        if (*p == conn) {
            *p = conn->next;
            break;
        }
    if (conn->idle_timer)
        event_free(conn->idle_timer);
    free(conn);
}

static void idle_expired(evutil_socket_t fd, short what, void *arg)
{
    struct remote_conn *conn = arg;
    smtp_client_quit(conn->client);
    conn_unlink(conn);
}

static void conn_park(struct remote_conn *conn)
{
    struct timeval tv = {IDLE_SECONDS, 0};
    conn->at = NULL;
    if (conn->idle_timer == NULL)
        conn->idle_timer = evtimer_new(conn->rm->env.base, idle_expired, conn);
    if (conn->idle_timer)
        evtimer_add(conn->idle_timer, &tv);
}

bool remote_has_room(const struct remote *rm)
{
    /* Count jobs, not sockets: a job holds its slot from the moment it is
     * taken, while its body is still being read and its MX looked up.  The
     * share of one destination is the scheduler's (queue/destinations). */
    return rm->active < (*rm->env.cfg)->delivery.max_connections;
}

unsigned remote_busy(const struct remote *rm)
{
    return rm->active + smtp_client_live();
}

/* ---- outcome ---- */

static void attempt_finish(struct attempt *at)
{
    struct delivery_job *j = at->job;
    for (size_t i = 0; i < j->n; i++) {
        struct delivery_rcpt *r = &j->rcpts[i];
        if (r->outcome != OUTCOME_PENDING)
            continue;
        r->outcome = OUTCOME_DEFERRED;
        r->code = at->last_code;
        str_copy(r->error, at->last_error[0] ? at->last_error : "no mail exchanger answered",
                 sizeof r->error);
    }
    at->rm->active--;
    for (struct attempt **p = &at->rm->attempts; *p; p = &(*p)->next)
        if (*p == at) {
            *p = at->next;
            break;
        }
    remote_done_fn done = at->done;
    free(at->crcpts);
    free(at);
    done(j);
}

/* set_all - the same outcome for every recipient (routing failures). */
static void set_all(struct delivery_job *j, enum delivery_outcome o, int code, const char *text)
{
    for (size_t i = 0; i < j->n; i++) {
        j->rcpts[i].outcome = o;
        j->rcpts[i].code = code;
        str_copy(j->rcpts[i].error, text, sizeof j->rcpts[i].error);
    }
}

static void txn_done(struct smtp_client *c, void *arg, bool ok)
{
    struct remote_conn *conn = arg;
    struct attempt *at = conn->at;
    struct delivery_job *j = at->job;
    str_copy(j->mx, conn->peer, sizeof j->mx);
    /* a server answered and saw the transaction through: the destination
     * lives, whatever it said about each recipient */
    j->site = ok ? DEST_OK : DEST_FAILED;
    for (size_t i = 0; i < j->n; i++) {
        struct client_rcpt *cr = &at->crcpts[i];
        struct delivery_rcpt *r = &j->rcpts[i];
        r->code = cr->code;
        snprintf(r->error, sizeof r->error, "%.200s said: %.300s", conn->peer, cr->text);
        r->outcome = outcome_of_reply(cr->code);
    }
    if (ok)
        conn_park(conn);
    else
        conn_unlink(conn); /* the client is gone */
    attempt_finish(at);
}

static void start_txn(struct remote_conn *conn)
{
    struct attempt *at = conn->at;
    if (conn->idle_timer)
        evtimer_del(conn->idle_timer);
    smtp_client_send(conn->client, &at->txn, txn_done, conn);
}

/* conn_ready - the client is ready, failed to connect, or (idle) died. */
static void conn_ready(struct smtp_client *c, void *arg, bool ok, int code, const char *text)
{
    struct remote_conn *conn = arg;
    struct attempt *at = conn->at;
    if (ok) {
        log_info("event=remote_connect qid=%s domain=%s mx=%s tls=%s", at->job->qid,
                 log_quote(at->job->domain), log_quote(conn->peer), log_quote(smtp_client_tls(c)));
        start_txn(conn);
        return;
    }
    conn_unlink(conn);
    if (at == NULL)
        return; /* an idle connection closed */
    at->last_code = code;
    snprintf(at->last_error, sizeof at->last_error, "%s", text ? text : "connection failed");
    /* RFC 5321 5.1: a 5xx greeting is a reason to try the next MX, too */
    try_next_target(at);
}

static struct client_txn *make_txn(struct attempt *at)
{
    struct delivery_job *j = at->job;
    at->crcpts = calloc(j->n, sizeof *at->crcpts);
    if (at->crcpts == NULL)
        return NULL;
    for (size_t i = 0; i < j->n; i++)
        at->crcpts[i].address = j->rcpts[i].address;
    at->txn =
        (struct client_txn){.sender = j->sender,
                            .rcpts = at->crcpts,
                            .n_rcpts = j->n,
                            .size = spool_size(&j->body) + (j->prefix ? strlen(j->prefix) : 0),
                            .eightbit = true,
                            .prefix = j->prefix,
                            .read = (client_read_fn)spool_read,
                            .read_ctx = &j->body};
    return &at->txn;
}

static void client_params(const struct remote *rm, struct smtp_client_params *p)
{
    const struct config *cfg = (*rm->env.cfg);
    const struct config_delivery *d = &cfg->delivery;
    *p = (struct smtp_client_params){.helo_name = cfg->hostname,
                                     .tls_verify = d->tls_verify,
                                     .connect_timeout = d->connect_timeout,
                                     .command_timeout = d->command_timeout,
                                     .data_timeout = d->data_timeout};
    if (d->relayhost) {
        p->tls = d->relayhost_tls == TLS_MODE_IMPLICIT   ? CLIENT_TLS_IMPLICIT
                 : d->relayhost_tls == TLS_MODE_STARTTLS ? CLIENT_TLS_REQUIRED
                                                         : CLIENT_TLS_OFF;
        p->auth_user = d->relayhost_user;
        p->auth_password = d->relayhost_password;
    } else {
        p->tls = d->tls == DELIVERY_TLS_REQUIRED ? CLIENT_TLS_REQUIRED
                 : d->tls == DELIVERY_TLS_OFF    ? CLIENT_TLS_OFF
                                                 : CLIENT_TLS_OPPORTUNISTIC;
    }
}

static void describe_target(const struct mx_target *t, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (t->addr.ss_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)&t->addr)->sin_addr, ip, sizeof ip);
    else
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&t->addr)->sin6_addr, ip, sizeof ip);
    snprintf(buf, len, "%s[%s]", t->host, ip);
}

static void try_next_target(struct attempt *at)
{
    struct remote *rm = at->rm;
    const struct config_delivery *d = &(*rm->env.cfg)->delivery;
    while (at->next_target < at->n_targets) {
        struct mx_target *t = &at->targets[at->next_target++];
        unsigned port = d->relayhost ? d->relayhost_port : d->mx_port;
        if (t->addr.ss_family == AF_INET)
            ((struct sockaddr_in *)&t->addr)->sin_port = htons((uint16_t)port);
        else
            ((struct sockaddr_in6 *)&t->addr)->sin6_port = htons((uint16_t)port);
        struct remote_conn *conn = calloc(1, sizeof *conn);
        if (conn == NULL)
            break;
        at->job->site = DEST_FAILED; /* until a server sees a transaction through */
        conn->rm = rm;
        conn->at = at;
        str_copy(conn->domain, at->job->dest_name, sizeof conn->domain);
        describe_target(t, conn->peer, sizeof conn->peer);
        struct smtp_client_params p;
        client_params(rm, &p);
        conn->client = smtp_client_open(rm->env.base, rm->tls, (struct sockaddr *)&t->addr,
                                        t->addrlen, t->host, &p, conn_ready, conn);
        if (conn->client == NULL) {
            free(conn);
            continue;
        }
        conn->next = rm->conns;
        rm->conns = conn;
        return;
    }
    attempt_finish(at);
}

/* ---- routing ---- */

static void routed(void *arg, enum dns_route_status st, const struct mx_target *t, size_t n,
                   const char *err)
{
    struct attempt *at = arg;
    char text[DELIVERY_ERROR_MAX];
    switch (st) {
    case DNS_ROUTE_OK:
        memcpy(at->targets, t, n * sizeof *t);
        at->n_targets = n;
        try_next_target(at);
        return;
    case DNS_ROUTE_NULL_MX:
        snprintf(text, sizeof text, "556 5.1.10 %s: %s", at->job->domain, err);
        set_all(at->job, OUTCOME_BOUNCED, 556, text);
        break;
    case DNS_ROUTE_NOT_FOUND:
        snprintf(text, sizeof text, "550 5.1.2 %s: %s", at->job->domain, err);
        set_all(at->job, OUTCOME_BOUNCED, 550, text);
        break;
    case DNS_ROUTE_TEMPFAIL:
        at->job->site = DEST_FAILED;
        snprintf(at->last_error, sizeof at->last_error, "DNS lookup for %s failed: %s",
                 at->job->domain, err);
        break;
    }
    attempt_finish(at);
}

/* use_idle - hand the job to a connection kept from an earlier message. */
static bool use_idle(struct attempt *at)
{
    for (struct remote_conn *c = at->rm->conns; c; c = c->next) {
        if (c->at == NULL && strcmp(c->domain, at->job->dest_name) == 0) {
            c->at = at;
            start_txn(c);
            return true;
        }
    }
    return false;
}

static void route(struct attempt *at)
{
    struct remote *rm = at->rm;
    if (use_idle(at))
        return;
    if ((*rm->env.cfg)->delivery.relayhost)
        dns_route_host(rm->dns, (*rm->env.cfg)->delivery.relayhost, routed, at);
    else
        dns_route(rm->dns, at->job->domain, routed, at);
}

/* ---- preparation (worker thread) ---- */

struct prepare {
    struct attempt *at;
    int status;
    char error[256];
};

/* copy_body - the message's body out of the store into J's spool: the
 * SMTP client writes it from memory (or the spool's file) on the loop,
 * where no store read may happen. */
static int copy_body(store_db *db, struct delivery_job *j)
{
    struct store_body *body = store_body_get(db, j->qid);
    if (body == NULL)
        return -1;
    char buf[65536];
    long n;
    size_t off = 0;
    while ((n = store_body_read(body, off, buf, sizeof buf)) > 0) {
        if (spool_append(&j->body, buf, (size_t)n) < 0)
            break;
        off += (size_t)n;
    }
    store_body_close(body);
    return n == 0 ? 0 : -1;
}

/* sign - DKIM-sign mail whose sender is in a domain we hold a key for. */
static void sign(store_db *db, struct delivery_job *j)
{
    const char *at = strrchr(j->sender, '@');
    struct dkim_key key;
    char err[256];
    if (at == NULL)
        return;
    int found = dkim_key_load(db, ".", at + 1, &key, err, sizeof err);
    if (found < 0)
        log_warnx("event=dkim_error qid=%s domain=%s error=%s", j->qid, log_quote(at + 1),
                  log_quote(err));
    if (found != 1)
        return; /* sent unsigned: better than not at all */
    j->prefix = dkim_sign_message(&key, (dkim_read_fn)spool_read, &j->body, err, sizeof err);
    if (j->prefix == NULL)
        log_warnx("event=dkim_error qid=%s domain=%s error=%s", j->qid, log_quote(at + 1),
                  log_quote(err));
    dkim_key_clear(&key);
}

static void prepare_work(void *arg)
{
    struct prepare *p = arg;
    struct delivery_job *j = p->at->job;
    store_db *db = store_thread_db(STORE_FILE);
    if (db == NULL || copy_body(db, j) < 0) {
        p->status = -1;
        snprintf(p->error, sizeof p->error, "cannot read the message from the store");
        return;
    }
    sign(db, j);
}

static void prepare_done(void *arg)
{
    struct prepare *p = arg;
    struct attempt *at = p->at;
    if (p->status < 0) {
        str_copy(at->last_error, p->error, sizeof at->last_error);
        free(p);
        attempt_finish(at);
        return;
    }
    free(p);
    if (make_txn(at) == NULL) {
        str_copy(at->last_error, "out of memory", sizeof at->last_error);
        attempt_finish(at);
        return;
    }
    route(at);
}

void remote_deliver(struct remote *rm, struct delivery_job *job, remote_done_fn done)
{
    struct attempt *at = calloc(1, sizeof *at);
    struct prepare *p = calloc(1, sizeof *p);
    rm->active++;
    if (at == NULL || p == NULL) {
        free(p);
        free(at);
        rm->active--;
        set_all(job, OUTCOME_DEFERRED, 0, "out of memory");
        done(job);
        return;
    }
    at->rm = rm;
    at->job = job;
    at->done = done;
    at->next = rm->attempts;
    rm->attempts = at;
    p->at = at;
    spool_init(&job->body, ".");
    worker_pool_submit(rm->env.workers, prepare_work, prepare_done, p);
}

struct remote *remote_new(const struct delivery_env *env, char *err, size_t errlen)
{
    struct remote *rm = calloc(1, sizeof *rm);
    if (rm == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    rm->env = *env;
    const struct config *cfg = *env->cfg;
    rm->dns = dns_resolver_new(env->base, cfg->dns_servers, cfg->n_dns_servers, err, errlen);
    if (rm->dns == NULL || (rm->tls = client_tls_ctx(err, errlen)) == NULL) {
        remote_free(rm);
        return NULL;
    }
    return rm;
}

void remote_wind_down(struct remote *rm)
{
    dns_cancel(rm->dns); /* jobs waiting for DNS are deferred at once */
    for (struct remote_conn *c = rm->conns, *next; c; c = next) {
        next = c->next;
        if (c->at == NULL) {
            smtp_client_quit(c->client); /* frees itself once QUIT is answered */
            conn_unlink(c);
        }
    }
}

void remote_free(struct remote *rm)
{
    if (rm == NULL)
        return;
    while (rm->conns)
        conn_unlink(rm->conns);
    smtp_client_abort_all();
    dns_resolver_free(rm->dns);
    SSL_CTX_free(rm->tls);
    free(rm);
}
