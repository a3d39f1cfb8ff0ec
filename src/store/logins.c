/* store/logins - the rows behind a login: password, suspension, expiry,
 * lockouts, 2FA and app passwords.
 *
 * Room: store.  The daemon reads them at every AUTH rather than caching
 * them, so that 'floodctl user expire', 'unlock', '2fa' and 'app-password
 * revoke' take effect at the very next login without any message to the
 * daemon: SQLite in WAL mode makes the read cheap.  The rules (what locks,
 * when a password ages out, what a label may be) are the accounts room's. */
#include "store/logins.h"

#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "store/store_sql.h"

/* read_apps - the app passwords of A (at most APP_PASSWORDS_MAX). */
static int read_apps(sqlite3 *db, const char *a, struct login_state *out)
{
    sqlite3_stmt *st = store_prepare(db, "SELECT id, label, hash FROM app_passwords"
                                         " WHERE user = ?1 ORDER BY id LIMIT ?2");
    if (st == NULL)
        return -1;
    int rc = sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int(st, 2, APP_PASSWORDS_MAX);
    out->n_app = 0;
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct login_app_password *ap = &out->app[out->n_app];
        const char *label = (const char *)sqlite3_column_text(st, 1);
        const char *hash = (const char *)sqlite3_column_text(st, 2);
        /* A row that does not fit cannot be verified: skip it, as if revoked. */
        if (label && hash && str_copy(ap->label, label, sizeof ap->label) &&
            str_copy(ap->hash, hash, sizeof ap->hash)) {
            ap->id = sqlite3_column_int64(st, 0);
            out->n_app++;
        }
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* store_logins_read - the user's row and the network's, then the apps. */
int store_logins_read(sqlite3 *db, const char *a, const char *network, struct login_state *out)
{
    sqlite3_stmt *st = store_prepare(
        db, "SELECT u.password, u.suspended, u.password_expired,"
            " coalesce(u.password_changed, u.created), coalesce(u.locked_until, 0),"
            " u.totp_enabled, coalesce(n.locked_until, 0), coalesce(n.last_ok, 0)"
            " FROM users u LEFT JOIN login_networks n ON n.user = u.address AND n.network = ?2"
            " WHERE u.address = ?1");
    if (st == NULL)
        return -1;
    int found = -1;
    int rc = sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 2, network ? network : "", -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        found = 0;
    } else if (rc == SQLITE_ROW) {
        const char *h = (const char *)sqlite3_column_text(st, 0);
        /* A hash that does not fit is corrupt: refusing is the safe answer. */
        if (h != NULL && str_copy(out->hash, h, sizeof out->hash)) {
            out->suspended = sqlite3_column_int(st, 1) != 0;
            out->password_expired = sqlite3_column_int(st, 2) != 0;
            out->password_changed = sqlite3_column_int64(st, 3);
            out->locked_until = sqlite3_column_int64(st, 4);
            out->totp_enabled = sqlite3_column_int(st, 5) != 0;
            out->network_locked_until = sqlite3_column_int64(st, 6);
            out->network_last_ok = sqlite3_column_int64(st, 7);
            found = 1;
        } else {
            log_warnx("event=store_error op=credentials user=%s error=bad_hash", log_quote(a));
        }
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        log_warnx("event=store_error op=credentials error=%s", log_quote(sqlite3_errmsg(db)));
    sqlite3_finalize(st);
    if (found == 1 && read_apps(db, a, out) < 0) {
        log_warnx("event=store_error op=app_passwords error=%s", log_quote(sqlite3_errmsg(db)));
        return -1;
    }
    return found;
}

/* update_users - run SQL (?1 the address A when not NULL, ?2 WHEN when
 * it has one) and count the rows changed into *N. */
static int update_users(sqlite3 *db, const char *sql, const char *a, long long when, long *n,
                        char *err, size_t errlen)
{
    sqlite3_stmt *st = store_prepare(db, sql);
    if (st == NULL) {
        snprintf(err, errlen, "store error: %s", sqlite3_errmsg(db));
        return -1;
    }
    int rc = a ? sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC) : SQLITE_OK;
    if (rc == SQLITE_OK && sqlite3_bind_parameter_count(st) >= 2)
        rc = sqlite3_bind_int64(st, 2, when);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        log_warnx("event=store_error op=update_users error=%s", log_quote(sqlite3_errmsg(db)));
        snprintf(err, errlen, "store error: %s", sqlite3_errmsg(db));
        return -1;
    }
    *n = sqlite3_changes(db);
    return 0;
}

