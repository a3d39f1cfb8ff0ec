/* delivery/lmtp - the LMTP client of local delivery (room: delivery).
 *
 * RFC 2033: the dialogue is SMTP's with LHLO for EHLO, and after the
 * final "." the server answers once per recipient it accepted, in the
 * order of the RCPT commands (4.2): so each recipient's outcome is its
 * own, and a message one mailbox refuses (over quota, a Sieve reject) is
 * still delivered to the others.  Runs on a worker thread and blocks,
 * like the Maildir writes it stands in for; every read and write waits
 * with poll(2) for at most the delivery timeouts.  The server is local
 * (a UNIX socket, or an address the admin chose): no TLS, no AUTH. */
#include "delivery/lmtp.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/util.h"
#include "delivery/client_reply.h"
#include "delivery/outcomes.h"

#define LMTP_IN_MAX (SMTP_REPLY_LINE_MAX + 2) /* one reply line and its CR LF */
#define LMTP_OUT_MAX 65536                    /* body octets gathered per write */

/* One connection to the LMTP server. */
struct lmtp_conn {
    int fd;
    unsigned timeout; /* seconds per wait */
    char in[LMTP_IN_MAX];
    size_t in_len;
    char line[LMTP_IN_MAX];     /* the last line read, without CR LF */
    char out[LMTP_OUT_MAX + 2]; /* "+ 2": a stuffed "." may straddle a flush */
    size_t out_len;
    int failed; /* -1 once the connection failed: nothing more is sent */
    char error[DELIVERY_ERROR_MAX];
};

/* conn_fail - the connection is unusable: note why (the first reason). */
static void conn_fail(struct lmtp_conn *c, const char *fmt, ...)
{
    if (c->failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->error, sizeof c->error, fmt, ap);
    va_end(ap);
    c->failed = -1;
}

/* wait_fd - poll C's socket for EVENTS for at most its timeout. */
static int wait_fd(struct lmtp_conn *c, short events)
{
    struct pollfd p = {.fd = c->fd, .events = events};
    int rc;
    do
        rc = poll(&p, 1, (int)c->timeout * 1000);
    while (rc < 0 && errno == EINTR);
    if (rc == 0)
        errno = ETIMEDOUT;
    return rc > 0 ? 0 : -1;
}

/* send_all - N octets of P, each write within the timeout. */
static void send_all(struct lmtp_conn *c, const char *p, size_t n)
{
    while (!c->failed && n > 0) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w, n -= (size_t)w;
        } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
            conn_fail(c, "lmtp: write: %s", strerror(errno));
        } else if (wait_fd(c, POLLOUT) < 0) {
            conn_fail(c, "lmtp: write: %s", strerror(errno));
        }
    }
}

/* flush - what the body gathered goes out. */
static void flush(struct lmtp_conn *c)
{
    send_all(c, c->out, c->out_len);
    c->out_len = 0;
}

/* emit - a piece of the stuffed body, gathered into bigger writes. */
static void emit(void *arg, const char *piece, size_t len)
{
    struct lmtp_conn *c = arg;
    while (len > 0) {
        size_t room = LMTP_OUT_MAX - c->out_len, k = len < room ? len : room;
        memcpy(c->out + c->out_len, piece, k);
        c->out_len += k, piece += k, len -= k;
        if (c->out_len == LMTP_OUT_MAX)
            flush(c);
    }
}

/* command - one command line (FMT) with its CR LF. */
static void command(struct lmtp_conn *c, const char *fmt, ...)
{
    char line[1100]; /* an RCPT of the longest address, RFC 5321 4.5.3.1 */
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 2, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof line - 2) {
        conn_fail(c, "lmtp: command too long");
        return;
    }
    memcpy(line + n, "\r\n", 2);
    send_all(c, line, (size_t)n + 2);
}

/* read_line - the next reply line, without CR LF, into *LINE (inside C's
 * buffer, valid until the next read); its length, or -1. */
static long read_line(struct lmtp_conn *c, const char **line)
{
    for (;;) {
        char *nl = memchr(c->in, '\n', c->in_len);
        if (nl) {
            size_t len = (size_t)(nl - c->in);
            memcpy(c->line, c->in, len);
            memmove(c->in, nl + 1, c->in_len - len - 1);
            c->in_len -= len + 1;
            if (len > 0 && c->line[len - 1] == '\r')
                len--;
            c->line[len] = '\0';
            *line = c->line;
            return (long)len;
        }
        if (c->in_len == sizeof c->in) {
            conn_fail(c, "lmtp: reply line longer than %d octets", SMTP_REPLY_LINE_MAX);
            return -1;
        }
        ssize_t r = recv(c->fd, c->in + c->in_len, sizeof c->in - c->in_len, 0);
        if (r > 0) {
            c->in_len += (size_t)r;
        } else if (r == 0) {
            conn_fail(c, "lmtp: the server closed the connection");
            return -1;
        } else if ((errno != EAGAIN && errno != EINTR) || wait_fd(c, POLLIN) < 0) {
            conn_fail(c, "lmtp: read: %s", strerror(errno));
            return -1;
        }
    }
}

/* read_reply - the next whole reply into R; its code, or 0 when there
 * was none (the connection failed). */
static int read_reply(struct lmtp_conn *c, struct smtp_reply *r)
{
    memset(r, 0, sizeof *r);
    if (c->failed)
        return 0;
    for (;;) {
        const char *line, *why;
        long len = read_line(c, &line);
        if (len < 0)
            return 0;
        enum reply_status st = reply_feed_line(r, line, (size_t)len, &why);
        if (st == REPLY_DONE)
            return r->code;
        if (st == REPLY_BAD) {
            conn_fail(c, "lmtp: bad reply: %s", why);
            return 0;
        }
    }
}

