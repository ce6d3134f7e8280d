/* test_fact.c - unit tests for fact.c: the registry against docs/record-model.md's
 * "Fact kinds" table, every value conversion (accepted and rejected forms),
 * fact_set_text/fact_set_int errors, fact_check, fact_fields_json, identity
 * normalization of a fact, and fact_copy/fact_clear ownership. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/hash.h"
#include "model/fact.h"
#include "model/money.h"

/* ---- registry ------------------------------------------------------------ */

/* docs/record-model.md "Fact kinds", written out as the spec gives it: fields
 * allowed per kind, with '*' marking required ones. */
static const struct {
    fact_kind kind;
    const char *name;
    const char *fields;
} spec_kinds[] = {
    {FK_PERSON, "person", "*id_no *name sex birth_date region address grid household"},
    {FK_DEATH, "death", "id_no *name *death_date *basis birth_date region address revoked"},
    /* payment: id_no is required unless a dibao/tekun payment names its case */
    {FK_PAYMENT, "payment", "*id_no *program *period *amount case name birth_date payer paid_on"},
    {FK_ASSISTANCE_MEMBER, "assistance_member",
     "*case *program *id_no *name *from to relation region household_size birth_date"},
    {FK_INCOME, "income", "*id_no *period *amount kind payer name birth_date"},
    {FK_ASSET, "asset", "*id_no *kind *from to subkind description value name birth_date"},
    {FK_CUSTODY, "custody", "*id_no *from to kind name birth_date"},
    {FK_VERDICT, "verdict", "*alert *verdict by at note"},
};

/* 1 = allowed, 2 = required, 0 = not allowed, per the spec string. */
static int spec_mark(const char *fields, const char *field) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", fields);
    for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        int req = tok[0] == '*';
        if (strcmp(tok + req, field) == 0) return req ? 2 : 1;
    }
    return 0;
}

/* fact_clear frees and zeroes only the fields that were set: what it leaves
 * equals a fact fresh from fact_init of the same kind, field by field. */
static void test_clear_is_init(void **state) {
    (void)state;
    char err[200];
    char row_name[] = "张三";
    fact f, z;
    fact_init(&f, FK_PAYMENT);
    f.source = strdup("hr");
    f.ref = strdup("R1");
    assert_int_equal(fact_set_text(&f, FF_ID_NO, "11010519491231002X", err, sizeof err), 0);
    assert_int_equal(fact_set_text_borrowed(&f, FF_NAME, row_name, err, sizeof err), 0); /* borrowed */
    assert_int_equal(fact_set_text(&f, FF_PROGRAM, "pension", err, sizeof err), 0);    /* enum */
    assert_int_equal(fact_set_text(&f, FF_PAYER, " 人社 ", err, sizeof err), 0);        /* owned copy */
    assert_int_equal(fact_set_int(&f, FF_PERIOD, 202401, err, sizeof err), 0);
    assert_int_equal(fact_set_int(&f, FF_AMOUNT, 12345, err, sizeof err), 0);
    f.raw_json = strdup("{}");
    f.raw_hash = 7;
    fact_normalize_identity(&f, NULL, 20250101);
    assert_non_null(f.name_norm);
    fact_clear(&f);
    fact_init(&z, FK_PAYMENT);
    assert_int_equal(f.kind, z.kind);
    assert_int_equal(f.set, 0);
    assert_null(f.source);
    assert_null(f.ref);
    assert_null(f.raw_json);
    assert_null(f.name_norm);
    assert_int_equal(f.raw_hash, 0);
    assert_int_equal(f.id_status, ID_EMPTY);
    assert_memory_equal(f.id_norm, z.id_norm, sizeof f.id_norm);
    assert_memory_equal(f.id_clean, z.id_clean, sizeof f.id_clean);
    assert_int_equal(f.source_shared, 0);
    assert_int_equal(f.borrowed, 0);
    for (int i = 0; i < FF__COUNT; i++) assert_true(f.f[i].i == 0 && f.f[i].s == NULL);
    assert_string_equal(row_name, "张三"); /* the borrowed name was not freed */
    fact_clear(&f);                        /* twice: nothing left to free */
}

static void test_registry_matches_spec(void **state) {
    (void)state;
    assert_int_equal(sizeof spec_kinds / sizeof spec_kinds[0], FK__COUNT);
    for (size_t i = 0; i < FK__COUNT; i++) {
        fact_kind k = spec_kinds[i].kind;
        assert_string_equal(fact_kind_name(k), spec_kinds[i].name);
        int nallowed = 0;
        for (int f = 0; f < FF__COUNT; f++) {
            int mark = spec_mark(spec_kinds[i].fields, fact_field_name((fact_field)f));
            if (fact_field_allowed(k, (fact_field)f) != (mark > 0))
                fail_msg("kind %s field %s: allowed %d, spec %d", spec_kinds[i].name,
                         fact_field_name((fact_field)f), fact_field_allowed(k, (fact_field)f), mark);
            if (fact_field_required(k, (fact_field)f) != (mark == 2))
                fail_msg("kind %s field %s: required mismatch", spec_kinds[i].name,
                         fact_field_name((fact_field)f));
            nallowed += mark > 0;
        }
        /* every field named by the spec exists in the registry */
        char buf[256];
        snprintf(buf, sizeof buf, "%s", spec_kinds[i].fields);
        int nspec = 0;
        for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
            fact_field f;
            assert_int_equal(fact_field_parse(tok + (tok[0] == '*'), &f), 0);
            nspec++;
        }
        assert_int_equal(nallowed, nspec);
    }
    /* out-of-range kinds and fields are neither allowed nor required */
    assert_false(fact_field_allowed((fact_kind)FK__COUNT, FF_ID_NO));
    assert_false(fact_field_allowed(FK_PERSON, (fact_field)FF__COUNT));
    assert_false(fact_field_required((fact_kind)-1, FF_ID_NO));
}

static void test_names_and_parse(void **state) {
    (void)state;
    for (int k = 0; k < FK__COUNT; k++) {
        fact_kind out;
        assert_int_equal(fact_kind_parse(fact_kind_name((fact_kind)k), &out), 0);
        assert_int_equal(out, k);
    }
    for (int f = 0; f < FF__COUNT; f++) {
        fact_field out;
        assert_int_equal(fact_field_parse(fact_field_name((fact_field)f), &out), 0);
        assert_int_equal(out, f);
    }
    fact_kind k;
    fact_field f;
    assert_int_equal(fact_kind_parse("Payment", &k), -1);
    assert_int_equal(fact_kind_parse("", &k), -1);
    assert_int_equal(fact_kind_parse(NULL, &k), -1);
    assert_int_equal(fact_field_parse("deathdate", &f), -1);
    assert_int_equal(fact_field_parse(NULL, &f), -1);
    assert_string_equal(fact_field_name(FF_DEATH_DATE), "death_date");
    assert_string_equal(fact_kind_name(FK_ASSISTANCE_MEMBER), "assistance_member");
    assert_string_equal(fact_field_name(FF_HOUSEHOLD_SIZE), "household_size");
}

