/* test_rules.c - unit tests for rules.c: every cross-match rule of
 * docs/record-model.md with planted cases (exact amount, periods, confidence,
 * evidence) and the controls that must stay silent, plus the regional
 * standard lookup and the rule-independent guarantees (unique, sorted alerts).
 *
 * Facts are built programmatically with fact_set_text() and
 * fact_normalize_identity(); id numbers are real valid ones, their check
 * character computed with ident_check_char(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "model/factset.h"
#include "identity/resolve.h"
#include "fact_builder.h"
#include "rules/rules.h"

#define TODAY 20250601

/* ---- fixture --------------------------------------------------------------- */

typedef struct tb {
    factset fs;
    name_normalizer *nn;
    rules_config rc;
    alert_list al;
    int nref;
    int case_pay_no_id; /* add_case_pay() writes case payments without id_no */
} tb;

static int tb_setup(void **state) {
    tb *t = calloc(1, sizeof *t);
    char err[256];
    if (!t) return -1;
    t->nn = name_normalizer_new(err, sizeof err);
    if (!t->nn) {
        fprintf(stderr, "name_normalizer_new: %s\n", err);
        free(t);
        return -1;
    }
    rules_config_defaults(&t->rc);
    t->rc.today = TODAY;
    *state = t;
    return 0;
}

static int tb_teardown(void **state) {
    tb *t = *state;
    factset_free(&t->fs);
    alert_list_free(&t->al);
    rules_config_free(&t->rc);
    name_normalizer_free(t->nn);
    free(t);
    return 0;
}

/* A valid 18-character id: region (6), birth yyyymmdd (8), sequence (0-999). */
static void mkid(char out[IDENT_LEN + 1], const char *region, const char *birth, int seq) {
    fb_mkid(out, region, birth, seq);
}

/* Adds a fact of kind k from source with "field", "value" pairs (NULL ends);
 * the pseudo-field "ref" sets the record key (default: a counter). */
static void addf(tb *t, fact_kind k, const char *source, ...) {
    va_list ap;
    va_start(ap, source);
    int i = fb_vaddf(&t->fs, t->nn, &t->nref, TODAY, k, source, ap);
    va_end(ap);
    (void)i;
}

static void run(tb *t) {
    identity_stats st;
    assert_int_equal(identity_resolve(&t->fs, &st), 0);
    assert_int_equal(rules_run(&t->fs, &t->rc, &t->al), 0);
}

static const alert *find_alert(const tb *t, rule_id r, const char *subject) {
    for (size_t i = 0; i < t->al.n; i++)
        if (t->al.items[i].rule == r && strcmp(t->al.items[i].subject, subject) == 0) return &t->al.items[i];
    return NULL;
}

static size_t count_rule(const tb *t, rule_id r) {
    size_t n = 0;
    for (size_t i = 0; i < t->al.n; i++) n += t->al.items[i].rule == r;
    return n;
}

static const alert *person_alert(const tb *t, rule_id r, const char *id) {
    char subject[64];
    snprintf(subject, sizeof subject, "person:%s", id);
    return find_alert(t, r, subject);
}

/* Asserts the periods of a, given as a 0-terminated list of yyyymm. */
static void assert_periods(const alert *a, ...) {
    va_list ap;
    va_start(ap, a);
    size_t i = 0;
    int m;
    while ((m = va_arg(ap, int)) != 0) {
        if (i >= a->nperiods) fail_msg("alert %s: expected period %d, has only %zu", a->subject, m, a->nperiods);
        assert_int_equal(a->periods[i], m);
        i++;
    }
    va_end(ap);
    assert_int_equal(a->nperiods, i);
}

static size_t count_ev(const alert *a, const char *role) {
    size_t n = 0;
    for (size_t i = 0; i < a->nev; i++) n += strcmp(a->ev[i].role, role) == 0;
    return n;
}

static json_t *detail(const alert *a) {
    json_error_t je;
    assert_non_null(a->detail_json);
    json_t *j = json_loads(a->detail_json, 0, &je);
    if (!j) fail_msg("detail of %s is not JSON: %s", a->subject, je.text);
    return j;
}

