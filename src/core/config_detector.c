/* core/config_detector - the detector { } and alerts { } sections of
 * floodgate.conf: the outbreak detector's thresholds (policy/detector.c)
 * and where its alerts go.  Documented in docs/floodgate.conf.5.md and
 * docs/detector.md. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/config_loader.h"

#define DAY 86400
#define YEAR (365 * DAY)
#define SIGNAL_MAX 10000000

/* config_detector_defaults - the defaults named in config.h. */
void config_detector_defaults(struct config *cfg)
{
    cfg->detector = (struct config_detector){.enabled = true,
                                             .log_score = 20,
                                             .alert_score = 40,
                                             .hold_score = 60,
                                             .contain_score = 90,
                                             .messages_per_minute = 20,
                                             .recipients_per_10min = 150,
                                             .new_recipients_per_10min = 30,
                                             .domains_per_10min = 30,
                                             .same_content = 10,
                                             .client_ips_per_hour = 4,
                                             .networks_per_hour = 3,
                                             .new_networks = 1,
                                             .failed_logins = 3,
                                             .stuffing_accounts = 3,
                                             .from_changes = 4,
                                             .rejects_unknown_percent = 20,
                                             .rejects_policy_percent = 10,
                                             .bounces_per_hour = 10,
                                             .concurrent_networks = 2,
                                             .new_recipients_per_hour = 25,
                                             .bulk_factor = 100,
                                             .baseline_factor = 3,
                                             .max_subjects = 10000,
                                             .suspend_account = true,
                                             .ban_seconds = DAY};
    cfg->alerts =
        (struct config_alerts){.min_interval = 300, .webhook_timeout = 10, .command_timeout = 30};
}

/* The signal thresholds, by key, in the order of config.h. */
static const struct {
    const char *key;
    size_t offset;
    unsigned max;
} signal_keys[] = {
    {"messages_per_minute", offsetof(struct config_detector, messages_per_minute), SIGNAL_MAX},
    {"recipients_per_10min", offsetof(struct config_detector, recipients_per_10min), SIGNAL_MAX},
    {"new_recipients_per_10min", offsetof(struct config_detector, new_recipients_per_10min),
     SIGNAL_MAX},
    {"domains_per_10min", offsetof(struct config_detector, domains_per_10min), SIGNAL_MAX},
    {"same_content", offsetof(struct config_detector, same_content), SIGNAL_MAX},
    {"client_ips_per_hour", offsetof(struct config_detector, client_ips_per_hour), 1000},
    {"networks_per_hour", offsetof(struct config_detector, networks_per_hour), 1000},
    {"new_networks", offsetof(struct config_detector, new_networks), 1000},
    {"failed_logins", offsetof(struct config_detector, failed_logins), SIGNAL_MAX},
    {"stuffing_accounts", offsetof(struct config_detector, stuffing_accounts), 1000},
    {"from_changes", offsetof(struct config_detector, from_changes), 1000},
    {"rejects_unknown_percent", offsetof(struct config_detector, rejects_unknown_percent), 100},
    {"rejects_policy_percent", offsetof(struct config_detector, rejects_policy_percent), 100},
    {"bounces_per_hour", offsetof(struct config_detector, bounces_per_hour), SIGNAL_MAX},
    {"concurrent_networks", offsetof(struct config_detector, concurrent_networks), 1000},
    {"new_recipients_per_hour", offsetof(struct config_detector, new_recipients_per_hour),
     SIGNAL_MAX},
};

