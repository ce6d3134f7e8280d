/* test_mask.c - the one masker (core/mask.c): single ids and names, and free
 * text with id numbers in every form a source or an adapter may write them
 * (spaces, hyphens, full-width digits and X, lower-case x, runs longer than
 * an id, two ids back to back), control characters escaped, the fixed-buffer
 * form cut safely, and subject keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/mask.h"

/* mask_text(in, flags) compared with want; frees the copy. */
static void check(const char *in, int flags, const char *want) {
    char *m = mask_text(in, flags);
    assert_non_null(m);
    if (strcmp(m, want) != 0) fail_msg("mask_text(\"%s\") = \"%s\", want \"%s\"", in, m, want);
    free(m);
}

static void test_single_values(void **state) {
    (void)state;
    char out[64];
    ident_mask("42050119500312123X", out, sizeof out);
    assert_string_equal(out, "4205**********123X");
    ident_mask("610104620927690", out, sizeof out); /* odd shape: all masked */
    assert_string_equal(out, "***************");
    ident_mask(NULL, out, sizeof out);
    assert_string_equal(out, "");
    name_mask("张三", out, sizeof out);
    assert_string_equal(out, "张*");
    name_mask("欧阳娜娜", out, sizeof out);
    assert_string_equal(out, "欧***");
    name_mask("", out, sizeof out);
    assert_string_equal(out, "");
}

static void test_plain_ids(void **state) {
    (void)state;
    check("id 420501195003121233 ok", 0, "id 4205**********1233 ok");
    check("420501195003121233", 0, "4205**********1233");
    check("x 42050119500312123X.", 0, "x 4205**********123X.");
    check("lower 42050119500312123x", 0, "lower 4205**********123X");
    check("old 610104620927690", 0, "old 6101*******7690"); /* 15 digits */
    check("\"11010519491231002X\"", 0, "\"1101**********002X\"");
}

static void test_spaced_and_hyphenated(void **state) {
    (void)state;
    check("420501 19500312 1233", 0, "4205**********1233");
    check("4205 0119 5003 1212 33", 0, "4205**********1233");
    check("420501-19500312-1233", 0, "4205**********1233");
    check("420501  19500312--1233", 0, "4205**********1233"); /* two separators */
    check("4-2-0-5-0-1-1-9-5-0-0-3-1-2-1-2-3-3", 0, "4205**********1233");
    check("420501\xe3\x80\x80" "19500312\xef\xbc\x8d" "1233", 0, "4205**********1233"); /* U+3000, U+FF0D */
}

static void test_full_width(void **state) {
    (void)state;
    check("\xef\xbc\x94\xef\xbc\x92\xef\xbc\x90\xef\xbc\x95\xef\xbc\x90\xef\xbc\x91"
          "\xef\xbc\x91\xef\xbc\x99\xef\xbc\x95\xef\xbc\x90\xef\xbc\x90\xef\xbc\x93"
          "\xef\xbc\x91\xef\xbc\x92\xef\xbc\x91\xef\xbc\x92\xef\xbc\x93\xef\xbc\xb8",
          0, "4205**********123X");
    /* full-width mixed with ASCII, and a full-width lower-case x */
    check("4205\xef\xbc\x90\xef\xbc\x91" "19500312123\xef\xbd\x98", 0, "4205**********123X");
}

static void test_longer_runs(void **state) {
    (void)state;
    /* 19 digits: an id with one more digit on either side */
    check("9420501195003121233", 0, "9420***********1233");
    check("4205011950031212339", 0, "4205***********2339");
    /* two ids back to back (36), and separated by a space */
    check("420501195003121233110105194912310020", 0, "4205****************************0020");
    check("420501195003121233 110105194912310020", 0, "4205****************************0020");
    /* inside words */
    check("ref=A420501195003121233B", 0, "ref=A4205**********1233B");
    /* not ids: short runs, dates, three separators, a leading X */
    check("2024-03-12 row 12345, 1234 5678 90 -", 0, "2024-03-12 row 12345, 1234 5678 90 -");
    check("2024-03-12 - 2024-12-31", 0, "2024-03-12 - 2024-12-31");
    check("12345678 - - 12345678", 0, "12345678 - - 12345678");
    check("XXXXXXXXXXXXXXXXXXX", 0, "XXXXXXXXXXXXXXXXXXX");
    check("", 0, "");
    assert_null(mask_text(NULL, 0));
}

static void test_escape(void **state) {
    (void)state;
    check("a\nb\r\x1b[1mc\td\x7f", MASK_ESCAPE, "a\\nb\\r\\x1b[1mc\td\\x7f");
    check("a\nb", 0, "a\nb"); /* explanations keep their lines */
    /* an id split over a forged line is still masked */
    check("4205011950\n03121233", MASK_ESCAPE, "4205**********1233");
    check("12345\n678", MASK_ESCAPE, "12345\\n678");
    check("name 张三 id 420501195003121233\n", MASK_ESCAPE, "name 张三 id 4205**********1233\\n");
}

static void test_fixed_buffer(void **state) {
    (void)state;
    char out[12];
    mask_text_buf("id 420501195003121233", 0, out, sizeof out);
    assert_string_equal(out, "id 4205****"); /* cut, never the raw middle */
    mask_text_buf(NULL, 0, out, sizeof out);
    assert_string_equal(out, "");
    char big[64];
    mask_text_buf("a\n420501 19500312 1233", MASK_ESCAPE, big, sizeof big);
    assert_string_equal(big, "a\\n4205**********1233");
}

static void test_subject(void **state) {
    (void)state;
    char *m = mask_subject("person:~张三丰|19500312");
    assert_string_equal(m, "person:~张**|19500312");
    free(m);
    m = mask_subject("person:420501195003121233");
    assert_string_equal(m, "person:4205**********1233");
    free(m);
    m = mask_subject("case:C001");
    assert_string_equal(m, "case:C001");
    free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_values),
        cmocka_unit_test(test_plain_ids),
        cmocka_unit_test(test_spaced_and_hyphenated),
        cmocka_unit_test(test_full_width),
        cmocka_unit_test(test_longer_runs),
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_fixed_buffer),
        cmocka_unit_test(test_subject),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
