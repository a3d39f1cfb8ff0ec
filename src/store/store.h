/* store/store - the SQLite store: open it with the pragmas that make an
 * acknowledged message durable, and create or upgrade the schema.  The store
 * knows no SMTP. */
#ifndef FLOODGATE_STORE_STORE_H
#define FLOODGATE_STORE_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define STORE_FILE "store.db"

/* store_db - a connection to the store.  The rooms above the store hold it
 * as an opaque handle and pass it to the typed store functions; only
 * src/store/ sees SQLite (store/store_sql.h, private to the room). */
typedef struct sqlite3 store_db;

/* store_open - open (creating if needed) the store at PATH in WAL mode with
 * synchronous=FULL, a busy timeout, foreign keys on, and the schema in place.
 * Returns NULL with ERR set on failure. */
store_db *store_open(const char *path, char *err, size_t errlen);
void store_close(store_db *db);

/* store_exec - run SQL that returns no rows; -1 and ERR on failure. */
int store_exec(store_db *db, const char *sql, char *err, size_t errlen);

/* store_begin - start a transaction on DB: IMMEDIATE takes the write lock
 * at once, so that the checks and the writes that follow see the same
 * rows; a plain one reads one snapshot.  -1 with ERR. */
int store_begin(store_db *db, bool immediate, char *err, size_t errlen);
/* store_commit - end the transaction; -1 with ERR (the caller rolls back). */
int store_commit(store_db *db, char *err, size_t errlen);
/* store_rollback - undo the open transaction (nothing to do when none). */
void store_rollback(store_db *db);
/* store_read_begin - a read transaction on DB unless it is already inside
 * one: true when this call began it (end it with store_commit). */
bool store_read_begin(store_db *db);

/* store_thread_db - a connection to the store at PATH owned by the calling
 * (worker) thread, opened on first use and closed when the thread ends.
 * It expects the schema in place (store_open made it at start): opening it
 * takes no write lock, so a store locked by a writer is still read.
 * NULL (logged) when the store cannot be opened. */
store_db *store_thread_db(const char *path);

/* store_sqlite_setup - SQLite's process-wide settings, once, before its
 * first use (every function here that may be first calls it): no memory
 * statistics (each allocation would take a global mutex).  False when
 * SQLite had started before the first call. */
bool store_sqlite_setup(void);

/* store_deny_thread - the calling thread (the event loop) must never read
 * or write the store: from now on every statement any connection runs on
 * it is logged as event=store_on_loop with the first words of its SQL, and
 * aborts the process in a debug or sanitizer build (tests catch it).
 * store_allow_thread ends that (shutdown, after the loop). */
void store_deny_thread(void);
void store_allow_thread(void);

/* store_run - run SQL (a string literal: its statement is kept prepared
 * for DB) with ?1 = QID, ?2 = now, ?3 = A, ?4 = B (NULL binds NULL).
 * Returns the rows changed, or -1. */
int store_run(store_db *db, const char *sql, const char *qid, const char *a, const char *b);

/* store_errmsg - SQLite's words for the last failure on DB (for the rooms
 * above, which do not call SQLite themselves). */
const char *store_errmsg(store_db *db);

/* store_filename - the file DB was opened from (for a second connection
 * to the same store). */
const char *store_filename(store_db *db);

/* store_path - "<state_dir>/store.db" into BUF. */
char *store_path(const char *state_dir, char *buf, size_t len);

#endif
