/* delivery/maildir - local delivery into Maildir.
 *
 * Durability: the file is fsync'd in tmp/ before it is linked into new/,
 * and new/ is fsync'd after, so a delivery reported as done survives a
 * crash; a crash before that leaves the recipient queued, to be delivered
 * again (twice at worst, never lost). */
#include "delivery/maildir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/util.h"

/* safe_part - a path component an address may produce: no '/', not
 * starting with '.', no control characters. */
static int safe_part(const char *s, size_t n)
{
    if (n == 0 || s[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '/' || (unsigned char)s[i] < 0x20)
            return 0;
    return 1;
}

int maildir_path(const char *base, const char *address, char *buf, size_t len)
{
    const char *at = strrchr(address, '@');
    if (at == NULL || !safe_part(address, (size_t)(at - address)) ||
        !safe_part(at + 1, strlen(at + 1)))
        return -1;
    int n =
        snprintf(buf, len, "%s/mail/%s/%.*s/Maildir", base, at + 1, (int)(at - address), address);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* mkdirs - mkdir -p for PATH. */
static int mkdirs(const char *path)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
        return -1;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(tmp, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

static int ensure_maildir(const char *dir)
{
    char sub[4200];
    static const char *const parts[] = {"tmp", "new", "cur"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(sub, sizeof sub, "%s/%s", dir, parts[i]);
        if (mkdirs(sub) < 0)
            return -1;
    }
    return 0;
}

static int copy_message(int fd, const char *address, const char *sender, maildir_read_fn read,
                        void *ctx, size_t *size)
{
    char head[700];
    int n =
        snprintf(head, sizeof head, "Return-Path: <%s>\r\nDelivered-To: %s\r\n", sender, address);
    if (n < 0 || (size_t)n >= sizeof head || write_full(fd, head, (size_t)n) < 0)
        return -1;
    *size = (size_t)n;
    char buf[65536];
    for (size_t off = 0;;) {
        long r = read(ctx, off, buf, sizeof buf);
        if (r < 0)
            return -1;
        if (r == 0)
            return 0;
        if (write_full(fd, buf, (size_t)r) < 0)
            return -1;
        off += (size_t)r;
        *size += (size_t)r;
    }
}

int maildir_deliver(const char *base, const char *address, const char *sender, maildir_read_fn read,
                    void *ctx, char *err, size_t errlen)
{
    static atomic_uint seq;
    char dir[4096], tmp[4400], new[4400], host[128] = "localhost";
    if (maildir_path(base, address, dir, sizeof dir) < 0) {
        snprintf(err, errlen, "address cannot name a mailbox directory");
        return -1;
    }
    if (ensure_maildir(dir) < 0) {
        snprintf(err, errlen, "%s: cannot create Maildir: %s", dir, strerror(errno));
        return -1;
    }
    gethostname(host, sizeof host - 1);
    for (char *h = host; *h; h++)
        if (*h == '/' || *h == ':')
            *h = '_';
    struct timeval tv;
    gettimeofday(&tv, NULL);
    unsigned q = seq++;
    snprintf(tmp, sizeof tmp, "%s/tmp/%ld.M%ldP%dQ%u.%s", dir, (long)tv.tv_sec, (long)tv.tv_usec,
             (int)getpid(), q, host);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));
        return -1;
    }
    size_t size = 0;
    if (copy_message(fd, address, sender, read, ctx, &size) < 0 || fsync(fd) < 0) {
        snprintf(err, errlen, "%s: write failed: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return -1;
    }
    close(fd);
    snprintf(new, sizeof new, "%s/new/%ld.M%ldP%dQ%u.%s,S=%zu", dir, (long)tv.tv_sec,
             (long)tv.tv_usec, (int)getpid(), q, host, size);
    if (rename(tmp, new) < 0) {
        snprintf(err, errlen, "%s: cannot move into new/: %s", new, strerror(errno));
        unlink(tmp);
        return -1;
    }
    snprintf(tmp, sizeof tmp, "%s/new", dir);
    if (fsync_dir(tmp) < 0) {
        snprintf(err, errlen, "%s: fsync failed: %s", tmp, strerror(errno));
        return -1;
    }
    return 0;
}

/* for_each_subdir - FN(DIR/NAME, ARG) for each directory NAME in DIR (not
 * starting with '.').  -1 when DIR cannot be read (absent: 0). */
static int for_each_subdir(const char *dir, int (*fn)(const char *, void *), void *arg)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return errno == ENOENT ? 0 : -1;
    struct dirent *e;
    char path[4096];
    int rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        struct stat st;
        if (e->d_name[0] == '.' ||
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path ||
            lstat(path, &st) < 0 || !S_ISDIR(st.st_mode))
            continue;
        rc = fn(path, arg);
    }
    closedir(d);
    return rc;
}

/* One sweep of the tmp/ directories. */
struct sweep {
    time_t before;
    maildir_swept_fn swept;
    void *arg;
    int count;
    int failed; /* errno of the last file that could not be removed */
};

/* sweep_tmp - remove the files of MAILBOX/Maildir/tmp untouched since the
 * sweep's BEFORE (the later of their access and modification times
 * counts, as the Maildir convention reads "not accessed"). */
static int sweep_tmp(const char *mailbox, void *arg)
{
    struct sweep *sw = arg;
    char tmp[4200], path[4400];
    snprintf(tmp, sizeof tmp, "%s/Maildir/tmp", mailbox);
    DIR *d = opendir(tmp);
    if (d == NULL)
        return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        if (snprintf(path, sizeof path, "%s/%s", tmp, e->d_name) >= (int)sizeof path ||
            lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        time_t last = st.st_mtime > st.st_atime ? st.st_mtime : st.st_atime;
        if (last >= sw->before)
            continue;
        if (unlink(path) < 0) {
            sw->failed = errno;
            continue;
        }
        sw->count++;
        if (sw->swept)
            sw->swept(path, sw->arg);
    }
    closedir(d);
    return 0;
}

/* sweep_domain - sweep_tmp for each mailbox of one domain directory. */
static int sweep_domain(const char *domain_dir, void *arg)
{
    return for_each_subdir(domain_dir, sweep_tmp, arg);
}

int maildir_sweep_tmp(const char *base, time_t before, maildir_swept_fn swept, void *arg)
{
    char mail[4096];
    struct sweep sw = {.before = before, .swept = swept, .arg = arg};
    if (snprintf(mail, sizeof mail, "%s/mail", base) >= (int)sizeof mail)
        return -1;
    if (for_each_subdir(mail, sweep_domain, &sw) < 0)
        return -1;
    errno = sw.failed;
    return sw.failed ? -1 : sw.count;
}
