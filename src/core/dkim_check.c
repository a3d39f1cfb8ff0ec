/* core/dkim_check - DKIM verification with libopendkim over our own DNS
 * layer (room: core).
 *
 * libopendkim would ask the key records (RFC 6376 3.6.2) of the system
 * resolver (res_query): it would ignore dns.servers, as libspf2 and
 * libopendmarc would (core/spf_check.c, core/dmarc_check.c).  Its DNS
 * hooks (dkim_dns_set_query_service/_start/_waitreply/_cancel) hand each
 * question to core/dnsq instead, which returns the answer message whole;
 * the parsing of the key, the canonicalization and the hashes stay
 * libopendkim's.  A library handle per checks thread (thread_lib), its
 * DNS service set to the caller's resolver for each message.
 *
 * Limits: the octets hashed are the message's, already bounded by the
 * listener's size limit; at most MAX_SIGS signatures (the topmost: the
 * ones nearest to us) are verified, each costing a DNS question and an
 * RSA or Ed25519 verification; the rest are ignored (RFC 6376 6.1:
 * "Verifiers MAY limit the number of signatures they tries to verify").
 *
 * A signature whose l= (body length) signs only the start of the body is
 * valid, but whatever follows was added by anyone (RFC 6376 8.2: a
 * mailing list's footer, or a phisher's text): it is reported as
 * "policy" (RFC 8601 2.7.1: valid, not acceptable to local policy) and
 * DMARC never counts it as a pass.  An l= covering the whole body is a
 * pass. */
#include "core/dkim_check.h"

#include <arpa/nameser.h>
#include <opendkim/dkim.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

#define READ_CHUNK 65536

/* One key question, asked at once by dns_start (dnsq is synchronous) and
 * collected by dns_waitreply. */
struct question {
    enum dnsq_status status;
    size_t len;
};

/* dns_start - libopendkim's query start hook: ask QUERY's records of TYPE
 * through the resolver SRV, the answer message into BUF. */
static int dns_start(void *srv, int type, unsigned char *query, unsigned char *buf, size_t buflen,
                     void **qh)
{
    struct question *q = malloc(sizeof *q);
    if (q == NULL)
        return -1;
    q->len = buflen;
    q->status = dnsq_query_raw(srv, (const char *)query, type, buf, &q->len);
    *qh = q;
    return 0;
}

/* dns_waitreply - libopendkim's wait hook: the answer dns_start got.  A
 * server failure is an error, never "no answer records": libopendkim would
 * read a SERVFAIL without records as "no key" (a permanent failure), and
 * a DNS failure is not a verdict (RFC 6376 6.1.2: TEMPFAIL). */
static int dns_waitreply(void *srv, void *qh, struct timeval *to, size_t *bytes, int *error,
                         int *dnssec)
{
    (void)srv;
    (void)to;
    const struct question *q = qh;
    if (error)
        *error = 0;
    if (dnssec)
        *dnssec = DKIM_DNSSEC_UNKNOWN;
    if (q->status == DNSQ_TIMEOUT)
        return DKIM_DNS_EXPIRED;
    if (q->status != DNSQ_OK && q->status != DNSQ_NODATA && q->status != DNSQ_NXDOMAIN)
        return DKIM_DNS_ERROR;
    if (bytes)
        *bytes = q->len;
    return DKIM_DNS_SUCCESS;
}

/* dns_cancel - libopendkim's cancel hook, called once a question is done
 * with (answered or not): frees it. */
static int dns_cancel(void *srv, void *qh)
{
    (void)srv;
    free(qh);
    return 0;
}

/* prescreen - libopendkim's look at the signatures before any is
 * verified: the ones past the cap (the user context) are ignored. */
static DKIM_CBSTAT prescreen(DKIM *dkim, DKIM_SIGINFO **sigs, int nsigs)
{
    const unsigned *max = dkim_get_user_context(dkim);
    for (int i = max ? (int)*max : 0; i < nsigs; i++)
        dkim_sig_ignore(sigs[i]);
    return DKIM_CBSTAT_CONTINUE;
}