static void test_field_types(void **state) {
    (void)state;
    const struct {
        fact_field f;
        field_type t;
    } want[] = {
        {FF_ID_NO, FT_TEXT},      {FF_NAME, FT_TEXT},          {FF_SEX, FT_ENUM},
        {FF_BIRTH_DATE, FT_DATE}, {FF_REGION, FT_TEXT},        {FF_ADDRESS, FT_TEXT},
        {FF_GRID, FT_TEXT},       {FF_HOUSEHOLD, FT_TEXT},     {FF_DEATH_DATE, FT_DATE},
        {FF_BASIS, FT_ENUM},      {FF_REVOKED, FT_BOOL},       {FF_PROGRAM, FT_TEXT},
        {FF_PERIOD, FT_MONTH},    {FF_AMOUNT, FT_MONEY},       {FF_CASE, FT_TEXT},
        {FF_PAYER, FT_TEXT},      {FF_PAID_ON, FT_DATE},       {FF_FROM, FT_DATE},
        {FF_TO, FT_DATE},         {FF_RELATION, FT_TEXT},      {FF_HOUSEHOLD_SIZE, FT_INT},
        {FF_KIND, FT_ENUM},       {FF_SUBKIND, FT_TEXT},       {FF_DESCRIPTION, FT_TEXT},
        {FF_VALUE, FT_MONEY},     {FF_ALERT, FT_TEXT},         {FF_VERDICT, FT_ENUM},
        {FF_BY, FT_TEXT},         {FF_AT, FT_TEXT},            {FF_NOTE, FT_TEXT},
    };
    assert_int_equal(sizeof want / sizeof want[0], FF__COUNT);
    for (size_t i = 0; i < FF__COUNT; i++) assert_int_equal(fact_field_type(want[i].f), want[i].t);
}

static int values_are(const char *const *vals, const char *expected) {
    char joined[256] = "";
    for (int i = 0; vals && vals[i]; i++) {
        if (i) strcat(joined, " ");
        strcat(joined, vals[i]);
    }
    return strcmp(joined, expected) == 0;
}

static void test_enum_values(void **state) {
    (void)state;
    assert_true(values_are(fact_enum_values(FK_PERSON, FF_SEX), "M F"));
    assert_true(values_are(fact_enum_values(FK_DEATH, FF_BASIS),
                           "household_deregistration cremation death_certificate grid_report"));
    assert_true(values_are(fact_enum_values(FK_INCOME, FF_KIND), "wage business pension unemployment other"));
    assert_true(values_are(fact_enum_values(FK_ASSET, FF_KIND), "vehicle real_estate business"));
    assert_true(values_are(fact_enum_values(FK_CUSTODY, FF_KIND), "imprisonment detention"));
    assert_true(values_are(fact_enum_values(FK_VERDICT, FF_VERDICT), "confirmed dismissed"));
    assert_null(fact_enum_values(FK_PAYMENT, FF_KIND)); /* not allowed there */
    assert_null(fact_enum_values(FK_PERSON, FF_NAME));  /* not an enum */
    assert_null(fact_enum_values(FK_DEATH, FF_SEX));
}

static void test_is_stream(void **state) {
    (void)state;
    for (int k = 0; k < FK__COUNT; k++)
        assert_int_equal(fact_kind_is_stream((fact_kind)k), k == FK_PAYMENT || k == FK_INCOME);
}

/* ---- conversions --------------------------------------------------------- */

static void yuan_ok(const char *s, int64_t want) {
    int64_t fen = 777;
    if (conv_yuan_to_fen(s, &fen) != 0) fail_msg("conv_yuan_to_fen rejected '%s'", s);
    if (fen != want) fail_msg("conv_yuan_to_fen('%s') = %lld, want %lld", s, (long long)fen, (long long)want);
}

static void yuan_bad(const char *s) {
    int64_t fen = 777;
    if (conv_yuan_to_fen(s, &fen) == 0) fail_msg("conv_yuan_to_fen accepted '%s' (%lld)", s ? s : "NULL", (long long)fen);
    assert_int_equal(fen, 777); /* untouched on failure */
}

static void test_conv_yuan(void **state) {
    (void)state;
    yuan_ok("1234", 123400);
    yuan_ok("1234.5", 123450);
    yuan_ok("1234.50", 123450);
    yuan_ok("1,234.50", 123450);
    yuan_ok("1,234,567.01", 123456701);
    yuan_ok("¥12.00", 1200);
    yuan_ok("￥12", 1200);
    yuan_ok("¥ 12.30", 1230);
    yuan_ok("-3.00", -300);
    yuan_ok("-¥3.10", -310);
    yuan_ok("¥-3.10", -310);
    yuan_ok("+5", 500);
    yuan_ok(" 12.30 ", 1230);
    yuan_ok("12.340", 1234);  /* extra zero digits are exact */
    yuan_ok("12.3400", 1234);
    yuan_ok("0.01", 1);
    yuan_ok(".5", 50);        /* Oracle's text form of 0.5 */
    yuan_ok("12.", 1200);
    yuan_ok("0", 0);
    yuan_ok("-0.00", 0);
    yuan_ok("92233720368547758.07", INT64_C(9223372036854775807));
    yuan_bad("12.345");
    yuan_bad("12.341");
    yuan_bad("abc");
    yuan_bad("");
    yuan_bad("   ");
    yuan_bad(NULL);
    yuan_bad("1.2.3");
    yuan_bad("12,34.00");   /* commas must group thousands */
    yuan_bad("1234,567");
    yuan_bad(",123");
    yuan_bad("1,,234");
    yuan_bad("12 34");
    yuan_bad("1e3");
    yuan_bad("12元x");
    yuan_bad("--3");
    yuan_bad("-¥-3");
    yuan_bad(".");
    yuan_bad("¥");
    yuan_bad("92233720368547758.08"); /* overflows int64 fen */
    yuan_bad("92233720368547759");
    yuan_ok("-92233720368547758.07", -INT64_C(9223372036854775807));
    yuan_bad("99999999999999999999");
}

static void date_ok(const char *s, int want) {
    int d = -1;
    if (conv_date(s, &d) != 0) fail_msg("conv_date rejected '%s'", s);
    if (d != want) fail_msg("conv_date('%s') = %d, want %d", s, d, want);
}

static void date_bad(const char *s) {
    int d = -1;
    if (conv_date(s, &d) == 0) fail_msg("conv_date accepted '%s' as %d", s ? s : "NULL", d);
    assert_int_equal(d, -1);
}

static void test_conv_date(void **state) {
    (void)state;
    date_ok("20240312", 20240312);
    date_ok("2024-03-12", 20240312);
    date_ok("2024/3/12", 20240312);
    date_ok("2024/03/12", 20240312);
    date_ok("2024.3.12", 20240312);
    date_ok("2024年3月12日", 20240312);
    date_ok("2024年03月02日", 20240302);
    date_ok("2024-03-12 00:00:00", 20240312);
    date_ok("2024-03-12T00:00:00", 20240312);
    date_ok("2024-03-12 00:00:00.000", 20240312);
    date_ok("2024-03-12 23:59:59", 20240312);
    date_ok("2024-03-12T08:30:00+08:00", 20240312);
    date_ok("2024-03-12T08:30:00Z", 20240312);
    date_ok("2024-03-12 08:30", 20240312);
    date_ok("20240312.000", 20240312);
    date_ok("20240312143000", 20240312);
    date_ok(" 2024-03-12 ", 20240312);
    date_ok("2024-02-29", 20240229);
    date_ok("2000-02-29", 20000229);
    date_ok("1949-10-01", 19491001);
    /* birth dates as grid workers type them (docs/record-model.md "Values") */
    date_ok("1948-03-05", 19480305);
    date_ok("1948年3月5日", 19480305);
    date_ok("19480305", 19480305);
    date_ok("1948.3.5", 19480305);
    date_ok("1948/3/5", 19480305);
    date_bad("约1948年");
    date_bad("1948年");
    date_bad("1948年3月");
    date_bad("1948");
    date_bad("2023-02-29");
    date_bad("1900-02-29");
    date_bad("2024-13-01");
    date_bad("2024-00-10");
    date_bad("2024-04-31");
    date_bad("2024-03-00");
    date_bad("20241301");
    date_bad("2024031");
    date_bad("202403120");
    date_bad("2024-03");
    date_bad("2024-03-12x");
    date_bad("2024-03/12");
    date_bad("2024-03-12 25:00:00");
    date_bad("2024-03-12 12:61:00");
    date_bad("2024-03-12 12");
    date_bad("2024年3月12");
    date_bad("24-03-12");
    date_bad("12/03/2024");
    date_bad("abc");
    date_bad("");
    date_bad(NULL);
    date_bad("0000-01-01");
}

