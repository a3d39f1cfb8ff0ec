/* core/strmap - a hash map from strings to pointers, for the in-memory
 * tables the policy keeps (failures per IP, messages per user, bans).
 * Not thread-safe: each map belongs to the event loop. */
#ifndef FLOODGATE_CORE_STRMAP_H
#define FLOODGATE_CORE_STRMAP_H

#include <stdbool.h>
#include <stddef.h>

struct strmap;

struct strmap *strmap_new(void);
/* strmap_free - FREE_VALUE (may be NULL) is called on every value. */
void strmap_free(struct strmap *m, void (*free_value)(void *));

void *strmap_get(const struct strmap *m, const char *key);
/* strmap_put - KEY (copied) maps to VALUE; the old value, if any, is
 * returned in *OLD (may be NULL).  -1 when memory runs out. */
int strmap_put(struct strmap *m, const char *key, void *value, void **old);
/* strmap_del - remove KEY; its value, or NULL. */
void *strmap_del(struct strmap *m, const char *key);
size_t strmap_count(const struct strmap *m);

/* strmap_sweep - call KEEP on every entry; entries for which it returns
 * false are removed and FREE_VALUE is called on their value. */
void strmap_sweep(struct strmap *m, bool (*keep)(const char *key, void *value, void *arg),
                  void *arg, void (*free_value)(void *));

#endif
