/* delivery/client - outbound SMTP, one connection, on the event loop.
 *
 * A server's bad behaviour - a greeting that never comes, garbage, an
 * endless multi-line reply, a close in mid-transaction - ends this
 * connection with a clear error and a temporary failure for every
 * recipient not yet answered; it never stalls the loop. */
#include "delivery/client.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

#define BODY_CHUNK 65536
#define BODY_HIGH_WATER (256 * 1024)

enum client_state {
    CS_CONNECT,
    CS_GREETING,
    CS_EHLO,
    CS_HELO,
    CS_STARTTLS,
    CS_HANDSHAKE,
    CS_AUTH,
    CS_AUTH_LOGIN_USER,
    CS_AUTH_LOGIN_PASS,
    CS_READY,
    CS_TXN,
    CS_BODY,
    CS_DOT,
    CS_DOT_DISCARD,
    CS_RSET,
    CS_QUIT,
};

struct smtp_client {
    struct event_base *base;
    SSL_CTX *tls_ctx;
    struct bufferevent *bev;
    struct smtp_client_params p;
    char peer[300];
    enum client_state state;
    struct smtp_reply reply;
    struct ehlo_caps caps;
    bool tls_active;
    char tls_info[200];
    client_ready_cb ready;
    client_done_cb done;
    void *arg;      /* for ready */
    void *done_arg; /* for done */
    /* the transaction */
    struct client_txn *txn;
    size_t expect; /* reply awaited: 0 MAIL, 1..n RCPT, n+1 DATA */
    int mail_code;
    char mail_text[SMTP_REPLY_TEXT_MAX];
    size_t accepted;
    size_t body_off;
    bool body_prefix_sent, line_start, body_done;
    bool busy; /* inside the read loop */
    bool dead; /* to be freed when the read loop ends */
    struct smtp_client *next_live, *prev_live;
};

/* Every client alive, so that shutdown can wait for QUITs to finish and
 * free whatever is left. */
static struct smtp_client *live;
static unsigned n_live;

static void client_read_cb(struct bufferevent *bev, void *arg);
static void client_write_cb(struct bufferevent *bev, void *arg);
static void client_event_cb(struct bufferevent *bev, short what, void *arg);

