/* core/config_inbound - the inbound section of floodgate.conf: the checks
 * of mail that other servers send in (room: core).
 *
 *     inbound = {
 *         dnsbl = ( { zone = "zen.spamhaus.org"; weight = 10; },
 *                   { zone = "bl.spamcop.net"; weight = 5; } );
 *         dnsbl_threshold = 10;
 *         spf = true; spf_fail = "reject"; spf_softfail = "mark";
 *         dmarc = true;
 *         dkim = true;             # default: as dmarc
 *         dkim_max_signatures = 5;
 *         dns_failure = "skip";   # or "defer"
 *         dns_timeout = 2;
 *         authserv_id = "mx.example.org";
 *         public_suffix_list = "/usr/share/publicsuffix/public_suffix_list.dat";
 *     };
 *
 * Every check is off unless configured: a DNSBL answers only through a
 * resolver of one's own (the large lists refuse public resolvers), and an
 * SPF or DMARC rejection also refuses forwarded mail, so each is a choice
 * the admin makes knowing that (docs/admin-guide.md, "Inbound checks"). */
#include <stdlib.h>
#include <string.h>

#include "core/config_loader.h"
#include "core/dkim_check.h"

static const char *const action_names[] = {"mark", "reject", NULL};
static const char *const dns_failure_names[] = {"skip", "defer", NULL};

/* load_zone - inbound.dnsbl.[I]: "zone" or { zone = "..."; weight = N; }. */
static int load_zone(struct loader *ld, const config_setting_t *e, unsigned i)
{
    static const char *const keys[] = {"zone", "weight", NULL};
    struct config_inbound *in = &ld->cfg->inbound;
    struct config_inbound_dnsbl *z = &in->dnsbl[in->n_dnsbl];
    char at[KEY_MAX];
    cfg_key_index(at, sizeof at, "inbound.dnsbl", i);
    z->weight = 1;
    if (config_setting_type(e) == CONFIG_TYPE_STRING) {
        if ((z->zone = strdup(config_setting_get_string(e))) == NULL)
            return cfg_fail_oom(ld, e, at);
    } else {
        if (cfg_expect(ld, e, at, CONFIG_TYPE_GROUP) < 0 || cfg_check_keys(ld, e, at, keys) < 0 ||
            cfg_get_string(ld, e, at, "zone", true, &z->zone) < 0 ||
            cfg_get_unsigned(ld, e, at, "weight", 0, 1000, &z->weight) < 0)
            return -1;
    }
    in->n_dnsbl++; /* counted now: config_free_inbound frees it even if it is wrong */
    if (!cfg_zone_ok(z->zone))
        return cfg_fail(ld, e, at, "\"%s\" is not a DNS zone name (like zen.spamhaus.org)",
                        z->zone);
    return 0;
}

/* load_dnsbl - inbound.dnsbl, a list of zones with weights. */
static int load_dnsbl(struct loader *ld, const config_setting_t *g)
{
    const config_setting_t *s = config_setting_get_member(g, "dnsbl");
    if (s == NULL)
        return 0;
    if (cfg_expect_sequence(ld, s, "inbound.dnsbl") < 0)
        return -1;
    unsigned n = (unsigned)config_setting_length(s);
    if (n > INBOUND_DNSBL_MAX)
        return cfg_fail(ld, s, "inbound.dnsbl", "more than %d lists", INBOUND_DNSBL_MAX);
    for (unsigned i = 0; i < n; i++)
        if (load_zone(ld, config_setting_get_elem(s, i), i) < 0)
            return -1;
    return 0;
}

int config_load_inbound(struct loader *ld, const config_setting_t *root)
{
    static const char *const keys[] = {"dnsbl",       "dnsbl_threshold",     "spf",
                                       "spf_fail",    "spf_softfail",        "dmarc",
                                       "dns_failure", "dns_timeout",         "authserv_id",
                                       "dkim",        "dkim_max_signatures", "public_suffix_list",
                                       NULL};
    struct config_inbound *in = &ld->cfg->inbound;
    const config_setting_t *g;
    int fail = INBOUND_REJECT, softfail = INBOUND_MARK, dns = INBOUND_DNS_SKIP;
    in->dnsbl_threshold = 1;
    in->dns_timeout = 2;
    in->dkim_max_signatures = 5;
    if (cfg_get_group(ld, root, "", "inbound", keys, &g) < 0)
        return -1;
    if (g && (load_dnsbl(ld, g) < 0 ||
              cfg_get_unsigned(ld, g, "inbound", "dnsbl_threshold", 1, 100000,
                               &in->dnsbl_threshold) < 0 ||
              cfg_get_bool(ld, g, "inbound", "spf", &in->spf) < 0 ||
              cfg_get_choice(ld, g, "inbound", "spf_fail", action_names, &fail) < 0 ||
              cfg_get_choice(ld, g, "inbound", "spf_softfail", action_names, &softfail) < 0 ||
              cfg_get_bool(ld, g, "inbound", "dmarc", &in->dmarc) < 0 ||
              cfg_get_unsigned(ld, g, "inbound", "dkim_max_signatures", 1, DKIM_CHECK_SIGS_MAX,
                               &in->dkim_max_signatures) < 0 ||
              cfg_get_choice(ld, g, "inbound", "dns_failure", dns_failure_names, &dns) < 0 ||
              cfg_get_unsigned(ld, g, "inbound", "dns_timeout", 1, 30, &in->dns_timeout) < 0 ||
              cfg_get_string(ld, g, "inbound", "authserv_id", false, &in->authserv_id) < 0 ||
              cfg_get_string(ld, g, "inbound", "public_suffix_list", false,
                             &in->public_suffix_list) < 0))
        return -1;
    /* DMARC (RFC 7489 4.2) is SPF or DKIM aligned: DKIM is on with it
     * unless turned off on its own */
    in->dkim = in->dmarc;
    if (g && cfg_get_bool(ld, g, "inbound", "dkim", &in->dkim) < 0)
        return -1;
    /* a missing file is not an error here: the daemon warns at start and
     * on reload, and DMARC falls back (core/dmarc_check.c) */
    if (in->public_suffix_list == NULL &&
        (in->public_suffix_list = strdup(INBOUND_PSL_DEFAULT)) == NULL)
        return cfg_fail_oom(ld, root, "inbound.public_suffix_list");
    in->spf_fail = (enum inbound_action)fail;
    in->spf_softfail = (enum inbound_action)softfail;
    in->dns_failure = (enum inbound_dns_failure)dns;
    /* RFC 8601 2.5: the authserv-id is a domain name; it goes into a header */
    if (in->authserv_id && !cfg_zone_ok(in->authserv_id))
        return cfg_fail(ld, config_setting_get_member(g, "authserv_id"), "inbound.authserv_id",
                        "\"%s\" is not a host name", in->authserv_id);
    if (in->authserv_id == NULL && (in->authserv_id = strdup(ld->cfg->hostname)) == NULL)
        return cfg_fail_oom(ld, root, "inbound.authserv_id");
    return 0;
}

void config_free_inbound(struct config *cfg)
{
    for (size_t i = 0; i < cfg->inbound.n_dnsbl; i++)
        free(cfg->inbound.dnsbl[i].zone);
    free(cfg->inbound.authserv_id);
    free(cfg->inbound.public_suffix_list);
}
