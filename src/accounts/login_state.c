/* accounts/login_state - expiry, lockout, 2FA and app passwords as AUTH and
 * floodctl see them.
 *
 * Room: accounts.  The daemon reads the state at every AUTH rather than
 * caching it, so that 'floodctl user expire', 'unlock', '2fa' and
 * 'app-password revoke' take effect at the very next login without any
 * message to the daemon: SQLite in WAL mode makes the read cheap. */
#include "accounts/login_state.h"

#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "store/store.h"
#include "store/store_sql.h"

/* norm - the lowercased ADDRESS into OUT (256); false when too long. */
static bool norm(const char *address, char *out)
{
    if (address == NULL || !str_copy(out, address, 256))
        return false;
    str_lower(out);
    return true;
}

/* read_apps - the app passwords of A (at most APP_PASSWORDS_MAX). */
static int read_apps(store_db *db, const char *a, struct login_state *out)
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

/* login_state_read - the state of ADDRESS from NETWORK into OUT.  The
 * network's row comes with the user's in the same statement (two
 * primary-key probes): the lockout per network costs AUTH no extra read. */
int login_state_read(store_db *db, const char *address, const char *network, struct login_state *out)
{
    char a[256];
    if (!norm(address, a))
        return 0;
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

/* login_main_locked - whether the main password is locked from this
 * network.  The valve spares a network the account logged in from within
 * KNOWN_AGE: a botnet spread over a thousand networks must not lock alice
 * out at her office. */
bool login_main_locked(const struct login_state *s, time_t now, unsigned known_age)
{
    if (s->network_locked_until > now)
        return true;
    if (s->locked_until <= now)
        return false;
    return !(known_age > 0 && s->network_last_ok > 0 && now - s->network_last_ok <= known_age);
}

/* password_age_of - where a password stands. */
enum password_age password_age_of(const struct config_passwords *p, bool forced, long long changed,
                                  time_t now, long long *expires)
{
    *expires = p->max_age ? changed + (long long)p->max_age : 0;
    if (forced || (*expires && *expires <= now))
        return PASSWORD_EXPIRED;
    if (*expires && *expires - now <= (long long)p->warn_before)
        return PASSWORD_EXPIRING;
    return PASSWORD_FRESH;
}

/* update_users - run SQL (?1 the address when it has one) and count the
 * rows changed into *N; "no such user" when one address matched none. */
static int update_users(store_db *db, const char *sql, const char *address, long long when, long *n,
                        char *err, size_t errlen)
{
    char a[256];
    if (address && !norm(address, a)) {
        snprintf(err, errlen, "no such user %.200s: see 'floodctl user list'", address);
        return -1;
    }
    sqlite3_stmt *st = store_prepare(db, sql);
    if (st == NULL) {
        snprintf(err, errlen, "store error: %s", sqlite3_errmsg(db));
        return -1;
    }
    int rc = address ? sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC) : SQLITE_OK;
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

/* user_exists - 1 when A is a user, 0 when not, -1 on error. */
static int user_exists(store_db *db, const char *a)
{
    sqlite3_stmt *st = store_prepare(db, "SELECT 1 FROM users WHERE address = ?1");
    if (st == NULL)
        return -1;
    int rc = sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* login_expire - force a new password on ADDRESS (NULL: every user). */
int login_expire(store_db *db, const char *address, long *n, char *err, size_t errlen)
{
    int rc = address ? update_users(db, "UPDATE users SET password_expired = 1 WHERE address = ?1",
                                    address, 0, n, err, errlen)
                     : update_users(db, "UPDATE users SET password_expired = 1", NULL, 0, n, err,
                                    errlen);
    if (rc < 0)
        return -1;
    if (address && *n == 0) {
        snprintf(err, errlen, "no such user %.200s: see 'floodctl user list'", address);
        return -1;
    }
    log_info("event=password_expired user=%s users=%ld", address ? log_quote(address) : "*", *n);
    return 0;
}

static json_t *facts_row(sqlite3_stmt *st, const char *bools);

/* count_locked - the accounts (ADDRESS, or all when NULL) with a live
 * lock at NOW, account-wide or from some network; -1 on error. */
static long count_locked(store_db *db, const char *address, long long now)
{
    sqlite3_stmt *st =
        store_prepare(db, "SELECT count(*) FROM users u WHERE (?1 IS NULL OR u.address = ?1) AND"
                          " (u.locked_until > ?2 OR EXISTS(SELECT 1 FROM login_networks n"
                          "  WHERE n.user = u.address AND n.locked_until > ?2))");
    if (st == NULL)
        return -1;
    int rc =
        address ? sqlite3_bind_text(st, 1, address, -1, SQLITE_STATIC) : sqlite3_bind_null(st, 1);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 2, now);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    long n = rc == SQLITE_ROW ? (long)sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    return n;
}

/* login_unlock - lift the lockouts of ADDRESS (NULL: of every user), from
 * every network and account-wide.  *N counts the accounts that were locked. */
int login_unlock(store_db *db, const char *address, long *n, char *err, size_t errlen)
{
    char a[256];
    long changed;
    long long now = (long long)time(NULL);
    if (address) {
        int e = norm(address, a) ? user_exists(db, a) : 0;
        if (e <= 0) {
            if (e < 0)
                snprintf(err, errlen, "store error: %s", sqlite3_errmsg(db));
            else
                snprintf(err, errlen, "no such user %.200s: see 'floodctl user list'", address);
            return -1;
        }
    }
    if (store_exec(db, "BEGIN IMMEDIATE", err, errlen) < 0)
        return -1;
    /* A lock that ran out needs no lifting: only the live ones count. */
    *n = count_locked(db, address ? a : NULL, now);
    /* ?1 is left unbound (NULL) for every user */
    static const char *const lift[] = {"UPDATE users SET locked_until = NULL"
                                       " WHERE (?1 IS NULL OR address = ?1) AND locked_until > ?2",
                                       "UPDATE login_networks SET locked_until = NULL"
                                       " WHERE (?1 IS NULL OR user = ?1) AND locked_until > ?2"};
    int rc = *n < 0 ? -1 : 0;
    for (size_t i = 0; i < sizeof lift / sizeof lift[0] && rc == 0; i++)
        rc = update_users(db, lift[i], address, now, &changed, err, errlen);
    if (rc == 0)
        rc = store_exec(db, "COMMIT", err, errlen);
    if (rc < 0) {
        if (*n < 0)
            snprintf(err, errlen, "store error: %s", sqlite3_errmsg(db));
        char ignored[64];
        store_exec(db, "ROLLBACK", ignored, sizeof ignored);
        return -1;
    }
    log_info("event=account_unlocked user=%s users=%ld", address ? log_quote(address) : "*", *n);
    return 0;
}

/* network_row - run SQL, an upsert of the row (?1 user, ?2 network) of
 * login_networks, with the N numbers V bound to ?3 onwards. */
static int network_row(store_db *db, const char *sql, const char *address, const char *network,
                       const long long *v, int n)
{
    sqlite3_stmt *st = store_prepare(db, sql);
    if (st == NULL)
        return -1;
    int rc = sqlite3_bind_text(st, 1, address, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 2, network, -1, SQLITE_STATIC);
    for (int i = 0; i < n && rc == SQLITE_OK; i++)
        rc = sqlite3_bind_int64(st, 3 + i, v[i]);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* login_lock - lock the main password of ADDRESS from NETWORK (NULL:
 * account-wide) until UNTIL. */
int login_lock(store_db *db, const char *address, const char *network, long long until,
               unsigned failures, long long now)
{
    char err[256];
    long n;
    if (network == NULL)
        return update_users(db, "UPDATE users SET locked_until = ?2 WHERE address = ?1", address,
                            until, &n, err, sizeof err);
    const long long v[] = {until, now, failures};
    return network_row(
        db,
        "INSERT INTO login_networks(user, network, locked_until, locked_at, failures)"
        " SELECT address, ?2, ?3, ?4, ?5 FROM users WHERE address = ?1"
        " ON CONFLICT(user, network) DO UPDATE SET locked_until = ?3,"
        " locked_at = ?4, failures = ?5",
        address, network, v, 3);
}

/* login_network_ok - note a successful login of ADDRESS from NETWORK. */
int login_network_ok(store_db *db, const char *address, const char *network, long long when)
{
    return network_row(db,
                       "INSERT INTO login_networks(user, network, last_ok)"
                       " SELECT address, ?2, ?3 FROM users WHERE address = ?1"
                       " ON CONFLICT(user, network) DO UPDATE SET last_ok = ?3",
                       address, network, &when, 1);
}

/* login_lockouts - the live locks of ADDRESS (NULL: every user) at NOW. */
json_t *login_lockouts(store_db *db, const char *address, long long now, char *err, size_t errlen)
{
    char a[256];
    if (address && !norm(address, a)) {
        snprintf(err, errlen, "no such user %.200s: see 'floodctl user list'", address);
        return NULL;
    }
    sqlite3_stmt *st = store_prepare(
        db, "SELECT user AS address, network, locked_at, locked_until, failures"
            " FROM login_networks WHERE (?1 IS NULL OR user = ?1) AND locked_until > ?2"
            " UNION ALL SELECT address, '*', NULL, locked_until, NULL FROM users"
            " WHERE (?1 IS NULL OR address = ?1) AND locked_until > ?2"
            " ORDER BY 1, 2");
    int rc =
        st ? (address ? sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC) : sqlite3_bind_null(st, 1))
           : SQLITE_ERROR;
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 2, now);
    json_t *arr = rc == SQLITE_OK ? json_array() : NULL;
    while (arr && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *o = facts_row(st, "");
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

/* login_app_password_used - note a successful login with app password ID. */
int login_app_password_used(store_db *db, long long id, long long when, const char *ip)
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

/* login_annotate - add the derived facts to a user object. */
void login_annotate(json_t *u, const struct config_passwords *p, time_t now)
{
    static const char *const names[] = {"ok", "expiring", "expired"};
    json_t *changed = json_object_get(u, "password_changed");
    long long when = json_is_integer(changed) ? json_integer_value(changed)
                                              : json_integer_value(json_object_get(u, "created"));
    json_t *forced = json_object_get(u, "password_expired");
    long long expires, locked = json_integer_value(json_object_get(u, "locked_until"));
    enum password_age age = password_age_of(
        p, json_is_true(forced) || json_integer_value(forced) != 0, when, now, &expires);
    json_object_set_new(u, "password_expires", expires ? json_integer(expires) : json_null());
    json_object_set_new(u, "password_state", json_string(names[age]));
    json_t *nets = json_object_get(u, "locked_networks");
    json_object_set_new(u, "locked_account", json_boolean(locked > now));
    json_object_set_new(u, "locked", json_boolean(locked > now || json_integer_value(nets) > 0));
}

/* facts_row - the current row of ST as an object; the columns named in
 * BOOLS (space-separated, each followed by a space) become booleans. */
static json_t *facts_row(sqlite3_stmt *st, const char *bools)
{
    json_t *o = json_object();
    for (int i = 0; o && i < sqlite3_column_count(st); i++) {
        char key[64];
        const char *name = sqlite3_column_name(st, i);
        snprintf(key, sizeof key, "%s ", name);
        json_t *v = strstr(bools, key) ? json_boolean(sqlite3_column_int(st, i) != 0)
                                       : store_column_json(st, i);
        if (v == NULL || json_object_set_new(o, name, v) < 0) {
            json_decref(o);
            o = NULL;
        }
    }
    return o;
}

/* login_facts - the login facts of ADDRESS for floodctl. */
json_t *login_facts(store_db *db, const struct config_passwords *p, const char *address, char *err,
                    size_t errlen)
{
    char a[256];
    json_t *o = NULL;
    sqlite3_stmt *st =
        norm(address, a)
            ? store_prepare(
                  db, "SELECT address, created, suspended, password_changed, password_expired,"
                      " locked_until, totp_enabled, totp_secret IS NOT NULL AND totp_enabled = 0"
                      " AS totp_pending,"
                      " (SELECT count(*) FROM app_passwords WHERE user = users.address) AS "
                      "app_passwords, " LOGIN_LOCKED_NETWORKS_SQL " FROM users WHERE address = ?1")
            : NULL;
    if (st == NULL) {
        snprintf(err, errlen, "no such user %.200s: see 'floodctl user list'", address);
        return NULL;
    }
    int rc = sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        o = facts_row(st, "suspended password_expired totp_enabled totp_pending ");
    if (rc == SQLITE_DONE)
        snprintf(err, errlen, "no such user %s: see 'floodctl user list'", a);
    else if (o == NULL)
        snprintf(err, errlen, "store error: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    if (o)
        login_annotate(o, p, time(NULL));
    return o;
}