static const char *jstr(json_t *j, const char *key) {
    json_t *v = json_object_get(j, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Monthly pension rows for id from..to (yyyy-mm inclusive), `fen` each. */
static void add_pensions(tb *t, const char *id, int from, int to, const char *fen) {
    for (int m = from; m <= to; m = (m % 100 == 12) ? m + 89 : m + 1) {
        char period[16];
        snprintf(period, sizeof period, "%04d-%02d", m / 100, m % 100);
        addf(t, FK_PAYMENT, "hrss", "id_no", id, "program", "pension", "period", period, "amount", fen, NULL);
    }
}

/* Monthly assistance rows for a case: to the member `id`, or, when the test
 * set t->case_pay_no_id, to the household case alone (no id_no). */
static void add_case_pay(tb *t, const char *case_key, const char *id, int from, int to, const char *fen) {
    for (int m = from; m <= to; m = (m % 100 == 12) ? m + 89 : m + 1) {
        char period[16];
        snprintf(period, sizeof period, "%04d-%02d", m / 100, m % 100);
        if (t->case_pay_no_id)
            addf(t, FK_PAYMENT, "civil", "program", "dibao", "period", period, "amount", fen, "case", case_key, NULL);
        else
            addf(t, FK_PAYMENT, "civil", "id_no", id, "program", "dibao", "period", period, "amount", fen, "case",
                 case_key, NULL);
    }
}

/* ---- rule 1: pension_after_death ------------------------------------------------ */

static void test_pad_planted(void **state) {
    tb *t = *state;
    char a[19], b[19];
    mkid(a, "110101", "19400101", 11);
    mkid(b, "110101", "19410202", 13);
    addf(t, FK_PERSON, "grid", "id_no", a, "name", "张三", "region", "110105", "grid", "G-01", NULL);
    addf(t, FK_DEATH, "psb", "id_no", a, "name", "张三", "death_date", "2024-03-12", "basis",
         "household_deregistration", NULL);
    /* A grid report of the same day is not what gives D when an authoritative death exists. */
    addf(t, FK_DEATH, "grid", "id_no", a, "name", "张三", "death_date", "2024-03-12", "basis", "grid_report", NULL);
    add_pensions(t, a, 202401, 202406, "300000");
    /* Control: alive person with the same payments. */
    addf(t, FK_PERSON, "grid", "id_no", b, "name", "李四", NULL);
    add_pensions(t, b, 202401, 202406, "300000");
    run(t);
    const alert *al = person_alert(t, RULE_PENSION_AFTER_DEATH, a);
    assert_non_null(al);
    assert_int_equal(al->amount, 900000);
    assert_periods(al, 202404, 202405, 202406, 0);
    assert_int_equal(al->conf, CONF_HIGH);
    assert_string_equal(al->id_no, a);
    assert_string_equal(al->name, "张三");
    assert_string_equal(al->region, "110105");
    assert_string_equal(al->grid, "G-01");
    assert_int_equal(count_ev(al, "death"), 1);
    assert_int_equal(count_ev(al, "payment"), 3);
    assert_int_equal(count_ev(al, "person"), 1);
    json_t *d = detail(al);
    assert_string_equal(jstr(d, "death_date"), "2024-03-12");
    assert_string_equal(jstr(d, "basis"), "household_deregistration");
    assert_true(json_is_false(json_object_get(d, "grid_report_only")));
    assert_null(json_object_get(d, "name_conflict"));
    json_decref(d);
    assert_int_equal(count_rule(t, RULE_PENSION_AFTER_DEATH), 1);
}

static void test_pad_death_in_last_paid_month(void **state) {
    tb *t = *state;
    char a[19];
    mkid(a, "320102", "19380509", 21);
    addf(t, FK_DEATH, "civil", "id_no", a, "name", "王五", "death_date", "2024-06-05", "basis", "cremation", NULL);
    add_pensions(t, a, 202401, 202406, "250000");
    run(t);
    assert_int_equal(count_rule(t, RULE_PENSION_AFTER_DEATH), 0);
}

static void test_pad_grace_months(void **state) {
    tb *t = *state;
    char a[19];
    mkid(a, "320102", "19380509", 21);
    addf(t, FK_DEATH, "health", "id_no", a, "name", "王五", "death_date", "2024-03-31", "basis",
         "death_certificate", NULL);
    add_pensions(t, a, 202401, 202406, "250000");
    /* Two rows for the same month both count. */
    addf(t, FK_PAYMENT, "hrss", "id_no", a, "program", "pension", "period", "2024-06", "amount", "1000", NULL);
    /* Assistance payments are not pension. */
    addf(t, FK_PAYMENT, "civil", "id_no", a, "program", "dibao", "period", "2024-06", "amount", "77700", NULL);
    t->rc.grace_months = 1;
    run(t);
    const alert *al = person_alert(t, RULE_PENSION_AFTER_DEATH, a);
    assert_non_null(al);
    assert_int_equal(al->amount, 250000 * 2 + 1000);
    assert_periods(al, 202405, 202406, 0);
    assert_int_equal(count_ev(al, "payment"), 3);
    json_t *d = detail(al);
    assert_int_equal(json_integer_value(json_object_get(d, "grace_months")), 1);
    json_decref(d);
}

static void test_pad_revoked_death(void **state) {
    tb *t = *state;
    char a[19], b[19];
    mkid(a, "440305", "19450101", 31);
    mkid(b, "440305", "19450101", 33);
    /* a: the only death was revoked (registration restored). */
    addf(t, FK_DEATH, "psb", "id_no", a, "name", "赵六", "death_date", "2024-01-10", "basis",
         "household_deregistration", "revoked", "true", NULL);
    add_pensions(t, a, 202401, 202403, "200000");
    /* b: an earlier revoked death does not move D; the later valid one rules. */
    addf(t, FK_DEATH, "psb", "id_no", b, "name", "孙七", "death_date", "2023-11-01", "basis",
         "household_deregistration", "revoked", "1", NULL);
    addf(t, FK_DEATH, "civil", "id_no", b, "name", "孙七", "death_date", "2024-02-20", "basis", "cremation", NULL);
    add_pensions(t, b, 202401, 202403, "200000");
    run(t);
    assert_null(person_alert(t, RULE_PENSION_AFTER_DEATH, a));
    const alert *al = person_alert(t, RULE_PENSION_AFTER_DEATH, b);
    assert_non_null(al);
    assert_int_equal(al->amount, 200000);
    assert_periods(al, 202403, 0);
    assert_int_equal(count_ev(al, "death"), 1);
    assert_int_equal(al->conf, CONF_HIGH);
}

static void test_pad_grid_report_only_is_low(void **state) {
    tb *t = *state;
    char a[19], b[19];
    mkid(a, "510104", "19420707", 41);
    mkid(b, "510104", "19420707", 43);
    addf(t, FK_DEATH, "grid", "id_no", a, "name", "周八", "death_date", "2024-02-02", "basis", "grid_report", NULL);
    add_pensions(t, a, 202401, 202404, "150000");
    /* b: a grid report earlier than the authoritative death does not set D. */
    addf(t, FK_DEATH, "grid", "id_no", b, "name", "吴九", "death_date", "2024-01-05", "basis", "grid_report", NULL);
    addf(t, FK_DEATH, "psb", "id_no", b, "name", "吴九", "death_date", "2024-03-01", "basis",
         "household_deregistration", NULL);
    add_pensions(t, b, 202401, 202404, "150000");
    run(t);
    const alert *al = person_alert(t, RULE_PENSION_AFTER_DEATH, a);
    assert_non_null(al);
    assert_int_equal(al->conf, CONF_LOW);
    assert_int_equal(al->amount, 300000);
    assert_periods(al, 202403, 202404, 0);
    json_t *d = detail(al);
    assert_true(json_is_true(json_object_get(d, "grid_report_only")));
    assert_string_equal(jstr(d, "basis"), "grid_report");
    json_decref(d);
    al = person_alert(t, RULE_PENSION_AFTER_DEATH, b);
    assert_non_null(al);
    assert_int_equal(al->conf, CONF_HIGH);
    assert_int_equal(al->amount, 150000);
    assert_periods(al, 202404, 0);
    d = detail(al);
    assert_string_equal(jstr(d, "death_date"), "2024-03-01");
    json_decref(d);
}

static void test_pad_low_link_by_name_birth(void **state) {
    tb *t = *state;
    char a[19];
    mkid(a, "370202", "19391111", 51);
    addf(t, FK_PERSON, "grid", "id_no", a, "name", "郑十", NULL);
    add_pensions(t, a, 202401, 202404, "180000");
    /* Death record without an id: linked by name + birth date only. */
    addf(t, FK_DEATH, "civil", "name", " 郑十 ", "birth_date", "1939-11-11", "death_date", "2024-01-20", "basis",
         "cremation", NULL);
    run(t);
    const alert *al = person_alert(t, RULE_PENSION_AFTER_DEATH, a);
    assert_non_null(al);
    assert_int_equal(al->conf, CONF_LOW);
    assert_int_equal(al->amount, 180000 * 3);
    int low = 0;
    for (size_t i = 0; i < al->nev; i++)
        if (strcmp(al->ev[i].role, "death") == 0) low = al->ev[i].link == LINK_LOW;
    assert_true(low);
}

static void test_pad_homonym_no_low_link(void **state) {
    tb *t = *state;
    char a[19], b[19];
    mkid(a, "370202", "19391111", 51);
    mkid(b, "370203", "19391111", 53);
    addf(t, FK_PERSON, "grid", "id_no", a, "name", "郑十", NULL);
    addf(t, FK_PERSON, "grid", "id_no", b, "name", "郑十", NULL);
    add_pensions(t, a, 202401, 202404, "180000");
    add_pensions(t, b, 202401, 202404, "180000");
    addf(t, FK_DEATH, "civil", "name", "郑十", "birth_date", "1939-11-11", "death_date", "2024-01-20", "basis",
         "cremation", NULL);
    run(t);
    assert_int_equal(count_rule(t, RULE_PENSION_AFTER_DEATH), 0);
}

static void test_pad_name_conflict_medium(void **state) {
    tb *t = *state;
    char a[19];
    mkid(a, "420106", "19400315", 61);
    addf(t, FK_PERSON, "grid", "id_no", a, "name", "陈小明", NULL);
    addf(t, FK_DEATH, "psb", "id_no", a, "name", "陈晓明", "death_date", "2024-04-01", "basis",
         "household_deregistration", NULL);
    add_pensions(t, a, 202404, 202405, "120000");
    run(t);
    const alert *al = person_alert(t, RULE_PENSION_AFTER_DEATH, a);
    assert_non_null(al);
    assert_int_equal(al->conf, CONF_MEDIUM);
    assert_int_equal(al->amount, 120000);
    assert_string_equal(al->name, "陈小明"); /* the person fact's name */
    json_t *d = detail(al);
    assert_true(json_is_true(json_object_get(d, "name_conflict")));
    json_decref(d);
    const alert *ic = person_alert(t, RULE_IDENTITY_CONFLICT, a);
    assert_non_null(ic);
    assert_int_equal(ic->conf, CONF_HIGH);
    assert_int_equal(ic->amount, 0);
    d = detail(ic);
    json_t *names = json_object_get(d, "names");
    assert_int_equal(json_array_size(names), 2);
    assert_string_equal(jstr(json_array_get(names, 0), "source"), "grid");
    assert_string_equal(jstr(json_array_get(names, 0), "name"), "陈小明");
    assert_string_equal(jstr(json_array_get(names, 1), "source"), "psb");
    assert_string_equal(jstr(json_array_get(names, 1), "name"), "陈晓明");
    assert_int_equal(json_array_size(json_object_get(d, "birth_dates")), 0);
    json_decref(d);
}

/* ---- rule 2: assistance_hidden_income ------------------------------------------ */

/* Case H1 in region 110105, members a (whole time) and b; standard 50000 fen. */
static void income_case(tb *t, char a[19], char b[19], int nmonths_high) {
    mkid(a, "110105", "19700101", 71);
    mkid(b, "110105", "19720202", 72);
    addf(t, FK_ASSISTANCE_MEMBER, "civil", "case", "H1", "program", "dibao", "id_no", a, "name", "甲", "from",
         "2024-01-01", "to", "2024-12-31", "region", "110105", NULL);
    addf(t, FK_ASSISTANCE_MEMBER, "civil", "case", "H1", "program", "dibao", "id_no", b, "name", "乙", "from",
         "2024-01-01", "to", "2024-12-31", NULL);
    add_case_pay(t, "H1", a, 202401, 202406, "90000");
    /* Household income: 2 members x 50000 = 100000 limit; a earns 100001 in
     * the first nmonths_high months (flagged), exactly 100000 afterwards (not). */
    for (int m = 1; m <= 6; m++) {
        char period[16];
        snprintf(period, sizeof period, "2024-%02d", m);
        addf(t, FK_INCOME, "tax", "id_no", a, "period", period, "amount", m <= nmonths_high ? "80001" : "80000",
             NULL);
        addf(t, FK_INCOME, "hrss", "id_no", b, "period", period, "amount", "20000", NULL);
    }
}

static void test_income_two_months_silent(void **state) {
    tb *t = *state;
    char a[19], b[19];
    t->rc.standard_default = 50000;
    income_case(t, a, b, 2);
    run(t);
    assert_int_equal(count_rule(t, RULE_ASSISTANCE_HIDDEN_INCOME), 0);
}

static void test_income_three_months_alert(void **state) {
    tb *t = *state;
    char a[19], b[19];
    t->rc.standard_default = 50000;
    income_case(t, a, b, 3);
    run(t);
    const alert *al = find_alert(t, RULE_ASSISTANCE_HIDDEN_INCOME, "case:H1");
    assert_non_null(al);
    assert_int_equal(al->amount, 3 * 90000);
    assert_periods(al, 202401, 202402, 202403, 0);
    assert_int_equal(al->conf, CONF_HIGH);
    assert_string_equal(al->case_key, "H1");
    assert_string_equal(al->id_no, "");
    assert_string_equal(al->name, "甲");
    assert_int_equal(count_ev(al, "member"), 2);
    assert_int_equal(count_ev(al, "income"), 6);
    assert_int_equal(count_ev(al, "case_payment"), 3);
    json_t *d = detail(al);
    assert_int_equal(json_integer_value(json_object_get(d, "standard")), 50000);
    assert_string_equal(jstr(d, "region"), "110105");
    assert_string_equal(jstr(d, "program"), "dibao");
    json_t *months = json_object_get(d, "months");
    assert_int_equal(json_array_size(months), 3);
    json_t *m0 = json_array_get(months, 0);
    assert_string_equal(jstr(m0, "period"), "2024-01");
    assert_int_equal(json_integer_value(json_object_get(m0, "income")), 100001);
    assert_int_equal(json_integer_value(json_object_get(m0, "members")), 2);
    assert_int_equal(json_integer_value(json_object_get(m0, "limit")), 100000);
    json_decref(d);
}

static void test_income_not_configured_skipped(void **state) {
    tb *t = *state;
    char a[19], b[19];
    income_case(t, a, b, 6); /* standard_default stays -1 */
    run(t);
    assert_int_equal(count_rule(t, RULE_ASSISTANCE_HIDDEN_INCOME), 0);
}

static void test_income_member_who_left_not_counted(void **state) {
    tb *t = *state;
    char a[19], b[19];
    mkid(a, "110105", "19700101", 71);
    mkid(b, "110105", "19950303", 74);
    t->rc.standard_default = 50000;
    t->rc.min_months = 1;
    addf(t, FK_ASSISTANCE_MEMBER, "civil", "case", "H2", "program", "dibao", "id_no", a, "name", "甲", "from",
         "2024-01-01", "to", "2024-06-30", NULL);
    addf(t, FK_ASSISTANCE_MEMBER, "civil", "case", "H2", "program", "dibao", "id_no", b, "name", "丙", "from",
         "2024-01-01", "to", "2024-02-15", NULL);
    add_case_pay(t, "H2", a, 202401, 202406, "60000");
    for (int m = 1; m <= 6; m++) {
        char period[16];
        snprintf(period, sizeof period, "2024-%02d", m);
        addf(t, FK_INCOME, "hrss", "id_no", b, "period", period, "amount", "200000", NULL);
    }
    /* a alone from March: 60000 > 1 x 50000 flags May (b no longer counts as a member). */
    addf(t, FK_INCOME, "tax", "id_no", a, "period", "2024-05", "amount", "60000", NULL);
    run(t);
    const alert *al = find_alert(t, RULE_ASSISTANCE_HIDDEN_INCOME, "case:H2");
    assert_non_null(al);
    /* February counts (enrolled on some day of it); from March on, b left. */
    assert_periods(al, 202401, 202402, 202405, 0);
    assert_int_equal(al->amount, 180000);
    assert_int_equal(count_ev(al, "income"), 3);
    json_t *d = detail(al);
    json_t *months = json_object_get(d, "months");
    assert_int_equal(json_array_size(months), 3);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(months, 1), "members")), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(months, 1), "income")), 200000);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(months, 2), "members")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(months, 2), "limit")), 50000);
    json_decref(d);
}

