/* policy/inbound - the inbound checks: facts on lookup threads, decisions
 * on the loop (room: policy).
 *
 * A DNS failure is not a verdict (issue 15, item 6): a list that did not
 * answer (SERVFAIL, timeout) adds nothing to the score, an SPF or DMARC
 * evaluation that met one is "temperror"; inbound.dns_failure says whether
 * that defers the mail (451 4.4.3, RFC 3463: "directory server failure";
 * RFC 7208 8.6) or lets it on without the check.  A list's refusal
 * (127.255.255.252/254/255, core/blocklist.c) is never a listing either;
 * it is logged so that the admin fixes the resolver. */
#include "policy/inbound.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/blocklist.h"
#include "core/clock.h"
#include "core/dnsq.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/strmap.h"
#include "core/util.h"
#include "policy/engine_internal.h"

/* How long a DNSBL answer is kept (issue 15, "answers cached per TTL"):
 * a listing for its A record's TTL, a "not listed" for the negative TTL
 * of the SOA its NXDOMAIN carried (RFC 2308 5: the smaller of the SOA's
 * TTL and MINIMUM), or DNSBL_NEGATIVE_TTL when it carried none.  Either
 * is cut to DNSBL_TTL_MAX, so that a delisted client waits at most an
 * hour, whatever a list says; a TTL of 0 is not kept at all.  The cache
 * holds at most DNSBL_CACHE_MAX answers and counts in clock_now() (the
 * test clock of floodgated -T moves it). */
#define DNSBL_NEGATIVE_TTL 300
#define DNSBL_TTL_MAX 3600
#define DNSBL_CACHE_MAX 20000

/* One cached DNSBL answer. */
struct cached {
    enum blocklist_state state; /* CLEAN or LISTED: unknowns are never kept */
    time_t expires;
};

/* The answers of every lookup thread, process-wide, under CACHE_LOCK. */
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct strmap *cache;

/* cfg_of - the config of O's session (its settings stay those across a
 * reload), else the engine's. */
static const struct config *cfg_of(const struct policy *p, const struct origin *o)
{
    return o->cfg ? o->cfg : p->cfg;
}

bool policy_inbound_wanted(struct policy *p, const struct origin *o)
{
    const struct config_inbound *in = &cfg_of(p, o)->inbound;
    return o->auth_user == NULL && !o->trusted &&
           (in->n_dnsbl > 0 || in->spf || in->dmarc || in->dkim);
}

/* ---- the DNSBL cache ---- */

/* expired - strmap_sweep's test: keep the answers still valid at *ARG. */
static bool unexpired(const char *key, void *value, void *arg)
{
    (void)key;
    return ((struct cached *)value)->expires > *(time_t *)arg;
}

/* cache_get - the answer for KEY if one is kept and valid. */
static bool cache_get(const char *key, enum blocklist_state *state)
{
    bool hit = false;
    pthread_mutex_lock(&cache_lock);
    struct cached *c = cache ? strmap_get(cache, key) : NULL;
    if (c && c->expires > clock_now()) {
        *state = c->state;
        hit = true;
    }
    pthread_mutex_unlock(&cache_lock);
    return hit;
}

/* cache_put - keep STATE for KEY for TTL seconds (a full cache first
 * drops what expired; still full, the answer is not kept). */
static void cache_put(const char *key, enum blocklist_state state, long ttl)
{
    time_t now = clock_now();
    struct cached *c = malloc(sizeof *c), *old = NULL;
    if (c == NULL || ttl <= 0) {
        free(c);
        return;
    }
    *c = (struct cached){.state = state,
                         .expires = now + (ttl < DNSBL_TTL_MAX ? ttl : DNSBL_TTL_MAX)};
    pthread_mutex_lock(&cache_lock);
    if (cache == NULL)
        cache = strmap_new();
    if (cache && strmap_count(cache) >= DNSBL_CACHE_MAX)
        strmap_sweep(cache, unexpired, &now, free);
    if (cache == NULL || strmap_count(cache) >= DNSBL_CACHE_MAX ||
        strmap_put(cache, key, c, (void **)&old) < 0)
        old = c; /* not kept */
    pthread_mutex_unlock(&cache_lock);
    free(old);
}

