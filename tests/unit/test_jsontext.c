/* test_jsontext.c - JSON text written and checked directly (core/jsontext.c)
 * against jansson itself, which it stands in for: strings written as
 * json_dumps writes a json_string, and flat objects taken as they are only
 * when jansson would parse and write them back byte for byte; everything
 * else (other escapes, nested values, reals, "-0", duplicate keys, broken
 * UTF-8, not JSON) refused so the caller hands it to jansson. Then a
 * caller: a fact's fields (model/fact.c fact_fields_json) as jansson wrote
 * them. The other, an alert's evidence (store/alerts.c), is tested with the
 * store: test_state's test_alert_evidence_json. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/jsontext.h"
#include "core/log.h"
#include "model/fact.h"

/* What jansson writes for the string s (NULL when it refuses s). */
static char *jansson_string(const char *s) {
    json_t *v = json_string(s);
    if (!v) return NULL;
    char *out = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(v);
    return out;
}

/* jt_sb_string(s) against jansson: the same text, or both refuse. */
static void check_string(const char *s) {
    char *want = jansson_string(s);
    sbuf b = {0};
    int rc = jt_sb_string(&b, s);
    char *got = sb_take(&b);
    assert_non_null(got);
    if (!want) {
        if (rc != -1) fail_msg("jt_sb_string accepted what json_string refuses: \"%s\"", s);
        assert_int_equal(jt_string_len(s), 0);
    } else {
        assert_int_equal(rc, 0);
        if (strcmp(got, want) != 0) fail_msg("string \"%s\": wrote %s, jansson %s", s, got, want);
        assert_int_equal(jt_string_len(s), strlen(want));
    }
    free(want);
    free(got);
}

static void test_strings_as_jansson_writes_them(void **state) {
    (void)state;
    const char *cases[] = {
        "", "plain", "张三", "湖北省宜昌市西陵区", "quote \" and back\\slash", "/slash/", "tab\there",
        "nl\ncr\rff\fbs\b", "\x01\x02\x1f\x7f", "\xe2\x80\xa8 line separator", "emoji \xf0\x9f\x98\x80",
        "\xff broken", "\xe5\xbc", "\xc0\x80 overlong", "\xed\xa0\x80 surrogate",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_string(cases[i]);
}

/* jansson's own round trip of s: parse, then write compact (NULL: no parse). */
static char *jansson_round_trip(const char *s) {
    json_t *v = json_loads(s, JSON_DECODE_ANY, NULL);
    if (!v) return NULL;
    char *out = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(v);
    return out;
}

static void test_canonical_flat_objects(void **state) {
    (void)state;
    /* taken: jansson writes each back as it is */
    const char *yes[] = {
        "{}",
        "{\"a\":\"b\"}",
        "{\"jmbh\":\"JM00000001\",\"sfzhm\":\"420502197907110014\",\"xm\":\"丁建静\",\"jzdz\":null}",
        "{\"n\":0,\"m\":-12,\"big\":999999999999999999,\"t\":true,\"f\":false}",
        "{\"esc\":\"a\\\"b\\\\c\\nd\\te\\u0001\\u001F\"}",
        "{\"slash\":\"a/b\",\"del\":\"\x7f\"}",
    };
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (!jt_flat_object_canonical(yes[i])) fail_msg("refused canonical %s", yes[i]);
        char *rt = jansson_round_trip(yes[i]);
        assert_non_null(rt);
        assert_string_equal(rt, yes[i]);
        free(rt);
    }
    /* refused: jansson writes them otherwise, or they are not JSON */
    const char *no[] = {
        "", "[]", "\"s\"", "null", "{", "{}x", "{} ", " {}", "{\"a\": \"b\"}", "{\"a\":\"b\",}",
        "{\"a\":\"b\" }", "{a:1}", "{\"a\":1.5}", "{\"a\":1e3}", "{\"a\":-0}", "{\"a\":01}",
        "{\"a\":1234567890123456789}", "{\"a\":{\"b\":1}}", "{\"a\":[1]}", "{\"a\":\"\\/\"}",
        "{\"a\":\"\\u0041\"}", "{\"a\":\"\\u000a\"}", "{\"a\":\"\\u000A\"}", "{\"a\":\"\\u0000\"}",
        "{\"a\":\"\\u001f\"}", "{\"a\":\"\\x\"}", "{\"a\":\"tab\there\"}", "{\"a\":1,\"a\":2}",
        "{\"a\":\"\xff\"}", "{\"\xc0\x80\":1}", "{\"a\":nul}", "{\"a\":truex}", "{\"a\":\"open}",
    };
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        if (jt_flat_object_canonical(no[i])) fail_msg("took non-canonical %s", no[i]);
    assert_false(jt_flat_object_canonical(NULL));
}

/* A fact's fields: the text jansson wrote for the same object (built here
 * as fact_fields_json built it before: the set fields in table order, text
 * as strings, money as integers, months as "YYYY-MM"). */
static void test_fact_fields_json(void **state) {
    (void)state;
    fact f;
    fact_init(&f, FK_PAYMENT);
    char err[128];
    assert_int_equal(fact_set_text(&f, FF_ID_NO, "42050119500312123X", err, sizeof err), 0);
    assert_int_equal(fact_set_text(&f, FF_NAME, "张\"三\"\t", err, sizeof err), 0);
    assert_int_equal(fact_set_text(&f, FF_PERIOD, "2024-03", err, sizeof err), 0);
    assert_int_equal(fact_set_int(&f, FF_AMOUNT, -123456, err, sizeof err), 0);
    char *got = fact_fields_json(&f);
    assert_non_null(got);
    json_t *o = json_object();
    json_object_set_new(o, "id_no", json_string("42050119500312123X"));
    json_object_set_new(o, "name", json_string("张\"三\""));
    json_object_set_new(o, "period", json_string("2024-03"));
    json_object_set_new(o, "amount", json_integer(-123456));
    char *want = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    assert_string_equal(got, want);
    free(want);
    free(got);
    fact_clear(&f);

    fact e; /* no field set */
    fact_init(&e, FK_DEATH);
    got = fact_fields_json(&e);
    assert_string_equal(got, "{}");
    free(got);
}

int main(void) {
    gg_log_set_level(GG_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strings_as_jansson_writes_them),
        cmocka_unit_test(test_canonical_flat_objects),
        cmocka_unit_test(test_fact_fields_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
