/* delivery/dns - c-ares on the libevent loop, and MX routing on top.
 *
 * c-ares tells us which sockets it wants watched through its socket-state
 * callback; each gets a libevent event, and one timer drives c-ares'
 * retransmissions. */
#include "delivery/dns.h"

#include <ares.h>
#include <arpa/nameser.h>
#include <stdbool.h>
#include <stdio.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/log.h"
#include "core/util.h"

#define WATCH_MAX 64
#define MX_HOSTS_MAX 10
#define ADDRS_PER_HOST 4

struct fd_watch {
    ares_socket_t fd;
    struct event *ev;
};

struct dns_resolver {
    struct event_base *base;
    ares_channel channel;
    struct event *timer;
    struct fd_watch watch[WATCH_MAX];
};

/* One routing request: the MX list, then one address lookup per host. */
struct route_req {
    struct dns_resolver *r;
    dns_route_cb cb;
    void *arg;
    char domain[256];
    struct mx_target hosts[MX_HOSTS_MAX]; /* host and preference only */
    size_t n_hosts;
    size_t pending; /* address lookups not back yet */
    struct mx_target found[MX_HOSTS_MAX][ADDRS_PER_HOST];
    size_t n_found[MX_HOSTS_MAX];
    bool tempfail; /* a lookup failed other than "no such host" */
};

static void arm_timer(struct dns_resolver *r)
{
    struct timeval tv, *t = ares_timeout(r->channel, NULL, &tv);
    if (t)
        evtimer_add(r->timer, t);
    else
        evtimer_del(r->timer);
}

