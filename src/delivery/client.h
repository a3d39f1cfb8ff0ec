/* delivery/client - the outbound SMTP client (RFC 5321): connect, greeting,
 * EHLO (HELO fallback), STARTTLS per policy (RFC 3207), AUTH for a
 * smarthost (RFC 4954), then any number of transactions on the connection,
 * pipelined when the server offers PIPELINING (RFC 2920). */
#ifndef FLOODGATE_DELIVERY_CLIENT_H
#define FLOODGATE_DELIVERY_CLIENT_H

#include <event2/event.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "delivery/client_reply.h"

enum client_tls {
    CLIENT_TLS_OPPORTUNISTIC, /* STARTTLS when offered, plaintext otherwise */
    CLIENT_TLS_REQUIRED,      /* no STARTTLS, no delivery */
    CLIENT_TLS_OFF,
    CLIENT_TLS_IMPLICIT, /* TLS from the first byte (port 465) */
};

/* The client copies the strings: they may be freed once it is open. */
struct smtp_client_params {
    const char *helo_name; /* required */
    enum client_tls tls;
    bool tls_verify;       /* refuse a certificate that does not verify */
    const char *auth_user; /* NULL: no AUTH */
    const char *auth_password;
    unsigned connect_timeout; /* seconds */
    unsigned command_timeout; /* RFC 5321 4.5.3.2: 5 min */
    unsigned data_timeout;    /* after the final ".": RFC says 10 min */
};

/* A source of the message octets (CR LF line ends, not dot-stuffed). */
typedef long (*client_read_fn)(void *ctx, size_t off, char *buf, size_t n);

struct client_rcpt {
    const char *address;
    int code; /* the reply that decides: RCPT's, or DATA's end */
    char text[SMTP_REPLY_TEXT_MAX];
};

struct client_txn {
    const char *sender;
    struct client_rcpt *rcpts;
    size_t n_rcpts;
    size_t size;        /* for SIZE= */
    bool eightbit;      /* BODY=8BITMIME when offered */
    bool smtputf8;      /* needs SMTPUTF8 */
    const char *prefix; /* header lines sent before the stored message (DKIM-Signature) */
    client_read_fn read;
    void *read_ctx;
};

struct smtp_client;

/* READY: OK true when the connection can take a transaction; otherwise
 * CODE (0 when no reply, e.g. a refused connection) and TEXT say why,
 * and the client is already freed. */
typedef void (*client_ready_cb)(struct smtp_client *c, void *arg, bool ok, int code,
                                const char *text);
/* DONE: the transaction ended; per-recipient codes are in the txn.  OK
 * false means the connection failed midway (and the client is freed). */
typedef void (*client_done_cb)(struct smtp_client *c, void *arg, bool ok);

struct smtp_client *smtp_client_open(struct event_base *base, SSL_CTX *tls,
                                     const struct sockaddr *sa, socklen_t salen,
                                     const char *peer_name, const struct smtp_client_params *p,
                                     client_ready_cb ready, void *arg);
void smtp_client_send(struct smtp_client *c, struct client_txn *t, client_done_cb done, void *arg);
/* smtp_client_quit - say QUIT and let go (frees C). */
void smtp_client_quit(struct smtp_client *c);
/* smtp_client_tls - "TLSv1.3 ... verified|unverified", or NULL. */
const char *smtp_client_tls(const struct smtp_client *c);

/* smtp_client_live - clients not yet freed (shutdown waits for them). */
unsigned smtp_client_live(void);
/* smtp_client_abort_all - free every client at once (end of shutdown). */
void smtp_client_abort_all(void);

/* client_tls_ctx - the client-side TLS context. */
SSL_CTX *client_tls_ctx(char *err, size_t errlen);

#endif
