/* core/config_audit - the config checks of `floodctl doctor` (room: core).
 *
 * The Kerio article (seeds/) found the outbreak's door in an IP group
 * whose mask typo opened relay to the whole Internet.  The loader already
 * refuses the worst of that (a wide public group that grants anything)
 * and warns about the rest with file and line; this audit puts every
 * group, what it grants and the listeners on one list an admin reads top
 * to bottom, each line with what to do about it. */
#include "core/config_audit.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Entries named in a group's detail before "... N more". */
#define AUDIT_ENTRIES_MAX 8
#define ENTRIES(n) ((n) == 1 ? "entry" : "entries")

/* check_add - one check object appended to CHECKS. */
int check_add(json_t *checks, const char *check, const char *subject, const char *status,
              const char *fix, const char *detail, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, detail);
    vsnprintf(text, sizeof text, detail, ap);
    va_end(ap);
    json_t *c = json_pack("{s:s, s:s, s:s, s:s, s:s?}", "check", check, "subject", subject,
                          "status", status, "detail", text, "fix", fix);
    return c && json_array_append_new(checks, c) == 0 ? 0 : -1;
}

/* grants_text - "relay (relay.allow_groups), ..." for the grant bits G,
 * or "nothing". */
static void grants_text(unsigned g, char *buf, size_t len)
{
    static const char *const what[IP_GRANT_COUNT] = {"relay without AUTH", "no automatic bans",
                                                     "no client limits"};
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; i < IP_GRANT_COUNT; i++) {
        if (!(g & (1u << i)))
            continue;
        int n = snprintf(buf + o, len - o, "%s%s (%s)", o ? ", " : "", what[i],
                         config_grant_key((enum ip_grant)i));
        if (n < 0 || (size_t)n >= len - o)
            break;
        o += (size_t)n;
    }
    if (o == 0)
        snprintf(buf, len, "nothing (no setting names it)");
}

/* public_entries - the entries of SET with public address space, as
 * "a, b, ... N more" in BUF; how many there are. */
static size_t public_entries(const struct ipset *set, char *buf, size_t len)
{
    size_t found = 0, o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < ipset_count(set); i++) {
        char text[IPSET_TEXT_MAX], err[128];
        struct ipset_entry_facts f;
        if (ipset_entry_text(set, i, text, sizeof text) < 0 ||
            ipset_inspect(text, &f, err, sizeof err) < 0 || !f.public_part)
            continue;
        if (found++ < AUDIT_ENTRIES_MAX) {
            int n = snprintf(buf + o, len - o, "%s%s", o ? ", " : "", text);
            if (n > 0 && (size_t)n < len - o)
                o += (size_t)n;
        }
    }
    if (found > AUDIT_ENTRIES_MAX)
        snprintf(buf + o, len - o, ", ... %zu more", found - AUDIT_ENTRIES_MAX);
    return found;
}

/* audit_group - what group G grants, and whether public space gets it. */
static int audit_group(const struct config *cfg, const struct ip_group *g, json_t *checks)
{
    char grants[256], pub[512];
    grants_text(g->reached, grants, sizeof grants);
    size_t n = ipset_count(g->set), npub = public_entries(g->set, pub, sizeof pub);
    if (g->reached && npub && (g->reached & (1u << IP_GRANT_RELAY)) && !cfg->open_relay)
        return check_add(checks, "ip_group", g->name, CHECK_WARN,
                         "keep only your own networks in a group that grants relay; move "
                         "partners to AUTH, then floodctl reload",
                         "%zu %s, %zu with public addresses (%s); grants %s: every "
                         "client at those addresses relays through this server without a "
                         "password",
                         n, ENTRIES(n), npub, pub, grants);
    if (g->reached && npub)
        return check_add(checks, "ip_group", g->name, CHECK_WARN,
                         "check that each of these networks is yours or a partner's",
                         "%zu %s, %zu with public addresses (%s); grants %s", n, ENTRIES(n), npub,
                         pub, grants);
    if (!g->reached)
        return check_add(checks, "ip_group", g->name, CHECK_OK, NULL,
                         "%zu %s; grants nothing (no setting names it, directly or "
                         "through an include)",
                         n, ENTRIES(n));
    return check_add(checks, "ip_group", g->name, CHECK_OK, NULL,
                     "%zu %s, all private or local; grants %s", n, ENTRIES(n), grants);
}

/* audit_overlaps - pairs of groups that share some addresses but where
 * neither holds the other: an address in both gets the grants of both,
 * which is seldom what two hand-written lists meant.  A group inside
 * another (an include, or a subnet of a LAN) is the usual shape and is
 * not reported. */
static int audit_overlaps(const struct config *cfg, json_t *checks)
{
    for (size_t i = 0; i < cfg->n_groups; i++)
        for (size_t j = i + 1; j < cfg->n_groups; j++) {
            const struct ip_group *a = &cfg->groups[i], *b = &cfg->groups[j];
            char at[IPSET_TEXT_MAX], subject[256];
            if (ipset_relation(a->set, b->set, at, sizeof at) != IPSET_OVERLAP)
                continue;
            snprintf(subject, sizeof subject, "%s, %s", a->name, b->name);
            if (check_add(checks, "ip_group_overlap", subject, CHECK_WARN,
                          "make one group hold the other, or split the shared addresses out "
                          "into a group of their own",
                          "groups %s and %s share addresses (from %s) but neither holds the "
                          "other: a client there gets the grants of both",
                          a->name, b->name, at) < 0)
                return -1;
        }
    return 0;
}

