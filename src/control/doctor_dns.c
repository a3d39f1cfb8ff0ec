/* control/doctor_dns - the DNS checks of floodctl doctor (room: control).
 *
 * The articles (seeds/) end every incident with "set up SPF, DKIM and
 * PTR" and send the admin to outside websites to see what is published.
 * These checks ask the DNS the server itself uses (dns.servers) and say,
 * record by record, what to publish.  A DNS failure is never a finding:
 * a timeout or SERVFAIL makes the check "unknown", not "fail". */
#include "control/doctor_dns.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "accounts/accounts.h"
#include "core/blocklist.h"
#include "core/config_audit.h"
#include "core/dnsq.h"
#include "core/spf_check.h"
#include "delivery/dkim.h"

/* Each try of a question waits this long; c-ares tries twice per server. */
#define DOCTOR_DNS_TIMEOUT_MS 2000

/* What one run of the checks shares. */
struct doctor {
    const struct config *cfg;
    store_db *db;
    struct dnsq *q;
    json_t *checks;
    struct dnsq_answer a, b; /* scratch answers (large: kept off the stack) */
};

/* same_name - host names equal, ignoring case and a final dot. */
static bool same_name(const char *x, const char *y)
{
    size_t nx = strlen(x), ny = strlen(y);
    nx -= nx && x[nx - 1] == '.';
    ny -= ny && y[ny - 1] == '.';
    return nx == ny && strncasecmp(x, y, nx) == 0;
}

/* is_public - ADDR is one of the server's public addresses. */
static bool is_public(const struct doctor *d, const char *addr)
{
    for (size_t i = 0; i < d->cfg->reputation.n_public; i++)
        if (strcmp(d->cfg->reputation.public_addresses[i], addr) == 0)
            return true;
    return false;
}

/* public_list - the public addresses as "a, b" in BUF. */
static const char *public_list(const struct doctor *d, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < d->cfg->reputation.n_public; i++) {
        int n = snprintf(buf + o, len - o, "%s%s", i ? ", " : "",
                         d->cfg->reputation.public_addresses[i]);
        if (n < 0 || (size_t)n >= len - o)
            break;
        o += (size_t)n;
    }
    return buf;
}

/* addresses_of - NAME's A and AAAA records into *OUT (merged); the status
 * of the A question unless it failed and AAAA answered. */
static enum dnsq_status addresses_of(struct doctor *d, const char *name, struct dnsq_answer *out)
{
    enum dnsq_status st4 = dnsq_query(d->q, name, DNSQ_A, out);
    enum dnsq_status st6 = dnsq_query(d->q, name, DNSQ_AAAA, &d->b);
    for (size_t i = 0; st6 == DNSQ_OK && i < d->b.n && out->n < DNSQ_RECORDS_MAX; i++)
        out->rec[out->n++] = d->b.rec[i];
    if (out->n)
        return out->status = DNSQ_OK;
    if (dnsq_failed(st4) || dnsq_failed(st6))
        return out->status = dnsq_failed(st4) ? st4 : st6;
    return out->status = st4 == DNSQ_NXDOMAIN ? DNSQ_NXDOMAIN : DNSQ_NODATA;
}

/* answer_list - the texts of A as "x, y" in BUF. */
static const char *answer_list(const struct dnsq_answer *a, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < a->n; i++) {
        int n = snprintf(buf + o, len - o, "%s%s", i ? ", " : "", a->rec[i].text);
        if (n < 0 || (size_t)n >= len - o)
            break;
        o += (size_t)n;
    }
    return buf;
}

/* no_answer - the check CHECK of SUBJECT is unknown: the DNS did not
 * answer the QUESTION (a type, or "" for addresses) about NAME. */
static int no_answer(struct doctor *d, const char *check, const char *subject, const char *question,
                     const char *name, enum dnsq_status st)
{
    return check_add(d->checks, check, subject, CHECK_UNKNOWN,
                     "check dns.servers and run floodctl doctor again",
                     "the DNS did not answer the %s%squestion for %s: %s", question,
                     question[0] ? " " : "", name, dnsq_status_text(st));
}

