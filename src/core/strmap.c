/* core/strmap - chained hash map from strings to pointers (room: core).
 * FNV-1a hashing; the bucket array doubles when the load passes 1, so a
 * lookup stays a couple of comparisons however many keys an attack makes. */
#include "core/strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct entry {
    struct entry *next;
    uint32_t hash;
    void *value;
    char key[]; /* NUL-terminated */
};

struct strmap {
    struct entry **buckets;
    size_t nbuckets; /* a power of two */
    size_t count;
};

static uint32_t hash_of(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

struct strmap *strmap_new(void)
{
    struct strmap *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    m->nbuckets = 64;
    if ((m->buckets = calloc(m->nbuckets, sizeof *m->buckets)) == NULL) {
        free(m);
        return NULL;
    }
    return m;
}

void strmap_free(struct strmap *m, void (*free_value)(void *))
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->nbuckets; i++) {
        for (struct entry *e = m->buckets[i], *next; e; e = next) {
            next = e->next;
            if (free_value)
                free_value(e->value);
            free(e);
        }
    }
    free(m->buckets);
    free(m);
}

static struct entry **slot_of(const struct strmap *m, const char *key, uint32_t h)
{
    struct entry **p = &m->buckets[h & (m->nbuckets - 1)];
    while (*p && ((*p)->hash != h || strcmp((*p)->key, key) != 0))
        p = &(*p)->next;
    return p;
}

void *strmap_get(const struct strmap *m, const char *key)
{
    struct entry *e = *slot_of(m, key, hash_of(key));
    return e ? e->value : NULL;
}

/* grow - double the buckets; on allocation failure the map just stays
 * more loaded. */
static void grow(struct strmap *m)
{
    size_t n = m->nbuckets * 2;
    struct entry **b = calloc(n, sizeof *b);
    if (b == NULL)
        return;
    for (size_t i = 0; i < m->nbuckets; i++) {
        for (struct entry *e = m->buckets[i], *next; e; e = next) {
            next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
}

int strmap_put(struct strmap *m, const char *key, void *value, void **old)
{
    uint32_t h = hash_of(key);
    struct entry **p = slot_of(m, key, h);
    if (old)
        *old = *p ? (*p)->value : NULL;
    if (*p) {
        (*p)->value = value;
        return 0;
    }
    size_t len = strlen(key);
    struct entry *e = malloc(sizeof *e + len + 1);
    if (e == NULL)
        return -1;
    e->next = NULL;
    e->hash = h;
    e->value = value;
    memcpy(e->key, key, len + 1);
    *p = e;
    if (++m->count > m->nbuckets)
        grow(m);
    return 0;
}

void *strmap_del(struct strmap *m, const char *key)
{
    struct entry **p = slot_of(m, key, hash_of(key));
    struct entry *e = *p;
    if (e == NULL)
        return NULL;
    void *v = e->value;
    *p = e->next;
    free(e);
    m->count--;
    return v;
}

size_t strmap_count(const struct strmap *m)
{
    return m->count;
}

void strmap_sweep(struct strmap *m, bool (*keep)(const char *key, void *value, void *arg),
                  void *arg, void (*free_value)(void *))
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        for (struct entry **p = &m->buckets[i]; *p;) {
            struct entry *e = *p;
            if (keep(e->key, e->value, arg)) {
                p = &e->next;
                continue;
            }
            *p = e->next;
            if (free_value)
                free_value(e->value);
            free(e);
            m->count--;
        }
    }
}
