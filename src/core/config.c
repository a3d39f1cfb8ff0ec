/* core/config - load and validate floodgate.conf (room: core).
 *
 * libconfig does the parsing; this file walks the tree it builds, refuses
 * every key it does not know (a typo must not silently become a default),
 * checks types and ranges, and reports the first problem as
 * "FILE:LINE: KEY: what is wrong", KEY being the dotted path of the setting
 * ("listeners.[1].tls").  Findings that are legal but suspicious go to
 * cfg->warnings in the same form, for the daemon to log.
 *
 * The checks that are more than hygiene are the guards on IP groups, the
 * typo class of the Kerio article (seeds/): a network with host bits set is
 * refused in every group; a group that grants something (relay, exemption
 * from bans or limits: enum ip_grant) may not hold a wide public entry
 * unless it says allow_wide = true, nor, for relay, the whole Internet
 * unless relay.open_relay says the administrator wants exactly that.  AUTH
 * in clear text off loopback needs the listener's plaintext_auth. */
#include "core/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config_loader.h"
#include "core/util.h"

/* A config file over this size is surely not one; reading stops there. */
#define CONFIG_FILE_MAX (4 * 1024 * 1024)
/* "@group" includes may nest this deep; it also bounds the recursion. */
#define INCLUDE_DEPTH_MAX 32
#define LISTENER_NAME_MAX 64
#define ADDRESS_MAX 64
#define DNS_SERVERS_MAX 16
#define HOSTNAME_MAX 253

static const char *const tls_names[] = {"none", "starttls", "implicit", NULL};
static const char *const auth_names[] = {"off", "optional", "required", NULL};
static const char *const bare_lf_names[] = {"reject", "normalize", NULL};
static const char *const nul_names[] = {"reject", "strip", NULL};
static const char *const delivery_tls_names[] = {"opportunistic", "required", "off", NULL};
static const char *const delivery_local_names[] = {"maildir", "lmtp", NULL};

/* key_mark_cut - end a truncated key path with "..." so nobody takes it as whole. */
static void key_mark_cut(char *buf, size_t len)
{
    if (len >= 4)
        memcpy(buf + len - 4, "...", 4);
}

/* key_child - the path of member NAME under the path PARENT ("" is the root). */
const char *cfg_key_child(char *buf, size_t len, const char *parent, const char *name)
{
    int n = parent[0] ? snprintf(buf, len, "%s.%s", parent, name) : snprintf(buf, len, "%s", name);
    if (n < 0 || (size_t)n >= len)
        key_mark_cut(buf, len);
    return buf;
}

/* key_index - the path of element I of the list or array at PARENT. */
const char *cfg_key_index(char *buf, size_t len, const char *parent, unsigned i)
{
    int n = snprintf(buf, len, "%s.[%u]", parent, i);
    if (n < 0 || (size_t)n >= len)
        key_mark_cut(buf, len);
    return buf;
}

/* source_name - the file to name for text libconfig attributes to FILE:
 * NULL is the main file (read from memory); an included file is named as
 * written in "@include", which is relative to the include directory. */
static const char *source_name(const struct loader *ld, const char *file, char *buf, size_t len)
{
    if (file == NULL)
        return ld->path;
    if (file[0] == '/' || ld->include_dir == NULL)
        return file;
    const char *sep = strcmp(ld->include_dir, "/") == 0 ? "" : "/";
    int n = snprintf(buf, len, "%s%s%s", ld->include_dir, sep, file);
    return n < 0 || (size_t)n >= len ? file : buf;
}

/* format_at - "FILE:LINE: KEY: message" for setting S into BUF.  The root
 * and missing top-level keys have no line of their own; they get line 1 so
 * that the message keeps the one shape editors and scripts parse. */
static void format_at(char *buf, size_t len, const struct loader *ld, const config_setting_t *s,
                      const char *key, const char *fmt, va_list ap)
{
    char name[4096];
    const char *file =
        source_name(ld, s ? config_setting_source_file(s) : NULL, name, sizeof(name));
    unsigned line = s ? config_setting_source_line(s) : 0;
    int n = snprintf(buf, len, "%s:%u: %s: ", file, line ? line : 1, key);
    if (n < 0 || (size_t)n >= len)
        return; /* already cut; the prefix is the part that matters */
    n = vsnprintf(buf + n, len - (size_t)n, fmt, ap);
    if (n < 0)
        buf[0] = '\0';
}

/* fail - record the error for setting S at KEY; always returns -1. */
int cfg_fail(struct loader *ld, const config_setting_t *s, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    format_at(ld->err, ld->errlen, ld, s, key, fmt, ap);
    va_end(ap);
    return -1;
}

/* fail_oom - the error for a failed allocation. */
int cfg_fail_oom(struct loader *ld, const config_setting_t *s, const char *key)
{
    return cfg_fail(ld, s, key, "out of memory");
}

