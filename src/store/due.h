/* store/due - the scheduler's reads: the recipients that are due for an
 * attempt (local, remote past a cursor, returned by an admin), copied out
 * of the store into plain rows.  Called on a worker thread with that
 * thread's own read connection (store_thread_db): the event loop never
 * waits for these queries; the rows travel back to it in memory. */
#ifndef FLOODGATE_STORE_DUE_H
#define FLOODGATE_STORE_DUE_H

#include "store/store.h"
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* due_row - one recipient row and what the scheduler needs of its message. */
struct due_row {
    int64_t id;        /* recipients.id */
    char qid[17];      /* its message */
    char *address;     /* the recipient */
    unsigned attempts; /* attempts so far */
    char *sender;      /* the envelope sender ("" for the null sender) */
    time_t created;    /* when the message was accepted */
    char *auth_user;   /* NULL when the client did not authenticate */
    char *client_ip;   /* NULL for a locally made message */
    char *last_error;  /* "" when none */
    time_t next_try;
};

struct due_rows {
    struct due_row *v;
    size_t n, cap;
    int failed; /* the query failed part way: v holds the rows read before */
};

/* due_cursor - where the remote fill stopped: (next_try, message, id) of
 * the last row read; all zero (and "") starts at the beginning. */
struct due_cursor {
    time_t next_try;
    char qid[17];
    int64_t id;
};

/* store_due_local - local recipients in queued or deferred state whose
 * retry time is at or before NOW, oldest retry first, at most LIMIT. */
int store_due_local(store_db *db, time_t now, int limit, struct due_rows *out);
/* store_due_remote - remote recipients due at NOW after cursor AFTER in
 * (next_try, message, id) order, at most LIMIT. */
int store_due_remote(store_db *db, time_t now, const struct due_cursor *after, int limit,
                     struct due_rows *out);
/* store_due_returning - recipients an admin returned to their sender
 * ("floodctl queue bounce"), at most LIMIT. */
int store_due_returning(store_db *db, int limit, struct due_rows *out);

/* Each returns 0, or -1 (logged as event=store_error op=OP) on a store
 * error or when memory runs out; OUT keeps what was read before. */

/* due_rows_free - free the rows' strings and the array (not OUT itself). */
void due_rows_free(struct due_rows *rows);

#endif
