/* accounts/sending - send-as grants and per-user sending limits in the
 * store (room: accounts).  The session asks accounts_may_send_as at MAIL
 * and after DATA; floodctl changes grants and limits. */
#include "accounts/sending.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "accounts/accounts.h"
#include "accounts/accounts_sql.h"
#include "core/util.h"
#include "store/store.h"
#include "store/store_sql.h"

/* alias_reaches - does ADDRESS, an alias, deliver (also) to USER? */
static int alias_reaches(store_db *db, const char *user, const char *address)
{
    struct accounts_expansion x = {0};
    enum accounts_rcpt_kind k = accounts_resolve(db, address, &x);
    int found = k == ACCOUNTS_RCPT_ERROR ? -1 : 0;
    for (size_t i = 0; k == ACCOUNTS_RCPT_ALIAS && i < x.n && found == 0; i++)
        found = strcmp(x.t[i].address, user) == 0;
    accounts_expansion_free(&x);
    return found;
}

int accounts_may_send_as(store_db *db, const char *user, const char *address)
{
    char a[256];
    if (!str_copy(a, address, sizeof a))
        return 0;
    str_lower(a);
    if (strcmp(a, user) == 0)
        return 1;
    const char *at = strrchr(a, '@');
    static const char grant_sql[] = "SELECT 1 FROM send_as WHERE user = ?1 AND address = ?2";
    int granted = accounts_query_exists(db, grant_sql, user, a);
    if (granted == 0 && at)
        granted = accounts_query_exists(db, grant_sql, user, at);
    if (granted != 0)
        return granted < 0 ? -1 : 1;
    return at && accounts_domain_is_local(db, at + 1) ? alias_reaches(db, user, a) : 0;
}

/* norm_grant - ADDRESS or "@domain", lowercased, into OUT (256). */
static int norm_grant(const char *address, char *out, char *err, size_t errlen)
{
    const char *at = address ? strchr(address, '@') : NULL;
    if (at == NULL || strchr(at + 1, '@') || at[1] == '\0' || !str_copy(out, address, 256) ||
        strpbrk(address, " \t<>\"")) {
        snprintf(err, errlen,
                 "invalid address '%s': give local@domain, or @domain to grant the whole domain",
                 address ? address : "");
        return -1;
    }
    str_lower(out);
    return 0;
}

/* user_exists - refuse grants and limits for a user that is not there. */
static int user_exists(store_db *db, const char *user, const char *op, char *err, size_t errlen)
{
    int found = accounts_query_exists(db, "SELECT 1 FROM users WHERE address = ?1", user, NULL);
    if (found < 0)
        return accounts_store_failed(db, op, err, errlen);
    if (found == 0) {
        snprintf(err, errlen, "no such user %s: see 'floodctl user list'", user);
        return -1;
    }
    return 0;
}

int accounts_send_as_grant(store_db *db, const char *user, const char *address, char *err,
                           size_t errlen)
{
    char a[256];
    if (norm_grant(address, a, err, errlen) < 0 ||
        user_exists(db, user, "send-as grant", err, errlen) < 0)
        return -1;
    const char *args[] = {user, a};
    if (accounts_exec_text(
            db, "INSERT OR IGNORE INTO send_as(user, address, created) VALUES(?1, ?2, ?3)", 2, args,
            (sqlite3_int64)time(NULL)) < 0)
        return accounts_store_failed(db, "send-as grant", err, errlen);
    return 0;
}

int accounts_send_as_revoke(store_db *db, const char *user, const char *address, char *err,
                            size_t errlen)
{
    char a[256];
    if (norm_grant(address, a, err, errlen) < 0)
        return -1;
    const char *args[] = {user, a};
    int rc =
        accounts_exec_text(db, "DELETE FROM send_as WHERE user = ?1 AND address = ?2", 2, args, 0);
    if (rc < 0)
        return accounts_store_failed(db, "send-as revoke", err, errlen);
    if (rc == 0) {
        snprintf(err, errlen, "%s has no grant to send as %s: see 'floodctl user show %s'", user, a,
                 user);
        return -1;
    }
    return 0;
}

json_t *accounts_send_as_list(store_db *db, const char *user)
{
    sqlite3_stmt *st =
        store_prepare(db, "SELECT address FROM send_as WHERE user = ?1 ORDER BY address");
    json_t *arr = json_array();
    if (st == NULL || arr == NULL) {
        sqlite3_finalize(st);
        json_decref(arr);
        return NULL;
    }
    sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW)
        json_array_append_new(arr, json_string((const char *)sqlite3_column_text(st, 0)));
    sqlite3_finalize(st);
    return arr;
}

int accounts_user_limits(store_db *db, const char *user, struct user_limits *out)
{
    sqlite3_stmt *st = store_prepare(
        db, "SELECT limit_messages, limit_recipients, limit_domains FROM users WHERE address = ?1");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    long long *f[] = {&out->messages, &out->recipients, &out->domains};
    for (int i = 0; i < 3; i++)
        *f[i] = rc == SQLITE_ROW && sqlite3_column_type(st, i) != SQLITE_NULL
                    ? sqlite3_column_int64(st, i)
                    : -1;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int accounts_user_set_limits(store_db *db, const char *user, const struct user_limits *l, char *err,
                             size_t errlen)
{
    if (user_exists(db, user, "user limits", err, errlen) < 0)
        return -1;
    sqlite3_stmt *st = store_prepare(db, "UPDATE users SET limit_messages = ?2,"
                                         " limit_recipients = ?3, limit_domains = ?4"
                                         " WHERE address = ?1");
    if (st == NULL)
        return accounts_store_failed(db, "user limits", err, errlen);
    sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
    const long long v[] = {l->messages, l->recipients, l->domains};
    for (int i = 0; i < 3; i++) {
        if (v[i] < 0)
            sqlite3_bind_null(st, i + 2);
        else
            sqlite3_bind_int64(st, i + 2, v[i]);
    }
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : accounts_store_failed(db, "user limits", err, errlen);
}

int accounts_user_bulk(store_db *db, const char *user)
{
    sqlite3_stmt *st = store_prepare(db, "SELECT bulk FROM users WHERE address = ?1");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int bulk = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) != 0 : 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? bulk : -1;
}

int accounts_user_set_bulk(store_db *db, const char *user, bool bulk, char *err, size_t errlen)
{
    if (user_exists(db, user, "user limits", err, errlen) < 0)
        return -1;
    sqlite3_stmt *st = store_prepare(db, "UPDATE users SET bulk = ?2 WHERE address = ?1");
    if (st == NULL)
        return accounts_store_failed(db, "user limits", err, errlen);
    sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, bulk);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : accounts_store_failed(db, "user limits", err, errlen);
}

json_t *accounts_bulk_users(store_db *db)
{
    sqlite3_stmt *st = store_prepare(db, "SELECT address FROM users WHERE bulk ORDER BY address");
    json_t *arr = json_array();
    int rc = SQLITE_ERROR;
    while (st && arr && (rc = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(arr, json_string((const char *)sqlite3_column_text(st, 0)));
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}
