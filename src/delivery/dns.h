/* delivery/dns - find where mail for a domain goes (RFC 5321 5.1): MX
 * records by preference, shuffled among equals, then their addresses;
 * the domain itself when it has no MX; nowhere for a null MX (RFC 7505).
 * Asynchronous on the event loop with c-ares; servers settable ("ip:port")
 * so tests can point it at a DNS server on loopback. */
#ifndef FLOODGATE_DELIVERY_DNS_H
#define FLOODGATE_DELIVERY_DNS_H

#include <event2/event.h>
#include <stddef.h>
#include <sys/socket.h>

#define DNS_TARGETS_MAX 16 /* addresses tried per delivery attempt */

struct mx_target {
    char host[256];
    unsigned preference;
    struct sockaddr_storage addr; /* port left 0: the caller sets it */
    socklen_t addrlen;
};

enum dns_route_status {
    DNS_ROUTE_OK,
    DNS_ROUTE_NULL_MX,   /* RFC 7505: the domain accepts no mail - bounce */
    DNS_ROUTE_NOT_FOUND, /* the domain does not exist (NXDOMAIN for its MX) - bounce */
    DNS_ROUTE_TEMPFAIL,  /* try again later */
};

typedef void (*dns_route_cb)(void *arg, enum dns_route_status st, const struct mx_target *t,
                             size_t n, const char *err);

struct dns_resolver;

/* dns_resolver_new - SERVERS are "ip", "ip:port" or "[v6]:port"; none
 * means the system resolver.  NULL with ERR set on failure. */
struct dns_resolver *dns_resolver_new(struct event_base *base, char **servers, size_t n, char *err,
                                      size_t errlen);
void dns_resolver_free(struct dns_resolver *r);
/* dns_cancel - end every lookup in flight now (their callbacks report a
 * temporary failure): shutdown does not wait for DNS timeouts. */
void dns_cancel(struct dns_resolver *r);

/* dns_route - MX routing for DOMAIN; CB runs later on the loop. */
void dns_route(struct dns_resolver *r, const char *domain, dns_route_cb cb, void *arg);
/* dns_route_host - addresses of one HOST (a smarthost), as if it were
 * its only MX. */
void dns_route_host(struct dns_resolver *r, const char *host, dns_route_cb cb, void *arg);

enum dns_ptr_status { DNS_PTR_FOUND, DNS_PTR_NONE, DNS_PTR_TEMPFAIL };
/* NAME is the first host name found, or NULL. */
typedef void (*dns_ptr_cb)(void *arg, enum dns_ptr_status st, const char *name);

/* dns_ptr - the reverse name (PTR) of address SA; CB runs later on the
 * loop (or at once when memory runs out). */
void dns_ptr(struct dns_resolver *r, const struct sockaddr *sa, dns_ptr_cb cb, void *arg);

#endif
