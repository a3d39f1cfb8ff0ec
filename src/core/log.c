/* core/log - key=value event lines, to a file or stderr with a timestamp,
 * or to syslog (facility mail) or the systemd journal, which add their own. */
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <syslog.h>
/* no CODE_FILE=log.c, CODE_LINE=... in every entry: they would always
 * name this file, not where the event happened */
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>
#include <time.h>
#include <unistd.h>

static FILE *log_fp;
static char *log_path; /* the file log_open opened, for log_reopen */
static const char *log_ident = "floodgate";
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

/* Where the lines go: log_fp (a file or stderr), a syslog socket, or the
 * journal. */
static enum { LOG_TO_FP, LOG_TO_SYSLOG, LOG_TO_JOURNAL } log_to = LOG_TO_FP;
static int log_syslog_fd = -1; /* -1 while the syslog daemon is unreachable */
static struct sockaddr_un log_syslog_addr;
static unsigned long log_syslog_lost; /* lines syslog did not take, said once it takes one */

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

/* stop_syslog_journal - lines go to log_fp again from now on (called
 * before the program's threads log: at start, by log_open*). */
static void stop_syslog_journal(void)
{
    log_to = LOG_TO_FP;
    if (log_syslog_fd >= 0)
        close(log_syslog_fd);
    log_syslog_fd = -1;
}

int log_open(const char *ident, const char *path)
{
    log_ident = ident;
    stop_syslog_journal();
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
    stop_syslog_journal();
}

/* syslog_connect - a datagram socket connected to log_syslog_addr in
 * log_syslog_fd; -1 with errno when the syslog daemon is not there. */
static int syslog_connect(void)
{
    if (log_syslog_fd >= 0)
        close(log_syslog_fd);
    log_syslog_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (log_syslog_fd < 0)
        return -1;
    if (connect(log_syslog_fd, (struct sockaddr *)&log_syslog_addr, sizeof log_syslog_addr) < 0) {
        int e = errno;
        close(log_syslog_fd);
        log_syslog_fd = -1;
        errno = e;
        return -1;
    }
    return 0;
}

int log_open_syslog(const char *ident, const char *socket_path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(socket_path) >= sizeof sa.sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);
    set_file(NULL, NULL);
    stop_syslog_journal();
    log_ident = ident;
    log_syslog_addr = sa;
    log_syslog_lost = 0;
    log_to = LOG_TO_SYSLOG;
    return syslog_connect();
}

void log_open_journal(const char *ident)
{
    set_file(NULL, NULL);
    stop_syslog_journal();
    log_ident = ident;
    log_to = LOG_TO_JOURNAL;
}

bool log_stderr_is_journal(void)
{
    /* systemd.exec(5), $JOURNAL_STREAM: "DEVICE:INODE" of the stream it
     * connected stdout/stderr to; compared with fd 2 so that a stderr the
     * service redirected elsewhere (a file, a pipe) is not taken for it. */
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(2, &st) < 0)
        return false;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

int log_open_daemon(const char *ident, const char *file, const char *syslog_socket, bool foreground,
                    const char **where)
{
    bool journal = log_stderr_is_journal();
    if (foreground && !journal) {
        *where = "stderr";
        return log_open(ident, "-");
    }
    if (file) {
        *where = strcmp(file, "-") == 0 ? "stderr" : "file";
        return log_open(ident, file);
    }
    if (journal) {
        *where = "journal";
        log_open_journal(ident);
        return 0;
    }
    *where = "syslog";
    return log_open_syslog(ident, syslog_socket);
}

/* The pid in each line, read once per process: getpid() is a system call,
 * and the loop logs several lines per message.  A forked child (the
 * daemon going to the background) reads its own. */
static atomic_int log_pid; /* 0: not read yet */
static pthread_once_t log_pid_once = PTHREAD_ONCE_INIT;

static void log_pid_forget(void)
{
    atomic_store(&log_pid, 0);
}

