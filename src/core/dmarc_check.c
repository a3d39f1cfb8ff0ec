/* core/dmarc_check - DMARC with libopendmarc over our own DNS layer
 * (room: core).
 *
 * libopendmarc's opendmarc_policy_query_dmarc asks the system resolver
 * (res_query): it would ignore dns.servers, as libspf2's resolver would
 * (core/spf_check.c).  So the _dmarc TXT record is asked here with
 * core/dnsq and handed to libopendmarc with opendmarc_policy_store_dmarc;
 * the parsing of the record, the alignment check (adkim/aspf, relaxed or
 * strict) and the choice between p= and sp= stay libopendmarc's.
 *
 * The organizational domain (RFC 7489 3.2): when the From: domain has no
 * record, the record of its organizational domain is asked: the public
 * suffix the Public Suffix List (inbound.public_suffix_list, loaded into
 * libopendmarc at start and on reload) finds under it, plus one label
 * (mail.example.co.uk -> example.co.uk).  libopendmarc's relaxed
 * alignment uses the same list.  Without a list (the file missing), the
 * last two labels: exact under a one-label suffix (.org, .de), and under
 * a two-label one it asks the suffix itself (_dmarc.co.uk), which
 * publishes nothing: the error is towards "no policy". */
#include "core/dmarc_check.h"

#include <arpa/inet.h>
#include <errno.h>
#include <opendmarc/dmarc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

/* A list is loaded into libopendmarc (set on the loop at start and
 * reload, read on the checks threads). */
static atomic_bool psl_loaded;

/* libopendmarc 1.4 exports it but its dmarc.h does not declare it: the
 * public suffix of DOMAIN plus one label, after the loaded list (DOMAIN
 * itself without one) */
int opendmarc_get_tld(u_char *domain, u_char *tld, size_t tld_len);

/* lib_init - libopendmarc's one-time set-up, without a public suffix
 * list (tld_type NONE: it reads no file). */
static void lib_init(void)
{
    static OPENDMARC_LIB_T lib;
    memset(&lib, 0, sizeof lib);
    lib.tld_type = OPENDMARC_TLD_TYPE_NONE;
    opendmarc_policy_library_init(&lib);
}

/* find_record - the DMARC record at _dmarc.DOMAIN into BUF: 1 found, 0
 * none (RFC 7489 6.6.3: no record, or not exactly one starting with
 * "v=DMARC1"), -1 the DNS did not answer. */
static int find_record(struct dnsq *q, const char *domain, char *buf, size_t len)
{
    char name[300];
    int n = snprintf(name, sizeof name, "_dmarc.%s", domain);
    if (n < 0 || (size_t)n >= sizeof name)
        return 0;
    struct dnsq_answer *a = malloc(sizeof *a);
    if (a == NULL)
        return -1;
    enum dnsq_status st;
    int found = dnsq_txt_with(q, name, "v=DMARC1", a, buf, len, &st);
    free(a);
    return found > 1 ? 0 : found; /* two records: as if none (6.6.3 step 5) */
}

/* last_two - the last two labels of DOMAIN, or NULL when it has no more. */
static const char *last_two(const char *domain)
{
    const char *last = strrchr(domain, '.');
    if (last == NULL || last == domain)
        return NULL;
    const char *p = last - 1;
    while (p > domain && *p != '.')
        p--;
    return *p == '.' ? p + 1 : NULL;
}

/* org_domain - the organizational domain of DOMAIN into BUF (LEN), from
 * the Public Suffix List when one is loaded; false when there is none
 * other than DOMAIN itself. */
static bool org_domain(const char *domain, char *buf, size_t len)
{
    char copy[256];
    buf[0] = '\0';
    if (atomic_load(&psl_loaded)) {
        snprintf(copy, sizeof copy, "%s", domain); /* it reads, never writes, but is not const */
        if (opendmarc_get_tld((u_char *)copy, (u_char *)buf, len) != 0)
            buf[0] = '\0';
    }
    if (buf[0] == '\0') {
        /* no list, or no rule of it matches (a TLD it does not name):
         * the list's default rule "*" makes the TLD the public suffix */
        const char *two = last_two(domain);
        snprintf(buf, len, "%s", two ? two : "");
    }
    return buf[0] != '\0' && strcasecmp(buf, domain) != 0;
}

