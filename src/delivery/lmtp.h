/* delivery/lmtp - local delivery through an LMTP server (RFC 2033), for
 * delivery.local = "lmtp": Dovecot's LMTP stores the message, with its
 * Sieve filters and quotas, in the Maildir Floodgate would have written.
 * A blocking client for a worker thread, one transaction per job: every
 * wait is bounded by the delivery timeouts, every reply line by
 * SMTP_REPLY_LINE_MAX (delivery/client_reply parses them). */
#ifndef FLOODGATE_DELIVERY_LMTP_H
#define FLOODGATE_DELIVERY_LMTP_H

#include <stddef.h>

#include "core/config.h"
#include "delivery/delivery_job.h"
#include "delivery/maildir.h"

/* lmtp_deliver - one LMTP transaction under CFG (delivery.lmtp_socket or
 * lmtp_address, the delivery timeouts, the hostname for LHLO): SENDER
 * ("" for <>), the N recipients R, the message read through READ(CTX).
 * Each recipient gets its outcome, code and text: 2xx delivered, 5xx
 * bounced, anything else (4xx, no answer, no connection) deferred. */
void lmtp_deliver(const struct config *cfg, const char *sender, struct delivery_rcpt *r, size_t n,
                  maildir_read_fn read, void *ctx);

#endif
