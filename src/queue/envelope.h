/* queue/envelope - who sent a message and to whom: the facts an admin (or
 * the detector) needs to answer "whose account is this?", and the one
 * transaction that makes envelope and body durable together. */
#ifndef FLOODGATE_QUEUE_ENVELOPE_H
#define FLOODGATE_QUEUE_ENVELOPE_H

#include "store/store.h"
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "core/strmap.h"
#include "queue/spool.h"

struct envelope_rcpt {
    char *address; /* final destination, lowercased domain */
    char *orig;    /* as given in RCPT TO */
    bool local;    /* delivered to a Maildir here */
    /* Its destination is suspended (dead, between probes): stored as
     * deferred until DEFERRED_UNTIL, DEFERRED_WHY its last error; NULL:
     * queued as usual. */
    char *deferred_why;
    time_t deferred_until;
};

struct envelope {
    char id[17];
    time_t created;
    char *sender; /* "" for the null reverse-path */
    char *auth_user;
    char *auth_app_password; /* label of the app password used for AUTH, or NULL */
    char *client_ip;
    int client_port;
    char *helo;
    char *tls; /* "TLSv1.3 TLS_AES_128_GCM_SHA256" or NULL */
    char *listener;
    char *header_from;
    char *subject;
    char *message_id;
    char *trace; /* the Received: header written before the body */
    struct envelope_rcpt *rcpts;
    size_t n_rcpts;
    size_t cap_rcpts;
    struct strmap *rcpt_index; /* address -> 1, once there are many (a list expanded) */
    const struct spool *body;
    bool held; /* stored with every recipient held (the policy engine's HOLD) */
};

/* envelope_add_rcpt - append a recipient unless it is already there
 * (a hash lookup once the envelope holds many); returns 1 added, 0
 * duplicate, -1 out of memory. */
int envelope_add_rcpt(struct envelope *env, const char *address, const char *orig, bool local);
/* envelope_truncate - drop the recipients past the first N (those one
 * RCPT added, when the whole of it is refused). */
void envelope_truncate(struct envelope *env, size_t n);
/* envelope_clear - free the fields and recipients, ready for reuse. */
void envelope_clear(struct envelope *env);
/* envelope_size - octets that will be stored: trace header plus body. */
size_t envelope_size(const struct envelope *env);

/* envelope_store - insert message, recipients and body in DB.  Runs inside
 * a transaction the caller commits (see committer.h).  -1 with ERR set. */
int envelope_store(store_db *db, const struct envelope *env, char *err, size_t errlen);

#endif
