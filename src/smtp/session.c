/* smtp/session - the life of one inbound connection: greeting, reading
 * command lines under their length limits, the DATA phase, the hand-over of
 * the message to the store, STARTTLS, timeouts and closing. */
#include "smtp/session.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/uio.h>
#include <time.h>

#include "core/auth_results.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "store/committer.h"
#include "delivery/scheduler.h"
#include "smtp/client_checks.h"
#include "core/header_scan.h"
#include "smtp/session_internal.h"
#include "smtp/tls.h"

static void session_read_cb(struct bufferevent *bev, void *arg);
static void session_event_cb(struct bufferevent *bev, short what, void *arg);
static void session_sock_read_cb(evutil_socket_t fd, short what, void *arg);
static void deadline_set(struct smtp_session *s, enum smtp_deadline why, uint64_t start,
                         unsigned seconds, uint64_t now);

/* session_link - keep every session on the server's list for shutdown. */
static void session_link(struct smtp_session *s)
{
    s->next = s->srv->sessions;
    if (s->next)
        s->next->prev = s;
    s->srv->sessions = s;
    s->srv->connections++;
    metrics_add("floodgate_smtp_sessions", 1, "listener", s->lc->name, NULL);
}

static void session_unlink(struct smtp_session *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        s->srv->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->srv->connections--;
    metrics_add("floodgate_smtp_sessions", -1, "listener", s->lc->name, NULL);
}

/* drop_lookup - S ends: a store read still running for it will find no
 * session when it comes back (smtp/lookup.c).  Not while its answer is
 * being handled (the lookup is gone then, and the wait ends with it). */
static void drop_lookup(struct smtp_session *s)
{
    if (s->wait == SMTP_WAIT_LOOKUP && s->lookup)
        smtp_lookup_cancel(s);
}

/* ---- replies of plain-TCP sessions: written at the end of the turn ----
 *
 * libevent writes a bufferevent's output only after epoll has said the
 * socket is writable: each reply would cost two epoll_ctl calls (EPOLLOUT
 * on, then off) and one more pass of the loop.  A reply to a client that
 * waits for it is written straight away instead (one writev once the
 * callbacks of this turn have run, so pipelined commands still get their
 * replies in one write); only what the socket does not take is left to
 * the bufferevent. */

/* session_bound_input - what a session keeps of its client's input is
 * bounded (SMTP_INPUT_MAX): the socket stays readable while the session
 * waits, and libevent stops reading by itself only when that much is
 * waiting.  A TLS filter's own buffer counts: when it is full the filter
 * stops reading the socket below it. */
static void session_bound_input(struct bufferevent *bev)
{
    bufferevent_setwatermark(bev, EV_READ, 0, SMTP_INPUT_MAX);
}

void smtp_session_reading(struct smtp_session *s, bool on)
{
    if (s->rd == NULL) {
        if (on)
            bufferevent_enable(s->bev, EV_READ);
        else
            bufferevent_disable(s->bev, EV_READ);
    } else if (on) {
        event_add(s->rd, NULL);
    } else {
        event_del(s->rd);
    }
}

/* session_io_off - nothing more is read or written: the client is gone, or
 * the daemon is. */
static void session_io_off(struct smtp_session *s)
{
    smtp_session_reading(s, false);
    bufferevent_disable(s->bev, EV_READ | EV_WRITE);
}

/* session_write_later - the bufferevent of a plain-TCP session writes
 * only when it has to: EV_WRITE is enabled the first time something is
 * left to it (with data queued: enabling it on an empty output would cost
 * an EPOLLOUT on and off for nothing, as it did for every connection). */
static void session_write_later(struct smtp_session *s)
{
    if (!(bufferevent_get_enabled(s->bev) & EV_WRITE))
        bufferevent_enable(s->bev, EV_WRITE);
}

void smtp_session_flush(struct smtp_session *s)
{
    if (s->out == NULL || evbuffer_get_length(s->out) == 0)
        return;
    struct evbuffer *queued = bufferevent_get_output(s->bev);
    /* What is already queued goes first; a failed write (EAGAIN, or a
     * broken connection that the bufferevent then reports to
     * session_event_cb) leaves the rest to the bufferevent as well. */
    if (evbuffer_get_length(queued) == 0 && !s->peer_gone)
        (void)evbuffer_write(s->out, bufferevent_getfd(s->bev));
    if (evbuffer_get_length(s->out) > 0) {
        evbuffer_add_buffer(queued, s->out);
        session_write_later(s);
    }
}

static void session_drained(struct smtp_session *s);

/* session_flush_cb - the end of the turn: write.  A closing session whose
 * last reply went out at once ends here, never inside the command that
 * closed it (its caller still holds it). */
static void session_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    struct smtp_session *s = arg;
    smtp_session_flush(s);
    if (s->draining && evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
        session_drained(s);
}

struct evbuffer *smtp_session_output(struct smtp_session *s)
{
    if (s->out == NULL)
        return bufferevent_get_output(s->bev);
    if (s->closing) { /* the close path watches the bufferevent drain */
        evbuffer_add_buffer(bufferevent_get_output(s->bev), s->out);
        session_write_later(s);
        return bufferevent_get_output(s->bev);
    }
    if (evbuffer_get_length(s->out) == 0)
        event_active(s->flush, 0, 0);
    return s->out;
}

/* session_drop_output - the session's own buffer goes (at the end, or
 * before STARTTLS: from then on the TLS bufferevent writes). */
static void session_drop_output(struct smtp_session *s)
{
    if (s->flush)
        event_free(s->flush);
    if (s->out)
        evbuffer_free(s->out);
    s->flush = NULL;
    s->out = NULL;
}

static void session_free(struct smtp_session *s)
{
    drop_lookup(s);
    log_info("event=disconnect session=%lu ip=%s errors=%u", s->serial, s->origin.ip, s->errors);
    if (s->policy_counted)
        policy_disconnect(s->srv->policy, &s->origin);
    session_unlink(s);
    if (s->timer)
        event_free(s->timer);
    session_drop_output(s);
    if (s->rd)
        event_free(s->rd); /* before the descriptor closes */
    bufferevent_free(s->bev);
    envelope_clear(&s->txn.env);
    free(s->txn.env.rcpts);
    spool_free(&s->txn.spool);
    policy_txn_reset(&s->txn.policy);
    free(s->txn.rcpt_list);
    free(s->txn.rcpt_orig_local);
    origin_clear(&s->origin);
    config_unref(s->cfg);
    free(s);
}

/* session_drained - the last reply has left our buffer.  Under STARTTLS it
 * may still sit, encrypted, in the socket stream below the TLS filter:
 * wait for that to empty too (polled on the session's own timer, which
 * goes with the session), or the client never sees our 221. */
static void session_drained(struct smtp_session *s)
{
    struct bufferevent *under = bufferevent_get_underlying(s->bev);
    if (under && evbuffer_get_length(bufferevent_get_output(under)) > 0 && s->close_polls++ < 200) {
        struct timeval tv = {0, 10000};
        s->deadline_why = SMTP_DEADLINE_CLOSE;
        s->deadline = s->timer_at = now_ms() + 10;
        evtimer_add(s->timer, &tv);
        return;
    }
    session_free(s);
}

static void session_write_cb(struct bufferevent *bev, void *arg)
{
    session_drained(arg);
}

/* closing_event_cb - the peer went away while we were closing.  A TLS
 * handshake that completes now is no such news: it opens the channel the
 * last reply (a refusal's 421) waits for, and session_write_cb frees the
 * session once that reply has left. */