/* ---- facts, on a lookup thread ---- */

/* append_zone - ZONE to the list BUF ("a, b"); a list too long for BUF
 * ends with "...". */
static void append_zone(char *buf, size_t len, const char *zone)
{
    size_t used = strlen(buf);
    int n = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", zone);
    if (n < 0 || (size_t)n >= len - used)
        snprintf(buf + (len > 4 ? len - 4 : 0), len > 4 ? 4 : len, "...");
}

/* dnsbl_one - the answer of ZONE for IP, from the cache or the DNS. */
static enum blocklist_state dnsbl_one(struct dnsq *q, const char *ip, const char *zone,
                                      bool *dns_failed)
{
    char key[300];
    enum blocklist_state st;
    *dns_failed = false;
    snprintf(key, sizeof key, "%s %s", zone, ip);
    if (cache_get(key, &st))
        return st;
    struct blocklist_result r;
    blocklist_check(q, ip, zone, false, &r);
    if (r.state == BLOCKLIST_LISTED || r.state == BLOCKLIST_CLEAN)
        cache_put(key, r.state,
                  r.ttl >= 0 || r.state == BLOCKLIST_LISTED ? r.ttl : DNSBL_NEGATIVE_TTL);
    if (r.state != BLOCKLIST_CLEAN)
        log_info("event=dnsbl ip=%s list=%s state=%s code=%s meaning=%s", ip, zone,
                 r.state == BLOCKLIST_LISTED ? "listed" : "unknown", r.code[0] ? r.code : "-",
                 log_quote(r.meaning));
    *dns_failed = r.dns_failed;
    return r.state;
}

/* dnsbl_score - the weights of the lists that list IP. */
static void dnsbl_score(struct dnsq *q, const struct config_inbound *in, const char *ip,
                        struct inbound_facts *f)
{
    for (size_t i = 0; i < in->n_dnsbl; i++) {
        bool failed;
        enum blocklist_state st = dnsbl_one(q, ip, in->dnsbl[i].zone, &failed);
        if (st == BLOCKLIST_LISTED) {
            f->dnsbl_score += in->dnsbl[i].weight;
            append_zone(f->dnsbl_listed, sizeof f->dnsbl_listed, in->dnsbl[i].zone);
        } else if (failed) {
            append_zone(f->dnsbl_failed, sizeof f->dnsbl_failed, in->dnsbl[i].zone);
        }
    }
}

/* A checks thread's resolver (issue 15: one per thread, not two per
 * message): made at the thread's first question and kept for its life,
 * since a c-ares channel is sockets and a parsed configuration; made
 * anew when a reload changed dns.servers or inbound.dns_timeout (KEY
 * says which it was made for).  Freed when the thread ends. */
struct thread_resolver {
    struct dnsq *q;
    char key[1100];
};

static pthread_key_t resolver_key;
static pthread_once_t resolver_once = PTHREAD_ONCE_INIT;
static bool resolver_key_ok;

/* resolver_free - the thread's resolver, as the thread ends. */
static void resolver_free(void *arg)
{
    struct thread_resolver *r = arg;
    dnsq_free(r->q);
    free(r);
}

/* resolver_key_make - the thread-specific slot, once per process. */
static void resolver_key_make(void)
{
    resolver_key_ok = pthread_key_create(&resolver_key, resolver_free) == 0;
}

/* resolver_key_of - what a resolver for CFG is made of, into BUF. */
static void resolver_key_of(const struct config *cfg, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < cfg->n_dns_servers && o < len; i++) {
        int n = snprintf(buf + o, len - o, "%s,", cfg->dns_servers[i]);
        o += n > 0 ? (size_t)n : 0;
    }
    if (o < len)
        snprintf(buf + o, len - o, "/%u", cfg->inbound.dns_timeout);
}

/* resolver - this thread's resolver for CFG's servers and inbound
 * timeout (borrowed: the thread keeps it); NULL (logged) when none can
 * be made. */
