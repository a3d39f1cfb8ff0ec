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
#include "core/util.h"
#include "store/body.h"
#include "store/queue.h"
#include "store/store.h"

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
    struct store_body *body = store_body_get(db, qid);
    if (body == NULL)
        return 0;
    char final[4200], buf[65536];
    file_path(final, sizeof final, state_dir, qid, ".eml");
    int fd = file_create(final);
    size_t size = store_body_size(body);
    int rc = fd < 0 ? -1 : 0;
    for (size_t off = 0; rc == 0 && off < size;) {
        long k = store_body_read(body, off, buf, sizeof buf);
        rc = k > 0 ? write_full(fd, buf, (size_t)k) : -1;
        off += k > 0 ? (size_t)k : 0;
    }
    store_body_close(body);
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
    bool threaded = half > 0 && (b.db = store_open(store_filename(db), why, sizeof why)) != NULL &&
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

int quarantine_write_files(store_db *db, const char *state_dir, char (*ids)[17], size_t n,
                           char *err, size_t errlen)
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
    return store_quarantine_commit(db, qid, admin, reason);
}

/* A quarantine file read back into the store. */
struct eml_file {
    int fd;
    off_t size;
};

/* fill_from_file - the store's reader of the body: the file, whose end
 * must come where fstat said (a shorter file is an I/O error). */
static long fill_from_file(void *arg, size_t off, char *buf, size_t n)
{
    struct eml_file *f = arg;
    if ((off_t)off >= f->size)
        return 0;
    ssize_t k = pread(f->fd, buf, n, (off_t)off);
    return k > 0 ? (long)k : -1;
}

/* insert_body - the .eml back into the bodies table, by incremental blob I/O. */
static int insert_body(store_db *db, const char *path, const char *qid)
{
    char err[256];
    struct stat stt;
    struct eml_file f = {.fd = open(path, O_RDONLY | O_CLOEXEC)};
    if (f.fd < 0 || fstat(f.fd, &stt) < 0 || stt.st_size > 1024L * 1024 * 1024) {
        if (f.fd >= 0)
            close(f.fd);
        return -1;
    }
    f.size = stt.st_size;
    int rc = store_queue_insert_body(db, qid, (size_t)f.size, NULL, 0, fill_from_file, &f, err,
                                     sizeof err);
    close(f.fd);
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
    return store_quarantine_restore(db, qid, admin);
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
    return store_quarantine_expired(db, before, n);
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
