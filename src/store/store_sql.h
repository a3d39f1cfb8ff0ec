/* store/store_sql - the store room's own SQLite helpers: prepared-statement
 * cache, blobs, columns as JSON.  Private to src/store/ (scripts/check-layers):
 * the rooms above call typed store functions and never see a statement. */
#ifndef FLOODGATE_STORE_STORE_SQL_H
#define FLOODGATE_STORE_STORE_SQL_H

#include <sqlite3.h>

#include "store/store.h"

/* store_open_writer - store_open for the store's single writer (the
 * committer): its connection goes through the WAL write buffer
 * (store/walbuf), which writes each commit's WAL frames with one write. */
sqlite3 *store_open_writer(const char *path, char *err, size_t errlen);

/* store_prepare - prepare SQL, logging the error; NULL on failure. */
sqlite3_stmt *store_prepare(sqlite3 *db, const char *sql);

/* store_body_open - the body blob of message QID for reading; -1 when
 * missing. */
int store_body_open(sqlite3 *db, const char *qid, sqlite3_blob **blob);

/* store_stmt - the statement of SQL kept prepared for DB: prepared on
 * first use, then reused.  SQL must be a string literal (the cache is
 * keyed by its address).  *KEPT is false when the cache is full: the
 * statement is then the caller's for this once.  NULL (logged) when SQL
 * does not prepare.  Give it back with store_stmt_done, also after an
 * error: a kept statement is reset, so it holds no read snapshot. */
sqlite3_stmt *store_stmt(sqlite3 *db, const char *sql, bool *kept);
void store_stmt_done(sqlite3_stmt *st, bool kept);

/* store_column_json - column I of the current row of ST as JSON: integer,
 * string or null (a new reference; NULL when memory runs out). */
json_t *store_column_json(sqlite3_stmt *st, int i);

/* store_query_exists - 1 when SQL with the text parameters ARG (and ARG2
 * when not NULL) returns a row, 0 when not, -1 on a store error (logged). */
int store_query_exists(sqlite3 *db, const char *sql, const char *arg, const char *arg2);

/* store_exec_text - run SQL binding the N texts ARGS to ?1..?N (and WHEN
 * to ?N+1 when the statement has it); returns the number of rows changed,
 * or -1 on a store error (SQLITE_CONSTRAINT is reported as -2 so callers
 * can name the duplicate). */
int store_exec_text(sqlite3 *db, const char *sql, int n, const char *const *args,
                    sqlite3_int64 when);

/* store_savepoint - open the savepoint NAME (an identifier written in the
 * code, never data): what follows is all or nothing, inside the caller's
 * transaction or on its own.  -1 with ERR on failure. */
int store_savepoint(sqlite3 *db, const char *name, char *err, size_t errlen);
/* store_savepoint_end - close the savepoint NAME: with OK, release it (what
 * it did stays; commits when no transaction was open); without, roll back
 * to it first (all undone) and leave ERR alone.  0, or -1 when not OK or
 * the release failed (ERR then says why). */
int store_savepoint_end(sqlite3 *db, const char *name, bool ok, char *err, size_t errlen);

/* store_rows_json - step ST (prepared and bound) to its end: each row an
 * object keyed by the column names, the columns named in BOOLS (each
 * followed by a space, NULL for none) as JSON booleans.  Finalises ST.
 * NULL on a store error (logged) or when memory runs out. */
json_t *store_rows_json(sqlite3 *db, sqlite3_stmt *st, const char *bools);

/* store_strings - the first column of every row of SQL, with the text
 * ARG bound to ?1 (when not NULL), as a JSON array of strings.  NULL on a
 * store error (logged) or when memory runs out. */
json_t *store_strings(sqlite3 *db, const char *sql, const char *arg);

/* store_row_json - the current row of ST as such an object; NULL when
 * memory runs out. */
json_t *store_row_json(sqlite3_stmt *st, const char *bools);

#endif
