/* accounts/login_state - what decides a login besides the password:
 * suspension, a forced or aged-out password, a lockout after guessing, 2FA,
 * and the app passwords of the account.  AUTH reads it all in one go on
 * a worker (indexed reads) and the policy engine decides on it
 * (policy/engine_login.c); floodctl expires and unlocks.  Addresses
 * are normalised (lowercased) by the caller or here. */
#ifndef FLOODGATE_ACCOUNTS_LOGIN_STATE_H
#define FLOODGATE_ACCOUNTS_LOGIN_STATE_H

#include <jansson.h>
#include "store/store.h"
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "accounts/password.h"
#include "core/config.h"
#include "store/logins.h"

/* struct login_state, struct login_app_password, APP_PASSWORDS_MAX and
 * APP_LABEL_MAX come from store/logins.h: the store fills them. */
_Static_assert(STORE_HASH_MAX == PASSWORD_HASH_MAX, "a stored hash is a password hash");

/* login_state_read - the state of ADDRESS logging in from NETWORK (see
 * lockout_network) into OUT, in one statement.  1 when found, 0 when there
 * is no such user, -1 on a store error (logged). */
int login_state_read(store_db *db, const char *address, const char *network,
                     struct login_state *out);

/* login_network_known - whether the network S was read for is one the
 * account logged in from within KNOWN_AGE seconds of NOW (0: none is). */
bool login_network_known(const struct login_state *s, time_t now, unsigned known_age);

/* login_main_locked - whether the main password of S is locked from the
 * network it was read for at NOW: that network is locked, or the account
 * is (the valve) and the network is not one it logged in from within
 * KNOWN_AGE seconds. */
bool login_main_locked(const struct login_state *s, time_t now, unsigned known_age);

enum password_age { PASSWORD_FRESH, PASSWORD_EXPIRING, PASSWORD_EXPIRED };

/* password_age_of - where a password stands: FORCED (expired by the admin)
 * or older than passwords.max_age is EXPIRED; within warn_before of
 * max_age is EXPIRING.  *EXPIRES gets the end of its life (0: none). */
enum password_age password_age_of(const struct config_passwords *p, bool forced, long long changed,
                                  time_t now, long long *expires);

/* login_expire - force a new password on ADDRESS (NULL: on every user).
 * *N gets the number of users changed.  -1 with ERR on failure. */
int login_expire(store_db *db, const char *address, long *n, char *err, size_t errlen);
/* login_unlock - lift the lockouts of ADDRESS (NULL: of every user), from
 * every network and account-wide; *N counts the accounts that had one. */
int login_unlock(store_db *db, const char *address, long *n, char *err, size_t errlen);
/* login_lock - lock the main password of ADDRESS until UNTIL (the daemon,
 * from the committer thread): from NETWORK after FAILURES there, or
 * account-wide when NETWORK is NULL.  -1 on a store error. */
int login_lock(store_db *db, const char *address, const char *network, long long until,
               unsigned failures, long long now);
/* login_network_ok - note a successful login of ADDRESS from NETWORK at WHEN. */
int login_network_ok(store_db *db, const char *address, const char *network, long long when);
/* login_lockouts - the live locks at NOW of ADDRESS (NULL: of every user),
 * for floodctl: [{address, network, locked_at, locked_until, failures}];
 * an account-wide lock has network "*".  NULL with ERR on failure. */
json_t *login_lockouts(store_db *db, const char *address, long long now, char *err, size_t errlen);
/* login_app_password_used - note a successful login with app password ID. */
int login_app_password_used(store_db *db, long long id, long long when, const char *ip);

/* login_facts - the login facts of ADDRESS for floodctl, as an object:
 * {address, created, suspended, password_changed, password_expired,
 * password_expires, password_state, locked_until, totp_enabled,
 * totp_pending, app_passwords, locked_networks, locked, locked_account}; NULL with ERR when there
 * is no such user. */
json_t *login_facts(store_db *db, const struct config_passwords *p, const char *address, char *err,
                    size_t errlen);
/* login_annotate - add password_expires, password_state ("ok", "expiring",
 * "expired"), locked_account (bool: the account-wide lock) and locked
 * (bool: that or a lock from some network) to a user object holding
 * created, password_changed, password_expired, locked_until and
 * locked_networks. */
void login_annotate(json_t *user, const struct config_passwords *p, time_t now);

#endif