static void closing_event_cb(struct bufferevent *bev, short what, void *arg)
{
    if (what == BEV_EVENT_CONNECTED)
        return;
    session_free(arg);
}

/* smtp_session_close - flush the last reply, then free.  A client that
 * already hung up (or whose connection failed) while we waited reads
 * nothing more: its session is freed at once.  Waiting for that output to
 * drain, with writing turned off, was the session that never ended. */
void smtp_session_close(struct smtp_session *s)
{
    s->closing = true;
    s->state = SMTP_STATE_QUIT;
    smtp_session_reading(s, false);
    drop_lookup(s);
    if (s->wait != SMTP_WAIT_NONE)
        return; /* freed when the store or auth answer comes back */
    if (s->peer_gone) {
        session_free(s);
        return;
    }
    /* From here on only the drain and the peer's going matter; the drain
     * poll (TLS) must not race a free by session_event_cb. */
    bufferevent_setcb(s->bev, NULL, session_write_cb, closing_event_cb, s);
    s->draining = true;
    size_t unwritten = evbuffer_get_length(bufferevent_get_output(s->bev));
    if (s->out)
        unwritten += evbuffer_get_length(s->out); /* session_flush_cb writes it */
    if (unwritten == 0) {
        session_drained(s);
        return;
    }
    /* A client that does not read our last reply is not waited for.  One
     * still in its TLS handshake (refused before it finished) keeps the
     * handshake's shorter deadline: a flood of refused handshakes must not
     * hold server slots for command_timeout. */
    if (s->deadline_why == SMTP_DEADLINE_TLS)
        return;
    uint64_t now = now_ms();
    deadline_set(s, SMTP_DEADLINE_CLOSE, now, s->cfg->limits.command_timeout, now);
}

/* ---- deadlines: one timer per session ----
 *
 * As Postfix's smtpd_per_record_deadline: a timeout bounds a whole record
 * (a command line, a DATA line, a TLS handshake), not each read, so a
 * client dripping one octet every few seconds is cut off all the same.
 * DATA as a whole earns time with its octets (smtpd_min_data_rate). */

static const char *const deadline_names[] = {
    [SMTP_DEADLINE_NONE] = "none",           [SMTP_DEADLINE_IDLE] = "command",
    [SMTP_DEADLINE_COMMAND] = "command",     [SMTP_DEADLINE_DATA] = "data",
    [SMTP_DEADLINE_DATA_RATE] = "data_rate", [SMTP_DEADLINE_TLS] = "tls_handshake",
    [SMTP_DEADLINE_CLOSE] = "close",
};

static void deadline_arm(struct smtp_session *s, uint64_t now)
{
    uint64_t ms = s->deadline > now ? s->deadline - now : 0;
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    s->timer_at = s->deadline;
    evtimer_add(s->timer, &tv);
}

/* deadline_set - the session must get past WHY within SECONDS from START
 * (monotonic ms).  A deadline that moves later costs nothing here: the
 * timer keeps its earlier time and re-arms itself when it fires, so the
 * many reads that push a deadline on do no timer work. */
static void deadline_set(struct smtp_session *s, enum smtp_deadline why, uint64_t start,
                         unsigned seconds, uint64_t now)
{
    s->deadline_why = why;
    s->deadline = start + (uint64_t)seconds * 1000;
    if (s->timer_at == 0 || s->deadline < s->timer_at)
        deadline_arm(s, now);
}

void smtp_session_wait_deadline(struct smtp_session *s)
{
    uint64_t now = now_ms();
    s->record_start = 0;
    deadline_set(s, SMTP_DEADLINE_COMMAND, now, s->cfg->limits.command_timeout, now);
}

/* deadline_expired - say why where a reply can still be read, then close.
 * In a TLS handshake or while closing nothing more can be said. */
static void deadline_expired(struct smtp_session *s)
{
    log_info("event=timeout session=%lu ip=%s reason=%s", s->serial, s->origin.ip,
             deadline_names[s->deadline_why]);
    bool mute = s->closing || s->deadline_why == SMTP_DEADLINE_TLS;
    s->deadline_why = SMTP_DEADLINE_NONE;
    s->deadline = 0;
    if (!mute) {
        smtp_reply(s, "421 4.4.2 %s Timeout, closing connection", s->cfg->hostname);
        smtp_session_close(s);
        return;
    }
    s->closing = true;
    drop_lookup(s);
    if (s->wait != SMTP_WAIT_NONE) { /* freed when the pending answer comes back */
        s->peer_gone = true;
        session_io_off(s);
        return;
    }
    session_free(s);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    struct smtp_session *s = arg;
    s->timer_at = 0;
    /* The store, a worker or DNS answers in its own time; the session goes
     * on from smtp_session_resume with a fresh deadline.  A store read
     * (lookup) does not stop the clock: a store that hangs must not hold
     * the session past its command deadline. */
    bool waiting =
        s->wait != SMTP_WAIT_NONE && s->wait != SMTP_WAIT_GREETING && s->wait != SMTP_WAIT_LOOKUP;
    if (s->deadline == 0 || waiting)
        return;
    if (s->close_polls > 0) {
        session_drained(s);
        return;
    }
    uint64_t now = now_ms();
    if (now < s->deadline)
        deadline_arm(s, now);
    else
        deadline_expired(s);
}

/* deadline_after_commands - reading commands: the open line (if any) has
 * command_timeout from its first octet, a client between commands as long
 * from now. */
static void deadline_after_commands(struct smtp_session *s, struct evbuffer *in, uint64_t now)
{
    unsigned t = s->cfg->limits.command_timeout;
    if (evbuffer_get_length(in) == 0 && !s->skipping) {
        s->record_start = 0;
        deadline_set(s, SMTP_DEADLINE_IDLE, now, t, now);
        return;
    }
    if (s->record_start == 0)
        s->record_start = now;
    deadline_set(s, SMTP_DEADLINE_COMMAND, s->record_start, t, now);
}

/* data_progress - DATA took USED octets of CHUNK: a line still open keeps
 * the time of its first octet, and the octets earn time at
 * limits.min_data_rate, never more than data_timeout ahead (Postfix's
 * smtpd_min_data_rate, with data_timeout as its smtpd_timeout). */
static void data_progress(struct smtp_session *s, const char *chunk, size_t used, uint64_t now)
{
    const struct config_limits *l = &s->cfg->limits;
    if (used == 0)
        return;
    if (chunk[used - 1] == '\n')
        s->record_start = 0;
    else if (s->record_start == 0 || memchr(chunk, '\n', used) != NULL)
        s->record_start = now;
    uint64_t cap = now + (uint64_t)l->data_timeout * 1000;
    uint64_t earned =
        l->min_data_rate ? s->data_allowed + (uint64_t)used * 1000 / l->min_data_rate : cap;
    s->data_allowed = earned < cap ? earned : cap;
}

/* deadline_in_data - the earlier of the open line's deadline and the
 * time DATA has earned; named for the rate only when the rate binds. */
static void deadline_in_data(struct smtp_session *s, uint64_t now)
{
    const struct config_limits *l = &s->cfg->limits;
    uint64_t line_end = s->record_start + (uint64_t)l->data_timeout * 1000;
    bool rate_binds = l->min_data_rate && s->data_allowed < now + (uint64_t)l->data_timeout * 1000;
    if (s->record_start != 0 && line_end <= s->data_allowed)
        deadline_set(s, SMTP_DEADLINE_DATA, s->record_start, l->data_timeout, now);
    else
        deadline_set(s, rate_binds ? SMTP_DEADLINE_DATA_RATE : SMTP_DEADLINE_DATA, s->data_allowed,
                     0, now);
}