static void log_pid_watch_forks(void)
{
    pthread_atfork(NULL, NULL, log_pid_forget);
}

/* own_pid - this process's id, cached. */
static int own_pid(void)
{
    pthread_once(&log_pid_once, log_pid_watch_forks);
    int pid = atomic_load(&log_pid);
    if (pid == 0) {
        pid = (int)getpid();
        atomic_store(&log_pid, pid);
    }
    return pid;
}

/* stamp_of - the second SEC as a file line (UTC) or syslog (local time)
 * writes it; each thread keeps the last one (a busy thread logs many
 * lines a second). */
static const char *stamp_of(time_t sec, bool local)
{
    static _Thread_local char stamp[2][32];
    static _Thread_local time_t made[2] = {-1, -1};
    int k = local ? 1 : 0;
    if (made[k] != sec) {
        struct tm tm;
        if (local)
            localtime_r(&sec, &tm);
        else
            gmtime_r(&sec, &tm);
        strftime(stamp[k], sizeof stamp[k], local ? "%b %e %H:%M:%S" : "%Y-%m-%dT%H:%M:%S", &tm);
        made[k] = sec;
    }
    return stamp[k];
}

/* line_head - what a line starts with before LEVEL and the event, into
 * BUF: the journal keeps its own time, pid and name; syslog wants RFC
 * 3164 4.1 as syslog(3) sends it (<PRI>, local time, the tag IDENT[PID]);
 * a file or stderr gets the UTC time and the tag.  Returns snprintf's. */
static int line_head(char *buf, size_t len, int prio, const char *level)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (log_to == LOG_TO_JOURNAL)
        return snprintf(buf, len, "%s ", level);
    if (log_to == LOG_TO_SYSLOG)
        return snprintf(buf, len, "<%d>%s %s[%d]: %s ", LOG_MAIL | prio,
                        stamp_of(ts.tv_sec, true), log_ident, own_pid(), level);
    return snprintf(buf, len, "%s.%03ldZ %s[%d]: %s ", stamp_of(ts.tv_sec, false),
                    ts.tv_nsec / 1000000, log_ident, own_pid(), level);
}

/* syslog_try - LINE (LEN octets, no newline) to the syslog socket.  A
 * syslog daemon that restarted left our socket connected to nothing: one
 * new connection and one more try. */
static bool syslog_try(const char *line, size_t len)
{
    if (log_syslog_fd >= 0 && send(log_syslog_fd, line, len, MSG_NOSIGNAL) >= 0)
        return true;
    return syslog_connect() == 0 && send(log_syslog_fd, line, len, MSG_NOSIGNAL) >= 0;
}

/* syslog_send - LINE to syslog.  The lines syslog did not take are counted,
 * and the count goes first when it takes one again (event=log_lost). */
static void syslog_send(const char *line, size_t len)
{
    if (log_syslog_lost > 0) {
        char note[256];
        int h = line_head(note, sizeof note, LOG_WARNING, "warning");
        int n = h < 0 || (size_t)h >= sizeof note
                    ? -1
                    : snprintf(note + h, sizeof note - (size_t)h, "event=log_lost lines=%lu",
                               log_syslog_lost);
        if (n < 0 || (size_t)(h + n) >= sizeof note || !syslog_try(note, (size_t)(h + n))) {
            log_syslog_lost++;
            return;
        }
        log_syslog_lost = 0;
    }
    if (!syslog_try(line, len))
        log_syslog_lost++;
}

/* field_value - the value of KEY in the key=value text BODY when it is
 * written bare (log_escape left it as it is), copied into BUF; NULL when
 * the line has no such key or its value is quoted. */
static const char *field_value(const char *body, const char *key, char *buf, size_t len)
{
    size_t klen = strlen(key);
    for (const char *p = body; (p = strstr(p, key)) != NULL; p += klen) {
        if ((p != body && p[-1] != ' ') || p[klen] != '=')
            continue;
        const char *v = p + klen + 1;
        size_t n = strcspn(v, " ");
        if (n == 0 || n >= len || *v == '"')
            return NULL;
        memcpy(buf, v, n);
        buf[n] = '\0';
        return buf;
    }
    return NULL;
}

