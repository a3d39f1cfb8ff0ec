/* store/accounts - the rows of local domains, users and aliases.
 *
 * Room: store.  Short statements against the primary keys; the accounts
 * room decides what may be written and what a list expands to.  The
 * helpers for text-bound statements and rows as JSON at the top serve the
 * other typed files of the room as well (store/store_sql.h). */
#include "store/accounts.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "store/logins.h"
#include "store/store_sql.h"

int store_query_exists(sqlite3 *db, const char *sql, const char *arg, const char *arg2)
{
    bool kept; /* SQL is a literal: its statement is kept (store_stmt) */
    sqlite3_stmt *st = store_stmt(db, sql, &kept);
    if (st == NULL)
        return -1;
    int rc = sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK && arg2)
        rc = sqlite3_bind_text(st, 2, arg2, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    int found = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
    if (found < 0)
        log_warnx("event=store_error op=lookup error=%s", log_quote(sqlite3_errmsg(db)));
    store_stmt_done(st, kept);
    return found;
}

int store_exec_text(sqlite3 *db, const char *sql, int n, const char *const *args,
                    sqlite3_int64 when)
{
    sqlite3_stmt *st = store_prepare(db, sql);
    if (st == NULL)
        return -1;
    int rc = SQLITE_OK;
    for (int i = 0; i < n && rc == SQLITE_OK; i++)
        rc = sqlite3_bind_text(st, i + 1, args[i], -1, SQLITE_STATIC);
    if (rc == SQLITE_OK && sqlite3_bind_parameter_count(st) > n)
        rc = sqlite3_bind_int64(st, n + 1, when);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
        return sqlite3_changes(db);
    return (rc & 0xff) == SQLITE_CONSTRAINT ? -2 : -1;
}

