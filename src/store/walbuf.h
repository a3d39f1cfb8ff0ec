/* store/walbuf - a SQLite VFS shim that gathers the committer's WAL writes
 * and hands them to the kernel in one write at each sync (see walbuf.c for
 * why that is safe).  Private to src/store/: only the committer's
 * connection is opened through it (store_open_writer). */
#ifndef FLOODGATE_STORE_WALBUF_H
#define FLOODGATE_STORE_WALBUF_H

#include <stdbool.h>

struct sqlite3;

/* walbuf_vfs - the shim's VFS name for sqlite3_open_v2, registered on the
 * first call (never as the default VFS); NULL when it could not be (the
 * caller then opens with the default VFS and writes as before). */
const char *walbuf_vfs(void);

/* walbuf_arm - let DB's WAL buffer its writes, if DB was opened through
 * the shim and runs synchronous=FULL or EXTRA (which syncs the WAL before
 * each commit is published).  False, and DB writes through, otherwise. */
bool walbuf_arm(struct sqlite3 *db);

/* walbuf_counts - since the process started: WAL writes the shim took
 * into its buffers (WRITES) and the writes it made of them (FLUSHES). */
void walbuf_counts(unsigned long *writes, unsigned long *flushes);

#endif
