/* test_health.c - the daemon's health table (staleness, ready, one failure
 * counted per call, id numbers masked in stored errors) and the admin
 * endpoint's helpers (token comparison, listen addresses). The endpoint itself
 * is tested over HTTP by tests/integration/admin.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/admin.h"
#include "daemon/health.h"

static json_t *source(json_t *body, const char *name) {
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(body, "sources"), i, s) {
        if (!strcmp(json_string_value(json_object_get(s, "source")), name)) return s;
    }
    return NULL;
}

static void test_staleness(void **state) {
    (void)state;
    gg_health *h = health_new(100, 1000);
    health_source_add(h, "hr");
    health_source_add(h, "psb");
    health_source_add(h, "hr"); /* idempotent */
    json_t *b = NULL;
    assert_int_equal(health_json(h, 1050, &b), 1); /* nobody stale yet: 50 s since start */
    assert_int_equal(json_array_size(json_object_get(b, "sources")), 2);
    assert_true(json_is_null(json_object_get(b, "last_cycle")));
    assert_int_equal(health_ready(h), 0);
    json_decref(b);

    health_source_ok(h, "hr", 1090);
    health_cycle_done(h, 1, 1090, 1.5, 2, 1);
    assert_int_equal(health_ready(h), 1);
    assert_int_equal(health_json(h, 1150, &b), 0); /* psb: 150 s since start, never succeeded */
    assert_string_equal(json_string_value(json_object_get(b, "status")), "stale");
    assert_int_equal(json_integer_value(json_object_get(source(b, "hr"), "staleness_seconds")), 60);
    assert_false(json_is_true(json_object_get(source(b, "hr"), "stale")));
    assert_true(json_is_true(json_object_get(source(b, "psb"), "stale")));
    assert_true(json_is_null(json_object_get(source(b, "psb"), "last_success")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(b, "outbox"), "pending")), 2);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(b, "last_cycle"), "number")), 1);
    json_decref(b);
    health_free(h);
}

/* A cycle under way shows in /healthz with its start, how long it has run
 * and how many sources it pulls; none before the first or between cycles,
 * also after one that failed (the run loop clears it whatever cycle_run
 * returned). */
static void test_running_cycle(void **state) {
    (void)state;
    gg_health *h = health_new(100, 1000);
    health_source_add(h, "hr");
    json_t *b = NULL;
    health_json(h, 1001, &b);
    assert_true(json_is_null(json_object_get(b, "running_cycle")));
    json_decref(b);

    health_cycle_running(h, 1010, 5);
    health_json(h, 1055, &b);
    json_t *rc = json_object_get(b, "running_cycle");
    assert_true(json_is_object(rc));
    assert_string_equal(json_string_value(json_object_get(rc, "started")), "1970-01-01T00:16:50Z");
    assert_int_equal(json_integer_value(json_object_get(rc, "seconds")), 45);
    assert_int_equal(json_integer_value(json_object_get(rc, "sources")), 5);
    assert_true(json_is_null(json_object_get(b, "last_cycle"))); /* not completed yet */
    json_decref(b);

    health_cycle_running(h, 0, 0); /* it failed: no health_cycle_done */
    health_json(h, 1060, &b);
    assert_true(json_is_null(json_object_get(b, "running_cycle")));
    assert_true(json_is_null(json_object_get(b, "last_cycle")));
    json_decref(b);

    /* a completed cycle: its result replaces the running one in one step */
    health_cycle_running(h, 1100, 2);
    health_cycle_done(h, 1, 1130, 30.0, 0, 0);
    health_json(h, 1131, &b);
    assert_true(json_is_null(json_object_get(b, "running_cycle")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(b, "last_cycle"), "number")), 1);
    json_decref(b);
    health_free(h);
}

/* With the run loop's schedule: an hourly source is not stale between its
 * pulls; one that fails is stale stale_after after the pull it missed, with
 * stale_since, its failures and backoff in the report. */
