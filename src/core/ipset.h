/* core/ipset - sets of IPv4 and IPv6 addresses built from single addresses,
 * CIDR networks and ranges; the building block of IP groups. */
#ifndef FLOODGATE_CORE_IPSET_H
#define FLOODGATE_CORE_IPSET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct ipset;

/* How much address space one entry covers, for the open-relay guard. */
enum ipset_breadth {
    IPSET_BREADTH_OK,      /* an ordinary network */
    IPSET_BREADTH_WIDE,    /* public space larger than a /16 (v4) or /32 (v6): warn */
    IPSET_BREADTH_EVERYTHING /* a /0-/7 network or a range as big: "the whole Internet" */
};

struct ipset *ipset_new(void);
void ipset_free(struct ipset *set);

/* ipset_add - add one entry: "192.0.2.1", "192.0.2.0/24", "192.0.2.10-192.0.2.20",
 * "2001:db8::1", "2001:db8::/32", "2001:db8::1-2001:db8::ff".  Strict: a host
 * part set under a mask ("192.168.1.5/24") is accepted (masked), but a bad
 * octet, prefix or reversed range is an error.  Returns 0, or -1 with ERR set.
 * BREADTH (may be NULL) receives how wide the entry is. */
int ipset_add(struct ipset *set, const char *entry, enum ipset_breadth *breadth, char *err,
              size_t errlen);

/* ipset_merge - add every entry of FROM to SET. */
int ipset_merge(struct ipset *set, const struct ipset *from);

bool ipset_contains(const struct ipset *set, const struct sockaddr *sa);
/* ipset_contains_str - same for a textual address; false if it does not parse. */
bool ipset_contains_str(const struct ipset *set, const char *ip);
size_t ipset_count(const struct ipset *set); /* number of entries */

#endif