/* warn - append a warning for setting S at KEY; -1 only when memory runs out. */
int cfg_warn(struct loader *ld, const config_setting_t *s, const char *key, const char *fmt, ...)
{
    struct config *cfg = ld->cfg;
    char buf[MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    format_at(buf, sizeof(buf), ld, s, key, fmt, ap);
    va_end(ap);
    char **w = realloc(cfg->warnings, (cfg->n_warnings + 1) * sizeof(*w));
    if (w == NULL)
        return cfg_fail_oom(ld, s, key);
    cfg->warnings = w;
    if ((w[cfg->n_warnings] = strdup(buf)) == NULL)
        return cfg_fail_oom(ld, s, key);
    cfg->n_warnings++;
    return 0;
}

/* type_wanted - how an error names the libconfig type TYPE. */
static const char *type_wanted(int type)
{
    switch (type) {
    case CONFIG_TYPE_GROUP:
        return "a group { ... }";
    case CONFIG_TYPE_LIST:
        return "a list ( ... )";
    case CONFIG_TYPE_ARRAY:
        return "an array [ ... ]";
    case CONFIG_TYPE_STRING:
        return "a string in double quotes";
    case CONFIG_TYPE_BOOL:
        return "true or false";
    default:
        return "an integer";
    }
}

/* expect - S must have type TYPE. */
int cfg_expect(struct loader *ld, const config_setting_t *s, const char *key, int type)
{
    if (config_setting_type(s) == type)
        return 0;
    return cfg_fail(ld, s, key, "expected %s", type_wanted(type));
}

/* expect_sequence - S must be an array [ ... ] or a list ( ... ). */
int cfg_expect_sequence(struct loader *ld, const config_setting_t *s, const char *key)
{
    if (config_setting_is_array(s) || config_setting_is_list(s))
        return 0;
    return cfg_fail(ld, s, key, "expected an array [ ... ]");
}

/* check_keys - every member of group G (at KEY) must be one of ALLOWED:
 * a misspelt key would otherwise be ignored and its default used. */
int cfg_check_keys(struct loader *ld, const config_setting_t *g, const char *key,
                      const char *const allowed[])
{
    for (unsigned i = 0; i < (unsigned)config_setting_length(g); i++) {
        const config_setting_t *m = config_setting_get_elem(g, i);
        const char *name = config_setting_name(m);
        size_t k = 0;
        while (allowed[k] && strcmp(allowed[k], name) != 0)
            k++;
        if (allowed[k] == NULL) {
            char mkey[KEY_MAX];
            return cfg_fail(ld, m, cfg_key_child(mkey, sizeof(mkey), key, name), "unknown key");
        }
    }
    return 0;
}

/* get_group - the member NAME of G as a group, or NULL in *OUT when absent. */
int cfg_get_group(struct loader *ld, const config_setting_t *g, const char *gkey,
                     const char *name, const char *const allowed[], const config_setting_t **out)
{
    char key[KEY_MAX];
    const config_setting_t *s = config_setting_get_member(g, name);
    *out = s;
    if (s == NULL)
        return 0;
    cfg_key_child(key, sizeof(key), gkey, name);
    if (cfg_expect(ld, s, key, CONFIG_TYPE_GROUP) < 0)
        return -1;
    return cfg_check_keys(ld, s, key, allowed);
}

/* get_string - member NAME of G as a fresh non-empty string in *OUT (left
 * alone when absent, unless REQUIRED). */
int cfg_get_string(struct loader *ld, const config_setting_t *g, const char *gkey,
                      const char *name, bool required, char **out)
{
    char key[KEY_MAX];
    const config_setting_t *s = config_setting_get_member(g, name);
    cfg_key_child(key, sizeof(key), gkey, name);
    if (s == NULL)
        return required ? cfg_fail(ld, g, key, "required key is missing") : 0;
    if (cfg_expect(ld, s, key, CONFIG_TYPE_STRING) < 0)
        return -1;
    const char *v = config_setting_get_string(s);
    if (v[0] == '\0')
        return cfg_fail(ld, s, key, "must not be empty");
    char *copy = strdup(v);
    if (copy == NULL)
        return cfg_fail_oom(ld, s, key);
    free(*out);
    *out = copy;
    return 0;
}

/* get_bool - member NAME of G into *OUT, left alone when absent. */
int cfg_get_bool(struct loader *ld, const config_setting_t *g, const char *gkey,
                    const char *name, bool *out)
{
    char key[KEY_MAX];
    const config_setting_t *s = config_setting_get_member(g, name);
    if (s == NULL)
        return 0;
    if (cfg_expect(ld, s, cfg_key_child(key, sizeof(key), gkey, name), CONFIG_TYPE_BOOL) < 0)
        return -1;
    *out = config_setting_get_bool(s) != 0;
    return 0;
}

/* get_number - member NAME of G, an integer in [MIN, MAX], into *OUT (left
 * alone when absent).  Both int and int64 ("123L") settings are accepted. */
int cfg_get_number(struct loader *ld, const config_setting_t *g, const char *gkey,
                      const char *name, uint64_t min, uint64_t max, uint64_t *out)
{
    char key[KEY_MAX];
    const config_setting_t *s = config_setting_get_member(g, name);
    if (s == NULL)
        return 0;
    cfg_key_child(key, sizeof(key), gkey, name);
    int type = config_setting_type(s);
    if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
        return cfg_fail(ld, s, key, "expected an integer");
    long long v = config_setting_get_int64(s);
    if (v < 0 || (uint64_t)v < min || (uint64_t)v > max)
        return cfg_fail(ld, s, key, "%lld is out of range (%llu to %llu)", v, (unsigned long long)min,
                    (unsigned long long)max);
    *out = (uint64_t)v;
    return 0;
}

/* get_unsigned - get_number into an unsigned. */
int cfg_get_unsigned(struct loader *ld, const config_setting_t *g, const char *gkey,
                        const char *name, unsigned min, unsigned max, unsigned *out)
{
    uint64_t v = *out;
    if (cfg_get_number(ld, g, gkey, name, min, max, &v) < 0)
        return -1;
    *out = (unsigned)v;
    return 0;
}

/* get_choice - member NAME of G, one of the strings NAMES, as its index in *OUT. */
int cfg_get_choice(struct loader *ld, const config_setting_t *g, const char *gkey,
                      const char *name, const char *const names[], int *out)
{
    char key[KEY_MAX];
    const config_setting_t *s = config_setting_get_member(g, name);
    if (s == NULL)
        return 0;
    cfg_key_child(key, sizeof(key), gkey, name);
    if (cfg_expect(ld, s, key, CONFIG_TYPE_STRING) < 0)
        return -1;
    const char *v = config_setting_get_string(s);
    for (int i = 0; names[i]; i++) {
        if (strcmp(names[i], v) == 0) {
            *out = i;
            return 0;
        }
    }
    char choices[128] = "";
    for (int i = 0; names[i]; i++) {
        size_t used = strlen(choices);
        snprintf(choices + used, sizeof(choices) - used, "%s\"%s\"", i ? ", " : "", names[i]);
    }
    return cfg_fail(ld, s, key, "\"%s\" is not one of %s", v, choices);
}

/* valid_hostname - a domain name: dot-separated labels of letters, digits
 * and inner hyphens, at most 63 octets each (RFC 1035 2.3.1).  It goes into
 * the greeting and Received:, so nothing else may slip through. */
static bool valid_hostname(const char *h)
{
    size_t len = strlen(h), label = 0;
    if (len == 0 || len > HOSTNAME_MAX)
        return false;
    for (size_t i = 0; i <= len; i++) {
        char c = h[i];
        if (c == '.' || c == '\0') {
            if (label == 0 || label > 63 || h[i - 1] == '-')
                return false;
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   (c == '-' && label > 0)) {
            label++;
        } else {
            return false;
        }
    }
    return true;
}

/* parse_port - 1 to 65535 in decimal. */
static int parse_port(const char *s, unsigned *port)
{
    uint64_t v;
    if (strlen(s) > 5 || parse_u64(s, strlen(s), &v) < 0 || v == 0 || v > 65535)
        return -1;
    *port = (unsigned)v;
    return 0;
}

/* split_bracketed - "[IPv6]" or "[IPv6]:PORT" (the port may be omitted only
 * when DEFPORT is not 0). */
static int split_bracketed(const char *text, unsigned defport, char *host, size_t hostlen,
                           unsigned *port)
{
    const char *close = strchr(text, ']');
    if (close == NULL || (size_t)(close - text - 1) >= hostlen)
        return -1;
    memcpy(host, text + 1, (size_t)(close - text - 1));
    host[close - text - 1] = '\0';
    if (close[1] == '\0' && defport) {
        *port = defport;
        return 0;
    }
    return close[1] == ':' ? parse_port(close + 2, port) : -1;
}

/* split_host_port - TEXT as "IPv4:PORT" or "[IPv6]:PORT", or, when DEFPORT
 * is not 0, also a bare address.  HOST receives the address, checked with
 * inet_pton: numeric only, no "1.2.3" or octal forms getaddrinfo would take. */
static int split_host_port(const char *text, unsigned defport, char *host, size_t hostlen,
                           int *family, unsigned *port)
{
    unsigned char buf[sizeof(struct in6_addr)];
    const char *colon = strchr(text, ':');
    if (strlen(text) > ADDRESS_MAX)
        return -1;
    if (text[0] == '[') {
        *family = AF_INET6;
        if (split_bracketed(text, defport, host, hostlen, port) < 0)
            return -1;
    } else if (colon == NULL || (strchr(colon + 1, ':') != NULL && defport)) {
        /* A bare IPv4 or IPv6 address: only where a default port exists. */
        if (defport == 0 || !str_copy(host, text, hostlen))
            return -1;
        *family = colon ? AF_INET6 : AF_INET;
        *port = defport;
    } else {
        *family = AF_INET;
        if ((size_t)(colon - text) >= hostlen || parse_port(colon + 1, port) < 0)
            return -1;
        memcpy(host, text, (size_t)(colon - text));
        host[colon - text] = '\0';
    }
    return inet_pton(*family, host, buf) == 1 ? 0 : -1;
}

/* resolve_numeric - HOST and PORT into a socket address, without DNS. */
static int resolve_numeric(const char *host, unsigned port, int family, struct sockaddr_storage *ss,
                           socklen_t *len)
{
    char service[8];
    struct addrinfo hints = {.ai_family = family,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE};
    struct addrinfo *ai = NULL;
    snprintf(service, sizeof(service), "%u", port);
    if (getaddrinfo(host, service, &hints, &ai) != 0 || ai == NULL)
        return -1;
    int rc = -1;
    if (ai->ai_addrlen <= sizeof(*ss)) {
        memcpy(ss, ai->ai_addr, ai->ai_addrlen);
        *len = (socklen_t)ai->ai_addrlen;
        rc = 0;
    }
    freeaddrinfo(ai);
    return rc;
}

/* valid_listener_name - non-empty, short, [A-Za-z0-9_-]: it appears in logs
 * and envelopes without quoting. */
static bool valid_listener_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > LISTENER_NAME_MAX)
        return false;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

int cfg_get_socket_address(struct loader *ld, const config_setting_t *g, const char *gkey,
                           const char *name, char **text, struct sockaddr_storage *addr,
                           socklen_t *addrlen)
{
    char key[KEY_MAX], host[INET6_ADDRSTRLEN + 1];
    int family;
    unsigned port;
    if (cfg_get_string(ld, g, gkey, name, true, text) < 0)
        return -1;
    const config_setting_t *s = config_setting_get_member(g, name);
    cfg_key_child(key, sizeof(key), gkey, name);
    if (split_host_port(*text, 0, host, sizeof(host), &family, &port) < 0)
        return cfg_fail(ld, s, key,
                        "\"%s\" is not \"IPv4:PORT\" or \"[IPv6]:PORT\" "
                        "(numeric address, port 1 to 65535)",
                        *text);
    if (resolve_numeric(host, port, family, addr, addrlen) < 0)
        return cfg_fail(ld, s, key, "\"%s\": cannot be used as a socket address", *text);
    return 0;
}

/* load_listener_address - listeners.[i].address into L. */
static int load_listener_address(struct loader *ld, const config_setting_t *g, const char *gkey,
                                 struct listener_config *l)
{
    return cfg_get_socket_address(ld, g, gkey, "address", &l->address, &l->addr, &l->addrlen);
}

/* check_listener_tls - a TLS listener needs the certificate. */
static int check_listener_tls(struct loader *ld, const config_setting_t *g, const char *gkey,
                              const struct listener_config *l)
{
    char key[KEY_MAX];
    const config_setting_t *s = config_setting_get_member(g, "tls");
    if (l->tls != TLS_MODE_NONE && ld->cfg->tls_certificate == NULL)
        return cfg_fail(ld, s, cfg_key_child(key, sizeof(key), gkey, "tls"),
                    "\"%s\" needs tls.certificate and tls.key", tls_names[l->tls]);
    return 0;
}

