/* policy/relay - the relay decision. */
#include "policy/relay.h"

enum relay_verdict policy_relay_decide(const struct relay_facts *f)
{
    /* Address literals bypass MX routing and domain policy: never accepted
     * as recipients, whoever asks. */
    if (f->address_literal)
        return RELAY_LITERAL_DENIED;
    if (f->domain_local)
        return f->recipient_known ? RELAY_ACCEPT_LOCAL : RELAY_UNKNOWN_USER;
    if (f->authenticated || f->client_trusted)
        return RELAY_ACCEPT_REMOTE;
    return RELAY_DENIED;
}
