/* core/util - small helpers. */
#include "core/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

bool str_copy(char *dst, const char *src, size_t len)
{
    size_t n = strlen(src);
    if (len == 0)
        return false;
    if (n >= len) {
        memcpy(dst, src, len - 1);
        dst[len - 1] = '\0';
        return false;
    }
    memcpy(dst, src, n + 1);
    return true;
}

char *str_lower(char *s)
{
    for (char *p = s; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return s;
}

/* qid_upper - queue ids are 16 upper-case hex digits (queue_id_new), and
 * an admin's arguments (floodctl, a URL) may arrive lowercased. */
char *qid_upper(char *s)
{
    for (char *p = s; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    return s;
}

int parse_u64(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0 || len > 20)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int write_full(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (p == NULL) {
        fputs("out of memory\n", stderr);
        abort();
    }
    return p;
}

uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void queue_id_new(char out[17])
{
    /* 36 bits of seconds keep ids in arrival order; a 28-bit counter with a
     * random start keeps them unique within a second and across restarts. */
    static _Atomic uint32_t counter;
    static _Atomic int seeded;
    if (!seeded) {
        counter = randombytes_uniform(1u << 27);
        seeded = 1;
    }
    uint64_t t = (uint64_t)time(NULL) & 0xfffffffffULL;
    uint32_t c = counter++ & 0xfffffffu;
    snprintf(out, 17, "%09llX%07X", (unsigned long long)t, c);
}

char *iso8601_utc(time_t t, char *buf, size_t len)
{
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, len, "%lld", (long long)t);
    return buf;
}

char *rfc5322_date(time_t t, char *buf, size_t len)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    return buf;
}

void thread_name(pthread_t t, const char *name)
{
    (void)pthread_setname_np(t, name);
}