SSL_CTX *client_tls_ctx(char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        snprintf(err, errlen, "cannot create the client TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_default_verify_paths(ctx);
    /* We check the result ourselves after the handshake, so that an
     * opportunistic session can go on (and log) when it does not verify. */
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    return ctx;
}

const char *smtp_client_tls(const struct smtp_client *c)
{
    return c->tls_active ? c->tls_info : NULL;
}

/* params_copy - the client keeps its own copies of the strings in P: they
 * come from the config, which a SIGHUP may free while an outbound
 * connection lives on (idle, kept for the next message). */
static bool params_copy(struct smtp_client *c, const struct smtp_client_params *p)
{
    c->p = *p;
    c->p.helo_name = strdup(p->helo_name);
    c->p.auth_user = p->auth_user ? strdup(p->auth_user) : NULL;
    c->p.auth_password = p->auth_password ? strdup(p->auth_password) : NULL;
    return c->p.helo_name && (p->auth_user == NULL || c->p.auth_user) &&
           (p->auth_password == NULL || c->p.auth_password);
}

/* params_free - the copies of params_copy; the password wiped first. */
static void params_free(struct smtp_client *c)
{
    char *pw = (char *)c->p.auth_password;
    if (pw) {
        explicit_bzero(pw, strlen(pw));
        free(pw);
    }
    free((char *)c->p.helo_name);
    free((char *)c->p.auth_user);
}

static void client_release(struct smtp_client *c)
{
    if (c->prev_live)
        c->prev_live->next_live = c->next_live;
    else
        live = c->next_live;
    if (c->next_live)
        c->next_live->prev_live = c->prev_live;
    n_live--;
    if (c->bev)
        bufferevent_free(c->bev);
    params_free(c);
    free(c);
}

unsigned smtp_client_live(void)
{
    return n_live;
}

void smtp_client_abort_all(void)
{
    while (live)
        client_release(live);
}

/* client_free - free now, or mark for freeing when the read loop that is
 * running ends. */
static void client_free(struct smtp_client *c)
{
    if (c->busy)
        c->dead = true;
    else
        client_release(c);
}

static void send_line(struct smtp_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void send_line(struct smtp_client *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    evbuffer_add_vprintf(bufferevent_get_output(c->bev), fmt, ap);
    va_end(ap);
    evbuffer_add(bufferevent_get_output(c->bev), "\r\n", 2);
}

static void set_timeout(struct smtp_client *c, unsigned seconds)
{
    struct timeval tv = {.tv_sec = seconds, .tv_usec = 0};
    bufferevent_set_timeouts(c->bev, &tv, &tv);
}

/* fail - end the connection: before READY the ready callback hears it;
 * in a transaction every recipient not yet decided gets a temporary
 * failure with TEXT, and the done callback hears it. */
static void fail(struct smtp_client *c, int code, const char *text)
{
    if (c->txn && c->state >= CS_TXN && c->state <= CS_RSET) {
        for (size_t i = 0; i < c->txn->n_rcpts; i++) {
            struct client_rcpt *r = &c->txn->rcpts[i];
            if (r->code == 0 || (r->code / 100 == 2 && c->state != CS_RSET)) {
                r->code = code ? code : 421;
                snprintf(r->text, sizeof r->text, "%s", text);
            }
        }
        client_done_cb done = c->done;
        void *arg = c->done_arg;
        c->txn = NULL;
        client_free(c);
        done(c, arg, false);
        return;
    }
    client_ready_cb ready = c->ready;
    void *arg = c->arg;
    client_free(c);
    ready(c, arg, false, code, text);
}

static void fail_reply(struct smtp_client *c, const char *what)
{
    char text[SMTP_REPLY_TEXT_MAX + 64];
    snprintf(text, sizeof text, "%s: %s", what, c->reply.text);
    fail(c, c->reply.code, text);
}

/* ---- session set-up ---- */

static void become_ready(struct smtp_client *c)
{
    c->state = CS_READY;
    set_timeout(c, c->p.command_timeout);
    c->ready(c, c->arg, true, 0, NULL);
}

static void start_auth(struct smtp_client *c)
{
    if (!c->caps.auth_plain && !c->caps.auth_login) {
        fail(c, 0, "smarthost offers no AUTH PLAIN or LOGIN");
        return;
    }
    if (c->caps.auth_plain) {
        char raw[1100], b64[1500];
        int n = snprintf(raw, sizeof raw, "%c%s%c%s", 0, c->p.auth_user, 0, c->p.auth_password);
        if (n < 0 || (size_t)n >= sizeof raw) {
            fail(c, 0, "AUTH credentials too long");
            return;
        }
        EVP_EncodeBlock((unsigned char *)b64, (unsigned char *)raw, n);
        OPENSSL_cleanse(raw, sizeof raw);
        send_line(c, "AUTH PLAIN %s", b64);
        OPENSSL_cleanse(b64, sizeof b64);
        c->state = CS_AUTH;
    } else {
        send_line(c, "AUTH LOGIN");
        c->state = CS_AUTH_LOGIN_USER;
    }
}

/* after_hello - EHLO/HELO answered: STARTTLS, AUTH, or ready. */
static void after_hello(struct smtp_client *c)
{
    if (!c->tls_active && c->p.tls != CLIENT_TLS_OFF && c->caps.starttls && c->tls_ctx) {
        send_line(c, "STARTTLS");
        c->state = CS_STARTTLS;
        return;
    }
    if (!c->tls_active && c->p.tls == CLIENT_TLS_REQUIRED) {
        fail(c, 0, "TLS is required but the server does not offer STARTTLS");
        return;
    }
    if (c->p.auth_user && !c->tls_active && c->p.tls != CLIENT_TLS_OFF) {
        fail(c, 0, "refusing to send AUTH credentials without TLS");
        return;
    }
    if (c->p.auth_user)
        start_auth(c);
    else
        become_ready(c);
}

static void start_tls(struct smtp_client *c)
{
    SSL *ssl = SSL_new(c->tls_ctx);
    if (ssl == NULL) {
        fail(c, 0, "cannot start TLS");
        return;
    }
    SSL_set_tlsext_host_name(ssl, c->peer);
    SSL_set1_host(ssl, c->peer);
    struct bufferevent *tls = bufferevent_openssl_filter_new(
        c->base, c->bev, ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
    if (tls == NULL) {
        SSL_free(ssl);
        fail(c, 0, "cannot start TLS");
        return;
    }
    c->bev = tls;
    c->state = CS_HANDSHAKE;
    bufferevent_setcb(tls, client_read_cb, client_write_cb, client_event_cb, c);
    bufferevent_enable(tls, EV_READ | EV_WRITE);
    set_timeout(c, c->p.command_timeout);
}

/* tls_established - note the protocol and whether the certificate
 * verified; refuse it only when the policy asks for verification. */
static bool tls_established(struct smtp_client *c)
{
    SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
    long v = SSL_get_verify_result(ssl);
    bool verified = v == X509_V_OK && SSL_get0_peer_certificate(ssl) != NULL;
    snprintf(c->tls_info, sizeof c->tls_info, "%s %s %s", SSL_get_version(ssl),
             SSL_get_cipher_name(ssl), verified ? "verified" : "unverified");
    c->tls_active = true;
    if (!verified && c->p.tls_verify) {
        char why[SMTP_REPLY_TEXT_MAX];
        snprintf(why, sizeof why, "TLS certificate of %s does not verify: %s", c->peer,
                 X509_verify_cert_error_string(v));
        fail(c, 0, why);
        return false;
    }
    return true;
}

/* ---- transactions ---- */

static bool txn_pipelined(const struct smtp_client *c)
{
    return c->caps.pipelining;
}

static void send_mail(struct smtp_client *c)
{
    struct client_txn *t = c->txn;
    char params[128] = "";
    size_t o = 0;
    if (c->caps.size)
        o += (size_t)snprintf(params + o, sizeof params - o, " SIZE=%zu", t->size);
    if (t->eightbit && c->caps.eightbitmime)
        o += (size_t)snprintf(params + o, sizeof params - o, " BODY=8BITMIME");
    if (t->smtputf8)
        snprintf(params + o, sizeof params - o, " SMTPUTF8");
    send_line(c, "MAIL FROM:<%s>%s", t->sender, params);
}

static void send_rcpt(struct smtp_client *c, size_t i)
{
    send_line(c, "RCPT TO:<%s>", c->txn->rcpts[i].address);
}

static void finish_txn(struct smtp_client *c)
{
    c->state = CS_READY;
    set_timeout(c, c->p.command_timeout);
    c->txn = NULL;
    c->done(c, c->done_arg, true);
}

static void abort_txn(struct smtp_client *c)
{
    send_line(c, "RSET");
    c->state = CS_RSET;
}

/* decide_all - every recipient not yet refused gets CODE and TEXT. */
static void decide_all(struct smtp_client *c, bool only_accepted, int code, const char *text)
{
    for (size_t i = 0; i < c->txn->n_rcpts; i++) {
        struct client_rcpt *r = &c->txn->rcpts[i];
        if (only_accepted && r->code / 100 != 2)
            continue;
        r->code = code;
        snprintf(r->text, sizeof r->text, "%s", text);
    }
}

void smtp_client_send(struct smtp_client *c, struct client_txn *t, client_done_cb done, void *arg)
{
    c->txn = t;
    c->done = done;
    c->done_arg = arg;
    c->expect = 0;
    c->accepted = 0;
    c->mail_code = 0;
    c->body_off = 0;
    c->body_prefix_sent = false;
    c->body_done = false;
    c->line_start = true;
    for (size_t i = 0; i < t->n_rcpts; i++)
        c->txn->rcpts[i].code = 0;
    c->state = CS_TXN;
    /* RFC 6531 3.4: a message that needs SMTPUTF8 must not go to a server
     * that does not offer it. */
    if (t->smtputf8 && !c->caps.smtputf8) {
        decide_all(c, false, 553, "553 5.6.7 remote server does not support SMTPUTF8");
        finish_txn(c);
        return;
    }
    send_mail(c);
    if (txn_pipelined(c)) {
        for (size_t i = 0; i < t->n_rcpts; i++)
            send_rcpt(c, i);
        send_line(c, "DATA");
    }
}

/* emit_out - a piece of the stuffed body into the client's output. */
static void emit_out(void *arg, const char *piece, size_t len)
{
    evbuffer_add(arg, piece, len);
}

/* add_stuffed - RFC 5321 4.5.2: a line that starts with "." gets one more. */
static void add_stuffed(struct smtp_client *c, const char *p, size_t n)
{
    smtp_dot_stuff(p, n, &c->line_start, emit_out, bufferevent_get_output(c->bev));
}

static void pump_body(struct smtp_client *c)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    if (!c->body_prefix_sent) {
        if (c->txn->prefix)
            add_stuffed(c, c->txn->prefix, strlen(c->txn->prefix));
        c->body_prefix_sent = true;
    }
    char buf[BODY_CHUNK];
    while (!c->body_done && evbuffer_get_length(out) < BODY_HIGH_WATER) {
        long n = c->txn->read(c->txn->read_ctx, c->body_off, buf, sizeof buf);
        if (n < 0) {
            fail(c, 451, "451 4.3.0 cannot read the message from the store");
            return;
        }
        if (n == 0) {
            if (!c->line_start)
                evbuffer_add(out, "\r\n", 2);
            evbuffer_add(out, ".\r\n", 3);
            c->body_done = true;
            c->state = CS_DOT;
            set_timeout(c, c->p.data_timeout);
            return;
        }
        add_stuffed(c, buf, (size_t)n);
        c->body_off += (size_t)n;
    }
}

static void txn_reply(struct smtp_client *c)
{
    struct client_txn *t = c->txn;
    const struct smtp_reply *r = &c->reply;
    size_t e = c->expect++;
    if (e == 0) { /* MAIL */
        c->mail_code = r->code;
        snprintf(c->mail_text, sizeof c->mail_text, "%s", r->text);
        if (r->code / 100 != 2) {
            decide_all(c, false, r->code, r->text);
            if (!txn_pipelined(c))
                abort_txn(c);
        } else if (!txn_pipelined(c)) {
            send_rcpt(c, 0);
        }
        return;
    }
    if (e <= t->n_rcpts) { /* RCPT */
        struct client_rcpt *rc = &t->rcpts[e - 1];
        if (c->mail_code / 100 == 2) {
            rc->code = r->code;
            snprintf(rc->text, sizeof rc->text, "%s", r->text);
            if (r->code / 100 == 2)
                c->accepted++;
        }
        if (!txn_pipelined(c)) {
            if (e < t->n_rcpts)
                send_rcpt(c, e);
            else if (c->accepted > 0)
                send_line(c, "DATA");
            else
                abort_txn(c);
        }
        return;
    }
    /* DATA */
    if (r->code == 354 && c->accepted > 0) {
        c->state = CS_BODY;
        pump_body(c);
    } else if (r->code == 354) {
        /* RFC 2920 3.1: nothing to send, but the server waits for data. */
        send_line(c, ".");
        c->state = CS_DOT_DISCARD;
    } else {
        if (c->accepted > 0)
            decide_all(c, true, r->code, r->text);
        abort_txn(c);
    }
}

/* ---- replies ---- */

static void handle_reply(struct smtp_client *c)
{
    const struct smtp_reply *r = &c->reply;
    int cls = r->code / 100;
    switch (c->state) {
    case CS_GREETING:
        if (cls != 2)
            return fail_reply(c, "greeting");
        send_line(c, "EHLO %s", c->p.helo_name);
        c->state = CS_EHLO;
        return;
    case CS_EHLO:
        if (cls == 2) {
            c->caps = r->caps;
            return after_hello(c);
        }
        if (c->tls_active)
            return fail_reply(c, "EHLO after STARTTLS");
        send_line(c, "HELO %s", c->p.helo_name);
        c->state = CS_HELO;
        return;
    case CS_HELO:
        if (cls != 2)
            return fail_reply(c, "HELO");
        memset(&c->caps, 0, sizeof c->caps);
        return after_hello(c);
    case CS_STARTTLS:
        if (r->code == 220)
            return start_tls(c);
        c->caps.starttls = false; /* offered but refused: go on per policy */
        return after_hello(c);
    case CS_AUTH:
    case CS_AUTH_LOGIN_PASS:
        if (r->code == 235)
            return become_ready(c);
        return fail_reply(c, "AUTH");
    case CS_AUTH_LOGIN_USER: {
        if (r->code != 334)
            return fail_reply(c, "AUTH");
        char b64[1400];
        const char *v = c->p.auth_user;
        /* the first 334 asks for the user, the second for the password */
        if (strstr(r->text, "UGFzc3dvcmQ6"))
            v = c->p.auth_password, c->state = CS_AUTH_LOGIN_PASS;
        if (strlen(v) > 1000)
            return fail(c, 0, "AUTH credentials too long");
        EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)v, (int)strlen(v));
        send_line(c, "%s", b64);
        OPENSSL_cleanse(b64, sizeof b64);
        return;
    }
    case CS_TXN:
        return txn_reply(c);
    case CS_DOT:
        decide_all(c, true, r->code, r->text);
        return finish_txn(c);
    case CS_DOT_DISCARD:
        return abort_txn(c);
    case CS_RSET:
        return finish_txn(c);
    case CS_QUIT:
        client_free(c);
        return;
    case CS_READY:
    case CS_CONNECT:
    case CS_HANDSHAKE:
    case CS_BODY:
        /* a reply nobody asked for */
        return fail(c, 0, "unexpected reply from server");
    }
}

