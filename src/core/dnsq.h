/* core/dnsq - one DNS question, answered synchronously with c-ares, for
 * the callers that may wait: floodctl (doctor) and worker threads (SPF
 * evaluation, blocklist checks).  The event loop never calls it: it has
 * delivery/dns.c.  Servers are the config's dns.servers ("ip:port"), so
 * tests point it at a DNS server on loopback; none means the system's.
 * The answer says how the question ended, because a DNS failure is not a
 * verdict (a timeout is "unknown", never "not listed"). */
#ifndef FLOODGATE_CORE_DNSQ_H
#define FLOODGATE_CORE_DNSQ_H

#include <stdbool.h>
#include <stddef.h>

/* Records kept per answer, and the text kept per record: a TXT record's
 * strings joined (RFC 7208 3.3), a host name, or an address. */
#define DNSQ_RECORDS_MAX 32
#define DNSQ_TEXT_MAX 1024

enum dnsq_type { DNSQ_A, DNSQ_AAAA, DNSQ_MX, DNSQ_TXT, DNSQ_PTR };

enum dnsq_status {
    DNSQ_OK,       /* at least one record */
    DNSQ_NODATA,   /* the name exists, without records of that type */
    DNSQ_NXDOMAIN, /* the name does not exist */
    DNSQ_SERVFAIL, /* the server failed or refused */
    DNSQ_TIMEOUT,  /* no answer in time */
    DNSQ_ERROR     /* anything else (a bad name, no memory, a bad answer) */
};

struct dnsq_record {
    unsigned pref; /* MX preference */
    unsigned ttl;
    char text[DNSQ_TEXT_MAX];
};

struct dnsq_answer {
    enum dnsq_status status;
    /* NXDOMAIN or NODATA: how long the answer may be kept, from the SOA
     * record of the authority section (RFC 2308 5: the smaller of its TTL
     * and its MINIMUM field); -1 when the answer carried no SOA */
    long negative_ttl;
    size_t n;
    struct dnsq_record rec[DNSQ_RECORDS_MAX];
};

struct dnsq;

/* dnsq_new - a resolver over SERVERS ("ip", "ip:port", "[v6]:port"; none:
 * the system's), each try waiting TIMEOUT_MS.  NULL with ERR set. */
struct dnsq *dnsq_new(char *const *servers, size_t n, unsigned timeout_ms, char *err,
                      size_t errlen);
void dnsq_free(struct dnsq *q);

/* dnsq_query - ask NAME's records of TYPE and wait for the answer in *A.
 * For PTR, NAME may be an address ("192.0.2.1", "2001:db8::1"): it is
 * turned into its in-addr.arpa / ip6.arpa name.  Returns A->status. */
enum dnsq_status dnsq_query(struct dnsq *q, const char *name, enum dnsq_type type,
                            struct dnsq_answer *a);

/* dnsq_query_raw - ask NAME's records of type RRTYPE (ns_t_txt, ...) and
 * wait: the answer message as it came off the wire into BUF (room *LEN
 * octets; *LEN set to its length) when the server answered it (OK,
 * NODATA, NXDOMAIN), for a library that parses DNS messages itself
 * (libopendkim, core/dkim_check.c).  Returns how the question ended. */
enum dnsq_status dnsq_query_raw(struct dnsq *q, const char *name, int rrtype, unsigned char *buf,
                                size_t *len);

/* dnsq_parse - the records of TYPE in the DNS message BUF of LEN octets
 * (an answer off the wire) into *A.  Returns A->status. */
enum dnsq_status dnsq_parse(enum dnsq_type type, const unsigned char *buf, int len,
                            struct dnsq_answer *a);

/* dnsq_negative_ttl - the negative-caching TTL of the DNS message BUF
 * of LEN octets (RFC 2308 5: min(SOA TTL, SOA MINIMUM) of the SOA in its
 * authority section); -1 when it has none or is malformed. */
long dnsq_negative_ttl(const unsigned char *buf, int len);

/* dnsq_failed - ST is a failure of the DNS (SERVFAIL, timeout, error),
 * not an answer: never to be read as "no record" (issue 15, item 6). */
bool dnsq_failed(enum dnsq_status st);

/* dnsq_txt_with - ask NAME's TXT records into *A and count those that
 * begin with TAG ("v=spf1", "v=DMARC1") followed by a space, a tab, a ';'
 * or their end (RFC 7208 4.5, RFC 7489 6.6.3); the first such record
 * into FIRST (LEN octets) when FIRST is not NULL.  -1 when the DNS failed
 * (*ST says how; NXDOMAIN and NODATA are answers: 0). */
int dnsq_txt_with(struct dnsq *q, const char *name, const char *tag, struct dnsq_answer *a,
                  char *first, size_t len, enum dnsq_status *st);

/* dnsq_status_text - "NXDOMAIN", "timeout", ... for messages. */
const char *dnsq_status_text(enum dnsq_status st);

/* dnsq_reverse_name - NAME's in-addr.arpa or ip6.arpa name in BUF; -1
 * when ADDR is no address. */
int dnsq_reverse_name(const char *addr, char *buf, size_t len);

#endif