static void month_ok(const char *s, int want) {
    int m = -1;
    if (conv_month(s, &m) != 0) fail_msg("conv_month rejected '%s'", s);
    if (m != want) fail_msg("conv_month('%s') = %d, want %d", s, m, want);
}

static void month_bad(const char *s) {
    int m = -1;
    if (conv_month(s, &m) == 0) fail_msg("conv_month accepted '%s' as %d", s ? s : "NULL", m);
    assert_int_equal(m, -1);
}

/* The forms read at once ("YYYY-MM-DD" for a date, "YYYYMM" for a month)
 * give what the general parser gives: a leading blank sends the same text
 * down the general path. Every month 00-19 and day 00-39 of a spread of
 * years, leap years and year 0 among them. */
static void test_conv_fast_forms_same_as_general(void **state) {
    (void)state;
    static const int years[] = {0, 1, 999, 1848, 1850, 1900, 1948, 1999, 2000, 2023, 2024, 2100, 9999};
    long compared = 0;
    for (size_t y = 0; y < sizeof years / sizeof years[0]; y++)
        for (int m = 0; m < 20; m++) {
            char fast[32], general[33];
            int a = -1, b = -1;
            snprintf(fast, sizeof fast, "%04d%02d", years[y], m);
            snprintf(general, sizeof general, " %s", fast);
            int ra = conv_month(fast, &a), rb = conv_month(general, &b);
            if (ra != rb || (ra == 0 && a != b))
                fail_msg("conv_month '%s': %d (%d) at once, %d (%d) in general", fast, ra, a, rb, b);
            compared++;
            for (int d = 0; d < 40; d++) {
                snprintf(fast, sizeof fast, "%04d-%02d-%02d", years[y], m, d);
                snprintf(general, sizeof general, " %s", fast);
                a = b = -1;
                ra = conv_date(fast, &a);
                rb = conv_date(general, &b);
                if (ra != rb || (ra == 0 && a != b))
                    fail_msg("conv_date '%s': %d (%d) at once, %d (%d) in general", fast, ra, a, rb, b);
                compared++;
            }
        }
    assert_true(compared > 10000);
    /* near misses of the fast forms take the general path and keep its answers */
    date_ok("2024-03-12 ", 20240312);
    date_bad("2024-03-1x");
    date_bad("2024-3-120");
    month_ok("202403 ", 202403);
    month_bad("2024031");
}

static void test_conv_month(void **state) {
    (void)state;
    month_ok("202403", 202403);
    month_ok("2024-03", 202403);
    month_ok("2024-3", 202403);
    month_ok("2024/3", 202403);
    month_ok("2024.12", 202412);
    month_ok("2024年3月", 202403);
    month_ok("2024-03-12", 202403);
    month_ok("20240312", 202403);
    month_ok("2024年3月31日", 202403);
    month_ok("2024-03-12 00:00:00", 202403);
    month_ok(" 202401 ", 202401);
    month_bad("202413");
    month_bad("202400");
    month_bad("2024-13");
    month_bad("2024-0");
    month_bad("2024");
    month_bad("24-03");
    month_bad("2024-02-30"); /* not a date, and not a month either */
    month_bad("2024-03x");
    month_bad("2024年3");
    month_bad("");
    month_bad(NULL);
    month_bad("March 2024");
}

static void int_ok(const char *s, int64_t want) {
    int64_t v = 777;
    if (conv_int(s, &v) != 0) fail_msg("conv_int rejected '%s'", s);
    if (v != want) fail_msg("conv_int('%s') = %lld", s, (long long)v);
}

static void int_bad(const char *s) {
    int64_t v = 777;
    if (conv_int(s, &v) == 0) fail_msg("conv_int accepted '%s'", s ? s : "NULL");
    assert_int_equal(v, 777);
}

static void test_conv_int(void **state) {
    (void)state;
    int_ok("42", 42);
    int_ok("-7", -7);
    int_ok("+7", 7);
    int_ok(" 42 ", 42);
    int_ok("0", 0);
    int_ok("9223372036854775807", INT64_MAX);
    int_ok("-9223372036854775808", INT64_MIN);
    int_bad("9223372036854775808");
    int_bad("-9223372036854775809");
    int_bad("42x");
    int_bad("4 2");
    int_bad("4.0");
    int_bad("");
    int_bad("-");
    int_bad(NULL);
    int_bad("0x10");
}