/* take_reply_line - one line of at most SMTP_REPLY_LINE_MAX; -1 when
 * incomplete, -2 when over-long (the server is broken or hostile). */
static long take_reply_line(struct evbuffer *in, char *line)
{
    struct evbuffer_ptr lf = evbuffer_search(in, "\n", 1, NULL);
    if (lf.pos < 0)
        return evbuffer_get_length(in) > SMTP_REPLY_LINE_MAX + 2 ? -2 : -1;
    if ((size_t)lf.pos > SMTP_REPLY_LINE_MAX + 1)
        return -2;
    size_t len = (size_t)lf.pos + 1;
    evbuffer_remove(in, line, len);
    len--;
    if (len > 0 && line[len - 1] == '\r')
        len--;
    line[len] = '\0';
    return (long)len;
}

static void client_read_cb(struct bufferevent *bev, void *arg)
{
    struct smtp_client *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    char line[SMTP_REPLY_LINE_MAX + 3];
    /* Callbacks run from here may end the client; it is freed on the way
     * out, so that several pipelined replies can be handled in one pass. */
    c->busy = true;
    while (!c->dead && c->state != CS_HANDSHAKE && c->state != CS_CONNECT) {
        long len = take_reply_line(in, line);
        if (len == -1)
            break;
        const char *err = "reply line too long";
        enum reply_status st =
            len < 0 ? REPLY_BAD : reply_feed_line(&c->reply, line, (size_t)len, &err);
        if (st == REPLY_BAD) {
            char text[SMTP_REPLY_TEXT_MAX];
            snprintf(text, sizeof text, "protocol error from %s: %s", c->peer, err);
            fail(c, 0, text);
            break;
        }
        if (st == REPLY_MORE)
            continue;
        if (c->state == CS_READY)
            fail(c, c->reply.code, c->reply.text); /* e.g. 421 on an idle connection */
        else
            handle_reply(c);
        memset(&c->reply, 0, sizeof c->reply);
    }
    c->busy = false;
    if (c->dead)
        client_release(c);
}