/* lib_new - a library handle whose key questions go to our hooks; NULL
 * when memory runs out. */
static DKIM_LIB *lib_new(void)
{
    DKIM_LIB *lib = dkim_init(NULL, NULL);
    if (lib == NULL)
        return NULL;
    /* keep the handles of malformed signatures, to report them
     * (permerror) rather than treat the message as unsigned */
    unsigned int flags = 0;
    if (dkim_options(lib, DKIM_OP_GETOPT, DKIM_OPTS_FLAGS, &flags, sizeof flags) != DKIM_STAT_OK)
        flags = 0;
    flags |= DKIM_LIBFLAGS_BADSIGHANDLES;
    if (dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags, sizeof flags) != DKIM_STAT_OK ||
        dkim_set_prescreen(lib, prescreen) != DKIM_STAT_OK) {
        dkim_close(lib);
        return NULL;
    }
    /* the service is ours: nothing for libopendkim to open or close */
    dkim_dns_set_init(lib, NULL);
    dkim_dns_set_close(lib, NULL);
    dkim_dns_set_query_start(lib, dns_start);
    dkim_dns_set_query_waitreply(lib, dns_waitreply);
    dkim_dns_set_query_cancel(lib, dns_cancel);
    return lib;
}

/* A checks thread's library handle: made at the thread's first message
 * and kept for its life rather than made per message (dkim_init
 * allocates and sets up a handle each time; little next to a
 * verification: bench/RESULTS.md), freed as the thread ends.  The handle
 * keeps no resolver between messages: the caller's (policy/inbound.c
 * keeps one per thread, made anew when a reload changes dns.servers) is
 * set for each message and taken away after it, so a changed resolver is
 * always the one used. */
static pthread_key_t lib_key;
static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static bool lib_key_ok;

/* lib_free - the thread's handle, as the thread ends. */
static void lib_free(void *lib)
{
    dkim_close(lib);
}

/* lib_key_make - the thread-specific slot, once per process. */
static void lib_key_make(void)
{
    lib_key_ok = pthread_key_create(&lib_key, lib_free) == 0;
}

/* thread_lib - this thread's handle (made at its first call), asking its
 * keys of Q; *OWNED when it could not be kept for the thread (the caller
 * closes it after the message).  NULL when memory runs out. */
static DKIM_LIB *thread_lib(struct dnsq *q, bool *owned)
{
    pthread_once(&lib_once, lib_key_make);
    DKIM_LIB *lib = lib_key_ok ? pthread_getspecific(lib_key) : NULL;
    *owned = false;
    if (lib == NULL && (lib = lib_new()) != NULL)
        *owned = !lib_key_ok || pthread_setspecific(lib_key, lib) != 0;
    if (lib)
        dkim_dns_set_query_service(lib, q);
    return lib;
}

/* feed - every octet READ gives into DKIM, then the end of the message;
 * the status of the first step that failed.  *TOTAL: the octets fed. */
static DKIM_STAT feed(DKIM *dkim, dkim_read_fn read, void *ctx, bool *read_failed, size_t *total)
{
    char *buf = malloc(READ_CHUNK);
    size_t off = 0;
    long n = 0;
    DKIM_STAT st = DKIM_STAT_OK;
    *read_failed = false;
    if (buf == NULL)
        return DKIM_STAT_NORESOURCE;
    while (st == DKIM_STAT_OK && (n = read(ctx, off, buf, READ_CHUNK)) > 0) {
        st = dkim_chunk(dkim, (unsigned char *)buf, (size_t)n);
        off += (size_t)n;
    }
    free(buf);
    *total = off;
    if (n < 0) {
        *read_failed = true;
        return DKIM_STAT_INTERNAL;
    }
    if (st == DKIM_STAT_OK)
        st = dkim_chunk(dkim, NULL, 0);
    if (st == DKIM_STAT_OK)
        st = dkim_eom(dkim, NULL);
    return st;
}

