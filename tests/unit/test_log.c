/* test_log.c - log lines: levels, the safety net that masks id-number runs a
 * caller let through (e.g. quoted back in a database error), the JSON lines
 * format, structured fields, and the log file (0600, reopened after rename). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

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

static void test_json_lines(void **state) {
    (void)state;
    gg_log_set_level(GG_LOG_DEBUG);
    gg_log_set_format(GG_LOG_JSON);
    const char *l = log_line(GG_LOG_WARN, "quote \" back\\slash\ttab\x01 id 11010519491231002X 张三");
    json_error_t je;
    json_t *j = json_loads(l, 0, &je);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "level")), "warn");
    assert_string_equal(json_string_value(json_object_get(j, "component")), "test");
    assert_string_equal(json_string_value(json_object_get(j, "msg")),
                        "quote \" back\\slash\ttab\x01 id 1101**********002X 张三");
    const char *ts = json_string_value(json_object_get(j, "ts"));
    assert_non_null(ts);
    assert_int_equal(strlen(ts), 20);
    json_decref(j);
    gg_log_format f;
    assert_int_equal(gg_log_parse_format("json", &f), 0);
    assert_int_equal(f, GG_LOG_JSON);
    assert_int_equal(gg_log_parse_format("xml", &f), -1);
    gg_log_set_format(GG_LOG_TEXT);
    gg_log_set_level(GG_LOG_INFO);
}

/* Reads a whole small file (static buffer). */
static const char *slurp(const char *path) {
    static char buf[8192];
    FILE *f = fopen(path, "r");
    if (!f) return "";
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_fields_and_file(void **state) {
    (void)state;
    char dir[] = "/tmp/gg-logdir-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], rotated[256], err[256];
    snprintf(path, sizeof path, "%s/gridgate.log", dir);
    snprintf(rotated, sizeof rotated, "%s/gridgate.log.1", dir);
    mode_t old = umask(0);
    assert_int_equal(gg_log_set_file(path, err, sizeof err), 0);
    umask(old);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_string_equal(gg_log_file(), path);

    gg_log_set_format(GG_LOG_JSON);
    const char *kv[] = {"source", "hr", "rows", "12", "id", "11010519491231002X", NULL};
    gg_log_kv(GG_LOG_INFO, "pull", kv, "pulled %d rows", 12);
    gg_log_set_format(GG_LOG_TEXT);
    gg_log_kv(GG_LOG_INFO, "pull", kv, "text line");
    const char *t = slurp(path);
    json_error_t je;
    json_t *j = json_loadb(t, (size_t)(strchr(t, '\n') - t), 0, &je);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "source")), "hr");
    assert_string_equal(json_string_value(json_object_get(j, "rows")), "12");
    assert_string_equal(json_string_value(json_object_get(j, "id")), "1101**********002X");
    assert_string_equal(json_string_value(json_object_get(j, "msg")), "pulled 12 rows");
    json_decref(j);
    assert_non_null(strstr(t, "[info] pull: text line source=hr rows=12 id=1101**********002X\n"));

    /* logrotate renames the file; until the reopen, lines go to the renamed one */
    assert_int_equal(rename(path, rotated), 0);
    gg_info("test", "before reopen");
    assert_int_equal(gg_log_reopen(err, sizeof err), 0);
    gg_info("test", "after reopen");
    assert_non_null(strstr(slurp(rotated), "before reopen"));
    assert_null(strstr(slurp(rotated), "after reopen"));
    assert_non_null(strstr(slurp(path), "after reopen"));
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);

    /* an unwritable path is refused and logging stays where it was */
    assert_int_equal(gg_log_set_file("/nonexistent-dir/x.log", err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent-dir/x.log"));
    assert_string_equal(gg_log_file(), path);
    assert_int_equal(gg_log_set_file(NULL, err, sizeof err), 0);
    assert_null(gg_log_file());
    unlink(path);
    unlink(rotated);
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_masks_id_runs),
        cmocka_unit_test(test_escapes_control_characters),
        cmocka_unit_test(test_levels),
        cmocka_unit_test(test_json_lines),
        cmocka_unit_test(test_fields_and_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
