/* control/web_auth - failed web logins into the policy engine's per-IP
 * failure count (see control/web_auth.h).
 *
 * Room: control.  Both commands run on the loop: the engine's ban table
 * and failure counters are the loop's.  The web thread asks before it
 * spends an argon2 verification on a banned address, and reports every
 * refusal; the engine bans the address after hammering.failures within
 * hammering.window, as it does for SMTP AUTH, and the ban ends the IP's
 * SMTP sessions too. */
#include "control/web_auth.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "core/util.h"
#include "policy/origin.h"

/* client_ip - the "ip" member of REQ, checked to be an address, into O. */
static int client_ip(json_t *req, struct origin *o, char *err, size_t errlen)
{
    const char *ip = json_string_value(json_object_get(req, "ip"));
    unsigned char bin[sizeof(struct in6_addr)];
    memset(o, 0, sizeof *o);
    if (ip == NULL || !str_copy(o->ip, ip, sizeof o->ip) ||
        (inet_pton(AF_INET, ip, bin) != 1 && inet_pton(AF_INET6, ip, bin) != 1)) {
        snprintf(err, errlen, "ip: an IPv4 or IPv6 address is needed");
        return -1;
    }
    return 0;
}

/* cmd_login_check - is the client's IP banned now? */
static json_t *cmd_login_check(void *ctx, json_t *req, char *err, size_t errlen)
{
    struct origin o;
    if (client_ip(req, &o, err, errlen) < 0)
        return NULL;
    return json_pack("{s:b}", "banned", policy_banned(ctx, o.ip));
}

/* cmd_login_failed - one failed web login of the IP: a failure as SMTP
 * counts them ("web login failures" is the ban's reason). */
static json_t *cmd_login_failed(void *ctx, json_t *req, char *err, size_t errlen)
{
    struct origin o;
    struct policy_decision d;
    if (client_ip(req, &o, err, errlen) < 0)
        return NULL;
    policy_failure(ctx, &o, "web login", &d);
    return json_pack("{s:b}", "banned", d.action == POLICY_DISCONNECT);
}

void web_auth_register(struct control_server *ctl, struct policy *p)
{
    control_server_register(ctl, "web.login_check", cmd_login_check, p);
    control_server_register(ctl, "web.login_failed", cmd_login_failed, p);
}