/* check_listener_auth - AUTH where a password would cross the network in
 * clear text.  RFC 4954 4 and RFC 8314 3 want AUTH only under TLS: on a
 * listener without TLS that is not on loopback, auth = "optional" or
 * "required" is refused unless plaintext_auth = true says it is meant, and
 * then warned about; plaintext_auth on a STARTTLS listener off loopback is
 * warned about too.  An AUTH that can never be offered is worth a warning. */
static int check_listener_auth(struct loader *ld, const config_setting_t *g, const char *gkey,
                               const struct listener_config *l)
{
    char key[KEY_MAX];
    bool loopback = ipset_is_loopback((const struct sockaddr *)&l->addr);
    if (l->auth == AUTH_MODE_OFF)
        return 0;
    if (l->tls == TLS_MODE_NONE && !loopback && !l->plaintext_auth)
        return cfg_fail(ld, config_setting_get_member(g, "auth"),
                        cfg_key_child(key, sizeof(key), gkey, "auth"),
                        "\"%s\" on %s without TLS would ask for passwords in clear text over "
                        "the network; use tls = \"starttls\" or \"implicit\", a loopback "
                        "address, or plaintext_auth = true if you really mean it",
                        auth_names[l->auth], l->address);
    if (l->plaintext_auth && l->tls != TLS_MODE_IMPLICIT && !loopback)
        return cfg_warn(ld, config_setting_get_member(g, "plaintext_auth"),
                        cfg_key_child(key, sizeof(key), gkey, "plaintext_auth"),
                        "AUTH before TLS on %s, which is not a loopback address: passwords "
                        "cross the network in clear text",
                        l->address);
    if (l->tls == TLS_MODE_NONE && l->auth == AUTH_MODE_REQUIRED && !l->plaintext_auth)
        return cfg_warn(ld, config_setting_get_member(g, "auth"),
                    cfg_key_child(key, sizeof(key), gkey, "auth"),
                    "\"required\" without TLS or plaintext_auth = true: no client can "
                    "ever authenticate here");
    return 0;
}

/* load_listener - one element of listeners, the group G at GKEY, into L. */
static int load_listener(struct loader *ld, const config_setting_t *g, const char *gkey,
                         struct listener_config *l)
{
    static const char *const keys[] = {"name", "address", "tls", "auth", "plaintext_auth", NULL};
    char key[KEY_MAX];
    int tls = TLS_MODE_NONE, auth = AUTH_MODE_OFF;
    if (cfg_expect(ld, g, gkey, CONFIG_TYPE_GROUP) < 0 || cfg_check_keys(ld, g, gkey, keys) < 0)
        return -1;
    if (cfg_get_string(ld, g, gkey, "name", true, &l->name) < 0)
        return -1;
    if (!valid_listener_name(l->name))
        return cfg_fail(
            ld, config_setting_get_member(g, "name"), cfg_key_child(key, sizeof(key), gkey, "name"),
            "\"%s\": use up to %d of A-Z, a-z, 0-9, '_' and '-'", l->name, LISTENER_NAME_MAX);
    if (load_listener_address(ld, g, gkey, l) < 0)
        return -1;
    if (cfg_get_choice(ld, g, gkey, "tls", tls_names, &tls) < 0 ||
        cfg_get_choice(ld, g, gkey, "auth", auth_names, &auth) < 0 ||
        cfg_get_bool(ld, g, gkey, "plaintext_auth", &l->plaintext_auth) < 0)
        return -1;
    l->tls = (enum tls_mode)tls;
    l->auth = (enum auth_mode)auth;
    if (check_listener_tls(ld, g, gkey, l) < 0)
        return -1;
    return check_listener_auth(ld, g, gkey, l);
}

/* listener_same_address - whether two parsed listener addresses are one. */
bool listener_same_address(const struct listener_config *a, const struct listener_config *b)
{
    return a->addrlen == b->addrlen && memcmp(&a->addr, &b->addr, a->addrlen) == 0;
}

/* check_listener_unique - listener I must differ in name and address from
 * the ones before it: two listeners on one address could never both bind. */
static int check_listener_unique(struct loader *ld, const config_setting_t *g, const char *gkey,
                                 size_t i)
{
    char key[KEY_MAX];
    const struct listener_config *ls = ld->cfg->listeners;
    for (size_t j = 0; j < i; j++) {
        if (strcmp(ls[j].name, ls[i].name) == 0)
            return cfg_fail(ld, config_setting_get_member(g, "name"),
                        cfg_key_child(key, sizeof(key), gkey, "name"),
                        "\"%s\" is already the name of listeners.[%zu]", ls[i].name, j);
        if (listener_same_address(&ls[j], &ls[i]))
            return cfg_fail(ld, config_setting_get_member(g, "address"),
                        cfg_key_child(key, sizeof(key), gkey, "address"),
                        "\"%s\" is already the address of listeners.[%zu]", ls[i].address, j);
    }
    return 0;
}

/* load_listeners - the listeners list; at least one is required. */
static int load_listeners(struct loader *ld, const config_setting_t *root)
{
    struct config *cfg = ld->cfg;
    const config_setting_t *s = config_setting_get_member(root, "listeners");
    if (s == NULL)
        return cfg_fail(ld, root, "listeners", "at least one listener is required");
    if (!config_setting_is_list(s))
        return cfg_fail(ld, s, "listeners", "expected a list ( { ... }, ... )");
    unsigned n = (unsigned)config_setting_length(s);
    if (n == 0)
        return cfg_fail(ld, s, "listeners", "at least one listener is required");
    cfg->listeners = calloc(n, sizeof(*cfg->listeners));
    if (cfg->listeners == NULL)
        return cfg_fail_oom(ld, s, "listeners");
    for (unsigned i = 0; i < n; i++) {
        char key[KEY_MAX];
        const config_setting_t *g = config_setting_get_elem(s, i);
        cfg_key_index(key, sizeof(key), "listeners", i);
        cfg->n_listeners = i + 1; /* so that config_free sees what was filled */
        if (load_listener(ld, g, key, &cfg->listeners[i]) < 0 ||
            check_listener_unique(ld, g, key, i) < 0)
            return -1;
    }
    return 0;
}

/* ---- IP groups and the settings that grant them something ----
 *
 * Kept together: declaration (two forms), building with includes, the
 * host-bits check every group gets, and the guards every group a setting
 * grants something to gets. */

/* What each enum ip_grant setting lets a group's clients do, for messages. */
static const char *const grant_keys[IP_GRANT_COUNT] = {
    "relay.allow_groups", "hammering.exempt_groups", "client_limits.exempt_groups"};
static const char *const grant_effects[IP_GRANT_COUNT] = {
    "relay mail without AUTH", "escape automatic bans", "escape the per-IP client limits"};

/* config_grant_key - the setting behind GRANT. */
const char *config_grant_key(enum ip_grant grant)
{
    return grant < IP_GRANT_COUNT ? grant_keys[grant] : "?";
}

/* group_index - the position of the IP group NAME, or -1. */
int cfg_group_index(const struct config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_groups; i++) {
        if (strcmp(cfg->groups[i].name, name) == 0)
            return (int)i;
    }
    return -1;
}

/* group_key - the key of group I's entries: "ip_groups.NAME", or
 * "ip_groups.NAME.addresses" when it is declared as a group { }. */
static const char *group_key(const struct loader *ld, size_t i, char *buf, size_t len)
{
    char name[KEY_MAX];
    cfg_key_child(name, sizeof(name), "ip_groups", ld->cfg->groups[i].name);
    if (ld->gb[i].s != ld->gb[i].decl)
        return cfg_key_child(buf, len, name, "addresses");
    return cfg_key_child(buf, len, "", name);
}

static int build_group(struct loader *ld, size_t i, unsigned depth);

/* group_entry_include - "@NAME" in group I: build NAME, then add its members. */
static int group_entry_include(struct loader *ld, size_t i, const config_setting_t *e,
                               const char *key, unsigned depth)
{
    const char *name = config_setting_get_string(e) + 1;
    int k = cfg_group_index(ld->cfg, name);
    if (k < 0)
        return cfg_fail(ld, e, key, "\"@%s\": there is no IP group \"%s\"", name, name);
    if (ld->gb[k].state == 1)
        return cfg_fail(ld, e, key, "\"@%s\": groups include each other in a cycle", name);
    if (ld->gb[k].state == 0 && build_group(ld, (size_t)k, depth + 1) < 0)
        return -1;
    if (ld->gb[k].height + 1 > ld->gb[i].height)
        ld->gb[i].height = ld->gb[k].height + 1;
    if (ld->gb[i].height > INCLUDE_DEPTH_MAX)
        return cfg_fail(ld, e, key, "\"@%s\": includes nest deeper than %d", name, INCLUDE_DEPTH_MAX);
    struct ipset *set = ld->cfg->groups[i].set, *from = ld->cfg->groups[k].set;
    if (ipset_count(set) + ipset_count(from) > GROUP_ENTRIES_MAX)
        return cfg_fail(ld, e, key, "\"@%s\": the group would hold more than %d entries", name,
                    GROUP_ENTRIES_MAX);
    if (ipset_merge(set, from) < 0)
        return cfg_fail_oom(ld, e, key);
    return 0;
}