/* expect - a reply with code CODE to the last command; false (C failed,
 * with the reply as the reason) otherwise. */
static bool expect(struct lmtp_conn *c, int code, const char *after)
{
    struct smtp_reply r;
    int got = read_reply(c, &r);
    if (got == code)
        return true;
    if (got != 0)
        conn_fail(c, "lmtp: %s: %s", after, r.text);
    return false;
}

/* connect_server - a connection to the configured server, within the
 * connect timeout.  -1 with C's error set. */
static int connect_server(struct lmtp_conn *c, const struct config_delivery *d)
{
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    const struct sockaddr *sa = (const struct sockaddr *)&d->lmtp_addr;
    socklen_t len = d->lmtp_addrlen;
    const char *path = d->lmtp_socket ? d->lmtp_socket : DELIVERY_LMTP_SOCKET;
    if (d->lmtp_address == NULL) { /* a relative path is in state_dir, the daemon's cwd */
        if (!str_copy(un.sun_path, path, sizeof un.sun_path)) {
            conn_fail(c, "lmtp: socket path %s is too long", path);
            return -1;
        }
        sa = (const struct sockaddr *)&un;
        len = sizeof un;
    }
    c->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        conn_fail(c, "lmtp: socket: %s", strerror(errno));
        return -1;
    }
    int rc = connect(c->fd, sa, len);
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (rc < 0 && errno == EINPROGRESS &&
        (wait_fd(c, POLLOUT) < 0 || getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0))
        soerr = errno;
    else if (rc < 0 && errno != EINPROGRESS)
        soerr = errno;
    if (soerr) {
        conn_fail(c, "lmtp: cannot connect to %s: %s", d->lmtp_address ? d->lmtp_address : path,
                  strerror(soerr));
        return -1;
    }
    return 0;
}

/* outcome - recipient D's fate from reply R (code 0: none came). */
static void outcome(struct delivery_rcpt *d, int code, const char *text)
{
    d->code = code;
    d->outcome = outcome_of_reply(code);
    snprintf(d->error, sizeof d->error, "%s", text);
}

/* send_body - the message, stuffed, and the final "." line. */
static void send_body(struct lmtp_conn *c, maildir_read_fn read, void *ctx)
{
    char buf[16384];
    bool line_start = true;
    size_t off = 0;
    for (;;) {
        long n = read(ctx, off, buf, sizeof buf);
        if (n < 0) {
            conn_fail(c, "lmtp: cannot read the message from the store");
            return;
        }
        if (n == 0)
            break;
        smtp_dot_stuff(buf, (size_t)n, &line_start, emit, c);
        off += (size_t)n;
    }
    if (!line_start)
        emit(c, "\r\n", 2);
    emit(c, ".\r\n", 3);
    flush(c);
}

/* transaction - MAIL, the RCPTs, DATA and the body; each recipient the
 * server accepted is marked pending in ACCEPTED.  The number accepted. */
static size_t transaction(struct lmtp_conn *c, const struct config *cfg, const char *sender,
                          struct delivery_rcpt *r, size_t n, maildir_read_fn read, void *ctx)
{
    struct smtp_reply rep;
    size_t accepted = 0;
    command(c, "LHLO %s", cfg->hostname);
    if (!expect(c, 250, "LHLO"))
        return 0;
    command(c, "MAIL FROM:<%s>", sender);
    if (!expect(c, 250, "MAIL FROM"))
        return 0;
    for (size_t i = 0; i < n && !c->failed; i++) {
        command(c, "RCPT TO:<%s>", r[i].address);
        int code = read_reply(c, &rep);
        if (code / 100 == 2) {
            r[i].outcome = OUTCOME_PENDING;
            accepted++;
        } else if (code != 0) {
            outcome(&r[i], code, rep.text);
        }
    }
    if (accepted == 0)
        return 0;
    command(c, "DATA");
    if (!expect(c, 354, "DATA"))
        return 0;
    c->timeout = cfg->delivery.data_timeout;
    send_body(c, read, ctx);
    return accepted;
}

void lmtp_deliver(const struct config *cfg, const char *sender, struct delivery_rcpt *r, size_t n,
                  maildir_read_fn read, void *ctx)
{
    struct smtp_reply rep;
    struct lmtp_conn *c = calloc(1, sizeof *c); /* 70 KB of buffers */
    if (c == NULL) {
        for (size_t i = 0; i < n; i++)
            outcome(&r[i], 0, "lmtp: out of memory");
        return;
    }
    c->fd = -1;
    c->timeout = cfg->delivery.connect_timeout;
    for (size_t i = 0; i < n; i++)
        r[i].outcome = OUTCOME_PENDING;
    if (connect_server(c, &cfg->delivery) == 0) {
        c->timeout = cfg->delivery.command_timeout;
        if (expect(c, 220, "greeting") && transaction(c, cfg, sender, r, n, read, ctx) > 0) {
            /* RFC 2033 4.2: one reply per accepted recipient, in order. */
            for (size_t i = 0; i < n; i++) {
                if (r[i].outcome != OUTCOME_PENDING)
                    continue;
                int code = read_reply(c, &rep);
                if (code == 0)
                    break;
                outcome(&r[i], code, rep.text);
            }
        }
        if (!c->failed) {
            c->timeout = cfg->delivery.command_timeout;
            command(c, "QUIT");
            read_reply(c, &rep);
        }
    }
    for (size_t i = 0; i < n; i++) /* no answer for it: try again later */
        if (r[i].outcome == OUTCOME_PENDING)
            outcome(&r[i], 0, c->error[0] ? c->error : "lmtp: no reply");
    if (c->fd >= 0)
        close(c->fd);
    free(c);
}