static void test_income_regional_standard(void **state) {
    tb *t = *state;
    region_standard st[] = {{"11", 50000}, {"1101", 150000}, {"110105", 40000}};
    t->rc.standards = malloc(sizeof st);
    assert_non_null(t->rc.standards);
    memcpy(t->rc.standards, st, sizeof st);
    t->rc.nstandards = 3;
    t->rc.standard_default = 1;
    assert_int_equal(rules_standard_for(&t->rc, "110105"), 40000);
    assert_int_equal(rules_standard_for(&t->rc, "110108"), 150000);
    assert_int_equal(rules_standard_for(&t->rc, "110200"), 50000);
    assert_int_equal(rules_standard_for(&t->rc, "320102"), 1);
    assert_int_equal(rules_standard_for(&t->rc, NULL), 1);

    char a[19], b[19];
    mkid(a, "110108", "19600101", 81);
    mkid(b, "110200", "19600101", 83);
    /* Same income (120000 for one member) under the 1101 standard (150000, silent)
     * and the 11 standard (50000, flagged). Case regions come from the member facts. */
    addf(t, FK_ASSISTANCE_MEMBER, "civil", "case", "R1", "program", "tekun", "id_no", a, "name", "丁", "from",
         "2024-01-01", "to", "2024-03-31", "region", "110108", NULL);
    addf(t, FK_ASSISTANCE_MEMBER, "civil", "case", "R2", "program", "tekun", "id_no", b, "name", "戊", "from",
         "2024-01-01", "to", "2024-03-31", NULL); /* no region: the person's, i.e. the id's 110200 */
    for (int m = 1; m <= 3; m++) {
        char period[16];
        snprintf(period, sizeof period, "2024-%02d", m);
        addf(t, FK_INCOME, "tax", "id_no", a, "period", period, "amount", "120000", NULL);
        addf(t, FK_INCOME, "tax", "id_no", b, "period", period, "amount", "120000", NULL);
    }
    run(t);
    assert_null(find_alert(t, RULE_ASSISTANCE_HIDDEN_INCOME, "case:R1"));
    const alert *al = find_alert(t, RULE_ASSISTANCE_HIDDEN_INCOME, "case:R2");
    assert_non_null(al);
    assert_int_equal(al->amount, 0); /* no payments loaded for R2 */
    json_t *d = detail(al);
    assert_int_equal(json_integer_value(json_object_get(d, "standard")), 50000);
    assert_string_equal(jstr(d, "program"), "tekun");
    json_decref(d);
}

