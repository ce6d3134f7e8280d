/* test_factcodec.c - unit tests for model/factcodec.c: every field type
 * round-trips (extreme integers, multi-byte text, every kind's fields), and
 * the strict decoder refuses empty, truncated, overlong, unknown, misordered,
 * mistyped, not allowed and implausible input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model/fact.h"
#include "model/factcodec.h"

static void set_text(fact *f, fact_field ff, const char *v) {
    char err[200];
    if (fact_set_text(f, ff, v, err, sizeof err) != 0) fail_msg("set %s: %s", fact_field_name(ff), err);
}

static void set_int(fact *f, fact_field ff, int64_t v) {
    char err[200];
    if (fact_set_int(f, ff, v, err, sizeof err) != 0) fail_msg("set %s: %s", fact_field_name(ff), err);
}

static void assert_fields_equal(const fact *got, const fact *want) {
    for (int i = 0; i < FF__COUNT; i++) {
        const fact_val *g = &got->f[i], *w = &want->f[i];
        int text = fact_field_is_text((fact_field)i);
        if (FACT_HAS(got, i) != FACT_HAS(want, i) || (FACT_HAS(want, i) && !text && g->i != w->i) ||
            (text && (g->s || w->s) && (!g->s || !w->s || strcmp(g->s, w->s) != 0)))
            fail_msg("field %s differs", fact_field_name((fact_field)i));
    }
}

/* Encodes f, decodes into a fresh fact of its kind, compares. */
static void round_trip(const fact *f) {
    fact_blob b = {0};
    assert_int_equal(fact_fields_encode(f, &b), 0);
    assert_true(b.len >= 1);
    fact g;
    fact_init(&g, f->kind);
    char err[256] = "";
    if (fact_fields_decode(&g, b.p, b.len, err, sizeof err) != 0) fail_msg("decode: %s", err);
    assert_fields_equal(&g, f);
    for (int i = 0; i < FF__COUNT; i++) /* an ENUM reads back as the registry's spelling */
        if (FACT_HAS(&g, i) && fact_field_type((fact_field)i) == FT_ENUM) assert_ptr_equal(g.f[i].s, f->f[i].s);
    fact_clear(&g);
    fact_blob_free(&b);
}

/* Every type: TEXT (multi-byte), ENUM, DATE, MONTH, MONEY (negative,
 * beyond 32 bits, the int64 extremes), INT, BOOL (both values). */
