/* delivery/delivery_job - one delivery attempt: a message and the recipients
 * of it that go the same way (one Maildir pass, or one destination domain),
 * and what became of each. */
#ifndef FLOODGATE_DELIVERY_DELIVERY_JOB_H
#define FLOODGATE_DELIVERY_DELIVERY_JOB_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "delivery/destinations.h"
#include "queue/spool.h"

#define DELIVERY_ERROR_MAX 512

enum delivery_outcome { OUTCOME_PENDING, OUTCOME_DELIVERED, OUTCOME_DEFERRED, OUTCOME_BOUNCED };

struct delivery_rcpt {
    int64_t id; /* recipients.id */
    char *address;
    unsigned attempts; /* before this attempt */
    enum delivery_outcome outcome;
    int code;                       /* SMTP reply code, 0 when none */
    char error[DELIVERY_ERROR_MAX]; /* what went wrong, for last_error and DSNs */
};

struct config;
struct scheduler;

struct delivery_job {
    struct dest_entry link; /* first: its place in the active queue */
    struct scheduler *sch;
    const struct config *cfg; /* a reference: the config of its whole life */
    bool remote;
    bool returning; /* an admin's bounce, not a delivery */
    char qid[17];
    char *sender;
    char *auth_user;
    char domain[256]; /* remote: the destination domain */
    time_t created;
    size_t size;
    struct delivery_rcpt *rcpts;
    size_t n, cap;
    /* remote: the destination (domain, or the relayhost) whose active
     * queue and concurrency window the job belongs to, and what the
     * attempt says about it (remote sets it; DEST_NEUTRAL until then) */
    char dest_name[256];
    struct dest *dest;
    enum dest_result site;
    char mx[300]; /* remote: the host that answered last */
    /* remote: the body copied out of the store, and a DKIM-Signature */
    struct spool body;
    char *prefix;
    bool drop_quarantine_file; /* delivered while quarantined: its .eml goes */
    /* an outcome the store could not record yet (delivery/outcomes.h) */
    struct {
        bool kept;       /* waiting in memory for the store */
        bool submitted;  /* a write of it is with the committer */
        int fault;       /* enum store_fault of its last failed write */
        unsigned tries;  /* failed writes so far */
        time_t retry_at; /* next write, when the store is well */
        struct delivery_job *next;
    } unrecorded;
};

#endif
