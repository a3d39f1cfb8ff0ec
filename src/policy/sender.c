/* policy/sender - the sender-address rule (room: policy). */
#include "policy/sender.h"

#include <string.h>

enum sender_verdict policy_sender_decide(const struct config_sender_policy *p,
                                         const struct sender_facts *f)
{
    /* The null sender is for bounces and auto-replies (RFC 5321 4.5.5):
     * it names nobody, so there is nothing to own or spoof. */
    if (f->null_sender)
        return SENDER_OK;
    if (f->authenticated) {
        if (f->owned)
            return SENDER_OK;
        return p->mode == SENDER_POLICY_LOG || f->log_only ? SENDER_NOT_OWNED_LOG
                                                           : SENDER_NOT_OWNED;
    }
    if (p->anti_spoofing && f->domain_local && !f->client_trusted)
        return SENDER_SPOOFED;
    return SENDER_OK;
}

bool policy_sender_log_only(const struct config_sender_policy *p, const char *domain)
{
    for (size_t i = 0; i < p->n_log_domains; i++)
        if (strcmp(p->log_domains[i], domain) == 0)
            return true;
    return false;
}
