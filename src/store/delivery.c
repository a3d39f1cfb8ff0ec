/* store/delivery - recording a delivery attempt (see delivery.h).  The
 * statements stay prepared on the committer's connection (store_stmt):
 * every attempt runs the same four. */
#include "store/delivery.h"

#include <stdio.h>

#include "store/store_sql.h"

int store_rcpt_record(store_db *db, int64_t id, const char *state, unsigned attempts,
                      time_t next_try, const char *error, time_t now, char *err, size_t errlen)
{
    /* An admin may have held or quarantined the recipient while this
     * attempt ran.  A delivery or a bounce has happened all the same and
     * is recorded, so a later release cannot send the message twice; a
     * mere deferral leaves the admin's state alone. */
    static const char sql[] =
        "UPDATE recipients SET state = ?1, attempts = ?2,"
        " next_try = ?3, last_error = ?4, updated = ?5"
        " WHERE id = ?6 AND (state IN ('queued','deferred') OR"
        " (?1 <> 'deferred' AND state IN ('held','quarantined','returning')))";
    bool kept;
    sqlite3_stmt *st = store_stmt(db, sql, &kept);
    if (st == NULL) {
        snprintf(err, errlen, "update recipient: %s", sqlite3_errmsg(db));
        return -1;
    }
    sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)attempts);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)next_try);
    sqlite3_bind_text(st, 4, error, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)now);
    sqlite3_bind_int64(st, 6, (sqlite3_int64)id);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    if (rc < 0)
        snprintf(err, errlen, "update recipient: %s", sqlite3_errmsg(db));
    store_stmt_done(st, kept);
    return rc;
}

int store_message_warn_once(store_db *db, const char *qid)
{
    static const char sql[] = "UPDATE messages SET warned = 1 WHERE id = ? AND warned = 0";
    bool kept;
    sqlite3_stmt *st = store_stmt(db, sql, &kept);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, qid, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? (sqlite3_changes(db) > 0 ? 1 : 0) : -1;
    store_stmt_done(st, kept);
    return rc;
}

int store_sender_bounce(store_db *db, const char *auth_user, time_t now)
{
    static const char sql[] =
        "INSERT INTO sender_stats(auth_user, bounces, last_bounce) VALUES(?1, 1, ?2)"
        " ON CONFLICT(auth_user) DO UPDATE SET bounces = bounces + 1, last_bounce = ?2";
    bool kept;
    sqlite3_stmt *st = store_stmt(db, sql, &kept);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, auth_user, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)now);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    store_stmt_done(st, kept);
    return rc;
}

int store_message_finish(store_db *db, const char *qid, bool *quarantined)
{
    static const char sql[] =
        "DELETE FROM messages WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM recipients"
        " WHERE message = ?1 AND state IN ('queued','deferred','held','quarantined',"
        "'returning'))"
        " RETURNING EXISTS (SELECT 1 FROM quarantine WHERE message = ?1)";
    bool kept;
    *quarantined = false;
    sqlite3_stmt *st = store_stmt(db, sql, &kept);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, qid, -1, SQLITE_STATIC);
    int removed = 0;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *quarantined = sqlite3_column_int(st, 0) != 0;
        removed = 1;
        rc = sqlite3_step(st);
    }
    store_stmt_done(st, kept);
    return rc == SQLITE_DONE ? removed : -1;
}
