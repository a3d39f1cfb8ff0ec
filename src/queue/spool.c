/* queue/spool - bounded in-memory head plus an unlinked spill file. */
#include "queue/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void spool_init(struct spool *sp, const char *dir)
{
    memset(sp, 0, sizeof *sp);
    sp->fd = -1;
    sp->dir = dir;
}

/* spill_open - an anonymous file in the spool directory; it vanishes with
 * the descriptor, so a crash leaves nothing behind. */
static int spill_open(const char *dir)
{
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
        return fd;
    char path[4096];
    snprintf(path, sizeof path, "%s/spool.XXXXXX", dir);
    fd = mkostemp(path, O_CLOEXEC);
    if (fd >= 0)
        unlink(path);
    return fd;
}

static int mem_append(struct spool *sp, const char *p, size_t n)
{
    if (sp->mem_len + n > sp->mem_cap) {
        size_t cap = sp->mem_cap ? sp->mem_cap : 8192;
        while (cap < sp->mem_len + n)
            cap *= 2;
        if (cap > SPOOL_MEM_LIMIT)
            cap = SPOOL_MEM_LIMIT;
        char *mem = realloc(sp->mem, cap);
        if (mem == NULL)
            return -1;
        sp->mem = mem;
        sp->mem_cap = cap;
    }
    memcpy(sp->mem + sp->mem_len, p, n);
    sp->mem_len += n;
    return 0;
}

static int file_append(struct spool *sp, const char *p, size_t n)
{
    if (sp->fd < 0 && (sp->fd = spill_open(sp->dir)) < 0)
        return -1;
    while (n > 0) {
        ssize_t w = pwrite(sp->fd, p, n, (off_t)sp->file_len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
        sp->file_len += (size_t)w;
    }
    return 0;
}

int spool_append(struct spool *sp, const char *p, size_t n)
{
    if (sp->failed)
        return -1;
    size_t room = sp->file_len == 0 ? SPOOL_MEM_LIMIT - sp->mem_len : 0;
    size_t head = n < room ? n : room;
    if ((head > 0 && mem_append(sp, p, head) < 0) ||
        (n > head && file_append(sp, p + head, n - head) < 0)) {
        sp->failed = true;
        return -1;
    }
    return 0;
}

size_t spool_size(const struct spool *sp)
{
    return sp->mem_len + sp->file_len;
}

long spool_read(const struct spool *sp, size_t off, char *buf, size_t n)
{
    if (off < sp->mem_len) {
        size_t k = sp->mem_len - off < n ? sp->mem_len - off : n;
        memcpy(buf, sp->mem + off, k);
        return (long)k;
    }
    off -= sp->mem_len;
    if (off >= sp->file_len)
        return 0;
    if (n > sp->file_len - off)
        n = sp->file_len - off;
    ssize_t r;
    do
        r = pread(sp->fd, buf, n, (off_t)off);
    while (r < 0 && errno == EINTR);
    return (long)r;
}

int spool_copy(const struct spool *sp, struct spool *copy)
{
    spool_init(copy, sp->dir);
    if (sp->mem_len > 0 && (copy->mem = malloc(sp->mem_len)) == NULL)
        return -1;
    if (sp->mem_len > 0)
        memcpy(copy->mem, sp->mem, sp->mem_len);
    copy->mem_len = copy->mem_cap = sp->mem_len;
    if (sp->fd >= 0 && (copy->fd = fcntl(sp->fd, F_DUPFD_CLOEXEC, 0)) < 0) {
        spool_free(copy);
        return -1;
    }
    copy->file_len = sp->file_len;
    copy->failed = sp->failed;
    return 0;
}

void spool_reset(struct spool *sp)
{
    sp->mem_len = 0;
    sp->failed = false;
    if (sp->fd >= 0)
        close(sp->fd);
    sp->fd = -1;
    sp->file_len = 0;
}

void spool_free(struct spool *sp)
{
    spool_reset(sp);
    free(sp->mem);
    sp->mem = NULL;
    sp->mem_cap = 0;
}