/* fail_host_bits - "192.168.1.5/24": a network with bits set under its
 * mask is never what anyone writes on purpose.  It is the typo of the
 * Kerio article (seeds/): "192.168.1.0/0" meant as a LAN opens the group to
 * the whole Internet.  Refused in every group, used or not, with the
 * network the admin most likely meant. */
static int fail_host_bits(struct loader *ld, const config_setting_t *e, const char *key,
                          const char *v, const struct ipset_entry_facts *f)
{
    if (f->breadth >= IPSET_BREADTH_WIDE)
        return cfg_fail(ld, e, key,
                        "\"%s\" has host bits set under its mask, and as written it means "
                        "\"%s\", %s: did you mean \"%s\"?",
                        v, f->network,
                        f->breadth == IPSET_BREADTH_EVERYTHING
                            ? "the whole Internet"
                            : "public space wider than a /8 (IPv4) or /32 (IPv6)",
                        f->meant);
    return cfg_fail(ld, e, key,
                    "\"%s\" has host bits set under its mask: did you mean the network \"%s\" "
                    "(or \"%s\")?",
                    v, f->network, f->meant);
}

/* group_entry_address - an address, network or range in group I. */
static int group_entry_address(struct loader *ld, size_t i, unsigned j, const config_setting_t *e,
                               const char *key)
{
    char why[256];
    struct ipset_entry_facts f;
    const char *v = config_setting_get_string(e);
    if (ipset_count(ld->cfg->groups[i].set) >= GROUP_ENTRIES_MAX)
        return cfg_fail(ld, e, key, "the group would hold more than %d entries", GROUP_ENTRIES_MAX);
    if (ipset_inspect(v, &f, why, sizeof(why)) < 0)
        return cfg_fail(ld, e, key, "%s", why);
    if (f.host_bits)
        return fail_host_bits(ld, e, key, v, &f);
    if (ipset_add(ld->cfg->groups[i].set, v, NULL, why, sizeof(why)) < 0)
        return cfg_fail(ld, e, key, "%s", why);
    /* Whether a wide entry is an error depends on the settings that name
     * the group, read later; remember the first ones for the guards. */
    if (f.breadth == IPSET_BREADTH_EVERYTHING && ld->gb[i].everything < 0)
        ld->gb[i].everything = (int)j;
    if (f.breadth >= IPSET_BREADTH_WIDE && ld->gb[i].wide < 0)
        ld->gb[i].wide = (int)j;
    if (f.breadth == IPSET_BREADTH_LARGE)
        return cfg_warn(ld, e, key, "\"%s\" covers a public network larger than /16", v);
    return 0;
}

/* build_group - fill the set of group I from its entries, building the
 * groups it includes first.  DEPTH bounds this recursion; the height check
 * in group_entry_include bounds the nesting however the groups are ordered,
 * and with it the recursion of guard_group. */
static int build_group(struct loader *ld, size_t i, unsigned depth)
{
    char gkey[KEY_MAX], key[KEY_MAX];
    const config_setting_t *s = ld->gb[i].s;
    group_key(ld, i, gkey, sizeof(gkey));
    if (depth > INCLUDE_DEPTH_MAX)
        return cfg_fail(ld, s, gkey, "\"@group\" includes nest deeper than %d", INCLUDE_DEPTH_MAX);
    if (cfg_expect_sequence(ld, s, gkey) < 0)
        return -1;
    ld->gb[i].state = 1;
    for (unsigned j = 0; j < (unsigned)config_setting_length(s); j++) {
        const config_setting_t *e = config_setting_get_elem(s, j);
        cfg_key_index(key, sizeof(key), gkey, j);
        if (cfg_expect(ld, e, key, CONFIG_TYPE_STRING) < 0)
            return -1;
        int rc = config_setting_get_string(e)[0] == '@' ? group_entry_include(ld, i, e, key, depth)
                                                        : group_entry_address(ld, i, j, e, key);
        if (rc < 0)
            return -1;
    }
    ld->gb[i].state = 2;
    return 0;
}

/* declare_group - member G of ip_groups in either form: "NAME = [ ... ];"
 * or "NAME = { addresses = [ ... ]; allow_wide = true; };". */
static int declare_group(struct loader *ld, size_t i, const config_setting_t *g)
{
    static const char *const keys[] = {"addresses", "allow_wide", NULL};
    char gkey[KEY_MAX];
    struct ip_group *grp = &ld->cfg->groups[i];
    ld->gb[i].decl = ld->gb[i].s = g;
    if (!config_setting_is_group(g))
        return 0; /* the array form; build_group checks the type */
    cfg_key_child(gkey, sizeof(gkey), "ip_groups", grp->name);
    if (cfg_check_keys(ld, g, gkey, keys) < 0 ||
        cfg_get_bool(ld, g, gkey, "allow_wide", &grp->allow_wide) < 0)
        return -1;
    if ((ld->gb[i].s = config_setting_get_member(g, "addresses")) == NULL)
        return cfg_fail(ld, g, gkey,
                        "expected an array [ ... ] or a group { addresses = [ ... ]; "
                        "allow_wide = true; }: addresses is missing");
    return 0;
}

/* alloc_groups - one struct ip_group (name, empty set) per member of S. */
static int alloc_groups(struct loader *ld, const config_setting_t *s)
{
    struct config *cfg = ld->cfg;
    unsigned n = (unsigned)config_setting_length(s);
    if (n == 0)
        return 0;
    cfg->groups = calloc(n, sizeof(*cfg->groups));
    ld->gb = calloc(n, sizeof(*ld->gb));
    if (cfg->groups == NULL || ld->gb == NULL)
        return cfg_fail_oom(ld, s, "ip_groups");
    for (unsigned i = 0; i < n; i++) {
        const config_setting_t *g = config_setting_get_elem(s, i);
        struct ip_group *grp = &cfg->groups[i];
        cfg->n_groups = i + 1;
        ld->gb[i].everything = ld->gb[i].wide = -1;
        grp->name = strdup(config_setting_name(g));
        grp->set = ipset_new();
        if (grp->name == NULL || grp->set == NULL)
            return cfg_fail_oom(ld, g, "ip_groups");
        if (declare_group(ld, i, g) < 0)
            return -1;
    }
    return 0;
}

/* load_groups - ip_groups: every group is named first, so that "@name" may
 * refer forward, then built. */
static int load_groups(struct loader *ld, const config_setting_t *root)
{
    const config_setting_t *s = config_setting_get_member(root, "ip_groups");
    if (s == NULL)
        return 0;
    if (cfg_expect(ld, s, "ip_groups", CONFIG_TYPE_GROUP) < 0 || alloc_groups(ld, s) < 0)
        return -1;
    for (size_t i = 0; i < ld->cfg->n_groups; i++) {
        if (ld->gb[i].state == 0 && build_group(ld, i, 0) < 0)
            return -1;
    }
    return 0;
}

/* guard_open_relay - refuse (or, with relay.open_relay, warn about) an
 * entry covering the whole Internet in relay group K, whose entries are at
 * GKEY.  allow_wide does not lift this: an open relay takes open_relay. */
static int guard_open_relay(struct loader *ld, size_t k, const char *gkey)
{
    struct group_build *gb = &ld->gb[k];
    char key[KEY_MAX];
    if (gb->everything < 0)
        return 0;
    const config_setting_t *e = config_setting_get_elem(gb->s, (unsigned)gb->everything);
    const char *v = config_setting_get_string(e);
    cfg_key_index(key, sizeof(key), gkey, (unsigned)gb->everything);
    if (!ld->cfg->open_relay)
        return cfg_fail(ld, e, key,
                        "\"%s\" covers the whole Internet; relaying for it makes an open "
                        "relay (set relay.open_relay = true if you really want that)",
                        v);
    return cfg_warn(ld, e, key, "\"%s\" covers the whole Internet: this server is an open relay",
                    v);
}

/* guard_wide - the first wide entry of group K (entries at GKEY), named by
 * USE_KEY for GRANT: refused unless the group says allow_wide = true (or,
 * for relay, relay.open_relay = true), warned about once when allowed. */