/* verdict_of - one signature's outcome after dkim_eom, its reason into
 * WHY.  RFC 6376 6.1.2: a key that does not exist is PERMFAIL, a key
 * question that failed is TEMPFAIL; RFC 8301 3.1: rsa-sha1 signatures are
 * not valid. */
static enum dkim_verdict verdict_of(DKIM_SIGINFO *sig, char *why, size_t len)
{
    int err = dkim_sig_geterror(sig);
    unsigned int flags = dkim_sig_getflags(sig);
    dkim_alg_t alg = DKIM_SIGN_UNKNOWN;
    why[0] = '\0';
    if (err == DKIM_SIGERROR_KEYFAIL) {
        str_copy(why, "the key could not be fetched from the DNS", len);
        return DKIM_VERDICT_TEMPERROR;
    }
    if ((flags & DKIM_SIGFLAG_PASSED) && dkim_sig_getbh(sig) == DKIM_SIGBH_MATCH &&
        (err == DKIM_SIGERROR_OK || err == DKIM_SIGERROR_UNKNOWN)) {
        if (dkim_sig_getsignalg(sig, &alg) == DKIM_STAT_OK && alg == DKIM_SIGN_RSASHA1) {
            str_copy(why, "rsa-sha1 is not accepted (RFC 8301)", len);
            return DKIM_VERDICT_PERMERROR;
        }
        return DKIM_VERDICT_PASS;
    }
    if (dkim_sig_getbh(sig) == DKIM_SIGBH_MISMATCH) {
        str_copy(why, "body hash did not verify", len);
        return DKIM_VERDICT_FAIL;
    }
    const char *text = dkim_sig_geterrorstr(err);
    str_copy(why, text ? text : "signature not verified", len);
    if (err == DKIM_SIGERROR_BADSIG || err == DKIM_SIGERROR_OK || err == DKIM_SIGERROR_UNKNOWN) {
        if (err != DKIM_SIGERROR_BADSIG)
            str_copy(why, "signature did not verify", len);
        return DKIM_VERDICT_FAIL;
    }
    return DKIM_VERDICT_PERMERROR;
}

/* The canonicalized length of a whole body (RFC 6376 3.4.3 simple, 3.4.4
 * relaxed), counted as the octets stream by: what an l= is compared with.
 * libopendkim hashes at most l= octets and counts no further
 * (dkim_sig_getcanonlen's canonlen stops at l=), so the length of the
 * whole body is ours to count.  Empty lines are held in EMPTY until a
 * line with content follows: at the end of the body they are no part of
 * it (3.4.3, 3.4.4). */
struct body_len {
    long long simple, relaxed;  /* octets committed */
    long long s_empty, r_empty; /* empty lines held (simple, relaxed) */
    long long s_line, r_line;   /* octets of the current line so far */
    bool cr, wsp;               /* a CR just seen; WSP held (relaxed) */
};

/* line_end - the current line of B ends (CR LF). */
static void line_end(struct body_len *b)
{
    if (b->s_line == 0) {
        b->s_empty++;
    } else {
        b->simple += 2 * b->s_empty + b->s_line + 2;
        b->s_empty = 0;
    }
    if (b->r_line == 0) { /* WSP alone on a line is no content (3.4.4) */
        b->r_empty++;
    } else {
        b->relaxed += 2 * b->r_empty + b->r_line + 2;
        b->r_empty = 0;
    }
    b->s_line = b->r_line = 0;
    b->wsp = false;
}

/* octet - one octet C (not the LF of a CR LF) of a line of B. */
static void octet(struct body_len *b, char c)
{
    b->s_line++;
    if (c == ' ' || c == '\t') {
        b->wsp = true; /* a run of WSP is one SP, none at the line's end */
        return;
    }
    b->r_line += 1 + (b->wsp ? 1 : 0);
    b->wsp = false;
}