/* ---- rule 3: assistance_hidden_assets ------------------------------------------- */

static void asset_member(tb *t, const char *case_key, const char *id, const char *from, const char *to) {
    if (to)
        addf(t, FK_ASSISTANCE_MEMBER, "civil", "case", case_key, "program", "dibao", "id_no", id, "name", "己",
             "from", from, "to", to, NULL);
    else
        addf(t, FK_ASSISTANCE_MEMBER, "civil", "case", case_key, "program", "dibao", "id_no", id, "name", "己",
             "from", from, NULL);
}

static void test_assets_vehicle_and_exempt(void **state) {
    tb *t = *state;
    char a[19], b[19];
    mkid(a, "330106", "19800101", 91);
    mkid(b, "330106", "19800101", 93);
    asset_member(t, "V1", a, "2024-01-01", "2024-12-31");
    add_case_pay(t, "V1", a, 202401, 202412, "70000");
    addf(t, FK_ASSET, "psb", "id_no", a, "kind", "vehicle", "subkind", "car", "from", "2024-03-15", "to",
         "2024-05-02", "description", "浙A12345", NULL);
    asset_member(t, "V2", b, "2024-01-01", "2024-12-31");
    add_case_pay(t, "V2", b, 202401, 202412, "70000");
    addf(t, FK_ASSET, "psb", "id_no", b, "kind", "vehicle", "subkind", "motorcycle", "from", "2024-03-15", NULL);
    run(t);
    const alert *al = find_alert(t, RULE_ASSISTANCE_HIDDEN_ASSETS, "case:V1");
    assert_non_null(al);
    assert_periods(al, 202403, 202404, 202405, 0);
    assert_int_equal(al->amount, 3 * 70000);
    assert_int_equal(al->conf, CONF_HIGH);
    assert_int_equal(count_ev(al, "asset"), 1);
    assert_int_equal(count_ev(al, "case_payment"), 3);
    json_t *d = detail(al);
    json_t *as = json_object_get(d, "assets");
    assert_int_equal(json_array_size(as), 1);
    assert_string_equal(jstr(json_array_get(as, 0), "member"), a);
    assert_string_equal(jstr(json_array_get(as, 0), "subkind"), "car");
    assert_string_equal(jstr(json_array_get(as, 0), "to"), "2024-05-02");
    assert_int_equal(json_array_size(json_object_get(d, "months")), 3);
    json_decref(d);
    assert_null(find_alert(t, RULE_ASSISTANCE_HIDDEN_ASSETS, "case:V2"));
    assert_int_equal(count_rule(t, RULE_ASSISTANCE_HIDDEN_ASSETS), 1);
}