static void test_date_helpers(void **state) {
    (void)state;
    assert_true(date_is_valid(20240229));
    assert_true(date_is_valid(20000229));
    assert_false(date_is_valid(19000229));
    assert_false(date_is_valid(21000229));
    assert_false(date_is_valid(20230229));
    assert_true(date_is_valid(20231231));
    assert_false(date_is_valid(20231232));
    assert_false(date_is_valid(20231301));
    assert_false(date_is_valid(0));
    assert_false(date_is_valid(-20240101));
    assert_int_equal(month_add(202401, -1), 202312);
    assert_int_equal(month_add(202412, 1), 202501);
    assert_int_equal(month_add(202403, 0), 202403);
    assert_int_equal(month_add(202403, -27), 202112);
    assert_int_equal(month_add(202403, -39), 202012);
    assert_int_equal(month_add(202403, 24), 202603);
    assert_int_equal(month_add(202401, -12), 202301);
    assert_int_equal(month_add(202401, -13), 202212);
    assert_int_equal(month_add(202412, 13), 202601);
    assert_int_equal(date_month(20240312), 202403);
    /* round trip over many offsets */
    for (int n = -300; n <= 300; n++) assert_int_equal(month_add(month_add(202406, n), -n), 202406);
    /* date_today is a real date and is the UTC date or the day after (UTC+8) */
    int today = date_today();
    assert_true(date_is_valid(today));
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    int utc = (tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
    int utc_hour = tm.tm_hour;
    time_t later = now + 86400;
    gmtime_r(&later, &tm);
    int utc_next = (tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
    /* China is UTC+8: from 16:00 UTC it is already the next day there */
    if (date_today() == today) /* skip the check if midnight passed meanwhile */
        assert_int_equal(today, utc_hour >= 16 ? utc_next : utc);
}

/* ---- facts --------------------------------------------------------------- */

#define SET_OK(ft, f, text)                                                          \
    do {                                                                             \
        char e_[256] = "";                                                           \
        if (fact_set_text((ft), (f), (text), e_, sizeof e_) != 0)                    \
            fail_msg("fact_set_text(%s) failed: %s", fact_field_name(f), e_);        \
    } while (0)

static void set_fails(fact *ft, fact_field f, const char *text, const char *want_err) {
    char err[256] = "";
    if (fact_set_text(ft, f, text, err, sizeof err) == 0) fail_msg("fact_set_text(%s) accepted", fact_field_name(f));
    assert_string_equal(err, want_err);
}

static void test_set_text_types(void **state) {
    (void)state;
    fact ft;
    fact_init(&ft, FK_DEATH);
    SET_OK(&ft, FF_ID_NO, "  11010519491231002x ");
    assert_string_equal(ft.f[FF_ID_NO].s, "11010519491231002x"); /* trimmed, otherwise as given */
    SET_OK(&ft, FF_NAME, "\u3000張偉 ");
    assert_string_equal(ft.f[FF_NAME].s, "張偉");
    SET_OK(&ft, FF_DEATH_DATE, "2024年3月12日");
    assert_int_equal(ft.f[FF_DEATH_DATE].i, 20240312);
    SET_OK(&ft, FF_BASIS, " Cremation ");
    assert_string_equal(ft.f[FF_BASIS].s, "cremation");
    SET_OK(&ft, FF_REVOKED, "是");
    assert_int_equal(ft.f[FF_REVOKED].i, 1);
    const char *yes[] = {"1", "true", "TRUE", "t", "yes", "Y", "是", NULL};
    const char *no[] = {"0", "false", "False", "f", "no", "N", "否", NULL};
    for (int i = 0; yes[i]; i++) {
        SET_OK(&ft, FF_REVOKED, no[i]);
        assert_int_equal(ft.f[FF_REVOKED].i, 0);
        SET_OK(&ft, FF_REVOKED, yes[i]);
        assert_int_equal(ft.f[FF_REVOKED].i, 1);
    }
    set_fails(&ft, FF_REVOKED, "maybe", "field 'revoked': not a boolean: 'maybe'");
    SET_OK(&ft, FF_REGION, "420502");
    assert_string_equal(ft.f[FF_REGION].s, "420502");
    set_fails(&ft, FF_REGION, "42050", "field 'region': not a 6-digit region code: '42050'");
    set_fails(&ft, FF_REGION, "42050a", "field 'region': not a 6-digit region code: '42050a'");
    set_fails(&ft, FF_REGION, "4205021", "field 'region': not a 6-digit region code: '4205021'");
    assert_string_equal(ft.f[FF_REGION].s, "420502"); /* a failed set keeps the old value */
    set_fails(&ft, FF_DEATH_DATE, "2024-13-01", "field 'death_date': not a date: '2024-13-01'");
    assert_int_equal(ft.f[FF_DEATH_DATE].i, 20240312);
    set_fails(&ft, FF_BASIS, "hearsay",
              "field 'basis': 'hearsay' is not one of household_deregistration, cremation, "
              "death_certificate, grid_report");
    set_fails(&ft, FF_AMOUNT, "100", "field 'amount' is not allowed for kind 'death'");
    set_fails(&ft, (fact_field)FF__COUNT, "x", "unknown field number 30");
    fact_clear(&ft);
    assert_int_equal(ft.kind, FK_DEATH);
    assert_false(FACT_HAS(&ft, FF_ID_NO));
    assert_null(ft.f[FF_ID_NO].s);

    fact_init(&ft, FK_PAYMENT);
    SET_OK(&ft, FF_PERIOD, "2024年3月");
    assert_int_equal(ft.f[FF_PERIOD].i, 202403);
    SET_OK(&ft, FF_AMOUNT, " 123450 ");
    assert_int_equal(ft.f[FF_AMOUNT].i, 123450);
    /* money given as text is integer fen (API-DRAFT: yuan "col" converts yuan) */
    set_fails(&ft, FF_AMOUNT, "1234.50", "field 'amount': not an amount in integer fen: '1234.50'");
    set_fails(&ft, FF_PERIOD, "2024-13", "field 'period': not a month: '2024-13'");
    SET_OK(&ft, FF_PAID_ON, "2024/3/5 10:00:00");
    assert_int_equal(ft.f[FF_PAID_ON].i, 20240305);
    fact_clear(&ft);

    fact_init(&ft, FK_ASSISTANCE_MEMBER);
    SET_OK(&ft, FF_HOUSEHOLD_SIZE, "3");
    assert_int_equal(ft.f[FF_HOUSEHOLD_SIZE].i, 3);
    set_fails(&ft, FF_HOUSEHOLD_SIZE, "three", "field 'household_size': not an integer: 'three'");
    fact_clear(&ft);

    fact_init(&ft, FK_PERSON);
    SET_OK(&ft, FF_SEX, "m");
    assert_string_equal(ft.f[FF_SEX].s, "M");
    assert_ptr_equal(ft.f[FF_SEX].s, fact_enum_values(FK_PERSON, FF_SEX)[0]); /* static, not a copy */
    set_fails(&ft, FF_SEX, "男", "field 'sex': '男' is not one of M, F");
    fact_clear(&ft);

    fact_init(&ft, FK_ASSET);
    SET_OK(&ft, FF_KIND, "REAL_ESTATE");
    assert_string_equal(ft.f[FF_KIND].s, "real_estate");
    set_fails(&ft, FF_KIND, "wage", "field 'kind': 'wage' is not one of vehicle, real_estate, business");
    SET_OK(&ft, FF_VALUE, "-5");
    assert_int_equal(ft.f[FF_VALUE].i, -5);
    fact_clear(&ft);
}

static void test_set_text_blank_and_identity_errors(void **state) {
    (void)state;
    fact ft;
    char err[256];
    fact_init(&ft, FK_PERSON);
    /* blank means "not set" */
    assert_int_equal(fact_set_text(&ft, FF_NAME, "", err, sizeof err), 0);
    assert_int_equal(fact_set_text(&ft, FF_NAME, " \t\u3000", err, sizeof err), 0);
    assert_int_equal(fact_set_text(&ft, FF_NAME, NULL, err, sizeof err), 0);
    assert_int_equal(fact_set_text(&ft, FF_BIRTH_DATE, "   ", err, sizeof err), 0);
    assert_false(FACT_HAS(&ft, FF_NAME));
    assert_false(FACT_HAS(&ft, FF_BIRTH_DATE));
    /* a blank value does not erase an earlier one */
    SET_OK(&ft, FF_NAME, "张三");
    assert_int_equal(fact_set_text(&ft, FF_NAME, "  ", err, sizeof err), 0);
    assert_string_equal(ft.f[FF_NAME].s, "张三");
    /* replacing a text value frees the old one (ASan would see a leak) */
    SET_OK(&ft, FF_NAME, "李四");
    assert_string_equal(ft.f[FF_NAME].s, "李四");
    /* identity values never appear in errors */
    const char gbk_name[] = "\xd5\xc5\xc8\xfd"; /* GBK 张三 */
    assert_int_equal(fact_set_text(&ft, FF_NAME, gbk_name, err, sizeof err), -1);
    assert_string_equal(err, "field 'name': not valid UTF-8");
    assert_string_equal(ft.f[FF_NAME].s, "李四");
    const char gbk_id[] = "\xa3\xb1" "10105194912310020";
    assert_int_equal(fact_set_text(&ft, FF_ID_NO, gbk_id, err, sizeof err), -1);
    assert_string_equal(err, "field 'id_no': not valid UTF-8");
    assert_null(strstr(err, "10105"));
    /* long values are cut in messages, on a character boundary */
    char longaddr[300] = "";
    for (int i = 0; i < 40; i++) strcat(longaddr, "路");
    strcat(longaddr, "\xff");
    assert_int_equal(fact_set_text(&ft, FF_ADDRESS, longaddr, err, sizeof err), -1);
    assert_string_equal(err, "field 'address': not valid UTF-8");
    char longregion[300] = "";
    for (int i = 0; i < 40; i++) strcat(longregion, "路");
    assert_int_equal(fact_set_text(&ft, FF_REGION, longregion, err, sizeof err), -1);
    assert_non_null(strstr(err, "field 'region': not a 6-digit region code: '路路"));
    assert_non_null(strstr(err, "...'"));
    assert_true(utf8_valid(err, strlen(err)));
    assert_true(strlen(err) < 130);
    char longdate[200];
    memset(longdate, '9', sizeof longdate - 1);
    longdate[sizeof longdate - 1] = '\0';
    assert_int_equal(fact_set_text(&ft, FF_BIRTH_DATE, longdate, err, sizeof err), -1);
    assert_non_null(strstr(err, "field 'birth_date': value too long: '999"));
    assert_true(strlen(err) < 120);
    fact_clear(&ft);
}

static void test_set_int(void **state) {
    (void)state;
    fact ft;
    char err[256];
    fact_init(&ft, FK_PAYMENT);
    assert_int_equal(fact_set_int(&ft, FF_AMOUNT, 123450, err, sizeof err), 0);
    assert_int_equal(ft.f[FF_AMOUNT].i, 123450);
    assert_true(FACT_HAS(&ft, FF_AMOUNT));
    assert_int_equal(fact_set_int(&ft, FF_PERIOD, 202403, err, sizeof err), 0);
    assert_int_equal(fact_set_int(&ft, FF_PERIOD, 202413, err, sizeof err), -1);
    assert_string_equal(err, "field 'period': not a month: 202413");
    assert_int_equal(ft.f[FF_PERIOD].i, 202403);
    assert_int_equal(fact_set_int(&ft, FF_PAID_ON, 20240230, err, sizeof err), -1);
    assert_string_equal(err, "field 'paid_on': not a date: 20240230");
    assert_int_equal(fact_set_int(&ft, FF_PAID_ON, 20240229, err, sizeof err), 0);
    assert_int_equal(fact_set_int(&ft, FF_PAID_ON, INT64_C(20240229) << 32, err, sizeof err), -1);
    assert_int_equal(fact_set_int(&ft, FF_PROGRAM, 1, err, sizeof err), -1);
    assert_string_equal(err, "field 'program' is text, not a number");
    assert_int_equal(fact_set_int(&ft, FF_REVOKED, 1, err, sizeof err), -1);
    assert_string_equal(err, "field 'revoked' is not allowed for kind 'payment'");
    fact_clear(&ft);
    fact_init(&ft, FK_DEATH);
    assert_int_equal(fact_set_int(&ft, FF_REVOKED, 1, err, sizeof err), 0);
    assert_int_equal(fact_set_int(&ft, FF_REVOKED, 2, err, sizeof err), -1);
    assert_string_equal(err, "field 'revoked': not a boolean: 2");
    fact_clear(&ft);
}

static void test_check(void **state) {
    (void)state;
    fact ft;
    char err[256];
    fact_init(&ft, FK_PAYMENT);
    assert_int_equal(fact_check(&ft, err, sizeof err), -1);
    assert_string_equal(err, "missing required field 'id_no'");
    SET_OK(&ft, FF_ID_NO, "11010519491231002X");
    SET_OK(&ft, FF_PROGRAM, "pension");
    SET_OK(&ft, FF_PERIOD, "2024-03");
    assert_int_equal(fact_check(&ft, err, sizeof err), -1);
    assert_string_equal(err, "missing required field 'amount'");
    SET_OK(&ft, FF_AMOUNT, "0");
    assert_int_equal(fact_check(&ft, err, sizeof err), 0);
    fact_clear(&ft);
    /* death does not require id_no but requires name, death_date, basis */
    fact_init(&ft, FK_DEATH);
    SET_OK(&ft, FF_NAME, "张三");
    SET_OK(&ft, FF_DEATH_DATE, "2024-01-05");
    assert_int_equal(fact_check(&ft, err, sizeof err), -1);
    assert_string_equal(err, "missing required field 'basis'");
    SET_OK(&ft, FF_BASIS, "grid_report");
    assert_int_equal(fact_check(&ft, err, sizeof err), 0);
    fact_clear(&ft);
    /* case payments: a dibao/tekun payment may name its case instead of an id */
    fact_init(&ft, FK_PAYMENT);
    SET_OK(&ft, FF_PROGRAM, "dibao");
    SET_OK(&ft, FF_PERIOD, "2024-03");
    SET_OK(&ft, FF_AMOUNT, "50000");
    assert_int_equal(fact_check(&ft, err, sizeof err), -1);
    assert_string_equal(err, "missing required field 'id_no' or 'case': a dibao payment names the person or the "
                             "household case");
    SET_OK(&ft, FF_CASE, "DB-001");
    assert_int_equal(fact_check(&ft, err, sizeof err), 0);
    SET_OK(&ft, FF_PROGRAM, "tekun");
    assert_int_equal(fact_check(&ft, err, sizeof err), 0);
    /* a pension payment still needs id_no, case or not */
    SET_OK(&ft, FF_PROGRAM, "pension");
    assert_int_equal(fact_check(&ft, err, sizeof err), -1);
    assert_string_equal(err, "missing required field 'id_no': only dibao/tekun payments may name a case instead");
    fact_clear(&ft);
    assert_int_equal(fact_field_alternative(FK_PAYMENT, FF_ID_NO), FF_CASE);
    assert_int_equal(fact_field_alternative(FK_INCOME, FF_ID_NO), FF__COUNT);
    assert_int_equal(fact_field_alternative(FK_PAYMENT, FF_AMOUNT), FF__COUNT);
    /* every person-bearing kind takes a name and a birth date */
    static const fact_kind named[] = {FK_PERSON, FK_DEATH, FK_PAYMENT, FK_ASSISTANCE_MEMBER,
                                      FK_INCOME, FK_ASSET, FK_CUSTODY};
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
        fact_init(&ft, named[i]);
        SET_OK(&ft, FF_NAME, "李四");
        SET_OK(&ft, FF_BIRTH_DATE, "1948年3月5日");
        assert_int_equal(ft.f[FF_BIRTH_DATE].i, 19480305);
        fact_normalize_identity(&ft, NULL, 20240101);
        assert_string_equal(ft.name_norm, "李四");
        fact_clear(&ft);
    }
    fact_init(&ft, FK_VERDICT);
    assert_int_equal(fact_set_text(&ft, FF_NAME, "李四", err, sizeof err), -1);
    fact_clear(&ft);
    /* every kind: an empty fact reports its first required field */
    for (int k = 0; k < FK__COUNT; k++) {
        fact_init(&ft, (fact_kind)k);
        assert_int_equal(fact_check(&ft, err, sizeof err), -1);
        assert_non_null(strstr(err, "missing required field '"));
    }
}

static void test_fields_json(void **state) {
    (void)state;
    fact ft;
    fact_init(&ft, FK_DEATH);
    SET_OK(&ft, FF_ID_NO, " 110105 19491231 002x ");
    SET_OK(&ft, FF_NAME, "买买提·艾力");
    SET_OK(&ft, FF_DEATH_DATE, "2024/3/5");
    SET_OK(&ft, FF_BASIS, "cremation");
    SET_OK(&ft, FF_REVOKED, "f");
    SET_OK(&ft, FF_ADDRESS, "湖北省宜昌市\"西陵区\"");
    char *text = fact_fields_json(&ft);
    assert_non_null(text);
    json_error_t jerr;
    json_t *obj = json_loads(text, 0, &jerr);
    assert_non_null(obj);
    assert_int_equal(json_object_size(obj), 6);
    assert_string_equal(json_string_value(json_object_get(obj, "id_no")), "110105 19491231 002x");
    assert_string_equal(json_string_value(json_object_get(obj, "name")), "买买提·艾力");
    assert_string_equal(json_string_value(json_object_get(obj, "death_date")), "2024-03-05");
    assert_string_equal(json_string_value(json_object_get(obj, "basis")), "cremation");
    assert_true(json_is_false(json_object_get(obj, "revoked")));
    assert_string_equal(json_string_value(json_object_get(obj, "address")), "湖北省宜昌市\"西陵区\"");
    assert_null(json_object_get(obj, "birth_date")); /* unset fields are absent */
    json_decref(obj);
    free(text);
    fact_clear(&ft);

    fact_init(&ft, FK_PAYMENT);
    SET_OK(&ft, FF_ID_NO, "11010519491231002X");
    SET_OK(&ft, FF_PROGRAM, "pension");
    SET_OK(&ft, FF_PERIOD, "202401");
    char err[128];
    int64_t fen;
    assert_int_equal(conv_yuan_to_fen("1,234.56", &fen), 0);
    assert_int_equal(fact_set_int(&ft, FF_AMOUNT, fen, err, sizeof err), 0);
    text = fact_fields_json(&ft);
    assert_non_null(text);
    assert_string_equal(text, "{\"id_no\":\"11010519491231002X\",\"program\":\"pension\",\"period\":\"2024-01\",\"amount\":123456}");
    free(text);
    fact_clear(&ft);

    fact_init(&ft, FK_VERDICT);
    text = fact_fields_json(&ft);
    assert_string_equal(text, "{}");
    free(text);
    fact_init(&ft, FK_ASSISTANCE_MEMBER);
    SET_OK(&ft, FF_HOUSEHOLD_SIZE, "4");
    text = fact_fields_json(&ft);
    assert_string_equal(text, "{\"household_size\":4}");
    free(text);
    fact_clear(&ft);
}

static void test_normalize_identity(void **state) {
    (void)state;
    char err[256] = "";
    name_normalizer *nn = name_normalizer_new(err, sizeof err);
    if (nn == NULL) fail_msg("name_normalizer_new: %s", err);
    fact ft;
    fact_init(&ft, FK_PERSON);
    assert_int_equal(ft.id_status, ID_EMPTY);
    SET_OK(&ft, FF_ID_NO, "１１０１０５ １９４９１２３１ ００２ｘ");
    SET_OK(&ft, FF_NAME, " 劉德華 ");
    fact_normalize_identity(&ft, nn, 20240601);
    assert_int_equal(ft.id_status, ID_OK);
    assert_string_equal(ft.id_norm, "11010519491231002X");
    assert_string_equal(ft.id_clean, "11010519491231002X");
    assert_string_equal(ft.name_norm, "刘德华");
    /* renormalizing replaces the old name (no leak under ASan) */
    fact_normalize_identity(&ft, NULL, 20240601);
    assert_string_equal(ft.name_norm, "劉德華"); /* no normalizer: trimmed only */
    fact_clear(&ft);
    assert_null(ft.name_norm);

    fact_init(&ft, FK_PERSON);
    SET_OK(&ft, FF_ID_NO, "11010519491231002Y");
    fact_normalize_identity(&ft, nn, 20240601);
    assert_int_equal(ft.id_status, ID_BAD_CHAR);
    assert_string_equal(ft.id_norm, "");
    assert_string_equal(ft.id_clean, "");
    assert_null(ft.name_norm);
    fact_clear(&ft);

    fact_init(&ft, FK_PERSON);
    SET_OK(&ft, FF_ID_NO, "110105194912310021");
    fact_normalize_identity(&ft, nn, 20240601);
    assert_int_equal(ft.id_status, ID_BAD_CHECK);
    assert_string_equal(ft.id_norm, "");
    assert_string_equal(ft.id_clean, "110105194912310021");
    fact_clear(&ft);

    fact_init(&ft, FK_DEATH); /* a death may come without an id */
    SET_OK(&ft, FF_NAME, "張三");
    fact_normalize_identity(&ft, nn, 20240601);
    assert_int_equal(ft.id_status, ID_EMPTY);
    assert_string_equal(ft.id_norm, "");
    assert_string_equal(ft.name_norm, "张三");
    fact_clear(&ft);
    name_normalizer_free(nn);
}

/* A folded name equal to the name shares its string: copies share it in
 * their own copy, replacing the name leaves the folded name as it was,
 * re-folding and clearing free each string once (ASan checks). */
static void test_name_norm_shared(void **state) {
    (void)state;
    fact ft, cp;
    fact_init(&ft, FK_PERSON);
    SET_OK(&ft, FF_NAME, " 张三 ");
    fact_normalize_name(&ft, NULL);
    assert_ptr_equal(ft.name_norm, ft.f[FF_NAME].s);
    fact_normalize_name(&ft, NULL); /* re-folding a shared one */
    assert_ptr_equal(ft.name_norm, ft.f[FF_NAME].s);
    assert_int_equal(fact_copy(&cp, &ft), 0);
    assert_ptr_equal(cp.name_norm, cp.f[FF_NAME].s);
    assert_ptr_not_equal(cp.name_norm, ft.name_norm);
    SET_OK(&ft, FF_NAME, "李四"); /* the folded name stays the old one until re-folded */
    assert_string_equal(ft.name_norm, "张三");
    assert_string_equal(ft.f[FF_NAME].s, "李四");
    fact_clear(&ft);
    assert_null(ft.name_norm);
    assert_string_equal(cp.name_norm, "张三");
    fact_clear(&cp);
    /* a folded name that differs keeps its own string */
    fact_init(&ft, FK_PERSON);
    SET_OK(&ft, FF_NAME, "張三");
    ft.name_norm = strdup("张三");
    fact_share_name_norm(&ft);
    assert_ptr_not_equal(ft.name_norm, ft.f[FF_NAME].s);
    assert_int_equal(fact_copy(&cp, &ft), 0);
    assert_ptr_not_equal(cp.name_norm, cp.f[FF_NAME].s);
    assert_string_equal(cp.name_norm, "张三");
    free(ft.name_norm);
    ft.name_norm = strdup("張三"); /* a copy equal to the name: shared */
    fact_share_name_norm(&ft);
    assert_ptr_equal(ft.name_norm, ft.f[FF_NAME].s);
    fact_clear(&ft);
    fact_clear(&cp);
}

/* The mapping path's facts borrow the row's strings: a value with nothing to
 * trim is the caller's pointer, one with blanks is copied; replacing, owning
 * (fact_own) and clearing never free what is borrowed (ASan checks the rest). */
static void test_borrowed_text(void **state) {
    (void)state;
    char err[200];
    char name[] = "张三", id[] = "420502195001010011", payer[] = " 人社 ", row_ref[] = "R9";
    fact ft;
    fact_init(&ft, FK_PAYMENT);
    ft.source = (char *)"hr";
    ft.ref = row_ref;
    ft.borrowed = FACT_SOURCE_BORROWED | FACT_REF_BORROWED;
    assert_int_equal(fact_set_text_borrowed(&ft, FF_NAME, name, err, sizeof err), 0);
    assert_ptr_equal(ft.f[FF_NAME].s, name);
    assert_int_equal(fact_set_text_borrowed(&ft, FF_ID_NO, id, err, sizeof err), 0);
    assert_ptr_equal(ft.f[FF_ID_NO].s, id);
    assert_int_equal(fact_set_text_borrowed(&ft, FF_PAYER, payer, err, sizeof err), 0); /* trimmed: a copy */
    assert_ptr_not_equal(ft.f[FF_PAYER].s, payer);
    assert_string_equal(ft.f[FF_PAYER].s, "人社");
    assert_false(ft.borrowed >> FF_PAYER & 1u);
    assert_int_equal(fact_set_text_borrowed(&ft, FF_PROGRAM, "pension", err, sizeof err), 0);
    /* the folded name shares the borrowed name; replacing the name keeps the
     * folded one alive as its own copy */
    fact_normalize_name(&ft, NULL);
    assert_ptr_equal(ft.name_norm, name);
    SET_OK(&ft, FF_NAME, "李四");
    assert_false(ft.borrowed >> FF_NAME & 1u);
    assert_ptr_not_equal(ft.name_norm, name);
    assert_string_equal(ft.name_norm, "张三");
    fact_normalize_name(&ft, NULL);
    /* fact_own: every string the fact's own, the row can go */
    fact cp;
    assert_int_equal(fact_copy(&cp, &ft), 0);
    assert_int_equal(cp.borrowed, 0);
    fact_own(&ft);
    assert_int_equal(ft.borrowed, 0);
    assert_ptr_not_equal(ft.f[FF_ID_NO].s, id);
    assert_ptr_not_equal(ft.ref, row_ref);
    memset(id, 'x', sizeof id - 1);
    memset(row_ref, 'y', sizeof row_ref - 1);
    assert_string_equal(ft.f[FF_ID_NO].s, "420502195001010011");
    assert_string_equal(ft.ref, "R9");
    assert_string_equal(ft.source, "hr");
    assert_string_equal(cp.f[FF_ID_NO].s, "420502195001010011");
    fact_clear(&ft);
    fact_clear(&cp);
    /* a borrowed fact cleared without fact_own frees only what it owns */
    char name2[] = "王五";
    fact_init(&ft, FK_PERSON);
    assert_int_equal(fact_set_text_borrowed(&ft, FF_NAME, name2, err, sizeof err), 0);
    fact_normalize_name(&ft, NULL);
    ft.raw_json = strdup("{}");
    fact_clear(&ft);
    assert_string_equal(name2, "王五");
    assert_int_equal(ft.borrowed, 0);
}

static void test_copy_and_clear(void **state) {
    (void)state;
    fact src, dst;
    fact_init(&src, FK_ASSET);
    src.source = strdup("housing");
    src.ref = strdup("FC-0001");
    src.raw_json = strdup("{\"sfzh\":\"11010519491231002X\"}");
    SET_OK(&src, FF_ID_NO, "11010519491231002X");
    SET_OK(&src, FF_KIND, "real_estate");
    SET_OK(&src, FF_FROM, "2020-01-01");
    SET_OK(&src, FF_VALUE, "150000000");
    SET_OK(&src, FF_DESCRIPTION, "住宅");
    fact_normalize_identity(&src, NULL, 20240601);
    assert_int_equal(fact_copy(&dst, &src), 0);
    assert_int_equal(dst.kind, FK_ASSET);
    assert_string_equal(dst.source, "housing");
    assert_ptr_not_equal(dst.source, src.source);
    assert_string_equal(dst.ref, "FC-0001");
    assert_string_equal(dst.raw_json, src.raw_json);
    assert_ptr_not_equal(dst.raw_json, src.raw_json);
    assert_string_equal(dst.f[FF_KIND].s, "real_estate");
    assert_ptr_equal(dst.f[FF_KIND].s, src.f[FF_KIND].s); /* an ENUM value is the registry's spelling */
    assert_ptr_not_equal(dst.f[FF_DESCRIPTION].s, src.f[FF_DESCRIPTION].s); /* TEXT is copied */
    assert_int_equal(dst.f[FF_FROM].i, 20200101);
    assert_int_equal(dst.f[FF_VALUE].i, 150000000);
    assert_true(FACT_HAS(&dst, FF_VALUE));
    assert_false(FACT_HAS(&dst, FF_TO));
    assert_int_equal(dst.id_status, ID_OK);
    assert_string_equal(dst.id_norm, "11010519491231002X");
    assert_null(dst.name_norm);
    /* the copy is independent of the source */
    SET_OK(&src, FF_DESCRIPTION, "商铺");
    assert_string_equal(dst.f[FF_DESCRIPTION].s, "住宅");
    char *a = fact_fields_json(&src), *b = fact_fields_json(&dst);
    assert_string_not_equal(a, b);
    free(a);
    free(b);
    fact_clear(&src);
    assert_null(src.source);
    assert_null(src.ref);
    assert_null(src.raw_json);
    assert_int_equal(src.kind, FK_ASSET);
    for (int f = 0; f < FF__COUNT; f++) {
        assert_false(FACT_HAS(&src, f));
        assert_null(src.f[f].s);
    }
    assert_string_equal(dst.f[FF_ID_NO].s, "11010519491231002X"); /* still alive */
    /* a cleared fact is reusable and can be cleared twice */
    SET_OK(&src, FF_ID_NO, "x");
    fact_clear(&src);
    fact_clear(&src);
    fact_clear(&dst);
}


/* Checked money arithmetic: overflow is refused and leaves the accumulator. */
static void test_money_checked(void **state) {
    (void)state;
    int64_t acc = 0;
    assert_int_equal(money_add(&acc, 312050), 0);
    assert_int_equal(money_add(&acc, 285600), 0);
    assert_int_equal(acc, 597650);
    acc = INT64_MAX - 5;
    assert_int_equal(money_add(&acc, 5), 0);
    assert_true(acc == INT64_MAX);
    assert_int_equal(money_add(&acc, 1), -1);
    assert_true(acc == INT64_MAX); /* unchanged */
    acc = INT64_MIN;
    assert_int_equal(money_add(&acc, -1), -1);
    assert_true(acc == INT64_MIN);
    assert_int_equal(money_sub(&acc, 1), -1);
    acc = 10;
    assert_int_equal(money_sub(&acc, 25), 0);
    assert_true(acc == -15);
    int64_t out = 7;
    assert_int_equal(money_mul(312050, 12, &out), 0);
    assert_true(out == 3744600);
    assert_int_equal(money_mul(INT64_MAX / 2 + 1, 2, &out), -1);
    assert_true(out == 3744600);
    assert_int_equal(money_mul(INT64_MIN, -1, &out), -1);
    /* 10^15 yuan (a hostile record) summed a hundred times would wrap */
    acc = 0;
    int refused = 0;
    for (int i = 0; i < 100; i++) refused += money_add(&acc, INT64_C(100000000000000000)) != 0;
    assert_true(refused > 0 && acc > 0);
    /* conversions never wrap, whatever the digit run */
    int64_t fen = 0;
    assert_int_equal(conv_yuan_to_fen("1111111111111111111111111111111111111111", &fen), -1);
    assert_int_equal(conv_yuan_to_fen("92233720368547758.08", &fen), -1);
    assert_int_equal(conv_yuan_to_fen("-92233720368547758.08", &fen), -1);
    assert_int_equal(conv_int("99999999999999999999", &fen), -1);
}

/* Plausibility: dates within 1900-01-01 .. today + 1 year, no negative money,
 * an amount under the ceiling; each refusal names the field and the limit. */
static void test_plausible(void **state) {
    (void)state;
    fact_limits l;
    fact_limits_init(&l, 0, 20241130);
    assert_true(l.max_amount == MONEY_DEFAULT_MAX_AMOUNT);
    assert_int_equal(l.min_date, 19000101);
    assert_int_equal(l.max_date, 20251130);
    assert_true(fact_date_plausible(&l, 19000101));
    assert_false(fact_date_plausible(&l, 18991231));
    assert_true(fact_date_plausible(&l, 20251130));
    assert_false(fact_date_plausible(&l, 20251201));
    fact f;
    char err[300];
    fact_init(&f, FK_PAYMENT);
    assert_int_equal(fact_set_text(&f, FF_ID_NO, "110105194912310021", err, sizeof err), 0);
    assert_int_equal(fact_set_text(&f, FF_PROGRAM, "pension", err, sizeof err), 0);
    assert_int_equal(fact_set_text(&f, FF_PERIOD, "2024-03", err, sizeof err), 0);
    assert_int_equal(fact_set_int(&f, FF_AMOUNT, 312050, err, sizeof err), 0);
    assert_int_equal(fact_plausible(&f, &l, err, sizeof err), 0);
    /* the ceiling itself is accepted, one fen more is not */
    assert_int_equal(fact_set_int(&f, FF_AMOUNT, MONEY_DEFAULT_MAX_AMOUNT, err, sizeof err), 0);
    assert_int_equal(fact_plausible(&f, &l, err, sizeof err), 0);
    assert_int_equal(fact_set_int(&f, FF_AMOUNT, MONEY_DEFAULT_MAX_AMOUNT + 1, err, sizeof err), 0);
    assert_int_equal(fact_plausible(&f, &l, err, sizeof err), -1);
    assert_string_equal(err, "field 'amount': amount 1000000.01 yuan is over the ceiling of 1000000.00 yuan per "
                             "record (max_amount)");
    /* 10^15 yuan */
    assert_int_equal(fact_set_text(&f, FF_AMOUNT, "100000000000000000", err, sizeof err), 0);
    assert_int_equal(fact_plausible(&f, &l, err, sizeof err), -1);
    assert_non_null(strstr(err, "over the ceiling"));
    /* a configured ceiling */
    fact_limits l2;
    fact_limits_init(&l2, 500000, 20241130);
    assert_int_equal(fact_set_int(&f, FF_AMOUNT, 500001, err, sizeof err), 0);
    assert_int_equal(fact_plausible(&f, &l2, err, sizeof err), -1);
    assert_non_null(strstr(err, "ceiling of 5000.00 yuan"));
    /* negative */
    assert_int_equal(fact_set_int(&f, FF_AMOUNT, -310, err, sizeof err), 0);
    assert_int_equal(fact_plausible(&f, &l, err, sizeof err), -1);
    assert_string_equal(err, "field 'amount': negative amount -3.10 yuan is not accepted");
    assert_int_equal(fact_set_int(&f, FF_AMOUNT, INT64_MIN, err, sizeof err), 0);
    assert_int_equal(fact_plausible(&f, &l, err, sizeof err), -1);
    assert_string_equal(err, "field 'amount': negative amount -92233720368547758.08 yuan is not accepted");
    assert_int_equal(fact_set_int(&f, FF_AMOUNT, 100, err, sizeof err), 0);
    /* months and dates out of range */
    assert_int_equal(fact_set_text(&f, FF_PERIOD, "2099-01", err, sizeof err), 0);
    assert_int_equal(fact_plausible(&f, &l, err, sizeof err), -1);
    assert_string_equal(err, "field 'period': implausible month 209901 (outside 190001..202511)");
    assert_int_equal(fact_set_text(&f, FF_PERIOD, "1899-12", err, sizeof err), 0);
    assert_int_equal(fact_plausible(&f, &l, err, sizeof err), -1);
    assert_int_equal(fact_set_text(&f, FF_PERIOD, "2024-03", err, sizeof err), 0);
    assert_int_equal(fact_set_text(&f, FF_PAID_ON, "0001-01-01", err, sizeof err), 0);
    assert_int_equal(fact_plausible(&f, &l, err, sizeof err), -1);
    assert_string_equal(err, "field 'paid_on': implausible date 10101 (before 19000101)");
    assert_int_equal(fact_set_text(&f, FF_PAID_ON, "9999-12-31", err, sizeof err), 0);
    assert_int_equal(fact_plausible(&f, &l, err, sizeof err), -1);
    assert_string_equal(err, "field 'paid_on': implausible date 99991231 (after 20251130, a year from today)");
    fact_clear(&f);
    /* an asset's value may be over the monthly ceiling, never negative */
    fact_init(&f, FK_ASSET);
    assert_int_equal(fact_set_int(&f, FF_VALUE, INT64_C(500000000000), err, sizeof err), 0);
    assert_int_equal(fact_plausible(&f, &l, err, sizeof err), 0);
    assert_int_equal(fact_set_int(&f, FF_VALUE, -1, err, sizeof err), 0);
    assert_int_equal(fact_plausible(&f, &l, err, sizeof err), -1);
    fact_clear(&f);
    /* today = 0: the clock */
    fact_limits_init(&l, 0, 0);
    assert_int_equal(l.max_date, date_today() + 10000);
}

/* A row's raw hash: any column name or value changed, a NULL for an empty
 * value, a byte moved between a name and a value, or a column added changes
 * it; never 0. A fact without one counts as its raw JSON text's hash. */
static void test_raw_hash(void **state) {
    (void)state;
    const char *names[3] = {"SFZH", "XM", "DZ"};
    const char *vals[3] = {"420501195003121233", "张三", ""};
    uint64_t h = fact_raw_hash_row(3, names, vals);
    assert_true(h != 0);
    assert_true(h == fact_raw_hash_row(3, names, vals));
    const char *v2[3] = {"420501195003121233", "张四", ""};
    assert_true(h != fact_raw_hash_row(3, names, v2));
    const char *n2[3] = {"SFZH", "xm", "DZ"};
    assert_true(h != fact_raw_hash_row(3, n2, vals));
    const char *vnull[3] = {"420501195003121233", "张三", NULL};
    assert_true(h != fact_raw_hash_row(3, names, vnull));
    /* "ab" = "c" vs "a" = "bc" */
    const char *na[1] = {"ab"}, *va[1] = {"c"}, *nb[1] = {"a"}, *vb[1] = {"bc"};
    assert_true(fact_raw_hash_row(1, na, va) != fact_raw_hash_row(1, nb, vb));
    assert_true(fact_raw_hash_row(2, names, vals) != h);
    /* the same values under swapped names */
    const char *n3[3] = {"XM", "SFZH", "DZ"}, *v3[3] = {"张三", "420501195003121233", ""};
    assert_true(fact_raw_hash_row(3, n3, v3) != h);
    /* gg_hash64: every length of a buffer, and every bit flipped in it */
    unsigned char buf[24];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)(i * 37);
    uint64_t seen[sizeof buf + 1 + 8 * sizeof buf];
    size_t ns = 0;
    for (size_t len = 0; len <= sizeof buf; len++) seen[ns++] = gg_hash64_update(GG_HASH64_SEED, buf, len);
    for (size_t bit = 0; bit < 8 * sizeof buf; bit++) {
        buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        seen[ns++] = gg_hash64_update(GG_HASH64_SEED, buf, sizeof buf);
        buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    }
    for (size_t i = 0; i < ns; i++)
        for (size_t j = i + 1; j < ns; j++)
            if (seen[i] == seen[j]) fail_msg("gg_hash64: inputs %zu and %zu collide", i, j);
    assert_true(fact_raw_hash_text(NULL) != 0);
    assert_true(fact_raw_hash_text("{}") != fact_raw_hash_text(NULL));
    assert_true(fact_raw_hash_text("{}") != fact_raw_hash_text("{ }"));
    fact f;
    fact_init(&f, FK_PERSON);
    assert_true(fact_raw_hash(&f) == fact_raw_hash_text(NULL));
    f.raw_json = strdup("{\"XM\":\"张三\"}");
    assert_true(fact_raw_hash(&f) == fact_raw_hash_text("{\"XM\":\"张三\"}"));
    f.raw_hash = h;
    assert_true(fact_raw_hash(&f) == h);
    fact g;
    assert_int_equal(fact_copy(&g, &f), 0);
    assert_true(g.raw_hash == h);
    fact_clear(&g);
    fact_clear(&f);
    assert_true(f.raw_hash == 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_raw_hash),
        cmocka_unit_test(test_clear_is_init),
        cmocka_unit_test(test_registry_matches_spec),
        cmocka_unit_test(test_names_and_parse),
        cmocka_unit_test(test_field_types),
        cmocka_unit_test(test_enum_values),
        cmocka_unit_test(test_is_stream),
        cmocka_unit_test(test_conv_yuan),
        cmocka_unit_test(test_conv_date),
        cmocka_unit_test(test_conv_month),
        cmocka_unit_test(test_conv_fast_forms_same_as_general),
        cmocka_unit_test(test_conv_int),
        cmocka_unit_test(test_date_helpers),
        cmocka_unit_test(test_set_text_types),
        cmocka_unit_test(test_set_text_blank_and_identity_errors),
        cmocka_unit_test(test_set_int),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_fields_json),
        cmocka_unit_test(test_normalize_identity),
        cmocka_unit_test(test_copy_and_clear),
        cmocka_unit_test(test_name_norm_shared),
        cmocka_unit_test(test_borrowed_text),
        cmocka_unit_test(test_money_checked),
        cmocka_unit_test(test_plausible),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
