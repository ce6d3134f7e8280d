/* test_metrics.c - the metrics registry: Prometheus text exposition (HELP and
 * TYPE lines, _total counters), label escaping, histogram buckets, gauge
 * snapshots, misuse refused, and concurrent updates from several threads. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/log.h"
#include "core/metrics.h"

static void test_counter_and_gauge_text(void **state) {
    (void)state;
    gg_metrics *m = metrics_new();
    assert_non_null(m);
    const char *hr[] = {"source", "hr", "stream", "persons", NULL};
    const char *psb[] = {"source", "psb", "stream", "deaths", NULL};
    assert_int_equal(metrics_counter_add(m, "gg_records_pulled", "Records read from sources.", hr, 40), 0);
    assert_int_equal(metrics_counter_add(m, "gg_records_pulled", "Records read from sources.", psb, 3), 0);
    assert_int_equal(metrics_counter_add(m, "gg_records_pulled", "Records read from sources.", hr, 2), 0);
    assert_int_equal(metrics_gauge_set(m, "gg_state_bytes", "Size of the state store.", NULL, 4096), 0);
    assert_int_equal(metrics_gauge_set(m, "gg_cycle_seconds_last", "Last cycle.", NULL, 0.25), 0);
    char *t = metrics_render(m);
    assert_non_null(t);
    assert_string_equal(t,
                        "# HELP gg_records_pulled_total Records read from sources.\n"
                        "# TYPE gg_records_pulled_total counter\n"
                        "gg_records_pulled_total{source=\"hr\",stream=\"persons\"} 42\n"
                        "gg_records_pulled_total{source=\"psb\",stream=\"deaths\"} 3\n"
                        "# HELP gg_state_bytes Size of the state store.\n"
                        "# TYPE gg_state_bytes gauge\n"
                        "gg_state_bytes 4096\n"
                        "# HELP gg_cycle_seconds_last Last cycle.\n"
                        "# TYPE gg_cycle_seconds_last gauge\n"
                        "gg_cycle_seconds_last 0.25\n");
    free(t);
    metrics_free(m);
}

static void test_label_and_help_escaping(void **state) {
    (void)state;
    gg_metrics *m = metrics_new();
    const char *lb[] = {"reason", "bad \"quote\" back\\slash\nnew line 中文", NULL};
    assert_int_equal(metrics_counter_add(m, "gg_rejects", "Help with \\ and\nnewline.", lb, 1), 0);
    char *t = metrics_render(m);
    assert_non_null(t);
    assert_non_null(strstr(t, "# HELP gg_rejects_total Help with \\\\ and\\nnewline.\n"));
    assert_non_null(strstr(t, "gg_rejects_total{reason=\"bad \\\"quote\\\" back\\\\slash\\nnew line 中文\"} 1\n"));
    free(t);
    metrics_free(m);
}

static void test_histogram_buckets(void **state) {
    (void)state;
    gg_metrics *m = metrics_new();
    const double b[] = {0.1, 1, 10};
    const char *lb[] = {"source", "hr", NULL};
    double obs[] = {0.05, 0.1, 0.5, 2, 100};
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(metrics_histogram_observe(m, "gg_pull_duration_seconds", "Pull time.", b, 3, lb, obs[i]), 0);
    char *t = metrics_render(m);
    assert_non_null(t);
    /* le is inclusive (0.1 falls in le="0.1") and buckets are cumulative */
    assert_string_equal(t,
                        "# HELP gg_pull_duration_seconds Pull time.\n"
                        "# TYPE gg_pull_duration_seconds histogram\n"
                        "gg_pull_duration_seconds_bucket{source=\"hr\",le=\"0.1\"} 2\n"
                        "gg_pull_duration_seconds_bucket{source=\"hr\",le=\"1\"} 3\n"
                        "gg_pull_duration_seconds_bucket{source=\"hr\",le=\"10\"} 4\n"
                        "gg_pull_duration_seconds_bucket{source=\"hr\",le=\"+Inf\"} 5\n"
                        "gg_pull_duration_seconds_sum{source=\"hr\"} 102.65\n"
                        "gg_pull_duration_seconds_count{source=\"hr\"} 5\n");
    free(t);
    /* without labels, le is the only label */
    assert_int_equal(metrics_histogram_observe(m, "gg_cycle_duration_seconds", "Cycle.", metrics_default_seconds,
                                               metrics_default_seconds_count, NULL, 0.3),
                     0);
    t = metrics_render(m);
    assert_non_null(strstr(t, "gg_cycle_duration_seconds_bucket{le=\"0.25\"} 0\n"));
    assert_non_null(strstr(t, "gg_cycle_duration_seconds_bucket{le=\"0.5\"} 1\n"));
    assert_non_null(strstr(t, "gg_cycle_duration_seconds_bucket{le=\"+Inf\"} 1\n"));
    assert_non_null(strstr(t, "gg_cycle_duration_seconds_count 1\n"));
    free(t);
    metrics_free(m);
}

