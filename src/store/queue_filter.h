/* store/queue_filter - the selection an admin makes in the queue: by
 * account, IP or network, sender, header From, recipient, domain, subject,
 * state, age and listener, all combinable.  Turns a selection into an SQL
 * condition with bound values (never text pasted into SQL). */
#ifndef FLOODGATE_STORE_QUEUE_FILTER_H
#define FLOODGATE_STORE_QUEUE_FILTER_H

#include <jansson.h>
#include "store/store.h"
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define FILTER_BINDS_MAX 32
#define FILTER_IDS_MAX 100000 /* queue ids in one request */

struct queue_filter {
    const char *const *ids; /* explicit queue ids, or NULL */
    size_t n_ids;
    const char *auth_user;   /* exact */
    const char *ip;          /* an address, or a network "192.0.2.0/24" */
    const char *from;        /* envelope sender, exact, case-insensitive */
    const char *header_from; /* exact, case-insensitive */
    const char *rcpt;        /* one recipient, exact, case-insensitive */
    const char *rcpt_domain; /* a recipient domain */
    const char *subject;     /* substring, case-insensitive */
    const char *state;       /* a recipient state; NULL: any pending one */
    const char *listener;
    bool unauthenticated; /* only messages sent without AUTH */
    long long older_than; /* seconds; 0: unset */
    long long newer_than;
    const char *sort; /* a column of the listing; NULL: created */
    bool descending;
    unsigned limit; /* 0: none */
};

struct filter_bind {
    bool is_int;
    const char *text;
    long long num;
};

struct filter_sql {
    char where[4096]; /* " AND ..." over messages m */
    char order[128];  /* " ORDER BY ..." */
    struct filter_bind binds[FILTER_BINDS_MAX];
    int n;
    char *ids_json; /* the explicit ids, as a JSON array */
};

/* How a statement embeds a filter. */
enum {
    FILTER_ORDERED = 1, /* append the filter's ORDER BY */
    FILTER_JOINED = 2,  /* the statement joins recipients r: state is a condition on r */
};

/* queue_filter_build - the SQL for F at time NOW (FLAGS as above); -1 with
 * ERR set when a value is invalid (a bad network, an unknown sort column). */
int queue_filter_build(const struct queue_filter *f, time_t now, unsigned flags,
                       struct filter_sql *out, char *err, size_t errlen);
/* queue_filter_release - free what queue_filter_build allocated. */
void queue_filter_release(struct filter_sql *fs);
/* queue_filter_register - make ip_in(ip, network) known to DB. */
int queue_filter_register(store_db *db);

/* store_queue_select - call EACH(ARG, id) for every message F selects,
 * in F's order; EACH returns <0 to stop.  0 when done, -1 on a store
 * error or when EACH stopped. */
int store_queue_select(store_db *db, const struct queue_filter *f,
                       int (*each)(void *arg, const char *id), void *arg);

#endif
