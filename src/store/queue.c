/* store/queue - the rows of queued messages, their bodies, the admin's
 * actions on one message, and the meta flags.
 *
 * Room: store.  The statements run for every message are kept prepared
 * per connection (store_stmt): the committer runs them thousands of times
 * a second.  Bodies are blobs written in chunks by incremental blob I/O
 * (and read back through store/body), so a message is never copied whole
 * into memory. */
#include "store/queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_sql.h"

/* bind_text - S, or NULL when S is NULL. */
static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* fail - WHAT failed: SQLite's words into ERR, the statement given back. */
static int fail(sqlite3 *db, sqlite3_stmt *st, bool kept, const char *what, char *err,
                size_t errlen)
{
    snprintf(err, errlen, "%s: %s", what, sqlite3_errmsg(db));
    if (st)
        store_stmt_done(st, kept);
    return -1;
}

static const char insert_message_sql[] =
    "INSERT INTO messages(id, created, size, sender, auth_user, client_ip,"
    " client_port, helo, tls, listener, header_from, subject, message_id,"
    " auth_app_password) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
static const char insert_recipient_sql[] =
    "INSERT INTO recipients(message, address, domain, orig, local, state,"
    " next_try, updated, attempts, last_error)"
    " VALUES(?1,?2,lower(?7),?3,?4,?8,?5,?6,?9,?10)";
static const char insert_body_sql[] = "INSERT INTO bodies(message, data) VALUES(?, zeroblob(?))";

/* store_queue_insert_message - one row of messages. */
int store_queue_insert_message(sqlite3 *db, const struct store_message *m, char *err, size_t errlen)
{
    bool kept;
    sqlite3_stmt *st = store_stmt(db, insert_message_sql, &kept);
    if (st == NULL)
        return fail(db, NULL, false, "insert message", err, errlen);
    bind_text(st, 1, m->id);
    sqlite3_bind_int64(st, 2, m->created);
    sqlite3_bind_int64(st, 3, m->size);
    bind_text(st, 4, m->sender ? m->sender : "");
    bind_text(st, 5, m->auth_user);
    bind_text(st, 6, m->client_ip);
    sqlite3_bind_int(st, 7, m->client_port);
    bind_text(st, 8, m->helo);
    bind_text(st, 9, m->tls);
    bind_text(st, 10, m->listener);
    bind_text(st, 11, m->header_from);
    bind_text(st, 12, m->subject);
    bind_text(st, 13, m->message_id);
    bind_text(st, 14, m->auth_app_password);
    if (sqlite3_step(st) != SQLITE_DONE)
        return fail(db, st, kept, "insert message", err, errlen);
    store_stmt_done(st, kept);
    return 0;
}

/* store_queue_insert_recipient - one row of recipients, its domain
 * lowercased for the scheduler's per-destination queues. */
int store_queue_insert_recipient(sqlite3 *db, const char *qid, const char *address,
                                 const char *orig, bool local, long long created, bool held,
                                 long long deferred_until, const char *deferred_why, char *err,
                                 size_t errlen)
{
    bool deferred = deferred_why != NULL && !held;
    bool kept;
    sqlite3_stmt *st = store_stmt(db, insert_recipient_sql, &kept);
    if (st == NULL)
        return fail(db, NULL, false, "insert recipient", err, errlen);
    bind_text(st, 1, qid);
    bind_text(st, 2, address);
    bind_text(st, 3, orig);
    sqlite3_bind_int(st, 4, local);
    sqlite3_bind_int64(st, 5, deferred ? deferred_until : created);
    sqlite3_bind_int64(st, 6, created);
    const char *at = strrchr(address, '@');
    bind_text(st, 7, at ? at + 1 : "");
    bind_text(st, 8, held ? "held" : deferred ? "deferred" : "queued");
    sqlite3_bind_int(st, 9, deferred ? 1 : 0);
    bind_text(st, 10, deferred ? deferred_why : NULL);
    if (sqlite3_step(st) != SQLITE_DONE)
        return fail(db, st, kept, "insert recipient", err, errlen);
    store_stmt_done(st, kept);
    return 0;
}

/* store_queue_insert_body - a zeroblob of the final size, then filled by
 * incremental blob I/O in chunks. */
