/* store/store_check - the store's identity, health and copies.
 *
 * A state directory that has been initialised holds, beside store.db, the
 * marker floodgate.id (the store's id and when it was made; the same id is
 * the row meta.store_id inside the store).  With the marker there, a
 * store.db that is missing, empty or damaged means the store was lost: it
 * is refused, never silently replaced by an empty one.  This room also
 * checks the store's integrity, sets a lost store aside for a deliberate
 * new start, answers the quarantine's consistency questions and makes
 * online backups. */
#ifndef FLOODGATE_STORE_STORE_CHECK_H
#define FLOODGATE_STORE_STORE_CHECK_H

#include <jansson.h>
#include "store/store.h"
#include <stdbool.h>
#include <stddef.h>

#define STORE_MARKER "floodgate.id"

/* What to do when the store is refused: the second half of every refusal. */
#define STORE_WAY_OUT                                                                              \
    "restore store.db from a backup (docs/admin-guide.md, \"When the store is refused\"), or "     \
    "run 'floodctl store init --force' to start with an empty store on purpose (the old file "     \
    "is moved aside, not deleted)"

/* store_marker_parse - the "id=" (at most STORE_ID_MAX characters) and
 * "created=" lines of the marker's text TEXT (LEN octets) into ID and
 * CREATED ("" and "an unknown date" when absent); lines with control
 * characters are ignored. */
#define STORE_ID_MAX 64
void store_marker_parse(const char *text, size_t len, char id[STORE_ID_MAX + 1], char *created,
                        size_t clen);

enum store_guard { STORE_REFUSED = -1, STORE_OK = 0, STORE_NEW = 1 };

/* store_guard - may STATE_DIR/STORE_FILE be opened?  STORE_NEW: a brand-new
 * state dir (no marker, no store); STORE_OK: the store is there (DEEP: and
 * passes PRAGMA quick_check and carries the marker's id); STORE_REFUSED
 * with ERR saying which file and what is wrong (STORE_WAY_OUT says what to
 * do).  A store without the marker (made before the marker existed) is
 * accepted; store_mark then writes the marker. */
enum store_guard store_guard(const char *state_dir, const char *store_file, bool deep, char *err,
                             size_t errlen);

/* store_mark - after DB (STATE_DIR's store) was opened: give it an id if it
 * has none and write the marker if it is missing.  -1 with ERR. */
int store_mark(store_db *db, const char *state_dir, char *err, size_t errlen);

/* store_set_aside - move STATE_DIR/STORE_FILE and its -wal and -shm (and
 * the marker) to STORE_FILE.broken-<UTC time>[-wal|-shm|.id], so that a new
 * store can be made; the name given to the store (or what it would have
 * been) into MOVED.  -1 with ERR. */
int store_set_aside(const char *state_dir, const char *store_file, char *moved, size_t movedlen,
                    char *err, size_t errlen);

/* store_integrity - PRAGMA integrity_check of DB: an array of at most MAX
 * problems, empty when the store is sound; NULL when it cannot be run. */
json_t *store_integrity(store_db *db, int max);

/* store_backup_fn - progress of a backup: pages copied of TOTAL. */
typedef void (*store_backup_fn)(int done, int total, void *arg);

/* store_backup - copy the store at SRC into the new file DST with SQLite's
 * online backup, within one read transaction: a consistent snapshot even
 * while floodgated writes (WAL).  Written to DST.partial, made durable,
 * then renamed; DST must not exist.  PROGRESS (may be NULL) is called
 * after every step.  -1 with ERR. */
int store_backup(const char *src, const char *dst, store_backup_fn progress, void *arg, char *err,
                 size_t errlen);

/* What the store says about a quarantine file QID.eml. */
enum store_quarantine_entry {
    STORE_Q_ERROR = -1,
    STORE_Q_INDEXED = 0, /* quarantined, recorded: the file is its body */
    STORE_Q_UNINDEXED,   /* recipients quarantined but no quarantine row */
    STORE_Q_STALE,       /* the message is back in the queue or released */
    STORE_Q_GONE,        /* no such message any more */
};
enum store_quarantine_entry store_quarantine_entry(store_db *db, const char *qid);

/* store_quarantine_reindex - the missing quarantine row of QID, with a
 * reason saying store check restored it.  -1 on error. */
int store_quarantine_reindex(store_db *db, const char *qid);

/* store_quarantined_without_body - the ids (malloc'd, *N) of quarantined
 * messages whose body is not in the store: each must have its file.
 * *MARKED (malloc'd, *N entries) says which were already marked missing.
 * NULL with *N 0 when there are none or on error (*N (size_t)-1). */
char (*store_quarantined_without_body(store_db *db, size_t *n, bool **marked))[17];

/* store_quarantine_mark_missing - record that QID's quarantine file is
 * missing (quarantine.file_missing = now).  -1 on error. */
int store_quarantine_mark_missing(store_db *db, const char *qid);

#endif