/* body_len_feed - N octets of the body at P into B. */
static void body_len_feed(struct body_len *b, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (b->cr && p[i] == '\n') {
            b->cr = false;
            line_end(b);
            continue;
        }
        if (b->cr) /* a CR not before LF is an octet of the line */
            octet(b, '\r');
        b->cr = p[i] == '\r';
        if (!b->cr)
            octet(b, p[i]);
    }
}

/* body_len_end - B's body ends: a last line without CR LF gets one (3.4.3,
 * 3.4.4); an empty body is CR LF under simple, nothing under relaxed. */
static void body_len_end(struct body_len *b)
{
    if (b->cr)
        octet(b, '\r');
    if (b->s_line > 0) /* (r_line is 0 when s_line is) */
        line_end(b);
    if (b->simple == 0)
        b->simple = 2;
}

/* The message as collect reads it again: the body's canonical lengths,
 * counted at the first signature with an l= (most have none). */
struct source {
    dkim_read_fn read;
    void *ctx;
    size_t total; /* octets of the message fed to libopendkim */
    int counted;  /* 0 not yet, 1 counted into BODY, -1 could not be */
    struct body_len body;
};

/* count_body - the canonical lengths of SRC's body, which is its last
 * MSGLEN octets (libopendkim's count of what followed the header). */
static void count_body(struct source *src, ssize_t msglen)
{
    char *buf = malloc(READ_CHUNK);
    long n = 0;
    src->counted = -1;
    if (buf == NULL || msglen < 0 || (size_t)msglen > src->total) {
        free(buf);
        return;
    }
    src->body = (struct body_len){0};
    for (size_t off = src->total - (size_t)msglen;
         (n = src->read(src->ctx, off, buf, READ_CHUNK)) > 0; off += (size_t)n)
        body_len_feed(&src->body, buf, (size_t)n);
    free(buf);
    if (n < 0)
        return;
    body_len_end(&src->body);
    src->counted = 1;
}

/* length_policy - SIG verified; POLICY (reason into WHY) when its l= signs
 * less than the whole body (RFC 6376 8.2: what follows the signed part
 * could be anything, added by anyone), else PASS. */
static enum dkim_verdict length_policy(DKIM *dkim, DKIM_SIGINFO *sig, struct source *src, char *why,
                                       size_t len)
{
    ssize_t msglen = -1, signlen = -1;
    dkim_canon_t hc = DKIM_CANON_UNKNOWN, bc = DKIM_CANON_UNKNOWN;
    if (dkim_sig_getcanonlen(dkim, sig, &msglen, NULL, &signlen) != DKIM_STAT_OK || signlen < 0)
        return DKIM_VERDICT_PASS; /* no l=: the whole body is signed */
    if (src->counted == 0)
        count_body(src, msglen);
    if (src->counted < 0) {
        str_copy(why, "body length l= could not be compared with the body", len);
        return DKIM_VERDICT_POLICY;
    }
    long long whole = dkim_sig_getcanons(sig, &hc, &bc) == DKIM_STAT_OK && bc == DKIM_CANON_RELAXED
                          ? src->body.relaxed
                          : src->body.simple;
    if ((long long)signlen >= whole)
        return DKIM_VERDICT_PASS;
    char text[128]; /* room for any three numbers */
    snprintf(text, sizeof text, "l=%lld leaves the last %lld of %lld body octets unsigned",
             (long long)signlen, whole - (long long)signlen, whole);
    str_copy(why, text, len);
    return DKIM_VERDICT_POLICY;
}

/* collect - the outcome of each signature DKIM saw (up to the cap) into R;
 * WHOLE, when not DKIM_VERDICT_NONE, is every one's verdict (the message
 * could not be parsed) with reason WHY. */
