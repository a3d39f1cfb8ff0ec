/* accounts/login_cache - logins that verified recently, so that a client
 * logging in again (a phone that reconnects for every message) is not made
 * to pay, and make everyone else wait for, another argon2id check.  What
 * is kept is a keyed hash of user and password (the key is random per
 * process; no password is kept) and the stored hash it matched: a changed
 * password no longer matches that, so it invalidates the entry by itself.
 * Only successes are cached, so a guess always costs the full check.  The
 * account's state (locked, expired, 2FA, suspended) is judged at every
 * login as before.  Dovecot's auth cache does the same.  On the loop. */
#ifndef FLOODGATE_ACCOUNTS_LOGIN_CACHE_H
#define FLOODGATE_ACCOUNTS_LOGIN_CACHE_H

#include <time.h>

#define LOGIN_CACHE_TTL 900 /* seconds an entry is trusted */

struct login_cache;

struct login_cache *login_cache_new(void);
void login_cache_free(struct login_cache *c);

/* login_cache_match - did PASSWORD of USER verify against the stored hash
 * MATCHED within the last LOGIN_CACHE_TTL seconds?  Returns that hash (a
 * copy owned by the cache, valid until the next call), or NULL. */
const char *login_cache_match(struct login_cache *c, const char *user, const char *password,
                              time_t now);
/* login_cache_remember - PASSWORD of USER just verified against HASH. */
void login_cache_remember(struct login_cache *c, const char *user, const char *password,
                          const char *hash, time_t now);

#endif
