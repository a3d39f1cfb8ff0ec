/* delivery/bounce - delivery status notifications (RFC 3464, RFC 3462
 * multipart/report) for recipients that failed for good, sent to the
 * envelope sender - never to the null sender, so bounces cannot loop. */
#ifndef FLOODGATE_DELIVERY_BOUNCE_H
#define FLOODGATE_DELIVERY_BOUNCE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "delivery/delivery_job.h"
#include "queue/spool.h"

#define BOUNCE_HEADERS_MAX 65536 /* octets of the original headers returned */

struct bounce_info {
    const char *hostname; /* Reporting-MTA */
    const char *qid;
    const char *sender; /* who gets the DSN */
    time_t arrival;
    const char *remote_mta; /* NULL for local failures */
    bool delayed;           /* a delay warning (RFC 3464 "delayed") for the
                             * OUTCOME_DEFERRED recipients, not a bounce */
};

/* bounce_build - write the DSN for the recipients of R whose outcome is
 * OUTCOME_BOUNCED (OUTCOME_DEFERRED for a delay warning) into OUT,
 * returning the original HEADERS (HLEN octets).  -1 when the spool fails. */
int bounce_build(struct spool *out, const struct bounce_info *bi, const struct delivery_rcpt *r,
                 size_t n, const char *headers, size_t hlen);

/* bounce_status - the RFC 3463 status of a failure: the enhanced code in
 * TEXT ("550 5.1.1 ..."), else one derived from CODE, into BUF; class 5,
 * or 4 when the failure is TRANSIENT. */
char *bounce_status(int code, const char *text, bool transient, char *buf, size_t len);

/* bounce_header_end - length of the header section of MSG (up to and
 * including the empty line), at most LEN. */
size_t bounce_header_end(const char *msg, size_t len);

#endif