void smtp_session_note_failure(struct smtp_session *s, const char *what)
{
    struct policy_decision d;
    if (s->closing)
        return;
    policy_failure(s->srv->policy, &s->origin, what, &d);
    smtp_reply_decision(s, &d);
}

/* ---- the engine's hands on live sessions ---- */

/* session_end_cb - the engine ends S (a ban, floodctl session kill, a
 * suspended account): TEXT, a 421, where it can be read, then close.  A
 * session waiting for the store, a worker or DNS gets its answer first
 * and TEXT right after it; one in DATA loses that message, which its
 * client still holds (RFC 5321 3.8). */
static void session_end_cb(void *ctx, void *handle, const char *text, const char *reason)
{
    struct smtp_session *s = handle;
    if (s->closing)
        return;
    log_info("event=session_end session=%lu ip=%s user=%s reason=%s", s->serial, s->origin.ip,
             log_quote(s->origin.auth_user), reason);
    drop_lookup(s); /* a store read is not waited for: it ends now */
    if (s->wait != SMTP_WAIT_NONE && s->wait != SMTP_WAIT_GREETING) {
        str_copy(s->end_text, text, sizeof s->end_text);
        return;
    }
    if (s->state == SMTP_STATE_TLS) { /* mid-handshake: there is no channel for a 421 */
        s->peer_gone = true;
        smtp_session_close(s);
        return;
    }
    if (s->state == SMTP_STATE_BODY) {
        log_info("event=data_aborted session=%lu ip=%s reason=%s", s->serial, s->origin.ip, reason);
        smtp_session_reset_transaction(s);
    }
    smtp_reply_why(s, reason, "%s", text);
    smtp_session_close(s);
}

/* session_state_cb - one word for floodctl session list. */
static const char *session_state_cb(void *ctx, const void *handle)
{
    static const char *const waits[] = {
        [SMTP_WAIT_NONE] = NULL,   [SMTP_WAIT_STORE] = "storing",
        [SMTP_WAIT_AUTH] = "auth", [SMTP_WAIT_GREETING] = "greeting",
        [SMTP_WAIT_DNS] = "dns",   [SMTP_WAIT_LOOKUP] = "lookup"};
    static const char *const states[] = {[SMTP_STATE_CONNECTED] = "connected",
                                         [SMTP_STATE_HELO] = "ready",
                                         [SMTP_STATE_MAIL] = "envelope",
                                         [SMTP_STATE_RCPT] = "envelope",
                                         [SMTP_STATE_BODY] = "data",
                                         [SMTP_STATE_AUTH] = "auth",
                                         [SMTP_STATE_TLS] = "tls",
                                         [SMTP_STATE_QUIT] = "closing"};
    const struct smtp_session *s = handle;
    if (s->closing)
        return "closing";
    return waits[s->wait] ? waits[s->wait] : states[s->state];
}

/* session_banned_cb - logins of a banned IP still waiting are dropped. */
static void session_banned_cb(void *ctx, const char *ip)
{
    smtp_auth_drop_ip(ctx, ip);
}

void smtp_session_register(struct smtp_server *srv)
{
    struct policy_session_ops ops = {
        .ctx = srv, .end = session_end_cb, .state = session_state_cb, .banned = session_banned_cb};
    policy_set_session_ops(srv->policy, &ops);
    smtp_reply_declare_metrics();
    metrics_declare("floodgate_smtp_connections_total", METRIC_COUNTER,
                    "SMTP connections accepted, by listener.");
    metrics_declare("floodgate_smtp_sessions", METRIC_GAUGE,
                    "SMTP sessions open now, by listener.");
    metrics_declare("floodgate_messages_accepted_total", METRIC_COUNTER,
                    "Messages answered 250 at the end of DATA, by listener and whether the "
                    "client had logged in (authenticated=\"true\"/\"false\").");
    metrics_declare("floodgate_acceptance_duration_seconds", METRIC_HISTOGRAM,
                    "From the end of a message's DATA to its 250: the policy's checks and the "
                    "store's commit.");
}

void smtp_session_reset_transaction(struct smtp_session *s)
{
    envelope_clear(&s->txn.env);
    spool_reset(&s->txn.spool);
    memset(&s->txn.mail, 0, sizeof s->txn.mail);
    s->txn.rcpt_count = 0;
    policy_txn_reset(&s->txn.policy);
    free(s->txn.rcpt_list);
    s->txn.rcpt_list = NULL;
    free(s->txn.rcpt_orig_local);
    s->txn.rcpt_orig_local = NULL;
    s->txn.from_name[0] = '\0';
    s->txn.report_type[0] = '\0';
    s->txn.auto_submitted[0] = '\0';
    s->txn.failed_recipients = false;
    if (s->txn.inbound.wanted) /* else never written: zero (kilobytes) */
        memset(&s->txn.inbound, 0, sizeof s->txn.inbound);
    if (s->state == SMTP_STATE_MAIL || s->state == SMTP_STATE_RCPT || s->state == SMTP_STATE_BODY)
        s->state = SMTP_STATE_HELO;
}

static bool too_many_errors(struct smtp_session *s)
{
    if (s->errors < s->cfg->limits.max_errors || s->origin.exempt)
        return false;
    struct policy_decision d; /* a session that failed as a whole; its own 421 follows */
    policy_failure(s->srv->policy, &s->origin, "command", &d);
    smtp_reply(s, "421 4.7.0 %s Too many errors, closing connection", s->cfg->hostname);
    smtp_session_close(s);
    return true;
}

/* line_limit - RFC 5321 4.5.3.1.4 gives 512 octets; RFC 4954 4 lets an
 * AUTH command or response run to 12288. */
static size_t line_limit(struct smtp_session *s, struct evbuffer *in)
{
    if (s->state == SMTP_STATE_AUTH)
        return SMTP_AUTH_LINE_MAX;
    char head[5];
    if (evbuffer_copyout(in, head, 5) == 5 && strncasecmp(head, "AUTH ", 5) == 0)
        return SMTP_AUTH_LINE_MAX;
    return SMTP_LINE_MAX;
}

/* take_line - the next complete command line without its CR LF, into LINE.
 * Returns its length, -1 when there is no complete line yet, or -2 when the
 * line was refused (and answered).  An over-long line is skipped to its end,
 * never cut, so the client and we stay in step (as Postfix's smtpd_chat). */
static long take_line(struct smtp_session *s, struct evbuffer *in, char *line)
{
    size_t limit = line_limit(s, in);
    struct evbuffer_ptr lf = evbuffer_search(in, "\n", 1, NULL);
    if (lf.pos < 0) {
        size_t have = evbuffer_get_length(in);
        if (have > limit || s->skipping) {
            s->skipping = true;
            evbuffer_drain(in, have);
        }
        return -1;
    }
    size_t len = (size_t)lf.pos + 1;
    if (s->skipping || len > limit) {
        s->skipping = false;
        evbuffer_drain(in, len);
        if (s->state == SMTP_STATE_AUTH)
            smtp_auth_refuse(s, AUTH_DECODE_TOO_LONG);
        else
            smtp_reply(s, "500 5.5.2 Line too long (limit %zu octets)", limit);
        return -2;
    }
    evbuffer_remove(in, line, len);
    /* RFC 5321 2.3.8: lines end in CR LF; a bare LF or CR is not one. */
    if (len < 2 || line[len - 2] != '\r') {
        if (s->state == SMTP_STATE_AUTH)
            smtp_auth_refuse(s, AUTH_DECODE_BAD_BASE64);
        else
            smtp_reply(s, "500 5.5.2 Bare LF in command; lines must end with CR LF");
        return -2;
    }
    len -= 2;
    line[len] = '\0';
    if (memchr(line, '\r', len) || memchr(line, '\0', len)) {
        if (s->state == SMTP_STATE_AUTH)
            smtp_auth_refuse(s, AUTH_DECODE_BAD_BASE64);
        else
            smtp_reply(s, "500 5.5.2 Bare CR or NUL in command");
        return -2;
    }
    return (long)len;
}