int dmarc_psl_load(const char *path, char *err, size_t errlen)
{
    pthread_once(&lib_once, lib_init);
    if (path == NULL || path[0] == '\0') {
        atomic_store(&psl_loaded, false);
        return 0;
    }
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path);
    /* the list's own syntax: "//" comments, "*." wildcards, "!" exceptions */
    errno = 0;
    int rc = opendmarc_tld_read_file(copy, "//", "*.", "!");
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(rc > 1 ? rc : errno ? errno : EIO));
        return -1;
    }
    atomic_store(&psl_loaded, true);
    return 0;
}

/* disposition_of - libopendmarc's policy for a failing message, after
 * pct= (RFC 7489 6.6.4: only that share of failing mail gets the policy;
 * the rest gets the next milder one). */
static enum dmarc_disposition disposition_of(DMARC_POLICY_T *pctx, int policy)
{
    enum dmarc_disposition d = policy == DMARC_POLICY_REJECT       ? DMARC_DISPOSITION_REJECT
                               : policy == DMARC_POLICY_QUARANTINE ? DMARC_DISPOSITION_QUARANTINE
                                                                   : DMARC_DISPOSITION_NONE;
    int pct = 100;
    if (opendmarc_policy_fetch_pct(pctx, &pct) == DMARC_PARSE_OKAY && pct < 100 && d > 0 &&
        (int)(random() % 100) >= pct)
        d = d == DMARC_DISPOSITION_REJECT ? DMARC_DISPOSITION_QUARANTINE : DMARC_DISPOSITION_NONE;
    return d;
}

/* spf_outcome - our SPF verdict in libopendmarc's words. */
static int spf_outcome(enum spf_verdict v)
{
    switch (v) {
    case SPF_VERDICT_PASS:
        return DMARC_POLICY_SPF_OUTCOME_PASS;
    case SPF_VERDICT_NONE:
        return DMARC_POLICY_SPF_OUTCOME_NONE;
    case SPF_VERDICT_TEMPERROR:
        return DMARC_POLICY_SPF_OUTCOME_TMPFAIL;
    default:
        return DMARC_POLICY_SPF_OUTCOME_FAIL;
    }
}

/* dkim_outcome - a DKIM verdict in libopendmarc's words. */
static int dkim_outcome(enum dkim_verdict v)
{
    switch (v) {
    case DKIM_VERDICT_PASS:
        return DMARC_POLICY_DKIM_OUTCOME_PASS;
    case DKIM_VERDICT_NONE:
        return DMARC_POLICY_DKIM_OUTCOME_NONE;
    case DKIM_VERDICT_TEMPERROR:
        return DMARC_POLICY_DKIM_OUTCOME_TMPFAIL;
    case DKIM_VERDICT_POLICY: /* l= left the body's end unsigned: no pass */
    default:
        return DMARC_POLICY_DKIM_OUTCOME_FAIL;
    }
}

/* aligned - DOMAIN (a signature's d=) is aligned with FROM_DOMAIN (RFC
 * 7489 3.1.1): the same name under adkim=s, the same organizational
 * domain under relaxed alignment (the default). */
static bool aligned(DMARC_POLICY_T *pctx, const char *domain, const char *from_domain)
{
    int adkim = DMARC_RECORD_A_RELAXED;
    if (strcasecmp(domain, from_domain) == 0)
        return true;
    if (opendmarc_policy_fetch_adkim(pctx, &adkim) == DMARC_PARSE_OKAY &&
        adkim == DMARC_RECORD_A_STRICT)
        return false;
    char a[256], b[256];
    if (!org_domain(domain, a, sizeof a))
        snprintf(a, sizeof a, "%s", domain);
    if (!org_domain(from_domain, b, sizeof b))
        snprintf(b, sizeof b, "%s", from_domain);
    return strcasecmp(a, b) == 0;
}

/* store_dkim - each DKIM outcome to PCTX; true when an aligned signature
 * (or the whole check) met a temporary error. */
