/* core/log - one line per event, "key=value", to a file or stderr, to
 * syslog (facility mail) or to the systemd journal.
 * Lines look like: 2026-11-25T08:30:00Z floodgated[42]: info event=accepted qid=...
 * (syslog and the journal add their own time, name and pid before "info"). */
#ifndef FLOODGATE_CORE_LOG_H
#define FLOODGATE_CORE_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* log_open - send lines to PATH (appending), or stderr when PATH is NULL or "-". */
int log_open(const char *ident, const char *path);
/* log_reopen - close the log file and open it again by its name (SIGUSR1,
 * after logrotate renamed it): the next line goes to a new file at the
 * same path.  Does nothing when logging to stderr.  On failure the lines
 * keep going to the old file, and a warning there says why. */
int log_reopen(void);

/* log_open_syslog - send lines as RFC 3164 datagrams (facility mail, tag
 * IDENT[PID]) to the syslog daemon's SOCKET_PATH (/dev/log).  -1 with errno
 * when nothing listens there (the lines are then counted as lost until a
 * syslog daemon appears: each line tries again). */
int log_open_syslog(const char *ident, const char *socket_path);
/* log_open_journal - send lines to the systemd journal (sd_journal_send),
 * with the fields FLOODGATE_EVENT, QUEUE_ID, FLOODGATE_IP, FLOODGATE_USER
 * taken from the line when it has them. */
void log_open_journal(const char *ident);
/* log_stderr_is_journal - systemd connected our stderr to the journal
 * ($JOURNAL_STREAM names fd 2). */
bool log_stderr_is_journal(void);
/* log_open_daemon - the daemon's choice (floodgated(8), Logs): in the
 * FOREGROUND with a stderr that is not the journal, stderr; else FILE when
 * set; else the journal when stderr is the journal; else syslog at
 * SYSLOG_SOCKET.  *WHERE names the choice ("stderr", "file", "journal",
 * "syslog"). */
int log_open_daemon(const char *ident, const char *file, const char *syslog_socket, bool foreground,
                    const char **where);
void log_close(void);

void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* fatal - log and exit(1): only for impossible states and start-up failures. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* The longest line written (longer ones are cut), and the longest value
 * log_quote returns, with its quotes: a line holds a dozen such values. */
#define LOG_LINE_MAX 8192
#define LOG_VALUE_MAX 512
#define LOG_QUOTE_BUFS 16

/* log_escape - THE escaping rule of every value in a log line, so that no
 * value a client sends can look like another field (docs/floodgated.8.md,
 * "Log format").  S is written into BUF (LEN octets, at least 6) as is when
 * it is printable ASCII without space, '"', '\\' or '=' (and is neither empty
 * nor "-"); else in double quotes, with '"' and '\\' preceded by '\\' and
 * every other octet outside 0x20..0x7e (control characters, DEL, and the
 * octets of UTF-8) written as \xNN.  A value too long for BUF ends in "..."
 * inside the quotes.  NULL gives "-", the mark of no value.  Returns the
 * length written. */
size_t log_escape(const char *s, char *buf, size_t len);

/* log_quote - S escaped by log_escape, in one of LOG_QUOTE_BUFS rotating
 * thread-local buffers of LOG_VALUE_MAX octets: up to that many may be used
 * in one log call.  NULL gives "-". */
const char *log_quote(const char *s);

/* log_quote_addr - ADDR as "<ADDR>" (the null path "" as "<>"), escaped
 * as a whole by log_escape: an envelope address with a quoted local part
 * such as <"a b"@c> becomes "<\"a b\"@c>".  NULL gives "-". */
const char *log_quote_addr(const char *addr);

#endif