static void client_write_cb(struct bufferevent *bev, void *arg)
{
    struct smtp_client *c = arg;
    if (c->state == CS_BODY && !c->body_done)
        pump_body(c);
}

static void client_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct smtp_client *c = arg;
    if (what & BEV_EVENT_CONNECTED) {
        if (c->state == CS_HANDSHAKE) {
            if (tls_established(c)) {
                send_line(c, "EHLO %s", c->p.helo_name);
                c->state = CS_EHLO;
            }
            return;
        }
        if (c->p.tls == CLIENT_TLS_IMPLICIT && !tls_established(c))
            return;
        c->state = CS_GREETING;
        set_timeout(c, c->p.command_timeout);
        return;
    }
    char text[SMTP_REPLY_TEXT_MAX];
    unsigned long ssl_err = bufferevent_get_openssl_error(bev);
    if (what & BEV_EVENT_TIMEOUT)
        snprintf(text, sizeof text, "timeout talking to %s", c->peer);
    else if (ssl_err)
        snprintf(text, sizeof text, "TLS failure with %s: %s", c->peer,
                 ERR_reason_error_string(ssl_err));
    else if (c->state == CS_CONNECT)
        snprintf(text, sizeof text, "cannot connect to %s: %s", c->peer,
                 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    else
        snprintf(text, sizeof text, "connection to %s lost", c->peer);
    if (c->state == CS_QUIT) {
        client_release(c);
        return;
    }
    fail(c, 0, text);
}

