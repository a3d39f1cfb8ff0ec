/* smtp/client_checks - greeting delay, reverse DNS and sender-domain
 * checks (room: smtp).
 *
 * A session in one of these waits is never freed under our feet: the
 * session code keeps it (closing) until the wait ends, so each callback
 * finds its session and ends the wait with smtp_session_resume. */
#include "smtp/client_checks.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "delivery/dns.h"
#include "smtp/session_internal.h"

/* greet_step_done - one of the waits before the greeting ended. */
static void greet_step_done(struct smtp_session *s)
{
    if (--s->greet_pending > 0)
        return;
    if (s->greet_timer) {
        event_free(s->greet_timer);
        s->greet_timer = NULL;
    }
    if (!s->closing)
        smtp_reply(s, "220 %s ESMTP Floodgate", s->cfg->hostname);
    smtp_session_resume(s);
}

static void on_greet_timer(evutil_socket_t fd, short what, void *arg)
{
    greet_step_done(arg);
}

static void on_client_ptr(void *arg, enum dns_ptr_status st, const char *name)
{
    struct smtp_session *s = arg;
    struct policy_decision d;
    if (!s->closing) {
        policy_client_ptr(s->srv->policy, &s->origin,
                          st == DNS_PTR_FOUND  ? POLICY_LOOKUP_FOUND
                          : st == DNS_PTR_NONE ? POLICY_LOOKUP_NONE
                                               : POLICY_LOOKUP_TEMPFAIL,
                          &d);
        smtp_reply_decision(s, &d); /* a refusal closes once the wait ends */
    }
    greet_step_done(s);
}

void smtp_checks_greet(struct smtp_session *s)
{
    struct policy_greeting g;
    policy_greeting(s->srv->policy, &s->origin, s->lc->auth == AUTH_MODE_REQUIRED, &g);
    bool ptr = g.reverse_dns && s->srv->dns;
    unsigned delay = g.delay;
    if (!ptr && delay == 0) {
        smtp_reply(s, "220 %s ESMTP Floodgate", s->cfg->hostname);
        return;
    }
    s->wait = SMTP_WAIT_GREETING;
    /* Counted before either starts: a lookup may answer at once. */
    s->greet_pending = 1 + ptr + (delay > 0);
    if (delay > 0) {
        struct timeval tv = {delay, 0};
        if ((s->greet_timer = evtimer_new(s->srv->base, on_greet_timer, s)) == NULL ||
            evtimer_add(s->greet_timer, &tv) < 0)
            s->greet_pending--; /* no memory for the delay: greet without it */
    }
    if (ptr)
        dns_ptr(s->srv->dns, (const struct sockaddr *)&s->origin.sa, on_client_ptr, s);
    greet_step_done(s); /* the extra count taken above */
}

void smtp_checks_early_talker(struct smtp_session *s)
{
    if (s->closing)
        return;
    log_info("event=refused session=%lu ip=%s reason=talked_before_greeting", s->serial,
             s->origin.ip);
    smtp_reply(s, "554 5.5.0 %s SMTP protocol violation: you talked before the greeting",
               s->cfg->hostname);
    s->closing = true;
    smtp_session_reading(s, false);
    if (s->greet_timer && evtimer_pending(s->greet_timer, NULL)) {
        evtimer_del(s->greet_timer);
        greet_step_done(s);
    }
}

void smtp_checks_shutdown(struct smtp_session *s)
{
    if (s->wait != SMTP_WAIT_GREETING || s->closing)
        return;
    smtp_reply(s, "421 4.3.2 %s Service shutting down", s->cfg->hostname);
    s->closing = true;
    smtp_session_reading(s, false);
    if (s->greet_timer && evtimer_pending(s->greet_timer, NULL)) {
        evtimer_del(s->greet_timer);
        greet_step_done(s);
    }
}

static void on_sender_domain(void *arg, enum dns_route_status st, const struct mx_target *t,
                             size_t n, const char *err)
{
    struct smtp_session *s = arg;
    if (s->closing) {
        smtp_session_resume(s);
        return;
    }
    char from[ADDRESS_PATH_MAX + 8];
    struct policy_decision d;
    address_format(&s->txn.mail.from, from, sizeof from);
    policy_sender_domain(s->srv->policy, &s->origin, from,
                         st == DNS_ROUTE_OK         ? POLICY_LOOKUP_FOUND
                         : st == DNS_ROUTE_TEMPFAIL ? POLICY_LOOKUP_TEMPFAIL
                         : st == DNS_ROUTE_NULL_MX  ? POLICY_LOOKUP_NULL_MX
                                                    : POLICY_LOOKUP_NONE,
                         err, &d);
    if (smtp_reply_decision(s, &d))
        smtp_mail_accept(s);
    smtp_session_resume(s);
}

bool smtp_checks_sender_domain(struct smtp_session *s, const char *domain)
{
    if (!policy_sender_domain_wanted(s->srv->policy, &s->origin, domain, s->srv->dns != NULL))
        return false;
    s->wait = SMTP_WAIT_DNS; /* its socket stays readable (session_internal.h) */
    dns_route(s->srv->dns, domain, on_sender_domain, s);
    return true;
}
