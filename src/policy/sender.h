/* policy/sender - may this client use this sender address?  A function of
 * facts the session gathered; no I/O.  The rule: an authenticated user
 * sends only as addresses it owns (its own, aliases that deliver to it,
 * explicit grants) — in the articles the From changes on every spam while
 * the account stays the same, and this stops that; an unauthenticated
 * client outside the trusted groups may not claim one of our domains
 * (anti-spoofing). */
#ifndef FLOODGATE_POLICY_SENDER_H
#define FLOODGATE_POLICY_SENDER_H

#include <stdbool.h>

#include "core/config.h"

struct sender_facts {
    bool null_sender; /* MAIL FROM:<> */
    bool authenticated;
    bool owned;          /* the user may send as the address */
    bool domain_local;   /* the address is in one of our domains */
    bool client_trusted; /* client IP in relay.allow_groups */
    bool log_only;       /* the user's domain is in sender_policy.log_domains */
};

enum sender_verdict {
    SENDER_OK,
    SENDER_NOT_OWNED,     /* 550 5.7.1: not one of the user's addresses */
    SENDER_NOT_OWNED_LOG, /* the same, logged only */
    SENDER_SPOOFED,       /* 550 5.7.1: our domain, but not logged in */
};

enum sender_verdict policy_sender_decide(const struct config_sender_policy *p,
                                         const struct sender_facts *f);

/* policy_sender_log_only - is DOMAIN (lowercased) one of P->log_domains? */
bool policy_sender_log_only(const struct config_sender_policy *p, const char *domain);

#endif
