/* queue/quarantine_files - quarantined messages as .eml files.
 *
 * The files are spread over 256 subdirectories named by the last two hex
 * digits of the id (quarantine/7F/ID.eml): a quarantine of a whole outbreak
 * creates hundreds of thousands of files, and in one directory every
 * creation waits for the directory's lock while the filesystem looks for a
 * free inode.  The quarantine directory is marked as a top of hierarchy
 * (chattr +T) so that ext4 spreads the subdirectories, and with them their
 * files, over its block groups. */
#include "queue/quarantine_files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "store/store.h"
#include "store/store_sql.h"
#include "core/util.h"

#define QDIR "quarantine"

/* subdir - the two characters naming QID's subdirectory: its last two,
 * the fastest-changing digits of a queue id. */
static const char *subdir(const char *qid)
{
    size_t n = strlen(qid);
    return n >= 2 ? qid + n - 2 : "00";
}

static void file_path(char *buf, size_t len, const char *state_dir, const char *qid,
                      const char *suffix)
{
    snprintf(buf, len, "%s/" QDIR "/%.2s/%s%s", state_dir, subdir(qid), qid, suffix);
}

/* open_in_dir - open(PATH's directory, ...) creating that directory (the
 * last component) when it is not there yet. */
static int open_in_dir(const char *path, char *dir, size_t dirlen, int flags)
{
    snprintf(dir, dirlen, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        return -1;
    *slash = '\0';
    int fd = open(dir, flags, 0600);
    if (fd >= 0 || errno != ENOENT)
        return fd;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return -1;
    return open(dir, flags, 0600);
}

/* file_create - an unnamed file in PATH's directory, to be given its name
 * by file_name once complete: a crash before that leaves nothing behind,
 * and naming it is the one change to the directory. */
static int file_create(const char *path)
{
    char dir[4200];
    return open_in_dir(path, dir, sizeof dir, O_TMPFILE | O_WRONLY | O_CLOEXEC);
}

/* file_name - link the unnamed file FD as PATH (replacing a file left
 * there by a quarantine that never committed). */
static int file_name(int fd, const char *path)
{
    char self[64];
    snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
    if (linkat(AT_FDCWD, self, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0)
        return 0;
    if (errno != EEXIST || unlink(path) < 0)
        return -1;
    return linkat(AT_FDCWD, self, AT_FDCWD, path, AT_SYMLINK_FOLLOW);
}

/* make_top_dir - create DIR, marked as a top of directory hierarchy (best
 * effort: filesystems without the flag just ignore the hint). */
static int make_top_dir(const char *dir)
{
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return -1;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int flags;
    if (fd >= 0 && ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 && !(flags & FS_TOPDIR_FL)) {
        flags |= FS_TOPDIR_FL;
        (void)ioctl(fd, FS_IOC_SETFLAGS, &flags);
    }
    if (fd >= 0)
        close(fd);
    return 0;
}

/* write_one - the body of QID into ID.eml (written unnamed, then named, so
 * a crash never leaves a half file under the final name).  1 written, 0 no
 * body (already quarantined or gone), -1 error. */
static int write_one(store_db *db, const char *state_dir, const char *qid, char *err, size_t errlen)
{
    sqlite3_blob *blob;
    if (store_body_open(db, qid, &blob) < 0)
        return 0;
    char final[4200], buf[65536];
    file_path(final, sizeof final, state_dir, qid, ".eml");
    int fd = file_create(final);
    int size = sqlite3_blob_bytes(blob), rc = fd < 0 ? -1 : 0;
    for (int off = 0; rc == 0 && off < size;) {
        int k = size - off < (int)sizeof buf ? size - off : (int)sizeof buf;
        rc =
            sqlite3_blob_read(blob, buf, k, off) == SQLITE_OK ? write_full(fd, buf, (size_t)k) : -1;
        off += k;
    }
    sqlite3_blob_close(blob);
    if (rc == 0)
        rc = file_name(fd, final);
    if (rc < 0)
        snprintf(err, errlen, "%.400s: cannot write: %s", final, strerror(errno));
    if (fd >= 0)
        close(fd);
    return rc < 0 ? -1 : 1;
}

/* One writer of a batch: most of a quarantine's time is the kernel
 * creating files, so the batch is split between this thread and one more. */
struct writer {
    store_db *db;
    const char *state_dir;
    char (*ids)[17];
    size_t n;
    int rc;
    char err[512];
};

static void *write_range(void *arg)
{
    struct writer *w = arg;
    for (size_t i = 0; i < w->n && w->rc == 0; i++)
        if (write_one(w->db, w->state_dir, w->ids[i], w->err, sizeof w->err) < 0)
            w->rc = -1;
    return NULL;
}

/* write_all - the files of the batch, the second half on a helper thread
 * with a connection of its own (SQLite connections are not shared). */
static int write_all(store_db *db, const char *state_dir, char (*ids)[17], size_t n, char *err,
                     size_t errlen)
{
    char why[256];
    size_t half = n / 2;
    struct writer a = {.db = db, .state_dir = state_dir, .ids = ids, .n = n - half};
    struct writer b = {.state_dir = state_dir, .ids = ids + (n - half), .n = half};
    pthread_t t;
    bool threaded = half > 0 &&
                    (b.db = store_open(sqlite3_db_filename(db, "main"), why, sizeof why)) != NULL &&
                    pthread_create(&t, NULL, write_range, &b) == 0;
    if (!threaded)
        a.n = n; /* all on this thread */
    write_range(&a);
    if (threaded)
        pthread_join(t, NULL);
    store_close(b.db);
    struct writer *failed = a.rc < 0 ? &a : threaded && b.rc < 0 ? &b : NULL;
    if (failed)
        snprintf(err, errlen, "%s", failed->err);
    return failed ? -1 : 0;
}

int quarantine_write_files(store_db *db, const char *state_dir, char (*ids)[17], size_t n, char *err,
                           size_t errlen)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/" QDIR, state_dir);
    if (make_top_dir(dir) < 0) {
        snprintf(err, errlen, "%s: cannot create: %s", dir, strerror(errno));
        return -1;
    }
    return write_all(db, state_dir, ids, n, err, errlen);
}

static void *flush_run(void *arg)
{
    struct quarantine_flush *fl = arg;
    int fd = open(fl->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    fl->rc = fd < 0 ? -1 : syncfs(fd);
    fl->error = fl->rc < 0 ? errno : 0;
    if (fd >= 0)
        close(fd);
    return NULL;
}

/* One flush for a whole batch: fsync per file would cap us near the
 * disk's few thousand syncs a second. */
void quarantine_flush_start(struct quarantine_flush *fl, const char *state_dir)
{
    snprintf(fl->dir, sizeof fl->dir, "%s/" QDIR, state_dir);
    fl->started = pthread_create(&fl->thread, NULL, flush_run, fl) == 0;
    if (!fl->started)
        flush_run(fl); /* no thread to spare: flush here */
}

int quarantine_flush_wait(struct quarantine_flush *fl, char *err, size_t errlen)
{
    if (fl->started)
        pthread_join(fl->thread, NULL);
    fl->started = false;
    if (fl->rc < 0)
        snprintf(err, errlen, "%s: cannot flush to disk: %s", fl->dir, strerror(fl->error));
    return fl->rc;
}

int quarantine_commit(store_db *db, const char *state_dir, const char *qid, const char *admin,
                      const char *reason)
{
    char path[4200];
    file_path(path, sizeof path, state_dir, qid, ".eml");
    if (access(path, R_OK) != 0)
        return 0; /* no file, so the body must stay where it is */
    int n = store_run(db,
                      "UPDATE recipients SET state = 'quarantined', updated = ?2 WHERE"
                      " message = ?1 AND state IN ('queued','deferred','held')",
                      qid, NULL, NULL);
    if (n <= 0)
        return n;
    if (store_run(db,
                  "INSERT OR REPLACE INTO quarantine(message, reason, quarantined_at,"
                  " quarantined_by) VALUES(?1, ?4, ?2, ?3)",
                  qid, admin, reason) < 0 ||
        store_run(db, "DELETE FROM bodies WHERE message = ?1", qid, NULL, NULL) < 0)
        return -1;
    return n;
}

/* insert_body - the .eml back into the bodies table, by incremental blob I/O. */
static int insert_body(store_db *db, const char *path, const char *qid)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat stt;
    if (fd < 0 || fstat(fd, &stt) < 0 || stt.st_size > 1024L * 1024 * 1024) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    sqlite3_stmt *st =
        store_prepare(db, "INSERT INTO bodies(message, data) VALUES(?, zeroblob(?))");
    int rc = st ? 0 : -1;
    if (st) {
        sqlite3_bind_text(st, 1, qid, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, stt.st_size);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
        sqlite3_finalize(st);
    }
    sqlite3_blob *blob = NULL;
    if (rc == 0 && sqlite3_blob_open(db, "main", "bodies", "data", sqlite3_last_insert_rowid(db), 1,
                                     &blob) != SQLITE_OK)
        rc = -1;
    char buf[65536];
    for (off_t off = 0; rc == 0 && off < stt.st_size;) {
        ssize_t k = pread(fd, buf, sizeof buf, off);
        if (k <= 0 || sqlite3_blob_write(blob, buf, (int)k, (int)off) != SQLITE_OK)
            rc = -1;
        off += k > 0 ? k : 0;
    }
    if (blob && sqlite3_blob_close(blob) != SQLITE_OK)
        rc = -1;
    close(fd);
    return rc;
}

int quarantine_restore(store_db *db, const char *state_dir, const char *qid, const char *admin)
{
    char path[4200];
    file_path(path, sizeof path, state_dir, qid, ".eml");
    if (access(path, R_OK) != 0) {
        log_warnx("event=quarantine_error qid=%s error=%s", qid, log_quote("file missing"));
        return 0;
    }
    if (insert_body(db, path, qid) < 0)
        return -1;
    int n = store_run(db,
                      "UPDATE recipients SET state = 'queued', next_try = ?2, updated = ?2"
                      " WHERE message = ?1 AND state = 'quarantined'",
                      qid, NULL, NULL);
    if (n < 0 || store_run(db,
                           "UPDATE quarantine SET released_at = ?2, released_by = ?3"
                           " WHERE message = ?1",
                           qid, admin, NULL) < 0)
        return -1;
    return n;
}

void quarantine_file_remove(const char *state_dir, const char *qid)
{
    char path[4200];
    file_path(path, sizeof path, state_dir, qid, ".eml");
    unlink(path);
}

FILE *quarantine_file_open(const char *state_dir, const char *qid)
{
    char path[4200];
    file_path(path, sizeof path, state_dir, qid, ".eml");
    return fopen(path, "rb");
}

int quarantine_export(const char *state_dir, const char *qid, FILE *out)
{
    char buf[65536];
    FILE *in = quarantine_file_open(state_dir, qid);
    if (in == NULL)
        return -1;
    size_t k;
    int rc = 0;
    while ((k = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, k, out) != k)
            rc = -1;
    fclose(in);
    return rc;
}

char (*quarantine_expired(store_db *db, time_t before, size_t *n))[17]
{
    sqlite3_stmt *st = store_prepare(db, "SELECT message FROM quarantine WHERE released_at IS NULL"
                                         " AND quarantined_at < ?");
    char(*ids)[17] = NULL;
    size_t cap = 0;
    *n = 0;
    if (st == NULL)
        return NULL;
    sqlite3_bind_int64(st, 1, before);
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 256;
            void *p = realloc(ids, cap * sizeof *ids);
            if (p == NULL)
                break;
            ids = p;
        }
        snprintf(ids[(*n)++], sizeof ids[0], "%s", (const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    return ids;
}

/* is_qid_file - is NAME "<16 hex digits>.eml"?  Its id into QID. */
static bool is_qid_file(const char *name, char qid[17])
{
    if (strlen(name) != 20 || strcmp(name + 16, ".eml") != 0)
        return false;
    for (int i = 0; i < 16; i++)
        if (!strchr("0123456789ABCDEF", name[i]))
            return false;
    memcpy(qid, name, 16);
    qid[16] = '\0';
    return true;
}

/* each_in_subdir - FN for each quarantine file in the subdirectory DIR. */
static int each_in_subdir(const char *dir, quarantine_file_fn fn, void *arg)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    struct dirent *e;
    char qid[17], path[4400];
    int rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL)
        if (is_qid_file(e->d_name, qid) &&
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < (int)sizeof path)
            rc = fn(qid, path, arg);
    closedir(d);
    return rc;
}

