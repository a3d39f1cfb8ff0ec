/* store/store - the SQLite store: open it with the pragmas that make an
 * acknowledged message durable, and create or upgrade the schema.  The store
 * knows no SMTP. */
#ifndef FLOODGATE_STORE_STORE_H
#define FLOODGATE_STORE_STORE_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

#define STORE_FILE "store.db"

/* store_open - open (creating if needed) the store at PATH in WAL mode with
 * synchronous=FULL, a busy timeout, foreign keys on, and the schema in place.
 * Returns NULL with ERR set on failure. */
sqlite3 *store_open(const char *path, char *err, size_t errlen);
void store_close(sqlite3 *db);

/* store_exec - run SQL that returns no rows; -1 and ERR on failure. */
int store_exec(sqlite3 *db, const char *sql, char *err, size_t errlen);

/* store_prepare - prepare SQL, logging the error; NULL on failure. */
sqlite3_stmt *store_prepare(sqlite3 *db, const char *sql);

/* store_thread_db - a connection to the store at PATH owned by the calling
 * (worker) thread, opened on first use and closed when the thread ends.
 * NULL (logged) when the store cannot be opened. */
sqlite3 *store_thread_db(const char *path);

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

/* store_run - run SQL (a string literal: its statement is kept prepared
 * for DB) with ?1 = QID, ?2 = now, ?3 = A, ?4 = B (NULL binds NULL).
 * Returns the rows changed, or -1. */
int store_run(sqlite3 *db, const char *sql, const char *qid, const char *a, const char *b);

/* store_column_json - column I of the current row of ST as JSON: integer,
 * string or null (a new reference; NULL when memory runs out). */
json_t *store_column_json(sqlite3_stmt *st, int i);

/* store_errmsg - SQLite's words for the last failure on DB (for the rooms
 * above, which do not call SQLite themselves). */
const char *store_errmsg(sqlite3 *db);

/* store_path - "<state_dir>/store.db" into BUF. */
char *store_path(const char *state_dir, char *buf, size_t len);

#endif
