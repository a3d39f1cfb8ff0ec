/* smtp/server - the protocol server: what every SMTP session shares.  The
 * process (daemon/) owns the loop, the config, the store, the workers,
 * the committer, the policy engine and the scheduler and lends them here;
 * the server keeps what only sessions use: the lookup threads, the AUTH
 * queue, the login cache, the resolver of the client checks, the TLS
 * context, the pauses, the open sessions and their counters. */
#ifndef FLOODGATE_SMTP_SERVER_H
#define FLOODGATE_SMTP_SERVER_H

#include <event2/event.h>
#include <jansson.h>
#include <openssl/ssl.h>
#include "store/store.h"
#include <stdbool.h>
#include <time.h>

#include "core/config.h"
#include "core/workers.h"
#include "store/committer.h"

struct auth_queue;
struct dns_resolver;
struct login_cache;
struct policy;
struct scheduler;
struct smtp_session;

struct smtp_server {
    /* lent by the daemon (daemon/daemon_internal.h) */
    struct event_base *base;
    struct config *cfg; /* current; sessions keep the one they started with */
    store_db *db;       /* the daemon's own: start-up reads only, before the loop serves */
    struct committer *committer;
    struct worker_pool *workers;
    struct scheduler *scheduler;
    struct policy *policy; /* the decision engine: bans, limits, live sessions */
    /* the server's own (the daemon makes them at start, in its order) */
    struct worker_pool *lookups;   /* the sessions' store reads (smtp/lookup.c) */
    struct worker_pool *checks;    /* the inbound checks' DNS (policy/inbound.h), beside the
                                      store reads: a DNS server that times out never holds an
                                      RCPT's store read up; NULL: the lookups pool */
    struct dns_resolver *dns;      /* client checks: reverse names, sender domains */
    struct auth_queue *auth_queue; /* password checks, fair per client IP */
    struct login_cache *logins;    /* logins verified recently */
    SSL_CTX *ssl_ctx;              /* NULL when no listener uses TLS */
    bool stopping;                 /* SIGTERM: no new sessions */
    unsigned connections;          /* sessions open now */
    unsigned long sessions_total;
    unsigned long messages_accepted;
    unsigned long messages_rejected;
    struct smtp_session *sessions; /* every open session, for shutdown */
    json_t *pauses;                /* "delivery", "listener:NAME": see queue/pause_state.h */
};

/* server_paused - did the admin pause WHAT ("delivery", "listener:mx")? */
bool server_paused(const struct smtp_server *srv, const char *what);
/* server_set_pauses - the pauses as the store has them now (P, taken: the
 * array of queue/pause_state.h pause_list, read at start before the loop
 * serves or on a control reader thread).  NULL: the read failed, the
 * pauses stay. */
void server_set_pauses(struct smtp_server *srv, json_t *p);

#endif
