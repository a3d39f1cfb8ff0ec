/* store/walbuf - a SQLite VFS shim ("floodgate-walbuf") over the default
 * "unix" VFS that writes each commit's WAL frames with one pwrite.
 *
 * Why: SQLite writes every WAL frame with two calls (the 24-octet frame
 * header, then the page), some 40 pwrite64 for a group commit of four or
 * five messages, each a system call on the path from the end of DATA to
 * the 250.  Only the committer's connection (the daemon's single writer)
 * is opened through the shim; every other connection, and every file of
 * the committer that is not its WAL, goes straight to "unix".
 *
 * What it does: for a file opened with SQLITE_OPEN_WAL, once the
 * connection is armed (walbuf_arm), a write that continues the previous
 * one is copied into a buffer (WALBUF_MAX at most) instead of being
 * written.  The buffer is written, with one call of the unix VFS's own
 * xWrite (so its errors are SQLite's: SQLITE_FULL on ENOSPC,
 * SQLITE_IOERR_WRITE otherwise), when SQLite calls xSync, before any other call on the WAL
 * that could look at or change the file (xRead, xTruncate, xFileSize,
 * locks, file controls, xClose...), before a write that does not continue
 * it, when it would overflow, and before the database file's xShm* calls.
 * xSectorSize and xDeviceCharacteristics do not flush: they describe the
 * device, not the file's content.
 *
 * Why this is safe:
 * - Crash ordering.  SQLite relies on the order of writes only across
 *   xSync: between two syncs the kernel may put the writes on disk in any
 *   order, or not at all.  The shim writes everything it holds before
 *   each sync, so at every sync the file is what it would have been, and
 *   a crash (kill -9, power) can only lose writes made after the last
 *   sync, which a crash could lose anyway.
 * - Durability.  With synchronous=FULL (store_open's pragma), SQLite's
 *   COMMIT syncs the WAL (wal.c walFrames: the frames, then xSync of the
 *   WAL) before it returns, so the frames of a commit the committer
 *   reports are written and on disk, as before.  A process killed before
 *   that sync loses an uncommitted transaction, whose messages nobody was
 *   told were accepted.
 * - Visibility.  Other connections (lookup and worker threads, floodctl,
 *   the checkpointer) read the WAL only up to the last frame the
 *   wal-index header names, and walFrames publishes that header
 *   (walIndexAppend, walIndexWriteHdr) only after the sync above: they
 *   never read a frame still in the buffer.  This holds only when the
 *   commit syncs, hence: walbuf_arm refuses a connection below
 *   synchronous=FULL, a later PRAGMA synchronous=... on it (SQLite tells
 *   the VFS of every PRAGMA, SQLITE_FCNTL_PRAGMA) disarms it, and as a
 *   second line the database file's xShm* calls (walIndexWriteHdr passes
 *   a memory barrier, xShmBarrier, between the two copies of the header
 *   that readers compare) write the buffer first.
 * - The writer itself.  Its own reads of a frame it wrote (a spilled page,
 *   a checkpoint, a checksum rewrite) go through xRead, which writes the
 *   buffer first.
 * A flush that fails outside xSync/xWrite/xRead (a call whose error
 * SQLite may ignore) is remembered and returned by the next xWrite, xRead,
 * xTruncate, xFileSize or xSync, so that the commit it belonged to fails. */
#include "store/store.h"
#include "store/walbuf.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define WALBUF_VFS_NAME "floodgate-walbuf"
/* The buffer's size, the largest single write: the unix VFS writes at most
 * 128 KiB - 1 octets per call (os_unix.c seekAndWriteFd masks the length
 * with 0x1ffff; SQLite's own writes are a page, 64 KiB at most), and the
 * flush goes through it.  30 frames of a 4 KiB page: a group commit of
 * three or four messages in one write, a larger one in a few. */
#define WALBUF_MAX (31 * 4096)
/* walbuf_arm's file control, sent to the database file; any opcode the
 * SQLite library does not define (its own stay below 100) */
#define WALBUF_FCNTL_ARM 0x57424601

/* One open file of the shim: ours first, then the unix VFS's own file
 * (REAL points at it, inside the same allocation: szOsFile covers both). */
struct wb_file {
    sqlite3_file base;
    sqlite3_file *real;
    struct wb_file *db;  /* a WAL: its connection's database file (NULL: none of ours) */
    struct wb_file *wal; /* a database file: its open WAL */
    int is_wal;
    int armed;          /* a database file: its WAL may buffer */
    int pending;        /* a WAL: a failed flush's code not yet returned */
    unsigned char *buf; /* WALBUF_MAX octets, allocated at the first write */
    size_t len;
    sqlite3_int64 off; /* file offset of buf[0] */
};

