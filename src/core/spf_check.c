/* core/spf_check - SPF with libspf2 over our own DNS layer (room: core).
 *
 * libspf2's own resolver layer asks the system resolver (res_query) and
 * cannot be pointed at a server: it would ignore dns.servers and send
 * every test's question off the machine.  libspf2 lets a program supply
 * a DNS layer (SPF_dns_server_t with a lookup function); this one answers
 * each lookup with core/dnsq and hands the records back in libspf2's
 * form.  The evaluation itself — macros, include, redirect, the ten-lookup
 * limit — stays libspf2's.
 *
 * One step of libspf2 is not taken: SPF_request_query_mailfrom answers
 * "pass" for any client in 127.0.0.0/8 or ::1 without reading the record
 * ("localhost is always allowed", its reason SPF_REASON_LOCALHOST).  That
 * is a local-policy decision made inside the library, and Floodgate makes
 * it itself: who is not checked at all is the policy engine's choice
 * (authenticated clients and relay.allow_groups never reach SPF).  So
 * query_mailfrom below does what SPF_request_query_mailfrom does after
 * that shortcut, through libspf2's public functions, and every address is
 * evaluated against the published record (RFC 7208 4: the check_host()
 * function has no exception for loopback).  A local service that hands
 * mail back over loopback belongs in relay.allow_groups; floodctl doctor
 * only evaluates public addresses and is unchanged. */
#include "core/spf_check.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <spf2/spf.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* herrno_of - how libspf2 is told a question ended (netdb.h's h_errno
 * values, which its own resolver layer gives). */
static SPF_dns_stat_t herrno_of(enum dnsq_status st)
{
    switch (st) {
    case DNSQ_OK:
        return NETDB_SUCCESS;
    case DNSQ_NODATA:
        return NO_DATA;
    case DNSQ_NXDOMAIN:
        return HOST_NOT_FOUND;
    case DNSQ_SERVFAIL:
    case DNSQ_TIMEOUT:
        return TRY_AGAIN;
    default:
        return NO_RECOVERY;
    }
}

/* fill - copy record TEXT into RR's slot I in the form of TYPE; false
 * when it does not fit that form (or memory runs out). */
static bool fill(SPF_dns_rr_t *rr, int i, ns_type type, const char *text)
{
    size_t need = type == ns_t_a      ? sizeof(struct in_addr)
                  : type == ns_t_aaaa ? sizeof(struct in6_addr)
                                      : strlen(text) + 1;
    if (SPF_dns_rr_buf_realloc(rr, i, need) != SPF_E_SUCCESS)
        return false;
    if (type == ns_t_a)
        return inet_pton(AF_INET, text, &rr->rr[i]->a) == 1;
    if (type == ns_t_aaaa)
        return inet_pton(AF_INET6, text, &rr->rr[i]->aaaa) == 1;
    memcpy(rr->rr[i]->txt, text, need); /* txt, mx and ptr share the bytes */
    return true;
}

/* What the layer keeps of one evaluation: the resolver, and whether a
 * question on the way met a DNS failure (SERVFAIL, timeout). */
struct layer_ctx {
    struct dnsq *q;
    bool failed;
};

/* layer_lookup - libspf2 asks DOMAIN's records of TYPE. */
static SPF_dns_rr_t *layer_lookup(SPF_dns_server_t *layer, const char *domain, ns_type type,
                                  int should_cache)
{
    (void)should_cache;
    enum dnsq_type t;
    switch (type) {
    case ns_t_a:
        t = DNSQ_A;
        break;
    case ns_t_aaaa:
        t = DNSQ_AAAA;
        break;
    case ns_t_mx:
        t = DNSQ_MX;
        break;
    case ns_t_txt:
        t = DNSQ_TXT;
        break;
    case ns_t_ptr:
        t = DNSQ_PTR;
        break;
    default: /* SPF records of type 99 are obsolete (RFC 7208 3.1) */
        return SPF_dns_rr_new_init(layer, domain, type, 0, NO_DATA);
    }
    struct dnsq_answer *a = malloc(sizeof *a);
    if (a == NULL)
        return SPF_dns_rr_new_init(layer, domain, type, 0, TRY_AGAIN);
    struct layer_ctx *ctx = layer->hook;
    enum dnsq_status st = dnsq_query(ctx->q, domain, t, a);
    if (st == DNSQ_SERVFAIL || st == DNSQ_TIMEOUT)
        ctx->failed = true;
    SPF_dns_rr_t *rr =
        SPF_dns_rr_new_init(layer, domain, type, a->n ? (int)a->rec[0].ttl : 0, herrno_of(st));
    for (size_t i = 0; rr && st == DNSQ_OK && i < a->n; i++)
        if (fill(rr, rr->num_rr, type, a->rec[i].text))
            rr->num_rr++;
    free(a);
    return rr;
}

