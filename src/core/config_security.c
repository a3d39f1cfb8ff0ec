/* core/config_security - the sections of floodgate.conf that shut the doors
 * a spammer uses: passwords, lockout, hammering, client_limits,
 * sending_limits and sender_policy (room: core).
 *
 * The defaults are the safe ones the admin guide recommends; each section
 * may be left out.  Durations are whole seconds, like the rest of the file. */
#include <stdlib.h>
#include <string.h>

#include "core/config_loader.h"
#include "core/util.h"

#define DAY 86400u
#define YEAR (365 * DAY)
#define LOG_DOMAINS_MAX 1000

static const char *const sender_mode_names[] = {"reject", "log", NULL};

/* config_security_defaults - fill CFG's security sections with defaults. */
int config_security_defaults(struct config *cfg)
{
    cfg->passwords = (struct config_passwords){
        .min_length = 12, .min_classes = 3, .dictionary_check = true, .warn_before = 14 * DAY};
    cfg->lockout = (struct config_lockout){.failures = 10,
                                           .window = 900,
                                           .duration = 900,
                                           .ipv4_prefix = 24,
                                           .ipv6_prefix = 64,
                                           .account_failures = 200,
                                           .account_window = 3600,
                                           .known_network_age = 30 * DAY};
    cfg->hammering = (struct config_hammering){
        .failures = 10, .window = 60, .ban = 300, .ban_max = DAY, .exempt = ipset_new()};
    cfg->client_limits = (struct config_client_limits){.max_connections = 20,
                                                       .max_unknown_recipients = 20,
                                                       .unknown_recipients_ban = 3600,
                                                       .exempt = ipset_new()};
    cfg->sending_limits = (struct config_sending_limits){
        .messages_per_hour = 500, .recipients_per_hour = 2000, .domains_per_hour = 300};
    cfg->sender_policy =
        (struct config_sender_policy){.mode = SENDER_POLICY_REJECT, .anti_spoofing = true};
    return cfg->hammering.exempt && cfg->client_limits.exempt ? 0 : -1;
}

void config_free_security(struct config *cfg)
{
    ipset_free(cfg->hammering.exempt);
    ipset_free(cfg->client_limits.exempt);
    for (size_t i = 0; i < cfg->sender_policy.n_log_domains; i++)
        free(cfg->sender_policy.log_domains[i]);
    free(cfg->sender_policy.log_domains);
}

/* load_passwords - passwords: quality rules and maximum age. */
static int load_passwords(struct loader *ld, const config_setting_t *root)
{
    static const char *const keys[] = {"min_length", "min_classes", "dictionary_check",
                                       "max_age",    "warn_before", NULL};
    struct config_passwords *p = &ld->cfg->passwords;
    const config_setting_t *g;
    if (cfg_get_group(ld, root, "", "passwords", keys, &g) < 0)
        return -1;
    if (g == NULL)
        return 0;
    if (cfg_get_unsigned(ld, g, "passwords", "min_length", 6, 256, &p->min_length) < 0 ||
        cfg_get_unsigned(ld, g, "passwords", "min_classes", 0, 4, &p->min_classes) < 0 ||
        cfg_get_bool(ld, g, "passwords", "dictionary_check", &p->dictionary_check) < 0 ||
        cfg_get_unsigned(ld, g, "passwords", "max_age", 0, 10 * YEAR, &p->max_age) < 0 ||
        cfg_get_unsigned(ld, g, "passwords", "warn_before", 0, YEAR, &p->warn_before) < 0)
        return -1;
    if (p->min_length < 12 &&
        cfg_warn(ld, config_setting_get_member(g, "min_length"), "passwords.min_length",
                 "%u is short: guessing attacks break such passwords; 12 or more is advised",
                 p->min_length) < 0)
        return -1;
    return 0;
}

