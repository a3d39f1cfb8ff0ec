/* delivery/destinations - per-destination active queues for the scheduler:
 * who goes next, how many at once per destination, and when a destination
 * is given up on for a while.  See destinations.h for the rules.
 *
 * Two rings: the destinations that have work, and inside each destination
 * its senders that have work.  A ring has a cursor; taking from the
 * element under the cursor moves the cursor on, so every member gets its
 * turn whatever order the work arrived in.  A flood of 5,000 messages from
 * one sender to one provider is one member of one ring, and a colleague's
 * message to the same provider waits for at most one of them. */
#include "delivery/destinations.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/strmap.h"
#include "core/util.h"

#define DEST_ERROR_MAX 256

/* A member of a circular doubly linked list. */
struct ring_node {
    struct ring_node *prev, *next;
};

struct dest_sender {
    struct ring_node node; /* first: a ring_node pointer is a dest_sender pointer */
    struct dest_entry *head, *tail;
    char key[];
};

struct dest {
    struct ring_node node;  /* first, as above; in the table's ring while queued > 0 */
    struct strmap *senders; /* key -> struct dest_sender, those with work */
    struct ring_node *turn; /* the sender whose turn it is */
    size_t queued;
    unsigned window; /* entries in flight at once, at most */
    unsigned in_flight;
    unsigned failures; /* attempts in a row that reached no server */
    bool dead;         /* resting until probe_at */
    bool probing;      /* dead, and its one probe is in flight */
    unsigned deaths;   /* failed probes in a row, for the rest time */
    time_t probe_at;
    char last_error[DEST_ERROR_MAX];
    char name[];
};

struct dest_table {
    struct dest_limits lim;
    struct strmap *dests;   /* name -> struct dest, every destination with state */
    struct ring_node *turn; /* the destination whose turn it is */
    size_t queued;
    size_t dead; /* dead destinations (a fast "none" for the suspended scan) */
    time_t now;  /* for dest_expire's sweep */
};

/* ---- rings ---- */

/* ring_insert - N joins the ring at *TURN as its last member (just before
 * the cursor), or starts it. */
static void ring_insert(struct ring_node **turn, struct ring_node *n)
{
    if (*turn == NULL) {
        n->prev = n->next = n;
        *turn = n;
        return;
    }
    n->next = *turn;
    n->prev = (*turn)->prev;
    n->prev->next = n;
    (*turn)->prev = n;
}

/* ring_remove - N leaves the ring; the cursor moves on if it was on N. */
static void ring_remove(struct ring_node **turn, struct ring_node *n)
{
    if (n->next == n) {
        *turn = NULL;
    } else {
        n->prev->next = n->next;
        n->next->prev = n->prev;
        if (*turn == n)
            *turn = n->next;
    }
    n->prev = n->next = NULL;
}

/* ---- destinations ---- */

static unsigned rest_seconds(const struct dest_limits *lim, unsigned deaths)
{
    unsigned long s = lim->rest_min ? lim->rest_min : 1;
    for (unsigned i = 1; i < deaths && s < lim->rest_max; i++)
        s *= 2;
    return s > lim->rest_max && lim->rest_max ? lim->rest_max : (unsigned)s;
}

static void dest_free(void *arg)
{
    struct dest *d = arg;
    strmap_free(d->senders, free);
    free(d);
}

static struct dest *dest_get(struct dest_table *t, const char *name)
{
    struct dest *d = strmap_get(t->dests, name);
    if (d)
        return d;
    size_t len = strlen(name);
    if ((d = calloc(1, sizeof *d + len + 1)) == NULL)
        return NULL;
    memcpy(d->name, name, len + 1);
    d->window = t->lim.initial ? t->lim.initial : 1;
    if ((d->senders = strmap_new()) == NULL || strmap_put(t->dests, name, d, NULL) < 0) {
        dest_free(d);
        return NULL;
    }
    return d;
}

/* forget - a destination with nothing queued, nothing in flight and
 * nothing to remember (not dead) has no state: as Postfix's qmgr, a
 * destination seen again later starts its slow start again. */
static void forget(struct dest_table *t, struct dest *d)
{
    if (d->queued == 0 && d->in_flight == 0 && !d->dead)
        dest_free(strmap_del(t->dests, d->name));
}

