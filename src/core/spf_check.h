/* core/spf_check - the SPF result (RFC 7208) of a client address for a
 * sender domain, evaluated by libspf2 with its DNS questions asked
 * through core/dnsq (so through dns.servers; a test's DNS server on
 * loopback answers them).  Synchronous: for floodctl and worker threads,
 * never the event loop (room: core). */
#ifndef FLOODGATE_CORE_SPF_CHECK_H
#define FLOODGATE_CORE_SPF_CHECK_H

#include <stddef.h>

#include "core/dnsq.h"

/* RFC 7208 2.6, in its order. */
enum spf_verdict {
    SPF_VERDICT_NONE,
    SPF_VERDICT_NEUTRAL,
    SPF_VERDICT_PASS,
    SPF_VERDICT_FAIL,
    SPF_VERDICT_SOFTFAIL,
    SPF_VERDICT_TEMPERROR,
    SPF_VERDICT_PERMERROR
};

/* spf_check - the verdict for mail from IP (text, v4 or v6) with MAIL
 * FROM SENDER (an address, or a bare domain for its postmaster) and HELO
 * (may be NULL).  COMMENT (may be NULL) receives libspf2's words for it
 * ("domain of example.com does not designate 192.0.2.1 as permitted
 * sender").  A DNS failure on the way is SPF_VERDICT_TEMPERROR. */
enum spf_verdict spf_check(struct dnsq *q, const char *ip, const char *sender, const char *helo,
                           char *comment, size_t len);

/* spf_verdict_text - "pass", "softfail", ... as RFC 7208 names them. */
const char *spf_verdict_text(enum spf_verdict v);

#endif
