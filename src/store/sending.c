/* store/sending - send-as grants, per-user limits and the bulk mark.
 *
 * Room: store.  One short statement each; the session reads the grants
 * at MAIL and after DATA (accounts_may_send_as), floodctl writes them. */
#include "store/sending.h"

#include "store/store_sql.h"

/* store_sending_granted - is the grant there? */
int store_sending_granted(sqlite3 *db, const char *user, const char *address)
{
    return store_query_exists(db, "SELECT 1 FROM send_as WHERE user = ?1 AND address = ?2", user,
                              address);
}

/* store_sending_grant - INSERT OR IGNORE: granting twice is no error. */
int store_sending_grant(sqlite3 *db, const char *user, const char *address, long long now)
{
    const char *args[] = {user, address};
    return store_exec_text(
               db, "INSERT OR IGNORE INTO send_as(user, address, created) VALUES(?1, ?2, ?3)", 2,
               args, now) < 0
               ? -1
               : 0;
}

/* store_sending_revoke - remove one grant. */
int store_sending_revoke(sqlite3 *db, const char *user, const char *address)
{
    const char *args[] = {user, address};
    int rc =
        store_exec_text(db, "DELETE FROM send_as WHERE user = ?1 AND address = ?2", 2, args, 0);
    return rc < 0 ? -1 : rc;
}

/* store_sending_grants - the grants of USER, sorted. */
json_t *store_sending_grants(sqlite3 *db, const char *user)
{
    return store_strings(db, "SELECT address FROM send_as WHERE user = ?1 ORDER BY address", user);
}

/* store_sending_limits - the three limit columns of USER. */
int store_sending_limits(sqlite3 *db, const char *user, long long v[3])
{
    sqlite3_stmt *st = store_prepare(
        db, "SELECT limit_messages, limit_recipients, limit_domains FROM users WHERE address = ?1");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    for (int i = 0; i < 3; i++)
        v[i] = rc == SQLITE_ROW && sqlite3_column_type(st, i) != SQLITE_NULL
                   ? sqlite3_column_int64(st, i)
                   : -1;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* store_sending_set_limits - a negative limit is stored as NULL (none). */
int store_sending_set_limits(sqlite3 *db, const char *user, const long long v[3])
{
    sqlite3_stmt *st = store_prepare(db, "UPDATE users SET limit_messages = ?2,"
                                         " limit_recipients = ?3, limit_domains = ?4"
                                         " WHERE address = ?1");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
    for (int i = 0; i < 3; i++) {
        if (v[i] < 0)
            sqlite3_bind_null(st, i + 2);
        else
            sqlite3_bind_int64(st, i + 2, v[i]);
    }
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* store_sending_bulk - the bulk mark of USER. */
int store_sending_bulk(sqlite3 *db, const char *user)
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

/* store_sending_set_bulk - mark USER bulk, or not. */
int store_sending_set_bulk(sqlite3 *db, const char *user, bool bulk)
{
    sqlite3_stmt *st = store_prepare(db, "UPDATE users SET bulk = ?2 WHERE address = ?1");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, bulk);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* store_sending_bulk_users - every bulk sender, sorted. */
json_t *store_sending_bulk_users(sqlite3 *db)
{
    return store_strings(db, "SELECT address FROM users WHERE bulk ORDER BY address", NULL);
}