static int guard_wide(struct loader *ld, size_t k, const char *gkey, enum ip_grant grant,
                      const char *use_key)
{
    struct group_build *gb = &ld->gb[k];
    const struct ip_group *grp = &ld->cfg->groups[k];
    char key[KEY_MAX];
    bool open_relay = grant == IP_GRANT_RELAY && ld->cfg->open_relay;
    if (gb->wide < 0 || (open_relay && gb->wide == gb->everything))
        return 0; /* nothing wide, or guard_open_relay has warned already */
    const config_setting_t *e = config_setting_get_elem(gb->s, (unsigned)gb->wide);
    const char *v = config_setting_get_string(e);
    const char *what = gb->wide == gb->everything
                           ? "covers the whole Internet"
                           : "covers public addresses and is wider than a /8 (IPv4) or /32 (IPv6)";
    cfg_key_index(key, sizeof(key), gkey, (unsigned)gb->wide);
    if (!grp->allow_wide && !open_relay)
        return cfg_fail(ld, e, key,
                        "\"%s\" %s, and %s lets every client in it %s; write the network you "
                        "meant or, if you mean all of it, declare ip_groups.%s = { addresses = "
                        "[ ... ]; allow_wide = true; }",
                        v, what, use_key, grant_effects[grant], grp->name);
    if (gb->wide_warned)
        return 0;
    gb->wide_warned = true;
    return cfg_warn(ld, e, key, "\"%s\" %s; %s lets every client in it %s", v, what,
                    grp->allow_wide ? "allow_wide = true" : "relay.open_relay = true",
                    grant_effects[grant]);
}

/* guard_group - the guards for GRANT on group K and every group it
 * includes, each group looked at once per grant however many settings and
 * includes reach it.  USE_KEY is the element that named the group. */
static int guard_group(struct loader *ld, size_t k, enum ip_grant grant, const char *use_key)
{
    struct group_build *gb = &ld->gb[k];
    char gkey[KEY_MAX];
    if (gb->checked & (1u << grant))
        return 0;
    gb->checked |= 1u << grant;
    ld->cfg->groups[k].reached |= 1u << grant;
    group_key(ld, k, gkey, sizeof(gkey));
    if ((grant == IP_GRANT_RELAY && guard_open_relay(ld, k, gkey) < 0) ||
        guard_wide(ld, k, gkey, grant, use_key) < 0)
        return -1;
    for (unsigned j = 0; j < (unsigned)config_setting_length(gb->s); j++) {
        const char *v = config_setting_get_string(config_setting_get_elem(gb->s, j));
        if (v[0] == '@' &&
            guard_group(ld, (size_t)cfg_group_index(ld->cfg, v + 1), grant, use_key) < 0)
            return -1;
    }
    return 0;
}

/* cfg_load_group_list - NAME of G, a list of IP groups that get GRANT. */
int cfg_load_group_list(struct loader *ld, const config_setting_t *g, const char *gkey,
                        const char *name, enum ip_grant grant, struct ipset *set)
{
    char skey[KEY_MAX], key[KEY_MAX];
    const config_setting_t *s = config_setting_get_member(g, name);
    if (s == NULL)
        return 0;
    cfg_key_child(skey, sizeof(skey), gkey, name);
    if (cfg_expect_sequence(ld, s, skey) < 0)
        return -1;
    for (unsigned i = 0; i < (unsigned)config_setting_length(s); i++) {
        const config_setting_t *e = config_setting_get_elem(s, i);
        cfg_key_index(key, sizeof(key), skey, i);
        if (cfg_expect(ld, e, key, CONFIG_TYPE_STRING) < 0)
            return -1;
        const char *gname = config_setting_get_string(e);
        int k = cfg_group_index(ld->cfg, gname);
        if (k < 0)
            return cfg_fail(ld, e, key, "there is no IP group \"%s\" in ip_groups", gname);
        const struct ipset *from = ld->cfg->groups[k].set;
        if (ipset_count(set) + ipset_count(from) > GROUP_ENTRIES_MAX)
            return cfg_fail(ld, e, key, "the groups would hold more than %d entries",
                            GROUP_ENTRIES_MAX);
        if (ipset_merge(set, from) < 0)
            return cfg_fail_oom(ld, e, key);
        ld->cfg->groups[k].grants |= 1u << grant;
        if (guard_group(ld, (size_t)k, grant, key) < 0)
            return -1;
    }
    return 0;
}

/* load_relay - relay: who may relay without AUTH. */
static int load_relay(struct loader *ld, const config_setting_t *root)
{
    static const char *const keys[] = {"allow_groups", "open_relay", NULL};
    const config_setting_t *g;
    if (cfg_get_group(ld, root, "", "relay", keys, &g) < 0)
        return -1;
    if (g == NULL)
        return 0;
    if (cfg_get_bool(ld, g, "relay", "open_relay", &ld->cfg->open_relay) < 0)
        return -1;
    return cfg_load_group_list(ld, g, "relay", "allow_groups", IP_GRANT_RELAY,
                               ld->cfg->relay_clients);
}

/* warn_below_rfc - a legal value under what RFC 5321 asks for (4.5.3.1.8
 * for recipients, 4.5.3.2 for timeouts) is worth a line in the log. */
static int warn_below_rfc(struct loader *ld, const config_setting_t *g, const char *name,
                          unsigned value, unsigned rfc_min, const char *section)
{
    char key[KEY_MAX];
    if (value >= rfc_min)
        return 0;
    return cfg_warn(ld, config_setting_get_member(g, name), cfg_key_child(key, sizeof(key), "limits", name),
                "%u is below the %u of RFC 5321 %s", value, rfc_min, section);
}

/* load_limit_numbers - the numeric members of limits. */
static int load_limit_numbers(struct loader *ld, const config_setting_t *g)
{
    struct config_limits *l = &ld->cfg->limits;
    /* Bodies are SQLite blobs, whose default ceiling is 1e9 octets; half a
     * GiB leaves room for the headers added on the way. */
    uint64_t size = l->max_message_size;
    if (cfg_get_number(ld, g, "limits", "max_message_size", 1024, 512u * 1024 * 1024, &size) < 0)
        return -1;
    l->max_message_size = (size_t)size;
    if (cfg_get_unsigned(ld, g, "limits", "max_recipients", 1, 100000, &l->max_recipients) < 0 ||
        cfg_get_unsigned(ld, g, "limits", "max_errors", 1, 1000, &l->max_errors) < 0 ||
        cfg_get_unsigned(ld, g, "limits", "max_connections", 1, 1000000, &l->max_connections) < 0 ||
        cfg_get_unsigned(ld, g, "limits", "command_timeout", 1, 86400, &l->command_timeout) < 0 ||
        cfg_get_unsigned(ld, g, "limits", "data_timeout", 1, 86400, &l->data_timeout) < 0 ||
        cfg_get_unsigned(ld, g, "limits", "data_end_timeout", 1, 86400, &l->data_end_timeout) < 0 ||
        cfg_get_unsigned(ld, g, "limits", "tls_handshake_timeout", 1, 3600,
                         &l->tls_handshake_timeout) < 0 ||
        cfg_get_unsigned(ld, g, "limits", "min_data_rate", 0, 1000000000, &l->min_data_rate) < 0 ||
        cfg_get_unsigned(ld, g, "limits", "max_expanded_recipients", 1, 1000000,
                         &l->max_expanded_recipients) < 0)
        return -1;
    /* Every RCPT adds at least one recipient: a bound below max_recipients
     * would refuse what max_recipients allows, so it is raised to it (a
     * config that loaded before this key existed still loads). */
    if (l->max_expanded_recipients < l->max_recipients) {
        char key[KEY_MAX];
        const config_setting_t *at = config_setting_get_member(g, "max_expanded_recipients");
        if (cfg_warn(ld, at ? at : config_setting_get_member(g, "max_recipients"),
                     cfg_key_child(key, sizeof key, "limits", "max_expanded_recipients"),
                     "%u is below limits.max_recipients; %u is used", l->max_expanded_recipients,
                     l->max_recipients) < 0)
            return -1;
        l->max_expanded_recipients = l->max_recipients;
    }
    return 0;
}

/* load_limits - limits: per-message and per-session bounds. */
static int load_limits(struct loader *ld, const config_setting_t *root)
{
    static const char *const keys[] = {"max_message_size", "max_recipients",  "max_errors",
                                       "max_connections",  "command_timeout", "data_timeout",
                                       "data_end_timeout", "bare_lf",         "tls_handshake_timeout",
                                       "min_data_rate",    "nul",             "max_expanded_recipients",
                                       NULL};
    struct config_limits *l = &ld->cfg->limits;
    const config_setting_t *g;
    int bare_lf = BARE_LF_REJECT, nul = NUL_REJECT;
    if (cfg_get_group(ld, root, "", "limits", keys, &g) < 0)
        return -1;
    if (g == NULL)
        return 0;
    if (load_limit_numbers(ld, g) < 0 ||
        cfg_get_choice(ld, g, "limits", "bare_lf", bare_lf_names, &bare_lf) < 0 ||
        cfg_get_choice(ld, g, "limits", "nul", nul_names, &nul) < 0)
        return -1;
    l->bare_lf = (enum bare_lf_mode)bare_lf;
    l->nul = (enum nul_mode)nul;
    if (warn_below_rfc(ld, g, "max_recipients", l->max_recipients, 100, "4.5.3.1.8") < 0 ||
        warn_below_rfc(ld, g, "command_timeout", l->command_timeout, 300, "4.5.3.2.7") < 0 ||
        warn_below_rfc(ld, g, "data_timeout", l->data_timeout, 180, "4.5.3.2.5") < 0 ||
        warn_below_rfc(ld, g, "data_end_timeout", l->data_end_timeout, 600, "4.5.3.2.6") < 0)
        return -1;
    return 0;
}