static struct dnsq *resolver(const struct config *cfg)
{
    char err[256], key[sizeof((struct thread_resolver *)0)->key];
    pthread_once(&resolver_once, resolver_key_make);
    if (!resolver_key_ok) {
        log_warnx("event=inbound_error error=\"no thread-specific key for the resolver\"");
        return NULL;
    }
    resolver_key_of(cfg, key, sizeof key);
    struct thread_resolver *r = pthread_getspecific(resolver_key);
    if (r && strcmp(r->key, key) == 0)
        return r->q;
    if (r == NULL &&
        ((r = calloc(1, sizeof *r)) == NULL || pthread_setspecific(resolver_key, r) != 0)) {
        free(r);
        log_warnx("event=inbound_error error=\"out of memory\"");
        return NULL;
    }
    dnsq_free(r->q);
    r->key[0] = '\0';
    r->q = dnsq_new(cfg->dns_servers, cfg->n_dns_servers, cfg->inbound.dns_timeout * 1000, err,
                    sizeof err);
    if (r->q == NULL) {
        log_warnx("event=inbound_error error=%s", log_quote(err));
        return NULL;
    }
    str_copy(r->key, key, sizeof r->key);
    log_info("event=inbound_resolver made_for=%s", log_quote(key));
    return r->q;
}

void inbound_configure(const struct config *cfg)
{
    const struct config_inbound *in = &cfg->inbound;
    char err[512];
    if (!in->dmarc)
        return;
    /* about 10,000 lines read once per start or reload, as the config
     * file itself is: the checks threads see the new list at once */
    if (dmarc_psl_load(in->public_suffix_list, err, sizeof err) == 0)
        log_info("event=public_suffix_list result=%s path=%s",
                 in->public_suffix_list[0] ? "loaded" : "off", log_quote(in->public_suffix_list));
    else
        log_warnx("event=public_suffix_list result=missing path=%s error=%s fix=%s",
                  log_quote(in->public_suffix_list), log_quote(err),
                  log_quote("install the package publicsuffix or set "
                            "inbound.public_suffix_list; until then DMARC's organizational "
                            "domain is the last two labels (or the list loaded before)"));
}

void inbound_facts_mail(const struct config *cfg, const char *ip, const char *helo,
                        const char *from, struct inbound_facts *f)
{
    const struct config_inbound *in = &cfg->inbound;
    struct dnsq *q = resolver(cfg);
    if (q == NULL) { /* as if the DNS did not answer: not a verdict */
        for (size_t i = 0; i < in->n_dnsbl; i++)
            append_zone(f->dnsbl_failed, sizeof f->dnsbl_failed, in->dnsbl[i].zone);
    } else {
        dnsbl_score(q, in, ip, f);
    }
    if (in->spf || in->dmarc) {
        /* RFC 7208 2.4: the null sender is checked as postmaster@HELO */
        const char *at = strrchr(from, '@');
        f->spf_helo = from[0] == '\0';
        str_copy(f->spf_domain, f->spf_helo ? helo : at ? at + 1 : from, sizeof f->spf_domain);
        str_lower(f->spf_domain);
        f->spf_checked = f->spf_domain[0] != '\0' && f->spf_domain[0] != '[';
        if (f->spf_checked)
            f->spf = q ? spf_check(q, ip, f->spf_helo ? helo : from, helo, NULL, 0)
                       : SPF_VERDICT_TEMPERROR;
    }
}

void inbound_facts_header(const struct config *cfg, const char *head, size_t len, size_t total,
                          const struct header_watch *w, struct inbound_facts *f)
{
    char domains[INBOUND_AUTHORS_MAX][HEADER_FACT_MAX];
    /* a field that reaches the end of what is in memory may go on past
     * it; auth_results_strip leaves such a field, so it counts as past */
    f->forged_past = w->forged_end > 0 && w->forged_end >= len;
    f->from_past = w->from_end > len || (w->from_end == len && total > len && len > 0);
    f->head_kb = (unsigned)(len / 1024);
    if (!cfg->inbound.dmarc)
        return; /* the authors are DMARC's alone */
    f->n_authors = header_from_domains(head, len, domains, INBOUND_AUTHORS_MAX);
    for (size_t i = 0; i < f->n_authors && i < INBOUND_AUTHORS_MAX; i++) {
        str_copy(f->author[i].domain, domains[i], sizeof f->author[i].domain);
        f->author[i].dmarc = (struct dmarc_result){.verdict = DMARC_VERDICT_NONE};
    }
    str_copy(f->from_domain, f->n_authors ? domains[0] : "", sizeof f->from_domain);
}

