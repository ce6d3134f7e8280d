/* test_log.c - log lines: levels, and the safety net that masks id-number
 * runs a caller let through (e.g. quoted back in a database error). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/log.h"

/* Logs one line with stderr redirected to a file; returns the line (static). */
static const char *log_line(gg_log_level lv, const char *msg) {
    static char buf[4096];
    char path[] = "/tmp/gg-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    FILE *saved = fdopen(dup(fileno(stderr)), "w");
    assert_non_null(freopen(path, "w", stderr));
    gg_log(lv, "test", "%s", msg);
    fflush(stderr);
    dup2(fileno(saved), fileno(stderr));
    fclose(saved);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    buf[0] = '\0';
    if (!fgets(buf, sizeof buf, f)) buf[0] = '\0';
    fclose(f);
    unlink(path);
    close(fd);
    return buf;
}

static void test_masks_id_runs(void **state) {
    (void)state;
    gg_log_set_level(GG_LOG_DEBUG);
    const char *l = log_line(GG_LOG_ERROR, "query failed: invalid input \"11010519491231002X\" near 610104620927690");
    assert_non_null(strstr(l, "[error] test: query failed: invalid input \"1101**********002X\" near 6101*******7690"));
    assert_null(strstr(l, "11010519491231002X"));
    /* dates and short numbers are left alone; a longer run could hold an id
     * anywhere inside it: masked too */
    l = log_line(GG_LOG_INFO, "2024-03-12 row 12345 lsh 1234567890123456789012");
    assert_non_null(strstr(l, "2024-03-12 row 12345 lsh 1234**************9012"));
    /* spaces, hyphens, full-width digits and a lower-case x inside */
    l = log_line(GG_LOG_INFO, "a 420501 19500312 1233 b 4205-0119-5003-1212-3x c ４２０５０１１９５００３１２１２３Ｘ");
    assert_non_null(strstr(l, "a 4205**********1233 b 4205**********123X c 4205**********123X"));
}

/* A message cannot forge a second line: control characters are escaped. */
static void test_escapes_control_characters(void **state) {
    (void)state;
    gg_log_set_level(GG_LOG_INFO);
    const char *l = log_line(GG_LOG_INFO, "a\n2026-01-01T00:00:00Z [error] forged\r\x1b[31m");
    assert_non_null(strstr(l, "a\\n2026-01-01T00:00:00Z [error] forged\\r\\x1b[31m\n"));
    assert_int_equal(strchr(l, '\n') - l, (long)strlen(l) - 1); /* one line */
}

static void test_levels(void **state) {
    (void)state;
    gg_log_level lv;
    assert_int_equal(gg_log_parse_level("warn", &lv), 0);
    assert_int_equal(lv, GG_LOG_WARN);
    assert_int_equal(gg_log_parse_level("loud", &lv), -1);
    gg_log_set_level(GG_LOG_WARN);
    assert_string_equal(log_line(GG_LOG_INFO, "hidden"), "");
    assert_non_null(strstr(log_line(GG_LOG_WARN, "shown"), "[warn] test: shown"));
    gg_log_set_level(GG_LOG_INFO);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_masks_id_runs),
        cmocka_unit_test(test_escapes_control_characters),
        cmocka_unit_test(test_levels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
