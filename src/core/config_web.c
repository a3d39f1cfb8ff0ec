/* core/config_web - the web section of floodgate.conf: where the embedded
 * HTTP server (control/web.c) listens, whether it speaks TLS, and the
 * bearer tokens of /metrics and /api/v1/ (room: core).
 *
 *     web = { address = "127.0.0.1:8080"; tls = "none";
 *             metrics_token = "..."; api_token = "...";
 *             public_url = "https://mail.example.com:8443"; session_idle = 1800;
 *             session_lifetime = 43200; };
 *
 * Without the section there is no HTTP server at all. */
#include <stdlib.h>
#include <string.h>

#include "core/config_loader.h"

#define TOKEN_MIN 16 /* a shorter bearer token is too easy to guess */
#define TOKEN_MAX 256
#define SESSION_IDLE_DEFAULT 1800      /* web.session_idle: half an hour */
#define SESSION_LIFETIME_DEFAULT 43200 /* web.session_lifetime: 12 hours, a working day */
#define URL_MAX 200                    /* web.public_url: it must fit in a 512-octet SMTP reply */

static const char *const web_tls_names[] = {"none", "implicit", NULL};

/* load_token - web.NAME, a bearer token: printable ASCII without spaces,
 * TOKEN_MIN to TOKEN_MAX characters. */
static int load_token(struct loader *ld, const config_setting_t *g, const char *name, char **out)
{
    char key[KEY_MAX];
    if (cfg_get_string(ld, g, "web", name, false, out) < 0)
        return -1;
    if (*out == NULL)
        return 0;
    const config_setting_t *s = config_setting_get_member(g, name);
    cfg_key_child(key, sizeof key, "web", name);
    size_t n = strlen(*out);
    if (n < TOKEN_MIN || n > TOKEN_MAX)
        return cfg_fail(ld, s, key,
                        "a token of %d to %d characters is needed (got %zu); "
                        "make one with: openssl rand -hex 24",
                        TOKEN_MIN, TOKEN_MAX, n);
    if (!cfg_printable(*out, n, NULL))
        return cfg_fail(ld, s, key, "only printable characters without spaces");
    return 0;
}

/* load_public_url - web.public_url: http:// or https://, printable, no
 * quote or angle bracket (it goes into an SMTP reply and an HTML link);
 * a trailing '/' is dropped. */
static int load_public_url(struct loader *ld, const config_setting_t *g, char **out)
{
    if (cfg_get_string(ld, g, "web", "public_url", false, out) < 0)
        return -1;
    if (*out == NULL)
        return 0;
    const config_setting_t *s = config_setting_get_member(g, "public_url");
    size_t n = strlen(*out);
    if ((strncmp(*out, "https://", 8) != 0 && strncmp(*out, "http://", 7) != 0) || n > URL_MAX)
        return cfg_fail(ld, s, "web.public_url",
                        "an http:// or https:// URL of at most %d characters is needed, e.g. "
                        "\"https://mail.example.com:8443\"",
                        URL_MAX);
    if (!cfg_printable(*out, n, "\"'<>\\"))
        return cfg_fail(ld, s, "web.public_url",
                        "only printable characters without spaces, "
                        "quotes or angle brackets");
    while (n > 0 && (*out)[n - 1] == '/')
        (*out)[--n] = '\0';
    return 0;
}

int config_load_web(struct loader *ld, const config_setting_t *root)
{
    static const char *const keys[] = {"address",          "tls",        "metrics_token",
                                       "api_token",        "public_url", "session_idle",
                                       "session_lifetime", NULL};
    struct config_web *w = &ld->cfg->web;
    const config_setting_t *g;
    int tls = WEB_TLS_NONE;
    if (cfg_get_group(ld, root, "", "web", keys, &g) < 0)
        return -1;
    if (g == NULL)
        return 0;
    w->session_idle = SESSION_IDLE_DEFAULT;
    w->session_lifetime = SESSION_LIFETIME_DEFAULT;
    if (cfg_get_socket_address(ld, g, "web", "address", &w->address, &w->addr, &w->addrlen) < 0 ||
        cfg_get_choice(ld, g, "web", "tls", web_tls_names, &tls) < 0 ||
        load_token(ld, g, "metrics_token", &w->metrics_token) < 0 ||
        load_token(ld, g, "api_token", &w->api_token) < 0 ||
        load_public_url(ld, g, &w->public_url) < 0 ||
        cfg_get_unsigned(ld, g, "web", "session_idle", 60, 7 * 86400, &w->session_idle) < 0 ||
        cfg_get_unsigned(ld, g, "web", "session_lifetime", 300, 30 * 86400, &w->session_lifetime) <
            0)
        return -1;
    w->tls = (enum web_tls)tls;
    if (w->tls == WEB_TLS_IMPLICIT && ld->cfg->tls_certificate == NULL)
        return cfg_fail(ld, config_setting_get_member(g, "tls"), "web.tls",
                        "\"implicit\" needs tls.certificate and tls.key");
    w->enabled = true;
    return 0;
}

void config_free_web(struct config *cfg)
{
    free(cfg->web.address);
    free(cfg->web.metrics_token);
    free(cfg->web.api_token);
    free(cfg->web.public_url);
}
