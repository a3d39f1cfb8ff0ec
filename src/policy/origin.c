/* policy/origin - the facts about who is sending (see origin.h). */
#include "policy/origin.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ipset.h"
#include "core/util.h"

/* describe_peer - SA as text and port; an IPv4-mapped IPv6 address is
 * written as the IPv4 address it is. */
static void describe_peer(struct origin *o, const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)sa;
        if (IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr))
            inet_ntop(AF_INET, &a6->sin6_addr.s6_addr[12], o->ip, sizeof o->ip);
        else
            inet_ntop(AF_INET6, &a6->sin6_addr, o->ip, sizeof o->ip);
        o->port = ntohs(a6->sin6_port);
    } else {
        const struct sockaddr_in *a4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &a4->sin_addr, o->ip, sizeof o->ip);
        o->port = ntohs(a4->sin_port);
    }
}

/* origin_init - a new client. */
void origin_init(struct origin *o, unsigned long session, const struct sockaddr *sa,
                 socklen_t salen, const char *listener, const struct config *cfg)
{
    memset(o, 0, sizeof *o);
    o->session = session;
    o->started = time(NULL);
    memcpy(&o->sa, sa, salen < sizeof o->sa ? salen : sizeof o->sa);
    describe_peer(o, sa);
    str_copy(o->listener, listener, sizeof o->listener);
    o->cfg = cfg;
    origin_classify(o, cfg);
}

/* origin_classify - the group facts of the address under CFG. */
void origin_classify(struct origin *o, const struct config *cfg)
{
    const struct sockaddr *sa = (const struct sockaddr *)&o->sa;
    o->trusted = ipset_contains(cfg->relay_clients, sa);
    o->exempt = ipset_contains(cfg->client_limits.exempt, sa);
}

/* origin_set_helo - keep the HELO name printable. */
void origin_set_helo(struct origin *o, const char *name, size_t n)
{
    if (n > sizeof o->helo - 1)
        n = sizeof o->helo - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)name[i];
        o->helo[i] = (ch > 0x20 && ch < 0x7f && ch != '(' && ch != ')') ? (char)ch : '_';
    }
    o->helo[n] = '\0';
}

/* origin_set_tls - the TLS handshake completed. */
void origin_set_tls(struct origin *o, const char *info)
{
    o->tls = true;
    str_copy(o->tls_info, info, sizeof o->tls_info);
}

/* origin_set_auth - the login succeeded. */
int origin_set_auth(struct origin *o, const char *user, const char *label)
{
    char *u = strdup(user), *l = label ? strdup(label) : NULL;
    if (u == NULL || (label && l == NULL)) {
        free(u);
        free(l);
        return -1;
    }
    free(o->auth_user);
    free(o->app_password);
    o->auth_user = u;
    o->app_password = l;
    return 0;
}

/* origin_clear - free the login. */
void origin_clear(struct origin *o)
{
    free(o->auth_user);
    free(o->app_password);
    o->auth_user = o->app_password = NULL;
}

/* origin_sender_key - the key of the sending limits.  The infected PC on
 * the LAN that relays without logging in gets the same ceilings as an
 * account; mail from the Internet to our users is not a "sender" of ours
 * and is left to the per-IP client limits. */
const char *origin_sender_key(const struct origin *o, char *buf, size_t len)
{
    if (o->auth_user) {
        str_copy(buf, o->auth_user, len);
        return str_lower(buf);
    }
    if (o->trusted) {
        snprintf(buf, len, "ip:%s", o->ip);
        return buf;
    }
    return NULL;
}