/* store_logins_expire - password_expired on A or on everyone. */
int store_logins_expire(sqlite3 *db, const char *a, long *n, char *err, size_t errlen)
{
    return a ? update_users(db, "UPDATE users SET password_expired = 1 WHERE address = ?1", a, 0, n,
                            err, errlen)
             : update_users(db, "UPDATE users SET password_expired = 1", NULL, 0, n, err, errlen);
}

/* count_locked - the accounts (A, or all when NULL) with a live lock at
 * NOW, account-wide or from some network; -1 on error. */
static long count_locked(sqlite3 *db, const char *a, long long now)
{
    sqlite3_stmt *st =
        store_prepare(db, "SELECT count(*) FROM users u WHERE (?1 IS NULL OR u.address = ?1) AND"
                          " (u.locked_until > ?2 OR EXISTS(SELECT 1 FROM login_networks n"
                          "  WHERE n.user = u.address AND n.locked_until > ?2))");
    if (st == NULL)
        return -1;
    int rc = a ? sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC) : sqlite3_bind_null(st, 1);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 2, now);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    long n = rc == SQLITE_ROW ? (long)sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    return n;
}

/* store_logins_unlock - count the live locks, then lift them. */
int store_logins_unlock(sqlite3 *db, const char *a, long long now, long *n, char *err,
                        size_t errlen)
{
    long changed;
    if (store_begin(db, true, err, errlen) < 0)
        return -1;
    /* A lock that ran out needs no lifting: only the live ones count. */
    *n = count_locked(db, a, now);
    /* ?1 is left unbound (NULL) for every user */
    static const char *const lift[] = {"UPDATE users SET locked_until = NULL"
                                       " WHERE (?1 IS NULL OR address = ?1) AND locked_until > ?2",
                                       "UPDATE login_networks SET locked_until = NULL"
                                       " WHERE (?1 IS NULL OR user = ?1) AND locked_until > ?2"};
    int rc = *n < 0 ? -1 : 0;
    for (size_t i = 0; i < sizeof lift / sizeof lift[0] && rc == 0; i++)
        rc = update_users(db, lift[i], a, now, &changed, err, errlen);
    if (rc == 0)
        rc = store_commit(db, err, errlen);
    if (rc < 0) {
        if (*n < 0)
            snprintf(err, errlen, "store error: %s", sqlite3_errmsg(db));
        store_rollback(db);
        return -1;
    }
    return 0;
}

/* network_row - run SQL, an upsert of the row (?1 user, ?2 network) of
 * login_networks, with the N numbers V bound to ?3 onwards. */
static int network_row(sqlite3 *db, const char *sql, const char *a, const char *network,
                       const long long *v, int n)
{
    sqlite3_stmt *st = store_prepare(db, sql);
    if (st == NULL)
        return -1;
    int rc = sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 2, network, -1, SQLITE_STATIC);
    for (int i = 0; i < n && rc == SQLITE_OK; i++)
        rc = sqlite3_bind_int64(st, 3 + i, v[i]);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* store_logins_lock - the account-wide lock, or the network's row. */
