/* core/blocklist - DNSBL questions and the reading of their answers
 * (room: core).
 *
 * RFC 5782 2.1: a listed IPv4 address has an A record 127.0.0.2 or
 * higher under the list's zone (its octets reversed); IPv6 uses the 32
 * nibbles.  The large lists also answer 127.255.255.252/254/255 to say
 * that they refused the question (a bad zone name, a public resolver, too
 * many queries): a server that read those as "listed" would reject the
 * world, and one that read a timeout as "not listed" would say all is
 * well when it does not know.  Both are "unknown" here. */
#include "core/blocklist.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The codes the Spamhaus lists document (zen.spamhaus.org and its parts);
 * other lists say only "listed", with their TXT record for the reason. */
static const struct {
    unsigned last; /* 127.0.0.LAST */
    const char *meaning;
} spamhaus_codes[] = {
    {2, "SBL: a known spam source or spam operation"},
    {3, "SBL CSS: snowshoe spam (many addresses sending a little each)"},
    {4, "XBL: an infected or exploited machine sends from it"},
    {5, "XBL: an infected or exploited machine sends from it"},
    {6, "XBL: an infected or exploited machine sends from it"},
    {7, "XBL: an infected or exploited machine sends from it"},
    {9, "SBL DROP: a hijacked or criminal network"},
    {10, "PBL (ISP): the provider says this address should not send mail directly"},
    {11, "PBL: an address not meant to send mail directly (dynamic or end-user)"},
};

/* blocklist_name - reversed octets (or nibbles) of ADDR, then ZONE. */
int blocklist_name(const char *addr, const char *zone, char *buf, size_t len)
{
    char rev[128];
    if (dnsq_reverse_name(addr, rev, sizeof rev) < 0)
        return -1;
    char *suffix = strstr(rev, strchr(addr, ':') ? "ip6.arpa" : "in-addr.arpa");
    if (suffix == NULL)
        return -1;
    *suffix = '\0'; /* keep the dot before it */
    int n = snprintf(buf, len, "%s%s", rev, zone);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* meaning_of - the words for listing code LAST (127.0.0.LAST) at ZONE. */
static void meaning_of(const char *zone, unsigned last, char *buf, size_t len)
{
    size_t zl = strlen(zone), sl = strlen("spamhaus.org");
    bool spamhaus = zl >= sl && strcmp(zone + zl - sl, "spamhaus.org") == 0;
    for (size_t i = 0; spamhaus && i < sizeof spamhaus_codes / sizeof spamhaus_codes[0]; i++)
        if (spamhaus_codes[i].last == last) {
            snprintf(buf, len, "%s", spamhaus_codes[i].meaning);
            return;
        }
    snprintf(buf, len, "listed (code 127.0.0.%u)", last);
}

/* read_code - what the A record CODE says, into R. */
static void read_code(const char *zone, const char *code, struct blocklist_result *r)
{
    unsigned char b[4];
    snprintf(r->code, sizeof r->code, "%s", code);
    if (inet_pton(AF_INET, code, b) != 1 || b[0] != 127) {
        r->state = BLOCKLIST_UNKNOWN;
        snprintf(r->meaning, sizeof r->meaning,
                 "an answer no list gives: the list may be dead and answering every name");
        return;
    }
    if (b[1] == 255 && b[2] == 255 && b[3] >= 252) {
        r->state = BLOCKLIST_UNKNOWN;
        snprintf(r->meaning, sizeof r->meaning, "%s",
                 b[3] == 252   ? "the list refused the question: a typing error in its zone name"
                 : b[3] == 254 ? "the list refuses questions through public resolvers: use a "
                                 "resolver of your own (dns.servers)"
                 : b[3] == 255 ? "the list refused: too many questions from this resolver"
                               : "the list refused the question");
        return;
    }
    if (b[1] == 0 && b[2] == 0 && b[3] >= 2 && b[3] <= 11) {
        r->state = BLOCKLIST_LISTED;
        meaning_of(zone, b[3], r->meaning, sizeof r->meaning);
        return;
    }
    r->state = BLOCKLIST_UNKNOWN;
    snprintf(r->meaning, sizeof r->meaning, "an answer the lists do not document");
}

/* blocklist_check - the A question, then the TXT one for the reason. */
void blocklist_check(struct dnsq *q, const char *addr, const char *zone, bool why,
                     struct blocklist_result *r)
{
    char name[512];
    *r = (struct blocklist_result){.state = BLOCKLIST_UNKNOWN, .ttl = -1};
    if (blocklist_name(addr, zone, name, sizeof name) < 0) {
        snprintf(r->meaning, sizeof r->meaning, "not an address, or the name is too long");
        return;
    }
    struct dnsq_answer *a = malloc(sizeof *a);
    if (a == NULL) {
        snprintf(r->meaning, sizeof r->meaning, "out of memory");
        return;
    }
    enum dnsq_status st = dnsq_query(q, name, DNSQ_A, a);
    if (st == DNSQ_NXDOMAIN || st == DNSQ_NODATA) {
        r->state = BLOCKLIST_CLEAN;
        r->ttl = a->negative_ttl;
        snprintf(r->meaning, sizeof r->meaning, "not listed");
    } else if (st != DNSQ_OK) {
        r->dns_failed = st == DNSQ_SERVFAIL || st == DNSQ_TIMEOUT;
        snprintf(r->meaning, sizeof r->meaning, "the DNS did not answer: %s", dnsq_status_text(st));
    } else {
        /* the worst code decides: a refusal beside a listing is unknown */
        read_code(zone, a->rec[0].text, r);
        r->ttl = (long)a->rec[0].ttl;
        for (size_t i = 1; i < a->n && r->state == BLOCKLIST_LISTED; i++) {
            struct blocklist_result other = {.state = BLOCKLIST_UNKNOWN};
            read_code(zone, a->rec[i].text, &other);
            if (other.state == BLOCKLIST_UNKNOWN)
                *r = other, r->ttl = (long)a->rec[0].ttl;
        }
        if (why && r->state == BLOCKLIST_LISTED && dnsq_query(q, name, DNSQ_TXT, a) == DNSQ_OK)
            snprintf(r->reason, sizeof r->reason, "%.*s", (int)sizeof r->reason - 1,
                     a->rec[0].text);
    }
    free(a);
}

const char *blocklist_state_text(enum blocklist_state s)
{
    return s == BLOCKLIST_CLEAN ? "not listed" : s == BLOCKLIST_LISTED ? "listed" : "unknown";
}
