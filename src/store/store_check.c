/* store/store_check - the store's identity, health and copies.
 *
 * Why a marker beside the store: SQLite creates a missing database on
 * open, so a store.db deleted by mistake, truncated by a full disk or a
 * bad restore used to come back as an empty store - the queue, the users
 * and the bans silently gone, and the server accepting mail as if nothing
 * happened.  The marker floodgate.id is written once, when the store is
 * first made (or first opened by a version that knows it); from then on
 * a missing, empty or damaged store.db is refused and named, and only the
 * admin decides to start empty (floodctl store init --force), Postfix's
 * rule for damaged queue files: moved aside, never dropped. */
#include "store/store_check.h"
#include "store/store_sql.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

#define ID_HEX 32       /* 16 random octets */
#define MARKER_MAX 4096 /* octets of the marker read: it is a few lines */

/* ------------------------------------------------------------- the marker */

void store_marker_parse(const char *text, size_t len, char id[STORE_ID_MAX + 1], char *created,
                        size_t clen)
{
    id[0] = '\0';
    snprintf(created, clen, "an unknown date");
    for (const char *p = text, *end = text + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((nl ? nl : end) - p);
        if (n > 0 && p[n - 1] == '\r')
            n--;
        /* only printable values: the id and the date end up in messages */
        bool printable = true;
        for (size_t i = 0; i < n; i++)
            printable &= (unsigned char)p[i] >= 0x20 && (unsigned char)p[i] < 0x7f;
        if (printable && n > 3 && strncmp(p, "id=", 3) == 0 && n - 3 <= STORE_ID_MAX)
            snprintf(id, STORE_ID_MAX + 1, "%.*s", (int)(n - 3), p + 3);
        else if (printable && n > 8 && strncmp(p, "created=", 8) == 0)
            snprintf(created, clen, "%.*s", (int)(n - 8), p + 8);
        p = nl ? nl + 1 : end;
    }
}

/* marker_read - the id and creation time recorded in STATE_DIR's marker
 * (its first MARKER_MAX octets).  1 read, 0 no marker, -1 unreadable (ERR). */
