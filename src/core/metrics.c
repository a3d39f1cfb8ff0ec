/* core/metrics - a small registry of counters, gauges and histograms,
 * rendered in the Prometheus text exposition format (version 0.0.4).
 *
 * Families are few (tens) and so are their series, so both are kept in
 * arrays searched in order: one mutex, a short scan, an add.  A series is
 * identified by its rendered label set ("{listener=\"mx\"}"), which is
 * also what /metrics prints. */
#include "core/metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

#define FAMILIES_MAX 96
#define NAME_MAX_LEN 96
#define LABELS_TEXT_MAX 512

/* Latency buckets in seconds: from a fast commit to a slow one. */
static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                 0.1,   0.25,   0.5,   1,    2.5,   10};
#define N_BUCKETS (sizeof buckets / sizeof buckets[0])

struct series {
    char *labels; /* "" or "{a=\"b\",...}" */
    double value; /* counter or gauge; a histogram's sum */
    unsigned long count;
    unsigned long bucket[N_BUCKETS];
};

struct family {
    char name[NAME_MAX_LEN];
    char *help;
    enum metric_kind kind;
    struct series *series;
    size_t n, cap;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct family families[FAMILIES_MAX];
static size_t n_families;
static size_t n_series;

const char *metrics_label_escape(const char *value, char *buf, size_t len)
{
    size_t o = 0;
    for (const char *p = value; *p && o + 3 < len; p++) {
        if (*p == '\\' || *p == '"') {
            buf[o++] = '\\';
            buf[o++] = *p;
        } else if (*p == '\n') {
            buf[o++] = '\\';
            buf[o++] = 'n';
        } else {
            buf[o++] = *p;
        }
    }
    buf[o < len ? o : len - 1] = '\0';
    return buf;
}

/* find_family - NAME's family, or NULL (lock held). */
static struct family *find_family(const char *name)
{
    for (size_t i = 0; i < n_families; i++)
        if (strcmp(families[i].name, name) == 0)
            return &families[i];
    return NULL;
}

int metrics_declare(const char *name, enum metric_kind kind, const char *help)
{
    int rc = 0;
    pthread_mutex_lock(&lock);
    if (find_family(name) == NULL) {
        struct family *f = &families[n_families];
        if (n_families == FAMILIES_MAX || strlen(name) >= sizeof f->name ||
            (f->help = strdup(help)) == NULL) {
            rc = -1;
        } else {
            str_copy(f->name, name, sizeof f->name);
            f->kind = kind;
            n_families++;
        }
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

/* labels_text - the NULL-ended name, value pairs of AP as "{a=\"b\"}"
 * into BUF ("" without labels); false when they do not fit. */
static bool labels_text(va_list ap, char *buf, size_t len)
{
    size_t o = 0;
    unsigned n = 0;
    buf[0] = '\0';
    for (const char *k; (k = va_arg(ap, const char *)) != NULL;) {
        const char *v = va_arg(ap, const char *);
        char esc[LABELS_TEXT_MAX];
        metrics_label_escape(v ? v : "", esc, sizeof esc);
        int w = snprintf(buf + o, len - o, "%s%s=\"%s\"", n ? "," : "{", k, esc);
        if (w < 0 || (size_t)w >= len - o || ++n > METRICS_LABELS_MAX)
            return false;
        o += (size_t)w;
    }
    if (n == 0)
        return true;
    if (o + 2 > len)
        return false;
    buf[o++] = '}';
    buf[o] = '\0';
    return true;
}

/* find_series - the series of F with LABELS, made when new (lock held);
 * NULL past the bound or out of memory. */
static struct series *find_series(struct family *f, const char *labels)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->series[i].labels, labels) == 0)
            return &f->series[i];
    if (n_series >= METRICS_SERIES_MAX)
        return NULL;
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 4;
        struct series *s = realloc(f->series, cap * sizeof *s);
        if (s == NULL)
            return NULL;
        f->series = s;
        f->cap = cap;
    }
    struct series *s = &f->series[f->n];
    memset(s, 0, sizeof *s);
    if ((s->labels = strdup(labels)) == NULL)
        return NULL;
    f->n++;
    n_series++;
    return s;
}

enum op { OP_ADD, OP_SET, OP_OBSERVE };