/* strictness - how hard R bears on a message (RFC 7489 6.6.1: of several
 * author domains, the strictest policy among those that fail applies): a
 * failure under p=reject, under p=quarantine, a temporary error (which
 * may hide either), a failure under p=none, then the rest. */
static int strictness(const struct dmarc_result *r)
{
    if (r->verdict == DMARC_VERDICT_FAIL)
        return r->disposition == DMARC_DISPOSITION_REJECT       ? 6
               : r->disposition == DMARC_DISPOSITION_QUARANTINE ? 5
                                                                : 3;
    return r->verdict == DMARC_VERDICT_TEMPERROR   ? 4
           : r->verdict == DMARC_VERDICT_PERMERROR ? 2
           : r->verdict == DMARC_VERDICT_NONE      ? 1
                                                   : 0;
}

void inbound_facts_data(const struct config *cfg, const char *ip, dkim_read_fn read, void *ctx,
                        struct inbound_facts *f)
{
    const struct config_inbound *in = &cfg->inbound;
    if (!in->dmarc && !in->dkim)
        return;
    struct dnsq *q = resolver(cfg);
    if (in->dkim && q == NULL) {
        f->dkim = (struct dkim_results){.checked = true};
        str_copy(f->dkim.error, "no resolver", sizeof f->dkim.error);
    } else if (in->dkim) {
        dkim_check(q, in->dkim_max_signatures, read, ctx, &f->dkim);
    }
    if (!in->dmarc)
        return;
    f->dmarc_checked = true;
    f->dmarc = (struct dmarc_result){.verdict = DMARC_VERDICT_PERMERROR};
    if (f->n_authors == 0 || f->n_authors > INBOUND_AUTHORS_MAX)
        return; /* refused by policy_inbound_data */
    for (size_t i = 0; i < f->n_authors; i++) {
        struct inbound_author *a = &f->author[i];
        if (q == NULL)
            a->dmarc = (struct dmarc_result){.verdict = DMARC_VERDICT_TEMPERROR};
        else
            dmarc_check(q, ip, a->domain, f->spf_checked ? f->spf_domain : NULL,
                        f->spf_checked ? f->spf : SPF_VERDICT_NONE,
                        f->dkim.checked ? &f->dkim : NULL, &a->dmarc);
        if (i == 0 || strictness(&a->dmarc) > strictness(&f->dmarc)) {
            f->dmarc = a->dmarc;
            str_copy(f->from_domain, a->domain, sizeof f->from_domain);
        }
    }
}

/* ---- decisions, on the loop ---- */

#define CHECKS_METRIC "floodgate_inbound_checks_total"

/* count_check - one more outcome RESULT (a word of a small fixed set: an
 * SPF, DKIM or DMARC result, "listed", "below_threshold", "clean",
 * "dns_failure") of CHECK.  The refusals themselves are counted where the
 * SMTP room writes them (floodgate_messages_rejected_total, by reason). */
static void count_check(const char *check, const char *result)
{
    static bool declared;
    if (!declared)
        declared = metrics_declare(CHECKS_METRIC, METRIC_COUNTER,
                                   "Inbound checks of clients from outside, by check "
                                   "(dnsbl, spf, dkim, dmarc) and result.") == 0;
    metrics_add(CHECKS_METRIC, 1, "check", check, "result", result, NULL);
}

/* count_mail - the outcomes of the checks at MAIL in F under IN. */
static void count_mail(const struct config_inbound *in, const struct inbound_facts *f)
{
    if (in->n_dnsbl > 0)
        count_check("dnsbl", f->dnsbl_score >= in->dnsbl_threshold ? "listed"
                             : f->dnsbl_score > 0                  ? "below_threshold"
                             : f->dnsbl_failed[0]                  ? "dns_failure"
                                                                   : "clean");
    if (f->spf_checked)
        count_check("spf", spf_verdict_text(f->spf));
}

/* dns_defer - a check met a DNS failure: true (D says 451 4.4.3 with TEXT
 * about WHAT, reason CHECK) when inbound.dns_failure = "defer". */