static bool can_start(const struct dest *d, time_t now)
{
    if (d->queued == 0)
        return false;
    if (d->dead) /* one probe, once rested and once the earlier attempts are over */
        return !d->probing && d->in_flight == 0 && now >= d->probe_at;
    /* After a failure, no attempt replaces the one that failed until one
     * gets through: the attempts still running finish the cohort. */
    return d->in_flight < (d->failures ? 1 : d->window);
}

/* take - the first entry of the sender whose turn it is in D. */
static struct dest_entry *take(struct dest_table *t, struct dest *d)
{
    struct dest_sender *s = (struct dest_sender *)d->turn;
    struct dest_entry *e = s->head;
    d->turn = s->node.next;
    if ((s->head = e->next) == NULL) {
        ring_remove(&d->turn, &s->node);
        free(strmap_del(d->senders, s->key));
    }
    e->next = NULL;
    d->queued--;
    t->queued--;
    if (d->queued == 0)
        ring_remove(&t->turn, &d->node);
    return e;
}

/* ---- the table ---- */

struct dest_table *dest_table_new(const struct dest_limits *lim)
{
    struct dest_table *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    if ((t->dests = strmap_new()) == NULL) {
        free(t);
        return NULL;
    }
    dest_table_limits(t, lim);
    return t;
}

static bool clamp_window(const char *key, void *value, void *arg)
{
    struct dest *d = value;
    const struct dest_limits *lim = arg;
    (void)key;
    if (d->window > lim->max)
        d->window = lim->max;
    return true;
}

void dest_table_limits(struct dest_table *t, const struct dest_limits *lim)
{
    t->lim = *lim;
    if (t->lim.max == 0)
        t->lim.max = 1;
    if (t->lim.initial == 0 || t->lim.initial > t->lim.max)
        t->lim.initial = t->lim.initial ? t->lim.max : 1;
    strmap_sweep(t->dests, clamp_window, &t->lim, NULL);
}

/* drain_sender - free every entry queued by one sender. */
static bool drain_sender(const char *key, void *value, void *arg)
{
    struct dest_sender *s = value;
    void (*free_entry)(struct dest_entry *) = *(void (**)(struct dest_entry *))arg;
    (void)key;
    for (struct dest_entry *e = s->head, *next; e; e = next) {
        next = e->next;
        if (free_entry)
            free_entry(e);
    }
    return false;
}

struct drain_ctx {
    struct dest_table *t;
    void (*free_entry)(struct dest_entry *);
};

/* drain_dest - empty one destination's queue; keep its state only while
 * something is in flight or it is dead. */
static bool drain_dest(const char *key, void *value, void *arg)
{
    struct dest *d = value;
    struct drain_ctx *c = arg;
    (void)key;
    strmap_sweep(d->senders, drain_sender, &c->free_entry, free);
    d->turn = NULL;
    if (d->queued)
        ring_remove(&c->t->turn, &d->node);
    c->t->queued -= d->queued;
    d->queued = 0;
    if (d->in_flight == 0 && !d->dead)
        return false;
    return true;
}

void dest_drain(struct dest_table *t, void (*free_entry)(struct dest_entry *))
{
    struct drain_ctx c = {t, free_entry};
    strmap_sweep(t->dests, drain_dest, &c, dest_free);
}

void dest_table_free(struct dest_table *t, void (*free_entry)(struct dest_entry *))
{
    if (t == NULL)
        return;
    dest_drain(t, free_entry);
    strmap_free(t->dests, dest_free);
    free(t);
}

int dest_add(struct dest_table *t, const char *dest, const char *sender, struct dest_entry *e)
{
    struct dest *d = dest_get(t, dest);
    if (d == NULL)
        return -1;
    struct dest_sender *s = strmap_get(d->senders, sender);
    if (s == NULL) {
        size_t len = strlen(sender);
        if ((s = calloc(1, sizeof *s + len + 1)) == NULL ||
            strmap_put(d->senders, sender, s, NULL) < 0) {
            free(s);
            forget(t, d);
            return -1;
        }
        memcpy(s->key, sender, len + 1);
        ring_insert(&d->turn, &s->node);
    }
    e->next = NULL;
    if (s->head)
        s->tail->next = e;
    else
        s->head = e;
    s->tail = e;
    if (d->queued++ == 0)
        ring_insert(&t->turn, &d->node);
    t->queued++;
    return 0;
}

