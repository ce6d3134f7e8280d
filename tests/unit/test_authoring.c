/* test_authoring.c - unit tests for authoring.c: the per-fact warnings of
 * `adapter test` (invalid ids, unit suspicion at its exact bounds, future
 * dates and periods, birth-date conflicts), the table's field formatting and
 * masking, display widths of CJK text, and `adapter new` writing a skeleton
 * once and refusing to overwrite it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "app/authoring.h"
#include "model/fact.h"
#include "model/ident.h"

#define TODAY 20240615

/* Collected warnings of one call. */
typedef struct warns {
    char msg[8][512];
    int n;
} warns;

static void collect(void *ud, const char *msg) {
    warns *w = ud;
    if (w->n < 8) snprintf(w->msg[w->n], sizeof w->msg[0], "%s", msg);
    w->n++;
}

static void set(fact *f, fact_field ff, const char *text) {
    char err[256];
    int rc = fact_set_text(f, ff, text, err, sizeof err);
    if (rc) fail_msg("fact_set_text(%s, %s): %s", fact_field_name(ff), text, err);
}

/* A valid payment (id 110105194103051232) for 2024-03 with `amount` fen. */
static void payment(fact *f, int64_t amount) {
    char err[256];
    fact_init(f, FK_PAYMENT);
    set(f, FF_ID_NO, "110105194103051232");
    set(f, FF_PROGRAM, "pension");
    set(f, FF_PERIOD, "202403");
    assert_int_equal(fact_set_int(f, FF_AMOUNT, amount, err, sizeof err), 0);
}

static int run_warnings(fact *f, warns *w) {
    memset(w, 0, sizeof *w);
    int n = authoring_fact_warnings(f, TODAY, collect, w);
    assert_int_equal(n, w->n);
    return n;
}

static void test_plain_payment_has_no_warning(void **state) {
    (void)state;
    fact f;
    warns w;
    payment(&f, 312050);
    assert_int_equal(run_warnings(&f, &w), 0);
    assert_int_equal(f.id_status, ID_OK); /* identity was filled */
    fact_clear(&f);
}