/* journal_send - BODY ("LEVEL key=value...") as one journal entry: MESSAGE
 * is the line as the file has it after "IDENT[PID]: ", and the fields an
 * admin selects by (journalctl FLOODGATE_EVENT=accepted, QUEUE_ID=...)
 * are there when the line has them, with a plain value. */
static void journal_send(int prio, const char *body)
{
    static const struct {
        const char *key, *field;
    } fields[] = {{"event", "FLOODGATE_EVENT"},
                  {"qid", "QUEUE_ID"},
                  {"ip", "FLOODGATE_IP"},
                  {"user", "FLOODGATE_USER"},
                  {"auth_user", "FLOODGATE_USER"}};
    enum { NFIELDS = sizeof fields / sizeof fields[0] };
    char msg[LOG_LINE_MAX + 16], prio_s[16], ident[64], extra[NFIELDS][LOG_VALUE_MAX + 32];
    struct iovec iov[4 + NFIELDS];
    int n = 0;
    snprintf(msg, sizeof msg, "MESSAGE=%s", body);
    snprintf(prio_s, sizeof prio_s, "PRIORITY=%d", prio);
    snprintf(ident, sizeof ident, "SYSLOG_IDENTIFIER=%s", log_ident);
    iov[n++] = (struct iovec){msg, strlen(msg)};
    iov[n++] = (struct iovec){prio_s, strlen(prio_s)};
    iov[n++] = (struct iovec){ident, strlen(ident)};
    iov[n++] = (struct iovec){"SYSLOG_FACILITY=2", sizeof "SYSLOG_FACILITY=2" - 1}; /* mail */
    bool have_user = false;
    for (size_t i = 0; i < NFIELDS; i++) {
        char val[LOG_VALUE_MAX];
        bool is_user = strcmp(fields[i].field, "FLOODGATE_USER") == 0;
        if ((is_user && have_user) || field_value(body, fields[i].key, val, sizeof val) == NULL)
            continue;
        have_user |= is_user;
        int k = snprintf(extra[i], sizeof extra[i], "%s=%s", fields[i].field, val);
        if (k > 0 && (size_t)k < sizeof extra[i])
            iov[n++] = (struct iovec){extra[i], (size_t)k};
    }
    sd_journal_sendv(iov, n);
}

/* log_write - format the whole line first and write it with one write(2):
 * lines from the daemon's threads and from floodctl, appending to the same
 * file, never interleave. */
static void log_write(int prio, const char *level, const char *fmt, va_list ap)
{
    char line[LOG_LINE_MAX];
    int n = line_head(line, sizeof line, prio, level);
    if (n < 0)
        return;
    int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    size_t len = m < 0 ? (size_t)n : (size_t)n + (size_t)m;
    if (len > sizeof line - 2)
        len = sizeof line - 2; /* an over-long line is cut, never split */
    if (log_to != LOG_TO_FP) {
        line[len] = '\0';
        pthread_mutex_lock(&log_lock);
        if (log_to == LOG_TO_JOURNAL)
            journal_send(prio, line);
        else
            syslog_send(line, len);
        pthread_mutex_unlock(&log_lock);
        return;
    }
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
    log_write(LOG_INFO, "info", fmt, ap);
    va_end(ap);
}

void log_warnx(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_write(LOG_WARNING, "warning", fmt, ap);
    va_end(ap);
}

void fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_write(LOG_CRIT, "fatal", fmt, ap);
    va_end(ap);
    /* Whoever started us should see why we stopped, not only the log (in
     * the journal's case stderr is the journal: once is enough). */
    if ((log_fp && log_fp != stderr) || log_to == LOG_TO_SYSLOG) {
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
