/* core/blocklist - is an address on a DNS blocklist (DNSBL, RFC 5782)?
 * The question is the address's reversed octets (or nibbles) under the
 * list's zone; the answer is read the way the lists document it, so that
 * a refusal is never mistaken for a listing (room: core).  Synchronous,
 * over core/dnsq: for floodctl and worker threads only. */
#ifndef FLOODGATE_CORE_BLOCKLIST_H
#define FLOODGATE_CORE_BLOCKLIST_H

#include <stdbool.h>
#include <stddef.h>

#include "core/dnsq.h"

enum blocklist_state {
    BLOCKLIST_CLEAN,   /* NXDOMAIN: not listed */
    BLOCKLIST_LISTED,  /* 127.0.0.2 - 127.0.0.11 (RFC 5782 2.1: 127.0.0.2 and up) */
    BLOCKLIST_UNKNOWN, /* a DNS failure, a refusal (127.255.255.x), or an answer
                          no list gives: never counted as listed */
};

struct blocklist_result {
    enum blocklist_state state;
    char code[48];     /* the A record answered, "127.0.0.2"; "" when none */
    char meaning[160]; /* what the code means, or why the result is unknown */
    char reason[256];  /* the list's TXT record (RFC 5782 2.1), if any */
    /* how long the answer holds: a listing's A record TTL; for CLEAN the
     * negative TTL of the SOA the NXDOMAIN carried (RFC 2308 5); -1 when
     * the answer said nothing (no SOA) or there was no answer */
    long ttl;
    bool dns_failed; /* UNKNOWN because the DNS did not answer (SERVFAIL, timeout) */
};

/* blocklist_check - ADDR (IPv4 or IPv6 text) on the list at ZONE.  With
 * WHY, a listing's TXT record (the list's own words) is asked too, into
 * R->reason: for an admin reading it, not for the SMTP path, which would
 * pay a second lookup per listed client for text nobody reads. */
void blocklist_check(struct dnsq *q, const char *addr, const char *zone, bool why,
                     struct blocklist_result *r);

/* blocklist_name - the question for ADDR at ZONE ("2.0.0.127.zen.example")
 * into BUF; -1 when ADDR is no address or it does not fit. */
int blocklist_name(const char *addr, const char *zone, char *buf, size_t len);

/* blocklist_state_text - "listed", "not listed", "unknown". */
const char *blocklist_state_text(enum blocklist_state s);

#endif