static int marker_read(const char *state_dir, char id[STORE_ID_MAX + 1], char *created, size_t clen,
                       char *err, size_t errlen)
{
    char path[4096], text[MARKER_MAX];
    snprintf(path, sizeof path, "%s/" STORE_MARKER, state_dir);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return 0;
    ssize_t n = fd < 0 ? -1 : read(fd, text, sizeof text);
    if (n < 0) {
        snprintf(err, errlen, "%.300s: cannot read: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    store_marker_parse(text, (size_t)n, id, created, clen);
    return 1;
}

/* marker_write - STATE_DIR/floodgate.id with ID, written whole (a
 * temporary file, fsync, rename, fsync of the directory). */
static int marker_write(const char *state_dir, const char *id, char *err, size_t errlen)
{
    char path[4096], tmp[4200], text[1024], stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(path, sizeof path, "%s/" STORE_MARKER, state_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp%d", path, (int)getpid());
    int n = snprintf(text, sizeof text,
                     "# Floodgate state directory marker: do not delete.\n"
                     "# While this file exists, floodgated refuses to start when store.db is\n"
                     "# missing, empty or damaged (see docs/admin-guide.md).\n"
                     "id=%s\ncreated=%s\n",
                     id, stamp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 || write_full(fd, text, (size_t)n) < 0 || fsync(fd) < 0 || close(fd) < 0 ||
        rename(tmp, path) < 0 || fsync_dir(state_dir) < 0) {
        snprintf(err, errlen, "%.300s: cannot write: %s", path, strerror(errno));
        if (fd >= 0)
            unlink(tmp);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------- the guard */

/* store_id - meta.store_id of DB into ID ("" when there is none); -1 on
 * a store error. */
static int store_id(sqlite3 *db, char id[STORE_ID_MAX + 1])
{
    sqlite3_stmt *st = NULL;
    id[0] = '\0';
    if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'store_id'", -1, &st, NULL) !=
        SQLITE_OK)
        return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_text(st, 0))
        str_copy(id, (const char *)sqlite3_column_text(st, 0), STORE_ID_MAX + 1);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* quick_check - open PATH (never creating it) and run PRAGMA quick_check;
 * its id into ID.  0 sound, -1 with the problem in WHY. */
static int quick_check(const char *path, char id[STORE_ID_MAX + 1], char *why, size_t whylen)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    store_sqlite_setup();
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(db, 10000);
        rc = sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &st, NULL);
    }
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *r = (const char *)sqlite3_column_text(st, 0);
        rc = r && strcmp(r, "ok") == 0 ? SQLITE_OK : SQLITE_CORRUPT;
        snprintf(why, whylen, "quick_check: %s", r ? r : "no answer");
    } else {
        snprintf(why, whylen, "%s", db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        rc = SQLITE_CORRUPT;
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_OK && store_id(db, id) < 0) {
        snprintf(why, whylen, "%s", sqlite3_errmsg(db));
        rc = SQLITE_CORRUPT;
    }
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

enum store_guard store_guard(const char *state_dir, const char *store_file, bool deep, char *err,
                             size_t errlen)
{
    char path[4096], marked[STORE_ID_MAX + 1], created[64], why[300], id[STORE_ID_MAX + 1];
    int has_marker = marker_read(state_dir, marked, created, sizeof created, err, errlen);
    if (has_marker < 0)
        return STORE_REFUSED;
    snprintf(path, sizeof path, "%s/%s", state_dir, store_file);
    struct stat st;
    if (stat(path, &st) < 0) {
        if (errno == ENOENT && !has_marker)
            return STORE_NEW;
        if (errno == ENOENT)
            snprintf(err, errlen,
                     "%.300s is missing, but %s says this state directory was initialised "
                     "on %s: the store was lost",
                     path, STORE_MARKER, created);
        else
            snprintf(err, errlen, "%.300s: cannot stat: %s", path, strerror(errno));
        return STORE_REFUSED;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%.300s is not a regular file", path);
        return STORE_REFUSED;
    }
    if (st.st_size == 0) {
        snprintf(err, errlen, "%.300s is empty (0 bytes): the store was lost", path);
        return STORE_REFUSED;
    }
    if (!deep)
        return STORE_OK;
    if (quick_check(path, id, why, sizeof why) < 0) {
        snprintf(err, errlen, "%.300s is damaged (%s)", path, why);
        return STORE_REFUSED;
    }
    if (has_marker && *marked && *id && strcmp(marked, id) != 0) {
        snprintf(err, errlen,
                 "%.300s is another store (id %s) than the one %s names (id %s); if it is "
                 "the right one, remove %s to adopt it",
                 path, id, STORE_MARKER, marked, STORE_MARKER);
        return STORE_REFUSED;
    }
    return STORE_OK;
}

int store_mark(sqlite3 *db, const char *state_dir, char *err, size_t errlen)
{
    char id[STORE_ID_MAX + 1], marked[STORE_ID_MAX + 1], created[64];
    if (store_id(db, id) < 0) {
        snprintf(err, errlen, "cannot read the store's id: %s", sqlite3_errmsg(db));
        return -1;
    }
    if (*id == '\0') {
        unsigned char raw[ID_HEX / 2];
        randombytes_buf(raw, sizeof raw);
        sodium_bin2hex(id, sizeof id, raw, sizeof raw);
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(
            db, "INSERT OR IGNORE INTO meta(key, value) VALUES('store_id', ?)", -1, &st, NULL);
        if (rc == SQLITE_OK) {
            sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
            rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
        }
        sqlite3_finalize(st);
        /* a floodctl and the daemon making the store at the same moment:
         * the first id recorded is the one */
        if (rc != SQLITE_OK || store_id(db, id) < 0 || *id == '\0') {
            snprintf(err, errlen, "cannot record the store's id: %s", sqlite3_errmsg(db));
            return -1;
        }
    }
    int has = marker_read(state_dir, marked, created, sizeof created, err, errlen);
    if (has < 0)
        return -1;
    return has ? 0 : marker_write(state_dir, id, err, errlen);
}

/* ------------------------------------------------------------ set aside */

/* move_aside - rename FROM to TO when FROM exists.  -1 with ERR. */
static int move_aside(const char *from, const char *to, char *err, size_t errlen)
{
    if (rename(from, to) == 0 || errno == ENOENT)
        return 0;
    snprintf(err, errlen, "cannot move %.300s to %.300s: %s", from, to, strerror(errno));
    return -1;
}

int store_set_aside(const char *state_dir, const char *store_file, char *moved, size_t movedlen,
                    char *err, size_t errlen)
{
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    char stamp[32], from[4200], to[4300];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    snprintf(moved, movedlen, "%s/%s.broken-%s", state_dir, store_file, stamp);
    /* the WAL keeps its place beside the store: the moved copy opens with
     * the transactions it held */
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        snprintf(from, sizeof from, "%s/%s%s", state_dir, store_file, suffixes[i]);
        snprintf(to, sizeof to, "%s%s", moved, suffixes[i]);
        if (move_aside(from, to, err, errlen) < 0)
            return -1;
    }
    snprintf(from, sizeof from, "%s/" STORE_MARKER, state_dir);
    snprintf(to, sizeof to, "%s.id", moved);
    if (move_aside(from, to, err, errlen) < 0)
        return -1;
    if (fsync_dir(state_dir) < 0) {
        snprintf(err, errlen, "%.300s: cannot sync: %s", state_dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ integrity */

/* store_failed - log DB's last error for OP. */
static void store_failed(sqlite3 *db, const char *op)
{
    log_warnx("event=store_error op=%s error=%s", op, log_quote(sqlite3_errmsg(db)));
}

json_t *store_integrity(sqlite3 *db, int max)
{
    char sql[64];
    sqlite3_stmt *st = NULL;
    snprintf(sql, sizeof sql, "PRAGMA integrity_check(%d)", max);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        store_failed(db, "integrity_check");
        return NULL;
    }
    json_t *problems = json_array();
    int rc;
    while (problems && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *r = (const char *)sqlite3_column_text(st, 0);
        if (r && strcmp(r, "ok") != 0 && json_array_append_new(problems, json_string(r)) < 0)
            break;
    }
    sqlite3_finalize(st);
    if (problems && rc != SQLITE_DONE) {
        store_failed(db, "integrity_check");
        json_decref(problems);
        return NULL;
    }
    return problems;
}

/* --------------------------------------------------------------- backup */

/* backup_copy - the pages of SRC into DST within one read transaction of
 * SRC: without it each step would see the daemon's latest commit and the
 * backup would start over after every write.  -1 with ERR. */
static int backup_copy(sqlite3 *src, sqlite3 *dst, store_backup_fn progress, void *arg, char *err,
                       size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(src, "BEGIN; SELECT count(*) FROM sqlite_master;", NULL, NULL, &msg) !=
        SQLITE_OK) {
        snprintf(err, errlen, "cannot read the store: %s", msg ? msg : sqlite3_errmsg(src));
        sqlite3_free(msg);
        return -1;
    }
    sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
    int rc = b ? SQLITE_OK : sqlite3_errcode(dst);
    while (b && (rc = sqlite3_backup_step(b, 4096)) == SQLITE_OK)
        if (progress)
            progress(sqlite3_backup_pagecount(b) - sqlite3_backup_remaining(b),
                     sqlite3_backup_pagecount(b), arg);
    if (b && progress && rc == SQLITE_DONE)
        progress(sqlite3_backup_pagecount(b), sqlite3_backup_pagecount(b), arg);
    if (b && sqlite3_backup_finish(b) != SQLITE_OK && rc == SQLITE_DONE)
        rc = sqlite3_errcode(dst);
    sqlite3_exec(src, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "backup failed: %s", sqlite3_errmsg(dst));
        return -1;
    }
    return 0;
}

/* dir_of - the directory part of PATH into BUF ("." for a bare name). */
static void dir_of(const char *path, char *buf, size_t len)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        snprintf(buf, len, ".");
    else if (slash == path)
        snprintf(buf, len, "/");
    else
        snprintf(buf, len, "%.*s", (int)(slash - path), path);
}

