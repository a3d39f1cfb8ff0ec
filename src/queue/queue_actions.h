/* queue/queue_actions - what an admin does to a selection of queued
 * messages: hold, release, retry, bounce, quarantine, purge.  Works on the
 * store directly, so it works whether the daemon runs or not; batches are
 * small transactions, so a running daemon keeps accepting and delivering
 * other mail meanwhile.  Every message acted on gets one log line with the
 * admin's name and reason. */
#ifndef FLOODGATE_QUEUE_QUEUE_ACTIONS_H
#define FLOODGATE_QUEUE_QUEUE_ACTIONS_H

#include "store/store.h"
#include <stddef.h>

#include "queue/queue_filter.h"

#define QUARANTINE_DIR "quarantine" /* under state_dir */

enum queue_action {
    QUEUE_HOLD,       /* stays queued, never delivered or expired, until released */
    QUEUE_RELEASE,    /* held -> queued, due now */
    QUEUE_RETRY,      /* queued or deferred -> due now */
    QUEUE_BOUNCE,     /* pending -> bounced, with a DSN to the sender */
    QUEUE_QUARANTINE, /* out of the queue into quarantine/XY/ID.eml, envelope kept */
    QUEUE_PURGE,      /* gone for good */
    QUEUE_UNQUARANTINE, /* back from quarantine into the queue */
};

struct queue_action_ctx {
    const char *state_dir; /* holds quarantine/; "." inside the daemon */
    const char *hostname;  /* reporting MTA of DSNs */
    const char *admin;     /* who acts: logged, and kept with quarantine entries */
    const char *reason;    /* logged; kept with quarantine entries */
    void (*progress)(void *arg, size_t done, size_t total);
    void *progress_arg;
};

/* queue_act - apply ACT to the messages F selects.  Returns how many
 * messages it changed, or -1 with ERR set. */
long queue_act(store_db *db, enum queue_action act, const struct queue_filter *f,
               const struct queue_action_ctx *ctx, char *err, size_t errlen);

/* queue_action_name - "hold", "release", ... */
const char *queue_action_name(enum queue_action act);

#endif