static void test_staleness_follows_schedule(void **state) {
    (void)state;
    gg_health *h = health_new(100, 1000);
    health_source_ok(h, "civil", 1000);
    health_source_schedule(h, "civil", 4600, 0, 4600); /* next pull in an hour */
    json_t *b = NULL;
    assert_int_equal(health_json(h, 3000, &b), 1); /* 2000 s old, but not due yet */
    json_t *s = source(b, "civil");
    assert_false(json_is_true(json_object_get(s, "stale")));
    assert_true(json_is_null(json_object_get(s, "stale_since")));
    assert_string_equal(json_string_value(json_object_get(s, "next_pull")), "1970-01-01T01:16:40Z");
    assert_int_equal(json_integer_value(json_object_get(s, "backoff_seconds")), 0);
    json_decref(b);
    /* the 4600 pull fails: backoff, next try later; the promised refresh stays 4600 */
    health_source_error(h, "civil", 4601, "connection refused");
    health_source_schedule(h, "civil", 8230, 30, 0);
    assert_int_equal(health_json(h, 4700, &b), 1); /* 100 s late: not yet */
    json_decref(b);
    assert_int_equal(health_json(h, 4701, &b), 0);
    s = source(b, "civil");
    assert_true(json_is_true(json_object_get(s, "stale")));
    assert_string_equal(json_string_value(json_object_get(s, "stale_since")), "1970-01-01T01:18:20Z"); /* 4700 */
    assert_int_equal(json_integer_value(json_object_get(s, "consecutive_failures")), 1);
    assert_int_equal(json_integer_value(json_object_get(s, "backoff_seconds")), 30);
    assert_int_equal(json_integer_value(json_object_get(s, "staleness_seconds")), 3701);
    json_decref(b);
    /* recovered */
    health_source_ok(h, "civil", 8230);
    health_source_schedule(h, "civil", 11830, 0, 11830);
    assert_int_equal(health_json(h, 8300, &b), 1);
    s = source(b, "civil");
    assert_false(json_is_true(json_object_get(s, "stale")));
    assert_int_equal(json_integer_value(json_object_get(s, "consecutive_failures")), 0);
    json_decref(b);
    health_free(h);
}

static void test_errors_masked_and_counted(void **state) {
    (void)state;
    gg_health *h = health_new(100, 1000);
    health_source_error(h, "civil", 1010, "duplicate key 42050119800101123X and 420501198001011234 in mz_jtcy");
    health_source_error(h, "civil", 1020, "again 420501198001011234.");
    json_t *b = NULL;
    health_json(h, 1030, &b);
    json_t *s = source(b, "civil");
    assert_non_null(s);
    assert_string_equal(json_string_value(json_object_get(s, "last_error")), "again 4205**********1234.");
    assert_int_equal(json_integer_value(json_object_get(s, "consecutive_failures")), 2);
    assert_string_equal(json_string_value(json_object_get(s, "last_error_at")), "1970-01-01T00:17:00Z");
    json_decref(b);
    health_source_error(h, "civil", 1040, "x 42050119800101123X y");
    health_json(h, 1050, &b);
    assert_string_equal(json_string_value(json_object_get(source(b, "civil"), "last_error")), "x 4205**********123X y");
    json_decref(b);
    health_source_ok(h, "civil", 1060);
    health_json(h, 1070, &b);
    assert_int_equal(json_integer_value(json_object_get(source(b, "civil"), "consecutive_failures")), 0);
    json_decref(b);
    health_free(h);
}

static void test_token_equal(void **state) {
    (void)state;
    assert_int_equal(admin_token_equal("s3cret-token", "s3cret-token"), 1);
    assert_int_equal(admin_token_equal("s3cret-token", "s3cret-tokeN"), 0);
    assert_int_equal(admin_token_equal("s3cret-token", "s3cret-token2"), 0);
    assert_int_equal(admin_token_equal("s3cret-token", "s3cret"), 0);
    assert_int_equal(admin_token_equal("s3cret-token", ""), 0);
    assert_int_equal(admin_token_equal("abc", "abc\n"), 0);
}

static void test_listen_parse(void **state) {
    (void)state;
    char host[64];
    int port = 0;
    assert_int_equal(admin_parse_listen("127.0.0.1:9187", host, sizeof host, &port), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 9187);
    assert_int_equal(admin_parse_listen("9000", host, sizeof host, &port), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 9000);
    assert_int_equal(admin_parse_listen("[::1]:8080", host, sizeof host, &port), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 8080);
    assert_int_equal(admin_parse_listen("127.0.0.1:0", host, sizeof host, &port), -1);
    assert_int_equal(admin_parse_listen("127.0.0.1:65536", host, sizeof host, &port), -1);
    assert_int_equal(admin_parse_listen("127.0.0.1:", host, sizeof host, &port), -1);
    assert_int_equal(admin_parse_listen(":80", host, sizeof host, &port), -1);
    assert_int_equal(admin_parse_listen("[::1]8080", host, sizeof host, &port), -1);
    char err[256];
    assert_null(admin_new("localhost:9187", "t", NULL, NULL, err, sizeof err)); /* an address, not a name */
    assert_non_null(strstr(err, "not an IP address"));
    assert_null(admin_new("127.0.0.1:9187", "", NULL, NULL, err, sizeof err));
    assert_non_null(strstr(err, "token is required"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_staleness),
        cmocka_unit_test(test_running_cycle),
        cmocka_unit_test(test_staleness_follows_schedule),
        cmocka_unit_test(test_errors_masked_and_counted),
        cmocka_unit_test(test_token_equal),
        cmocka_unit_test(test_listen_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
