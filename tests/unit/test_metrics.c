/* tests/unit/test_metrics - room: tests.  cmocka tests of core/metrics:
 * counters and gauges by label set, histogram buckets that are cumulative
 * with +Inf equal to the count, label values escaped by Prometheus' rule,
 * the series bound, and counting from several threads at once. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/metrics.h"

/* has_line - does TEXT contain LINE as a whole line? */
static int has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
            return 1;
    return 0;
}

static int teardown(void **state)
{
    metrics_reset();
    return 0;
}

static void test_counters_by_labels(void **state)
{
    assert_int_equal(metrics_declare("t_conn_total", METRIC_COUNTER, "Connections."), 0);
    assert_int_equal(metrics_declare("t_conn_total", METRIC_COUNTER, "again"), 0);
    metrics_add("t_conn_total", 1, "listener", "mx", NULL);
    metrics_add("t_conn_total", 2, "listener", "mx", NULL);
    metrics_add("t_conn_total", 1, "listener", "submission", NULL);
    metrics_add("t_undeclared_total", 1, NULL); /* not kept */
    char *t = metrics_render();
    assert_non_null(t);
    assert_true(has_line(t, "# HELP t_conn_total Connections."));
    assert_true(has_line(t, "# TYPE t_conn_total counter"));
    assert_true(has_line(t, "t_conn_total{listener=\"mx\"} 3"));
    assert_true(has_line(t, "t_conn_total{listener=\"submission\"} 1"));
    assert_null(strstr(t, "t_undeclared_total"));
    free(t);
}

static void test_gauge_and_two_labels(void **state)
{
    metrics_declare("t_queue", METRIC_GAUGE, "Queue.");
    metrics_set("t_queue", 7, "state", "queued", "kind", "remote", NULL);
    metrics_set("t_queue", 5, "state", "queued", "kind", "remote", NULL);
    metrics_add("t_queue", -1, "state", "queued", "kind", "remote", NULL);
    metrics_set("t_queue", 0, NULL);
    char *t = metrics_render();
    assert_true(has_line(t, "t_queue{state=\"queued\",kind=\"remote\"} 4"));
    assert_true(has_line(t, "t_queue 0"));
    free(t);
}

static void test_histogram_buckets(void **state)
{
    metrics_declare("t_latency_seconds", METRIC_HISTOGRAM, "Latency.");
    metrics_observe("t_latency_seconds", 0.0005, NULL);
    metrics_observe("t_latency_seconds", 0.02, NULL);
    metrics_observe("t_latency_seconds", 30, NULL);
    char *t = metrics_render();
    assert_true(has_line(t, "# TYPE t_latency_seconds histogram"));
    assert_true(has_line(t, "t_latency_seconds_bucket{le=\"0.001\"} 1"));
    assert_true(has_line(t, "t_latency_seconds_bucket{le=\"0.025\"} 2"));
    assert_true(has_line(t, "t_latency_seconds_bucket{le=\"10\"} 2"));
    assert_true(has_line(t, "t_latency_seconds_bucket{le=\"+Inf\"} 3"));
    assert_true(has_line(t, "t_latency_seconds_count 3"));
    assert_true(has_line(t, "t_latency_seconds_sum 30.020499999999998"));
    free(t);
}

static void test_label_escaping(void **state)
{
    char buf[64];
    assert_string_equal(metrics_label_escape("a\"b\\c\nd", buf, sizeof buf), "a\\\"b\\\\c\\nd");
    assert_string_equal(metrics_label_escape("abcdef", buf, 4), "a");
    metrics_declare("t_esc_total", METRIC_COUNTER, "Escapes.");
    metrics_add("t_esc_total", 1, "reason", "say \"hi\"\n", NULL);
    char *t = metrics_render();
    assert_true(has_line(t, "t_esc_total{reason=\"say \\\"hi\\\"\\n\"} 1"));
    free(t);
}

static void test_series_bound(void **state)
{
    metrics_declare("t_many_total", METRIC_COUNTER, "Many.");
    char v[32];
    for (int i = 0; i < METRICS_SERIES_MAX + 100; i++) {
        snprintf(v, sizeof v, "%d", i);
        metrics_add("t_many_total", 1, "n", v, NULL);
    }
    char *t = metrics_render();
    size_t lines = 0;
    for (const char *p = t; (p = strstr(p, "t_many_total{")) != NULL; p++)
        lines++;
    assert_int_equal(lines, METRICS_SERIES_MAX);
    free(t);
}

static void *count_many(void *arg)
{
    for (int i = 0; i < 100000; i++)
        metrics_add("t_threads_total", 1, "listener", "mx", NULL);
    return NULL;
}

static void test_threads(void **state)
{
    metrics_declare("t_threads_total", METRIC_COUNTER, "Threads.");
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, count_many, NULL), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    char *t = metrics_render();
    assert_true(has_line(t, "t_threads_total{listener=\"mx\"} 400000"));
    free(t);
}

/* test_sum - the sum over the series with one label value, a whole
 * label pair matched (result="deferred" is not result="deferred_x"). */
static void test_sum(void **state)
{
    metrics_declare("t_deliveries_total", METRIC_COUNTER, "Deliveries.");
    metrics_add("t_deliveries_total", 2, "result", "delivered", "mailer", "maildir", NULL);
    metrics_add("t_deliveries_total", 3, "result", "delivered", "mailer", "smtp", NULL);
    metrics_add("t_deliveries_total", 4, "result", "deferred", "mailer", "smtp", NULL);
    metrics_add("t_deliveries_total", 8, "result", "deferred_x", "mailer", "smtp", NULL);
    metrics_add("t_deliveries_total", 16, "mailer", "deferred", "result", "bounced", NULL);
    assert_true(metrics_sum("t_deliveries_total", "result", "delivered") == 5);
    assert_true(metrics_sum("t_deliveries_total", "result", "deferred") == 4);
    assert_true(metrics_sum("t_deliveries_total", "result", "bounced") == 16);
    assert_true(metrics_sum("t_deliveries_total", NULL, NULL) == 33);
    assert_true(metrics_sum("t_deliveries_total", "result", "none") == 0);
    assert_true(metrics_sum("t_unknown_total", NULL, NULL) == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_counters_by_labels, teardown),
        cmocka_unit_test_teardown(test_gauge_and_two_labels, teardown),
        cmocka_unit_test_teardown(test_histogram_buckets, teardown),
        cmocka_unit_test_teardown(test_label_escaping, teardown),
        cmocka_unit_test_teardown(test_series_bound, teardown),
        cmocka_unit_test_teardown(test_threads, teardown),
        cmocka_unit_test_teardown(test_sum, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