/* load_scores - the ladder's thresholds, which must climb. */
static int load_scores(struct loader *ld, const config_setting_t *g, struct config_detector *d)
{
    const char *k = "detector";
    if (cfg_get_unsigned(ld, g, k, "log_score", 1, 10000, &d->log_score) < 0 ||
        cfg_get_unsigned(ld, g, k, "alert_score", 1, 10000, &d->alert_score) < 0 ||
        cfg_get_unsigned(ld, g, k, "hold_score", 1, 10000, &d->hold_score) < 0 ||
        cfg_get_unsigned(ld, g, k, "contain_score", 1, 10000, &d->contain_score) < 0)
        return -1;
    if (d->log_score <= d->alert_score && d->alert_score <= d->hold_score &&
        d->hold_score <= d->contain_score)
        return 0;
    return cfg_fail(ld, g, k,
                    "the scores must climb: log_score <= alert_score <= hold_score <= "
                    "contain_score (now %u, %u, %u, %u)",
                    d->log_score, d->alert_score, d->hold_score, d->contain_score);
}

/* load_detector - detector { ... }. */
static int load_detector(struct loader *ld, const config_setting_t *root)
{
    static const char *const keys[] = {"enabled",
                                       "log_score",
                                       "alert_score",
                                       "hold_score",
                                       "contain_score",
                                       "messages_per_minute",
                                       "recipients_per_10min",
                                       "new_recipients_per_10min",
                                       "domains_per_10min",
                                       "same_content",
                                       "client_ips_per_hour",
                                       "networks_per_hour",
                                       "new_networks",
                                       "failed_logins",
                                       "stuffing_accounts",
                                       "from_changes",
                                       "rejects_unknown_percent",
                                       "rejects_policy_percent",
                                       "bounces_per_hour",
                                       "concurrent_networks",
                                       "new_recipients_per_hour",
                                       "bulk_factor",
                                       "baseline_factor",
                                       "max_subjects",
                                       "suspend_account",
                                       "ban_seconds",
                                       NULL};
    struct config_detector *d = &ld->cfg->detector;
    const char *k = "detector";
    const config_setting_t *g;
    if (cfg_get_group(ld, root, "", k, keys, &g) < 0)
        return -1;
    if (g == NULL)
        return 0;
    if (cfg_get_bool(ld, g, k, "enabled", &d->enabled) < 0 || load_scores(ld, g, d) < 0)
        return -1;
    for (size_t i = 0; i < sizeof signal_keys / sizeof signal_keys[0]; i++)
        if (cfg_get_unsigned(ld, g, k, signal_keys[i].key, 0, signal_keys[i].max,
                             (unsigned *)((char *)d + signal_keys[i].offset)) < 0)
            return -1;
    if (cfg_get_unsigned(ld, g, k, "bulk_factor", 1, 1000000, &d->bulk_factor) < 0 ||
        cfg_get_unsigned(ld, g, k, "baseline_factor", 1, 1000, &d->baseline_factor) < 0 ||
        cfg_get_unsigned(ld, g, k, "max_subjects", 10, 10000000, &d->max_subjects) < 0 ||
        cfg_get_bool(ld, g, k, "suspend_account", &d->suspend_account) < 0 ||
        cfg_get_unsigned(ld, g, k, "ban_seconds", 1, YEAR, &d->ban_seconds) < 0)
        return -1;
    return 0;
}

/* check_webhook_url - http:// or https://, a host, nothing a header or
 * the log could be split by: libcurl would take other schemes (file://,
 * ftp://...) that a webhook has no business with. */
static int check_webhook_url(struct loader *ld, const config_setting_t *g, const char *url)
{
    const char *rest = strncasecmp(url, "https://", 8) == 0  ? url + 8
                       : strncasecmp(url, "http://", 7) == 0 ? url + 7
                                                             : NULL;
    size_t n = strlen(url);
    const char *why = rest == NULL                    ? "the scheme must be http:// or https://"
                      : n > 2048                      ? "it is longer than 2048 characters"
                      : !cfg_printable(url, n, NULL)  ? "it holds a space or a control character"
                      : strchr("/?#:", *rest) != NULL ? "it names no host"
                                                      : NULL;
    if (why == NULL)
        return 0;
    return cfg_fail(ld, config_setting_get_member(g, "webhook_url"), "alerts.webhook_url",
                    "'%s' is not a webhook URL: %s (e.g. https://hooks.example.org/floodgate)", url,
                    why);
}