/* audit_listener_auth - passwords in clear text on L. */
static int audit_listener_auth(const struct listener_config *l, json_t *checks)
{
    bool loopback = ipset_is_loopback((const struct sockaddr *)&l->addr);
    if (l->auth == AUTH_MODE_OFF)
        return check_add(checks, "listener_auth", l->name, CHECK_OK, NULL, "%s: no AUTH offered",
                         l->address);
    if (l->tls == TLS_MODE_IMPLICIT)
        return check_add(checks, "listener_auth", l->name, CHECK_OK, NULL,
                         "%s: AUTH only inside TLS (implicit TLS)", l->address);
    if (l->plaintext_auth && !loopback)
        return check_add(checks, "listener_auth", l->name, CHECK_FAIL,
                         l->tls == TLS_MODE_NONE
                             ? "set tls = \"starttls\" (with tls_certificate and tls_key) and "
                               "remove plaintext_auth, then floodctl reload"
                             : "remove plaintext_auth = true, then floodctl reload",
                         "%s: AUTH is offered %s: passwords cross the network readable by "
                         "anyone on the path",
                         l->address, l->tls == TLS_MODE_NONE ? "without TLS" : "before STARTTLS");
    if (l->plaintext_auth)
        return check_add(checks, "listener_auth", l->name, CHECK_OK, NULL,
                         "%s: AUTH in clear text, on loopback only", l->address);
    if (l->tls == TLS_MODE_NONE)
        return check_add(checks, "listener_auth", l->name, CHECK_WARN,
                         "set tls = \"starttls\" (with tls_certificate and tls_key), or "
                         "auth = \"off\" on this listener",
                         "%s: auth = \"%s\" but the listener has no TLS, so AUTH is never "
                         "offered%s",
                         l->address, l->auth == AUTH_MODE_REQUIRED ? "required" : "optional",
                         l->auth == AUTH_MODE_REQUIRED ? " and no client can send here" : "");
    return check_add(checks, "listener_auth", l->name, CHECK_OK, NULL,
                     "%s: AUTH only after STARTTLS", l->address);
}

/* relay_groups_text - the groups granting relay, "a, b", or "" if none. */
static void relay_groups_text(const struct config *cfg, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < cfg->n_groups; i++) {
        if (!(cfg->groups[i].grants & (1u << IP_GRANT_RELAY)))
            continue;
        size_t k = ipset_count(cfg->groups[i].set);
        int n = snprintf(buf + o, len - o, "%s%s (%zu %s)", o ? ", " : "", cfg->groups[i].name, k,
                         ENTRIES(k));
        if (n < 0 || (size_t)n >= len - o)
            break;
        o += (size_t)n;
    }
}

/* audit_listener_relay - who may relay without AUTH on L. */
static int audit_listener_relay(const struct config *cfg, const struct listener_config *l,
                                json_t *checks)
{
    char groups[512];
    relay_groups_text(cfg, groups, sizeof groups);
    if (l->auth == AUTH_MODE_REQUIRED)
        return check_add(checks, "listener_relay", l->name, CHECK_OK, NULL,
                         "%s: nobody relays without AUTH (auth = \"required\")", l->address);
    if (cfg->open_relay)
        return check_add(checks, "listener_relay", l->name, CHECK_FAIL,
                         "remove relay.open_relay = true and list your own networks in "
                         "relay.allow_groups, then floodctl reload",
                         "%s: relay.open_relay = true: %s may relay without AUTH, and a "
                         "group may cover the whole Internet",
                         l->address, groups[0] ? groups : "the relay groups");
    if (groups[0] == '\0')
        return check_add(checks, "listener_relay", l->name, CHECK_OK, NULL,
                         "%s: only authenticated users relay", l->address);
    return check_add(checks, "listener_relay", l->name, CHECK_OK, NULL,
                     "%s: relay without AUTH for groups %s; everyone else must authenticate",
                     l->address, groups);
}

/* audit_warning - one of the loader's warnings ("FILE:LINE: KEY: text"). */
static int audit_warning(const char *w, json_t *checks)
{
    char subject[512];
    const char *sep = strstr(w, ": ");
    const char *key_end = sep ? strstr(sep + 2, ": ") : NULL;
    size_t n = key_end ? (size_t)(key_end - w) : strlen(w);
    snprintf(subject, sizeof subject, "%.*s", (int)(n < sizeof subject ? n : sizeof subject - 1),
             w);
    return check_add(checks, "config_warning", subject, CHECK_WARN,
                     "change the setting at that line (floodgate.conf(5)), then floodctl reload",
                     "%s", key_end ? key_end + 2 : w);
}

/* config_audit - the warnings, the groups, their overlaps, the listeners. */
int config_audit(const struct config *cfg, json_t *checks)
{
    for (size_t i = 0; i < cfg->n_warnings; i++)
        if (audit_warning(cfg->warnings[i], checks) < 0)
            return -1;
    for (size_t i = 0; i < cfg->n_groups; i++)
        if (audit_group(cfg, &cfg->groups[i], checks) < 0)
            return -1;
    if (audit_overlaps(cfg, checks) < 0)
        return -1;
    for (size_t i = 0; i < cfg->n_listeners; i++)
        if (audit_listener_auth(&cfg->listeners[i], checks) < 0 ||
            audit_listener_relay(cfg, &cfg->listeners[i], checks) < 0)
            return -1;
    return 0;
}