static void test_assets_before_enrollment_silent(void **state) {
    tb *t = *state;
    char a[19];
    mkid(a, "330106", "19800101", 91);
    asset_member(t, "V3", a, "2023-03-20", NULL);
    add_case_pay(t, "V3", a, 202303, 202312, "70000");
    addf(t, FK_ASSET, "psb", "id_no", a, "kind", "vehicle", "subkind", "car", "from", "2020-01-01", "to",
         "2023-02-28", NULL);
    /* Held in March 2023 but only before the enrollment day (03-20): not while enrolled. */
    addf(t, FK_ASSET, "market", "id_no", a, "kind", "business", "from", "2022-05-01", "to", "2023-03-10", NULL);
    run(t);
    assert_int_equal(count_rule(t, RULE_ASSISTANCE_HIDDEN_ASSETS), 0);
}

static void test_assets_real_estate_overlap(void **state) {
    tb *t = *state;
    char a[19], b[19];
    mkid(a, "350102", "19750505", 101);
    mkid(b, "350102", "19750505", 103);
    /* a: two dwellings at once from 2024-06-10 to 2024-08-20. */
    asset_member(t, "E1", a, "2024-01-01", NULL);
    add_case_pay(t, "E1", a, 202401, 202412, "50000");
    addf(t, FK_ASSET, "housing", "id_no", a, "kind", "real_estate", "from", "2010-01-01", "to", "2024-08-20", NULL);
    addf(t, FK_ASSET, "housing", "id_no", a, "kind", "real_estate", "from", "2024-06-10", NULL);
    /* b: sold one, then bought another: sequential, silent. */
    asset_member(t, "E2", b, "2024-01-01", NULL);
    add_case_pay(t, "E2", b, 202401, 202412, "50000");
    addf(t, FK_ASSET, "housing", "id_no", b, "kind", "real_estate", "from", "2010-01-01", "to", "2024-06-09", NULL);
    addf(t, FK_ASSET, "housing", "id_no", b, "kind", "real_estate", "from", "2024-06-10", NULL);
    run(t);
    const alert *al = find_alert(t, RULE_ASSISTANCE_HIDDEN_ASSETS, "case:E1");
    assert_non_null(al);
    assert_periods(al, 202406, 202407, 202408, 0);
    assert_int_equal(al->amount, 150000);
    assert_int_equal(count_ev(al, "asset"), 2);
    assert_null(find_alert(t, RULE_ASSISTANCE_HIDDEN_ASSETS, "case:E2"));
}

static void test_assets_business(void **state) {
    tb *t = *state;
    char a[19], b[19];
    mkid(a, "610113", "19880808", 111);
    mkid(b, "610113", "19900909", 112);
    /* b is the member with the business; a (first member) gives name/region. */
    addf(t, FK_PERSON, "grid", "id_no", a, "name", "庚", "region", "610113", "grid", "X-9", NULL);
    asset_member(t, "B1", a, "2024-01-01", NULL);
    asset_member(t, "B1", b, "2024-04-01", NULL);
    add_case_pay(t, "B1", a, 202401, 202406, "80000");
    addf(t, FK_ASSET, "market", "id_no", b, "kind", "business", "from", "2023-01-01", "to", "2024-05-10",
         "description", "个体工商户", NULL);
    run(t);
    const alert *al = find_alert(t, RULE_ASSISTANCE_HIDDEN_ASSETS, "case:B1");
    assert_non_null(al);
    /* Held while b is enrolled: April and May 2024. */
    assert_periods(al, 202404, 202405, 0);
    assert_int_equal(al->amount, 160000);
    assert_string_equal(al->name, "庚");
    assert_string_equal(al->grid, "X-9");
    assert_int_equal(count_ev(al, "member"), 1);
}

/* ---- rule 4: assistance_deceased_member ----------------------------------------- */

