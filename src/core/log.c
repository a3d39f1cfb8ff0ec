/* core/log - key=value event lines with a timestamp, to a file or stderr. */
#include "core/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static FILE *log_fp;
static const char *log_ident = "floodgate";
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

int log_open(const char *ident, const char *path)
{
    log_ident = ident;
    if (path == NULL || strcmp(path, "-") == 0) {
        log_fp = stderr;
        return 0;
    }
    FILE *fp = fopen(path, "a");
    if (fp == NULL)
        return -1;
    if (log_fp && log_fp != stderr)
        fclose(log_fp);
    log_fp = fp;
    return 0;
}

void log_close(void)
{
    if (log_fp && log_fp != stderr)
        fclose(log_fp);
    log_fp = NULL;
}

/* log_write - format the whole line first and write it with one write(2):
 * lines from the daemon's threads and from floodctl, appending to the same
 * file, never interleave. */
static void log_write(const char *level, const char *fmt, va_list ap)
{
    char line[4096], stamp[32];
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
    FILE *fp = log_fp ? log_fp : stderr;
    pthread_mutex_lock(&log_lock);
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

static int needs_quotes(const char *s)
{
    if (*s == '\0')
        return 1;
    for (; *s; s++)
        if (*s == ' ' || *s == '"' || *s == '\\' || *s == '=' || (unsigned char)*s < 0x20 ||
            *s == 0x7f)
            return 1;
    return 0;
}

const char *log_quote(const char *s)
{
    static __thread char bufs[8][256];
    static __thread unsigned next;
    if (s == NULL)
        return "-";
    if (!needs_quotes(s) && strlen(s) < sizeof bufs[0])
        return s;
    char *out = bufs[next++ % 8];
    size_t o = 0, cap = sizeof bufs[0];
    out[o++] = '"';
    for (; *s && o < cap - 6; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    if (*s)
        o += (size_t)snprintf(out + o, cap - o, "...");
    out[o++] = '"';
    out[o] = '\0';
    return out;
}