static void collect(DKIM *dkim, enum dkim_verdict whole, const char *why, struct source *src,
                    struct dkim_results *r)
{
    DKIM_SIGINFO **sigs = NULL;
    int nsigs = 0;
    if (dkim_getsiglist(dkim, &sigs, &nsigs) != DKIM_STAT_OK || sigs == NULL)
        return;
    for (int i = 0; i < nsigs; i++) {
        if (dkim_sig_getflags(sigs[i]) & DKIM_SIGFLAG_IGNORE || r->n >= DKIM_CHECK_SIGS_MAX) {
            r->extra++;
            continue;
        }
        struct dkim_signature *s = &r->sig[r->n++];
        const unsigned char *d = dkim_sig_getdomain(sigs[i]);
        const unsigned char *sel = dkim_sig_getselector(sigs[i]);
        str_copy(s->domain, d ? (const char *)d : "", sizeof s->domain);
        str_lower(s->domain);
        if (!str_copy(s->selector, sel ? (const char *)sel : "", sizeof s->selector))
            s->selector[0] = '\0'; /* a cut selector would name another one */
        if (whole != DKIM_VERDICT_NONE) {
            s->verdict = whole;
            str_copy(s->reason, why, sizeof s->reason);
        } else {
            s->verdict = verdict_of(sigs[i], s->reason, sizeof s->reason);
            if (s->verdict == DKIM_VERDICT_PASS)
                s->verdict = length_policy(dkim, sigs[i], src, s->reason, sizeof s->reason);
        }
    }
}

/* lib_done - a message's use of LIB is over: its resolver is the caller's
 * no more; OWNED: LIB was made for this message alone. */
static void lib_done(DKIM_LIB *lib, bool owned)
{
    if (lib == NULL)
        return;
    dkim_dns_set_query_service(lib, NULL);
    if (owned)
        dkim_close(lib);
}

void dkim_check(struct dnsq *q, unsigned max_sigs, dkim_read_fn read, void *ctx,
                struct dkim_results *r)
{
    *r = (struct dkim_results){.checked = true};
    if (max_sigs > DKIM_CHECK_SIGS_MAX)
        max_sigs = DKIM_CHECK_SIGS_MAX;
    DKIM_STAT st = DKIM_STAT_OK;
    bool owned = false;
    DKIM_LIB *lib = thread_lib(q, &owned);
    DKIM *dkim = lib ? dkim_verify(lib, (const unsigned char *)"inbound", NULL, &st) : NULL;
    if (dkim == NULL) {
        str_copy(r->error, "out of memory", sizeof r->error);
        lib_done(lib, owned);
        return;
    }
    dkim_set_user_context(dkim, &max_sigs);
    bool read_failed;
    struct source src = {.read = read, .ctx = ctx};
    st = feed(dkim, read, ctx, &read_failed, &src.total);
    if (st == DKIM_STAT_OK || st == DKIM_STAT_BADSIG || st == DKIM_STAT_NOKEY ||
        st == DKIM_STAT_KEYFAIL || st == DKIM_STAT_CANTVRFY || st == DKIM_STAT_REVOKED ||
        st == DKIM_STAT_NOSIG)
        collect(dkim, DKIM_VERDICT_NONE, "", &src, r); /* each signature has its own outcome */
    else if (read_failed || st == DKIM_STAT_NORESOURCE || st == DKIM_STAT_INTERNAL)
        str_copy(r->error, read_failed ? "the message could not be read" : "out of memory",
                 sizeof r->error);
    else
        collect(dkim, DKIM_VERDICT_PERMERROR, "the message could not be parsed", &src, r);
    dkim_free(dkim);
    lib_done(lib, owned);
}

const char *dkim_verdict_text(enum dkim_verdict v)
{
    static const char *const words[] = {"none", "pass", "fail", "temperror", "permerror", "policy"};
    return (unsigned)v < sizeof words / sizeof words[0] ? words[v] : "permerror";
}