int store_logins_lock(sqlite3 *db, const char *a, const char *network, long long until,
                      unsigned failures, long long now)
{
    char err[256];
    long n;
    if (network == NULL)
        return update_users(db, "UPDATE users SET locked_until = ?2 WHERE address = ?1", a, until,
                            &n, err, sizeof err);
    const long long v[] = {until, now, failures};
    return network_row(
        db,
        "INSERT INTO login_networks(user, network, locked_until, locked_at, failures)"
        " SELECT address, ?2, ?3, ?4, ?5 FROM users WHERE address = ?1"
        " ON CONFLICT(user, network) DO UPDATE SET locked_until = ?3,"
        " locked_at = ?4, failures = ?5",
        a, network, v, 3);
}

/* store_logins_network_ok - last_ok of A's row for NETWORK. */
int store_logins_network_ok(sqlite3 *db, const char *a, const char *network, long long when)
{
    return network_row(db,
                       "INSERT INTO login_networks(user, network, last_ok)"
                       " SELECT address, ?2, ?3 FROM users WHERE address = ?1"
                       " ON CONFLICT(user, network) DO UPDATE SET last_ok = ?3",
                       a, network, &when, 1);
}

/* store_logins_lockouts - the live locks, per network and account-wide. */
json_t *store_logins_lockouts(sqlite3 *db, const char *a, long long now, char *err, size_t errlen)
{
    sqlite3_stmt *st = store_prepare(
        db, "SELECT user AS address, network, locked_at, locked_until, failures"
            " FROM login_networks WHERE (?1 IS NULL OR user = ?1) AND locked_until > ?2"
            " UNION ALL SELECT address, '*', NULL, locked_until, NULL FROM users"
            " WHERE (?1 IS NULL OR address = ?1) AND locked_until > ?2"
            " ORDER BY 1, 2");
    int rc = st ? (a ? sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC) : sqlite3_bind_null(st, 1))
                : SQLITE_ERROR;
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 2, now);
    json_t *arr = rc == SQLITE_OK ? json_array() : NULL;
    while (arr && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *o = store_row_json(st, "");
        if (o == NULL || json_array_append_new(arr, o) < 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    if (arr && rc != SQLITE_DONE) {
        json_decref(arr);
        arr = NULL;
    }
    if (arr == NULL)
        snprintf(err, errlen, "store error: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return arr;
}

/* store_logins_app_password_used - last_used and last_ip of app password ID. */
int store_logins_app_password_used(sqlite3 *db, long long id, long long when, const char *ip)
{
    sqlite3_stmt *st =
        store_prepare(db, "UPDATE app_passwords SET last_used = ?2, last_ip = ?3 WHERE id = ?1");
    if (st == NULL)
        return -1;
    int rc = sqlite3_bind_int64(st, 1, id);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 2, when);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 3, ip, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* store_logins_facts - the user row of A with its counts. */
json_t *store_logins_facts(sqlite3 *db, const char *a, char *err, size_t errlen)
{
    json_t *o = NULL;
    sqlite3_stmt *st = store_prepare(
        db, "SELECT address, created, suspended, password_changed, password_expired,"
            " locked_until, totp_enabled, totp_secret IS NOT NULL AND totp_enabled = 0"
            " AS totp_pending,"
            " (SELECT count(*) FROM app_passwords WHERE user = users.address) AS "
            "app_passwords, " LOGIN_LOCKED_NETWORKS_SQL " FROM users WHERE address = ?1");
    if (st == NULL) {
        snprintf(err, errlen, "store error: %s", sqlite3_errmsg(db));
        return NULL;
    }
    int rc = sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        o = store_row_json(st, "suspended password_expired totp_enabled totp_pending ");
    if (rc == SQLITE_DONE)
        snprintf(err, errlen, "no such user %s: see 'floodctl user list'", a);
    else if (o == NULL)
        snprintf(err, errlen, "store error: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return o;
}

/* store_logins_totp - the 2FA columns of A. */
int store_logins_totp(sqlite3 *db, const char *a, bool *enabled, char *hex, size_t hexlen)
{
    sqlite3_stmt *st =
        store_prepare(db, "SELECT totp_enabled, totp_secret FROM users WHERE address = ?1");
    if (st == NULL)
        return -1;
    int rc = sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    int found = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
    if (found == 1) {
        const char *s = (const char *)sqlite3_column_text(st, 1);
        *enabled = sqlite3_column_int(st, 0) != 0;
        if (s == NULL || !str_copy(hex, s, hexlen))
            hex[0] = '\0';
    }
    sqlite3_finalize(st);
    return found;
}

/* set_columns - run SQL with ?1 = A and ?2 = TEXT (may be NULL). */
static int set_columns(sqlite3 *db, const char *sql, const char *a, const char *text, char *err,
                       size_t errlen)
{
    sqlite3_stmt *st = store_prepare(db, sql);
    int rc = st ? sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC) : SQLITE_ERROR;
    if (rc == SQLITE_OK && sqlite3_bind_parameter_count(st) >= 2)
        rc = sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "store error: %s", sqlite3_errmsg(db));
        return -1;
    }
    return 0;
}

