/* delivery/destinations - the scheduler's choice of what to deliver next: an
 * in-memory active queue per destination (the recipient domain, or the
 * relayhost), round-robin across the destinations that have work and,
 * inside one destination, round-robin across its senders; a concurrency
 * window per destination that starts small and grows with each success;
 * and a destination that stops answering is marked dead after a cohort of
 * failures, so that it costs one probe, not a connection per message.
 *
 * Pure bookkeeping: no sockets, no clock (the caller passes "now"), no
 * store.  Postfix's qmgr (qmgr_queue.c, qmgr_entry.c) is the model. */
#ifndef FLOODGATE_DELIVERY_DESTINATIONS_H
#define FLOODGATE_DELIVERY_DESTINATIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* dest_entry - embedded in the caller's unit of work (a delivery job); the
 * table links it into its sender's first-in-first-out list. */
struct dest_entry {
    struct dest_entry *next;
};

struct dest;
struct dest_table;

struct dest_limits {
    unsigned initial;  /* window of a destination not seen lately */
    unsigned max;      /* largest window (delivery.max_per_domain) */
    unsigned rest_min; /* seconds a dead destination rests before its first probe */
    unsigned rest_max; /* ... doubling per failed probe up to this */
};

/* What one delivery attempt says about its destination. */
enum dest_result {
    DEST_NEUTRAL, /* says nothing about the destination (our own error,
                   * a domain that does not exist, shutdown) */
    DEST_OK,      /* a server answered and took the transaction (even if it
                   * refused recipients): the destination is alive */
    DEST_FAILED   /* no server of the destination answered */
};

struct dest_table *dest_table_new(const struct dest_limits *lim);
/* dest_table_free - FREE_ENTRY (may be NULL) is called on each queued entry;
 * entries in flight belong to the caller. */
void dest_table_free(struct dest_table *t, void (*free_entry)(struct dest_entry *));
/* dest_table_limits - new limits (reload); windows above the new maximum
 * shrink at once. */
void dest_table_limits(struct dest_table *t, const struct dest_limits *lim);

/* dest_add - queue E for destination DEST from sender SENDER (the auth
 * user, else the client IP), behind that sender's earlier entries.  -1
 * when memory runs out (E is then not queued). */
int dest_add(struct dest_table *t, const char *dest, const char *sender, struct dest_entry *e);

/* dest_next - the next entry to start at NOW: the destinations with work
 * take turns, each within its window; inside one destination the senders
 * take turns.  The entry counts as in flight for *DEST (set) until
 * dest_done.  NULL when no destination may start anything now. */
struct dest_entry *dest_next(struct dest_table *t, time_t now, struct dest **dest);

/* dest_done - an entry of D started by dest_next is over: feed its RESULT
 * back (ERROR: what went wrong, kept for the deferrals of a dead
 * destination).  D may be freed by this call. */
void dest_done(struct dest_table *t, struct dest *d, enum dest_result result, time_t now,
               const char *error);

/* dest_next_suspended - an entry queued for a dead destination that is not
 * its probe: the caller defers it without a connection.  *DEST is set as
 * by dest_next (the entry does not count as in flight; no dest_done). */
struct dest_entry *dest_next_suspended(struct dest_table *t, time_t now, struct dest **dest);

/* dest_drain - remove every queued entry (not those in flight), calling
 * FREE_ENTRY on each: the store changed under the active queue. */
void dest_drain(struct dest_table *t, void (*free_entry)(struct dest_entry *));

/* dest_expire - forget dead destinations nobody has sent to for a rest
 * period past their probe time (a spam run leaves thousands behind). */
void dest_expire(struct dest_table *t, time_t now);

/* ---- looking at a destination (logs, floodctl, tests) ---- */
const char *dest_name(const struct dest *d);
unsigned dest_window(const struct dest *d);
unsigned dest_in_flight(const struct dest *d);
bool dest_dead(const struct dest *d);
time_t dest_probe_at(const struct dest *d);   /* dead: when the next probe may start */
unsigned dest_failures(const struct dest *d); /* failures in a row */
const char *dest_last_error(const struct dest *d);
/* dest_find - the destination called NAME, or NULL when it has no state. */
struct dest *dest_find(const struct dest_table *t, const char *name);
size_t dest_queued(const struct dest_table *t); /* entries queued, all destinations */

#endif
