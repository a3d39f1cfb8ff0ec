/* store/due - the scheduler's reads of due recipients (see due.h), run on
 * a worker thread.  The statements stay prepared on the thread's
 * connection (store_stmt) and are reset before return, so the connection
 * holds no read snapshot between passes and the next pass sees every
 * commit made meanwhile. */
#include "store/due.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "store/store.h"
#include "store/store_sql.h"

/* The columns every read returns, in the order row_read takes them. */
#define DUE_COLUMNS                                                                                \
    "SELECT r.id, r.message, r.address, r.attempts, m.sender, m.created, m.auth_user,"             \
    " r.last_error, m.client_ip, r.next_try FROM recipients r JOIN messages m ON m.id = r.message"

/* text_dup - column I of ST as a new string; NULL stays NULL unless
 * EMPTY_FOR_NULL.  *OOM is set when memory runs out. */
static char *text_dup(sqlite3_stmt *st, int i, int empty_for_null, int *oom)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    if (t == NULL && !empty_for_null)
        return NULL;
    char *s = strdup(t ? (const char *)t : "");
    if (s == NULL)
        *oom = 1;
    return s;
}

static void row_free(struct due_row *r)
{
    free(r->address);
    free(r->sender);
    free(r->auth_user);
    free(r->client_ip);
    free(r->last_error);
}

/* row_read - the current row of ST appended to OUT; -1 when memory runs out. */
static int row_read(sqlite3_stmt *st, struct due_rows *out)
{
    if (out->n == out->cap) {
        size_t cap = out->cap ? out->cap * 2 : 64;
        struct due_row *v = realloc(out->v, cap * sizeof *v);
        if (v == NULL)
            return -1;
        out->v = v;
        out->cap = cap;
    }
    struct due_row *r = &out->v[out->n];
    int oom = 0;
    *r = (struct due_row){.id = sqlite3_column_int64(st, 0),
                          .attempts = (unsigned)sqlite3_column_int(st, 3),
                          .created = (time_t)sqlite3_column_int64(st, 5),
                          .next_try = (time_t)sqlite3_column_int64(st, 9)};
    const unsigned char *qid = sqlite3_column_text(st, 1);
    str_copy(r->qid, qid ? (const char *)qid : "", sizeof r->qid);
    r->address = text_dup(st, 2, 1, &oom);
    r->sender = text_dup(st, 4, 1, &oom);
    r->auth_user = text_dup(st, 6, 0, &oom);
    r->last_error = text_dup(st, 7, 1, &oom);
    r->client_ip = text_dup(st, 8, 0, &oom);
    if (oom) {
        row_free(r);
        return -1;
    }
    out->n++;
    return 0;
}

/* read_rows - step ST (bound) to the end into OUT, give it back. */
static int read_rows(sqlite3 *db, sqlite3_stmt *st, bool kept, const char *op, struct due_rows *out)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (row_read(st, out) < 0)
            break;
    if (rc != SQLITE_DONE) {
        if (rc == SQLITE_ROW)
            log_warnx("event=store_error op=%s error=out_of_memory", op);
        else
            log_warnx("event=store_error op=%s error=%s", op, log_quote(sqlite3_errmsg(db)));
        out->failed = 1;
    }
    store_stmt_done(st, kept);
    return out->failed ? -1 : 0;
}

int store_due_local(sqlite3 *db, time_t now, int limit, struct due_rows *out)
{
    bool kept;
    sqlite3_stmt *st =
        store_stmt(db,
                   DUE_COLUMNS " WHERE r.local = 1 AND r.state IN ('queued','deferred')"
                               " AND r.next_try <= ? ORDER BY r.next_try LIMIT ?",
                   &kept);
    if (st == NULL) {
        out->failed = 1;
        return -1;
    }
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int(st, 2, limit);
    return read_rows(db, st, kept, "read_local_queue", out);
}

int store_due_remote(sqlite3 *db, time_t now, const struct due_cursor *after, int limit,
                     struct due_rows *out)
{
    bool kept;
    sqlite3_stmt *st =
        store_stmt(db,
                   DUE_COLUMNS " WHERE r.local = 0 AND r.state IN ('queued','deferred')"
                               " AND r.next_try <= ?1"
                               " AND (r.next_try, r.message, r.id) > (?2, ?3, ?4)"
                               " ORDER BY r.next_try, r.message, r.id LIMIT ?5",
                   &kept);
    if (st == NULL) {
        out->failed = 1;
        return -1;
    }
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int64(st, 2, after->next_try);
    sqlite3_bind_text(st, 3, after->qid, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, after->id);
    sqlite3_bind_int(st, 5, limit);
    return read_rows(db, st, kept, "read_queue", out);
}

int store_due_returning(sqlite3 *db, int limit, struct due_rows *out)
{
    bool kept;
    sqlite3_stmt *st = store_stmt(
        db, DUE_COLUMNS " WHERE r.state = 'returning' ORDER BY r.next_try LIMIT ?", &kept);
    if (st == NULL) {
        out->failed = 1;
        return -1;
    }
    sqlite3_bind_int(st, 1, limit);
    return read_rows(db, st, kept, "read_returning", out);
}

void due_rows_free(struct due_rows *rows)
{
    for (size_t i = 0; i < rows->n; i++)
        row_free(&rows->v[i]);
    free(rows->v);
    rows->v = NULL;
    rows->n = rows->cap = 0;
}