static void test_deceased_member(void **state) {
    tb *t = *state;
    char a[19], b[19], c[19], d[19];
    mkid(a, "230103", "19500101", 121); /* dies, still enrolled (ongoing) */
    mkid(b, "230103", "19500101", 123); /* left the case before dying */
    mkid(c, "230103", "19500101", 125); /* grid report only */
    mkid(d, "230103", "19500101", 127); /* dies, enrolled until later that year */
    addf(t, FK_ASSISTANCE_MEMBER, "civil", "case", "D1", "program", "dibao", "id_no", a, "name", "甲一", "from",
         "2023-01-01", NULL);
    add_case_pay(t, "D1", a, 202401, 202406, "60000");
    addf(t, FK_DEATH, "psb", "id_no", a, "name", "甲一", "death_date", "2024-03-10", "basis",
         "household_deregistration", NULL);

    addf(t, FK_ASSISTANCE_MEMBER, "civil", "case", "D2", "program", "dibao", "id_no", b, "name", "乙一", "from",
         "2023-01-01", "to", "2024-02-29", NULL);
    add_case_pay(t, "D2", b, 202401, 202406, "60000");
    addf(t, FK_DEATH, "civil", "id_no", b, "name", "乙一", "death_date", "2024-03-10", "basis", "cremation", NULL);

    addf(t, FK_ASSISTANCE_MEMBER, "civil", "case", "D3", "program", "dibao", "id_no", c, "name", "丙一", "from",
         "2023-01-01", NULL);
    add_case_pay(t, "D3", c, 202401, 202406, "60000");
    addf(t, FK_DEATH, "grid", "id_no", c, "name", "丙一", "death_date", "2024-03-10", "basis", "grid_report", NULL);

    addf(t, FK_ASSISTANCE_MEMBER, "civil", "case", "D4", "program", "tekun", "id_no", d, "name", "丁一", "from",
         "2023-01-01", "to", "2024-05-15", NULL);
    add_case_pay(t, "D4", d, 202401, 202406, "60000");
    addf(t, FK_DEATH, "health", "id_no", d, "name", "丁一", "death_date", "2024-03-10", "basis",
         "death_certificate", NULL);
    run(t);

    char subject[96];
    snprintf(subject, sizeof subject, "case:D1/person:%s", a);
    const alert *al = find_alert(t, RULE_ASSISTANCE_DECEASED_MEMBER, subject);
    assert_non_null(al);
    assert_periods(al, 202404, 202405, 202406, 0);
    assert_int_equal(al->amount, 180000);
    assert_int_equal(al->conf, CONF_HIGH);
    assert_string_equal(al->id_no, a);
    assert_string_equal(al->case_key, "D1");
    assert_int_equal(count_ev(al, "death"), 1);
    assert_int_equal(count_ev(al, "member"), 1);
    assert_int_equal(count_ev(al, "case_payment"), 3);
    json_t *j = detail(al);
    assert_string_equal(jstr(j, "member"), a);
    assert_string_equal(jstr(j, "death_date"), "2024-03-10");
    assert_true(json_is_null(json_object_get(j, "member_to")));
    json_decref(j);

    snprintf(subject, sizeof subject, "case:D4/person:%s", d);
    al = find_alert(t, RULE_ASSISTANCE_DECEASED_MEMBER, subject);
    assert_non_null(al);
    assert_periods(al, 202404, 202405, 0);
    assert_int_equal(al->amount, 120000);
    j = detail(al);
    assert_string_equal(jstr(j, "member_to"), "2024-05-15");
    assert_string_equal(jstr(j, "program"), "tekun");
    json_decref(j);

    assert_int_equal(count_rule(t, RULE_ASSISTANCE_DECEASED_MEMBER), 2); /* not D2, not D3 */
}

/* ---- rule 5: pension_in_custody ----------------------------------------------------- */

static void test_custody(void **state) {
    tb *t = *state;
    char a[19], b[19], c[19], d[19];
    mkid(a, "500103", "19550101", 131);
    mkid(b, "500103", "19550101", 133);
    mkid(c, "500103", "19550101", 135);
    mkid(d, "500103", "19550101", 137);
    /* a: imprisonment mid-March to mid-August: only April..July are whole months inside. */
    addf(t, FK_CUSTODY, "justice", "id_no", a, "kind", "imprisonment", "from", "2024-03-15", "to", "2024-08-10",
         NULL);
    add_pensions(t, a, 202402, 202409, "100000");
    /* b: detention never triggers. */
    addf(t, FK_CUSTODY, "psb", "id_no", b, "kind", "detention", "from", "2024-01-01", "to", "2024-12-31", NULL);
    add_pensions(t, b, 202402, 202409, "100000");
    /* c: custody ended before the paid months. */
    addf(t, FK_CUSTODY, "justice", "id_no", c, "kind", "imprisonment", "from", "2020-01-01", "to", "2023-12-31",
         NULL);
    add_pensions(t, c, 202401, 202403, "100000");
    /* d: ongoing imprisonment from the first of a month (whole month inside). */
    addf(t, FK_CUSTODY, "justice", "id_no", d, "kind", "imprisonment", "from", "2024-06-01", NULL);
    add_pensions(t, d, 202405, 202407, "100000");
    run(t);
    const alert *al = person_alert(t, RULE_PENSION_IN_CUSTODY, a);
    assert_non_null(al);
    assert_periods(al, 202404, 202405, 202406, 202407, 0);
    assert_int_equal(al->amount, 400000);
    assert_int_equal(al->conf, CONF_HIGH);
    assert_int_equal(count_ev(al, "custody"), 1);
    assert_int_equal(count_ev(al, "payment"), 4);
    json_t *j = detail(al);
    assert_string_equal(jstr(j, "custody_from"), "2024-03-15");
    assert_string_equal(jstr(j, "custody_to"), "2024-08-10");
    assert_string_equal(jstr(j, "custody_kind"), "imprisonment");
    json_decref(j);
    assert_null(person_alert(t, RULE_PENSION_IN_CUSTODY, b));
    assert_null(person_alert(t, RULE_PENSION_IN_CUSTODY, c));
    al = person_alert(t, RULE_PENSION_IN_CUSTODY, d);
    assert_non_null(al);
    assert_periods(al, 202406, 202407, 0);
    assert_int_equal(al->amount, 200000);
    assert_int_equal(count_rule(t, RULE_PENSION_IN_CUSTODY), 2);
}

/* ---- rule 6: duplicate_assistance ---------------------------------------------------- */

static void test_duplicate_later_case(void **state) {
    tb *t = *state;
    char a[19], b[19];
    mkid(a, "130102", "19660606", 141);
    mkid(b, "130102", "19660606", 143);
    /* a: in K1 since 2023, then also in K2 for March..June 2024. */
    addf(t, FK_ASSISTANCE_MEMBER, "civil", "case", "K1", "program", "dibao", "id_no", a, "name", "甲二", "from",
         "2023-01-01", NULL);
    addf(t, FK_ASSISTANCE_MEMBER, "civil2", "case", "K2", "program", "dibao", "id_no", a, "name", "甲二", "from",
         "2024-03-20", "to", "2024-06-05", NULL);
    add_case_pay(t, "K1", a, 202401, 202408, "50000");
    add_case_pay(t, "K2", a, 202402, 202407, "40000");
    /* b: two cases one after the other: silent. */
    addf(t, FK_ASSISTANCE_MEMBER, "civil", "case", "K3", "program", "dibao", "id_no", b, "name", "乙二", "from",
         "2023-01-01", "to", "2023-12-31", NULL);
    addf(t, FK_ASSISTANCE_MEMBER, "civil", "case", "K4", "program", "dibao", "id_no", b, "name", "乙二", "from",
         "2024-01-01", NULL);
    add_case_pay(t, "K3", b, 202301, 202312, "50000");
    add_case_pay(t, "K4", b, 202401, 202406, "50000");
    run(t);
    const alert *al = person_alert(t, RULE_DUPLICATE_ASSISTANCE, a);
    assert_non_null(al);
    assert_periods(al, 202403, 202404, 202405, 202406, 0);
    assert_int_equal(al->amount, 4 * 40000); /* K2's payments in the overlap only */
    assert_int_equal(al->conf, CONF_HIGH);
    assert_int_equal(count_ev(al, "member"), 2);
    assert_int_equal(count_ev(al, "case_payment"), 4);
    json_t *j = detail(al);
    assert_string_equal(jstr(j, "earlier_case"), "K1");
    assert_string_equal(jstr(j, "later_case"), "K2");
    assert_string_equal(jstr(j, "overlap_from"), "2024-03");
    assert_string_equal(jstr(j, "overlap_to"), "2024-06");
    json_decref(j);
    assert_null(person_alert(t, RULE_DUPLICATE_ASSISTANCE, b));
}

