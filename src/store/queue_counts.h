/* store/queue_counts - the queue counted by state, kept by the store as
 * the recipients change, so that /metrics, floodctl status and the
 * dashboard read a few rows instead of counting a million.
 *
 * The table queue_counts holds, per recipient state, the recipients in it
 * and the messages with at least one recipient in it; the row "*pending"
 * counts the same for the pending states together (queued, deferred, held,
 * returning).  SQLite triggers on recipients keep it in the transaction
 * that changes a recipient, whoever writes (the committer, floodctl with
 * the daemon stopped, a restore): it is exact after kill -9 as the rows
 * are.  The readers are store_queue_counts and store_queue_messages_by_state
 * (store/queue_query.h). */
#ifndef FLOODGATE_STORE_QUEUE_COUNTS_H
#define FLOODGATE_STORE_QUEUE_COUNTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "store/store.h"

/* The recipient states that mean "still ours to deliver", as SQL. */
#define STORE_PENDING_STATES "'queued', 'deferred', 'held', 'returning'"
/* The same as an expression true when X (SQL) is one of them.  Where it
 * runs once per row (the counts' triggers), an IN list of more than two
 * constants costs SQLite a temporary B-tree of the list each time it is
 * evaluated (sqlite3FindInIndex), and a list of equalities on an indexed
 * column is turned into such an IN: a CASE is neither.  That B-tree was
 * most of the triggers' cost, about 200,000 instructions per accepted
 * message (callgrind). */
#define STORE_PENDING_EXPR(x)                                                                      \
    "(CASE " x " WHEN 'queued' THEN 1 WHEN 'deferred' THEN 1 WHEN 'held' THEN 1"                   \
    " WHEN 'returning' THEN 1 ELSE 0 END)"

/* The queue_counts row of the pending states together (no recipient
 * state starts with '*'). */
#define STORE_COUNTS_PENDING "*pending"

/* store_queue_counts_ready - on opening DB with the schema: the table and
 * its triggers in place, made with one full count when the store has none
 * yet (or an older version of them).  -1 with ERR. */
int store_queue_counts_ready(store_db *db, char *err, size_t errlen);

/* store_queue_counts_rebuild - make the table and its triggers again from
 * one full count of the recipients, in one transaction (floodctl store
 * check --repair).  The recipients counted, or -1 with ERR. */
long long store_queue_counts_rebuild(store_db *db, char *err, size_t errlen);

/* store_queue_counts_check - the kept counts against a full count of the
 * recipients (one snapshot): an array of {state, recipients_kept,
 * recipients_counted, messages_kept, messages_counted} for each state
 * where they differ, empty when exact.  NULL on a store error (logged). */
json_t *store_queue_counts_check(store_db *db);

#endif