/* load_queue - queue: retry schedule, lifetime, group commit size. */
static int load_queue(struct loader *ld, const config_setting_t *root)
{
    static const char *const keys[] = {"retry_initial",    "retry_max",
                                       "lifetime",         "group_commit_max",
                                       "quarantine_retention", NULL};
    const unsigned year = 365 * 86400;
    struct config_queue *q = &ld->cfg->queue;
    const config_setting_t *g;
    if (cfg_get_group(ld, root, "", "queue", keys, &g) < 0)
        return -1;
    if (g == NULL)
        return 0;
    if (cfg_get_unsigned(ld, g, "queue", "retry_initial", 1, year, &q->retry_initial) < 0 ||
        cfg_get_unsigned(ld, g, "queue", "retry_max", 1, year, &q->retry_max) < 0 ||
        cfg_get_unsigned(ld, g, "queue", "lifetime", 1, year, &q->lifetime) < 0 ||
        cfg_get_unsigned(ld, g, "queue", "group_commit_max", 1, 10000, &q->group_commit_max) < 0 ||
        cfg_get_unsigned(ld, g, "queue", "quarantine_retention", 0, 10 * year,
                     &q->quarantine_retention) < 0)
        return -1;
    if (q->retry_max < q->retry_initial) {
        const config_setting_t *s = config_setting_get_member(g, "retry_max");
        return cfg_fail(ld, s ? s : config_setting_get_member(g, "retry_initial"),
                    s ? "queue.retry_max" : "queue.retry_initial",
                    "the retry cap (%u) is below the first retry (%u)", q->retry_max,
                    q->retry_initial);
    }
    return 0;
}

/* load_relayhost - delivery.relayhost: a smarthost instead of MX routing. */
static int load_relayhost(struct loader *ld, const config_setting_t *g)
{
    static const char *const keys[] = {"host", "port", "tls", "user", "password", NULL};
    struct config_delivery *d = &ld->cfg->delivery;
    const config_setting_t *r;
    int tls = (int)d->relayhost_tls;
    if (cfg_get_group(ld, g, "delivery", "relayhost", keys, &r) < 0)
        return -1;
    if (r == NULL)
        return 0;
    if (cfg_get_string(ld, r, "delivery.relayhost", "host", true, &d->relayhost) < 0 ||
        cfg_get_unsigned(ld, r, "delivery.relayhost", "port", 1, 65535, &d->relayhost_port) < 0 ||
        cfg_get_choice(ld, r, "delivery.relayhost", "tls", tls_names, &tls) < 0 ||
        cfg_get_string(ld, r, "delivery.relayhost", "user", false, &d->relayhost_user) < 0 ||
        cfg_get_string(ld, r, "delivery.relayhost", "password", false, &d->relayhost_password) < 0)
        return -1;
    d->relayhost_tls = (enum tls_mode)tls;
    if ((d->relayhost_user == NULL) != (d->relayhost_password == NULL))
        return cfg_fail(ld, r, "delivery.relayhost", "user and password go together");
    if (d->relayhost_user && d->relayhost_tls == TLS_MODE_NONE)
        return cfg_fail(ld, config_setting_get_member(r, "tls"), "delivery.relayhost.tls",
                    "AUTH credentials must not be sent without TLS");
    return 0;
}

/* load_lmtp - delivery.lmtp_socket / delivery.lmtp_address: where the
 * LMTP server of delivery.local = "lmtp" listens (one or the other). */
static int load_lmtp(struct loader *ld, const config_setting_t *g)
{
    struct config_delivery *d = &ld->cfg->delivery;
    const config_setting_t *sock = config_setting_get_member(g, "lmtp_socket");
    if (cfg_get_string(ld, g, "delivery", "lmtp_socket", false, &d->lmtp_socket) < 0)
        return -1;
    if (config_setting_get_member(g, "lmtp_address") == NULL)
        return 0;
    if (sock != NULL)
        return cfg_fail(ld, sock, "delivery.lmtp_socket",
                        "give lmtp_socket or lmtp_address, not both");
    return cfg_get_socket_address(ld, g, "delivery", "lmtp_address", &d->lmtp_address,
                                  &d->lmtp_addr, &d->lmtp_addrlen);
}

/* load_delivery - delivery: the SMTP client toward other servers. */
static int load_delivery(struct loader *ld, const config_setting_t *root)
{
    static const char *const keys[] = {"mx_port",         "tls",          "tls_verify",
                                       "connect_timeout", "command_timeout", "data_timeout",
                                       "max_connections", "max_per_domain", "delay_warning",
                                       "relayhost",       "initial_per_domain", "local",
                                       "lmtp_socket",     "lmtp_address",    NULL};
    struct config_delivery *d = &ld->cfg->delivery;
    const config_setting_t *g;
    int tls = (int)d->tls, local = (int)d->local;
    if (cfg_get_group(ld, root, "", "delivery", keys, &g) < 0)
        return -1;
    if (g == NULL)
        return 0;
    if (cfg_get_unsigned(ld, g, "delivery", "mx_port", 1, 65535, &d->mx_port) < 0 ||
        cfg_get_choice(ld, g, "delivery", "tls", delivery_tls_names, &tls) < 0 ||
        cfg_get_bool(ld, g, "delivery", "tls_verify", &d->tls_verify) < 0 ||
        cfg_get_unsigned(ld, g, "delivery", "connect_timeout", 1, 3600, &d->connect_timeout) < 0 ||
        cfg_get_unsigned(ld, g, "delivery", "command_timeout", 1, 3600, &d->command_timeout) < 0 ||
        cfg_get_unsigned(ld, g, "delivery", "data_timeout", 1, 3600, &d->data_timeout) < 0 ||
        cfg_get_unsigned(ld, g, "delivery", "max_connections", 1, 10000, &d->max_connections) < 0 ||
        cfg_get_unsigned(ld, g, "delivery", "max_per_domain", 1, 1000, &d->max_per_domain) < 0 ||
        cfg_get_unsigned(ld, g, "delivery", "initial_per_domain", 1, 1000,
                         &d->initial_per_domain) < 0 ||
        cfg_get_unsigned(ld, g, "delivery", "delay_warning", 0, 30 * 86400, &d->delay_warning) < 0 ||
        cfg_get_choice(ld, g, "delivery", "local", delivery_local_names, &local) < 0 ||
        load_lmtp(ld, g) < 0)
        return -1;
    d->tls = (enum delivery_tls)tls;
    d->local = (enum delivery_local)local;
    return load_relayhost(ld, g);
}

/* dns_server - one "ip:port", "[v6]:port" or bare address, written back in
 * the "ip:port" / "[v6]:port" form c-ares reads. */
static int dns_server(struct loader *ld, const config_setting_t *e, const char *key, char **out)
{
    char host[INET6_ADDRSTRLEN + 1], buf[ADDRESS_MAX + 1];
    int family;
    unsigned port;
    if (cfg_expect(ld, e, key, CONFIG_TYPE_STRING) < 0)
        return -1;
    const char *v = config_setting_get_string(e);
    if (split_host_port(v, 53, host, sizeof(host), &family, &port) < 0)
        return cfg_fail(ld, e, key,
                    "\"%s\" is not \"IPv4\", \"IPv4:PORT\", \"IPv6\" or \"[IPv6]:PORT\"", v);
    int n = family == AF_INET6 ? snprintf(buf, sizeof(buf), "[%s]:%u", host, port)
                               : snprintf(buf, sizeof(buf), "%s:%u", host, port);
    if (n < 0 || (size_t)n >= sizeof(buf))
        return cfg_fail(ld, e, key, "\"%s\" is too long", v);
    if ((*out = strdup(buf)) == NULL)
        return cfg_fail_oom(ld, e, key);
    return 0;
}