/* is_bool_column - is NAME one of BOOLS ("a b c ", each followed by a space)? */
static bool is_bool_column(const char *bools, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = bools; p && (p = strstr(p, name)) != NULL; p += n)
        if ((p == bools || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return true;
    return false;
}

json_t *store_row_json(sqlite3_stmt *st, const char *bools)
{
    json_t *row = json_object();
    for (int i = 0; row != NULL && i < sqlite3_column_count(st); i++) {
        const char *name = sqlite3_column_name(st, i);
        json_t *v = is_bool_column(bools, name) ? json_boolean(sqlite3_column_int(st, i) != 0)
                                                : store_column_json(st, i);
        if (v == NULL || json_object_set_new(row, name, v) < 0) {
            json_decref(row);
            row = NULL;
        }
    }
    return row;
}

json_t *store_rows_json(sqlite3 *db, sqlite3_stmt *st, const char *bools)
{
    json_t *arr = json_array();
    int rc = SQLITE_ERROR;
    while (arr != NULL && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *row = store_row_json(st, bools);
        if (row == NULL || json_array_append_new(arr, row) < 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    if (arr != NULL && rc != SQLITE_DONE) {
        log_warnx("event=store_error op=list error=%s", log_quote(sqlite3_errmsg(db)));
        json_decref(arr);
        arr = NULL;
    }
    sqlite3_finalize(st);
    return arr;
}

json_t *store_strings(sqlite3 *db, const char *sql, const char *arg)
{
    sqlite3_stmt *st = store_prepare(db, sql);
    if (st == NULL)
        return NULL;
    json_t *arr = json_array();
    int rc = arg ? sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT) : SQLITE_OK;
    while (arr != NULL && rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        rc = json_array_append_new(arr, json_string(v ? v : "")) < 0 ? SQLITE_NOMEM : SQLITE_OK;
    }
    if (rc != SQLITE_DONE) {
        if (arr != NULL && rc != SQLITE_NOMEM)
            log_warnx("event=store_error op=list error=%s", log_quote(sqlite3_errmsg(db)));
        json_decref(arr);
        arr = NULL;
    }
    sqlite3_finalize(st);
    return arr;
}

/* store_accounts_is_domain - is D one of ours? */
int store_accounts_is_domain(sqlite3 *db, const char *d)
{
    return store_query_exists(db, "SELECT 1 FROM domains WHERE name = ?1", d, NULL);
}

/* store_accounts_is_user - is A a user? */
int store_accounts_is_user(sqlite3 *db, const char *a)
{
    return store_query_exists(db, "SELECT 1 FROM users WHERE address = ?1", a, NULL);
}

/* store_accounts_is_alias - has A alias targets? */
int store_accounts_is_alias(sqlite3 *db, const char *a)
{
    return store_query_exists(db, "SELECT 1 FROM aliases WHERE address = ?1 LIMIT 1", a, NULL);
}

/* store_accounts_domain_insert - a new local domain. */
int store_accounts_domain_insert(sqlite3 *db, const char *d, long long now)
{
    const char *args[] = {d};
    return store_exec_text(db, "INSERT INTO domains(name, created) VALUES(?1, ?2)", 1, args, now);
}

/* store_accounts_domain_count - users and alias addresses still in D. */
int store_accounts_domain_count(sqlite3 *db, const char *d, long long *users, long long *aliases)
{
    static const char sql[] = "SELECT (SELECT count(*) FROM users WHERE domain = ?1),"
                              " (SELECT count(DISTINCT address) FROM aliases"
                              "   WHERE substr(address, instr(address, '@') + 1) = ?1)";
    sqlite3_stmt *st = store_prepare(db, sql);
    if (st == NULL)
        return -1;
    int rc = sqlite3_bind_text(st, 1, d, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *users = sqlite3_column_int64(st, 0);
        *aliases = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

/* store_accounts_domain_delete - remove D with its users and aliases. */
int store_accounts_domain_delete(sqlite3 *db, const char *d)
{
    const char *args[] = {d};
    if (store_exec_text(db,
                        "DELETE FROM aliases WHERE substr(address, instr(address, '@') + 1) = ?1",
                        1, args, 0) < 0)
        return -1;
    if (store_exec_text(db, "DELETE FROM users WHERE domain = ?1", 1, args, 0) < 0)
        return -1;
    return store_exec_text(db, "DELETE FROM domains WHERE name = ?1", 1, args, 0);
}

/* store_accounts_user_insert - a new user. */
int store_accounts_user_insert(sqlite3 *db, const char *a, const char *d, const char *hash,
                               long long now)
{
    const char *args[] = {a, d, hash};
    return store_exec_text(
        db,
        "INSERT INTO users(address, domain, password, created, password_changed) "
        "VALUES(?1, ?2, ?3, ?4, ?4)",
        3, args, now);
}

/* store_accounts_user_delete - remove user A. */
int store_accounts_user_delete(sqlite3 *db, const char *a)
{
    const char *args[] = {a};
    return store_exec_text(db, "DELETE FROM users WHERE address = ?1", 1, args, 0);
}

/* store_accounts_user_set_password - replace the hash of user A; the old
 * one joins the history, trimmed to the newest KEEP.  A savepoint, not a
 * transaction: a caller may hold one already. */
int store_accounts_user_set_password(sqlite3 *db, const char *a, const char *hash, long long now,
                                     unsigned keep)
{
    char err[256], limit[16];
    const char *args[] = {a, hash};
    const char *trim[] = {a, limit};
    snprintf(limit, sizeof limit, "%u", keep);
    if (store_savepoint(db, "set_password", err, sizeof err) < 0) {
        log_warnx("event=store_error op=set_password error=%s", log_quote(err));
        return -1;
    }
    int rc = store_exec_text(db,
                             "INSERT INTO password_history(user, hash, replaced)"
                             " SELECT address, password, ?2 FROM users WHERE address = ?1",
                             1, args, now);
    int changed = rc < 0 ? -1
                         : store_exec_text(db,
                                           "UPDATE users SET password = ?2, password_changed = ?3,"
                                           " password_expired = 0 WHERE address = ?1",
                                           2, args, now);
    if (changed >= 0)
        rc = store_exec_text(db,
                             "DELETE FROM password_history WHERE user = ?1 AND rowid NOT IN"
                             " (SELECT rowid FROM password_history WHERE user = ?1"
                             "  ORDER BY replaced DESC, rowid DESC LIMIT CAST(?2 AS INTEGER))",
                             2, trim, 0);
    bool ok = changed >= 0 && rc >= 0;
    if (store_savepoint_end(db, "set_password", ok, err, sizeof err) < 0) {
        if (ok) /* the steps went through, their release did not */
            log_warnx("event=store_error op=set_password error=%s", log_quote(err));
        return -1;
    }
    return changed;
}

/* store_accounts_recent_passwords - the current hash of A, then its
 * history, newest first. */
int store_accounts_recent_passwords(sqlite3 *db, const char *a, char (*out)[STORE_HASH_MAX],
                                    size_t max)
{
    sqlite3_stmt *st = store_prepare(
        db, "SELECT password FROM users WHERE address = ?1"
            " UNION ALL SELECT hash FROM (SELECT hash FROM password_history WHERE user = ?1"
            "  ORDER BY replaced DESC, rowid DESC LIMIT ?2)");
    if (st == NULL)
        return -1;
    size_t n = 0;
    int rc = sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 2, max > 0 ? (sqlite3_int64)max - 1 : 0);
    while (rc == SQLITE_OK && n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *h = (const char *)sqlite3_column_text(st, 0);
        if (h != NULL && str_copy(out[n], h, STORE_HASH_MAX))
            n++;
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK && rc != SQLITE_DONE) {
        log_warnx("event=store_error op=recent_passwords error=%s", log_quote(sqlite3_errmsg(db)));
        return -1;
    }
    return (int)n;
}

/* store_accounts_user_set_suspended - suspend user A (ON) or lift it. */
int store_accounts_user_set_suspended(sqlite3 *db, const char *a, bool on)
{
    const char *args[] = {a};
    return store_exec_text(db,
                           on ? "UPDATE users SET suspended = 1 WHERE address = ?1"
                              : "UPDATE users SET suspended = 0 WHERE address = ?1",
                           1, args, 0);
}

/* store_accounts_user_credentials - the stored hash and suspension of A. */
int store_accounts_user_credentials(sqlite3 *db, const char *a, char *hash, size_t hashlen,
                                    bool *suspended)
{
    sqlite3_stmt *st =
        store_prepare(db, "SELECT password, suspended FROM users WHERE address = ?1");
    if (st == NULL)
        return -1;
    int found = -1;
    int rc = sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        found = 0;
    } else if (rc == SQLITE_ROW) {
        const char *h = (const char *)sqlite3_column_text(st, 0);
        /* A hash that does not fit is corrupt: refusing the login is the
         * safe answer, so report it as a store error. */
        if (h != NULL && str_copy(hash, h, hashlen)) {
            *suspended = sqlite3_column_int(st, 1) != 0;
            found = 1;
        } else {
            log_warnx("event=store_error op=credentials user=%s error=bad_hash", log_quote(a));
        }
    } else {
        log_warnx("event=store_error op=credentials error=%s", log_quote(sqlite3_errmsg(db)));
    }
    sqlite3_finalize(st);
    return found;
}

/* store_accounts_alias_count - how many targets alias A has now. */
long long store_accounts_alias_count(sqlite3 *db, const char *a)
{
    sqlite3_stmt *st = store_prepare(db, "SELECT count(*) FROM aliases WHERE address = ?1");
    if (st == NULL)
        return -1;
    long long n = -1;
    if (sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* store_accounts_alias_insert - a new target T of alias A. */
int store_accounts_alias_insert(sqlite3 *db, const char *a, const char *t, long long now)
{
    const char *args[] = {a, t};
    return store_exec_text(db, "INSERT INTO aliases(address, target, created) VALUES(?1, ?2, ?3)",
                           2, args, now);
}

/* store_accounts_alias_insert_new - T into alias A unless it is there; one
 * statement kept prepared, as a list of thousands comes this way. */
int store_accounts_alias_insert_new(sqlite3 *db, const char *a, const char *t, long long now)
{
    static const char sql[] =
        "INSERT OR IGNORE INTO aliases(address, target, created) VALUES(?1, ?2, ?3)";
    bool kept;
    sqlite3_stmt *st = store_stmt(db, sql, &kept);
    if (st == NULL)
        return -1;
    int rc = sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 2, t, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 3, now);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    store_stmt_done(st, kept);
    return rc == SQLITE_DONE ? sqlite3_changes(db) : -1;
}

/* store_accounts_alias_delete - one target of A, or all of them. */
int store_accounts_alias_delete(sqlite3 *db, const char *a, const char *t)
{
    const char *args[] = {a, t};
    if (t != NULL)
        return store_exec_text(db, "DELETE FROM aliases WHERE address = ?1 AND target = ?2", 2,
                               args, 0);
    return store_exec_text(db, "DELETE FROM aliases WHERE address = ?1", 1, args, 0);
}

/* The targets of alias ?1, each with what it is: a user (0), another
 * alias (1), a remote address (2) or a local address that is neither (3),
 * as enum store_target_kind.  One query per alias, whatever its size: the
 * primary keys of users, aliases and domains answer each probe. */
static const char targets_sql[] =
    "SELECT a.target, CASE"
    " WHEN EXISTS(SELECT 1 FROM users u WHERE u.address = a.target) THEN 0"
    " WHEN EXISTS(SELECT 1 FROM aliases b WHERE b.address = a.target) THEN 1"
    " WHEN NOT EXISTS(SELECT 1 FROM domains d"
    "   WHERE d.name = substr(a.target, instr(a.target, '@') + 1)) THEN 2"
    " ELSE 3 END"
    " FROM aliases a WHERE a.address = ?1";

/* store_targets_open - the reader is the prepared statement itself. */
struct store_targets *store_targets_open(sqlite3 *db)
{
    return (struct store_targets *)store_prepare(db, targets_sql);
}

/* store_targets_read - step through the targets of ALIAS. */
int store_targets_read(struct store_targets *r, const char *alias,
                       int (*each)(void *arg, const char *target, enum store_target_kind kind),
                       void *arg)
{
    sqlite3_stmt *st = (sqlite3_stmt *)r;
    int rc = sqlite3_bind_text(st, 1, alias, -1, SQLITE_TRANSIENT), err = 0;
    while (rc == SQLITE_OK && err == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        rc = SQLITE_OK;
        if (t != NULL)
            err = each(arg, t, (enum store_target_kind)sqlite3_column_int(st, 1));
    }
    sqlite3_reset(st);
    if (err == 0 && rc != SQLITE_DONE)
        err = -1;
    return err;
}

/* store_targets_close - finalise the reader. */
void store_targets_close(struct store_targets *r)
{
    sqlite3_finalize((sqlite3_stmt *)r);
}

/* list_by_domain - prepare SQL, bind ?1 (when it has one) to domain D or
 * NULL for all, and list its rows. */
static json_t *list_by_domain(sqlite3 *db, const char *sql, const char *d, const char *bools)
{
    sqlite3_stmt *st = store_prepare(db, sql);
    if (st == NULL)
        return NULL;
    int rc = SQLITE_OK;
    if (sqlite3_bind_parameter_count(st) >= 1)
        rc = d ? sqlite3_bind_text(st, 1, d, -1, SQLITE_STATIC) : sqlite3_bind_null(st, 1);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(st);
        return NULL;
    }
    return store_rows_json(db, st, bools);
}

/* store_accounts_domain_names - the names alone. */
json_t *store_accounts_domain_names(sqlite3 *db)
{
    return store_strings(db, "SELECT name FROM domains", NULL);
}

/* store_accounts_domain_list - every domain with its counts. */
json_t *store_accounts_domain_list(sqlite3 *db)
{
    static const char sql[] =
        "SELECT d.name AS name, d.created AS created,"
        " coalesce(u.n, 0) AS users, coalesce(a.n, 0) AS aliases"
        " FROM domains d"
        " LEFT JOIN (SELECT domain, count(*) AS n FROM users GROUP BY domain) u"
        "   ON u.domain = d.name"
        " LEFT JOIN (SELECT substr(address, instr(address, '@') + 1) AS domain,"
        "   count(DISTINCT address) AS n FROM aliases GROUP BY 1) a ON a.domain = d.name"
        " ORDER BY d.name";
    return list_by_domain(db, sql, NULL, NULL);
}

/* store_accounts_user_list - the users of D. */
json_t *store_accounts_user_list(sqlite3 *db, const char *d)
{
    static const char sql[] =
        "SELECT address, created, suspended, password_changed, password_expired, locked_until,"
        " totp_enabled, (SELECT count(*) FROM app_passwords a WHERE a.user = users.address)"
        " AS app_passwords, " LOGIN_LOCKED_NETWORKS_SQL
        " FROM users WHERE ?1 IS NULL OR domain = ?1 ORDER BY address";
    return list_by_domain(db, sql, d, "suspended password_expired totp_enabled ");
}

/* store_accounts_alias_list - the aliases of D. */
json_t *store_accounts_alias_list(sqlite3 *db, const char *d)
{
    static const char sql[] = "SELECT address, target, created FROM aliases"
                              " WHERE ?1 IS NULL OR substr(address, instr(address, '@') + 1) = ?1"
                              " ORDER BY address, target";
    return list_by_domain(db, sql, d, NULL);
}