/* check_hostname - the hostname resolves, to the public addresses. */
static int check_hostname(struct doctor *d)
{
    const char *host = d->cfg->hostname;
    char got[512], pub[512], fix[512];
    enum dnsq_status st = addresses_of(d, host, &d->a);
    snprintf(fix, sizeof fix, "publish an A (or AAAA) record: %s. IN A %s", host,
             d->cfg->reputation.n_public ? d->cfg->reputation.public_addresses[0] : "<address>");
    if (dnsq_failed(st))
        return no_answer(d, "hostname", host, "", host, st);
    if (st != DNSQ_OK)
        return check_add(d->checks, "hostname", host, CHECK_FAIL, fix,
                         "%s does not resolve (%s): receivers that check the HELO name refuse "
                         "or score this server's mail",
                         host, dnsq_status_text(st));
    answer_list(&d->a, got, sizeof got);
    if (d->cfg->reputation.n_public == 0)
        return check_add(d->checks, "hostname", host, CHECK_OK, NULL, "%s resolves to %s", host,
                         got);
    for (size_t i = 0; i < d->a.n; i++)
        if (is_public(d, d->a.rec[i].text))
            return check_add(d->checks, "hostname", host, CHECK_OK, NULL,
                             "%s resolves to %s, this server", host, got);
    return check_add(d->checks, "hostname", host, CHECK_WARN, fix,
                     "%s resolves to %s, not to this server's addresses (%s)", host, got,
                     public_list(d, pub, sizeof pub));
}

/* check_ptr - ADDR has a PTR whose name resolves back to it (FCrDNS) and
 * is the HELO name. */
static int check_ptr(struct doctor *d, const char *addr)
{
    const char *host = d->cfg->hostname;
    char fix[512];
    snprintf(fix, sizeof fix,
             "ask whoever owns %s (your provider) for the PTR record %s -> %s, and publish "
             "%s. IN A %s",
             addr, addr, host, host, addr);
    enum dnsq_status st = dnsq_query(d->q, addr, DNSQ_PTR, &d->a);
    if (dnsq_failed(st))
        return no_answer(d, "ptr", addr, "PTR", addr, st);
    if (st != DNSQ_OK)
        return check_add(d->checks, "ptr", addr, CHECK_FAIL, fix,
                         "%s has no PTR record: many receivers refuse mail from an address "
                         "without a reverse name",
                         addr);
    char name[DNSQ_TEXT_MAX];
    snprintf(name, sizeof name, "%s", d->a.rec[0].text);
    struct dnsq_answer *back = malloc(sizeof *back);
    if (back == NULL)
        return -1;
    enum dnsq_status bst = addresses_of(d, name, back);
    bool confirmed = false;
    for (size_t i = 0; bst == DNSQ_OK && i < back->n; i++)
        confirmed |= strcmp(back->rec[i].text, addr) == 0;
    free(back);
    if (dnsq_failed(bst))
        return check_add(d->checks, "ptr", addr, CHECK_UNKNOWN,
                         "check dns.servers and run floodctl doctor again",
                         "%s has the PTR %s, whose addresses the DNS did not give: %s", addr, name,
                         dnsq_status_text(bst));
    if (!confirmed)
        return check_add(d->checks, "ptr", addr, CHECK_FAIL, fix,
                         "%s has the PTR %s, but %s does not resolve back to %s (no "
                         "forward-confirmed reverse DNS)",
                         addr, name, name, addr);
    if (!same_name(name, host))
        return check_add(d->checks, "ptr", addr, CHECK_WARN, fix,
                         "%s has the PTR %s (which resolves back), but this server says "
                         "HELO %s: receivers compare the two",
                         addr, name, host);
    return check_add(d->checks, "ptr", addr, CHECK_OK, NULL,
                     "%s has the PTR %s, which resolves back and is the HELO name", addr, name);
}

