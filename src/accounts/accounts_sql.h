/* accounts/accounts_sql - the small store helpers of accounts.c, shared
 * with the other files of the accounts room (sending.c).  Not for other
 * rooms. */
#ifndef FLOODGATE_ACCOUNTS_ACCOUNTS_SQL_H
#define FLOODGATE_ACCOUNTS_ACCOUNTS_SQL_H

#include <sqlite3.h>

#include "store/store.h"
#include <stddef.h>

/* accounts_store_failed - log a store error during OP and tell the admin
 * about it in ERR; always -1. */
int accounts_store_failed(store_db *db, const char *op, char *err, size_t errlen);

/* accounts_query_exists - 1 when SQL with the text parameters ARG (and
 * ARG2 when not NULL) returns a row, 0 when not, -1 on a store error. */
int accounts_query_exists(store_db *db, const char *sql, const char *arg, const char *arg2);

/* accounts_exec_text - run SQL binding the N texts ARGS to ?1..?N (and
 * WHEN to ?N+1 when the statement has it); returns the number of rows
 * changed, or -1 on a store error (SQLITE_CONSTRAINT is reported as -2 so
 * callers can name the duplicate). */
int accounts_exec_text(store_db *db, const char *sql, int n, const char *const *args,
                       sqlite3_int64 when);

#endif
