/* queue/queue_actions - admin actions on queued messages. */
#include "queue/queue_actions.h"

#include <time.h>

#include "core/log.h"
#include "queue/store.h"

/* Held recipients stay held: retry is not release. */
#define PENDING "state IN ('queued','deferred') AND (?1 IS NULL OR message = ?1)"

static long run(sqlite3 *db, const char *sql, const char *qid, sqlite3_int64 now)
{
    sqlite3_stmt *st = store_prepare(db, sql);
    if (st == NULL)
        return -1;
    if (qid)
        sqlite3_bind_text(st, 1, qid, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now);
    int rc = sqlite3_step(st);
    long n = rc == SQLITE_ROW ? (long)sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? n : -1;
}

long queue_retry(sqlite3 *db, const char *qid)
{
    char err[256];
    if (store_exec(db, "BEGIN IMMEDIATE", err, sizeof err) < 0) {
        log_warnx("event=store_error op=queue_retry error=%s", log_quote(err));
        return -1;
    }
    long messages = run(db, "SELECT COUNT(DISTINCT message) FROM recipients WHERE " PENDING, qid, 0);
    if (messages < 0 ||
        run(db, "UPDATE recipients SET next_try = ?2 WHERE " PENDING, qid, time(NULL)) < 0 ||
        store_exec(db, "COMMIT", err, sizeof err) < 0) {
        log_warnx("event=store_error op=queue_retry error=%s", log_quote(sqlite3_errmsg(db)));
        store_exec(db, "ROLLBACK", err, sizeof err);
        return -1;
    }
    return messages;
}
