/* queue/quarantine_files - the quarantine on disk: each quarantined
 * message as a plain quarantine/XY/ID.eml (XY: the id's last two
 * characters) an admin can read, copy and send again with ordinary tools,
 * while its envelope and the reason stay in the store. */
#ifndef FLOODGATE_QUEUE_QUARANTINE_FILES_H
#define FLOODGATE_QUEUE_QUARANTINE_FILES_H

#include <pthread.h>
#include "store/store.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

/* quarantine_write_files - write the stored body of each of the N
 * messages IDS to its file under STATE_DIR/quarantine/, not yet durable.
 * Messages without a body are skipped.  -1 with ERR. */
int quarantine_write_files(store_db *db, const char *state_dir, char (*ids)[17], size_t n,
                           char *err, size_t errlen);

/* A flush of every quarantine file written so far, run on a thread of its
 * own so that the next batch's files are written meanwhile. */
struct quarantine_flush {
    char dir[4200];
    pthread_t thread;
    bool started;
    int rc, error;
};
void quarantine_flush_start(struct quarantine_flush *fl, const char *state_dir);
/* quarantine_flush_wait - 0 once the files are durable; -1 with ERR. */
int quarantine_flush_wait(struct quarantine_flush *fl, char *err, size_t errlen);
/* quarantine_commit - in the caller's transaction: QID's pending
 * recipients become quarantined, the reason is recorded and the body
 * leaves the store - only if its file is there.  Returns recipients moved. */
int quarantine_commit(store_db *db, const char *state_dir, const char *qid, const char *admin,
                      const char *reason);
/* quarantine_restore - in the caller's transaction: the body comes back
 * from the file, the recipients are queued again, and who released it and
 * when is recorded.  Returns recipients moved. */
int quarantine_restore(store_db *db, const char *state_dir, const char *qid, const char *admin);
void quarantine_file_remove(const char *state_dir, const char *qid);
/* quarantine_file_open - QID's .eml (quarantine/XY/ID.eml) for reading;
 * NULL (errno set) when there is none. */
FILE *quarantine_file_open(const char *state_dir, const char *qid);
/* quarantine_export - copy QID's .eml to OUT; -1 when there is none. */
int quarantine_export(const char *state_dir, const char *qid, FILE *out);
/* quarantine_expired - ids of entries quarantined before BEFORE and never
 * released, as a malloc'd array (*N entries). */
char (*quarantine_expired(store_db *db, time_t before, size_t *n))[17];

/* quarantine_files_each - FN(QID, PATH, ARG) for every quarantine/XY/ID.eml
 * on disk, until FN returns non-zero (returned).  -1 when the directory
 * cannot be read, 0 when there is none. */
typedef int (*quarantine_file_fn)(const char *qid, const char *path, void *arg);
int quarantine_files_each(const char *state_dir, quarantine_file_fn fn, void *arg);
/* quarantine_file_exists - is QID's .eml there? */
bool quarantine_file_exists(const char *state_dir, const char *qid);
/* Where a quarantine file without its record is moved: never deleted. */
#define QUARANTINE_ASIDE "lost+found/quarantine" /* under state_dir */
/* quarantine_file_set_aside - move QID's .eml into STATE_DIR/lost+found/
 * quarantine/ (its new path into TO).  -1 with errno. */
int quarantine_file_set_aside(const char *state_dir, const char *qid, char *to, size_t tolen);

#endif
