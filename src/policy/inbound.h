/* policy/inbound - the checks of mail other servers send in (the config's
 * inbound section): DNSBL scoring of the client address and SPF of the
 * envelope sender at MAIL FROM, DKIM signatures and DMARC of the header
 * From at the end of DATA, and the Authentication-Results header (RFC
 * 8601) of the message.
 *
 * Two halves, as with the store's facts (policy_store_facts_read): the
 * facts are gathered on a lookup thread (inbound_facts_mail,
 * inbound_facts_data: DNS, libspf2, libopendmarc — never on the event
 * loop), and the engine decides on the loop from them
 * (policy_inbound_mail, policy_inbound_data), each decision with its
 * reason word "dnsbl", "spf", "dmarc" or "auth_results" (room: policy). */
#ifndef FLOODGATE_POLICY_INBOUND_H
#define FLOODGATE_POLICY_INBOUND_H

#include <stdbool.h>

#include "core/config.h"
#include "core/dkim_check.h"
#include "core/dmarc_check.h"
#include "core/header_scan.h"
#include "core/header_watch.h"
#include "core/spf_check.h"
#include "policy/engine.h"

#define INBOUND_ZONES_MAX 256 /* room for the names of the lists in a reply */

/* The From: domains checked (RFC 7489 6.6.1: each author domain of a
 * From: with several addresses); a message with more is refused. */
#define INBOUND_AUTHORS_MAX 8

/* One author domain of the header From and its DMARC outcome. */
struct inbound_author {
    char domain[HEADER_FACT_MAX]; /* lowercased; "" for an address without one */
    struct dmarc_result dmarc;
};

/* What the checks found for one transaction. */
struct inbound_facts {
    bool wanted; /* the checks apply to this client */
    /* DNSBL, at MAIL */
    unsigned dnsbl_score;
    char dnsbl_listed[INBOUND_ZONES_MAX]; /* "zone, zone" of the lists that list the client */
    char dnsbl_failed[INBOUND_ZONES_MAX]; /* lists whose DNS did not answer */
    /* SPF, at MAIL */
    bool spf_checked;
    enum spf_verdict spf;
    char spf_domain[256]; /* the MAIL FROM domain, or the HELO name for <> */
    bool spf_helo;        /* SPF_DOMAIN is the HELO name */
    /* DKIM, at the end of DATA (dkim.checked) */
    struct dkim_results dkim;
    /* the header, at the end of DATA (inbound_facts_header) */
    bool forged_past; /* an A-R claiming our authserv-id past the part in memory */
    bool from_past;   /* a From: field past the part in memory */
    unsigned head_kb; /* the size of that part, in KB, for the replies */
    size_t n_authors; /* distinct From: domains; more than INBOUND_AUTHORS_MAX: not checked */
    struct inbound_author author[INBOUND_AUTHORS_MAX];
    /* DMARC, at the end of DATA: the strictest outcome of the authors'
     * (RFC 7489 6.6.1), and its domain */
    bool dmarc_checked;
    struct dmarc_result dmarc;
    char from_domain[256]; /* of the header From ("" when none) */
};

/* policy_inbound_wanted - do the inbound checks apply to O?  Never for an
 * authenticated client or one of relay.allow_groups, and only when the
 * session's config turns a check on. */
bool policy_inbound_wanted(struct policy *p, const struct origin *o);

/* inbound_configure - at start and on each reload, on the loop: with
 * DMARC on, load the Public Suffix List of CFG (inbound.public_suffix_list)
 * for the organizational domain; a file that cannot be read is a warning
 * (event=public_suffix_list result=missing), and DMARC goes on with the
 * list loaded before, or the last two labels without one. */
void inbound_configure(const struct config *cfg);

/* inbound_facts_mail - on a lookup thread: the DNSBL score of IP and the
 * SPF verdict of FROM ("" for <>: the HELO name's) under CFG, into F
 * (F->wanted set by the caller).  The DNSBL answers are cached for their
 * TTL, process-wide. */
void inbound_facts_mail(const struct config *cfg, const char *ip, const char *helo,
                        const char *from, struct inbound_facts *f);

/* inbound_facts_header - on the loop, at the end of DATA: with DMARC on
 * in CFG, the author domains of every From: field in HEAD (the LEN octets
 * of the message in memory; TOTAL octets in all), and from W (which saw
 * the whole header go by) whether a forged Authentication-Results or a
 * From: lies past them, into F. */
void inbound_facts_header(const struct config *cfg, const char *head, size_t len, size_t total,
                          const struct header_watch *w, struct inbound_facts *f);

/* inbound_facts_data - on a lookup thread: the DKIM signatures of the
 * message READ gives (CTX its argument), and the DMARC outcome of each
 * author domain in F (inbound_facts_header), with the SPF verdict already
 * in F; the strictest into F->dmarc and F->from_domain. */
void inbound_facts_data(const struct config *cfg, const char *ip, dkim_read_fn read, void *ctx,
                        struct inbound_facts *f);

/* policy_inbound_mail - the engine's word on F at MAIL FROM:<FROM>: a
 * DNSBL score at the threshold (554 5.7.1 naming the lists), SPF fail
 * (550 5.7.23, RFC 7372) or softfail when configured to reject, a DNS
 * failure when inbound.dns_failure = "defer" (451 4.4.3). */
void policy_inbound_mail(struct policy *p, const struct origin *o, const char *from,
                         const struct inbound_facts *f, struct policy_decision *d);

/* policy_inbound_data - the engine's word on F at the end of DATA: a
 * forged Authentication-Results past the header in memory (550 5.7.1),
 * then the From: domains' DMARC policy, the strictest of them (reject:
 * 550 5.7.1; quarantine: HOLD; none: ACCEPT), a DNS failure as at MAIL. */
void policy_inbound_data(struct policy *p, const struct origin *o, const struct inbound_facts *f,
                         struct policy_decision *d);

/* inbound_auth_results - the Authentication-Results header field (RFC
 * 8601) for F, CR LF ended, malloc'd; NULL when out of memory. */
char *inbound_auth_results(const struct config *cfg, const struct inbound_facts *f);

#endif