static void test_gauge_clear(void **state) {
    (void)state;
    gg_metrics *m = metrics_new();
    const char *a[] = {"status", "new", NULL}, *b[] = {"status", "pushed", NULL};
    metrics_gauge_set(m, "gg_alerts", "Alerts.", a, 3);
    metrics_gauge_set(m, "gg_alerts", "Alerts.", b, 1);
    metrics_lock(m);
    assert_int_equal(metrics_gauge_clear(m, "gg_alerts"), 0);
    metrics_gauge_set(m, "gg_alerts", "Alerts.", b, 4);
    metrics_unlock(m);
    char *t = metrics_render(m);
    assert_string_equal(t, "# HELP gg_alerts Alerts.\n# TYPE gg_alerts gauge\ngg_alerts{status=\"pushed\"} 4\n");
    free(t);
    metrics_free(m);
}

static void test_misuse_refused(void **state) {
    (void)state;
    gg_log_set_level(GG_LOG_ERROR);
    gg_metrics *m = metrics_new();
    const double b[] = {1, 2}, b2[] = {1, 3}, bad[] = {2, 1};
    const char *badlabel[] = {"1x", "v", NULL}, *le[] = {"le", "1", NULL};
    assert_int_equal(metrics_counter_add(m, "gg_x", "X.", NULL, 1), 0);
    assert_int_equal(metrics_gauge_set(m, "gg_x", "X.", NULL, 1), -1);        /* type clash */
    assert_int_equal(metrics_counter_add(m, "gg_x", "X.", NULL, -1), -1);      /* counters only go up */
    assert_int_equal(metrics_counter_add(m, "gg_y_total", "Y.", NULL, 1), -1); /* _total is added */
    assert_int_equal(metrics_counter_add(m, "9bad", "B.", NULL, 1), -1);
    assert_int_equal(metrics_counter_add(m, "gg_z", "Z.", badlabel, 1), -1);
    assert_int_equal(metrics_counter_add(m, "gg_z", "Z.", le, 1), -1);
    assert_int_equal(metrics_histogram_observe(m, "gg_h", "H.", b, 2, NULL, 1), -1); /* not _seconds */
    assert_int_equal(metrics_histogram_observe(m, "gg_h_seconds", "H.", bad, 2, NULL, 1), -1);
    assert_int_equal(metrics_histogram_observe(m, "gg_h_seconds", "H.", b, 2, NULL, 1), 0);
    assert_int_equal(metrics_histogram_observe(m, "gg_h_seconds", "H.", b2, 2, NULL, 1), -1); /* other buckets */
    char *t = metrics_render(m);
    assert_null(strstr(t, "gg_y"));
    assert_null(strstr(t, "9bad"));
    free(t);
    metrics_free(m);
    gg_log_set_level(GG_LOG_INFO);
}

typedef struct worker_arg {
    gg_metrics *m;
    const char *source;
} worker_arg;

static void *worker(void *ud) {
    worker_arg *w = ud;
    const char *lb[] = {"source", w->source, NULL};
    for (int i = 0; i < 10000; i++) {
        metrics_counter_add(w->m, "gg_n", "N.", lb, 1);
        metrics_histogram_observe(w->m, "gg_t_seconds", "T.", metrics_default_seconds, metrics_default_seconds_count,
                                  NULL, 0.001);
        if (i % 1000 == 0) free(metrics_render(w->m));
    }
    return NULL;
}

static void test_threads(void **state) {
    (void)state;
    gg_metrics *m = metrics_new();
    pthread_t th[4];
    worker_arg wa[4] = {{m, "a"}, {m, "b"}, {m, "a"}, {m, "b"}};
    for (int i = 0; i < 4; i++) assert_int_equal(pthread_create(&th[i], NULL, worker, &wa[i]), 0);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    char *t = metrics_render(m);
    assert_non_null(strstr(t, "gg_n_total{source=\"a\"} 20000\n"));
    assert_non_null(strstr(t, "gg_n_total{source=\"b\"} 20000\n"));
    assert_non_null(strstr(t, "gg_t_seconds_count 40000\n"));
    free(t);
    metrics_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_and_gauge_text), cmocka_unit_test(test_label_and_help_escaping),
        cmocka_unit_test(test_histogram_buckets),      cmocka_unit_test(test_gauge_clear),
        cmocka_unit_test(test_misuse_refused),         cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
