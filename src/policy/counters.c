/* policy/counters - sliding-window event counts per key (room: policy).
 *
 * The window is cut into SLOTS equal slots; an event lands in the slot of
 * its time and the total is the sum of the slots still inside the window.
 * That over-counts by at most one slot's worth at the window's old edge —
 * a limit may bite a few minutes early in an hour, never late. */
#include "policy/counters.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/strmap.h"
#include "core/util.h"

#define SLOTS 12

struct count {
    long long slot_of[SLOTS]; /* which absolute slot number each cell holds */
    unsigned long n[SLOTS];
};

struct counters {
    struct strmap *map;
    unsigned width; /* seconds per slot */
    size_t max_keys;
    time_t full_sweep; /* when a full table was last swept: at most once a second */
};

struct counters *counters_new(unsigned window, size_t max_keys)
{
    struct counters *c = calloc(1, sizeof *c);
    if (c == NULL || (c->map = strmap_new()) == NULL) {
        free(c);
        return NULL;
    }
    c->width = window >= SLOTS ? (window + SLOTS - 1) / SLOTS : 1;
    c->max_keys = max_keys;
    return c;
}

void counters_free(struct counters *c)
{
    if (c == NULL)
        return;
    strmap_free(c->map, free);
    free(c);
}

static long long slot_now(const struct counters *c, time_t now)
{
    return (long long)now / c->width;
}

static unsigned long total(const struct counters *c, const struct count *k, time_t now)
{
    long long cur = slot_now(c, now);
    unsigned long sum = 0;
    for (int i = 0; i < SLOTS; i++)
        if (k->slot_of[i] > cur - SLOTS && k->slot_of[i] <= cur)
            sum += k->n[i];
    return sum;
}

unsigned long counters_add(struct counters *c, const char *key, unsigned n, time_t now)
{
    struct count *k = strmap_get(c->map, key);
    if (k == NULL) {
        if (strmap_count(c->map) >= c->max_keys && c->full_sweep != now) {
            c->full_sweep = now;
            counters_sweep(c, now);
        }
        if (strmap_count(c->map) >= c->max_keys || (k = calloc(1, sizeof *k)) == NULL)
            return n;
        for (int i = 0; i < SLOTS; i++)
            k->slot_of[i] = -1;
        if (strmap_put(c->map, key, k, NULL) < 0) {
            free(k);
            return n;
        }
    }
    long long cur = slot_now(c, now);
    int i = (int)(cur % SLOTS);
    if (k->slot_of[i] != cur) {
        k->slot_of[i] = cur;
        k->n[i] = 0;
    }
    k->n[i] += n;
    return total(c, k, now);
}

unsigned long counters_get(const struct counters *c, const char *key, time_t now)
{
    const struct count *k = strmap_get(c->map, key);
    return k ? total(c, k, now) : 0;
}

void counters_reset(struct counters *c, const char *key)
{
    free(strmap_del(c->map, key));
}

struct sweep_ctx {
    const struct counters *c;
    time_t now;
};

static bool still_counting(const char *key, void *value, void *arg)
{
    const struct sweep_ctx *s = arg;
    return total(s->c, value, s->now) > 0;
}

void counters_sweep(struct counters *c, time_t now)
{
    struct sweep_ctx s = {c, now};
    strmap_sweep(c->map, still_counting, &s, free);
}

size_t counters_keys(const struct counters *c)
{
    return strmap_count(c->map);
}

struct top_ctx {
    const struct counters *c;
    time_t now;
    struct counter_total *out;
    size_t n, used;
};

/* offer - keep KEY among the highest totals (insertion into a short
 * sorted array).  Returns true: strmap_sweep is used as an iterator. */
static bool offer(const char *key, void *value, void *arg)
{
    struct top_ctx *t = arg;
    unsigned long sum = total(t->c, value, t->now);
    if (sum == 0 || (t->used == t->n && t->out[t->n - 1].total >= sum))
        return true;
    size_t i = t->used < t->n ? t->used++ : t->n - 1;
    for (; i > 0 && t->out[i - 1].total < sum; i--)
        t->out[i] = t->out[i - 1];
    str_copy(t->out[i].key, key, sizeof t->out[i].key);
    t->out[i].total = sum;
    return true;
}

size_t counters_top(const struct counters *c, time_t now, struct counter_total *out, size_t n)
{
    struct top_ctx t = {c, now, out, n, 0};
    if (n > 0)
        strmap_sweep(c->map, offer, &t, NULL);
    return t.used;
}