static bool dns_defer(const struct config *cfg, const struct origin *o, const char *check,
                      const char *what, struct policy_decision *d)
{
    bool defer = cfg->inbound.dns_failure == INBOUND_DNS_DEFER;
    log_info("event=inbound check=%s result=dns_failure action=%s session=%lu ip=%s what=%s", check,
             defer ? "defer" : "skip", o->session, o->ip, log_quote(what));
    if (defer)
        policy_decide(d, POLICY_DEFER, check, "451 4.4.3 Cannot check %s now, try again later",
                      what);
    return defer;
}

/* spf_refused - the SPF verdict of F rejects under IN (logged, D set). */
static bool spf_refused(const struct config_inbound *in, const struct origin *o, const char *from,
                        const struct inbound_facts *f, struct policy_decision *d)
{
    bool reject = (f->spf == SPF_VERDICT_FAIL && in->spf_fail == INBOUND_REJECT) ||
                  (f->spf == SPF_VERDICT_SOFTFAIL && in->spf_softfail == INBOUND_REJECT);
    log_info("event=inbound check=spf result=%s action=%s session=%lu ip=%s from=%s domain=%s",
             spf_verdict_text(f->spf), reject ? "reject" : "mark", o->session, o->ip,
             log_quote(from), log_quote(f->spf_domain));
    if (!reject)
        return false;
    /* RFC 7372 3.2: X.7.23, "SPF validation failed" */
    policy_decide(d, POLICY_REJECT, "spf",
                  "550 5.7.23 <%s>: Sender address rejected: SPF %s: %s %s does not "
                  "authorize [%s] to send its mail",
                  from, spf_verdict_text(f->spf), f->spf_helo ? "the HELO name" : "the domain",
                  f->spf_domain, o->ip);
    return true;
}

void policy_inbound_mail(struct policy *p, const struct origin *o, const char *from,
                         const struct inbound_facts *f, struct policy_decision *d)
{
    const struct config *cfg = cfg_of(p, o);
    const struct config_inbound *in = &cfg->inbound;
    char what[INBOUND_ZONES_MAX + 64];
    policy_accept(d);
    if (!f->wanted)
        return;
    count_mail(in, f);
    if (in->n_dnsbl > 0 && f->dnsbl_score >= in->dnsbl_threshold) {
        log_info("event=inbound check=dnsbl result=listed action=reject session=%lu ip=%s "
                 "score=%u threshold=%u lists=%s",
                 o->session, o->ip, f->dnsbl_score, in->dnsbl_threshold,
                 log_quote(f->dnsbl_listed));
        policy_decide(d, POLICY_REJECT, "dnsbl",
                      "554 5.7.1 Service unavailable; client [%s] blocked using %s", o->ip,
                      f->dnsbl_listed);
        return;
    }
    snprintf(what, sizeof what, "your address [%s] on %s", o->ip, f->dnsbl_failed);
    if (f->dnsbl_failed[0] && dns_defer(cfg, o, "dnsbl", what, d))
        return;
    if (!in->spf || !f->spf_checked)
        return;
    if (f->spf == SPF_VERDICT_TEMPERROR) {
        snprintf(what, sizeof what, "the SPF record of %s", f->spf_domain);
        dns_defer(cfg, o, "spf", what, d);
        return;
    }
    spf_refused(in, o, from, f, d);
}

/* count_dkim - the outcome of each DKIM signature in K, counted and
 * logged (DKIM decides nothing by itself: DMARC reads it). */
static void count_dkim(const struct origin *o, const struct dkim_results *k)
{
    if (!k->checked)
        return;
    if (k->error[0]) {
        count_check("dkim", "temperror");
        log_info("event=inbound check=dkim result=temperror session=%lu ip=%s error=%s", o->session,
                 o->ip, log_quote(k->error));
        return;
    }
    if (k->n == 0)
        count_check("dkim", "none");
    for (size_t i = 0; i < k->n; i++) {
        const struct dkim_signature *g = &k->sig[i];
        count_check("dkim", dkim_verdict_text(g->verdict));
        log_info("event=inbound check=dkim result=%s session=%lu ip=%s domain=%s selector=%s "
                 "reason=%s",
                 dkim_verdict_text(g->verdict), o->session, o->ip, log_quote(g->domain),
                 log_quote(g->selector), log_quote(g->reason));
    }
    if (k->extra > 0)
        log_info("event=inbound check=dkim result=not_verified session=%lu ip=%s signatures=%u "
                 "limit=inbound.dkim_max_signatures",
                 o->session, o->ip, k->extra);
}

