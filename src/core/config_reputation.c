/* core/config_reputation - the reputation section of floodgate.conf: the
 * server's own public addresses, which floodctl doctor checks in DNS (SPF
 * authorises them, each has a PTR that resolves back, the hostname and
 * the MX point at them) (room: core).
 *
 *     reputation = { public_addresses = [ "192.0.2.25", "2001:db8::25" ];
 *                    blocklists = [ "zen.spamhaus.org" ]; check_interval = 3600; };
 *
 * Without public_addresses, the addresses are the listeners' own when they
 * are bound to one public address; a listener on 0.0.0.0 or ::, on
 * loopback or on a private address names none.  The
 * blocklists are DNSBL zones the addresses are looked up on, by floodctl
 * doctor and by the daemon every check_interval seconds. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/config_loader.h"

/* The default lists: large, long-lived, free for a small organisation's
 * volume of queries, and documented return codes.  Spamhaus refuses
 * questions that come through the big public resolvers (127.255.255.254):
 * those show as "unknown", never as "listed". */
static const char *const default_blocklists[] = {"zen.spamhaus.org", "bl.spamcop.net",
                                                 "b.barracudacentral.org", "psbl.surriel.com"};

/* cfg_zone_ok - a DNS zone name (also the inbound section's lists). */
bool cfg_zone_ok(const char *z)
{
    size_t n = strlen(z), label = 0;
    if (n == 0 || n > 200 || z[0] == '.' || z[n - 1] == '.')
        return false;
    for (const char *p = z; *p; p++) {
        if (*p == '.') {
            if (label == 0)
                return false;
            label = 0;
        } else if (isalnum((unsigned char)*p) || *p == '-' || *p == '_') {
            if (++label > 63)
                return false;
        } else {
            return false;
        }
    }
    return true;
}

/* add_address - TEXT (an IPv4 or IPv6 address, as written) to the list
 * unless it is there; -1 when memory runs out. */
static int add_address(struct config_reputation *r, const char *text)
{
    for (size_t i = 0; i < r->n_public; i++)
        if (strcmp(r->public_addresses[i], text) == 0)
            return 0;
    if (r->n_public >= REPUTATION_ADDRESSES_MAX)
        return 0;
    char *copy = strdup(text);
    if (copy == NULL)
        return -1;
    r->public_addresses[r->n_public++] = copy;
    return 0;
}

/* listener_addresses - the addresses the listeners are bound to, when
 * each is one address (not a wildcard). */
static int listener_addresses(struct config *cfg)
{
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        const struct sockaddr_storage *ss = &cfg->listeners[i].addr;
        char text[INET6_ADDRSTRLEN];
        const void *a = ss->ss_family == AF_INET
                            ? (const void *)&((const struct sockaddr_in *)ss)->sin_addr
                            : (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
        struct ipset_entry_facts f;
        char err[128];
        /* a wildcard, loopback or private address is no public one: the
         * lists and the PTR checks would say nothing about the server */
        if (inet_ntop(ss->ss_family, a, text, sizeof text) == NULL ||
            strcmp(text, "0.0.0.0") == 0 || strcmp(text, "::") == 0 ||
            ipset_inspect(text, &f, err, sizeof err) < 0 || !f.public_part)
            continue;
        if (add_address(&cfg->reputation, text) < 0)
            return -1;
    }
    return 0;
}

/* add_blocklist - ZONE to the lists; -1 when memory runs out. */
static int add_blocklist(struct config_reputation *r, const char *zone)
{
    if (r->n_blocklists >= REPUTATION_BLOCKLISTS_MAX)
        return 0;
    if ((r->blocklists[r->n_blocklists] = strdup(zone)) == NULL)
        return -1;
    r->n_blocklists++;
    return 0;
}

/* zone_error, address_error - what is wrong with V as a list entry, or
 * NULL when nothing is. */
static const char *zone_error(const char *v)
{
    return cfg_zone_ok(v) ? NULL : "is not a DNS zone name (like zen.spamhaus.org)";
}

static const char *address_error(const char *v)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, v, buf) == 1 || inet_pton(AF_INET6, v, buf) == 1
               ? NULL
               : "is not an IPv4 or IPv6 address";
}

/* load_strings - the array S at KEY: at most MAX strings (more: "more than
 * MAX WHAT"), each passing CHECK, each given to ADD. */
static int load_strings(struct loader *ld, const config_setting_t *s, const char *key, unsigned max,
                        const char *what, const char *(*check)(const char *),
                        int (*add)(struct config_reputation *, const char *))
{
    if (cfg_expect_sequence(ld, s, key) < 0)
        return -1;
    unsigned n = (unsigned)config_setting_length(s);
    if (n > max)
        return cfg_fail(ld, s, key, "more than %u %s", max, what);
    for (unsigned i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, i);
        char at[KEY_MAX];
        cfg_key_index(at, sizeof at, key, i);
        if (cfg_expect(ld, e, at, CONFIG_TYPE_STRING) < 0)
            return -1;
        const char *v = config_setting_get_string(e), *wrong = check(v);
        if (wrong)
            return cfg_fail(ld, e, at, "\"%s\" %s", v, wrong);
        if (add(&ld->cfg->reputation, v) < 0)
            return cfg_fail_oom(ld, e, at);
    }
    return 0;
}

/* load_blocklists - reputation.blocklists, or the default set. */
static int load_blocklists(struct loader *ld, const config_setting_t *g)
{
    const config_setting_t *s = g ? config_setting_get_member(g, "blocklists") : NULL;
    if (s != NULL)
        return load_strings(ld, s, "reputation.blocklists", REPUTATION_BLOCKLISTS_MAX, "lists",
                            zone_error, add_blocklist);
    for (size_t i = 0; i < sizeof default_blocklists / sizeof default_blocklists[0]; i++)
        if (add_blocklist(&ld->cfg->reputation, default_blocklists[i]) < 0)
            return cfg_fail_oom(ld, g, "reputation.blocklists");
    return 0;
}

int config_load_reputation(struct loader *ld, const config_setting_t *root)
{
    static const char *const keys[] = {"public_addresses", "blocklists", "check_interval", NULL};
    struct config *cfg = ld->cfg;
    struct config_reputation *r = &cfg->reputation;
    const config_setting_t *g, *s;
    r->check_interval = 3600;
    if (cfg_get_group(ld, root, "", "reputation", keys, &g) < 0 || load_blocklists(ld, g) < 0)
        return -1;
    if (g && cfg_get_unsigned(ld, g, "reputation", "check_interval", 0, 7 * 86400,
                              &r->check_interval) < 0)
        return -1;
    if (g && r->check_interval > 0 && r->check_interval < 60)
        return cfg_fail(ld, config_setting_get_member(g, "check_interval"),
                        "reputation.check_interval",
                        "at least 60 seconds (or 0: never); the lists throttle frequent askers");
    if (g == NULL || (s = config_setting_get_member(g, "public_addresses")) == NULL) {
        r->discovered = true;
        return listener_addresses(cfg) < 0 ? cfg_fail_oom(ld, root, "reputation") : 0;
    }
    return load_strings(ld, s, "reputation.public_addresses", REPUTATION_ADDRESSES_MAX, "addresses",
                        address_error, add_address);
}

void config_free_reputation(struct config *cfg)
{
    for (size_t i = 0; i < cfg->reputation.n_public; i++)
        free(cfg->reputation.public_addresses[i]);
    for (size_t i = 0; i < cfg->reputation.n_blocklists; i++)
        free(cfg->reputation.blocklists[i]);
}