/* check_mx - DOMAIN's mail goes to this server. */
static int check_mx(struct doctor *d, const char *domain)
{
    const char *host = d->cfg->hostname;
    char fix[512], got[1024];
    snprintf(fix, sizeof fix, "publish: %s. IN MX 10 %s.", domain, host);
    enum dnsq_status st = dnsq_query(d->q, domain, DNSQ_MX, &d->a);
    if (dnsq_failed(st))
        return no_answer(d, "mx", domain, "MX", domain, st);
    if (st == DNSQ_NXDOMAIN)
        return check_add(d->checks, "mx", domain, CHECK_FAIL, fix,
                         "%s does not exist in the DNS: nobody can send mail to it", domain);
    if (st != DNSQ_OK)
        return check_add(d->checks, "mx", domain, CHECK_FAIL, fix,
                         "%s has no MX record: senders fall back to its A record, if any", domain);
    answer_list(&d->a, got, sizeof got);
    struct dnsq_answer mx = d->a; /* addresses_of reuses d->a's partner */
    for (size_t i = 0; i < mx.n; i++) {
        if (same_name(mx.rec[i].text, host))
            return check_add(d->checks, "mx", domain, CHECK_OK, NULL,
                             "MX %s: %s is this server's hostname", got, mx.rec[i].text);
        if (d->cfg->reputation.n_public == 0 || addresses_of(d, mx.rec[i].text, &d->a) != DNSQ_OK)
            continue;
        for (size_t j = 0; j < d->a.n; j++)
            if (is_public(d, d->a.rec[j].text))
                return check_add(d->checks, "mx", domain, CHECK_OK, NULL,
                                 "MX %s: %s resolves to this server (%s)", got, mx.rec[i].text,
                                 d->a.rec[j].text);
    }
    return check_add(d->checks, "mx", domain, CHECK_WARN, fix,
                     "MX %s: none is this server's hostname %s or resolves to its addresses", got,
                     host);
}

/* check_spf - DOMAIN has one SPF record, and it passes each public
 * address (libspf2 evaluates it: include, redirect, a, mx, macros). */
