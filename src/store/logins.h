/* store/logins - the rows behind a login: a user's password, suspension,
 * expiry, lockouts (account-wide and per network), 2FA state and app
 * passwords.  The accounts room (accounts/login_state, accounts/lockout)
 * holds the rules over them; addresses arrive lowercased. */
#ifndef FLOODGATE_STORE_LOGINS_H
#define FLOODGATE_STORE_LOGINS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "store/store.h"

#define STORE_HASH_MAX 128   /* a stored password hash (crypto_pwhash_STRBYTES) */
#define APP_PASSWORDS_MAX 20 /* per user: bounds the hashes one AUTH may verify */
#define APP_LABEL_MAX 64     /* octets of a label */

/* One app password as AUTH sees it. */
struct login_app_password {
    long long id;
    char label[APP_LABEL_MAX + 1];
    char hash[STORE_HASH_MAX];
};

/* Everything AUTH needs to know about one account. */
struct login_state {
    char hash[STORE_HASH_MAX]; /* the main password */
    bool suspended;
    bool password_expired;          /* forced by 'floodctl user expire' */
    long long password_changed;     /* unix time (account creation when never set) */
    long long locked_until;         /* account-wide lock (the valve): unix time, 0 when none */
    long long network_locked_until; /* lock of the client's network, 0 when none */
    long long network_last_ok;      /* last successful login from it, 0 when never */
    bool totp_enabled;              /* only app passwords log in */
    size_t n_app;
    struct login_app_password app[APP_PASSWORDS_MAX];
};

/* A column for a user listing: how many networks the account's main
 * password is locked from now. */
#define LOGIN_LOCKED_NETWORKS_SQL                                                                  \
    "(SELECT count(*) FROM login_networks n WHERE n.user = users.address"                          \
    " AND n.locked_until > CAST(strftime('%s', 'now') AS INTEGER)) AS locked_networks"

/* store_logins_read - the state of user A logging in from NETWORK into
 * OUT: the user's row and the network's in one statement (two primary-key
 * probes), then its app passwords.  1 found, 0 no such user, -1 on a store
 * error (logged). */
int store_logins_read(store_db *db, const char *a, const char *network, struct login_state *out);

/* store_logins_expire - force a new password on A (NULL: every user);
 * *N the users changed.  -1 with ERR. */
int store_logins_expire(store_db *db, const char *a, long *n, char *err, size_t errlen);
/* store_logins_unlock - lift the live locks (account-wide and per network)
 * of A (NULL: of every user) at NOW, in one transaction; *N counts the
 * accounts that had one.  -1 with ERR. */
int store_logins_unlock(store_db *db, const char *a, long long now, long *n, char *err,
                        size_t errlen);
/* store_logins_lock - lock the main password of A until UNTIL: from
 * NETWORK after FAILURES there, or account-wide when NETWORK is NULL. */
int store_logins_lock(store_db *db, const char *a, const char *network, long long until,
                      unsigned failures, long long now);
/* store_logins_network_ok - a successful login of A from NETWORK at WHEN. */
int store_logins_network_ok(store_db *db, const char *a, const char *network, long long when);
/* store_logins_lockouts - the live locks of A (NULL: all) at NOW:
 * [{address, network, locked_at, locked_until, failures}], an account-wide
 * lock with network "*".  NULL with ERR. */
json_t *store_logins_lockouts(store_db *db, const char *a, long long now, char *err, size_t errlen);
/* store_logins_app_password_used - a login with app password ID from IP. */
int store_logins_app_password_used(store_db *db, long long id, long long when, const char *ip);
/* store_logins_facts - the user row of A for floodctl: {address, created,
 * suspended, password_changed, password_expired, locked_until,
 * totp_enabled, totp_pending, app_passwords, locked_networks}.  NULL with
 * ERR when there is no such user or on a store error. */
json_t *store_logins_facts(store_db *db, const char *a, char *err, size_t errlen);

/* store_logins_totp - the 2FA columns of user A: ENABLED and the secret
 * in hex (empty when none) into HEX.  1 found, 0 no user, -1 error. */
int store_logins_totp(store_db *db, const char *a, bool *enabled, char *hex, size_t hexlen);
/* store_logins_totp_pending - a new pending secret HEX (2FA off till
 * confirmed); store_logins_totp_enable / _disable (forgetting the
 * secret).  -1 with ERR. */
int store_logins_totp_pending(store_db *db, const char *a, const char *hex, char *err,
                              size_t errlen);
int store_logins_totp_enable(store_db *db, const char *a, char *err, size_t errlen);
int store_logins_totp_disable(store_db *db, const char *a, char *err, size_t errlen);

/* store_app_passwords_count - the app passwords of user A; -1 when A is
 * no user, -2 on a store error. */
long long store_app_passwords_count(store_db *db, const char *a);
/* store_app_passwords_insert - app password LABEL (HASH) of A: 0, -2 when
 * A has one by that label, -1 on a store error. */
int store_app_passwords_insert(store_db *db, const char *a, const char *label, const char *hash,
                               long long now);
/* store_app_passwords_delete - 1 deleted, 0 none by that label, -1 error. */
int store_app_passwords_delete(store_db *db, const char *a, const char *label);
/* store_app_passwords_list - [{label, created, last_used, last_ip}] of A;
 * NULL on a store error. */
json_t *store_app_passwords_list(store_db *db, const char *a);

#endif