/* verdict_of - libspf2's result as ours. */
static enum spf_verdict verdict_of(SPF_result_t r)
{
    switch (r) {
    case SPF_RESULT_PASS:
        return SPF_VERDICT_PASS;
    case SPF_RESULT_FAIL:
        return SPF_VERDICT_FAIL;
    case SPF_RESULT_SOFTFAIL:
        return SPF_VERDICT_SOFTFAIL;
    case SPF_RESULT_NEUTRAL:
        return SPF_VERDICT_NEUTRAL;
    case SPF_RESULT_NONE:
        return SPF_VERDICT_NONE;
    case SPF_RESULT_TEMPERROR:
        return SPF_VERDICT_TEMPERROR;
    default:
        return SPF_VERDICT_PERMERROR;
    }
}

/* query_mailfrom - SPF_request_query_mailfrom without its loopback
 * shortcut (see the top of this file): the MAIL FROM domain's record (or
 * the HELO domain's, for the null sender) interpreted for REQ.  NULL when
 * memory runs out. */
static SPF_response_t *query_mailfrom(SPF_server_t *srv, SPF_request_t *req)
{
    SPF_response_t *resp = SPF_response_new(req);
    SPF_record_t *rec = NULL;
    if (resp == NULL)
        return NULL;
    req->cur_dom = req->use_helo ? req->helo_dom : req->env_from_dp;
    SPF_errcode_t err = SPF_server_get_record(srv, req, resp, &rec);
    if (err != SPF_E_SUCCESS) {
        /* no record, a DNS failure: get_record set the result (none,
         * temperror, permerror); SPF_i_done settles it */
        if (rec)
            SPF_record_free(rec);
        /* libspf2 1.2.10 sets no result here: no record is "none"
         * (RFC 7208 4.5), a broken one "permerror" */
        if (resp->result == SPF_RESULT_INVALID)
            resp->result = err == SPF_E_NOT_SPF ? SPF_RESULT_NONE : SPF_RESULT_PERMERROR;
        SPF_i_done(resp, resp->result, resp->reason, resp->err);
        return resp;
    }
    resp->spf_record_exp = rec;
    SPF_record_interpret(rec, req, resp, 0);
    SPF_record_free(rec);
    return resp;
}

/* spf_check - one evaluation: a server over our layer, one request. */
enum spf_verdict spf_check(struct dnsq *q, const char *ip, const char *sender, const char *helo,
                           char *comment, size_t len)
{
    if (comment && len)
        comment[0] = '\0';
    struct layer_ctx ctx = {.q = q};
    SPF_dns_server_t *layer = calloc(1, sizeof *layer);
    if (layer == NULL)
        return SPF_VERDICT_TEMPERROR;
    *layer = (SPF_dns_server_t){
        .destroy = NULL, .lookup = layer_lookup, .name = "floodgate", .hook = &ctx};
    SPF_server_t *srv = SPF_server_new_dns(layer, 0);
    if (srv == NULL) {
        free(layer);
        return SPF_VERDICT_TEMPERROR;
    }
    enum spf_verdict v = SPF_VERDICT_PERMERROR;
    SPF_request_t *req = SPF_request_new(srv);
    SPF_response_t *resp = NULL;
    bool v6 = strchr(ip, ':') != NULL;
    if (req && (v6 ? SPF_request_set_ipv6_str(req, ip) : SPF_request_set_ipv4_str(req, ip)) ==
                   SPF_E_SUCCESS) {
        if (helo)
            SPF_request_set_helo_dom(req, helo);
        if (SPF_request_set_env_from(req, sender) == 0) {
            resp = query_mailfrom(srv, req);
            if (resp) {
                v = verdict_of(SPF_response_result(resp));
                /* A DNS failure is no verdict (RFC 7208 4.4, 5.2): libspf2
                 * 1.2.10 leaves the result unset when the record's own
                 * question failed (read as permerror), and goes on past a
                 * mechanism whose question failed (to "-all": fail).  Any
                 * result but pass reached over a failed question is
                 * temperror. */
                if (ctx.failed && v != SPF_VERDICT_PASS)
                    v = SPF_VERDICT_TEMPERROR;
                const char *c = SPF_response_get_smtp_comment(resp);
                if (c == NULL)
                    c = SPF_response_get_header_comment(resp);
                if (c && comment && len)
                    snprintf(comment, len, "%s", c);
            }
        }
    }
    if (resp)
        SPF_response_free(resp);
    if (req)
        SPF_request_free(req);
    SPF_server_free(srv); /* a layer given to SPF_server_new_dns stays ours */
    free(layer);
    return v;
}

const char *spf_verdict_text(enum spf_verdict v)
{
    static const char *const words[] = {"none",     "neutral",   "pass",     "fail",
                                        "softfail", "temperror", "permerror"};
    return (unsigned)v < sizeof words / sizeof words[0] ? words[v] : "permerror";
}