/* load_dns - dns.servers; none means the system resolver. */
static int load_dns(struct loader *ld, const config_setting_t *root)
{
    static const char *const keys[] = {"servers", NULL};
    struct config *cfg = ld->cfg;
    const config_setting_t *g, *s;
    if (cfg_get_group(ld, root, "", "dns", keys, &g) < 0)
        return -1;
    if (g == NULL || (s = config_setting_get_member(g, "servers")) == NULL)
        return 0;
    if (cfg_expect_sequence(ld, s, "dns.servers") < 0)
        return -1;
    unsigned n = (unsigned)config_setting_length(s);
    if (n > DNS_SERVERS_MAX)
        return cfg_fail(ld, s, "dns.servers", "more than %d servers", DNS_SERVERS_MAX);
    if (n == 0)
        return 0;
    if ((cfg->dns_servers = calloc(n, sizeof(char *))) == NULL)
        return cfg_fail_oom(ld, s, "dns.servers");
    for (unsigned i = 0; i < n; i++) {
        char key[KEY_MAX];
        cfg_key_index(key, sizeof(key), "dns.servers", i);
        if (dns_server(ld, config_setting_get_elem(s, i), key, &cfg->dns_servers[i]) < 0)
            return -1;
        cfg->n_dns_servers = i + 1;
    }
    return 0;
}

/* load_tls - tls: the certificate and key, which go together. */
static int load_tls(struct loader *ld, const config_setting_t *root)
{
    static const char *const keys[] = {"certificate", "key", NULL};
    struct config *cfg = ld->cfg;
    const config_setting_t *g;
    if (cfg_get_group(ld, root, "", "tls", keys, &g) < 0)
        return -1;
    if (g == NULL)
        return 0;
    if (cfg_get_string(ld, g, "tls", "certificate", true, &cfg->tls_certificate) < 0 ||
        cfg_get_string(ld, g, "tls", "key", true, &cfg->tls_key) < 0)
        return -1;
    return 0;
}

/* load_smtp - smtp: protocol switches. */
static int load_smtp(struct loader *ld, const config_setting_t *root)
{
    static const char *const keys[] = {"disclose_auth_user", NULL};
    const config_setting_t *g;
    if (cfg_get_group(ld, root, "", "smtp", keys, &g) < 0)
        return -1;
    if (g == NULL)
        return 0;
    return cfg_get_bool(ld, g, "smtp", "disclose_auth_user", &ld->cfg->disclose_auth_user);
}

/* default_hostname - gethostname(), which must still be a valid domain. */
static int default_hostname(struct loader *ld, const config_setting_t *root)
{
    char buf[HOSTNAME_MAX + 2];
    if (gethostname(buf, sizeof(buf)) < 0)
        return cfg_fail(ld, root, "hostname", "not set, and gethostname() failed: %s", strerror(errno));
    buf[sizeof(buf) - 1] = '\0'; /* POSIX leaves truncation unterminated */
    if (!valid_hostname(buf))
        return cfg_fail(ld, root, "hostname",
                    "not set, and the system name \"%s\" is not a domain name; set it", buf);
    if ((ld->cfg->hostname = strdup(buf)) == NULL)
        return cfg_fail_oom(ld, root, "hostname");
    return 0;
}

/* load_hostname - hostname, or the system's name. */
static int load_hostname(struct loader *ld, const config_setting_t *root)
{
    if (cfg_get_string(ld, root, "", "hostname", false, &ld->cfg->hostname) < 0)
        return -1;
    if (ld->cfg->hostname == NULL)
        return default_hostname(ld, root);
    if (!valid_hostname(ld->cfg->hostname))
        return cfg_fail(ld, config_setting_get_member(root, "hostname"), "hostname",
                    "\"%s\" is not a domain name (letters, digits, '-' and dots)",
                    ld->cfg->hostname);
    return 0;
}

/* cfg_printable - one octet at a time, as unsigned: a byte of UTF-8 is
 * not printable ASCII. */
bool cfg_printable(const char *s, size_t n, const char *except)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || (except && strchr(except, c)))
            return false;
    }
    return true;
}

/* load_postmaster - postmaster: one address, local@domain (RFC 5321
 * 4.5.1), kept lowercased as the accounts keep addresses. */
