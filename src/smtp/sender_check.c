/* smtp/sender_check - sender policy and sending limits in a session
 * (room: smtp).  The limits are keyed by the authenticated user, or by
 * "ip:ADDR" for an unauthenticated client of a trusted group — the
 * infected PC on the LAN that relays without logging in gets the same
 * ceilings as an account.  Mail from the Internet to our users is not a
 * "sender" of ours and is left to the per-IP client limits. */
#include "smtp/sender_check.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "accounts/accounts.h"
#include "accounts/sending.h"
#include "core/log.h"
#include "core/util.h"
#include "policy/sender.h"
#include "smtp/gate.h"
#include "smtp/session_internal.h"

/* sender_key - what the limits count this client as, in BUF (300), or
 * NULL when they do not apply. */
static const char *sender_key(const struct smtp_session *s, char *buf, size_t len)
{
    if (s->auth_user) {
        str_copy(buf, s->auth_user, len);
        return str_lower(buf);
    }
    if (s->trusted) {
        snprintf(buf, len, "ip:%s", s->ip);
        return buf;
    }
    return NULL;
}

static const char *domain_of(const char *address)
{
    const char *at = strrchr(address, '@');
    return at ? at + 1 : "";
}

bool smtp_sender_check(struct smtp_session *s, const char *address, bool header)
{
    const struct config_sender_policy *p = &s->cfg->sender_policy;
    char user[300] = "", addr[300];
    str_copy(addr, address, sizeof addr);
    str_lower(addr);
    struct sender_facts f = {.null_sender = addr[0] == '\0',
                             .authenticated = s->auth_user != NULL,
                             .client_trusted = s->trusted};
    f.domain_local = !f.null_sender && accounts_domain_is_local(s->srv->db, domain_of(addr));
    if (f.authenticated && !f.null_sender) {
        str_copy(user, s->auth_user, sizeof user);
        str_lower(user);
        int owned = accounts_may_send_as(s->srv->db, user, addr);
        if (owned < 0) {
            smtp_reply(s, "451 4.3.0 Temporary lookup failure, try again later");
            return false;
        }
        f.owned = owned == 1;
        f.log_only = policy_sender_log_only(p, domain_of(user));
    }
    const char *what = header ? "header_from" : "mail_from";
    switch (policy_sender_decide(p, &f)) {
    case SENDER_OK:
        return true;
    case SENDER_NOT_OWNED_LOG:
        log_info("event=sender_policy result=logged session=%lu user=%s %s=%s ip=%s", s->serial,
                 log_quote(user), what, log_quote(addr), s->ip);
        return true;
    case SENDER_NOT_OWNED:
        log_info("event=sender_policy result=rejected session=%lu user=%s %s=%s ip=%s", s->serial,
                 log_quote(user), what, log_quote(addr), s->ip);
        if (header)
            smtp_reply(s, "550 5.7.1 Message rejected: From: <%s> is not an address of %s",
                       addr, user);
        else
            smtp_reply(s, "550 5.7.1 <%s>: Sender address rejected: not owned by user %s", addr,
                       user);
        return false;
    case SENDER_SPOOFED:
        log_info("event=sender_policy result=spoofing session=%lu %s=%s ip=%s", s->serial, what,
                 log_quote(addr), s->ip);
        smtp_reply(s, "550 5.7.1 <%s>: Sender address rejected: log in to send as %s", addr,
                   domain_of(addr));
        return false;
    }
    return true;
}

bool smtp_limits_mail(struct smtp_session *s)
{
    struct gate *g = s->srv->gate;
    char key[300];
    if (!gate_ip_message_allowed(g, s->ip)) {
        log_info("event=limit session=%lu ip=%s limit=messages_per_hour_per_ip", s->serial, s->ip);
        smtp_reply(s, "451 4.7.1 Too many messages from your address this hour, try again later");
        return false;
    }
    if (sender_key(s, key, sizeof key) == NULL)
        return true;
    gate_limits_of(g, key, &s->limits);
    if (gate_may_send(g, key, &s->limits) == GATE_SEND_OK)
        return true;
    log_info("event=limit session=%lu sender=%s ip=%s limit=messages_per_hour max=%u", s->serial,
             log_quote(key), s->ip, s->limits.messages);
    smtp_reply(s, "451 4.7.1 Sending limit reached: %s may send %u messages per hour", key,
               s->limits.messages);
    return false;
}

/* in_message_before - is DOMAIN among the first N recipients' domains? */
static bool in_message_before(const struct smtp_session *s, size_t n, const char *domain)
{
    for (size_t i = 0; i < n && i < s->env.n_rcpts; i++)
        if (strcasecmp(domain_of(s->env.rcpts[i].orig), domain) == 0)
            return true;
    return false;
}

/* new_domains_in_message - the message's recipient domains that the
 * sender has not sent to within the hour, each counted once. */
static unsigned new_domains_in_message(const struct smtp_session *s, const char *key)
{
    unsigned n = 0;
    for (size_t i = 0; i < s->env.n_rcpts; i++) {
        const char *d = domain_of(s->env.rcpts[i].orig);
        n += !in_message_before(s, i, d) && gate_domain_is_new(s->srv->gate, key, d);
    }
    return n;
}

bool smtp_limits_rcpt(struct smtp_session *s, const char *domain)
{
    char key[300], d[256];
    if (sender_key(s, key, sizeof key) == NULL)
        return true;
    str_copy(d, domain, sizeof d);
    str_lower(d);
    bool adds_domain = !in_message_before(s, s->env.n_rcpts, d) &&
                       gate_domain_is_new(s->srv->gate, key, d);
    unsigned new_domains = adds_domain ? new_domains_in_message(s, key) + 1 : 0;
    switch (gate_may_add_rcpt(s->srv->gate, key, &s->limits, s->rcpt_count + 1, new_domains)) {
    case GATE_SEND_OK:
    case GATE_SEND_MESSAGES:
        return true;
    case GATE_SEND_RECIPIENTS:
        log_info("event=limit session=%lu sender=%s ip=%s limit=recipients_per_hour max=%u",
                 s->serial, log_quote(key), s->ip, s->limits.recipients);
        smtp_reply(s, "451 4.7.1 Sending limit reached: %s may send to %u recipients per hour",
                   key, s->limits.recipients);
        return false;
    case GATE_SEND_DOMAINS:
        log_info("event=limit session=%lu sender=%s ip=%s limit=domains_per_hour max=%u",
                 s->serial, log_quote(key), s->ip, s->limits.domains);
        smtp_reply(s, "451 4.7.1 Sending limit reached: %s may send to %u domains per hour", key,
                   s->limits.domains);
        return false;
    }
    return true;
}

void smtp_limits_count(struct smtp_session *s)
{
    char key[300];
    const char *domains[ALIAS_TARGETS_MAX];
    size_t n = 0;
    for (size_t i = 0; i < s->env.n_rcpts && n < ALIAS_TARGETS_MAX; i++)
        if (!in_message_before(s, i, domain_of(s->env.rcpts[i].orig)))
            domains[n++] = domain_of(s->env.rcpts[i].orig);
    gate_sent(s->srv->gate, sender_key(s, key, sizeof key), s->ip, s->rcpt_count, domains, n);
}