static sqlite3_vfs wb_vfs;
static const sqlite3_io_methods wb_methods;
static pthread_once_t wb_once = PTHREAD_ONCE_INIT;
static int wb_registered;
static atomic_ulong wb_writes, wb_flushes;

/* real - the unix file under F. */
static sqlite3_file *real(sqlite3_file *f)
{
    return ((struct wb_file *)f)->real;
}

/* flush - write what F holds (nothing to do when it holds nothing).  A
 * failure is also kept in F->pending for a call that can report it. */
static int flush(struct wb_file *f)
{
    if (f->len == 0)
        return SQLITE_OK;
    int rc = f->real->pMethods->xWrite(f->real, f->buf, (int)f->len, f->off);
    f->len = 0;
    atomic_fetch_add_explicit(&wb_flushes, 1, memory_order_relaxed);
    if (rc != SQLITE_OK && f->pending == SQLITE_OK)
        f->pending = rc;
    return rc;
}

/* settle - before a call on F that reports errors to SQLite: flush, and
 * return (and forget) any failure not reported yet. */
static int settle(struct wb_file *f)
{
    flush(f);
    int rc = f->pending;
    f->pending = SQLITE_OK;
    return rc;
}

/* settle_quiet - before a call whose error SQLite may ignore: flush, and
 * keep a failure for the next call that reports errors. */
static int settle_quiet(struct wb_file *f)
{
    flush(f);
    return f->pending;
}

/* settle_wal - before a database file's xShm* call: its WAL's buffer
 * first (walFrames publishes new frames through the wal-index). */
static void settle_wal(struct wb_file *f)
{
    if (f->wal != NULL)
        flush(f->wal);
}

/* buffering - whether F's writes may wait in its buffer. */
static int buffering(const struct wb_file *f)
{
    return f->is_wal && f->db != NULL && f->db->armed;
}

/* take - append AMT octets at OFF to F's buffer; 0 when they do not
 * continue it or do not fit (the caller flushes and writes them). */
static int take(struct wb_file *f, const void *data, int amt, sqlite3_int64 off)
{
    size_t n = (size_t)amt;
    if (f->len > 0 && off != f->off + (sqlite3_int64)f->len)
        return 0;
    if (f->len + n > WALBUF_MAX)
        return 0;
    if (f->buf == NULL && (f->buf = malloc(WALBUF_MAX)) == NULL)
        return 0;
    if (f->len == 0)
        f->off = off;
    memcpy(f->buf + f->len, data, n);
    f->len += n;
    atomic_fetch_add_explicit(&wb_writes, 1, memory_order_relaxed);
    return 1;
}

/* wb_write - xWrite: into the buffer when it continues it, else flush
 * first and start a new one (or write through: too large, no memory). */
static int wb_write(sqlite3_file *file, const void *data, int amt, sqlite3_int64 off)
{
    struct wb_file *f = (struct wb_file *)file;
    if (buffering(f) && f->pending == SQLITE_OK && take(f, data, amt, off))
        return SQLITE_OK;
    int rc = settle(f);
    if (rc != SQLITE_OK)
        return rc;
    if (buffering(f) && take(f, data, amt, off))
        return SQLITE_OK;
    return f->real->pMethods->xWrite(f->real, data, amt, off);
}

/* wb_close - xClose: what the buffer holds, then the file. */
static int wb_close(sqlite3_file *file)
{
    struct wb_file *f = (struct wb_file *)file;
    int rc = settle(f);
    if (f->is_wal && f->db != NULL && f->db->wal == f)
        f->db->wal = NULL;
    if (f->wal != NULL) /* SQLite closes the WAL first; in case it did not */
        f->wal->db = NULL;
    free(f->buf);
    f->buf = NULL;
    int rc2 = f->real->pMethods->xClose(f->real);
    return rc != SQLITE_OK ? rc : rc2;
}

static int wb_read(sqlite3_file *file, void *data, int amt, sqlite3_int64 off)
{
    int rc = settle((struct wb_file *)file);
    return rc != SQLITE_OK ? rc : real(file)->pMethods->xRead(real(file), data, amt, off);
}

static int wb_truncate(sqlite3_file *file, sqlite3_int64 size)
{
    int rc = settle((struct wb_file *)file);
    return rc != SQLITE_OK ? rc : real(file)->pMethods->xTruncate(real(file), size);
}

static int wb_sync(sqlite3_file *file, int flags)
{
    int rc = settle((struct wb_file *)file);
    return rc != SQLITE_OK ? rc : real(file)->pMethods->xSync(real(file), flags);
}

static int wb_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
    int rc = settle((struct wb_file *)file);
    return rc != SQLITE_OK ? rc : real(file)->pMethods->xFileSize(real(file), size);
}