static int load_postmaster(struct loader *ld, const config_setting_t *root)
{
    char **pm = &ld->cfg->postmaster;
    if (cfg_get_string(ld, root, "", "postmaster", false, pm) < 0)
        return -1;
    if (*pm == NULL)
        return 0;
    const char *at = strrchr(*pm, '@');
    size_t local = at ? (size_t)(at - *pm) : 0;
    bool ok = at && local > 0 && local <= 64 && valid_hostname(at + 1) &&
              cfg_printable(*pm, local, "\"\\<>()[],;:@");
    if (!ok)
        return cfg_fail(ld, config_setting_get_member(root, "postmaster"), "postmaster",
                        "\"%s\" is not an address (local@domain, no quotes or spaces)", *pm);
    for (char *p = *pm; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return 0;
}

/* load_top - the plain top-level keys. */
static int load_top(struct loader *ld, const config_setting_t *root)
{
    struct config *cfg = ld->cfg;
    if (load_hostname(ld, root) < 0 ||
        cfg_get_string(ld, root, "", "state_dir", true, &cfg->state_dir) < 0 ||
        cfg_get_string(ld, root, "", "user", false, &cfg->user) < 0 ||
        cfg_get_string(ld, root, "", "log_file", false, &cfg->log_file) < 0 ||
        cfg_get_string(ld, root, "", "syslog_socket", false, &cfg->syslog_socket) < 0 ||
        cfg_get_unsigned(ld, root, "", "shutdown_timeout", 1, 3600, &cfg->shutdown_timeout) < 0 ||
        load_postmaster(ld, root) < 0)
        return -1;
    if (cfg->syslog_socket == NULL && (cfg->syslog_socket = strdup("/dev/log")) == NULL)
        return cfg_fail_oom(ld, root, "syslog_socket");
    /* a unix socket's path: absolute (the daemon works from state_dir) and
     * within sockaddr_un's 108 octets */
    if (cfg->syslog_socket[0] != '/' || strlen(cfg->syslog_socket) >= 108)
        return cfg_fail(ld, config_setting_get_member(root, "syslog_socket"), "syslog_socket",
                        "\"%s\" is not an absolute path of at most 107 octets",
                        cfg->syslog_socket);
    return 0;
}

/* load_root - every section, in an order where each finds what it needs:
 * tls before the listeners that use it, ip_groups before relay. */
static int load_root(struct loader *ld, const config_setting_t *root)
{
    static const char *const keys[] = {"hostname", "state_dir", "user",      "log_file", "tls",
                                       "smtp",     "listeners", "ip_groups", "relay",    "limits",
                                       "queue",    "dns",       "delivery", "passwords",
                                       "lockout",  "hammering", "client_limits",
                                       "sending_limits", "sender_policy", "policy",
                                       "shutdown_timeout", "postmaster", "web", "syslog_socket",
                                       "detector", "alerts", "reputation", "inbound", NULL};
    if (cfg_check_keys(ld, root, "", keys) < 0 || load_top(ld, root) < 0 || load_tls(ld, root) < 0 ||
        load_smtp(ld, root) < 0 || load_listeners(ld, root) < 0 || load_groups(ld, root) < 0 ||
        load_relay(ld, root) < 0 || load_limits(ld, root) < 0 || load_queue(ld, root) < 0 ||
        load_dns(ld, root) < 0 || load_delivery(ld, root) < 0 ||
        config_load_security(ld, root) < 0 || config_load_web(ld, root) < 0 ||
        config_load_detector(ld, root) < 0 || config_load_reputation(ld, root) < 0 ||
        config_load_inbound(ld, root) < 0)
        return -1;
    return 0;
}

/* read_all - the whole of PATH as a NUL-terminated string, at most
 * CONFIG_FILE_MAX octets and with no NUL inside (libconfig would stop there
 * and silently ignore the rest). */
static char *read_all(struct loader *ld)
{
    int fd = open(ld->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(ld->err, ld->errlen, "%s: cannot open: %s", ld->path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(CONFIG_FILE_MAX + 1);
    size_t len = 0;
    ssize_t n = 1;
    while (buf && len <= CONFIG_FILE_MAX && n > 0) {
        n = read(fd, buf + len, CONFIG_FILE_MAX + 1 - len);
        if (n < 0 && errno == EINTR)
            n = 1;
        else if (n > 0)
            len += (size_t)n;
    }
    int saved = errno;
    close(fd);
    if (buf == NULL)
        snprintf(ld->err, ld->errlen, "%s: out of memory", ld->path);
    else if (n < 0)
        snprintf(ld->err, ld->errlen, "%s: cannot read: %s", ld->path, strerror(saved));
    else if (len > CONFIG_FILE_MAX)
        snprintf(ld->err, ld->errlen, "%s: larger than %d octets", ld->path, CONFIG_FILE_MAX);
    else if (memchr(buf, '\0', len) != NULL)
        snprintf(ld->err, ld->errlen, "%s: contains a NUL octet", ld->path);
    else {
        buf[len] = '\0';
        return buf;
    }
    free(buf);
    return NULL;
}

/* scan_state - where the scan of unterminated() stands. */
enum scan_state { SCAN_CODE, SCAN_STRING, SCAN_LINE_COMMENT, SCAN_BLOCK_COMMENT };

/* scan_opens - what starts at P in code: a string, a comment, or nothing. */
static enum scan_state scan_opens(const char *p)
{
    if (p[0] == '"')
        return SCAN_STRING;
    if (p[0] == '#' || (p[0] == '/' && p[1] == '/'))
        return SCAN_LINE_COMMENT;
    if (p[0] == '/' && p[1] == '*')
        return SCAN_BLOCK_COMMENT;
    return SCAN_CODE;
}

/* unterminated - the line where a string or block comment opened in TEXT
 * is still open at the end, or 0.  libconfig 1.5 silently drops the rest of
 * a file after a stray double quote or comment opener, which would turn
 * every later key into its default without a word. */
static unsigned unterminated(const char *text)
{
    enum scan_state st = SCAN_CODE;
    unsigned line = 1, opened = 0;
    for (const char *p = text; *p; p++) {
        if (*p == '\n')
            line++;
        if (st == SCAN_CODE) {
            st = scan_opens(p);
            opened = line;
            /* Skip the star too: a slash right after it does not close. */
            p += st == SCAN_BLOCK_COMMENT;
        } else if (st == SCAN_STRING && p[0] == '\\' && p[1] != '\0') {
            line += p[1] == '\n';
            p++;
        } else if ((st == SCAN_STRING && *p == '"') || (st == SCAN_LINE_COMMENT && *p == '\n')) {
            st = SCAN_CODE;
        } else if (st == SCAN_BLOCK_COMMENT && p[0] == '*' && p[1] == '/') {
            st = SCAN_CODE;
            p++;
        }
    }
    return st == SCAN_STRING || st == SCAN_BLOCK_COMMENT ? opened : 0;
}

/* set_include_dir - make "@include" paths relative to the config file's
 * directory, not to wherever the daemon was started from. */
static int set_include_dir(struct loader *ld, config_t *lc)
{
    const char *slash = strrchr(ld->path, '/');
    if (slash == NULL)
        return 0;
    size_t n = slash == ld->path ? 1 : (size_t)(slash - ld->path);
    if ((ld->include_dir = strndup(ld->path, n)) == NULL) {
        snprintf(ld->err, ld->errlen, "%s: out of memory", ld->path);
        return -1;
    }
    config_set_include_dir(lc, ld->include_dir);
    return 0;
}

/* parse_text - TEXT through libconfig into LC, with its error reported as
 * "FILE:LINE: syntax error: ...". */
static int parse_text(struct loader *ld, config_t *lc, const char *text)
{
    unsigned open_line = unterminated(text);
    if (open_line) {
        snprintf(ld->err, ld->errlen, "%s:%u: syntax error: string or comment never ends", ld->path,
                 open_line);
        return -1;
    }
    if (set_include_dir(ld, lc) < 0)
        return -1;
    if (config_read_string(lc, text) == CONFIG_TRUE)
        return 0;
    char name[4096];
    snprintf(ld->err, ld->errlen, "%s:%d: %s%s",
             source_name(ld, config_error_file(lc), name, sizeof(name)), config_error_line(lc),
             config_error_type(lc) == CONFIG_ERR_PARSE ? "syntax error: " : "",
             config_error_text(lc) ? config_error_text(lc) : "cannot read");
    return -1;
}

/* How many configs are in memory: the daemon's current one, and those a
 * reload replaced that sessions or jobs still use (see config_count). */
static unsigned configs_alive;

/* config_new - an empty configuration holding the defaults of config.h. */
static struct config *config_new(const char *path)
{
    struct config *cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL)
        return NULL;
    cfg->refs = 1; /* the caller's */
    __atomic_add_fetch(&configs_alive, 1, __ATOMIC_RELAXED);
    cfg->path = strdup(path);
    cfg->relay_clients = ipset_new();
    if (cfg->path == NULL || cfg->relay_clients == NULL || config_security_defaults(cfg) < 0) {
        config_free(cfg);
        return NULL;
    }
    config_detector_defaults(cfg);
    cfg->shutdown_timeout = 10;
    cfg->limits = (struct config_limits){.max_message_size = 25 * 1024 * 1024,
                                         .max_recipients = 100,
                                         .max_expanded_recipients = 10000,
                                         .max_errors = 10,
                                         .max_connections = 1000,
                                         .command_timeout = 300,
                                         .data_timeout = 180,
                                         .data_end_timeout = 600,
                                         .tls_handshake_timeout = 30,
                                         .min_data_rate = 500,
                                         .bare_lf = BARE_LF_REJECT};
    cfg->queue = (struct config_queue){
        .retry_initial = 300, .retry_max = 3600, .lifetime = 5 * 86400, .group_commit_max = 64,
        .quarantine_retention = 30 * 86400};
    cfg->delivery = (struct config_delivery){.mx_port = 25,
                                             .tls = DELIVERY_TLS_OPPORTUNISTIC,
                                             .connect_timeout = 30,
                                             .command_timeout = 300,
                                             .data_timeout = 600,
                                             .max_connections = 500,
                                             .max_per_domain = 4,
                                             .initial_per_domain = 2,
                                             .delay_warning = 4 * 3600,
                                             .relayhost_port = 587,
                                             .relayhost_tls = TLS_MODE_STARTTLS};
    return cfg;
}

/* config_load - read, parse and validate PATH. */
struct config *config_load(const char *path, char *err, size_t errlen)
{
    struct loader ld = {.path = path, .err = err, .errlen = errlen};
    config_t lc;
    if (errlen > 0)
        err[0] = '\0';
    char *text = read_all(&ld);
    if (text == NULL)
        return NULL;
    if ((ld.cfg = config_new(path)) == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        free(text);
        return NULL;
    }
    config_init(&lc);
    int rc = parse_text(&ld, &lc, text);
    if (rc == 0)
        rc = load_root(&ld, config_root_setting(&lc));
    config_destroy(&lc);
    free(text);
    free(ld.gb);
    free(ld.include_dir);
    if (rc < 0) {
        config_free(ld.cfg);
        return NULL;
    }
    return ld.cfg;
}

/* free_strings - an array of N strings and the array. */
static void free_strings(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

/* config_free - release CFG and everything it owns; NULL is allowed. */
void config_free(struct config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; cfg->listeners && i < cfg->n_listeners; i++) {
        free(cfg->listeners[i].name);
        free(cfg->listeners[i].address);
    }
    free(cfg->listeners);
    for (size_t i = 0; cfg->groups && i < cfg->n_groups; i++) {
        free(cfg->groups[i].name);
        ipset_free(cfg->groups[i].set);
    }
    free(cfg->groups);
    ipset_free(cfg->relay_clients);
    free_strings(cfg->dns_servers, cfg->n_dns_servers);
    free_strings(cfg->warnings, cfg->n_warnings);
    free(cfg->path);
    free(cfg->hostname);
    free(cfg->postmaster);
    free(cfg->state_dir);
    free(cfg->user);
    free(cfg->log_file);
    free(cfg->syslog_socket);
    free(cfg->tls_certificate);
    free(cfg->tls_key);
    config_free_security(cfg);
    config_free_web(cfg);
    config_free_detector(cfg);
    config_free_reputation(cfg);
    config_free_inbound(cfg);
    free(cfg->delivery.relayhost);
    free(cfg->delivery.lmtp_socket);
    free(cfg->delivery.lmtp_address);
    free(cfg->delivery.relayhost_user);
    if (cfg->delivery.relayhost_password) {
        explicit_bzero(cfg->delivery.relayhost_password, strlen(cfg->delivery.relayhost_password));
        free(cfg->delivery.relayhost_password);
    }
    free(cfg);
    __atomic_sub_fetch(&configs_alive, 1, __ATOMIC_RELAXED);
}

/* config_ref - one more user of CFG (see config.h). */
struct config *config_ref(struct config *cfg)
{
    __atomic_add_fetch(&cfg->refs, 1, __ATOMIC_RELAXED);
    return cfg;
}

/* config_unref - the count is the only thing a user may change in a
 * config it reads as const, so casting the const away is sound here. */
void config_unref(const struct config *cfg)
{
    struct config *c = (struct config *)cfg;
    if (c && __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) == 0)
        config_free(c);
}

/* config_count - the configs loaded and not yet freed (see config.h). */
unsigned config_count(void)
{
    return __atomic_load_n(&configs_alive, __ATOMIC_RELAXED);
}

/* config_group - the IP group called NAME, or NULL. */
const struct ip_group *config_group(const struct config *cfg, const char *name)
{
    int i = cfg_group_index(cfg, name);
    return i < 0 ? NULL : &cfg->groups[i];
}