/* no_author - F has no From: domain DMARC can be checked for (none, one
 * without a domain, too many, or a From: past the part in memory): true
 * with D a refusal.  RFC 7489 6.6.1: such a message is "typically
 * rejected"; let on, it would dodge every p=reject. */
static bool no_author(const struct origin *o, const struct inbound_facts *f,
                      struct policy_decision *d)
{
    const char *why = NULL;
    bool domainless = false;
    for (size_t i = 0; i < f->n_authors && i < INBOUND_AUTHORS_MAX; i++)
        domainless |= f->author[i].domain[0] == '\0';
    if (f->from_past)
        why = "a From: field lies past the part of the header this server reads";
    else if (f->n_authors == 0)
        why = "no From: address to check DMARC for (RFC 5322 3.6 requires one)";
    else if (f->n_authors > INBOUND_AUTHORS_MAX)
        why = "more From: domains than this server checks";
    else if (domainless)
        why = "a From: address without a domain cannot be checked for DMARC";
    if (why == NULL)
        return false;
    count_check("dmarc", "permerror");
    log_info("event=inbound check=dmarc result=permerror action=reject session=%lu ip=%s "
             "from_domains=%zu why=%s",
             o->session, o->ip, f->n_authors, log_quote(why));
    if (f->n_authors > INBOUND_AUTHORS_MAX)
        policy_decide(d, POLICY_REJECT, "dmarc",
                      "550 5.7.1 Message rejected: more than %d From: domains; this server "
                      "checks the DMARC policy of each (RFC 7489 6.6.1) up to %d",
                      INBOUND_AUTHORS_MAX, INBOUND_AUTHORS_MAX);
    else if (f->from_past)
        policy_decide(d, POLICY_REJECT, "dmarc",
                      "550 5.7.1 Message rejected: a From: field lies past the first %u KB of "
                      "the header, where DMARC cannot be checked (RFC 7489 6.6.1)",
                      f->head_kb);
    else
        policy_decide(d, POLICY_REJECT, "dmarc", "550 5.7.1 Message rejected: %s", why);
    return true;
}

void policy_inbound_data(struct policy *p, const struct origin *o, const struct inbound_facts *f,
                         struct policy_decision *d)
{
    const struct config *cfg = cfg_of(p, o);
    char what[300];
    policy_accept(d);
    if (!f->wanted)
        return;
    count_dkim(o, &f->dkim);
    if (f->forged_past) {
        /* RFC 8601 5: ours must be the only field with our authserv-id;
         * one past the part in memory cannot be taken out, so the
         * message is refused rather than passed on with it */
        log_info("event=inbound check=auth_results result=forged action=reject session=%lu ip=%s",
                 o->session, o->ip);
        policy_decide(d, POLICY_REJECT, "auth_results",
                      "550 5.7.1 Message rejected: an Authentication-Results field claiming %s "
                      "lies past the first %u KB of the header, where this server cannot "
                      "remove it (RFC 8601 5); remove that field",
                      cfg->inbound.authserv_id, f->head_kb);
        return;
    }
    if (!f->dmarc_checked)
        return;
    if (no_author(o, f, d))
        return;
    const struct dmarc_result *r = &f->dmarc;
    count_check("dmarc", dmarc_verdict_text(r->verdict));
    if (r->verdict == DMARC_VERDICT_TEMPERROR) {
        snprintf(what, sizeof what, "the DMARC policy of %s", f->from_domain);
        dns_defer(cfg, o, "dmarc", what, d);
        return;
    }
    if (r->verdict != DMARC_VERDICT_FAIL)
        return;
    static const char *const actions[] = {"accept", "hold", "reject"};
    log_info("event=inbound check=dmarc result=fail policy=%s action=%s session=%lu ip=%s "
             "from_domain=%s",
             r->policy, actions[r->disposition], o->session, o->ip, log_quote(f->from_domain));
    if (r->disposition == DMARC_DISPOSITION_REJECT)
        policy_decide(d, POLICY_REJECT, "dmarc",
                      "550 5.7.1 Message rejected: the DMARC policy of %s asks to reject mail "
                      "whose From: domain is not aligned with an authenticated one",
                      r->record_domain);
    else if (r->disposition == DMARC_DISPOSITION_QUARANTINE)
        policy_decide(d, POLICY_HOLD, "dmarc", "%s", ""); /* 250, stored held */
}