static int wb_lock(sqlite3_file *file, int lock)
{
    int rc = settle_quiet((struct wb_file *)file);
    return rc != SQLITE_OK ? rc : real(file)->pMethods->xLock(real(file), lock);
}

static int wb_unlock(sqlite3_file *file, int lock)
{
    int rc = settle_quiet((struct wb_file *)file);
    return rc != SQLITE_OK ? rc : real(file)->pMethods->xUnlock(real(file), lock);
}

static int wb_check_reserved(sqlite3_file *file, int *out)
{
    int rc = settle_quiet((struct wb_file *)file);
    return rc != SQLITE_OK ? rc : real(file)->pMethods->xCheckReservedLock(real(file), out);
}

/* set_armed - a database file's WAL may buffer (ON) or must not: it
 * writes what it holds at once. */
static void set_armed(struct wb_file *f, int on)
{
    if (!on)
        settle_wal(f);
    f->armed = on;
}

/* wb_file_control - xFileControl: walbuf_arm's request; any PRAGMA
 * synchronous=... disarms (a lower level would publish frames without a
 * sync, which the buffer must not hold back); the rest passes through. */
static int wb_file_control(sqlite3_file *file, int op, void *arg)
{
    struct wb_file *f = (struct wb_file *)file;
    if (op == WALBUF_FCNTL_ARM) {
        set_armed(f, *(int *)arg);
        return SQLITE_OK;
    }
    if (op == SQLITE_FCNTL_PRAGMA) {
        char **a = arg; /* a[1]: the pragma's name, a[2]: its value or NULL */
        if (a[1] != NULL && a[2] != NULL && strcasecmp(a[1], "synchronous") == 0)
            set_armed(f, 0);
    }
    int rc = settle_quiet(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFileControl(f->real, op, arg);
}

static int wb_sector_size(sqlite3_file *file)
{
    return real(file)->pMethods->xSectorSize(real(file));
}

static int wb_device_characteristics(sqlite3_file *file)
{
    return real(file)->pMethods->xDeviceCharacteristics(real(file));
}

static int wb_shm_map(sqlite3_file *file, int page, int size, int extend, void volatile **p)
{
    settle_wal((struct wb_file *)file);
    int rc = settle_quiet((struct wb_file *)file);
    return rc != SQLITE_OK ? rc : real(file)->pMethods->xShmMap(real(file), page, size, extend, p);
}

static int wb_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
    settle_wal((struct wb_file *)file);
    int rc = settle_quiet((struct wb_file *)file);
    return rc != SQLITE_OK ? rc : real(file)->pMethods->xShmLock(real(file), offset, n, flags);
}

/* wb_shm_barrier - walIndexWriteHdr calls it between the two copies of
 * the wal-index header: every frame it names is written first. */
static void wb_shm_barrier(sqlite3_file *file)
{
    settle_wal((struct wb_file *)file);
    settle_quiet((struct wb_file *)file);
    real(file)->pMethods->xShmBarrier(real(file));
}

static int wb_shm_unmap(sqlite3_file *file, int delete)
{
    settle_wal((struct wb_file *)file);
    int rc = settle_quiet((struct wb_file *)file);
    return rc != SQLITE_OK ? rc : real(file)->pMethods->xShmUnmap(real(file), delete);
}

static int wb_fetch(sqlite3_file *file, sqlite3_int64 off, int amt, void **p)
{
    int rc = settle_quiet((struct wb_file *)file);
    if (rc != SQLITE_OK) {
        *p = NULL;
        return rc;
    }
    return real(file)->pMethods->xFetch(real(file), off, amt, p);
}

static int wb_unfetch(sqlite3_file *file, sqlite3_int64 off, void *p)
{
    settle_quiet((struct wb_file *)file);
    return real(file)->pMethods->xUnfetch(real(file), off, p);
}

static const sqlite3_io_methods wb_methods = {
    .iVersion = 3,
    .xClose = wb_close,
    .xRead = wb_read,
    .xWrite = wb_write,
    .xTruncate = wb_truncate,
    .xSync = wb_sync,
    .xFileSize = wb_file_size,
    .xLock = wb_lock,
    .xUnlock = wb_unlock,
    .xCheckReservedLock = wb_check_reserved,
    .xFileControl = wb_file_control,
    .xSectorSize = wb_sector_size,
    .xDeviceCharacteristics = wb_device_characteristics,
    .xShmMap = wb_shm_map,
    .xShmLock = wb_shm_lock,
    .xShmBarrier = wb_shm_barrier,
    .xShmUnmap = wb_shm_unmap,
    .xFetch = wb_fetch,
    .xUnfetch = wb_unfetch,
};

/* wb_open - xOpen: the unix VFS opens the file; a WAL is tied to its
 * connection's database file, which decides whether it buffers. */
