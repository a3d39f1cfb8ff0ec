/* core/dkim_check - verify the DKIM signatures (RFC 6376) of a message
 * coming in, with libopendkim, its key questions asked through core/dnsq
 * (so through dns.servers, never the system resolver when that is set).
 * Synchronous: for worker and lookup threads, never the event loop (room:
 * core).  The results feed DMARC (core/dmarc_check.h) and the
 * Authentication-Results header (policy/inbound.c). */
#ifndef FLOODGATE_CORE_DKIM_CHECK_H
#define FLOODGATE_CORE_DKIM_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "core/dnsq.h"

/* The most signatures of one message that are ever verified (the
 * config's inbound.dkim_max_signatures is at most this): the results live
 * in every session's transaction, so they are kept small. */
#define DKIM_CHECK_SIGS_MAX 8

/* A source of the message octets (header and body, CR LF line ends):
 * returns the count read at OFF (0 at the end), -1 on error.  Shared with
 * the signer (delivery/dkim.h). */
typedef long (*dkim_read_fn)(void *ctx, size_t off, char *buf, size_t n);

/* RFC 8601 2.7.1's words for one signature's outcome. */
enum dkim_verdict {
    DKIM_VERDICT_NONE,      /* not signed (only for the message as a whole) */
    DKIM_VERDICT_PASS,      /* the signature and the body hash verify */
    DKIM_VERDICT_FAIL,      /* they do not: the message was changed, or forged */
    DKIM_VERDICT_TEMPERROR, /* the key's DNS question failed (SERVFAIL, timeout) */
    DKIM_VERDICT_PERMERROR, /* no key (RFC 6376 6.1.2), a broken signature or key */
    DKIM_VERDICT_POLICY     /* valid, but its l= leaves part of the body unsigned
                               (RFC 6376 8.2): not acceptable, never a pass for DMARC */
};

struct dkim_signature {
    enum dkim_verdict verdict;
    char domain[256];  /* d=, lowercased ("" when the signature has none) */
    char selector[64]; /* s= ("" when none, or longer than this) */
    char reason[80];   /* what went wrong, "" on pass */
};

struct dkim_results {
    bool checked;   /* dkim_check ran */
    char error[64]; /* not "": the check itself failed (out of memory, the
                       spool unreadable): a temporary error of the message */
    size_t n;       /* signatures verified, in the order of the header */
    unsigned extra; /* signatures past the cap: not verified, not reported */
    struct dkim_signature sig[DKIM_CHECK_SIGS_MAX];
};

/* dkim_check - verify up to MAX_SIGS DKIM-Signature fields (the topmost
 * first) of the message READ gives, asking the keys through Q, into R.
 * A message that cannot be parsed gives its signatures permerror; one
 * that cannot be read, or memory running out, sets R->error. */
void dkim_check(struct dnsq *q, unsigned max_sigs, dkim_read_fn read, void *ctx,
                struct dkim_results *r);

/* dkim_verdict_text - "pass", "fail", ... as RFC 8601 names them. */
const char *dkim_verdict_text(enum dkim_verdict v);

#endif
