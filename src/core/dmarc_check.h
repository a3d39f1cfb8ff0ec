/* core/dmarc_check - DMARC (RFC 7489) of a message's From: domain, with
 * libopendmarc for the record and the alignment, and the record asked
 * through core/dnsq (so through dns.servers).  Synchronous: for worker and
 * lookup threads, never the event loop (room: core). */
#ifndef FLOODGATE_CORE_DMARC_CHECK_H
#define FLOODGATE_CORE_DMARC_CHECK_H

#include <stddef.h>

#include "core/dkim_check.h"
#include "core/dnsq.h"
#include "core/spf_check.h"

/* RFC 8601 2.7.1's words for the outcome. */
enum dmarc_verdict {
    DMARC_VERDICT_NONE,      /* no DMARC record: no policy published */
    DMARC_VERDICT_PASS,      /* an aligned identifier passed */
    DMARC_VERDICT_FAIL,      /* none did: DISPOSITION says what the domain asks */
    DMARC_VERDICT_TEMPERROR, /* the DNS did not answer, or SPF could not be checked */
    DMARC_VERDICT_PERMERROR  /* the record is broken, or the From: has no domain */
};

/* What the domain owner asks for mail that fails (RFC 7489 6.3 p=/sp=,
 * after pct=). */
enum dmarc_disposition {
    DMARC_DISPOSITION_NONE,
    DMARC_DISPOSITION_QUARANTINE,
    DMARC_DISPOSITION_REJECT
};

struct dmarc_result {
    enum dmarc_verdict verdict;
    enum dmarc_disposition disposition; /* for FAIL; NONE otherwise */
    char policy[16];                    /* "reject", "quarantine", "none", "" without record */
    char record_domain[256];            /* where the record was found ("" when none) */
};

/* dmarc_check - the DMARC outcome of a message from client IP whose
 * From: domain is FROM_DOMAIN, with SPF VERDICT for SPF_DOMAIN (the MAIL
 * FROM domain, or the HELO name for the null sender) and the DKIM
 * signatures' outcomes DKIM (NULL: not verified).  RFC 7489 4.2: an
 * aligned SPF pass or an aligned DKIM pass passes; when neither does and
 * an aligned identifier met a DNS failure, the outcome is temperror, never
 * fail. */
void dmarc_check(struct dnsq *q, const char *ip, const char *from_domain, const char *spf_domain,
                 enum spf_verdict spf, const struct dkim_results *dkim, struct dmarc_result *r);

/* dmarc_psl_load - read the Public Suffix List at PATH (publicsuffix.org
 * format) into libopendmarc, for the organizational domain of RFC 7489
 * 3.2 (the record looked up when the From: domain has none, and relaxed
 * alignment).  0 when loaded; -1 with ERR when it cannot be read: the
 * list loaded before stays in use, and with none, the organizational
 * domain is the last two labels.  PATH "" forgets the list (0). */
int dmarc_psl_load(const char *path, char *err, size_t errlen);

/* dmarc_verdict_text - "pass", "fail", ... as RFC 8601 names them. */
const char *dmarc_verdict_text(enum dmarc_verdict v);

#endif
