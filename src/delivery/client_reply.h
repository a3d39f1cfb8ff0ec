/* delivery/client_reply - read the replies of a remote SMTP server (RFC 5321
 * 4.2), one line at a time, with limits on line length and line count so a
 * hostile or broken server cannot make us buffer without end.  Also notes
 * the EHLO keywords we use.  Pure: no sockets. */
#ifndef FLOODGATE_DELIVERY_CLIENT_REPLY_H
#define FLOODGATE_DELIVERY_CLIENT_REPLY_H

#include <stdbool.h>
#include <stddef.h>

#define SMTP_REPLY_LINE_MAX 2048 /* RFC 5321 4.5.3.1.5 says 512; we are lenient */
#define SMTP_REPLY_LINES_MAX 100
#define SMTP_REPLY_TEXT_MAX 512 /* what we keep of the text, for logs and DSNs */

struct ehlo_caps {
    bool starttls, pipelining, eightbitmime, smtputf8, auth_plain, auth_login;
    bool size;
    unsigned long size_max; /* 0: no limit announced */
};

struct smtp_reply {
    int code; /* 3 digits */
    unsigned lines;
    char text[SMTP_REPLY_TEXT_MAX]; /* lines joined by " / ", truncated */
    struct ehlo_caps caps;          /* keywords seen in lines 2.. (EHLO replies) */
};

enum reply_status { REPLY_MORE, REPLY_DONE, REPLY_BAD };

/* reply_feed_line - one line without CR LF.  Returns REPLY_MORE after a
 * continuation line ("250-"), REPLY_DONE after the last ("250 "), and
 * REPLY_BAD for a line that is not a reply, a code that changes between
 * lines, or too many lines; ERR then says which.  Reset R (memset 0)
 * before the first line of each reply. */
enum reply_status reply_feed_line(struct smtp_reply *r, const char *line, size_t len,
                                  const char **err);

/* smtp_dot_stuff - RFC 5321 4.5.2 (and RFC 2033's LMTP): N octets of a
 * message body at P, each line that starts with "." given one more, as
 * pieces to EMIT(ARG, piece, len).  *LINE_START carries, between calls,
 * whether the next octet starts a line (true before the first call). */
void smtp_dot_stuff(const char *p, size_t n, bool *line_start,
                    void (*emit)(void *arg, const char *piece, size_t len), void *arg);

#endif
