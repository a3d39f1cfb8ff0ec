/* core/metrics - the process's counters, gauges and histograms, and their
 * Prometheus text rendering (exposition format 0.0.4) for the web room's
 * /metrics.  Any thread may count: one mutex guards the registry, held
 * only for a lookup and an add, never across I/O.
 *
 * A family is declared once (metrics_declare) with its kind and help
 * text; each distinct set of label values is one series.  Names follow
 * Prometheus' advice: base units, "_total" for counters.  Series are
 * bounded (METRICS_SERIES_MAX): a label value made from client input must
 * come from a small set (a listener name, a stage, a reason), never an IP
 * or an address. */
#ifndef FLOODGATE_CORE_METRICS_H
#define FLOODGATE_CORE_METRICS_H

#include <stddef.h>

#define METRICS_SERIES_MAX 4096 /* further series are dropped (and counted) */
#define METRICS_LABELS_MAX 4    /* label pairs per series */

enum metric_kind { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

/* metrics_declare - family NAME of KIND with HELP.  Declaring it again
 * is harmless.  -1 when the registry is full or out of memory. */
int metrics_declare(const char *name, enum metric_kind kind, const char *help);

/* metrics_add - add V to the counter or gauge NAME's series with the
 * labels given as NULL-ended name, value pairs:
 *     metrics_add("floodgate_smtp_connections_total", 1, "listener", "mx", NULL);
 * An undeclared family, or a series past METRICS_SERIES_MAX, is not kept. */
void metrics_add(const char *name, double v, ...) __attribute__((sentinel));
/* metrics_set - set gauge NAME's series to V. */
void metrics_set(const char *name, double v, ...) __attribute__((sentinel));
/* metrics_observe - one observation V (seconds) of histogram NAME. */
void metrics_observe(const char *name, double v, ...) __attribute__((sentinel));

/* metrics_sum - the sum of counter or gauge NAME over its series whose
 * label LABEL is VALUE (every series when LABEL is NULL): what floodctl
 * monitor shows per second.  0 for an unknown family. */
double metrics_sum(const char *name, const char *label, const char *value);

/* metrics_render - every family as Prometheus text, appended to a new
 * string (the caller frees it); NULL when out of memory. */
char *metrics_render(void);

/* metrics_label_escape - VALUE as a Prometheus label value (backslash,
 * double quote and newline escaped) into BUF of LEN; returns BUF. */
const char *metrics_label_escape(const char *value, char *buf, size_t len);

/* metrics_reset - forget every family (tests, and the end of the process). */
void metrics_reset(void);

#endif