int store_backup(const char *src_path, const char *dst_path, store_backup_fn progress, void *arg,
                 char *err, size_t errlen)
{
    char partial[4200], dir[4096];
    struct stat st;
    if (lstat(dst_path, &st) == 0 || errno != ENOENT) {
        snprintf(err, errlen, "%.300s exists: choose a new file name", dst_path);
        return -1;
    }
    snprintf(partial, sizeof partial, "%s.partial", dst_path);
    unlink(partial); /* what an interrupted backup left */
    sqlite3 *src = NULL, *dst = NULL;
    store_sqlite_setup();
    int rc = sqlite3_open_v2(src_path, &src, SQLITE_OPEN_READONLY, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%.300s: cannot open: %s", src_path,
                 src ? sqlite3_errmsg(src) : sqlite3_errstr(rc));
        sqlite3_close(src);
        return -1;
    }
    sqlite3_busy_timeout(src, 10000);
    rc = sqlite3_open_v2(partial, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%.300s: cannot create: %s", partial,
                 dst ? sqlite3_errmsg(dst) : sqlite3_errstr(rc));
    } else {
        sqlite3_exec(dst, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
        rc = backup_copy(src, dst, progress, arg, err, errlen) < 0 ? SQLITE_ERROR : SQLITE_OK;
    }
    sqlite3_close(src);
    if (sqlite3_close(dst) != SQLITE_OK && rc == SQLITE_OK) {
        snprintf(err, errlen, "%.300s: cannot close", partial);
        rc = SQLITE_ERROR;
    }
    dir_of(dst_path, dir, sizeof dir);
    if (rc == SQLITE_OK &&
        (chmod(partial, 0600) < 0 || rename(partial, dst_path) < 0 || fsync_dir(dir) < 0)) {
        snprintf(err, errlen, "%.300s: cannot write: %s", dst_path, strerror(errno));
        rc = SQLITE_ERROR;
    }
    if (rc != SQLITE_OK)
        unlink(partial);
    return rc == SQLITE_OK ? 0 : -1;
}