static void test_unit_suspicion_bounds(void **state) {
    (void)state;
    static const struct {
        int64_t fen;
        const char *expect; /* substring, or NULL for no warning */
    } cases[] = {
        {3, "amount 3 fen (0.03 yuan) for one month is implausibly small: is the column in yuan? map it with yuan()"},
        {0, "is the column in yuan?"},
        {AUTHORING_AMOUNT_MIN_FEN - 1, "amount 99 fen (0.99 yuan)"},
        {AUTHORING_AMOUNT_MIN_FEN, NULL},
        {AUTHORING_AMOUNT_MAX_FEN, NULL},
        {AUTHORING_AMOUNT_MAX_FEN + 1, "amount 10000001 fen (100000.01 yuan) for one month is implausibly large: is the column in fen? map it with fen()"},
        {-5000, "amount -5000 fen (-50.00 yuan) is negative"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fact f;
        warns w;
        payment(&f, cases[i].fen);
        int n = run_warnings(&f, &w);
        if (!cases[i].expect) {
            assert_int_equal(n, 0);
        } else {
            assert_int_equal(n, 1);
            if (!strstr(w.msg[0], cases[i].expect))
                fail_msg("amount %lld: got '%s', expected '%s'", (long long)cases[i].fen, w.msg[0], cases[i].expect);
        }
        fact_clear(&f);
    }
    /* income is checked the same way; an asset's value is not a monthly amount */
    fact f;
    warns w;
    char err[256];
    fact_init(&f, FK_INCOME);
    set(&f, FF_ID_NO, "110105194103051232");
    set(&f, FF_PERIOD, "202403");
    assert_int_equal(fact_set_int(&f, FF_AMOUNT, 5, err, sizeof err), 0);
    assert_int_equal(run_warnings(&f, &w), 1);
    assert_non_null(strstr(w.msg[0], "map it with yuan()"));
    fact_clear(&f);
    fact_init(&f, FK_ASSET);
    set(&f, FF_ID_NO, "110105194103051232");
    set(&f, FF_KIND, "vehicle");
    set(&f, FF_FROM, "20200101");
    assert_int_equal(fact_set_int(&f, FF_VALUE, 5, err, sizeof err), 0);
    assert_int_equal(run_warnings(&f, &w), 0);
    fact_clear(&f);
}

static void test_invalid_id_is_masked_with_reason(void **state) {
    (void)state;
    fact f;
    warns w;
    payment(&f, 312050);
    set(&f, FF_ID_NO, "110105194103051233"); /* wrong check character */
    assert_int_equal(run_warnings(&f, &w), 1);
    assert_non_null(strstr(w.msg[0], "1101**********1233"));
    assert_non_null(strstr(w.msg[0], ident_status_str(ID_BAD_CHECK)));
    assert_null(strstr(w.msg[0], "110105194103051233"));
    /* a legacy 15-digit id is valid: no warning */
    set(&f, FF_ID_NO, "110105490101123");
    assert_int_equal(run_warnings(&f, &w), 0);
    /* a missing id is not an invalid one (death facts may lack it) */
    fact_clear(&f);
    fact_init(&f, FK_DEATH);
    set(&f, FF_NAME, "张三");
    set(&f, FF_DEATH_DATE, "20240312");
    set(&f, FF_BASIS, "cremation");
    assert_int_equal(run_warnings(&f, &w), 0);
    fact_clear(&f);
}

static void test_future_dates_and_periods(void **state) {
    (void)state;
    fact f;
    warns w;
    payment(&f, 312050);
    set(&f, FF_PERIOD, "202406"); /* the current month is not the future */
    set(&f, FF_PAID_ON, "20240615");
    assert_int_equal(run_warnings(&f, &w), 0);
    set(&f, FF_PERIOD, "202407");
    set(&f, FF_PAID_ON, "20240616");
    assert_int_equal(run_warnings(&f, &w), 2);
    assert_string_equal(w.msg[0], "period 2024-07 is in the future");
    assert_string_equal(w.msg[1], "paid_on 2024-06-16 is in the future");
    fact_clear(&f);
    /* an end date may be planned: custody `to` in the future is fine, `from` is not */
    fact_init(&f, FK_CUSTODY);
    set(&f, FF_ID_NO, "110105194103051232");
    set(&f, FF_FROM, "20230101");
    set(&f, FF_TO, "20300101");
    assert_int_equal(run_warnings(&f, &w), 0);
    set(&f, FF_FROM, "20250101");
    assert_int_equal(run_warnings(&f, &w), 1);
    assert_string_equal(w.msg[0], "from 2025-01-01 is in the future");
    fact_clear(&f);
}

static void test_birth_date_against_id(void **state) {
    (void)state;
    fact f;
    warns w;
    fact_init(&f, FK_PERSON);
    set(&f, FF_ID_NO, "110105194103051232");
    set(&f, FF_NAME, "张建国");
    set(&f, FF_BIRTH_DATE, "1941-03-05");
    assert_int_equal(run_warnings(&f, &w), 0);
    set(&f, FF_BIRTH_DATE, "1941-03-06");
    assert_int_equal(run_warnings(&f, &w), 1);
    assert_string_equal(w.msg[0], "birth_date 1941-03-06 disagrees with the birth date in the id number");
    /* with an invalid id there is nothing to compare: only the id warning */
    set(&f, FF_ID_NO, "11010519410305123");
    assert_int_equal(run_warnings(&f, &w), 1);
    assert_non_null(strstr(w.msg[0], "is not a valid id number"));
    fact_clear(&f);
}

static void test_format_fields(void **state) {
    (void)state;
    fact f;
    char out[128], err[256];
    fact_init(&f, FK_PAYMENT);
    set(&f, FF_ID_NO, "110105490101123");
    set(&f, FF_NAME, "阿依古丽·买买提");
    set(&f, FF_PERIOD, "2024年3月");
    set(&f, FF_PAID_ON, "2024/3/9");
    assert_int_equal(fact_set_int(&f, FF_AMOUNT, -5, err, sizeof err), 0);
    /* before identity is filled the raw form is masked; after, the normalized one */
    authoring_format_field(&f, FF_ID_NO, out, sizeof out);
    assert_null(strstr(out, "110105490101123"));
    fact_normalize_identity(&f, NULL, TODAY);
    authoring_format_field(&f, FF_ID_NO, out, sizeof out);
    assert_string_equal(out, "1101**********1235");
    authoring_format_field(&f, FF_NAME, out, sizeof out);
    assert_string_equal(out, "阿*******");
    authoring_format_field(&f, FF_PERIOD, out, sizeof out);
    assert_string_equal(out, "2024-03");
    authoring_format_field(&f, FF_PAID_ON, out, sizeof out);
    assert_string_equal(out, "2024-03-09");
    authoring_format_field(&f, FF_AMOUNT, out, sizeof out);
    assert_string_equal(out, "-0.05");
    assert_int_equal(fact_set_int(&f, FF_AMOUNT, 123456789012, err, sizeof err), 0);
    authoring_format_field(&f, FF_AMOUNT, out, sizeof out);
    assert_string_equal(out, "1234567890.12");
    authoring_format_field(&f, FF_CASE, out, sizeof out);
    assert_string_equal(out, "");
    fact_clear(&f);
    fact_init(&f, FK_DEATH);
    set(&f, FF_REVOKED, "是");
    authoring_format_field(&f, FF_REVOKED, out, sizeof out);
    assert_string_equal(out, "true");
    fact_clear(&f);
    fact_init(&f, FK_ASSISTANCE_MEMBER);
    set(&f, FF_HOUSEHOLD_SIZE, "4");
    authoring_format_field(&f, FF_HOUSEHOLD_SIZE, out, sizeof out);
    assert_string_equal(out, "4");
    fact_clear(&f);
}

static void test_display_width(void **state) {
    (void)state;
    assert_int_equal(authoring_display_width(""), 0);
    assert_int_equal(authoring_display_width("YL2024"), 6);
    assert_int_equal(authoring_display_width("张**"), 4);
    assert_int_equal(authoring_display_width("阿依古丽·买买提"), 15); /* U+00B7 is narrow */
    assert_int_equal(authoring_display_width("１２"), 4);              /* full-width digits */
}

/* Runs `adapter new` through authoring_main with stdout sent to /dev/null. */
static int adapter_new(const char *name, const char *kind, const char *dir) {
    char *argv[] = {"adapter", "new", (char *)name, "--kind", (char *)kind, "--dir", (char *)dir, NULL};
    fflush(stdout);
    int saved = dup(1);
    FILE *devnull = fopen("/dev/null", "w");
    assert_non_null(devnull);
    dup2(fileno(devnull), 1);
    int rc = authoring_main("unused.ini", 7, argv);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    fclose(devnull);
    return rc;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    static char buf[16384];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static void test_adapter_new_writes_once(void **state) {
    (void)state;
    char dir[] = "/tmp/gg-test-authoring.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char sub[128], path[160];
    snprintf(sub, sizeof sub, "%s/adapters", dir);
    snprintf(path, sizeof path, "%s/hr_x.lua", sub);
    assert_int_equal(adapter_new("hr_x", "pg", sub), 0);
    char *text = slurp(path);
    assert_non_null(text);
    assert_non_null(strstr(text, "-- hr_x.lua - gridgate adapter"));
    assert_non_null(strstr(text, "amount  = yuan \"ffje\""));
    assert_null(strstr(text, "@NAME@"));
    /* an edited file is never overwritten, whatever the kind asked */
    FILE *f = fopen(path, "a");
    assert_non_null(f);
    fputs("-- edited\n", f);
    fclose(f);
    assert_int_equal(adapter_new("hr_x", "http", sub), 1);
    text = slurp(path);
    assert_non_null(strstr(text, "-- edited\n"));
    assert_null(strstr(text, "get   ="));
    /* usage errors write nothing */
    assert_int_equal(adapter_new("hr_y", "oracle", sub), 2);
    assert_int_equal(adapter_new("Hr-Y", "pg", sub), 2);
    snprintf(path, sizeof path, "%s/hr_y.lua", sub);
    assert_int_equal(access(path, F_OK), -1);
    snprintf(path, sizeof path, "%s/Hr-Y.lua", sub);
    assert_int_equal(access(path, F_OK), -1);
    snprintf(path, sizeof path, "%s/hr_x.lua", sub);
    unlink(path);
    rmdir(sub);
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_payment_has_no_warning),
        cmocka_unit_test(test_unit_suspicion_bounds),
        cmocka_unit_test(test_invalid_id_is_masked_with_reason),
        cmocka_unit_test(test_future_dates_and_periods),
        cmocka_unit_test(test_birth_date_against_id),
        cmocka_unit_test(test_format_fields),
        cmocka_unit_test(test_display_width),
        cmocka_unit_test(test_adapter_new_writes_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