struct dest_entry *dest_next(struct dest_table *t, time_t now, struct dest **dest)
{
    /* Each destination is looked at once per call, from the one whose turn
     * it is; the cursor moves past it whether or not it could start, so a
     * destination stuck at its window does not keep the turn. */
    for (struct ring_node *first = t->turn, *n = first; n;) {
        struct dest *d = (struct dest *)n;
        struct ring_node *after = n->next;
        t->turn = after;
        if (can_start(d, now)) {
            struct dest_entry *e = take(t, d);
            d->in_flight++;
            d->probing = d->dead;
            *dest = d;
            return e;
        }
        n = after == first ? NULL : after;
    }
    return NULL;
}

struct dest_entry *dest_next_suspended(struct dest_table *t, time_t now, struct dest **dest)
{
    if (t->dead == 0 || t->turn == NULL)
        return NULL;
    struct ring_node *first = t->turn, *n = first;
    do {
        struct dest *d = (struct dest *)n;
        n = n->next;
        /* once its probe may start, the entries wait for it instead */
        if (d->dead && !can_start(d, now)) {
            *dest = d;
            return take(t, d);
        }
    } while (n != first && t->turn != NULL);
    return NULL;
}

/* die - D reached no server COHORT times in a row: rest before one probe. */
static void die(struct dest_table *t, struct dest *d, time_t now)
{
    if (!d->dead)
        t->dead++;
    d->dead = true;
    d->deaths++;
    d->probe_at = now + (time_t)rest_seconds(&t->lim, d->deaths);
    d->window = t->lim.initial;
}

void dest_done(struct dest_table *t, struct dest *d, enum dest_result result, time_t now,
               const char *error)
{
    bool probe = d->probing;
    d->probing = false;
    if (d->in_flight > 0)
        d->in_flight--;
    switch (result) {
    case DEST_OK:
        d->failures = 0;
        if (d->dead) { /* the probe (or a late attempt) got through */
            d->dead = false;
            d->deaths = 0;
            t->dead--;
        } else if (d->window < t->lim.max) {
            d->window++; /* slow start: one more at once per success */
        }
        break;
    case DEST_FAILED:
        d->failures++;
        str_copy(d->last_error, error ? error : "", sizeof d->last_error);
        /* A cohort is a window's worth of failures: with W attempts at
         * once, W failing together is one event, not W. */
        if (d->dead ? probe : d->failures >= d->window)
            die(t, d, now);
        break;
    case DEST_NEUTRAL:
        break;
    }
    forget(t, d);
}

static bool keep_fresh(const char *key, void *value, void *arg)
{
    struct dest *d = value;
    struct dest_table *t = arg;
    (void)key;
    return d->queued > 0 || d->in_flight > 0 || !d->dead ||
           t->now < d->probe_at + (time_t)rest_seconds(&t->lim, d->deaths);
}

void dest_expire(struct dest_table *t, time_t now)
{
    size_t before = strmap_count(t->dests);
    t->now = now;
    strmap_sweep(t->dests, keep_fresh, t, dest_free);
    t->dead -= before - strmap_count(t->dests);
}

/* ---- looking ---- */

const char *dest_name(const struct dest *d)
{
    return d->name;
}

unsigned dest_window(const struct dest *d)
{
    return d->window;
}

unsigned dest_in_flight(const struct dest *d)
{
    return d->in_flight;
}

bool dest_dead(const struct dest *d)
{
    return d->dead;
}

time_t dest_probe_at(const struct dest *d)
{
    return d->probe_at;
}

unsigned dest_failures(const struct dest *d)
{
    return d->failures;
}

const char *dest_last_error(const struct dest *d)
{
    return d->last_error;
}

struct dest *dest_find(const struct dest_table *t, const char *name)
{
    return strmap_get(t->dests, name);
}

size_t dest_queued(const struct dest_table *t)
{
    return t->queued;
}
