/* core/config_describe - what floodgated -n prints after a good check: for
 * each listener, who may relay without AUTH, who is exempt from what, and
 * how AUTH is offered (room: core).
 *
 * The Kerio article (seeds/) asks the admin to review, menu by menu, which
 * IP group each security exception uses; this is that review on one
 * screen.  Relay and the exemptions are server-wide, but what they mean
 * differs per listener (a listener with auth = "required" lets nobody send
 * without AUTH, whatever the relay groups say), so each listener gets its
 * own block.  The entries are printed expanded (includes resolved), the way
 * the server matches them. */
#include <stdio.h>

#include "core/config.h"

/* Entries printed per group before "... N more": enough to check a LAN
 * list, short enough that a huge group does not bury the rest. */
#define DESCRIBE_ENTRIES_MAX 16

static const char *const tls_words[] = {"no TLS", "STARTTLS", "implicit TLS"};
static const char *const auth_words[] = {"off", "optional", "required"};

/* describe_group - "NAME (entry, entry, ...)" of GRP. */
static void describe_group(const struct ip_group *grp, FILE *out)
{
    size_t n = ipset_count(grp->set);
    fprintf(out, "%s%s (", grp->name, grp->allow_wide ? " [allow_wide]" : "");
    for (size_t i = 0; i < n && i < DESCRIBE_ENTRIES_MAX; i++) {
        char text[IPSET_TEXT_MAX];
        if (ipset_entry_text(grp->set, i, text, sizeof text) == 0)
            fprintf(out, "%s%s", i ? ", " : "", text);
    }
    if (n > DESCRIBE_ENTRIES_MAX)
        fprintf(out, ", ... %zu more", n - DESCRIBE_ENTRIES_MAX);
    fprintf(out, "%s)", n == 0 ? "empty" : "");
}

/* describe_grant - the groups named by the setting of GRANT, or NOBODY. */
static void describe_grant(const struct config *cfg, enum ip_grant grant, const char *nobody,
                           FILE *out)
{
    size_t named = 0, shown = 0;
    for (size_t i = 0; i < cfg->n_groups; i++)
        named += (cfg->groups[i].grants >> grant) & 1u;
    for (size_t i = 0; i < cfg->n_groups; i++) {
        if (!(cfg->groups[i].grants & (1u << grant)))
            continue;
        fprintf(out, "%s", shown++ ? "; " : named > 1 ? "groups " : "group ");
        describe_group(&cfg->groups[i], out);
    }
    fprintf(out, "%s\n", shown ? "" : nobody);
}

/* describe_auth - how AUTH is offered on L (see smtp_auth_offered). */
static const char *describe_auth(const struct listener_config *l)
{
    if (l->auth == AUTH_MODE_OFF)
        return "";
    if (l->tls == TLS_MODE_IMPLICIT)
        return " (over TLS)";
    if (l->plaintext_auth)
        return l->tls == TLS_MODE_STARTTLS
                   ? " (also before STARTTLS, in clear text: plaintext_auth)"
                   : " (in clear text: plaintext_auth)";
    return l->tls == TLS_MODE_STARTTLS ? " (only after STARTTLS)"
                                       : " (never offered: no TLS and no plaintext_auth)";
}

/* describe_listener - the block of listener L. */
static void describe_listener(const struct config *cfg, const struct listener_config *l, FILE *out)
{
    fprintf(out, "listener %s %s (%s%s):\n", l->name, l->address, tls_words[l->tls],
            ipset_is_loopback((const struct sockaddr *)&l->addr) ? ", loopback" : "");
    fprintf(out, "  AUTH: %s%s\n", auth_words[l->auth], describe_auth(l));
    fprintf(out, "  relay and trusted sender without AUTH (relay.allow_groups): ");
    if (l->auth == AUTH_MODE_REQUIRED)
        fprintf(out, "nobody (auth = \"required\": every client must authenticate here)\n");
    else
        describe_grant(cfg, IP_GRANT_RELAY, "nobody (only authenticated users relay)", out);
    fprintf(out, "  exempt from automatic bans (hammering.exempt_groups): ");
    describe_grant(cfg, IP_GRANT_NO_BANS, "nobody", out);
    fprintf(out, "  exempt from client_limits, limits.max_recipients and limits.max_errors "
                 "(client_limits.exempt_groups): ");
    describe_grant(cfg, IP_GRANT_NO_LIMITS, "nobody", out);
}

/* config_describe - every listener's block, then the groups nothing uses. */
void config_describe(const struct config *cfg, FILE *out)
{
    size_t unused = 0;
    for (size_t i = 0; i < cfg->n_listeners; i++)
        describe_listener(cfg, &cfg->listeners[i], out);
    if (cfg->open_relay)
        fprintf(out, "relay.open_relay = true: relay groups may cover the whole Internet\n");
    for (size_t i = 0; i < cfg->n_groups; i++) {
        if (cfg->groups[i].reached)
            continue;
        fprintf(out, "%s%s", unused++ ? ", " : "ip_groups no setting uses (they grant nothing): ",
                cfg->groups[i].name);
    }
    if (unused)
        fputc('\n', out);
}
