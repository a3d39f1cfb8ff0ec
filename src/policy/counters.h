/* policy/counters - how many events a key had over a sliding window, in
 * memory: failed logins of an IP in the last minute, messages of a user in
 * the last hour.  A key whose window has emptied is forgotten by
 * counters_sweep, and at most MAX_KEYS are kept, so a botnet of many IPs
 * costs bounded memory. */
#ifndef FLOODGATE_POLICY_COUNTERS_H
#define FLOODGATE_POLICY_COUNTERS_H

#include <stddef.h>
#include <time.h>

struct counters;

/* counters_new - a window of WINDOW seconds (>= 1). */
struct counters *counters_new(unsigned window, size_t max_keys);
void counters_free(struct counters *c);

/* counters_add - count N events of KEY at NOW; returns the total within
 * the window, these included.  When the table is full the events are not
 * kept and the total is N. */
unsigned long counters_add(struct counters *c, const char *key, unsigned n, time_t now);
/* counters_get - the total of KEY within the window ending at NOW. */
unsigned long counters_get(const struct counters *c, const char *key, time_t now);
/* counters_reset - forget KEY. */
void counters_reset(struct counters *c, const char *key);
/* counters_sweep - forget every key with nothing left in its window. */
void counters_sweep(struct counters *c, time_t now);
size_t counters_keys(const struct counters *c);

struct counter_total {
    char key[256];
    unsigned long total;
};
/* counters_top - the (at most) N keys with the highest totals at NOW,
 * highest first, into OUT; returns how many were written. */
size_t counters_top(const struct counters *c, time_t now, struct counter_total *out, size_t n);

/* Persistence, so that a restart does not hand a sender a fresh hour:
 * counters_save gives EMIT one line per key, "KEY\tSLOT:N SLOT:N\n"
 * (absolute slot numbers: a table must be loaded with the window it was
 * saved with), leaving out keys that hold a tab or a newline and counts
 * already outside the window.  EMIT returns -1 to stop. */
typedef int (*counters_emit_fn)(const char *line, size_t len, void *arg);
int counters_save(const struct counters *c, time_t now, counters_emit_fn emit, void *arg);
/* counters_load_line - one line of counters_save (LEN octets, the newline
 * optional) added back; -1 when it cannot be read (nothing is added). */
int counters_load_line(struct counters *c, const char *line, size_t len, time_t now);

/* Several tables in one text: counters_save_tagged writes each line
 * behind "TAG\t"; counters_load_tagged gives a line to the table of the
 * same tag among N (TAGS[i] names TABLES[i]).  -1 for a line of no table
 * or one that cannot be read. */
int counters_save_tagged(const struct counters *c, const char *tag, time_t now,
                         counters_emit_fn emit, void *arg);
int counters_load_tagged(struct counters *const *tables, const char *const *tags, size_t n,
                         const char *line, size_t len, time_t now);

#endif
