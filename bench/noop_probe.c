/* bench/noop_probe - one SMTP session that sends NOOP after NOOP and keeps
 * every reply's latency, for bench/noop_latency.py.
 *
 * Why C: the probe of the first versions was a thread of the Python script
 * that also ran floodctl.  A perf record of the daemon during such a run
 * (sched_switch on every daemon thread, 2026-12-06) showed the event loop
 * asleep in epoll_wait, with nothing to read, for the whole of a NOOP
 * that "waited" 1.7 s: the wait was in the probing process (the
 * interpreter), not in the daemon.  A small C process measures the server
 * and not the client.
 *
 * usage: noop_probe PORT OUTFILE [INTERVAL_US]
 * Connects to 127.0.0.1:PORT, reads the greeting, sends EHLO, then NOOP,
 * waits for its 250, sleeps INTERVAL_US (default 2000) and again, until
 * SIGTERM or SIGINT.  Then it sends QUIT and writes OUTFILE: one line per
 * NOOP, "SEND_TIME LATENCY" in seconds, SEND_TIME on CLOCK_MONOTONIC (the
 * clock of Python's time.perf_counter on Linux), and a last line
 * "reconnects N".  A session the server closes is opened again (the
 * connect is not a sample).  Exit 0, or 1 with a message on stderr when the
 * server cannot be reached or answers NOOP with anything but 250. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define REPLY_MAX 4096        /* one reply line; longer ones are cut */
#define SAMPLES_MAX 10000000u /* 5 hours at one NOOP per 2 ms */

static volatile sig_atomic_t stopping;

struct sample {
    double at, latency;
};

struct conn {
    int fd;
    char buf[REPLY_MAX];
    size_t len;
};

/* on_stop - SIGTERM/SIGINT: finish the NOOP in flight, then stop. */
static void on_stop(int sig)
{
    (void)sig;
    stopping = 1;
}

/* now - CLOCK_MONOTONIC in seconds. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* read_reply - the code of the next complete reply of C (RFC 5321 4.2.1:
 * the last line has a space, not a hyphen, after the code); -1 when the
 * server closed the session or a read failed. */
static int read_reply(struct conn *c)
{
    for (;;) {
        char *eol = memchr(c->buf, '\n', c->len);
        if (eol != NULL) {
            size_t line = (size_t)(eol - c->buf) + 1;
            int last = line < 4 || c->buf[3] != '-';
            int code = line >= 3 ? atoi(c->buf) : 0;
            memmove(c->buf, c->buf + line, c->len - line);
            c->len -= line;
            if (last)
                return code;
            continue;
        }
        if (c->len == sizeof c->buf)
            c->len = 0; /* an over-long line: its end still comes */
        ssize_t n = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
        if (n > 0)
            c->len += (size_t)n;
        else if (n == 0 || errno != EINTR)
            return -1;
    }
}

/* send_all - all of S on C; -1 on failure. */
static int send_all(struct conn *c, const char *s)
{
    size_t len = strlen(s), off = 0;
    while (off < len) {
        ssize_t n = send(c->fd, s + off, len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        off += (size_t)n;
    }
    return 0;
}

/* open_session - C connected to 127.0.0.1:PORT, greeted and EHLO'd. */
static int open_session(struct conn *c, int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    c->len = 0;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        fprintf(stderr, "noop_probe: cannot connect to 127.0.0.1:%d: %s\n", port, strerror(errno));
        return -1;
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int greet = read_reply(c);
    if (greet != 220 || send_all(c, "EHLO noop.bench.test\r\n") < 0 || read_reply(c) != 250) {
        fprintf(stderr, "noop_probe: the server did not greet and answer EHLO with 2xx\n");
        return -1;
    }
    return 0;
}

/* write_samples - S[0..N) and the reconnects into PATH. */
static int write_samples(const char *path, const struct sample *s, size_t n, unsigned reconnects)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "noop_probe: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%.9f %.9f\n", s[i].at, s[i].latency);
    fprintf(f, "reconnects %u\n", reconnects);
    return fclose(f) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: noop_probe PORT OUTFILE [INTERVAL_US]\n");
        return 2;
    }
    int port = atoi(argv[1]);
    long interval_us = argc == 4 ? atol(argv[3]) : 2000;
    struct sigaction sa = {.sa_handler = on_stop};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    struct sample *s = malloc(sizeof *s * 65536);
    size_t n = 0, cap = 65536;
    unsigned reconnects = 0;
    struct conn c;
    if (s == NULL || open_session(&c, port) < 0)
        return 1;
    struct timespec pause = {.tv_sec = interval_us / 1000000,
                             .tv_nsec = (interval_us % 1000000) * 1000};
    while (!stopping && n < SAMPLES_MAX) {
        double t0 = now();
        int code = send_all(&c, "NOOP\r\n") < 0 ? -1 : read_reply(&c);
        double dt = now() - t0;
        if (code < 0) { /* closed by the server: open again, no sample */
            close(c.fd);
            reconnects++;
            if (open_session(&c, port) < 0)
                return 1;
            continue;
        }
        if (code != 250) {
            fprintf(stderr, "noop_probe: NOOP answered %d\n", code);
            return 1;
        }
        if (n == cap) {
            struct sample *more = realloc(s, sizeof *s * cap * 2);
            if (more == NULL)
                break;
            s = more;
            cap *= 2;
        }
        s[n++] = (struct sample){t0, dt};
        nanosleep(&pause, NULL);
    }
    if (send_all(&c, "QUIT\r\n") == 0)
        read_reply(&c);
    close(c.fd);
    int rc = write_samples(argv[2], s, n, reconnects) < 0 ? 1 : 0;
    free(s);
    return rc;
}