/* ------------------------------------------------------------ quarantine */

enum store_quarantine_entry store_quarantine_entry(sqlite3 *db, const char *qid)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(
            db,
            "SELECT (SELECT count(*) FROM recipients WHERE message = m.id"
            "        AND state = 'quarantined'),"
            "       (SELECT released_at IS NULL FROM quarantine WHERE message = m.id),"
            "       EXISTS(SELECT 1 FROM bodies WHERE message = m.id)"
            " FROM messages m WHERE m.id = ?",
            -1, &st, NULL) != SQLITE_OK) {
        store_failed(db, "quarantine_entry");
        return STORE_Q_ERROR;
    }
    sqlite3_bind_text(st, 1, qid, -1, SQLITE_STATIC);
    enum store_quarantine_entry e;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        e = STORE_Q_GONE;
    else if (rc != SQLITE_ROW)
        store_failed(db, "quarantine_entry"), e = STORE_Q_ERROR;
    else if (sqlite3_column_int(st, 0) == 0 || sqlite3_column_int(st, 2))
        e = STORE_Q_STALE; /* nothing quarantined, or the body is in the store */
    else if (sqlite3_column_type(st, 1) == SQLITE_NULL)
        e = STORE_Q_UNINDEXED;
    else
        e = sqlite3_column_int(st, 1) ? STORE_Q_INDEXED : STORE_Q_STALE;
    sqlite3_finalize(st);
    return e;
}

/* run_qid - SQL with ?1 = QID and ?2 = now; -1 on error. */
static int run_qid(sqlite3 *db, const char *sql, const char *qid)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, qid, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, time(NULL));
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int store_quarantine_reindex(sqlite3 *db, const char *qid)
{
    return run_qid(db,
                   "INSERT OR IGNORE INTO quarantine(message, reason, quarantined_at,"
                   " quarantined_by) VALUES(?1, 're-indexed by floodctl store check', ?2,"
                   " 'store check')",
                   qid);
}

int store_quarantine_mark_missing(sqlite3 *db, const char *qid)
{
    return run_qid(db, "UPDATE quarantine SET file_missing = ?2 WHERE message = ?1", qid);
}

char (*store_quarantined_without_body(sqlite3 *db, size_t *n, bool **marked))[17]
{
    sqlite3_stmt *st = NULL;
    char(*ids)[17] = NULL;
    size_t cap = 0;
    *n = 0;
    *marked = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT q.message, q.file_missing IS NOT NULL FROM quarantine q"
                           " WHERE q.released_at IS NULL"
                           " AND NOT EXISTS(SELECT 1 FROM bodies WHERE message = q.message)"
                           " AND EXISTS(SELECT 1 FROM recipients WHERE message = q.message"
                           "            AND state = 'quarantined')",
                           -1, &st, NULL) != SQLITE_OK) {
        store_failed(db, "quarantine_check");
        *n = (size_t)-1;
        return NULL;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            void *p = realloc(ids, cap * sizeof *ids), *q = realloc(*marked, cap * sizeof **marked);
            if (p)
                ids = p;
            if (q)
                *marked = q;
            if (p == NULL || q == NULL) {
                rc = SQLITE_NOMEM;
                break;
            }
        }
        str_copy(ids[*n], (const char *)sqlite3_column_text(st, 0), sizeof ids[0]);
        (*marked)[(*n)++] = sqlite3_column_int(st, 1) != 0;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        free(ids);
        free(*marked);
        *marked = NULL;
        store_failed(db, "quarantine_check");
        *n = (size_t)-1;
        return NULL;
    }
    return ids;
}