int quarantine_files_each(const char *state_dir, quarantine_file_fn fn, void *arg)
{
    char top[4200], sub[4300];
    snprintf(top, sizeof top, "%s/" QDIR, state_dir);
    DIR *d = opendir(top);
    if (d == NULL)
        return errno == ENOENT ? 0 : -1;
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (strlen(e->d_name) != 2 || e->d_name[0] == '.' ||
            snprintf(sub, sizeof sub, "%s/%s", top, e->d_name) >= (int)sizeof sub)
            continue;
        rc = each_in_subdir(sub, fn, arg);
    }
    closedir(d);
    return rc;
}

bool quarantine_file_exists(const char *state_dir, const char *qid)
{
    char path[4200];
    file_path(path, sizeof path, state_dir, qid, ".eml");
    return access(path, F_OK) == 0;
}

int quarantine_file_set_aside(const char *state_dir, const char *qid, char *to, size_t tolen)
{
    char from[4200], dir[4200];
    file_path(from, sizeof from, state_dir, qid, ".eml");
    snprintf(dir, sizeof dir, "%s/" QUARANTINE_ASIDE, state_dir);
    snprintf(to, tolen, "%s/%s.eml", dir, qid);
    char parent[4200];
    snprintf(parent, sizeof parent, "%s/lost+found", state_dir);
    if ((mkdir(parent, 0700) < 0 && errno != EEXIST) || (mkdir(dir, 0700) < 0 && errno != EEXIST))
        return -1;
    /* never over an earlier one: a second orphan of the same id keeps both */
    if (access(to, F_OK) == 0)
        snprintf(to, tolen, "%s/%s.%ld.eml", dir, qid, (long)time(NULL));
    return rename(from, to);
}