static void test_round_trip_every_type(void **state) {
    (void)state;
    fact f;
    fact_init(&f, FK_PERSON);
    set_text(&f, FF_ID_NO, "11010519491231002X");
    set_text(&f, FF_NAME, "张　三·𠀀");
    set_text(&f, FF_SEX, "F");
    set_text(&f, FF_BIRTH_DATE, "1949-12-31");
    set_text(&f, FF_REGION, "110105");
    round_trip(&f);
    fact_clear(&f);

    fact_init(&f, FK_DEATH);
    set_text(&f, FF_NAME, "李四");
    set_text(&f, FF_DEATH_DATE, "2024-02-29");
    set_text(&f, FF_BASIS, "cremation");
    set_int(&f, FF_REVOKED, 1);
    round_trip(&f);
    set_int(&f, FF_REVOKED, 0);
    round_trip(&f);
    fact_clear(&f);

    static const int64_t amounts[] = {0, 1, -1, 63, 64, -64, -65, 310055, -1200, 9999999999LL,
                                      INT64_MAX, INT64_MIN, INT64_MIN + 1};
    for (size_t i = 0; i < sizeof amounts / sizeof amounts[0]; i++) {
        fact_init(&f, FK_INCOME);
        set_text(&f, FF_ID_NO, "110105198001010016");
        set_text(&f, FF_PERIOD, "2024-02");
        set_int(&f, FF_AMOUNT, amounts[i]);
        set_text(&f, FF_KIND, "wage");
        round_trip(&f);
        fact_clear(&f);
    }

    fact_init(&f, FK_ASSISTANCE_MEMBER);
    set_text(&f, FF_CASE, "DB-2023-001");
    set_text(&f, FF_PROGRAM, "dibao");
    set_int(&f, FF_HOUSEHOLD_SIZE, 300);
    set_text(&f, FF_FROM, "2023-01-01");
    round_trip(&f);
    fact_clear(&f);

    /* a long text (length over one varint byte) */
    char big[5000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    fact_init(&f, FK_VERDICT);
    set_text(&f, FF_ALERT, "PAD-1");
    set_text(&f, FF_VERDICT, "confirmed");
    set_text(&f, FF_NOTE, big);
    round_trip(&f);
    fact_clear(&f);

    /* no field set: the version byte alone */
    fact_init(&f, FK_ASSET);
    fact_blob b = {0};
    assert_int_equal(fact_fields_encode(&f, &b), 0);
    assert_int_equal(b.len, 1);
    round_trip(&f);
    fact_blob_free(&b);
    fact_clear(&f);
}

/* Decodes n bytes into a fact of kind k; returns the result, err filled. */
static int decode(fact_kind k, const void *p, size_t n, char *err, size_t errsz) {
    fact f;
    fact_init(&f, k);
    err[0] = '\0';
    int rc = fact_fields_decode(&f, p, n, err, errsz);
    fact_clear(&f);
    return rc;
}

static void refused(fact_kind k, const void *p, size_t n, const char *want) {
    char err[256];
    if (decode(k, p, n, err, sizeof err) != -1) fail_msg("accepted input that should be refused (%s)", want);
    if (!strstr(err, want)) fail_msg("error '%s' does not say '%s'", err, want);
}

static void test_refuses_bad_input(void **state) {
    (void)state;
    char err[256];
    refused(FK_PERSON, "", 0, "empty");
    refused(FK_PERSON, "\x02", 1, "version");
    /* field number only, no type */
    refused(FK_PERSON, "\x01\x01", 2, "truncated");
    /* text: no length byte; length past the end; empty text */
    refused(FK_PERSON, "\x01\x01\x00", 3, "truncated");
    refused(FK_PERSON, "\x01\x01\x00\x05" "ab", 6, "past the end");
    refused(FK_PERSON, "\x01\x01\x00\x00", 4, "empty");
    /* a varint cut inside (continuation bit, then the end) */
    refused(FK_INCOME, "\x01\x0d\x03\x80", 4, "truncated");
    /* overlong: 11 bytes of varint; 10 with more than bit 63 in the last */
    refused(FK_INCOME, "\x01\x0d\x03\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x00", 14, "overlong");
    refused(FK_INCOME, "\x01\x0d\x03\x80\x80\x80\x80\x80\x80\x80\x80\x80\x02", 13, "overlong");
    /* the largest valid 10-byte varint is accepted */
    assert_int_equal(decode(FK_INCOME, "\x01\x0d\x03\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 13, err, sizeof err), 0);
    /* unknown field, wrong type, repeated, out of order, not allowed */
    refused(FK_PERSON, "\x01\xff\x00\x01x", 5, "unknown field");
    refused(FK_PERSON, "\x01\x01\x04\x02", 4, "type");
    refused(FK_PERSON, "\x01\x01\x00\x01x\x01\x00\x01y", 9, "out of order or repeated");
    refused(FK_PERSON, "\x01\x02\x06\x01" "f\x01\x00\x01y", 8, "out of order or repeated");
    refused(FK_PERSON, "\x01\x0d\x03\x02", 4, "not allowed");
    /* values the type refuses: NUL in text, bad UTF-8, enum value, date, month, bool */
    refused(FK_PERSON, "\x01\x01\x00\x03" "a\0b", 7, "NUL");
    refused(FK_PERSON, "\x01\x01\x00\x02\xc3\x28", 6, "UTF-8");
    refused(FK_PERSON, "\x01\x02\x06\x01q", 5, "not one of");
    refused(FK_PERSON, "\x01\x01\x00\x01 ", 5, "blank");
    refused(FK_DEATH, "\x01\x08\x01\x02", 4, "not a date");
    refused(FK_INCOME, "\x01\x0c\x02\x02", 4, "not a month");
    refused(FK_DEATH, "\x01\x0a\x05\x04", 4, "not a boolean");

    /* every strict prefix of a real encoding that cuts inside a field is refused */
    fact f;
    fact_init(&f, FK_PAYMENT);
    set_text(&f, FF_ID_NO, "11010519491231002X");
    set_text(&f, FF_PROGRAM, "pension");
    set_text(&f, FF_PERIOD, "2024-04");
    set_int(&f, FF_AMOUNT, 310055);
    set_text(&f, FF_NAME, "張三");
    fact_blob b = {0};
    assert_int_equal(fact_fields_encode(&f, &b), 0);
    size_t ok = 0;
    for (size_t n = 0; n < b.len; n++)
        if (decode(FK_PAYMENT, b.p, n, err, sizeof err) == 0) ok++;
    assert_int_equal(ok, 5); /* the version byte and the ends of the first four fields */
    /* and any byte after the end is refused */
    unsigned char *longer = malloc(b.len + 1);
    assert_non_null(longer);
    memcpy(longer, b.p, b.len);
    longer[b.len] = 0x00;
    assert_int_equal(decode(FK_PAYMENT, longer, b.len + 1, err, sizeof err), -1);
    free(longer);
    fact_blob_free(&b);
    fact_clear(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_every_type),
        cmocka_unit_test(test_refuses_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