int store_queue_insert_body(sqlite3 *db, const char *qid, size_t size, const char *head,
                            size_t head_len, store_queue_fill fill, void *arg, char *err,
                            size_t errlen)
{
    bool kept;
    sqlite3_stmt *st = store_stmt(db, insert_body_sql, &kept);
    if (st == NULL)
        return fail(db, NULL, false, "insert body", err, errlen);
    bind_text(st, 1, qid);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)size);
    if (sqlite3_step(st) != SQLITE_DONE)
        return fail(db, st, kept, "insert body", err, errlen);
    store_stmt_done(st, kept);

    sqlite3_blob *blob = NULL;
    if (sqlite3_blob_open(db, "main", "bodies", "data", sqlite3_last_insert_rowid(db), 1, &blob) !=
        SQLITE_OK)
        return fail(db, NULL, false, "open body blob", err, errlen);
    int rc = head_len ? sqlite3_blob_write(blob, head, (int)head_len, 0) : SQLITE_OK;
    char buf[65536];
    size_t off = 0;
    while (rc == SQLITE_OK && fill) {
        long n = fill(arg, off, buf, sizeof buf);
        if (n < 0) {
            sqlite3_blob_close(blob);
            snprintf(err, errlen, "read spool: I/O error");
            return -1;
        }
        if (n == 0)
            break;
        rc = sqlite3_blob_write(blob, buf, (int)n, (int)(head_len + off));
        off += (size_t)n;
    }
    if (sqlite3_blob_close(blob) != SQLITE_OK || rc != SQLITE_OK)
        return fail(db, NULL, false, "write body blob", err, errlen);
    return 0;
}

/* store_queue_hold - recipients waiting to go out stay put. */
int store_queue_hold(sqlite3 *db, const char *qid)
{
    return store_run(db,
                     "UPDATE recipients SET state = 'held', updated = ?2 WHERE"
                     " message = ?1 AND state IN ('queued','deferred')",
                     qid, NULL, NULL);
}

/* store_queue_release - held recipients are due now. */
int store_queue_release(sqlite3 *db, const char *qid)
{
    return store_run(db,
                     "UPDATE recipients SET state = 'queued', next_try = ?2,"
                     " updated = ?2 WHERE message = ?1 AND state = 'held'",
                     qid, NULL, NULL);
}

/* store_queue_retry - waiting recipients are due now. */
int store_queue_retry(sqlite3 *db, const char *qid)
{
    return store_run(db,
                     "UPDATE recipients SET next_try = ?2 WHERE message = ?1 AND"
                     " state IN ('queued','deferred')",
                     qid, NULL, NULL);
}

/* store_queue_return - pending recipients go back to the sender. */
int store_queue_return(sqlite3 *db, const char *qid, const char *text)
{
    return store_run(db,
                     "UPDATE recipients SET state = 'returning', next_try = ?2,"
                     " updated = ?2, last_error = ?3 WHERE message = ?1 AND state IN"
                     " ('queued','deferred','held')",
                     qid, text, NULL);
}

/* store_queue_delete - the message; its recipients and body follow
 * (foreign keys, ON DELETE CASCADE). */
int store_queue_delete(sqlite3 *db, const char *qid)
{
    return store_run(db, "DELETE FROM messages WHERE id = ?1", qid, NULL, NULL);
}

/* store_quarantine_commit - the state, the record, the body gone. */
int store_quarantine_commit(sqlite3 *db, const char *qid, const char *admin, const char *reason)
{
    int n = store_run(db,
                      "UPDATE recipients SET state = 'quarantined', updated = ?2 WHERE"
                      " message = ?1 AND state IN ('queued','deferred','held')",
                      qid, NULL, NULL);
    if (n <= 0)
        return n;
    if (store_run(db,
                  "INSERT OR REPLACE INTO quarantine(message, reason, quarantined_at,"
                  " quarantined_by) VALUES(?1, ?4, ?2, ?3)",
                  qid, admin, reason) < 0 ||
        store_run(db, "DELETE FROM bodies WHERE message = ?1", qid, NULL, NULL) < 0)
        return -1;
    return n;
}

/* store_quarantine_restore - back in the queue, due now. */
int store_quarantine_restore(sqlite3 *db, const char *qid, const char *admin)
{
    int n = store_run(db,
                      "UPDATE recipients SET state = 'queued', next_try = ?2, updated = ?2"
                      " WHERE message = ?1 AND state = 'quarantined'",
                      qid, NULL, NULL);
    if (n < 0 || store_run(db,
                           "UPDATE quarantine SET released_at = ?2, released_by = ?3"
                           " WHERE message = ?1",
                           qid, admin, NULL) < 0)
        return -1;
    return n;
}

