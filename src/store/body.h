/* store/body - reading the body of a queued message out of the store (the
 * `bodies` blob), for local delivery, the remote client, DSNs and the
 * quarantine.  The rooms above never see the blob: they read through this
 * handle, whose read function has the shape of the project's reader
 * callbacks (maildir_deliver, dkim_read_fn). */
#ifndef FLOODGATE_STORE_BODY_H
#define FLOODGATE_STORE_BODY_H

#include <stddef.h>

#include "store/store.h"

struct store_body;

/* store_body_get - the body of message QID, open for reading on DB (a
 * connection of the calling thread); NULL when it is missing or the store
 * fails.  Close it with store_body_close before DB is used for a write. */
struct store_body *store_body_get(store_db *db, const char *qid);

/* store_body_size - the body's length in octets. */
size_t store_body_size(const struct store_body *b);

/* store_body_read - up to N octets of BODY (a struct store_body *) at OFF
 * into BUF: the count read, 0 at the end, -1 on a read error. */
long store_body_read(void *body, size_t off, char *buf, size_t n);

/* store_body_close - release B (NULL is fine). */
void store_body_close(struct store_body *b);

#endif