static void test_duplicate_tie_greater_key(void **state) {
    tb *t = *state;
    char a[19];
    mkid(a, "130102", "19660606", 141);
    /* Same start date: the later case is the greater key, "Z9" (not "A1"). */
    addf(t, FK_ASSISTANCE_MEMBER, "civil", "case", "Z9", "program", "tekun", "id_no", a, "name", "甲二", "from",
         "2024-01-01", "to", "2024-02-28", NULL);
    addf(t, FK_ASSISTANCE_MEMBER, "civil", "case", "A1", "program", "dibao", "id_no", a, "name", "甲二", "from",
         "2024-01-01", "to", "2024-03-31", NULL);
    add_case_pay(t, "A1", a, 202401, 202403, "11100");
    for (int m = 1; m <= 3; m++) {
        char period[16];
        snprintf(period, sizeof period, "2024-%02d", m);
        addf(t, FK_PAYMENT, "civil", "id_no", a, "program", "tekun", "period", period, "amount", "22200", "case",
             "Z9", NULL);
    }
    run(t);
    const alert *al = person_alert(t, RULE_DUPLICATE_ASSISTANCE, a);
    assert_non_null(al);
    assert_periods(al, 202401, 202402, 0);
    assert_int_equal(al->amount, 2 * 22200);
    json_t *j = detail(al);
    assert_string_equal(jstr(j, "earlier_case"), "A1");
    assert_string_equal(jstr(j, "later_case"), "Z9");
    json_decref(j);
}

/* ---- rule 7: identity_conflict ------------------------------------------------------- */

static void test_birth_date_conflict(void **state) {
    tb *t = *state;
    char a[19], b[19];
    mkid(a, "210102", "19480808", 151);
    mkid(b, "210102", "19480808", 153);
    addf(t, FK_PERSON, "grid", "id_no", a, "name", "辛", "birth_date", "1948-08-18", NULL);
    addf(t, FK_PERSON, "hukou", "id_no", a, "name", "辛", "birth_date", "1948-08-08", NULL);
    addf(t, FK_DEATH, "psb", "id_no", a, "name", "辛", "death_date", "2024-01-01", "basis",
         "household_deregistration", NULL);
    add_pensions(t, a, 202401, 202402, "90000");
    /* b: stated birth date agrees with the id: no notice. */
    addf(t, FK_PERSON, "grid", "id_no", b, "name", "壬", "birth_date", "1948-08-08", NULL);
    run(t);
    const alert *ic = person_alert(t, RULE_IDENTITY_CONFLICT, a);
    assert_non_null(ic);
    assert_int_equal(ic->amount, 0);
    assert_int_equal(ic->conf, CONF_HIGH);
    json_t *j = detail(ic);
    json_t *bd = json_object_get(j, "birth_dates");
    assert_int_equal(json_array_size(bd), 1);
    assert_string_equal(jstr(json_array_get(bd, 0), "source"), "grid");
    assert_string_equal(jstr(json_array_get(bd, 0), "stated"), "1948-08-18");
    assert_string_equal(jstr(json_array_get(bd, 0), "embedded"), "1948-08-08");
    json_decref(j);
    assert_null(person_alert(t, RULE_IDENTITY_CONFLICT, b));
    /* A birth-date conflict does not lower other alerts. */
    const alert *pad = person_alert(t, RULE_PENSION_AFTER_DEATH, a);
    assert_non_null(pad);
    assert_int_equal(pad->conf, CONF_HIGH);
    assert_int_equal(pad->amount, 90000);
}

/* A name on an income row (contribution records) that differs from the grid
 * register is a name conflict like one on a person fact: identity_conflict
 * names both sources and shows the income row as evidence, and the pension
 * alert drops to medium. A stated birth date on a custody row that differs
 * from the id's is a birth-date conflict that lowers nothing. */
static void test_conflicts_from_income_and_custody(void **state) {
    tb *t = *state;
    char a[19], b[19];
    mkid(a, "420502", "19480305", 161);
    mkid(b, "420502", "19480305", 163);
    addf(t, FK_PERSON, "grid", "id_no", a, "name", "王五", NULL);
    addf(t, FK_INCOME, "hrss", "id_no", a, "name", "王武", "birth_date", "1948年3月5日", "period", "2023-06",
         "amount", "300000", NULL);
    addf(t, FK_DEATH, "psb", "id_no", a, "name", "王五", "death_date", "2024-01-10", "basis",
         "household_deregistration", NULL);
    add_pensions(t, a, 202402, 202403, "150000");
    addf(t, FK_PERSON, "grid", "id_no", b, "name", "钱八", NULL);
    addf(t, FK_CUSTODY, "justice", "id_no", b, "name", "钱八", "birth_date", "19480306", "from", "2024-01-01",
         "kind", "imprisonment", NULL);
    add_pensions(t, b, 202402, 202403, "150000");
    run(t);
    const alert *pad = person_alert(t, RULE_PENSION_AFTER_DEATH, a);
    assert_non_null(pad);
    assert_int_equal(pad->conf, CONF_MEDIUM);
    assert_int_equal(pad->amount, 300000);
    const alert *ic = person_alert(t, RULE_IDENTITY_CONFLICT, a);
    assert_non_null(ic);
    assert_int_equal(count_ev(ic, "income"), 1);
    json_t *d = detail(ic);
    json_t *names = json_object_get(d, "names");
    assert_int_equal(json_array_size(names), 3); /* one per (source, name): grid, hrss, psb */
    assert_string_equal(jstr(json_array_get(names, 0), "source"), "grid");
    assert_string_equal(jstr(json_array_get(names, 1), "source"), "hrss");
    assert_string_equal(jstr(json_array_get(names, 1), "name"), "王武");
    assert_string_equal(jstr(json_array_get(names, 2), "source"), "psb");
    assert_int_equal(json_array_size(json_object_get(d, "birth_dates")), 0); /* the income's agrees */
    json_decref(d);
    ic = person_alert(t, RULE_IDENTITY_CONFLICT, b);
    assert_non_null(ic);
    assert_int_equal(count_ev(ic, "custody"), 1);
    d = detail(ic);
    json_t *bd = json_object_get(d, "birth_dates");
    assert_int_equal(json_array_size(bd), 1);
    assert_string_equal(jstr(json_array_get(bd, 0), "source"), "justice");
    assert_string_equal(jstr(json_array_get(bd, 0), "stated"), "1948-03-06");
    json_decref(d);
    const alert *cus = person_alert(t, RULE_PENSION_IN_CUSTODY, b);
    assert_non_null(cus);
    assert_int_equal(cus->conf, CONF_HIGH);
}