/* store_logins_totp_pending - a secret waiting for its first code. */
int store_logins_totp_pending(sqlite3 *db, const char *a, const char *hex, char *err, size_t errlen)
{
    return set_columns(db, "UPDATE users SET totp_secret = ?2, totp_enabled = 0 WHERE address = ?1",
                       a, hex, err, errlen);
}

/* store_logins_totp_enable - the pending secret becomes the one. */
int store_logins_totp_enable(sqlite3 *db, const char *a, char *err, size_t errlen)
{
    return set_columns(db, "UPDATE users SET totp_enabled = 1 WHERE address = ?1", a, NULL, err,
                       errlen);
}

/* store_logins_totp_disable - 2FA off, the secret forgotten. */
int store_logins_totp_disable(sqlite3 *db, const char *a, char *err, size_t errlen)
{
    return set_columns(db,
                       "UPDATE users SET totp_enabled = 0, totp_secret = NULL WHERE address = ?1",
                       a, NULL, err, errlen);
}

/* store_app_passwords_count - -1 tells "no such user" from "none". */
long long store_app_passwords_count(sqlite3 *db, const char *a)
{
    sqlite3_stmt *st = store_prepare(db, "SELECT (SELECT count(*) FROM app_passwords"
                                         " WHERE user = ?1) FROM users WHERE address = ?1");
    if (st == NULL)
        return -2;
    long long n = -2;
    int rc = sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    else if (rc == SQLITE_DONE)
        n = -1;
    sqlite3_finalize(st);
    return n;
}

/* store_app_passwords_insert - a new app password row. */
int store_app_passwords_insert(sqlite3 *db, const char *a, const char *label, const char *hash,
                               long long now)
{
    sqlite3_stmt *st = store_prepare(db, "INSERT INTO app_passwords(user, label, hash, created)"
                                         " VALUES(?1, ?2, ?3, ?4)");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, label, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, now);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return -2;
    return rc == SQLITE_DONE ? 0 : -1;
}

/* store_app_passwords_delete - the app password LABEL of A. */
int store_app_passwords_delete(sqlite3 *db, const char *a, const char *label)
{
    sqlite3_stmt *st =
        store_prepare(db, "DELETE FROM app_passwords WHERE user = ?1 AND label = ?2");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, label, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return -1;
    return sqlite3_changes(db) > 0 ? 1 : 0;
}

/* store_app_passwords_list - the app passwords of A, oldest first. */
json_t *store_app_passwords_list(sqlite3 *db, const char *a)
{
    sqlite3_stmt *st =
        store_prepare(db, "SELECT label, created, last_used, last_ip"
                          " FROM app_passwords WHERE user = ?1 ORDER BY created, id");
    if (st == NULL)
        return NULL;
    sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
    return store_rows_json(db, st, NULL);
}