static int check_spf(struct doctor *d, const char *domain)
{
    char rec[DNSQ_TEXT_MAX], fix[512], sender[320], comment[512];
    enum dnsq_status st;
    const char *first = d->cfg->reputation.n_public ? d->cfg->reputation.public_addresses[0] : NULL;
    snprintf(fix, sizeof fix, "publish: %s. IN TXT \"v=spf1 %s%s -all\"", domain,
             first ? (strchr(first, ':') ? "ip6:" : "ip4:") : "mx", first ? first : "");
    int n = dnsq_txt_with(d->q, domain, "v=spf1", &d->a, rec, sizeof rec, &st);
    if (n < 0)
        return no_answer(d, "spf", domain, "TXT", domain, st);
    if (n == 0)
        return check_add(d->checks, "spf", domain, CHECK_FAIL, fix,
                         "%s has no SPF record: receivers cannot tell this server's mail from "
                         "forgeries",
                         domain);
    if (n > 1)
        return check_add(
            d->checks, "spf", domain, CHECK_FAIL, "merge them into one TXT record starting v=spf1",
            "%s has %d SPF records: RFC 7208 4.5 makes that a permanent error", domain, n);
    if (d->cfg->reputation.n_public == 0)
        return check_add(d->checks, "spf", domain, CHECK_UNKNOWN,
                         "set reputation.public_addresses (floodgate.conf(5))",
                         "\"%s\"; no public address of this server to evaluate it for", rec);
    snprintf(sender, sizeof sender, "postmaster@%s", domain);
    for (size_t i = 0; i < d->cfg->reputation.n_public; i++) {
        const char *addr = d->cfg->reputation.public_addresses[i];
        enum spf_verdict v =
            spf_check(d->q, addr, sender, d->cfg->hostname, comment, sizeof comment);
        char subject[600];
        snprintf(subject, sizeof subject, "%s for %s", domain, addr);
        int rc;
        if (v == SPF_VERDICT_PASS)
            rc =
                check_add(d->checks, "spf", subject, CHECK_OK, NULL, "\"%s\" passes %s", rec, addr);
        else if (v == SPF_VERDICT_TEMPERROR)
            rc = check_add(d->checks, "spf", subject, CHECK_UNKNOWN,
                           "check dns.servers and run floodctl doctor again",
                           "\"%s\": a DNS failure while evaluating it for %s", rec, addr);
        else {
            char add[256];
            snprintf(add, sizeof add, "add %s:%s to the SPF record of %s (before its all)",
                     strchr(addr, ':') ? "ip6" : "ip4", addr, domain);
            rc = check_add(d->checks, "spf", subject, CHECK_FAIL,
                           v == SPF_VERDICT_PERMERROR ? "correct the record (RFC 7208)" : add,
                           "\"%s\" gives %s for %s%s%s", rec, spf_verdict_text(v), addr,
                           comment[0] ? ": " : "", comment);
        }
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* tag_value - the value of TAG in the tag=value list REC (DKIM RFC 6376
 * 3.2; DMARC RFC 7489 6.4, the same grammar), in BUF with every whitespace
 * dropped (a base64 key may be folded over lines); "" when TAG is absent.
 * DKIM's tag names are case-sensitive (3.2); DMARC's ABNF strings are not
 * (RFC 5234 2.3): NOCASE says which.  Whitespace around the name and the
 * '=' is allowed by both grammars. */
static const char *tag_value(const char *rec, const char *tag, bool nocase, char *buf, size_t len)
{
    size_t taglen = strlen(tag), o = 0;
    buf[0] = '\0';
    for (const char *p = rec; *p; p++) {
        while (isspace((unsigned char)*p))
            p++;
        const char *name = p, *eq = p;
        while (*eq && *eq != '=' && *eq != ';')
            eq++;
        const char *end = eq;
        while (end > name && isspace((unsigned char)end[-1]))
            end--;
        bool same = (size_t)(end - name) == taglen &&
                    (nocase ? strncasecmp(name, tag, taglen) : strncmp(name, tag, taglen)) == 0;
        const char *v = *eq == '=' ? eq + 1 : eq;
        if (same && *eq == '=') {
            for (; *v && *v != ';' && o + 1 < len; v++)
                if (!isspace((unsigned char)*v))
                    buf[o++] = *v;
            buf[o] = '\0';
            return buf;
        }
        while (*v && *v != ';')
            v++;
        if (*v == '\0')
            break;
        p = v; /* the loop's p++ steps over the ';' */
    }
    return buf;
}

/* p_value - the p= tag of a DKIM key record (the public key), in BUF. */
static const char *p_value(const char *rec, char *buf, size_t len)
{
    return tag_value(rec, "p", false, buf, len);
}

/* check_dkim - the key floodctl dkim holds for DOMAIN is the published one. */
static int check_dkim(struct doctor *d, const char *domain)
{
    struct dkim_key key = {0};
    char err[256], name[DKIM_NAME_MAX], fix[1024];
    int found = dkim_key_load(d->db, d->cfg->state_dir, domain, &key, err, sizeof err);
    if (found <= 0) {
        dkim_key_clear(&key);
        if (found < 0)
            return check_add(d->checks, "dkim", domain, CHECK_UNKNOWN,
                             "see floodctl dkim show for the error", "its key: %s", err);
        snprintf(fix, sizeof fix, "floodctl dkim generate %s, then publish the record it shows",
                 domain);
        return check_add(d->checks, "dkim", domain, CHECK_WARN, fix,
                         "no DKIM key: mail from %s leaves unsigned", domain);
    }
    char *value = dkim_dns_value(&key, err, sizeof err);
    char *record = dkim_dns_record(&key, err, sizeof err);
    int named = dkim_dns_name(&key, name, sizeof name, err, sizeof err);
    dkim_key_clear(&key);
    int rc = 0;
    char want[DNSQ_TEXT_MAX], got[DNSQ_TEXT_MAX], rec[DNSQ_TEXT_MAX];
    enum dnsq_status st;
    snprintf(fix, sizeof fix, "publish: %s", record ? record : "(see floodctl dkim show)");
    int n = value && named == 0 ? dnsq_txt_with(d->q, name, "v=DKIM1", &d->a, rec, sizeof rec, &st)
                                : -2;
    if (n == -2)
        rc = check_add(d->checks, "dkim", domain, CHECK_UNKNOWN, NULL, "its key: %s", err);
    else if (n < 0)
        rc = no_answer(d, "dkim", name, "TXT", name, st);
    else if (n == 0 && st == DNSQ_OK && d->a.n > 0 &&
             strcmp(p_value(d->a.rec[0].text, got, sizeof got), "") != 0)
        n = 1, snprintf(rec, sizeof rec, "%s", d->a.rec[0].text); /* v= is optional */
    if (rc == 0 && n == 0)
        rc = check_add(d->checks, "dkim", name, CHECK_FAIL, fix,
                       "no DKIM key record at %s: receivers cannot verify %s's signatures", name,
                       domain);
    else if (rc == 0 && n > 0 &&
             strcmp(p_value(rec, got, sizeof got), p_value(value, want, sizeof want)) != 0)
        rc = check_add(d->checks, "dkim", name, CHECK_FAIL, fix,
                       "the key published at %s is not the one floodctl dkim holds for %s: "
                       "every signature fails",
                       name, domain);
    else if (rc == 0 && n > 0)
        rc = check_add(d->checks, "dkim", name, CHECK_OK, NULL,
                       "the published key is the one floodctl dkim holds for %s", domain);
    free(value);
    free(record);
    return rc;
}

/* check_dmarc - DOMAIN publishes a DMARC policy; its p= said. */
static int check_dmarc(struct doctor *d, const char *domain)
{
    char name[300], rec[DNSQ_TEXT_MAX], fix[512];
    enum dnsq_status st;
    snprintf(name, sizeof name, "_dmarc.%s", domain);
    snprintf(fix, sizeof fix,
             "publish: %s. IN TXT \"v=DMARC1; p=quarantine; rua=mailto:postmaster@%s\"", name,
             domain);
    int n = dnsq_txt_with(d->q, name, "v=DMARC1", &d->a, rec, sizeof rec, &st);
    if (n < 0)
        return no_answer(d, "dmarc", domain, "TXT", name, st);
    if (n == 0)
        return check_add(d->checks, "dmarc", domain, CHECK_WARN, fix,
                         "%s has no DMARC record: receivers apply their own guess to mail "
                         "that fails SPF and DKIM",
                         domain);
    char p[32];
    tag_value(rec, "p", true, p, sizeof p);
    return check_add(d->checks, "dmarc", domain, CHECK_OK, NULL, "\"%s\": policy %s%s", rec,
                     p[0] ? p : "(none given)",
                     strcasecmp(p, "none") == 0 ? " (receivers only report)" : "");
}

/* check_info - MTA-STS (RFC 8461) and TLS-RPT (RFC 8460): reported, never
 * required. */
static int check_info(struct doctor *d, const char *domain, const char *check, const char *prefix,
                      const char *tag)
{
    char name[300], rec[DNSQ_TEXT_MAX];
    enum dnsq_status st;
    snprintf(name, sizeof name, "%s.%s", prefix, domain);
    int n = dnsq_txt_with(d->q, name, tag, &d->a, rec, sizeof rec, &st);
    if (n < 0)
        return check_add(d->checks, check, domain, CHECK_UNKNOWN, NULL,
                         "the DNS did not answer for %s: %s", name, dnsq_status_text(st));
    if (n == 0)
        return check_add(d->checks, check, domain, CHECK_OK, NULL, "not published at %s (optional)",
                         name);
    return check_add(d->checks, check, domain, CHECK_OK, NULL, "published at %s: \"%s\"", name,
                     rec);
}

/* check_domain - every check of one local domain. */
static int check_domain(struct doctor *d, const char *domain)
{
    if (check_mx(d, domain) < 0 || check_spf(d, domain) < 0 || check_dkim(d, domain) < 0 ||
        check_dmarc(d, domain) < 0 || check_info(d, domain, "mta_sts", "_mta-sts", "v=STSv1") < 0 ||
        check_info(d, domain, "tls_rpt", "_smtp._tls", "v=TLSRPTv1") < 0)
        return -1;
    return 0;
}

/* check_blocklists - each public address on each list. */
static int check_blocklists(struct doctor *d, doctor_progress_fn progress, void *arg)
{
    const struct config_reputation *rep = &d->cfg->reputation;
    if (rep->n_public == 0)
        return check_add(d->checks, "blocklist", "-", CHECK_UNKNOWN,
                         "set reputation.public_addresses (floodgate.conf(5))",
                         "no public address of this server to look up");
    for (size_t i = 0; i < rep->n_public; i++)
        for (size_t j = 0; j < rep->n_blocklists; j++) {
            const char *addr = rep->public_addresses[i], *zone = rep->blocklists[j];
            struct blocklist_result r;
            char subject[300], fix[512];
            if (progress) {
                snprintf(subject, sizeof subject, "%s on %s", addr, zone);
                progress(subject, arg);
            }
            blocklist_check(d->q, addr, zone, true, &r);
            snprintf(subject, sizeof subject, "%s on %s", addr, zone);
            snprintf(fix, sizeof fix,
                     "find what sent the spam first (floodctl incident list, floodctl queue top "
                     "--by auth-user), then follow %s's delisting procedure",
                     zone);
            int rc = r.state == BLOCKLIST_CLEAN
                         ? check_add(d->checks, "blocklist", subject, CHECK_OK, NULL, "not listed")
                     : r.state == BLOCKLIST_LISTED
                         ? check_add(d->checks, "blocklist", subject, CHECK_FAIL, fix,
                                     "listed: %s (%s)%s%s", r.code, r.meaning,
                                     r.reason[0] ? "; the list says: " : "", r.reason)
                         : check_add(d->checks, "blocklist", subject, CHECK_UNKNOWN,
                                     "check dns.servers and run floodctl doctor again later",
                                     "%s%s%s", r.meaning, r.code[0] ? " — answer " : "", r.code);
            if (rc < 0)
                return -1;
        }
    return 0;
}

/* doctor_new - a run's state with its resolver; NULL with ERR set. */
static struct doctor *doctor_new(const struct config *cfg, store_db *db, json_t *checks, char *err,
                                 size_t errlen)
{
    struct doctor *d = calloc(1, sizeof *d);
    if (d == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    *d = (struct doctor){.cfg = cfg, .db = db, .checks = checks};
    d->q = dnsq_new(cfg->dns_servers, cfg->n_dns_servers, DOCTOR_DNS_TIMEOUT_MS, err, errlen);
    if (d->q == NULL) {
        free(d);
        return NULL;
    }
    return d;
}

/* doctor_end - free D; RC, with ERR said when it is a failure (the checks
 * fail only when memory runs out). */
static int doctor_end(struct doctor *d, int rc, char *err, size_t errlen)
{
    if (rc < 0)
        snprintf(err, errlen, "out of memory");
    dnsq_free(d->q);
    free(d);
    return rc;
}

/* doctor_blocklists - the public addresses on the blocklists. */
int doctor_blocklists(const struct config *cfg, json_t *checks, doctor_progress_fn progress,
                      void *arg, char *err, size_t errlen)
{
    struct doctor *d = doctor_new(cfg, NULL, checks, err, errlen);
    return d ? doctor_end(d, check_blocklists(d, progress, arg), err, errlen) : -1;
}

/* doctor_dns - the hostname, the public addresses, then each domain. */
int doctor_dns(const struct config *cfg, store_db *db, json_t *checks, doctor_progress_fn progress,
               void *arg, char *err, size_t errlen)
{
    struct doctor *d = doctor_new(cfg, db, checks, err, errlen);
    if (d == NULL)
        return -1;
    if (progress)
        progress(cfg->hostname, arg);
    int rc = check_hostname(d);
    if (rc == 0 && cfg->reputation.n_public == 0)
        rc = check_add(checks, "public_addresses", "-", CHECK_UNKNOWN,
                       "set reputation.public_addresses (floodgate.conf(5))",
                       "no listener is bound to one address, and reputation.public_addresses "
                       "is not set: the PTR and SPF checks need this server's public addresses");
    for (size_t i = 0; rc == 0 && i < cfg->reputation.n_public; i++) {
        if (progress)
            progress(cfg->reputation.public_addresses[i], arg);
        rc = check_ptr(d, cfg->reputation.public_addresses[i]);
    }
    json_t *domains = rc == 0 && db ? accounts_domain_list(db) : NULL;
    size_t i;
    json_t *dom;
    json_array_foreach(domains, i, dom)
    {
        const char *name = json_string_value(json_object_get(dom, "name"));
        if (rc < 0 || name == NULL)
            break;
        if (progress)
            progress(name, arg);
        rc = check_domain(d, name);
    }
    json_decref(domains);
    return doctor_end(d, rc, err, errlen);
}
