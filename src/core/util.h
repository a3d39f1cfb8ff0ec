/* core/util - small helpers shared by every room: bounded string copy,
 * number parsing, lowercase, time. */
#ifndef FLOODGATE_CORE_UTIL_H
#define FLOODGATE_CORE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* strlcpy_checked - copy SRC into DST of LEN octets; false when truncated. */
bool str_copy(char *dst, const char *src, size_t len);
/* str_lower - ASCII lowercase in place; returns S. */
char *str_lower(char *s);
/* parse_u64 - a decimal number of at most 20 digits, all of S; -1 on error. */
int parse_u64(const char *s, size_t len, uint64_t *out);
/* write_full - all N octets of P to FD, through short writes and EINTR;
 * -1 with errno set. */
int write_full(int fd, const void *p, size_t n);
/* fsync_dir - fsync directory DIR, so that a file created or renamed in
 * it survives a crash; -1 with errno set. */
int fsync_dir(const char *dir);
/* xstrdup - strdup that aborts on allocation failure (start-up data only). */
char *xstrdup(const char *s);
/* now_ms - monotonic milliseconds. */
uint64_t now_ms(void);
/* queue_id_new - a fresh queue id: 16 uppercase hex chars, time-ordered. */
void queue_id_new(char out[17]);
/* qid_upper - a queue id as typed (maybe lowercased) back to its upper
 * case, in place (any ASCII string); returns S. */
char *qid_upper(char *s);
/* rfc5322_date - "Wed, 25 Nov 2026 08:30:00 +0000" for T into BUF. */
char *rfc5322_date(time_t t, char *buf, size_t len);
/* iso8601_utc - "2026-11-25T08:30:00Z" for T into BUF. */
char *iso8601_utc(time_t t, char *buf, size_t len);
/* thread_name - name thread T NAME (15 octets at most), as top -H, ps -L
 * and perf show it; a failure only costs the name. */
void thread_name(pthread_t t, const char *name);

#endif