/* check_command - an absolute path to an executable file: the command is
 * run without a shell (execve), so "script.sh --flag" or a relative path
 * would never run; better said at start than at the first incident. */
static int check_command(struct loader *ld, const config_setting_t *g, const char *path)
{
    const config_setting_t *s = config_setting_get_member(g, "command");
    if (path[0] != '/')
        return cfg_fail(ld, s, "alerts.command",
                        "'%s' is not an absolute path: the command runs without a shell, "
                        "give its full path (e.g. /usr/local/bin/floodgate-alert)",
                        path);
    if (strlen(path) > 1024 || !cfg_printable(path, strlen(path), NULL))
        return cfg_fail(ld, s, "alerts.command",
                        "'%s': a path of at most 1024 characters without spaces (no "
                        "arguments: the command runs without a shell; write a wrapper script)",
                        path);
    if (access(path, X_OK) < 0)
        return cfg_warn(ld, s, "alerts.command", "'%s' is not an executable file now", path);
    return 0;
}

/* load_alerts - alerts { mail_to; min_interval; webhook_url; webhook_token;
 * webhook_timeout; command; command_timeout; }. */
static int load_alerts(struct loader *ld, const config_setting_t *root)
{
    static const char *const keys[] = {
        "mail_to",         "min_interval", "webhook_url",     "webhook_token",
        "webhook_timeout", "command",      "command_timeout", NULL};
    struct config_alerts *a = &ld->cfg->alerts;
    const char *k = "alerts";
    const config_setting_t *g;
    if (cfg_get_group(ld, root, "", k, keys, &g) < 0)
        return -1;
    if (g == NULL)
        return 0;
    if (cfg_get_string(ld, g, k, "mail_to", false, &a->mail_to) < 0 ||
        cfg_get_unsigned(ld, g, k, "min_interval", 0, DAY, &a->min_interval) < 0 ||
        cfg_get_string(ld, g, k, "webhook_url", false, &a->webhook_url) < 0 ||
        cfg_get_string(ld, g, k, "webhook_token", false, &a->webhook_token) < 0 ||
        cfg_get_unsigned(ld, g, k, "webhook_timeout", 1, 300, &a->webhook_timeout) < 0 ||
        cfg_get_string(ld, g, k, "command", false, &a->command) < 0 ||
        cfg_get_unsigned(ld, g, k, "command_timeout", 1, 3600, &a->command_timeout) < 0)
        return -1;
    if (a->mail_to && (strchr(a->mail_to, '@') == NULL || strpbrk(a->mail_to, " <>\r\n") != NULL))
        return cfg_fail(ld, config_setting_get_member(g, "mail_to"), "alerts.mail_to",
                        "'%s' is not a mail address (give user@domain)", a->mail_to);
    if (a->webhook_url && check_webhook_url(ld, g, a->webhook_url) < 0)
        return -1;
    /* the token goes into a header line: nothing that could end it */
    size_t token_len = a->webhook_token ? strlen(a->webhook_token) : 0;
    if (token_len > 1024 || (a->webhook_token && !cfg_printable(a->webhook_token, token_len, NULL)))
        return cfg_fail(ld, config_setting_get_member(g, "webhook_token"), "alerts.webhook_token",
                        "a token of at most 1024 printable characters without spaces");
    if (a->webhook_token && a->webhook_url == NULL)
        return cfg_fail(ld, config_setting_get_member(g, "webhook_token"), "alerts.webhook_token",
                        "set without alerts.webhook_url: give the URL it is for");
    if (a->command && check_command(ld, g, a->command) < 0)
        return -1;
    return 0;
}

/* config_load_detector - both sections. */
int config_load_detector(struct loader *ld, const config_setting_t *root)
{
    return load_detector(ld, root) < 0 || load_alerts(ld, root) < 0 ? -1 : 0;
}

void config_free_detector(struct config *cfg)
{
    free(cfg->alerts.mail_to);
    free(cfg->alerts.webhook_url);
    free(cfg->alerts.webhook_token);
    free(cfg->alerts.command);
}
