/* core/log - key=value event lines with a timestamp, to a file or stderr. */
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static FILE *log_fp;
static char *log_path; /* the file log_open opened, for log_reopen */
static const char *log_ident = "floodgate";
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

/* open_file - PATH for appending, created private (0640 at most: the log
 * names users and addresses; group "adm" may read it). */
static FILE *open_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return NULL;
    FILE *fp = fdopen(fd, "a");
    if (fp == NULL)
        close(fd);
    return fp;
}

/* set_file - write to FP (and remember PATH) from now on; the lock makes
 * the switch safe against the threads logging meanwhile. */
static void set_file(FILE *fp, char *path)
{
    pthread_mutex_lock(&log_lock);
    FILE *old = log_fp;
    log_fp = fp;
    if (path != log_path) {
        free(log_path);
        log_path = path;
    }
    pthread_mutex_unlock(&log_lock);
    if (old && old != stderr && old != fp)
        fclose(old);
}

int log_open(const char *ident, const char *path)
{
    log_ident = ident;
    if (path == NULL || strcmp(path, "-") == 0) {
        set_file(stderr, NULL);
        return 0;
    }
    char *copy = strdup(path);
    FILE *fp = copy ? open_file(path) : NULL;
    if (fp == NULL) {
        free(copy);
        return -1;
    }
    set_file(fp, copy);
    return 0;
}

int log_reopen(void)
{
    if (log_path == NULL)
        return 0; /* stderr: whoever reads it rotates it */
    FILE *fp = open_file(log_path);
    if (fp == NULL) {
        log_warnx("event=log_reopen result=failed file=%s error=%s", log_quote(log_path),
                  log_quote(strerror(errno)));
        return -1;
    }
    set_file(fp, log_path);
    log_info("event=log_reopen result=ok file=%s", log_quote(log_path));
    return 0;
}

void log_close(void)
{
    set_file(NULL, NULL);
}

/* log_write - format the whole line first and write it with one write(2):
 * lines from the daemon's threads and from floodctl, appending to the same
 * file, never interleave. */
static void log_write(const char *level, const char *fmt, va_list ap)
{
    char line[LOG_LINE_MAX], stamp[32];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    int n = snprintf(line, sizeof line, "%s.%03ldZ %s[%d]: %s ", stamp, ts.tv_nsec / 1000000,
                     log_ident, (int)getpid(), level);
    if (n < 0)
        return;
    int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    size_t len = m < 0 ? (size_t)n : (size_t)n + (size_t)m;
    if (len > sizeof line - 2)
        len = sizeof line - 2; /* an over-long line is cut, never split */
    line[len++] = '\n';
    pthread_mutex_lock(&log_lock);
    FILE *fp = log_fp ? log_fp : stderr;
    fflush(fp);
    ssize_t w = write(fileno(fp), line, len);
    (void)w;
    pthread_mutex_unlock(&log_lock);
}

void log_info(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_write("info", fmt, ap);
    va_end(ap);
}

void log_warnx(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_write("warning", fmt, ap);
    va_end(ap);
}

void fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_write("fatal", fmt, ap);
    va_end(ap);
    /* Whoever started us should see why we stopped, not only the log. */
    if (log_fp && log_fp != stderr) {
        va_start(ap, fmt);
        fputs("floodgated: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
    }
    exit(1);
}

/* is_bare - S may stand as a value as it is: printable ASCII without the
 * octets that delimit fields or quoted values, not empty, and not "-" (the
 * mark of a missing value). */
static bool is_bare(const char *s)
{
    if (*s == '\0' || strcmp(s, "-") == 0)
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '=')
            return false;
    }
    return true;
}

size_t log_escape(const char *s, char *buf, size_t len)
{
    if (len < 6) { /* no room for "..." in quotes */
        if (len > 0)
            buf[0] = '\0';
        return 0;
    }
    if (s == NULL) {
        memcpy(buf, "-", 2);
        return 1;
    }
    size_t n = strlen(s);
    if (n < len && is_bare(s)) {
        memcpy(buf, s, n + 1);
        return n;
    }
    /* Quoted: every octet is one of 1, 2 or 4 output octets; stop while
     * "...", the closing quote and the NUL still fit. */
    size_t o = 0;
    buf[o++] = '"';
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[5];
        size_t k;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            k = 2;
        } else if (c < 0x20 || c >= 0x7f) {
            static const char hex[] = "0123456789abcdef";
            esc[0] = '\\';
            esc[1] = 'x';
            esc[2] = hex[c >> 4];
            esc[3] = hex[c & 0xf];
            k = 4;
        } else {
            esc[0] = (char)c;
            k = 1;
        }
        if (o + k + 5 > len)
            break;
        memcpy(buf + o, esc, k);
        o += k;
    }
    if (*s) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return o;
}

/* quote_buf - the next of the thread's rotating value buffers. */
static char *quote_buf(void)
{
    static __thread char bufs[LOG_QUOTE_BUFS][LOG_VALUE_MAX];
    static __thread unsigned next;
    return bufs[next++ % LOG_QUOTE_BUFS];
}

const char *log_quote(const char *s)
{
    if (s == NULL)
        return "-";
    char *out = quote_buf();
    log_escape(s, out, LOG_VALUE_MAX);
    return out;
}

const char *log_quote_addr(const char *addr)
{
    if (addr == NULL)
        return "-";
    /* An address is at most ADDRESS_PATH_MAX octets; a longer one is cut
     * here and marked "..." by log_escape like any long value. */
    char path[LOG_VALUE_MAX];
    if (snprintf(path, sizeof path, "<%s>", addr) < 0)
        return "-";
    char *out = quote_buf();
    log_escape(path, out, LOG_VALUE_MAX);
    return out;
}
