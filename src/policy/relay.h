/* policy/relay - may this recipient be accepted?  A function of facts the
 * session gathered; no I/O.  The rule (RFC 5321 3.6.2 relaying, and the
 * project's "never an open relay by accident"): mail for a local domain is
 * taken for known recipients only; mail for any other domain only from an
 * authenticated client or one in a relay IP group. */
#ifndef FLOODGATE_POLICY_RELAY_H
#define FLOODGATE_POLICY_RELAY_H

#include <stdbool.h>

struct relay_facts {
    bool domain_local;    /* the recipient's domain is one of ours */
    bool recipient_known; /* a user or alias of that domain */
    bool authenticated;   /* SMTP AUTH succeeded in this session */
    bool client_trusted;  /* client IP is in relay.allow_groups */
    bool address_literal; /* user@[192.0.2.1] */
};

enum relay_verdict {
    RELAY_ACCEPT_LOCAL,   /* 250: deliver here */
    RELAY_ACCEPT_REMOTE,  /* 250: queue for remote delivery */
    RELAY_UNKNOWN_USER,   /* 550 5.1.1 */
    RELAY_DENIED,         /* 554 5.7.1 relay access denied */
    RELAY_LITERAL_DENIED, /* 550 5.7.1 address literals not accepted */
};

enum relay_verdict policy_relay_decide(const struct relay_facts *f);

#endif
