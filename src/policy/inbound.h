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
 * reason word "dnsbl", "spf" or "dmarc" (room: policy). */
#ifndef FLOODGATE_POLICY_INBOUND_H
#define FLOODGATE_POLICY_INBOUND_H

#include <stdbool.h>

#include "core/config.h"
#include "core/dkim_check.h"
#include "core/dmarc_check.h"
#include "core/spf_check.h"
#include "policy/engine.h"

#define INBOUND_ZONES_MAX 256 /* room for the names of the lists in a reply */

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
    /* DMARC, at the end of DATA */
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

/* inbound_facts_data - on a lookup thread: the DKIM signatures of the
 * message READ gives (CTX its argument) and the DMARC outcome of it, whose
 * From: is HEADER_FROM (NULL: none), with the SPF verdict already in F. */
void inbound_facts_data(const struct config *cfg, const char *ip, const char *header_from,
                        dkim_read_fn read, void *ctx, struct inbound_facts *f);

/* policy_inbound_mail - the engine's word on F at MAIL FROM:<FROM>: a
 * DNSBL score at the threshold (554 5.7.1 naming the lists), SPF fail
 * (550 5.7.23, RFC 7372) or softfail when configured to reject, a DNS
 * failure when inbound.dns_failure = "defer" (451 4.4.3). */
void policy_inbound_mail(struct policy *p, const struct origin *o, const char *from,
                         const struct inbound_facts *f, struct policy_decision *d);

/* policy_inbound_data - the engine's word on F at the end of DATA: the
 * From: domain's DMARC policy (reject: 550 5.7.1; quarantine: HOLD; none:
 * ACCEPT), a DNS failure as at MAIL. */
void policy_inbound_data(struct policy *p, const struct origin *o, const struct inbound_facts *f,
                         struct policy_decision *d);

/* inbound_auth_results - the Authentication-Results header field (RFC
 * 8601) for F, CR LF ended, malloc'd; NULL when out of memory. */
char *inbound_auth_results(const struct config *cfg, const struct inbound_facts *f);

#endif