/* update - apply OP with V to NAME's series of the labels in AP. */
static void update(const char *name, enum op op, double v, va_list ap)
{
    char labels[LABELS_TEXT_MAX];
    if (!labels_text(ap, labels, sizeof labels))
        return;
    pthread_mutex_lock(&lock);
    struct family *f = find_family(name);
    struct series *s = f ? find_series(f, labels) : NULL;
    if (s && op == OP_ADD)
        s->value += v;
    else if (s && op == OP_SET)
        s->value = v;
    else if (s && op == OP_OBSERVE && f->kind == METRIC_HISTOGRAM) {
        s->value += v;
        s->count++;
        for (size_t i = 0; i < N_BUCKETS; i++)
            if (v <= buckets[i])
                s->bucket[i]++;
    }
    pthread_mutex_unlock(&lock);
}

void metrics_add(const char *name, double v, ...)
{
    va_list ap;
    va_start(ap, v);
    update(name, OP_ADD, v, ap);
    va_end(ap);
}

void metrics_set(const char *name, double v, ...)
{
    va_list ap;
    va_start(ap, v);
    update(name, OP_SET, v, ap);
    va_end(ap);
}

void metrics_observe(const char *name, double v, ...)
{
    va_list ap;
    va_start(ap, v);
    update(name, OP_OBSERVE, v, ap);
    va_end(ap);
}

double metrics_sum(const char *name, const char *label, const char *value)
{
    char want[LABELS_TEXT_MAX + 64], esc[LABELS_TEXT_MAX];
    double sum = 0;
    if (label)
        snprintf(want, sizeof want, "%s=\"%s\"", label,
                 metrics_label_escape(value, esc, sizeof esc));
    pthread_mutex_lock(&lock);
    const struct family *f = find_family(name);
    for (size_t i = 0; f && i < f->n; i++) {
        /* a whole pair: preceded by "{" or ",", followed by "," or "}" */
        const char *l = f->series[i].labels, *at = label ? strstr(l, want) : l;
        while (label && at && !((at[-1] == '{' || at[-1] == ',') &&
                                (at[strlen(want)] == ',' || at[strlen(want)] == '}')))
            at = strstr(at + 1, want);
        if (at)
            sum += f->series[i].value;
    }
    pthread_mutex_unlock(&lock);
    return sum;
}

/* with_label - LABELS ("" or "{...}") with le="BOUND" added, into BUF. */
static const char *with_le(const char *labels, const char *bound, char *buf, size_t len)
{
    if (labels[0] == '\0')
        snprintf(buf, len, "{le=\"%s\"}", bound);
    else
        snprintf(buf, len, "%.*s,le=\"%s\"}", (int)strlen(labels) - 1, labels, bound);
    return buf;
}

/* render_family - F's HELP, TYPE and samples into OUT. */
static void render_family(FILE *out, const struct family *f)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name, types[f->kind]);
    for (size_t i = 0; i < f->n; i++) {
        const struct series *s = &f->series[i];
        if (f->kind != METRIC_HISTOGRAM) {
            fprintf(out, "%s%s %.17g\n", f->name, s->labels, s->value);
            continue;
        }
        char lb[LABELS_TEXT_MAX + 32], bound[32];
        for (size_t b = 0; b < N_BUCKETS; b++) {
            snprintf(bound, sizeof bound, "%g", buckets[b]);
            fprintf(out, "%s_bucket%s %lu\n", f->name, with_le(s->labels, bound, lb, sizeof lb),
                    s->bucket[b]);
        }
        fprintf(out, "%s_bucket%s %lu\n", f->name, with_le(s->labels, "+Inf", lb, sizeof lb),
                s->count);
        fprintf(out, "%s_sum%s %.17g\n%s_count%s %lu\n", f->name, s->labels, s->value, f->name,
                s->labels, s->count);
    }
}

char *metrics_render(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (out == NULL)
        return NULL;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < n_families; i++)
        render_family(out, &families[i]);
    pthread_mutex_unlock(&lock);
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

void metrics_reset(void)
{
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < n_families; i++) {
        for (size_t j = 0; j < families[i].n; j++)
            free(families[i].series[j].labels);
        free(families[i].series);
        free(families[i].help);
        memset(&families[i], 0, sizeof families[i]);
    }
    n_families = 0;
    n_series = 0;
    pthread_mutex_unlock(&lock);
}
