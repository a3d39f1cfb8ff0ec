/* store/queue_sql - the queue's statements inside the store room: a
 * selection bound into a statement.  Private to src/store/. */
#ifndef FLOODGATE_STORE_QUEUE_SQL_H
#define FLOODGATE_STORE_QUEUE_SQL_H

#include <sqlite3.h>

#include "store/queue_filter.h"

/* queue_filter_bind - bind the values of FS (they use ?100 and up). */
int queue_filter_bind(sqlite3_stmt *st, const struct filter_sql *fs);

/* queue_filter_prepare - the statement HEAD + condition of F (+ its order
 * with FILTER_ORDERED) + TAIL, prepared and bound; HEAD ends in a WHERE over
 * messages m (and recipients r with FILTER_JOINED).  NULL (logged) on error. */
sqlite3_stmt *queue_filter_prepare(store_db *db, const char *head, const struct queue_filter *f,
                                   unsigned flags, const char *tail);

#endif