/* load_lockout - lockout: per-account and per-network failure counting. */
static int load_lockout(struct loader *ld, const config_setting_t *root)
{
    static const char *const keys[] = {
        "failures",         "window",         "duration",          "ipv4_prefix", "ipv6_prefix",
        "account_failures", "account_window", "known_network_age", NULL};
    struct config_lockout *l = &ld->cfg->lockout;
    const config_setting_t *g;
    if (cfg_get_group(ld, root, "", "lockout", keys, &g) < 0)
        return -1;
    if (g == NULL)
        return 0;
    if (cfg_get_unsigned(ld, g, "lockout", "failures", 0, 100000, &l->failures) < 0 ||
        cfg_get_unsigned(ld, g, "lockout", "window", 1, YEAR, &l->window) < 0 ||
        cfg_get_unsigned(ld, g, "lockout", "duration", 1, YEAR, &l->duration) < 0 ||
        cfg_get_unsigned(ld, g, "lockout", "ipv4_prefix", 8, 32, &l->ipv4_prefix) < 0 ||
        cfg_get_unsigned(ld, g, "lockout", "ipv6_prefix", 16, 128, &l->ipv6_prefix) < 0 ||
        cfg_get_unsigned(ld, g, "lockout", "account_failures", 0, 10000000, &l->account_failures) <
            0 ||
        cfg_get_unsigned(ld, g, "lockout", "account_window", 1, YEAR, &l->account_window) < 0 ||
        cfg_get_unsigned(ld, g, "lockout", "known_network_age", 0, 10 * YEAR,
                         &l->known_network_age) < 0)
        return -1;
    return 0;
}

/* load_hammering - hammering: per-IP failure counting and bans. */
static int load_hammering(struct loader *ld, const config_setting_t *root)
{
    static const char *const keys[] = {"failures", "window",        "ban",
                                       "ban_max",  "exempt_groups", NULL};
    struct config_hammering *h = &ld->cfg->hammering;
    const config_setting_t *g;
    if (cfg_get_group(ld, root, "", "hammering", keys, &g) < 0)
        return -1;
    if (g == NULL)
        return 0;
    if (cfg_get_unsigned(ld, g, "hammering", "failures", 0, 100000, &h->failures) < 0 ||
        cfg_get_unsigned(ld, g, "hammering", "window", 1, YEAR, &h->window) < 0 ||
        cfg_get_unsigned(ld, g, "hammering", "ban", 1, YEAR, &h->ban) < 0 ||
        cfg_get_unsigned(ld, g, "hammering", "ban_max", 1, YEAR, &h->ban_max) < 0 ||
        cfg_load_group_list(ld, g, "hammering", "exempt_groups", IP_GRANT_NO_BANS, h->exempt) < 0)
        return -1;
    if (h->ban_max < h->ban)
        return cfg_fail(ld, config_setting_get_member(g, "ban_max") ?: g, "hammering.ban_max",
                        "the cap (%u) is below the first ban (%u)", h->ban_max, h->ban);
    return 0;
}

/* load_client_limits - client_limits: the per-IP SMTP security options. */
static int load_client_limits(struct loader *ld, const config_setting_t *root)
{
    static const char *const keys[] = {
        "max_connections",        "messages_per_hour", "max_unknown_recipients",
        "unknown_recipients_ban", "greeting_delay",    "require_reverse_dns",
        "require_sender_domain",  "exempt_groups",     NULL};
    struct config_client_limits *c = &ld->cfg->client_limits;
    const char *k = "client_limits";
    const config_setting_t *g;
    if (cfg_get_group(ld, root, "", k, keys, &g) < 0)
        return -1;
    if (g == NULL)
        return 0;
    if (cfg_get_unsigned(ld, g, k, "max_connections", 0, 1000000, &c->max_connections) < 0 ||
        cfg_get_unsigned(ld, g, k, "messages_per_hour", 0, 10000000, &c->messages_per_hour) < 0 ||
        cfg_get_unsigned(ld, g, k, "max_unknown_recipients", 0, 1000000,
                         &c->max_unknown_recipients) < 0 ||
        cfg_get_unsigned(ld, g, k, "unknown_recipients_ban", 1, YEAR, &c->unknown_recipients_ban) <
            0 ||
        cfg_get_unsigned(ld, g, k, "greeting_delay", 0, 300, &c->greeting_delay) < 0 ||
        cfg_get_bool(ld, g, k, "require_reverse_dns", &c->require_reverse_dns) < 0 ||
        cfg_get_bool(ld, g, k, "require_sender_domain", &c->require_sender_domain) < 0 ||
        cfg_load_group_list(ld, g, k, "exempt_groups", IP_GRANT_NO_LIMITS, c->exempt) < 0)
        return -1;
    return 0;
}