/* store_quarantine_expired - the ids past their keeping time. */
char (*store_quarantine_expired(sqlite3 *db, time_t before, size_t *n))[17]
{
    sqlite3_stmt *st = store_prepare(db, "SELECT message FROM quarantine WHERE released_at IS NULL"
                                         " AND quarantined_at < ?");
    char(*ids)[17] = NULL;
    size_t cap = 0;
    *n = 0;
    if (st == NULL)
        return NULL;
    sqlite3_bind_int64(st, 1, before);
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 256;
            void *p = realloc(ids, cap * sizeof *ids);
            if (p == NULL)
                break;
            ids = p;
        }
        snprintf(ids[(*n)++], sizeof ids[0], "%s", (const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    return ids;
}

#define QUARANTINED "quarantined"

/* attach_record - the current quarantine row (message, reason, at, by,
 * file_missing) into its message M: "reason", "quarantined_at",
 * "quarantined_by", "file_missing" (when store check found the file
 * gone), and the state and status they mean. */
static int attach_record(sqlite3_stmt *st, json_t *m)
{
    const char *reason = (const char *)sqlite3_column_text(st, 1);
    const char *by = (const char *)sqlite3_column_text(st, 3);
    char status[600];
    snprintf(status, sizeof status, "quarantined: %s", reason ? reason : "no reason given");
    if (json_object_set_new(m, "reason", reason ? json_string(reason) : json_null()) < 0 ||
        json_object_set_new(m, "quarantined_at", json_integer(sqlite3_column_int64(st, 2))) < 0 ||
        json_object_set_new(m, "quarantined_by", by ? json_string(by) : json_null()) < 0 ||
        json_object_set_new(m, "state", json_string(QUARANTINED)) < 0 ||
        json_object_set_new(m, "status", json_string(status)) < 0 ||
        json_object_set_new(m, "next_try", json_null()) < 0 ||
        json_object_set_new(m, "file_missing", store_column_json(st, 4)) < 0)
        return -1;
    return 0;
}

/* attach_recipient - the current recipient row (message, address, orig,
 * local, next_try, attempts, last_error) into its message M. */
static int attach_recipient(sqlite3_stmt *st, json_t *m)
{
    const char *err = (const char *)sqlite3_column_text(st, 6);
    json_t *r = json_pack("{s:s?, s:s?, s:b, s:s, s:s, s:I, s:I, s:s?}", "address",
                          (const char *)sqlite3_column_text(st, 1), "orig",
                          (const char *)sqlite3_column_text(st, 2), "local",
                          sqlite3_column_int(st, 3), "state", QUARANTINED, "status", QUARANTINED,
                          "next_try", (json_int_t)sqlite3_column_int64(st, 4), "attempts",
                          (json_int_t)sqlite3_column_int64(st, 5), "last_error", err);
    return r ? json_array_append_new(json_object_get(m, "recipients"), r) : -1;
}

/* attach_rows - run SQL (?1: the ids as JSON) and hand each row to ADD
 * with the message its first column names. */
static int attach_rows(sqlite3 *db, const char *sql, const char *ids, json_t *by_id,
                       int (*add)(sqlite3_stmt *, json_t *))
{
    sqlite3_stmt *st = store_prepare(db, sql);
    if (st == NULL)
        return -1;
    int rc = sqlite3_bind_text(st, 1, ids, -1, SQLITE_STATIC);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        json_t *m = id ? json_object_get(by_id, id) : NULL;
        rc = m == NULL || add(st, m) == 0 ? SQLITE_OK : SQLITE_NOMEM;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* store_quarantine_attach - two queries for the whole page. */
int store_quarantine_attach(sqlite3 *db, const char *ids, json_t *by_id)
{
    int rc = attach_rows(db,
                         "SELECT message, reason, quarantined_at, quarantined_by, file_missing"
                         " FROM quarantine"
                         " WHERE message IN (SELECT value FROM json_each(?1))",
                         ids, by_id, attach_record);
    if (rc == 0)
        rc = attach_rows(db,
                         "SELECT message, address, orig, local, next_try, attempts, last_error"
                         " FROM recipients WHERE state = '" QUARANTINED "' AND message IN"
                         " (SELECT value FROM json_each(?1)) ORDER BY message, id",
                         ids, by_id, attach_recipient);
    return rc;
}

/* store_meta_flag_set - INSERT OR REPLACE, or DELETE. */
int store_meta_flag_set(sqlite3 *db, const char *key, bool on)
{
    sqlite3_stmt *st =
        store_prepare(db, on ? "INSERT OR REPLACE INTO meta(key, value) VALUES(?, '1')"
                             : "DELETE FROM meta WHERE key = ?");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* store_meta_flag - one primary-key probe. */
bool store_meta_flag(sqlite3 *db, const char *key)
{
    sqlite3_stmt *st = store_prepare(db, "SELECT 1 FROM meta WHERE key = ?");
    if (st == NULL)
        return false;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    bool on = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return on;
}

/* store_meta_flags - the keys under PREFIX (taken literally: its '%' and
 * '_' would be LIKE's wildcards, so the range of keys is compared). */
json_t *store_meta_flags(sqlite3 *db, const char *prefix)
{
    return store_strings(db,
                         "SELECT substr(key, length(?1) + 1) FROM meta"
                         " WHERE substr(key, 1, length(?1)) = ?1 ORDER BY key",
                         prefix);
}