static void read_commands(struct smtp_session *s, struct evbuffer *in)
{
    static char line[SMTP_AUTH_LINE_MAX + 1];
    while (!s->closing && s->wait == SMTP_WAIT_NONE && s->state != SMTP_STATE_BODY &&
           s->state != SMTP_STATE_TLS) {
        long len = take_line(s, in, line);
        if (len == -1)
            return;
        s->record_start = 0; /* a line ended: the next one has its own deadline */
        if (len >= 0) {
            if (s->state == SMTP_STATE_AUTH)
                smtp_auth_continue(s, line, (size_t)len);
            else
                smtp_commands_dispatch(s, line, (size_t)len);
        }
        if (too_many_errors(s))
            return;
    }
}

static void spool_emit(void *ctx, const char *p, size_t n)
{
    struct smtp_session *s = ctx;
    spool_append(&s->txn.spool, p, n);
    if (s->txn.inbound.wanted)
        header_watch_feed(&s->txn.hwatch, p, n);
}

void smtp_session_begin_data(struct smtp_session *s)
{
    s->state = SMTP_STATE_BODY;
    spool_reset(&s->txn.spool);
    header_watch_init(&s->txn.hwatch, s->cfg->inbound.authserv_id);
    data_reader_init(&s->txn.data, s->cfg->limits.bare_lf, s->cfg->limits.max_message_size,
                     spool_emit, s);
    uint64_t now = now_ms();
    s->record_start = 0;
    s->data_allowed = now + (uint64_t)s->cfg->limits.data_timeout * 1000;
    deadline_in_data(s, now);
    smtp_reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

static void finish_data(struct smtp_session *s);

/* read_data - feed the DATA decoder straight from libevent's buffers. */
static void read_data(struct smtp_session *s, struct evbuffer *in, uint64_t now)
{
    while (s->state == SMTP_STATE_BODY && evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            return;
        size_t used = data_reader_feed(&s->txn.data, v.iov_base, v.iov_len);
        data_progress(s, v.iov_base, used, now);
        evbuffer_drain(in, used);
        if (s->txn.data.done)
            finish_data(s);
    }
}

/* input_waits - S waits (for the store, a lookup, DNS, a worker) and its
 * client sent more: it stays in the buffer, read once the wait ends.
 * Once SMTP_INPUT_MAX is there, reading stops (a plain session's own read
 * takes no more than that; libevent's watermark stops a TLS one) and is
 * turned off too, or the socket (or, under TLS, libevent for the full
 * buffer: bufferevent_inbuf_wm_check) would call us again and again; it
 * is turned back on when the wait ends. */
static void input_waits(struct smtp_session *s, struct evbuffer *in)
{
    if (evbuffer_get_length(in) >= SMTP_INPUT_MAX && !s->input_full) {
        s->input_full = true;
        smtp_session_reading(s, false);
    }
}

static void session_read_cb(struct bufferevent *bev, void *arg)
{
    struct smtp_session *s = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    if (s->wait == SMTP_WAIT_GREETING && evbuffer_get_length(in) > 0) {
        smtp_checks_early_talker(s);
        return;
    }
    if (s->wait != SMTP_WAIT_NONE) {
        input_waits(s, in);
        return;
    }
    uint64_t now = now_ms();
    while (!s->closing && s->wait == SMTP_WAIT_NONE && evbuffer_get_length(in) > 0) {
        size_t before = evbuffer_get_length(in);
        enum smtp_state state = s->state;
        if (s->state == SMTP_STATE_BODY)
            read_data(s, in, now);
        else
            read_commands(s, in);
        if (evbuffer_get_length(in) == before && s->state == state)
            break; /* waiting for more input */
    }
    if (s->closing)
        return;
    if (s->wait != SMTP_WAIT_NONE) {
        input_waits(s, in);
        return; /* its own deadline (or none) */
    }
    if (s->peer_eof) {
        /* the client left during a wait, and all it sent before is
         * answered: the replies go out, then the session ends */
        smtp_session_close(s);
        return;
    }
    if (s->state == SMTP_STATE_TLS)
        return; /* the handshake's deadline */
    if (s->state == SMTP_STATE_BODY)
        deadline_in_data(s, now);
    else
        deadline_after_commands(s, in, now);
}

void smtp_session_resume(struct smtp_session *s)
{
    s->wait = SMTP_WAIT_NONE;
    if (s->closing) {
        smtp_session_close(s);
        return;
    }
    if (s->srv->stopping) {
        smtp_reply(s, "421 4.3.2 %s Service shutting down", s->cfg->hostname);
        smtp_session_close(s);
        return;
    }
    if (s->end_text[0]) { /* the engine ended it while it waited */
        smtp_reply(s, "%s", s->end_text);
        smtp_session_close(s);
        return;
    }
    if (s->input_full && !s->peer_eof) { /* the flood's pause ends */
        s->input_full = false;
        smtp_session_reading(s, true);
    }
    session_read_cb(s->bev, s); /* sets the deadline for what comes next */
}

/* ---- the end of DATA and the hand-over to the store ---- */

static const char *protocol_name(const struct smtp_session *s)
{
    /* RFC 3848: ESMTP, plus S for TLS and A for AUTH. */
    static const char *names[2][2][2] = {{{"SMTP", "SMTP"}, {"SMTP", "SMTP"}},
                                         {{"ESMTP", "ESMTPA"}, {"ESMTPS", "ESMTPSA"}}};
    return names[s->esmtp][s->origin.tls][s->origin.auth_user != NULL];
}

/* build_trace - the Received: header (RFC 5321 4.4).  The AUTH user is
 * named only when the config asks for it: it is in the envelope anyway. */
static char *build_trace(struct smtp_session *s)
{
    char date[64], tls[192] = "", auth[320] = "", rcpt[300] = "";
    rfc5322_date(s->txn.env.created, date, sizeof date);
    if (s->origin.tls)
        snprintf(tls, sizeof tls, "\r\n\t(using %s)", s->origin.tls_info);
    if (s->origin.auth_user && s->cfg->disclose_auth_user)
        snprintf(auth, sizeof auth, "\r\n\t(authenticated as %s)", s->origin.auth_user);
    if (s->txn.env.n_rcpts == 1)
        snprintf(rcpt, sizeof rcpt, "\r\n\tfor <%s>", s->txn.env.rcpts[0].orig);
    char *trace = NULL;
    if (asprintf(&trace,
                 "Received: from %s ([%s])%s%s\r\n\tby %s (Floodgate) with %s id %s%s;\r\n\t%s\r\n",
                 s->origin.helo[0] ? s->origin.helo : "unknown", s->origin.ip, tls, auth,
                 s->cfg->hostname, protocol_name(s), s->txn.env.id, rcpt, date) < 0)
        return NULL;
    return trace;
}

static char *dup_or_null(const char *v)
{
    return v && *v ? strdup(v) : NULL;
}

static void fill_envelope(struct smtp_session *s)
{
    struct header_facts facts;
    header_scan(s->txn.spool.mem, s->txn.spool.mem_len, &facts);
    queue_id_new(s->txn.env.id);
    s->txn.env.created = time(NULL);
    s->txn.env.auth_user = dup_or_null(s->origin.auth_user);
    s->txn.env.auth_app_password = dup_or_null(s->origin.app_password);
    s->txn.env.client_ip = strdup(s->origin.ip);
    s->txn.env.client_port = s->origin.port;
    s->txn.env.helo = dup_or_null(s->origin.helo);
    s->txn.env.tls = s->origin.tls ? strdup(s->origin.tls_info) : NULL;
    s->txn.env.listener = strdup(s->lc->name);
    s->txn.env.header_from = dup_or_null(facts.from);
    str_copy(s->txn.from_name, facts.from_name, sizeof s->txn.from_name);
    str_copy(s->txn.report_type, facts.report_type, sizeof s->txn.report_type);
    str_copy(s->txn.auto_submitted, facts.auto_submitted, sizeof s->txn.auto_submitted);
    s->txn.failed_recipients = facts.failed_recipients;
    s->txn.env.subject = dup_or_null(facts.subject);
    s->txn.env.message_id = dup_or_null(facts.message_id);
    s->txn.env.trace = build_trace(s);
    s->txn.env.body = &s->txn.spool;
}

/* rcpt_lists - the envelope's addresses, then each RCPT TO address once
 * (an alias expanded to many targets is one), with whether it is ours:
 * local, or an alias (its targets differ from what the sender wrote). */
static size_t rcpt_lists(struct smtp_session *s)
{
    const struct envelope *e = &s->txn.env;
    size_t n = 0;
    if (e->n_rcpts == 0 ||
        (s->txn.rcpt_list = calloc(2 * e->n_rcpts, sizeof *s->txn.rcpt_list)) == NULL ||
        (s->txn.rcpt_orig_local = calloc(e->n_rcpts, sizeof *s->txn.rcpt_orig_local)) == NULL) {
        free(s->txn.rcpt_list);
        s->txn.rcpt_list = NULL;
        return 0;
    }
    const char **orig = s->txn.rcpt_list + e->n_rcpts;
    for (size_t i = 0; i < e->n_rcpts; i++) {
        const struct envelope_rcpt *r = &e->rcpts[i];
        bool ours = r->local || strcasecmp(r->orig, r->address) != 0;
        s->txn.rcpt_list[i] = r->address;
        /* the targets of one RCPT are consecutive (an alias of 10,000
         * is one RCPT): comparing with the last one is enough */
        if (n == 0 || strcasecmp(orig[n - 1], r->orig) != 0)
            orig[n++] = r->orig;
        s->txn.rcpt_orig_local[n - 1] |= ours;
    }
    return n;
}

/* message_facts - the message as the engine's hooks see it. */
static void message_facts(struct smtp_session *s, struct policy_message *m)
{
    const struct envelope *e = &s->txn.env;
    size_t n_orig = 0;
    if (s->txn.rcpt_list == NULL)
        n_orig = rcpt_lists(s);
    else
        for (size_t i = e->n_rcpts; i < 2 * e->n_rcpts && s->txn.rcpt_list[i]; i++)
            n_orig++;
    *m = (struct policy_message){.queue_id = e->id,
                                 .sender = e->sender ? e->sender : "",
                                 .rcpts = s->txn.rcpt_list,
                                 .n_rcpts = s->txn.rcpt_list ? e->n_rcpts : 0,
                                 .header_from = e->header_from,
                                 .subject = e->subject,
                                 .size = envelope_size(e),
                                 .held = e->held,
                                 .rcpt_orig =
                                     s->txn.rcpt_list ? s->txn.rcpt_list + e->n_rcpts : NULL,
                                 .rcpt_orig_local = s->txn.rcpt_orig_local,
                                 .n_rcpt_orig = n_orig,
                                 .from_name = s->txn.from_name,
                                 .report_type = s->txn.report_type,
                                 .auto_submitted = s->txn.auto_submitted,
                                 .failed_recipients = s->txn.failed_recipients,
                                 .body = s->txn.spool.mem,
                                 .body_len = s->txn.spool.mem_len};
}

static int store_apply(store_db *db, void *arg, char *err, size_t errlen)
{
    struct smtp_session *s = arg;
#ifdef FLOODGATE_FAULT_INJECTION
    smtp_fault_held(SMTP_HOLD_COMMIT);
#endif
    return envelope_store(db, &s->txn.env, err, errlen);
}

static void log_accepted(struct smtp_session *s)
{
    char rcpts[1024] = "";
    size_t o = 0;
    for (size_t i = 0; i < s->txn.env.n_rcpts && o < sizeof rcpts; i++)
        o += (size_t)snprintf(rcpts + o, sizeof rcpts - o, "%s%s", i ? "," : "",
                              s->txn.env.rcpts[i].address);
    /* Every value a client chose goes through log_quote (core/log.h). */
    log_info("event=accepted qid=%s session=%lu from=%s rcpts=%s nrcpt=%zu size=%zu "
             "auth_user=%s app_password=%s ip=%s listener=%s helo=%s header_from=%s "
             "message_id=%s subject=%s",
             s->txn.env.id, s->serial, log_quote_addr(s->txn.env.sender), log_quote(rcpts),
             s->txn.env.n_rcpts, envelope_size(&s->txn.env), log_quote(s->txn.env.auth_user),
             log_quote(s->txn.env.auth_app_password), s->origin.ip, s->lc->name,
             log_quote(s->txn.env.helo), log_quote(s->txn.env.header_from),
             log_quote(s->txn.env.message_id), log_quote(s->txn.env.subject));
}

/* defer_suspended_rcpts - a remote recipient whose destination is dead
 * (between its probes) is stored deferred, as the scheduler would defer
 * it a moment later: one write for it, not two, and no pass over it.  A
 * spam run to dead domains (or a flood while the relayhost is down)
 * otherwise costs every message a second transaction. */
static void defer_suspended_rcpts(struct smtp_session *s)
{
    struct envelope *e = &s->txn.env;
    for (size_t i = 0; i < e->n_rcpts; i++) {
        struct envelope_rcpt *r = &e->rcpts[i];
        char why[SCHEDULER_WHY_MAX];
        if (!r->local && r->deferred_why == NULL &&
            scheduler_suspended(s->srv->scheduler, r->address, &r->deferred_until, why, sizeof why))
            r->deferred_why = strdup(why); /* no memory: queued as usual */
    }
}

/* store_done - the store has answered.  Only now, with the transaction
 * committed and fsync'd, do we take responsibility for the message: better
 * to deliver twice than to lose mail, so a failure is a 4xx and the client
 * keeps its copy. */
static void store_done(void *arg, int status, const char *err)
{
    struct smtp_session *s = arg;
    if (status == 0) {
        s->srv->messages_accepted++;
        metrics_add("floodgate_messages_accepted_total", 1, "listener", s->lc->name,
                    "authenticated", s->origin.auth_user ? "true" : "false", NULL);
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        metrics_observe("floodgate_acceptance_duration_seconds",
                        (double)(now.tv_sec - s->data_ended.tv_sec) +
                            (double)(now.tv_nsec - s->data_ended.tv_nsec) / 1e9,
                        NULL);
        log_accepted(s);
        struct policy_message m;
        message_facts(s, &m);
        policy_accepted(s->srv->policy, &s->origin, &s->txn.policy, &m);
        smtp_reply(s, "250 2.0.0 Ok: queued as %s", s->txn.env.id);
        bool due = false; /* a recipient the scheduler must look at now */
        for (size_t i = 0; i < s->txn.env.n_rcpts; i++) {
            const struct envelope_rcpt *r = &s->txn.env.rcpts[i];
            if (r->deferred_why)
                scheduler_suspended_stored(s->srv->scheduler, s->txn.env.id, r->address,
                                           s->origin.auth_user, r->deferred_why);
            else
                due = true;
        }
        if (due)
            scheduler_kick(s->srv->scheduler);
    } else {
        log_warnx("event=store_error qid=%s session=%lu error=%s", s->txn.env.id, s->serial,
                  log_quote(err));
        smtp_reply_store_fault(s, status);
    }
    smtp_session_reset_transaction(s);
    smtp_session_resume(s);
}

/* add_auth_results - prepend the Authentication-Results header (RFC 8601
 * 5: added by the server that evaluated, above the other fields) to a
 * message the inbound checks looked at, after taking out the fields it
 * arrived with that claim our authserv-id (a sender's forgery, RFC 8601
 * 5); false when memory runs out. */
static bool add_auth_results(struct smtp_session *s)
{
    if (!s->txn.inbound.wanted)
        return true;
    struct spool *sp = &s->txn.spool;
    sp->mem_len = auth_results_strip(sp->mem, sp->mem_len, s->cfg->inbound.authserv_id);
    char *h = inbound_auth_results(s->cfg, &s->txn.inbound), *trace = NULL;
    if (h == NULL || asprintf(&trace, "%s%s", h, s->txn.env.trace ? s->txn.env.trace : "") < 0) {
        free(h);
        return false;
    }
    free(h);
    free(s->txn.env.trace);
    s->txn.env.trace = trace;
    return true;
}

/* end_of_data_decide - the engine's word on the whole message (F: the
 * store's facts about its From:), then the hand-over to the store. */
static void end_of_data_decide(struct smtp_session *s, const struct policy_store_facts *f)
{
    struct policy_decision d, in;
    struct policy_message m;
    /* the From: domain's DMARC policy first (policy/inbound.h): a message
     * it refuses goes no further; one it holds is still shown to the
     * engine's observers, and held unless they refuse it */
    policy_inbound_data(s->srv->policy, &s->origin, &s->txn.inbound, &in);
    if (in.action == POLICY_REJECT || in.action == POLICY_DEFER) {
        d = in;
    } else {
        message_facts(s, &m);
        policy_end_of_data(s->srv->policy, &s->origin, &s->txn.policy, &m, f, &d);
        if (d.action == POLICY_ACCEPT && in.action == POLICY_HOLD)
            d = in;
    }
    if ((d.action == POLICY_ACCEPT || d.action == POLICY_HOLD) && !add_auth_results(s)) {
        d = (struct policy_decision){.action = POLICY_DEFER, .code = 451};
        str_copy(d.text, "451 4.3.0 Out of memory, try again later", sizeof d.text);
        str_copy(d.reason, "out_of_memory", sizeof d.reason);
    }
    if (d.action == POLICY_ACCEPT || d.action == POLICY_HOLD) {
        /* HOLD: answered 250 like any other, stored held (floodctl
         * queue release lets it go). */
        s->txn.env.held = d.action == POLICY_HOLD;
        if (s->txn.env.held)
            log_info("event=hold qid=%s session=%lu ip=%s reason=%s", s->txn.env.id, s->serial,
                     s->origin.ip, log_quote(d.reason));
        if (!s->txn.env.held)
            defer_suspended_rcpts(s);
        s->wait = SMTP_WAIT_STORE;
        committer_submit(s->srv->committer, store_apply, store_done, s);
        return;
    }
    smtp_reply_decision(s, &d);
    s->srv->messages_rejected++;
    smtp_session_reset_transaction(s);
}

/* One message's DKIM and DMARC checks (policy/inbound.h): the session's
 * config (the job's own reference), the client's address, a copy of the
 * message (the session may end meanwhile), and the facts gathered at MAIL
 * and from the header (the From: domains), completed on the lookup
 * thread. */
struct dmarc_job {
    struct config *cfg;
    char ip[INET6_ADDRSTRLEN];
    struct spool body;
    struct inbound_facts in;
};

/* dmarc_read - the message's octets for the DKIM verifier. */
static long dmarc_read(void *ctx, size_t off, char *buf, size_t n)
{
    return spool_read(ctx, off, buf, n);
}

static void dmarc_work(store_db *db, void *arg)
{
    struct dmarc_job *j = arg;
    inbound_facts_data(j->cfg, j->ip, dmarc_read, &j->body, &j->in);
}

static void dmarc_looked_up(struct smtp_session *s, void *arg)
{
    static const struct policy_store_facts none;
    struct dmarc_job *j = arg;
    s->txn.inbound = j->in;
    end_of_data_decide(s, &none);
}

static void dmarc_job_free(void *arg)
{
    struct dmarc_job *j = arg;
    config_unref(j->cfg);
    spool_free(&j->body);
    free(j);
}

/* dmarc_start - verify the message's DKIM signatures and look the From:
 * domain's DMARC policy up off the loop; false (the session answered 451)
 * when memory runs out. */
static bool dmarc_start(struct smtp_session *s)
{
    struct dmarc_job *j = calloc(1, sizeof *j);
    if (j == NULL)
        return false;
    spool_init(&j->body, s->txn.spool.dir);
    if (s->cfg->inbound.dkim && spool_copy(&s->txn.spool, &j->body) < 0) {
        spool_free(&j->body);
        free(j);
        return false;
    }
    j->cfg = config_ref((struct config *)s->cfg);
    str_copy(j->ip, s->origin.ip, sizeof j->ip);
    j->in = s->txn.inbound;
    smtp_lookup_start_checks(s, dmarc_work, dmarc_looked_up, dmarc_job_free, j);
    return true;
}

/* The From: of a message sent by a logged-in user is held to the sender
 * rule: the store's facts about it are read on a lookup thread. */
struct from_job {
    char user[256];
    char *from;
    struct policy_store_facts f;
};

static void from_work(store_db *db, void *arg)
{
    struct from_job *j = arg;
    policy_store_facts_read(db, j->user, j->from, NULL, &j->f);
}

static void from_looked_up(struct smtp_session *s, void *arg)
{
    struct from_job *j = arg;
    end_of_data_decide(s, &j->f);
}

static void from_job_free(void *arg)
{
    struct from_job *j = arg;
    free(j->from);
    free(j);
}

/* end_of_data - the message is whole and well formed: the engine decides,
 * once the store's facts it needs are read. */
static void end_of_data(struct smtp_session *s)
{
    static const struct policy_store_facts none;
    fill_envelope(s);
    if (s->txn.inbound.wanted) {
        struct spool *sp = &s->txn.spool;
        header_watch_finish(&s->txn.hwatch);
        inbound_facts_header(s->cfg, sp->mem, sp->mem_len, spool_size(sp), &s->txn.hwatch,
                             &s->txn.inbound);
    }
    if (s->txn.inbound.wanted && (s->cfg->inbound.dmarc || s->cfg->inbound.dkim)) {
        if (!dmarc_start(s)) {
            smtp_reply(s, "451 4.3.0 Out of memory, try again later");
            s->srv->messages_rejected++;
            smtp_session_reset_transaction(s);
        }
        return;
    }
    if (s->origin.auth_user == NULL || s->txn.env.header_from == NULL) {
        end_of_data_decide(s, &none);
        return;
    }
    struct from_job *j = calloc(1, sizeof *j);
    if (j == NULL || (j->from = strdup(s->txn.env.header_from)) == NULL) {
        free(j);
        smtp_reply(s, "451 4.3.0 Out of memory, try again later");
        s->srv->messages_rejected++;
        smtp_session_reset_transaction(s);
        return;
    }
    str_copy(j->user, s->origin.auth_user, sizeof j->user);
    smtp_lookup_start(s, from_work, from_looked_up, from_job_free, j);
}

static void finish_data(struct smtp_session *s)
{
    struct data_reader *d = &s->txn.data;
    s->state = SMTP_STATE_HELO;
    s->record_start = 0;
    s->stage = "end_of_data";
    clock_gettime(CLOCK_MONOTONIC, &s->data_ended);
    if (d->bare_lf && d->mode == BARE_LF_REJECT) {
        smtp_reply(s, "554 5.6.0 Message contains bare LF; lines must end with CR LF");
    } else if (d->bare_cr && d->mode == BARE_LF_REJECT) {
        smtp_reply(s, "554 5.6.0 Message contains bare CR; lines must end with CR LF");
    } else if (d->nul && s->cfg->limits.nul == NUL_REJECT) {
        /* RFC 5322 2.3, RFC 2045 2.8: no NUL in mail, not even 8BITMIME. */
        smtp_reply(s, "554 5.6.0 Message contains NUL octets, which mail may not hold");
    } else if (d->too_big) {
        smtp_reply(s, "552 5.3.4 Message size exceeds fixed maximum message size (%zu)",
                   d->max_size);
    } else if (s->txn.spool.failed) {
        log_warnx("event=spool_error session=%lu ip=%s", s->serial, s->origin.ip);
        smtp_reply(s, "452 4.3.1 Insufficient system storage, try again later");
    } else {
        end_of_data(s);
        return;
    }
    s->srv->messages_rejected++;
    smtp_session_reset_transaction(s);
}

/* ---- TLS ---- */

static void note_tls(struct smtp_session *s)
{
    SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
    if (ssl == NULL || s->origin.tls)
        return;
    char info[ORIGIN_TLS_MAX];
    tls_describe(ssl, info, sizeof info);
    origin_set_tls(&s->origin, info);
    log_info("event=tls session=%lu ip=%s tls=%s", s->serial, s->origin.ip,
             log_quote(s->origin.tls_info));
}

/* smtp_session_starttls - RFC 3207: after "220 Ready", the TLS handshake;
 * whatever plaintext the client pipelined after STARTTLS is thrown away
 * (it could otherwise be injected into the protected session). */
void smtp_session_starttls(struct smtp_session *s)
{
    SSL *ssl = SSL_new(s->srv->ssl_ctx);
    if (ssl == NULL) {
        smtp_reply(s, "454 4.7.0 TLS not available due to temporary reason");
        return;
    }
    smtp_reply(s, "220 2.0.0 Ready to start TLS");
    smtp_session_flush(s); /* in plaintext, before the TLS layer goes on */
    session_drop_output(s);
    if (s->rd) { /* the TLS filter reads the socket through the bufferevent */
        event_free(s->rd);
        s->rd = NULL;
    }
    struct evbuffer *in = bufferevent_get_input(s->bev);
    evbuffer_drain(in, evbuffer_get_length(in));
    struct bufferevent *tls =
        bufferevent_openssl_filter_new(s->srv->base, s->bev, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                       BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    if (tls == NULL) {
        /* No memory.  The session ends on its timer, at the next turn: its
         * output is gone, so smtp_session_close would free it at once,
         * under read_commands, which still holds it. */
        SSL_free(ssl);
        s->closing = true;
        smtp_session_reading(s, false);
        uint64_t now = now_ms();
        deadline_set(s, SMTP_DEADLINE_CLOSE, now, 0, now);
        return;
    }
    s->bev = tls;
    session_bound_input(tls);
    s->state = SMTP_STATE_TLS;
    /* RFC 3207 4.2: the client starts over with EHLO. */
    s->esmtp = false;
    s->origin.helo[0] = '\0';
    bufferevent_setcb(tls, session_read_cb, NULL, session_event_cb, s);
    uint64_t now = now_ms();
    deadline_set(s, SMTP_DEADLINE_TLS, now, s->cfg->limits.tls_handshake_timeout, now);
    bufferevent_enable(tls, EV_READ | EV_WRITE);
}

static void session_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct smtp_session *s = arg;
    if (what & BEV_EVENT_CONNECTED) {
        note_tls(s);
        if (s->state == SMTP_STATE_TLS)
            s->state = SMTP_STATE_CONNECTED;
        if (s->deadline_why == SMTP_DEADLINE_TLS) {
            uint64_t now = now_ms();
            deadline_set(s, SMTP_DEADLINE_IDLE, now, s->cfg->limits.command_timeout, now);
        }
        return;
    }
    if (what & BEV_EVENT_ERROR) {
        unsigned long e = bufferevent_get_openssl_error(bev);
        if (e)
            log_info("event=tls_error session=%lu ip=%s error=%s", s->serial, s->origin.ip,
                     log_quote(ERR_reason_error_string(e)));
    }
    /* The client finished sending while its session waits (it reads
     * during waits): what it pipelined before the EOF is answered when the
     * wait ends, and the session closes after that (session_read_cb).
     * Before the greeting there is nothing to answer. */
    if (what == (BEV_EVENT_EOF | BEV_EVENT_READING) && s->wait != SMTP_WAIT_NONE &&
        s->wait != SMTP_WAIT_GREETING && !s->closing) {
        s->peer_eof = true; /* libevent has stopped reading */
        return;
    }
    /* EOF, error, or a timeout while closing: the peer is gone. */
    drop_lookup(s);
    if (s->wait != SMTP_WAIT_NONE) {
        s->closing = true; /* freed when the pending answer comes back */
        s->peer_gone = true;
        session_io_off(s);
        return;
    }
    session_free(s);
}

/* session_sock_read_cb - a plain-TCP session's socket is readable: one
 * readv of all that fits under SMTP_INPUT_MAX into the bufferevent's
 * input, then the session reads it as it would libevent's.  An EOF or an
 * error is told to session_event_cb as libevent tells it, reading off. */
static void session_sock_read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct smtp_session *s = arg;
    struct evbuffer *in = bufferevent_get_input(s->bev);
    size_t have = evbuffer_get_length(in);
    if (have >= SMTP_INPUT_MAX) { /* a wait holds it: read on when it ends */
        s->input_full = true;
        smtp_session_reading(s, false);
        return;
    }
    size_t want = SMTP_INPUT_MAX - have;
    struct evbuffer_iovec v[2];
    struct iovec iov[2];
    int n = evbuffer_reserve_space(in, (ev_ssize_t)want, v, 2);
    ssize_t r = -1;
    if (n > 0) {
        for (int i = 0; i < n; i++) {
            iov[i].iov_base = v[i].iov_base;
            iov[i].iov_len = v[i].iov_len < want ? v[i].iov_len : want;
            want -= iov[i].iov_len;
        }
        r = readv(fd, iov, n);
    }
    if (r > 0) {
        size_t got = (size_t)r;
        for (int i = 0; i < n; i++) {
            v[i].iov_len = iov[i].iov_len < got ? iov[i].iov_len : got;
            got -= v[i].iov_len;
        }
        evbuffer_commit_space(in, v, n);
        session_read_cb(s->bev, s);
        return;
    }
    if (r < 0 && n > 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    smtp_session_reading(s, false);
    session_event_cb(s->bev, BEV_EVENT_READING | (r == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR), s);
}

/* ---- start and shutdown ---- */

static bool session_setup_io(struct smtp_session *s, evutil_socket_t fd)
{
    struct event_base *base = s->srv->base;
    if (s->lc->tls == TLS_MODE_IMPLICIT) {
        SSL *ssl = SSL_new(s->srv->ssl_ctx);
        if (ssl == NULL)
            return false;
        s->bev = bufferevent_openssl_socket_new(base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
        if (s->bev == NULL)
            SSL_free(ssl);
    } else {
        s->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
        if (s->bev && ((s->out = evbuffer_new()) == NULL ||
                       (s->flush = event_new(base, -1, 0, session_flush_cb, s)) == NULL))
            session_drop_output(s); /* no memory: libevent writes, as for TLS */
        if (s->bev && s->out)   /* no memory: libevent reads */
            s->rd = event_new(base, fd, EV_READ | EV_PERSIST, session_sock_read_cb, s);
    }
    if (s->bev == NULL)
        return false;
    bufferevent_setcb(s->bev, session_read_cb, NULL, session_event_cb, s);
    if (s->rd) {
        /* libevent keeps the end of a socket bufferevent's input frozen
         * but while it reads; here we are the reader */
        evbuffer_unfreeze(bufferevent_get_input(s->bev), 0);
        event_add(s->rd, NULL);
        return true;
    }
    session_bound_input(s->bev);
    /* Our own writes need no EV_WRITE (session_write_later); TLS's do. */
    bufferevent_enable(s->bev, s->out ? EV_READ : EV_READ | EV_WRITE);
    return true;
}

/* admit - the engine's word on a new client: a banned IP is refused
 * before it can say anything (no password check is spent on it), and one
 * IP may hold only so many sessions. */
static void admit(struct smtp_session *s)
{
    struct policy_decision d;
    policy_connect(s->srv->policy, &s->origin, s, &d);
    if (!smtp_reply_decision(s, &d))
        return;
    s->policy_counted = true;
    smtp_checks_greet(s);
}

void smtp_session_start(struct smtp_server *srv, const struct listener_config *lc,
                        evutil_socket_t fd, const struct sockaddr *sa, socklen_t salen)
{
    struct smtp_session *s = calloc(1, sizeof *s);
    if (s == NULL) {
        evutil_closesocket(fd);
        log_warnx("event=session_error error=out_of_memory");
        return;
    }
    s->srv = srv;
    s->cfg = config_ref(srv->cfg); /* the config and listener it starts with, to its end */
    s->lc = lc;
    s->serial = ++srv->sessions_total;
    s->stage = "connect";
    origin_init(&s->origin, s->serial, sa, salen, lc->name, s->cfg);
    spool_init(&s->txn.spool, ".");
    if ((s->timer = evtimer_new(srv->base, deadline_cb, s)) == NULL || !session_setup_io(s, fd)) {
        evutil_closesocket(fd);
        config_unref(s->cfg);
        if (s->timer)
            event_free(s->timer);
        free(s);
        log_warnx("event=session_error error=cannot_create_stream");
        return;
    }
    session_link(s);
    metrics_add("floodgate_smtp_connections_total", 1, "listener", lc->name, NULL);
    log_info("event=connect session=%lu ip=%s port=%d listener=%s", s->serial, s->origin.ip,
             s->origin.port, lc->name);
    uint64_t now = now_ms();
    if (lc->tls == TLS_MODE_IMPLICIT) { /* RFC 8314: TLS first, then the greeting */
        s->state = SMTP_STATE_TLS;
        deadline_set(s, SMTP_DEADLINE_TLS, now, s->cfg->limits.tls_handshake_timeout, now);
    } else
        deadline_set(s, SMTP_DEADLINE_IDLE, now, s->cfg->limits.command_timeout, now);
    char pause_key[300];
    snprintf(pause_key, sizeof pause_key, "listener:%s", lc->name);
    if (srv->stopping) {
        smtp_reply(s, "421 4.3.2 %s Service shutting down", s->cfg->hostname);
        smtp_session_close(s);
    } else if (server_paused(srv, pause_key)) {
        smtp_reply(s, "421 4.3.2 %s Service paused by the administrator, try again later",
                   s->cfg->hostname);
        smtp_session_close(s);
    } else if (srv->connections > s->cfg->limits.max_connections) {
        smtp_reply_why(s, "max_connections", "421 4.7.0 %s Too many connections, try again later",
                       s->cfg->hostname);
        smtp_session_close(s);
    } else {
        admit(s);
    }
}

/* shutdown_close - end S for SIGTERM: 421 where it can be read. */
static void shutdown_close(struct smtp_session *s)
{
    if (s->state == SMTP_STATE_TLS) { /* mid-handshake: there is no channel for a 421 */
        s->peer_gone = true;
        smtp_session_close(s);
        return;
    }
    if (s->state == SMTP_STATE_BODY) {
        /* RFC 5321 3.8: the client keeps the message and tries again. */
        log_info("event=data_aborted session=%lu ip=%s reason=shutdown", s->serial, s->origin.ip);
        smtp_session_reset_transaction(s);
    }
    smtp_reply(s, "421 4.3.2 %s Service shutting down", s->cfg->hostname);
    smtp_session_close(s);
}

void smtp_session_shutdown_all(struct smtp_server *srv)
{
    unsigned closed = 0, answering = 0;
    /* Logins still waiting for a worker would hold their sessions until
     * shutdown_timeout: they are answered 421 now, unchecked (before the
     * walk below, which their closing sessions would otherwise upset). */
    smtp_auth_drop_all(srv);
    for (struct smtp_session *s = srv->sessions, *next; s; s = next) {
        next = s->next;
        smtp_checks_shutdown(s);
        if (s->closing) {
            closed++; /* its last reply is leaving (bounded by its deadline) */
            if (s->wait == SMTP_WAIT_NONE && s->deadline_why == SMTP_DEADLINE_TLS) {
                /* refused mid-handshake: its deadline may outlast
                 * shutdown_timeout, and nobody is owed its 421 now */
                s->peer_gone = true;
                smtp_session_close(s);
            }
        } else if (s->wait != SMTP_WAIT_NONE) {
            answering++; /* the store, a worker or DNS answers, then 421 */
        } else {
            closed++;
            shutdown_close(s);
        }
    }
    log_info("event=sessions_closing closing=%u answering=%u", closed, answering);
}

unsigned smtp_session_abort_all(struct smtp_server *srv)
{
    unsigned left = 0;
    for (struct smtp_session *s = srv->sessions, *next; s; s = next) {
        next = s->next;
        left++;
        if (s->greet_timer) { /* its lookup was cancelled with the rest of DNS */
            event_free(s->greet_timer);
            s->greet_timer = NULL;
        }
        s->closing = s->peer_gone = true;
        session_io_off(s);
        drop_lookup(s);
        if (s->wait == SMTP_WAIT_STORE || s->wait == SMTP_WAIT_AUTH)
            continue; /* its answer is still coming: freed then */
        s->wait = SMTP_WAIT_NONE;
        session_free(s);
    }
    return left;
}
