/* core/ipset - sets of IPv4 and IPv6 addresses built from single addresses,
 * CIDR networks and ranges; the building block of IP groups. */
#ifndef FLOODGATE_CORE_IPSET_H
#define FLOODGATE_CORE_IPSET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct ipset;

/* How much address space one entry covers, for the guards on IP groups.
 * "Public" is every address outside the private and local-use blocks:
 * 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 (RFC 1918), 127.0.0.0/8,
 * 169.254.0.0/16, 100.64.0.0/10 (RFC 6598), fc00::/7 (RFC 4193),
 * fe80::/10 and ::1.  IPv4-mapped IPv6 (::ffff:0:0/96) is judged as
 * IPv4, since IPv4 clients match it.  Ordered: each level is worse. */
enum ipset_breadth {
    IPSET_BREADTH_OK,        /* private, or a public part of at most a /16 (v4) */
    IPSET_BREADTH_LARGE,     /* a public part larger than a /16 (v4): worth a warning */
    IPSET_BREADTH_WIDE,      /* wider than a /8 (v4) or a /32 (v6) and not all of it
                                private: refused in a group that grants anything */
    IPSET_BREADTH_EVERYTHING /* a public part of a /7 or more: "the whole Internet" */
};

/* Room for one entry as text ("IPv6-IPv6" is the longest), with its NUL. */
#define IPSET_TEXT_MAX 96

/* What ipset_inspect finds out about one entry. */
struct ipset_entry_facts {
    enum ipset_breadth breadth;   /* of the entry as it matches, host bits cleared */
    bool public_part;             /* some of it lies outside the private and local blocks */
    bool host_bits;               /* "ADDR/PREFIX" with bits set under the prefix */
    char network[IPSET_TEXT_MAX]; /* when host_bits: what it matches ("192.168.1.0/24") */
    char meant[IPSET_TEXT_MAX];   /* when host_bits: the address at the prefix its
                                     trailing zeros suggest, rounded up to an octet
                                     (v4) or a 16-bit group (v6): "192.168.1.0/24" for
                                     "192.168.1.0/0", "192.168.1.5" for "192.168.1.5/24" */
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

/* ipset_inspect - parse ENTRY (any form ipset_add takes) without adding it
 * and describe it in *FACTS.  Returns 0, or -1 with ERR set as ipset_add. */
int ipset_inspect(const char *entry, struct ipset_entry_facts *facts, char *err, size_t errlen);

/* How two sets relate, for the config audit (floodctl doctor). */
enum ipset_relation {
    IPSET_DISJOINT, /* no address in both */
    IPSET_INSIDE,   /* every address of A is in B (A is B, or a part of it) */
    IPSET_AROUND,   /* every address of B is in A */
    IPSET_OVERLAP   /* some addresses in both, some in one only */
};

/* ipset_relation - how A relates to B.  When they share addresses and
 * SHARED is not NULL, the first shared address goes there as text. */
enum ipset_relation ipset_relation(const struct ipset *a, const struct ipset *b, char *shared,
                                   size_t len);

/* ipset_entry_text - entry I of SET as text in BUF: an address, "NET/PREFIX"
 * or "FIRST-LAST"; IPv4-mapped entries in IPv4 form.  -1 if I is out of range. */
int ipset_entry_text(const struct ipset *set, size_t i, char *buf, size_t len);

/* ipset_is_loopback - whether SA is 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104. */
bool ipset_is_loopback(const struct sockaddr *sa);

/* ipset_merge - add every entry of FROM to SET. */
int ipset_merge(struct ipset *set, const struct ipset *from);

bool ipset_contains(const struct ipset *set, const struct sockaddr *sa);
/* ipset_contains_str - same for a textual address; false if it does not parse. */
bool ipset_contains_str(const struct ipset *set, const char *ip);
size_t ipset_count(const struct ipset *set); /* number of entries */

#endif