struct smtp_client *smtp_client_open(struct event_base *base, SSL_CTX *tls,
                                     const struct sockaddr *sa, socklen_t salen,
                                     const char *peer_name, const struct smtp_client_params *p,
                                     client_ready_cb ready, void *arg)
{
    struct smtp_client *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->base = base;
    c->tls_ctx = tls;
    if (!params_copy(c, p)) {
        params_free(c);
        free(c);
        return NULL;
    }
    c->ready = ready;
    c->arg = arg;
    str_copy(c->peer, peer_name, sizeof c->peer);
    if (p->tls == CLIENT_TLS_IMPLICIT) {
        SSL *ssl = tls ? SSL_new(tls) : NULL;
        if (ssl) {
            SSL_set_tlsext_host_name(ssl, c->peer);
            SSL_set1_host(ssl, c->peer);
            c->bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                                    BEV_OPT_CLOSE_ON_FREE);
            if (c->bev == NULL)
                SSL_free(ssl);
        }
    } else {
        c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    }
    if (c->bev == NULL) {
        params_free(c);
        free(c);
        return NULL;
    }
    bufferevent_setcb(c->bev, client_read_cb, client_write_cb, client_event_cb, c);
    bufferevent_setwatermark(c->bev, EV_WRITE, BODY_CHUNK / 2, 0);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    set_timeout(c, p->connect_timeout);
    c->state = CS_CONNECT;
    c->next_live = live;
    if (live)
        live->prev_live = c;
    live = c;
    n_live++;
    if (bufferevent_socket_connect(c->bev, (struct sockaddr *)sa, (int)salen) < 0) {
        client_release(c);
        return NULL;
    }
    return c;
}

void smtp_client_quit(struct smtp_client *c)
{
    if (c->state != CS_READY) {
        client_free(c);
        return;
    }
    send_line(c, "QUIT");
    c->state = CS_QUIT;
    set_timeout(c, 10);
}