static int wb_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
                   int *out_flags)
{
    struct wb_file *f = (struct wb_file *)file;
    memset(f, 0, sizeof *f);
    f->real = (sqlite3_file *)(f + 1);
    sqlite3_vfs *under = vfs->pAppData;
    int rc = under->xOpen(under, name, f->real, flags, out_flags);
    if (f->real->pMethods == NULL)
        return rc; /* nothing to close: SQLite will not call ours */
    f->base.pMethods = &wb_methods;
    if (rc != SQLITE_OK)
        return rc;
    if (f->real->pMethods->iVersion < 3) { /* "unix" has version 3; others not wrapped */
        f->real->pMethods->xClose(f->real);
        f->base.pMethods = NULL;
        return SQLITE_CANTOPEN;
    }
    if ((flags & SQLITE_OPEN_WAL) && name != NULL) {
        f->is_wal = 1;
        sqlite3_file *db = sqlite3_database_file_object(name);
        if (db != NULL && db->pMethods == &wb_methods) {
            f->db = (struct wb_file *)db;
            f->db->wal = f;
        }
    }
    return SQLITE_OK;
}

/* The VFS's other methods: the unix VFS's own. */
static sqlite3_vfs *under(sqlite3_vfs *vfs)
{
    return vfs->pAppData;
}

static int wb_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    return under(vfs)->xDelete(under(vfs), name, sync_dir);
}

static int wb_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    return under(vfs)->xAccess(under(vfs), name, flags, out);
}

static int wb_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    return under(vfs)->xFullPathname(under(vfs), name, n, out);
}

static void *wb_dlopen(sqlite3_vfs *vfs, const char *name)
{
    return under(vfs)->xDlOpen(under(vfs), name);
}

static void wb_dlerror(sqlite3_vfs *vfs, int n, char *msg)
{
    under(vfs)->xDlError(under(vfs), n, msg);
}

static void (*wb_dlsym(sqlite3_vfs *vfs, void *lib, const char *sym))(void)
{
    return under(vfs)->xDlSym(under(vfs), lib, sym);
}

static void wb_dlclose(sqlite3_vfs *vfs, void *lib)
{
    under(vfs)->xDlClose(under(vfs), lib);
}

static int wb_randomness(sqlite3_vfs *vfs, int n, char *out)
{
    return under(vfs)->xRandomness(under(vfs), n, out);
}

static int wb_sleep(sqlite3_vfs *vfs, int us)
{
    return under(vfs)->xSleep(under(vfs), us);
}

static int wb_current_time(sqlite3_vfs *vfs, double *t)
{
    return under(vfs)->xCurrentTime(under(vfs), t);
}

static int wb_last_error(sqlite3_vfs *vfs, int n, char *msg)
{
    return under(vfs)->xGetLastError(under(vfs), n, msg);
}

static int wb_current_time64(sqlite3_vfs *vfs, sqlite3_int64 *t)
{
    return under(vfs)->xCurrentTimeInt64(under(vfs), t);
}

/* wb_register - once: the shim over "unix", under its own name. */
static void wb_register(void)
{
    store_sqlite_setup(); /* before sqlite3_vfs_find starts SQLite */
    sqlite3_vfs *u = sqlite3_vfs_find("unix");
    if (u == NULL || u->iVersion < 2)
        return;
    wb_vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)sizeof(struct wb_file) + u->szOsFile,
        .mxPathname = u->mxPathname,
        .zName = WALBUF_VFS_NAME,
        .pAppData = u,
        .xOpen = wb_open,
        .xDelete = wb_delete,
        .xAccess = wb_access,
        .xFullPathname = wb_full_pathname,
        .xDlOpen = wb_dlopen,
        .xDlError = wb_dlerror,
        .xDlSym = wb_dlsym,
        .xDlClose = wb_dlclose,
        .xRandomness = wb_randomness,
        .xSleep = wb_sleep,
        .xCurrentTime = wb_current_time,
        .xGetLastError = wb_last_error,
        .xCurrentTimeInt64 = wb_current_time64,
    };
    wb_registered = sqlite3_vfs_register(&wb_vfs, 0) == SQLITE_OK;
}

const char *walbuf_vfs(void)
{
    pthread_once(&wb_once, wb_register);
    return wb_registered ? WALBUF_VFS_NAME : NULL;
}

bool walbuf_arm(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int level = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA synchronous", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        level = sqlite3_column_int(st, 0); /* 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA */
    sqlite3_finalize(st);
    int on = level >= 2;
    if (!on)
        return false;
    return sqlite3_file_control(db, "main", WALBUF_FCNTL_ARM, &on) == SQLITE_OK;
}

void walbuf_counts(unsigned long *writes, unsigned long *flushes)
{
    *writes = atomic_load(&wb_writes);
    *flushes = atomic_load(&wb_flushes);
}
