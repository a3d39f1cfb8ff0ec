/* core/config_reputation - the reputation section of floodgate.conf: the
 * server's own public addresses, which floodctl doctor checks in DNS (SPF
 * authorises them, each has a PTR that resolves back, the hostname and
 * the MX point at them) (room: core).
 *
 *     reputation = { public_addresses = [ "192.0.2.25", "2001:db8::25" ]; };
 *
 * Without it, the addresses are the listeners' own when they are bound
 * to one address; a listener on 0.0.0.0 or :: names none. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "core/config_loader.h"

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
        if (inet_ntop(ss->ss_family, a, text, sizeof text) == NULL ||
            strcmp(text, "0.0.0.0") == 0 || strcmp(text, "::") == 0)
            continue;
        if (add_address(&cfg->reputation, text) < 0)
            return -1;
    }
    return 0;
}

int config_load_reputation(struct loader *ld, const config_setting_t *root)
{
    static const char *const keys[] = {"public_addresses", NULL};
    struct config *cfg = ld->cfg;
    struct config_reputation *r = &cfg->reputation;
    const config_setting_t *g, *s;
    if (cfg_get_group(ld, root, "", "reputation", keys, &g) < 0)
        return -1;
    if (g == NULL || (s = config_setting_get_member(g, "public_addresses")) == NULL) {
        r->discovered = true;
        return listener_addresses(cfg) < 0 ? cfg_fail_oom(ld, root, "reputation") : 0;
    }
    if (cfg_expect_sequence(ld, s, "reputation.public_addresses") < 0)
        return -1;
    unsigned n = (unsigned)config_setting_length(s);
    if (n > REPUTATION_ADDRESSES_MAX)
        return cfg_fail(ld, s, "reputation.public_addresses", "more than %d addresses",
                        REPUTATION_ADDRESSES_MAX);
    for (unsigned i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, i);
        char key[KEY_MAX];
        unsigned char buf[16];
        cfg_key_index(key, sizeof key, "reputation.public_addresses", i);
        if (cfg_expect(ld, e, key, CONFIG_TYPE_STRING) < 0)
            return -1;
        const char *v = config_setting_get_string(e);
        if (inet_pton(AF_INET, v, buf) != 1 && inet_pton(AF_INET6, v, buf) != 1)
            return cfg_fail(ld, e, key, "\"%s\" is not an IPv4 or IPv6 address", v);
        if (add_address(r, v) < 0)
            return cfg_fail_oom(ld, e, key);
    }
    return 0;
}

void config_free_reputation(struct config *cfg)
{
    for (size_t i = 0; i < cfg->reputation.n_public; i++)
        free(cfg->reputation.public_addresses[i]);
}
