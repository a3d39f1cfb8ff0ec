/* accounts/login_verify - the facts of one password check: the account's
 * login state read from the client's network, and whether the candidate
 * is its main password or one of its app passwords.  SMTP AUTH
 * (smtp/auth.c) and the logins other services ask the daemon for (IMAP
 * through Dovecot: control/login_service.c) run this same check on a
 * worker; the verdict on the facts is the policy engine's. */
#ifndef FLOODGATE_ACCOUNTS_LOGIN_VERIFY_H
#define FLOODGATE_ACCOUNTS_LOGIN_VERIFY_H

#include <stdbool.h>
#include <time.h>

#include "accounts/login_state.h"
#include "store/store.h"

struct login_verified {
    int found;             /* the login state: 1 read, 0 no such account, -1 the read failed */
    struct login_state st; /* what was read (found == 1) */
    bool main_ok;          /* the candidate is the main password */
    int app;               /* index in st.app of the app password it is, or -1 */
};

/* login_verify - on a worker (argon2id burns tens of milliseconds; DB is
 * the thread's own connection): read USER's login state from NETWORK and
 * check PASSWORD against the main password (an unknown user against a
 * dummy hash, so that the time tells nothing) and, when it has their
 * shape, the app passwords.  CACHED is the hash the login cache matched a
 * moment ago ("" when none): when the account still has it, no argon2
 * runs.  Wipe OUT (OPENSSL_cleanse) when done with it. */
void login_verify(store_db *db, const char *user, const char *network, const char *password,
                  const char *cached, struct login_verified *out);

struct login_cache;
/* login_verified_remember - when V found PASSWORD right (the main or an
 * app password), CACHE keeps it under KEY with the hash it matched, at
 * NOW: whatever the account's state says, the next check of the same
 * password skips argon2. */
void login_verified_remember(struct login_cache *cache, const char *key, const char *password,
                             const struct login_verified *v, time_t now);

#endif
