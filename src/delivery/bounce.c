/* delivery/bounce - build DSN messages. */
#include "delivery/bounce.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/util.h"

static int put(struct spool *sp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int put(struct spool *sp, const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    return spool_append(sp, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

char *bounce_status(int code, const char *text, bool transient, char *buf, size_t len)
{
    /* The reply in TEXT ("mx said: 550 5.1.1 ...") carries class.subject.detail
     * right after its code (RFC 3463). */
    char needle[8];
    snprintf(needle, sizeof needle, "%d ", code);
    const char *p = code && text ? strstr(text, needle) : NULL;
    unsigned a, b, c;
    int used = 0;
    if (p && sscanf(p + 4, "%1u.%3u.%3u%n", &a, &b, &c, &used) == 3 && (a == 4 || a == 5) &&
        (p[4 + used] == ' ' || p[4 + used] == '\0')) {
        /* the class is ours to say: failed for good, or still trying */
        snprintf(buf, len, "%d.%u.%u", transient ? 4 : 5, b, c);
        return buf;
    }
    snprintf(buf, len, "%s", transient ? "4.0.0" : code == 0 ? "4.4.7" : "5.0.0");
    return buf;
}

size_t bounce_header_end(const char *msg, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (msg[i] == '\n' &&
            (msg[i + 1] == '\n' || (msg[i + 1] == '\r' && i + 2 < len && msg[i + 2] == '\n')))
            return i + (msg[i + 1] == '\n' ? 2 : 3);
    }
    return len;
}

/* clean - a one-line printable copy of S for a header field. */
static const char *clean(const char *s, char *buf, size_t len)
{
    size_t o = 0;
    for (; s && *s && o + 1 < len; s++)
        buf[o++] = isprint((unsigned char)*s) ? *s : ' ';
    buf[o] = '\0';
    return buf;
}

/* reported - is recipient R part of this report? */
static bool reported(const struct bounce_info *bi, const struct delivery_rcpt *r)
{
    return r->outcome == (bi->delayed ? OUTCOME_DEFERRED : OUTCOME_BOUNCED);
}

static int put_notification(struct spool *sp, const struct bounce_info *bi,
                            const struct delivery_rcpt *r, size_t n, const char *boundary)
{
    char c[DELIVERY_ERROR_MAX];
    int rc = put(sp,
                 "--%s\r\nContent-Description: Notification\r\n"
                 "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
                 "This is the mail system at host %s.\r\n\r\n%s",
                 boundary, bi->hostname,
                 bi->delayed ? "Your message could not be delivered to one or more recipients\r\n"
                               "yet. The mail system keeps trying; you do not need to send it\r\n"
                               "again. The reasons so far:\r\n\r\n"
                             : "Your message could not be delivered to one or more recipients.\r\n"
                               "It is attached below, with the reasons.\r\n\r\n");
    for (size_t i = 0; i < n && rc == 0; i++)
        if (reported(bi, &r[i]))
            rc = put(sp, "<%s>: %s\r\n", r[i].address, clean(r[i].error, c, sizeof c));
    return rc;
}

static int put_report(struct spool *sp, const struct bounce_info *bi, const struct delivery_rcpt *r,
                      size_t n, const char *boundary)
{
    char date[64], status[32], c[DELIVERY_ERROR_MAX];
    int rc = put(sp,
                 "\r\n--%s\r\nContent-Description: Delivery report\r\n"
                 "Content-Type: message/delivery-status\r\n\r\n"
                 "Reporting-MTA: dns; %s\r\nX-Floodgate-Queue-ID: %s\r\n"
                 "Arrival-Date: %s\r\n",
                 boundary, bi->hostname, bi->qid, rfc5322_date(bi->arrival, date, sizeof date));
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (!reported(bi, &r[i]))
            continue;
        rc = put(sp, "\r\nFinal-Recipient: rfc822; %s\r\nAction: %s\r\nStatus: %s\r\n",
                 r[i].address, bi->delayed ? "delayed" : "failed",
                 bounce_status(r[i].code, r[i].error, bi->delayed, status, sizeof status));
        if (rc == 0 && bi->remote_mta && r[i].code != 0)
            rc = put(sp, "Remote-MTA: dns; %s\r\n", bi->remote_mta);
        if (rc == 0)
            rc = put(sp, "Diagnostic-Code: %s; %s\r\n", r[i].code ? "smtp" : "x-floodgate",
                     clean(r[i].error, c, sizeof c));
    }
    return rc;
}

int bounce_build(struct spool *out, const struct bounce_info *bi, const struct delivery_rcpt *r,
                 size_t n, const char *headers, size_t hlen)
{
    char date[64], boundary[128];
    snprintf(boundary, sizeof boundary, "%s.dsn/%s", bi->qid, bi->hostname);
    int rc = put(out,
                 "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n"
                 "To: <%s>\r\nSubject: %s\r\n"
                 "Date: %s\r\nMessage-ID: <%s.%s@%s>\r\nAuto-Submitted: auto-replied\r\n"
                 "MIME-Version: 1.0\r\n"
                 "Content-Type: multipart/report; report-type=delivery-status;\r\n"
                 "\tboundary=\"%s\"\r\n\r\nThis is a MIME-encapsulated message.\r\n\r\n",
                 bi->hostname, bi->sender,
                 bi->delayed ? "Delayed Mail (still being retried)"
                             : "Undelivered Mail Returned to Sender",
                 rfc5322_date(time(NULL), date, sizeof date), bi->qid,
                 bi->delayed ? "delay" : "dsn", bi->hostname, boundary);
    if (rc == 0)
        rc = put_notification(out, bi, r, n, boundary);
    if (rc == 0)
        rc = put_report(out, bi, r, n, boundary);
    if (rc == 0)
        rc = put(out,
                 "\r\n--%s\r\nContent-Description: Headers of your message\r\n"
                 "Content-Type: text/rfc822-headers\r\n\r\n",
                 boundary);
    if (rc == 0 && hlen > 0)
        rc = spool_append(out, headers, hlen > BOUNCE_HEADERS_MAX ? BOUNCE_HEADERS_MAX : hlen);
    if (rc == 0)
        rc = put(out, "\r\n--%s--\r\n", boundary);
    return rc;
}
