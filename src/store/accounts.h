/* store/accounts - the rows of local domains, users and aliases: typed
 * reads and writes for the accounts room, which keeps the rules (what an
 * address looks like, what may be added, what a list expands to).
 * Addresses and domains arrive normalised (lowercased), so every lookup is
 * a primary-key probe. */
#ifndef FLOODGATE_STORE_ACCOUNTS_H
#define FLOODGATE_STORE_ACCOUNTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "store/logins.h"
#include "store/store.h"

/* store_accounts_is_domain / _is_user / _is_alias - 1 when the domain D,
 * the user A, or an alias A (with at least one target) exists, 0 when
 * not, -1 on a store error (logged). */
int store_accounts_is_domain(store_db *db, const char *d);
int store_accounts_is_user(store_db *db, const char *a);
int store_accounts_is_alias(store_db *db, const char *a);

/* The writes below return the number of rows changed, -1 on a store error
 * (store_errmsg says which) and -2 when a row with that key exists. */

/* store_accounts_domain_insert - domain D, created at NOW. */
int store_accounts_domain_insert(store_db *db, const char *d, long long now);
/* store_accounts_domain_count - users and alias addresses in domain D. */
int store_accounts_domain_count(store_db *db, const char *d, long long *users, long long *aliases);
/* store_accounts_domain_delete - D with its aliases and users (the caller
 * holds a transaction); the domains removed (0 or 1). */
int store_accounts_domain_delete(store_db *db, const char *d);

/* store_accounts_user_insert - user A of domain D with password HASH. */
int store_accounts_user_insert(store_db *db, const char *a, const char *d, const char *hash,
                               long long now);
int store_accounts_user_delete(store_db *db, const char *a);
/* store_accounts_user_set_password - a fresh password: not expired, its
 * age counted from NOW; the one it replaces joins A's password history,
 * which keeps the newest KEEP (in one savepoint).  The users changed (0
 * or 1), -1 on a store error. */
int store_accounts_user_set_password(store_db *db, const char *a, const char *hash, long long now,
                                     unsigned keep);
/* store_accounts_recent_passwords - the current password hash of A and
 * then up to MAX - 1 of its history, newest first, into OUT: how many, -1
 * on a store error. */
int store_accounts_recent_passwords(store_db *db, const char *a, char (*out)[STORE_HASH_MAX],
                                    size_t max);
int store_accounts_user_set_suspended(store_db *db, const char *a, bool on);
/* store_accounts_user_credentials - the hash (into HASH, HASHLEN) and the
 * suspension of user A: 1 found, 0 no such user, -1 on a store error or a
 * hash that does not fit (corrupt: refusing the login is the safe answer). */
int store_accounts_user_credentials(store_db *db, const char *a, char *hash, size_t hashlen,
                                    bool *suspended);

/* store_accounts_alias_count - the targets alias A has; -1 on error. */
long long store_accounts_alias_count(store_db *db, const char *a);
/* store_accounts_alias_insert - A -> T (-2 when it exists). */
int store_accounts_alias_insert(store_db *db, const char *a, const char *t, long long now);
/* store_accounts_alias_insert_new - A -> T unless it exists: 1 added, 0
 * there already, -1 on error. */
int store_accounts_alias_insert_new(store_db *db, const char *a, const char *t, long long now);
/* store_accounts_alias_delete - A -> T, or every target of A when T is NULL. */
int store_accounts_alias_delete(store_db *db, const char *a, const char *t);

/* What a target of an alias is. */
enum store_target_kind {
    STORE_TARGET_USER,    /* a user */
    STORE_TARGET_ALIAS,   /* another alias */
    STORE_TARGET_REMOTE,  /* an address in a domain that is not ours */
    STORE_TARGET_DANGLING /* in a local domain, but neither a user nor an alias */
};

/* A reader of the targets of aliases: one prepared statement serving a
 * whole expansion, whatever its depth. */
struct store_targets;

/* store_targets_open - a reader on DB; NULL on a store error. */
struct store_targets *store_targets_open(store_db *db);
/* store_targets_read - call EACH(ARG, target, kind) for every target of
 * ALIAS; EACH returns 0 to go on or <0 to stop with that value.  The
 * statement is reset before this returns, so EACH's caller may read the
 * next alias with the same reader.  0 when done, -1 on a store error. */
int store_targets_read(struct store_targets *r, const char *alias,
                       int (*each)(void *arg, const char *target, enum store_target_kind kind),
                       void *arg);
void store_targets_close(struct store_targets *r);

/* store_accounts_domain_names - ["example.org", ...]: every local
 * domain's name; NULL on a store error (logged). */
json_t *store_accounts_domain_names(store_db *db);
/* store_accounts_domain_list - [{name, created, users, aliases}]. */
json_t *store_accounts_domain_list(store_db *db);
/* store_accounts_user_list - the users of domain D (NULL: all):
 * [{address, created, suspended, password_changed, password_expired,
 * locked_until, totp_enabled, app_passwords, locked_networks}]. */
json_t *store_accounts_user_list(store_db *db, const char *d);
/* store_accounts_alias_list - [{address, target, created}] of D (NULL: all). */
json_t *store_accounts_alias_list(store_db *db, const char *d);

#endif
