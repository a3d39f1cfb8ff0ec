/* policy/counters - sliding-window event counts per key (room: policy).
 *
 * The window is cut into SLOTS equal slots; an event lands in the slot of
 * its time and the total is the sum of the slots still inside the window.
 * That over-counts by at most one slot's worth at the window's old edge —
 * a limit may bite a few minutes early in an hour, never late. */
#include "policy/counters.h"

#include <stdbool.h>
#include <stdio.h>
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

struct save_ctx {
    const struct counters *c;
    time_t now;
    counters_emit_fn emit;
    void *arg;
    int rc;
};

/* save_one - KEY's line, when it has counts left; strmap_sweep as an
 * iterator (always true). */
static bool save_one(const char *key, void *value, void *arg)
{
    struct save_ctx *s = arg;
    const struct count *k = value;
    char line[256 + SLOTS * 44];
    long long cur = slot_now(s->c, s->now);
    if (s->rc < 0 || strpbrk(key, "\t\n") != NULL || strlen(key) > 255)
        return true;
    int o = snprintf(line, sizeof line, "%s\t", key);
    bool any = false;
    for (int i = 0; i < SLOTS; i++)
        if (k->slot_of[i] > cur - SLOTS && k->slot_of[i] <= cur && k->n[i] > 0) {
            o += snprintf(line + o, sizeof line - (size_t)o, "%s%lld:%lu", any ? " " : "",
                          k->slot_of[i], k->n[i]);
            any = true;
        }
    o += snprintf(line + o, sizeof line - (size_t)o, "\n");
    if (any && s->emit(line, (size_t)o, s->arg) < 0)
        s->rc = -1;
    return true;
}

int counters_save(const struct counters *c, time_t now, counters_emit_fn emit, void *arg)
{
    struct save_ctx s = {c, now, emit, arg, 0};
    strmap_sweep(c->map, save_one, &s, NULL);
    return s.rc;
}

/* parse_cell - "SLOT:N" at *P (advanced past it and one space). */
static int parse_cell(const char **p, const char *end, long long *slot, unsigned long *n)
{
    char buf[48];
    const char *q = *p;
    while (q < end && *q != ' ')
        q++;
    size_t len = (size_t)(q - *p);
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, *p, len);
    buf[len] = '\0';
    char *colon = strchr(buf, ':');
    uint64_t a, b;
    if (colon == NULL || parse_u64(buf, (size_t)(colon - buf), &a) < 0 ||
        parse_u64(colon + 1, strlen(colon + 1), &b) < 0 || a > (uint64_t)1 << 50 ||
        b > (uint64_t)1 << 40)
        return -1;
    *slot = (long long)a;
    *n = (unsigned long)b;
    *p = q < end ? q + 1 : q;
    return 0;
}

int counters_load_line(struct counters *c, const char *line, size_t len, time_t now)
{
    char key[256];
    const char *end = line + len, *tab = memchr(line, '\t', len);
    if (len > 0 && end[-1] == '\n')
        end--;
    if (tab == NULL || tab == line || (size_t)(tab - line) >= sizeof key)
        return -1;
    memcpy(key, line, (size_t)(tab - line));
    key[tab - line] = '\0';
    long long slots[SLOTS], cur = slot_now(c, now);
    unsigned long ns[SLOTS];
    int n = 0;
    for (const char *p = tab + 1; p < end; n++)
        if (n == SLOTS || parse_cell(&p, end, &slots[n], &ns[n]) < 0)
            return -1;
    for (int i = 0; i < n; i++) {
        if (slots[i] <= cur - SLOTS || slots[i] > cur || ns[i] == 0)
            continue; /* outside the window by now */
        /* counters_add at a time inside that slot lands in its cell */
        time_t at = (time_t)(slots[i] * (long long)c->width);
        unsigned long left = ns[i];
        while (left > 0) {
            unsigned part = left > 0xffffffffUL ? 0xffffffffU : (unsigned)left;
            counters_add(c, key, part, at);
            left -= part;
        }
    }
    return 0;
}

struct tagged_ctx {
    const char *tag;
    counters_emit_fn emit;
    void *arg;
};

/* emit_tagged - LINE behind its table's tag. */
static int emit_tagged(const char *line, size_t len, void *arg)
{
    struct tagged_ctx *t = arg;
    if (t->emit(t->tag, strlen(t->tag), t->arg) < 0 || t->emit("\t", 1, t->arg) < 0)
        return -1;
    return t->emit(line, len, t->arg);
}

int counters_save_tagged(const struct counters *c, const char *tag, time_t now,
                         counters_emit_fn emit, void *arg)
{
    struct tagged_ctx t = {tag, emit, arg};
    return counters_save(c, now, emit_tagged, &t);
}

int counters_load_tagged(struct counters *const *tables, const char *const *tags, size_t n,
                         const char *line, size_t len, time_t now)
{
    const char *tab = memchr(line, '\t', len);
    if (tab == NULL)
        return -1;
    size_t taglen = (size_t)(tab - line);
    for (size_t i = 0; i < n; i++)
        if (strlen(tags[i]) == taglen && memcmp(line, tags[i], taglen) == 0)
            return counters_load_line(tables[i], tab + 1, len - taglen - 1, now);
    return -1;
}
