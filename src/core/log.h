/* core/log - one line per event, "key=value", to a file or stderr.
 * Lines look like: 2026-11-25T08:30:00Z floodgated[42]: info event=accepted qid=... */
#ifndef FLOODGATE_CORE_LOG_H
#define FLOODGATE_CORE_LOG_H

#include <stdarg.h>

/* log_open - send lines to PATH (appending), or stderr when PATH is NULL or "-". */
int log_open(const char *ident, const char *path);
/* log_reopen - close the log file and open it again by its name (SIGUSR1,
 * after logrotate renamed it): the next line goes to a new file at the
 * same path.  Does nothing when logging to stderr.  On failure the lines
 * keep going to the old file, and a warning there says why. */
int log_reopen(void);
void log_close(void);

void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* fatal - log and exit(1): only for impossible states and start-up failures. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* log_quote - S as a log value: unchanged when it has no space, quote,
 * backslash, '=' or control character, else in double quotes with escapes.
 * Returns one of a few rotating thread-local buffers (256 octets, truncated
 * with "..."), so up to 8 may be used in one log call.  NULL gives "-". */
const char *log_quote(const char *s);

#endif
