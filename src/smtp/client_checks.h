/* smtp/client_checks - the optional checks of client_limits that wait for
 * time or DNS: a greeting delay (a client that talks before the greeting is
 * a spam engine, not a mail server), a reverse name for the client's IP,
 * and a sender domain that exists.  The session waits (SMTP_WAIT_GREETING,
 * SMTP_WAIT_DNS) and carries on when they answer. */
#ifndef FLOODGATE_SMTP_CLIENT_CHECKS_H
#define FLOODGATE_SMTP_CLIENT_CHECKS_H

#include <stdbool.h>

struct smtp_session;

/* smtp_checks_greet - send the 220 now, or after the delay and the reverse
 * lookup the config asks for. */
void smtp_checks_greet(struct smtp_session *s);
/* smtp_checks_early_talker - the client sent something before the 220. */
void smtp_checks_early_talker(struct smtp_session *s);
/* smtp_checks_shutdown - the server stops: end a wait for the greeting. */
void smtp_checks_shutdown(struct smtp_session *s);
/* smtp_checks_sender_domain - should MAIL wait for DNS about DOMAIN?  When
 * true, the lookup runs and smtp_mail_accept (or a refusal) follows. */
bool smtp_checks_sender_domain(struct smtp_session *s, const char *domain);

#endif