static bool store_dkim(DMARC_POLICY_T *pctx, const char *from_domain,
                       const struct dkim_results *dkim)
{
    bool temp = dkim && dkim->error[0];
    for (size_t i = 0; dkim && i < dkim->n; i++) {
        const struct dkim_signature *s = &dkim->sig[i];
        if (s->domain[0] == '\0')
            continue; /* no d=: nothing to align with */
        opendmarc_policy_store_dkim(pctx, (u_char *)s->domain, (u_char *)s->selector,
                                    dkim_outcome(s->verdict), (u_char *)s->reason);
        if (s->verdict == DKIM_VERDICT_TEMPERROR && aligned(pctx, s->domain, from_domain))
            temp = true;
    }
    return temp;
}

/* evaluate - the record REC of RECORD_DOMAIN (ORG: found at the
 * organizational domain) applied to the message, into R. */
static void evaluate(const char *ip, const char *from_domain, const char *rec,
                     const char *record_domain, bool org, const char *spf_domain,
                     enum spf_verdict spf, const struct dkim_results *dkim, struct dmarc_result *r)
{
    DMARC_POLICY_T *pctx = opendmarc_policy_connect_init((u_char *)ip, strchr(ip, ':') != NULL);
    if (pctx == NULL) {
        r->verdict = DMARC_VERDICT_TEMPERROR;
        return;
    }
    int p = 0;
    if (opendmarc_policy_store_dmarc(pctx, (u_char *)rec, (u_char *)from_domain,
                                     org ? (u_char *)record_domain : NULL) != DMARC_PARSE_OKAY) {
        r->verdict = DMARC_VERDICT_PERMERROR;
        opendmarc_policy_connect_shutdown(pctx);
        return;
    }
    if (opendmarc_policy_fetch_p(pctx, &p) == DMARC_PARSE_OKAY)
        snprintf(r->policy, sizeof r->policy, "%s",
                 p == DMARC_RECORD_P_REJECT       ? "reject"
                 : p == DMARC_RECORD_P_QUARANTINE ? "quarantine"
                                                  : "none");
    if (spf_domain && spf_domain[0])
        opendmarc_policy_store_spf(pctx, (u_char *)spf_domain, spf_outcome(spf),
                                   DMARC_POLICY_SPF_ORIGIN_MAILFROM, NULL);
    bool dkim_temp = store_dkim(pctx, from_domain, dkim);
    int policy = opendmarc_get_policy_to_enforce(pctx);
    if (policy == DMARC_POLICY_PASS) {
        r->verdict = DMARC_VERDICT_PASS;
    } else if (spf == SPF_VERDICT_TEMPERROR || dkim_temp) {
        /* an identifier could not be checked: not a failure (issue 15
         * item 6; RFC 7489 6.6.2 evaluates the results it has) */
        r->verdict = DMARC_VERDICT_TEMPERROR;
    } else {
        r->verdict = DMARC_VERDICT_FAIL;
        r->disposition = disposition_of(pctx, policy);
    }
    opendmarc_policy_connect_shutdown(pctx);
}

void dmarc_check(struct dnsq *q, const char *ip, const char *from_domain, const char *spf_domain,
                 enum spf_verdict spf, const struct dkim_results *dkim, struct dmarc_result *r)
{
    char rec[DNSQ_TEXT_MAX];
    *r = (struct dmarc_result){.verdict = DMARC_VERDICT_NONE};
    pthread_once(&lib_once, lib_init);
    if (from_domain == NULL || from_domain[0] == '\0') {
        r->verdict = DMARC_VERDICT_PERMERROR;
        return;
    }
    char org[256];
    const char *where = from_domain;
    int found = find_record(q, where, rec, sizeof rec);
    if (found == 0 && org_domain(from_domain, org, sizeof org))
        found = find_record(q, where = org, rec, sizeof rec);
    if (found < 0) {
        r->verdict = DMARC_VERDICT_TEMPERROR;
        return;
    }
    if (found == 0)
        return;
    snprintf(r->record_domain, sizeof r->record_domain, "%s", where);
    evaluate(ip, from_domain, rec, where, where != from_domain, spf_domain, spf, dkim, r);
}

const char *dmarc_verdict_text(enum dmarc_verdict v)
{
    static const char *const words[] = {"none", "pass", "fail", "temperror", "permerror"};
    return (unsigned)v < sizeof words / sizeof words[0] ? words[v] : "permerror";
}
