/* core/log - key=value event lines with a timestamp, to a file or stderr. */
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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