static void on_fd(evutil_socket_t fd, short what, void *arg)
{
    struct dns_resolver *r = arg;
    ares_process_fd(r->channel, (what & EV_READ) ? fd : ARES_SOCKET_BAD,
                    (what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
    arm_timer(r);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct dns_resolver *r = arg;
    ares_process_fd(r->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    arm_timer(r);
}

/* sock_state - c-ares opens, changes interest in, or closes a socket. */
static void sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
    struct dns_resolver *r = data;
    struct fd_watch *w = NULL, *free_slot = NULL;
    for (size_t i = 0; i < WATCH_MAX; i++) {
        if (r->watch[i].ev && r->watch[i].fd == fd)
            w = &r->watch[i];
        else if (!r->watch[i].ev && !free_slot)
            free_slot = &r->watch[i];
    }
    if (w) {
        event_free(w->ev);
        w->ev = NULL;
    }
    if (!readable && !writable)
        return;
    if (!w)
        w = free_slot;
    if (!w) {
        log_warnx("event=dns_error error=too_many_sockets");
        return;
    }
    short what = EV_PERSIST | (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0);
    w->fd = fd;
    w->ev = event_new(r->base, fd, what, on_fd, r);
    if (w->ev)
        event_add(w->ev, NULL);
}

struct dns_resolver *dns_resolver_new(struct event_base *base, char **servers, size_t n, char *err,
                                      size_t errlen)
{
    static bool lib_ready;
    if (!lib_ready && ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS) {
        snprintf(err, errlen, "c-ares: library initialisation failed");
        return NULL;
    }
    lib_ready = true;
    struct dns_resolver *r = calloc(1, sizeof *r);
    if (r == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->base = base;
    struct ares_options opts = {
        .sock_state_cb = sock_state, .sock_state_cb_data = r, .timeout = 2000, .tries = 3};
    int rc = ares_init_options(&r->channel, &opts,
                               ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
    if (rc != ARES_SUCCESS) {
        snprintf(err, errlen, "c-ares: %s", ares_strerror(rc));
        free(r);
        return NULL;
    }
    char csv[1024] = "";
    for (size_t i = 0, o = 0; i < n && o < sizeof csv; i++)
        o += (size_t)snprintf(csv + o, sizeof csv - o, "%s%s", i ? "," : "", servers[i]);
    if (n > 0 && (rc = ares_set_servers_ports_csv(r->channel, csv)) != ARES_SUCCESS) {
        snprintf(err, errlen, "dns.servers: \"%s\": %s", csv, ares_strerror(rc));
        ares_destroy(r->channel);
        free(r);
        return NULL;
    }
    r->timer = evtimer_new(base, on_timer, r);
    return r;
}

void dns_resolver_free(struct dns_resolver *r)
{
    if (r == NULL)
        return;
    ares_destroy(r->channel); /* runs pending callbacks with ARES_EDESTRUCTION */
    for (size_t i = 0; i < WATCH_MAX; i++)
        if (r->watch[i].ev)
            event_free(r->watch[i].ev);
    event_free(r->timer);
    free(r);
}

void dns_cancel(struct dns_resolver *r)
{
    ares_cancel(r->channel);
}

/* ---- routing ---- */

static void route_finish(struct route_req *q)
{
    struct mx_target out[DNS_TARGETS_MAX];
    size_t n = 0;
    for (size_t h = 0; h < q->n_hosts; h++)
        for (size_t a = 0; a < q->n_found[h] && n < DNS_TARGETS_MAX; a++)
            out[n++] = q->found[h][a];
    /* No address for any mail exchanger is a deferral, never a bounce:
     * ares_getaddrinfo falls back to /etc/hosts after a DNS failure and
     * then reports "not found", so a resolver outage looks exactly like a
     * missing host.  The message bounces at the end of its lifetime with
     * this as its last error, as Postfix does with "Host not found". */
    if (n > 0)
        q->cb(q->arg, DNS_ROUTE_OK, out, n, NULL);
    else
        q->cb(q->arg, DNS_ROUTE_TEMPFAIL, NULL, 0,
              q->tempfail ? "cannot resolve the mail exchangers"
                          : "no address found for the mail exchangers");
    free(q);
}

struct addr_req {
    struct route_req *q;
    size_t host;
};

static void on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
    struct addr_req *a = arg;
    struct route_req *q = a->q;
    if (status == ARES_SUCCESS && res) {
        for (struct ares_addrinfo_node *n = res->nodes; n && q->n_found[a->host] < ADDRS_PER_HOST;
             n = n->ai_next) {
            struct mx_target *t = &q->found[a->host][q->n_found[a->host]++];
            *t = q->hosts[a->host];
            memcpy(&t->addr, n->ai_addr, (size_t)n->ai_addrlen);
            t->addrlen = (socklen_t)n->ai_addrlen;
        }
    } else if (status != ARES_ENOTFOUND && status != ARES_ENODATA) {
        q->tempfail = true;
    }
    if (res)
        ares_freeaddrinfo(res);
    free(a);
    if (--q->pending == 0)
        route_finish(q);
}

static void resolve_hosts(struct route_req *q)
{
    q->pending = q->n_hosts;
    for (size_t i = 0; i < q->n_hosts; i++) {
        struct addr_req *a = malloc(sizeof *a);
        if (a == NULL) {
            q->tempfail = true;
            if (--q->pending == 0)
                route_finish(q);
            continue;
        }
        a->q = q;
        a->host = i;
        struct ares_addrinfo_hints hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
        ares_getaddrinfo(q->r->channel, q->hosts[i].host, NULL, &hints, on_addrinfo, a);
    }
    arm_timer(q->r);
}

static int by_preference(const void *a, const void *b)
{
    const struct mx_target *x = a, *y = b;
    return (x->preference > y->preference) - (x->preference < y->preference);
}

/* shuffle_equals - RFC 5321 5.1: spread load among MX of equal preference. */
static void shuffle_equals(struct mx_target *h, size_t n)
{
    for (size_t start = 0; start < n;) {
        size_t end = start;
        while (end < n && h[end].preference == h[start].preference)
            end++;
        for (size_t i = end - 1; i > start; i--) {
            size_t j = start + randombytes_uniform((uint32_t)(i - start + 1));
            struct mx_target t = h[i];
            h[i] = h[j];
            h[j] = t;
        }
        start = end;
    }
}

static void route_fail(struct route_req *q, enum dns_route_status st, const char *why)
{
    q->cb(q->arg, st, NULL, 0, why);
    free(q);
}

static void on_mx(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    struct route_req *q = arg;
    struct ares_mx_reply *mx = NULL;
    if (status == ARES_ENOTFOUND) {
        route_fail(q, DNS_ROUTE_NOT_FOUND, "domain not found");
        return;
    }
    if (status == ARES_SUCCESS)
        status = ares_parse_mx_reply(abuf, alen, &mx);
    if (status == ARES_ENODATA) {
        /* RFC 5321 5.1: no MX - the domain itself is the implicit MX. */
        str_copy(q->hosts[0].host, q->domain, sizeof q->hosts[0].host);
        q->n_hosts = 1;
        resolve_hosts(q);
        return;
    }
    if (status != ARES_SUCCESS) {
        route_fail(q, DNS_ROUTE_TEMPFAIL, ares_strerror(status));
        return;
    }
    for (struct ares_mx_reply *m = mx; m && q->n_hosts < MX_HOSTS_MAX; m = m->next) {
        /* RFC 7505: a single MX of "." means the domain takes no mail. */
        if (m->host[0] == '\0' || strcmp(m->host, ".") == 0) {
            ares_free_data(mx);
            route_fail(q, DNS_ROUTE_NULL_MX, "domain accepts no mail (null MX, RFC 7505)");
            return;
        }
        str_copy(q->hosts[q->n_hosts].host, m->host, sizeof q->hosts[0].host);
        q->hosts[q->n_hosts++].preference = m->priority;
    }
    ares_free_data(mx);
    qsort(q->hosts, q->n_hosts, sizeof q->hosts[0], by_preference);
    shuffle_equals(q->hosts, q->n_hosts);
    resolve_hosts(q);
}

static struct route_req *route_req_new(struct dns_resolver *r, const char *name, dns_route_cb cb,
                                       void *arg)
{
    struct route_req *q = calloc(1, sizeof *q);
    if (q == NULL) {
        cb(arg, DNS_ROUTE_TEMPFAIL, NULL, 0, "out of memory");
        return NULL;
    }
    q->r = r;
    q->cb = cb;
    q->arg = arg;
    str_copy(q->domain, name, sizeof q->domain);
    return q;
}

void dns_route(struct dns_resolver *r, const char *domain, dns_route_cb cb, void *arg)
{
    struct route_req *q = route_req_new(r, domain, cb, arg);
    if (q == NULL)
        return;
    ares_query(r->channel, domain, ns_c_in, ns_t_mx, on_mx, q);
    arm_timer(r);
}

void dns_route_host(struct dns_resolver *r, const char *host, dns_route_cb cb, void *arg)
{
    struct route_req *q = route_req_new(r, host, cb, arg);
    if (q == NULL)
        return;
    str_copy(q->hosts[0].host, host, sizeof q->hosts[0].host);
    q->n_hosts = 1;
    resolve_hosts(q);
}

/* ---- reverse names ---- */

/* Asked as a plain PTR query rather than with ares_gethostbyaddr: that
 * one falls back to /etc/hosts after any DNS failure and so reports a
 * server outage as "no such name" - a rejection instead of a retry. */

struct ptr_req {
    dns_ptr_cb cb;
    void *arg;
};

static void on_ptr(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    struct ptr_req *q = arg;
    struct hostent *h = NULL;
    if (status == ARES_SUCCESS)
        status = ares_parse_ptr_reply(abuf, alen, NULL, 0, AF_INET, &h);
    if (status == ARES_SUCCESS && h && h->h_name && h->h_name[0])
        q->cb(q->arg, DNS_PTR_FOUND, h->h_name);
    else if (status == ARES_ENOTFOUND || status == ARES_ENODATA || status == ARES_SUCCESS)
        q->cb(q->arg, DNS_PTR_NONE, NULL);
    else
        q->cb(q->arg, DNS_PTR_TEMPFAIL, NULL);
    if (h)
        ares_free_hostent(h);
    free(q);
}

/* reverse_name - "4.3.2.1.in-addr.arpa" or the ip6.arpa nibbles of SA. */
static void reverse_name(const struct sockaddr *sa, char *buf, size_t len)
{
    size_t o = 0;
    if (sa->sa_family == AF_INET6) {
        const unsigned char *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        for (int i = 15; i >= 0 && o + 4 < len; i--)
            o += (size_t)snprintf(buf + o, len - o, "%x.%x.", a[i] & 0xf, a[i] >> 4);
        snprintf(buf + o, len - o, "ip6.arpa");
    } else {
        const unsigned char *a =
            (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr.s_addr;
        snprintf(buf, len, "%u.%u.%u.%u.in-addr.arpa", a[3], a[2], a[1], a[0]);
    }
}

void dns_ptr(struct dns_resolver *r, const struct sockaddr *sa, dns_ptr_cb cb, void *arg)
{
    struct ptr_req *q = malloc(sizeof *q);
    if (q == NULL) {
        cb(arg, DNS_PTR_TEMPFAIL, NULL);
        return;
    }
    char name[80];
    reverse_name(sa, name, sizeof name);
    q->cb = cb;
    q->arg = arg;
    ares_query(r->channel, name, ns_c_in, ns_t_ptr, on_ptr, q);
    arm_timer(r);
}
