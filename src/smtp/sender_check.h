/* smtp/sender_check - the session's side of the sender policy and the
 * sending limits: look the facts up, ask src/policy and src/smtp/gate,
 * reply and log.  Shared by commands.c (MAIL, RCPT) and session.c (the
 * header From after DATA, the count after the 250). */
#ifndef FLOODGATE_SMTP_SENDER_CHECK_H
#define FLOODGATE_SMTP_SENDER_CHECK_H

#include <stdbool.h>

struct smtp_session;

/* smtp_sender_check - may the client use ADDRESS ("" for <>) as sender
 * (HEADER: as the From: of the message)?  On refusal the 550 (or 451) is
 * sent and false returned. */
bool smtp_sender_check(struct smtp_session *s, const char *address, bool header);

/* smtp_limits_mail - may the client start a message (per-IP and per-sender
 * hourly limits)?  On refusal the 451 is sent and false returned. */
bool smtp_limits_mail(struct smtp_session *s);
/* smtp_limits_rcpt - may the message get one more recipient in DOMAIN? */
bool smtp_limits_rcpt(struct smtp_session *s, const char *domain);
/* smtp_limits_count - the message was accepted: count it. */
void smtp_limits_count(struct smtp_session *s);

#endif