/* load_sending_limits - sending_limits: per-user hourly ceilings. */
static int load_sending_limits(struct loader *ld, const config_setting_t *root)
{
    static const char *const keys[] = {"messages_per_hour", "recipients_per_hour",
                                       "domains_per_hour", NULL};
    struct config_sending_limits *s = &ld->cfg->sending_limits;
    const char *k = "sending_limits";
    const config_setting_t *g;
    if (cfg_get_group(ld, root, "", k, keys, &g) < 0)
        return -1;
    if (g == NULL)
        return 0;
    if (cfg_get_unsigned(ld, g, k, "messages_per_hour", 0, 10000000, &s->messages_per_hour) < 0 ||
        cfg_get_unsigned(ld, g, k, "recipients_per_hour", 0, 10000000, &s->recipients_per_hour) <
            0 ||
        cfg_get_unsigned(ld, g, k, "domains_per_hour", 0, 10000000, &s->domains_per_hour) < 0)
        return -1;
    return 0;
}

/* load_log_domains - sender_policy.log_domains: lowercased domain names. */
static int load_log_domains(struct loader *ld, const config_setting_t *g)
{
    struct config_sender_policy *p = &ld->cfg->sender_policy;
    char key[KEY_MAX];
    const config_setting_t *s = config_setting_get_member(g, "log_domains");
    if (s == NULL)
        return 0;
    if (cfg_expect_sequence(ld, s, "sender_policy.log_domains") < 0)
        return -1;
    unsigned n = (unsigned)config_setting_length(s);
    if (n > LOG_DOMAINS_MAX)
        return cfg_fail(ld, s, "sender_policy.log_domains", "more than %d domains",
                        LOG_DOMAINS_MAX);
    if ((p->log_domains = calloc(n ? n : 1, sizeof *p->log_domains)) == NULL)
        return cfg_fail_oom(ld, s, "sender_policy.log_domains");
    for (unsigned i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, i);
        cfg_key_index(key, sizeof key, "sender_policy.log_domains", i);
        if (cfg_expect(ld, e, key, CONFIG_TYPE_STRING) < 0)
            return -1;
        const char *v = config_setting_get_string(e);
        if (v[0] == '\0' || strlen(v) > 253 || strchr(v, '@') || strchr(v, ' '))
            return cfg_fail(ld, e, key, "\"%s\" is not a domain name", v);
        if ((p->log_domains[i] = strdup(v)) == NULL)
            return cfg_fail_oom(ld, e, key);
        str_lower(p->log_domains[i]);
        p->n_log_domains = i + 1;
    }
    return 0;
}

/* load_sender_policy - sender_policy: who may send as which address. */
static int load_sender_policy(struct loader *ld, const config_setting_t *root)
{
    static const char *const keys[] = {"mode", "log_domains", "anti_spoofing", NULL};
    struct config_sender_policy *p = &ld->cfg->sender_policy;
    const config_setting_t *g;
    int mode = (int)p->mode;
    if (cfg_get_group(ld, root, "", "sender_policy", keys, &g) < 0)
        return -1;
    if (g == NULL)
        return 0;
    if (cfg_get_choice(ld, g, "sender_policy", "mode", sender_mode_names, &mode) < 0 ||
        cfg_get_bool(ld, g, "sender_policy", "anti_spoofing", &p->anti_spoofing) < 0 ||
        load_log_domains(ld, g) < 0)
        return -1;
    p->mode = (enum sender_policy_mode)mode;
    return 0;
}

/* load_policy - policy: the engine's answer when a lookup fails. */
static int load_policy(struct loader *ld, const config_setting_t *root)
{
    static const char *const keys[] = {"fail_open", NULL};
    const config_setting_t *g;
    if (cfg_get_group(ld, root, "", "policy", keys, &g) < 0)
        return -1;
    if (g == NULL)
        return 0;
    return cfg_get_bool(ld, g, "policy", "fail_open", &ld->cfg->policy.fail_open);
}

int config_load_security(struct loader *ld, const config_setting_t *root)
{
    if (load_passwords(ld, root) < 0 || load_lockout(ld, root) < 0 ||
        load_hammering(ld, root) < 0 || load_client_limits(ld, root) < 0 ||
        load_sending_limits(ld, root) < 0 || load_sender_policy(ld, root) < 0 ||
        load_policy(ld, root) < 0)
        return -1;
    return 0;
}