/* ---- Authentication-Results ---- */

/* safe_value - V may go into the header as a property value (RFC 8601
 * 2.2: a dot-atom or a domain; anything else is left out). */
static bool safe_value(const char *v)
{
    if (v == NULL || v[0] == '\0')
        return false;
    for (const char *c = v; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '.' || *c == '-' || *c == '_'))
            return false;
    return true;
}

/* safe_reason - R may go into the header as a quoted-string (RFC 8601
 * 2.2 reasonspec; RFC 5322 3.2.4: no quote, backslash or control). */
static bool safe_reason(const char *r)
{
    if (r == NULL || r[0] == '\0')
        return false;
    for (const char *c = r; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e || *c == '"' || *c == '\\')
            return false;
    return true;
}

/* auth_results_dkim - the dkim= resinfo of each signature verified (RFC
 * 8601 2.7.1: header.d and header.s name the signature) to OUT. */
static void auth_results_dkim(FILE *out, const struct dkim_results *k)
{
    if (k->error[0]) {
        fprintf(out, ";\r\n\tdkim=temperror%s%s%s", safe_reason(k->error) ? " reason=\"" : "",
                safe_reason(k->error) ? k->error : "", safe_reason(k->error) ? "\"" : "");
        return;
    }
    if (k->n == 0)
        fputs(";\r\n\tdkim=none", out);
    for (size_t i = 0; i < k->n; i++) {
        const struct dkim_signature *g = &k->sig[i];
        fprintf(out, ";\r\n\tdkim=%s", dkim_verdict_text(g->verdict));
        if (g->verdict != DKIM_VERDICT_PASS && safe_reason(g->reason))
            fprintf(out, " reason=\"%s\"", g->reason);
        if (safe_value(g->domain))
            fprintf(out, " header.d=%s", g->domain);
        if (safe_value(g->selector))
            fprintf(out, " header.s=%s", g->selector);
    }
}

char *inbound_auth_results(const struct config *cfg, const struct inbound_facts *f)
{
    char *h = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&h, &len);
    if (out == NULL)
        return NULL;
    fprintf(out, "Authentication-Results: %s", cfg->inbound.authserv_id);
    /* RFC 8601 2.2: "none" when no method ran */
    if (!f->spf_checked && !f->dkim.checked && !f->dmarc_checked)
        fputs("; none", out);
    if (f->spf_checked)
        fprintf(out, ";\r\n\tspf=%s%s%s", spf_verdict_text(f->spf),
                !safe_value(f->spf_domain) ? ""
                : f->spf_helo              ? " smtp.helo="
                                           : " smtp.mailfrom=",
                safe_value(f->spf_domain) ? f->spf_domain : "");
    if (f->dkim.checked)
        auth_results_dkim(out, &f->dkim);
    /* one dmarc= per author domain (RFC 7489 6.6.1, RFC 8601 2.7.1) */
    for (size_t i = 0; f->dmarc_checked && i < f->n_authors && i < INBOUND_AUTHORS_MAX; i++) {
        const struct inbound_author *a = &f->author[i];
        fprintf(out, ";\r\n\tdmarc=%s%s%s%s%s%s", dmarc_verdict_text(a->dmarc.verdict),
                a->dmarc.policy[0] ? " (p=" : "", a->dmarc.policy, a->dmarc.policy[0] ? ")" : "",
                safe_value(a->domain) ? " header.from=" : "",
                safe_value(a->domain) ? a->domain : "");
    }
    fputs("\r\n", out);
    if (fclose(out) != 0) {
        free(h);
        return NULL;
    }
    return h;
}
