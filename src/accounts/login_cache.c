/* accounts/login_cache - recently verified logins (room: accounts). */
#include "accounts/login_cache.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/strmap.h"
#include "core/util.h"

#define ENTRIES_MAX 10000 /* more than the accounts of a mid-size organisation */

struct login {
    time_t expires;
    char hash[]; /* the stored hash the password matched */
};

struct login_cache {
    struct strmap *map; /* hex(keyed hash of user NUL password) -> struct login */
    unsigned char key[crypto_generichash_KEYBYTES];
};

struct login_cache *login_cache_new(void)
{
    struct login_cache *c = calloc(1, sizeof *c);
    if (c == NULL || sodium_init() < 0 || (c->map = strmap_new()) == NULL) {
        free(c);
        return NULL;
    }
    randombytes_buf(c->key, sizeof c->key);
    return c;
}

void login_cache_free(struct login_cache *c)
{
    if (c == NULL)
        return;
    strmap_free(c->map, free);
    sodium_memzero(c->key, sizeof c->key);
    free(c);
}

/* entry_key - the map key of USER and PASSWORD, in BUF (65). */
static const char *entry_key(const struct login_cache *c, const char *user, const char *password,
                             char *buf, size_t len)
{
    unsigned char mac[32];
    crypto_generichash_state st;
    crypto_generichash_init(&st, c->key, sizeof c->key, sizeof mac);
    crypto_generichash_update(&st, (const unsigned char *)user, strlen(user) + 1);
    crypto_generichash_update(&st, (const unsigned char *)password, strlen(password));
    crypto_generichash_final(&st, mac, sizeof mac);
    sodium_bin2hex(buf, len, mac, sizeof mac);
    return buf;
}

static bool still_valid(const char *key, void *value, void *arg)
{
    return ((const struct login *)value)->expires > *(const time_t *)arg;
}

const char *login_cache_match(struct login_cache *c, const char *user, const char *password,
                              time_t now)
{
    char key[65];
    const struct login *l = strmap_get(c->map, entry_key(c, user, password, key, sizeof key));
    return l && l->expires > now ? l->hash : NULL;
}

void login_cache_remember(struct login_cache *c, const char *user, const char *password,
                          const char *hash, time_t now)
{
    char key[65];
    size_t len = strlen(hash);
    struct login *l = malloc(sizeof *l + len + 1), *old = NULL;
    if (l == NULL)
        return;
    l->expires = now + LOGIN_CACHE_TTL;
    memcpy(l->hash, hash, len + 1);
    if (strmap_count(c->map) >= ENTRIES_MAX)
        strmap_sweep(c->map, still_valid, &now, free);
    if (strmap_count(c->map) >= ENTRIES_MAX ||
        strmap_put(c->map, entry_key(c, user, password, key, sizeof key), l, (void **)&old) < 0) {
        free(l);
        return;
    }
    free(old);
}