/* Assistance paid to the household case, without an id: the case rules read
 * the payments by case and give the same alerts, amounts and evidence as when
 * each payment names a member. */
static void test_income_case_paid(void **state) {
    ((tb *)*state)->case_pay_no_id = 1;
    test_income_three_months_alert(state);
}
static void test_assets_case_paid(void **state) {
    ((tb *)*state)->case_pay_no_id = 1;
    test_assets_vehicle_and_exempt(state);
}
static void test_deceased_member_case_paid(void **state) {
    ((tb *)*state)->case_pay_no_id = 1;
    test_deceased_member(state);
}
static void test_duplicate_case_paid(void **state) {
    ((tb *)*state)->case_pay_no_id = 1;
    test_duplicate_later_case(state);
}

/* ---- cross-cutting ---------------------------------------------------------------------- */

static void test_sorted_unique_and_disabled(void **state) {
    tb *t = *state;
    char a[19], b[19];
    mkid(a, "110101", "19400101", 11);
    mkid(b, "110101", "19400101", 13);
    /* Both dead with overpaid pensions, and both with a name conflict. */
    const char *ids[2] = {b, a};
    for (int i = 0; i < 2; i++) {
        addf(t, FK_PERSON, "grid", "id_no", ids[i], "name", "张", NULL);
        addf(t, FK_DEATH, "psb", "id_no", ids[i], "name", "章", "death_date", "2024-01-01", "basis", "cremation",
             NULL);
        addf(t, FK_DEATH, "psb2", "id_no", ids[i], "name", "章", "death_date", "2024-01-01", "basis",
             "death_certificate", NULL);
        add_pensions(t, ids[i], 202401, 202402, "1000");
    }
    t->rc.enabled[RULE_PENSION_IN_CUSTODY] = 0;
    run(t);
    assert_int_equal(t->al.n, 4);
    for (size_t i = 1; i < t->al.n; i++) {
        const alert *x = &t->al.items[i - 1], *y = &t->al.items[i];
        assert_true(x->rule < y->rule || (x->rule == y->rule && strcmp(x->subject, y->subject) < 0));
    }
    const alert *pad = person_alert(t, RULE_PENSION_AFTER_DEATH, a);
    assert_non_null(pad);
    assert_int_equal(count_ev(pad, "death"), 2); /* both facts give D */
    assert_int_equal(pad->amount, 1000);

    /* Disabling a rule silences it. */
    alert_list_free(&t->al);
    t->rc.enabled[RULE_IDENTITY_CONFLICT] = 0;
    assert_int_equal(rules_run(&t->fs, &t->rc, &t->al), 0);
    assert_int_equal(t->al.n, 2);
    assert_int_equal(count_rule(t, RULE_IDENTITY_CONFLICT), 0);
}

static void test_unresolved_factset_refused(void **state) {
    tb *t = *state;
    char a[19];
    mkid(a, "110101", "19400101", 11);
    addf(t, FK_PERSON, "grid", "id_no", a, "name", "张", NULL);
    assert_int_equal(rules_run(&t->fs, &t->rc, &t->al), -1);
    assert_int_equal(t->al.n, 0);
}

static void test_config_defaults(void **state) {
    (void)state;
    rules_config rc;
    rules_config_defaults(&rc);
    for (int r = 0; r < RULE__COUNT; r++) assert_int_equal(rc.enabled[r], 1);
    assert_int_equal(rc.grace_months, 0);
    assert_int_equal(rc.min_months, 3);
    assert_int_equal(rc.standard_default, -1);
    assert_int_equal(rc.nexempt, 2);
    assert_string_equal(rc.exempt_subkinds[0], "motorcycle");
    assert_string_equal(rc.exempt_subkinds[1], "disability_vehicle");
    assert_int_equal(rules_standard_for(&rc, "110101"), -1);
    rules_config_free(&rc);
    assert_null(rc.exempt_subkinds);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, tb_setup, tb_teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        T(test_pad_planted),
        T(test_pad_death_in_last_paid_month),
        T(test_pad_grace_months),
        T(test_pad_revoked_death),
        T(test_pad_grid_report_only_is_low),
        T(test_pad_low_link_by_name_birth),
        T(test_pad_homonym_no_low_link),
        T(test_pad_name_conflict_medium),
        T(test_income_two_months_silent),
        T(test_income_three_months_alert),
        T(test_income_not_configured_skipped),
        T(test_income_member_who_left_not_counted),
        T(test_income_regional_standard),
        T(test_assets_vehicle_and_exempt),
        T(test_assets_before_enrollment_silent),
        T(test_assets_real_estate_overlap),
        T(test_assets_business),
        T(test_deceased_member),
        T(test_custody),
        T(test_duplicate_later_case),
        T(test_duplicate_tie_greater_key),
        T(test_birth_date_conflict),
        T(test_conflicts_from_income_and_custody),
        T(test_income_case_paid),
        T(test_assets_case_paid),
        T(test_deceased_member_case_paid),
        T(test_duplicate_case_paid),
        T(test_sorted_unique_and_disabled),
        T(test_unresolved_factset_refused),
        cmocka_unit_test(test_config_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
