/* policy/origin - who is sending: one value for the facts every decision
 * about a client starts from (its address and port, the listener it came
 * in on, TLS, the AUTH user and app password, the HELO name, and what the
 * configuration's IP groups make of the address).  The SMTP session owns
 * one and keeps it up to date as the client says HELO, starts TLS and
 * logs in; the policy engine (policy/engine.h) reads it. */
#ifndef FLOODGATE_POLICY_ORIGIN_H
#define FLOODGATE_POLICY_ORIGIN_H

#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <time.h>

#include "core/config.h"

#define ORIGIN_HELO_MAX 256
#define ORIGIN_TLS_MAX 128
#define ORIGIN_LISTENER_MAX 64

struct policy_live; /* the engine's entry in its registry of live sessions */

struct origin {
    unsigned long session; /* the session's number (log lines, floodctl session) */
    time_t started;        /* when the connection was accepted */
    char ip[INET6_ADDRSTRLEN];
    int port;
    struct sockaddr_storage sa;
    char listener[ORIGIN_LISTENER_MAX];
    bool tls;
    char tls_info[ORIGIN_TLS_MAX]; /* "TLSv1.3 TLS_AES_128_GCM_SHA256" */
    char *auth_user;               /* as the client typed it; NULL before AUTH */
    char *app_password;            /* label, when AUTH used an app password */
    char helo[ORIGIN_HELO_MAX];
    /* What the IP groups make of the address (recomputed on reload). */
    bool trusted; /* relay.allow_groups */
    bool exempt;  /* client_limits.exempt_groups */
    /* The config the session started with (the session holds the
     * reference): its per-session settings stay those, as the rest of the
     * session's, across a reload. */
    const struct config *cfg;
    struct policy_live *live; /* set by the engine while registered */
};

/* origin_init - fill O for a client at SA (SALEN octets) on LISTENER,
 * with the group facts of CFG. */
void origin_init(struct origin *o, unsigned long session, const struct sockaddr *sa,
                 socklen_t salen, const char *listener, const struct config *cfg);
/* origin_classify - (re)compute the group facts under CFG. */
void origin_classify(struct origin *o, const struct config *cfg);
/* origin_set_helo - the HELO/EHLO argument, made printable (it goes into
 * logs and the Received: header); N octets of NAME. */
void origin_set_helo(struct origin *o, const char *name, size_t n);
/* origin_set_tls - TLS is on, described by INFO. */
void origin_set_tls(struct origin *o, const char *info);
/* origin_set_auth - the client logged in as USER (with the app password
 * LABEL, or NULL).  -1 when memory runs out (nothing changed). */
int origin_set_auth(struct origin *o, const char *user, const char *label);
/* origin_clear - free what O owns. */
void origin_clear(struct origin *o);
/* origin_sender_key - what the sending limits count this client as, into
 * BUF: the AUTH user lowercased, or "ip:ADDR" for an unauthenticated
 * client of a trusted group; NULL when they do not apply. */
const char *origin_sender_key(const struct origin *o, char *buf, size_t len);

#endif
