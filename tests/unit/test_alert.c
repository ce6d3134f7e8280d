/* test_alert.c - unit tests for alert.c: stable ids (checked against an
 * independent FNV-1a reference), periods, fingerprints, money formatting, JSON
 * round trip and bad input, masking of ids and names in JSON and text, and the
 * zh-CN explanation of every rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alerts/alert.h"
#include "model/fact.h"
#include "model/ident.h"
#include "rules/rules.h"

/* Valid GB 11643 numbers (check characters computed independently). */
#define ID_A "420501195003121233"
#define ID_B "11010519491231002X"
#define ID_C "420501196005024562"
#define NAME_A "张三丰"
#define NAME_C "李四光"

/* ---- helpers ------------------------------------------------------------- */

/* Reference FNV-1a 64, written independently of alert.c: table of bytes, index loop. */
static uint64_t ref_fnv1a(const unsigned char *bytes, size_t n) {
    uint64_t hash = UINT64_C(0xcbf29ce484222325);
    size_t i = 0;
    while (i < n) {
        hash = (hash ^ (uint64_t)bytes[i]) * UINT64_C(0x100000001b3);
        i++;
    }
    return hash;
}

static void make_fact(fact *f, fact_kind k, const char *source, const char *ref, const char *raw,
                      const char *const *kv) {
    char err[128];
    fact_init(f, k);
    f->source = strdup(source);
    f->ref = strdup(ref);
    f->raw_json = raw ? strdup(raw) : NULL;
    assert_non_null(f->source);
    assert_non_null(f->ref);
    for (size_t i = 0; kv[i]; i += 2) {
        fact_field ff;
        assert_int_equal(fact_field_parse(kv[i], &ff), 0);
        if (fact_set_text(f, ff, kv[i + 1], err, sizeof err) != 0) fail_msg("set %s: %s", kv[i], err);
    }
}

static void add_ev(alert *a, const char *role, fact_kind k, const char *source, const char *ref,
                   const char *raw, link_conf link, const char *const *kv) {
    fact f;
    make_fact(&f, k, source, ref, raw, kv);
    assert_int_equal(alert_add_evidence(a, role, &f, link), 0);
    fact_clear(&f);
}

static void set_str(char **dst, const char *s) {
    free(*dst);
    *dst = strdup(s);
    assert_non_null(*dst);
}

static const char *test_label(void *ud, const char *source) {
    (void)ud;
    if (strcmp(source, "psb") == 0) return "公安";
    if (strcmp(source, "civil") == 0) return "民政";
    if (strcmp(source, "hr") == 0) return NULL; /* unlabeled: falls back to the name */
    return "";
}

/* Fails when `text` holds a run of 15+ ASCII digits (an unmasked id-like number). */
static void assert_no_digit_run(const char *text) {
    int run = 0;
    for (const char *p = text; *p; p++) {
        run = (*p >= '0' && *p <= '9') ? run + 1 : 0;
        if (run >= 15) fail_msg("15+ digit run in: %s", text);
    }
}

static void assert_contains(const char *text, const char *needle) {
    if (!strstr(text, needle)) fail_msg("expected \"%s\" in:\n%s", needle, text);
}

static void assert_not_contains(const char *text, const char *needle) {
    if (strstr(text, needle)) fail_msg("did not expect \"%s\" in:\n%s", needle, text);
}

static const char *last_line(const char *text) {
    const char *nl = strrchr(text, '\n');
    return nl ? nl + 1 : text;
}

/* A pension_after_death alert for ID_A/NAME_A paid 2024-04..2024-09, 3,100 yuan a month. */
static void build_pad(alert *a) {
    alert_init(a, RULE_PENSION_AFTER_DEATH, "person:" ID_A);
    memcpy(a->id_no, ID_A, sizeof a->id_no);
    set_str(&a->name, NAME_A);
    set_str(&a->region, "420501");
    set_str(&a->grid, "G-0107");
    a->conf = CONF_HIGH;
    set_str(&a->detail_json, "{\"death_date\":\"2024-03-12\",\"basis\":\"household_deregistration\","
                             "\"grace_months\":0,\"grid_report_only\":false}");
    add_ev(a, "death", FK_DEATH, "psb", "D2024-0001",
           "{\"sfzhm\":\"420501 19500312 1233\",\"xm\":\"張三豐\",\"swrq\":\"20240312\"}", LINK_HIGH,
           (const char *const[]){"id_no", ID_A, "name", NAME_A, "death_date", "2024-03-12", "basis",
                                 "household_deregistration", NULL});
    for (int m = 4; m <= 9; m++) {
        char ref[32], period[16];
        snprintf(ref, sizeof ref, "P-2024%02d-77", m);
        snprintf(period, sizeof period, "2024-%02d", m);
        add_ev(a, "payment", FK_PAYMENT, "hr", ref, NULL, LINK_HIGH,
               (const char *const[]){"id_no", ID_A, "program", "pension", "period", period, "amount",
                                     "310000", "name", NAME_A, NULL});
        assert_int_equal(alert_add_period(a, 202400 + m), 0);
        a->amount += 310000;
    }
}

/* ---- ids and names ------------------------------------------------------- */

static void test_reference_fnv_vectors(void **state) {
    (void)state;
    /* Published FNV-1a 64 test vectors validate the reference loop itself. */
    assert_true(ref_fnv1a((const unsigned char *)"", 0) == UINT64_C(0xcbf29ce484222325));
    assert_true(ref_fnv1a((const unsigned char *)"a", 1) == UINT64_C(0xaf63dc4c8601ec8c));
    assert_true(ref_fnv1a((const unsigned char *)"foobar", 6) == UINT64_C(0x85944171f73967e8));
}

static void test_make_id_exact_and_stable(void **state) {
    (void)state;
    char id1[40], id2[40], want[40];
    alert_make_id(RULE_PENSION_AFTER_DEATH, "person:" ID_A, id1);
    /* Python oracle: fnv1a64(b"pension_after_death|person:420501195003121233") */
    assert_string_equal(id1, "PAD-e10e178245aadc26");
    const char *in = "pension_after_death|person:" ID_A;
    snprintf(want, sizeof want, "PAD-%016llx",
             (unsigned long long)ref_fnv1a((const unsigned char *)in, strlen(in)));
    assert_string_equal(id1, want);
    alert_make_id(RULE_PENSION_AFTER_DEATH, "person:" ID_A, id2);
    assert_string_equal(id1, id2);

    alert_make_id(RULE_IDENTITY_CONFLICT, "person:" ID_B, id1);
    assert_string_equal(id1, "IDC-5a4f6f73c6cc91ed");

    /* Another subject or rule gives another id. */
    alert_make_id(RULE_PENSION_AFTER_DEATH, "person:" ID_C, id2);
    assert_string_not_equal(id2, "PAD-e10e178245aadc26");
    alert_make_id(RULE_PENSION_IN_CUSTODY, "person:" ID_A, id2);
    assert_int_equal(strncmp(id2, "PIC-", 4), 0);
    assert_string_not_equal(id2 + 4, "e10e178245aadc26");

    /* alert_init computes the same id. */
    alert a;
    alert_init(&a, RULE_PENSION_AFTER_DEATH, "person:" ID_A);
    assert_string_equal(a.id, "PAD-e10e178245aadc26");
    assert_string_equal(a.subject, "person:" ID_A);
    assert_int_equal(a.nev, 0);
    assert_int_equal(a.nperiods, 0);
    alert_free(&a);
}

static void test_rule_tables(void **state) {
    (void)state;
    static const char *prefixes[RULE__COUNT] = {"PAD", "AHI", "AHA", "ADM", "PIC", "DUP", "IDC"};
    static const char *names[RULE__COUNT] = {"pension_after_death", "assistance_hidden_income",
                                             "assistance_hidden_assets", "assistance_deceased_member",
                                             "pension_in_custody", "duplicate_assistance",
                                             "identity_conflict"};
    static const char *titles[RULE__COUNT] = {"死亡后仍发放养老金", "低保家庭隐瞒收入", "低保家庭隐瞒财产",
                                              "已故成员仍在保并领取救助", "服刑期间领取养老金",
                                              "重复享受救助", "身份信息冲突"};
    for (int r = 0; r < RULE__COUNT; r++) {
        char id[40];
        rule_id back;
        alert_make_id((rule_id)r, "case:X", id);
        assert_int_equal(strncmp(id, prefixes[r], 3), 0);
        assert_int_equal(id[3], '-');
        assert_int_equal(strlen(id), 20);
        for (int i = 4; i < 20; i++) assert_non_null(strchr("0123456789abcdef", id[i]));
        assert_string_equal(rule_name((rule_id)r), names[r]);
        assert_string_equal(rule_title_zh((rule_id)r), titles[r]);
        assert_int_equal(rule_parse(names[r], &back), 0);
        assert_int_equal(back, r);
    }
    rule_id dummy;
    assert_int_equal(rule_parse("pension_after_life", &dummy), -1);
    assert_int_equal(rule_parse(NULL, &dummy), -1);
    assert_string_equal(confidence_zh(CONF_HIGH), "高");
    assert_string_equal(confidence_zh(CONF_MEDIUM), "中");
    assert_string_equal(confidence_zh(CONF_LOW), "低");
    assert_string_equal(confidence_name(CONF_MEDIUM), "medium");
}

/* Every registered rule: a unique name and prefix, a title, an evaluation, an
 * explanation, the fact kinds it reads, and help for each of its keys. */
static void test_rule_registry(void **state) {
    (void)state;
    assert_true(rules_count() >= RULE__COUNT);
    assert_true(rules_count() <= RULES_MAX);
    assert_null(rules_get((rule_id)rules_count()));
    assert_null(alert_rule_get((rule_id)-1));
    for (size_t i = 0; i < rules_count(); i++) {
        const rule_desc *d = rules_get((rule_id)i);
        rule_id back;
        assert_non_null(d);
        assert_ptr_equal(alert_rule_get((rule_id)i), &d->info);
        assert_true(d->info.name && *d->info.name);
        assert_true(d->info.title_zh && *d->info.title_zh);
        assert_true(d->info.prefix && strlen(d->info.prefix) == 3);
        assert_non_null(d->info.explain);
        assert_non_null(d->evaluate);
        assert_true(d->nneeds > 0);
        assert_ptr_equal(rules_find(d->info.name, &back), d);
        assert_int_equal(back, (int)i);
        for (size_t k = 0; k < d->nkeys; k++) assert_true(d->keys[k].help && *d->keys[k].help);
        for (size_t j = 0; j < i; j++) {
            assert_string_not_equal(rules_get((rule_id)j)->info.name, d->info.name);
            assert_string_not_equal(rules_get((rule_id)j)->info.prefix, d->info.prefix);
        }
    }
    assert_null(rules_find("pension_after_life", NULL));
}

/* ---- periods, money ------------------------------------------------------ */

static void test_periods_sorted_dedup(void **state) {
    (void)state;
    alert a;
    alert_init(&a, RULE_PENSION_IN_CUSTODY, "person:" ID_A);
    int in[] = {202406, 202401, 202412, 202406, 202311, 202401, 202501};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) assert_int_equal(alert_add_period(&a, in[i]), 0);
    int want[] = {202311, 202401, 202406, 202412, 202501};
    assert_int_equal(a.nperiods, 5);
    for (size_t i = 0; i < 5; i++) assert_int_equal(a.periods[i], want[i]);
    assert_int_equal(alert_add_period(&a, 202413), -1);
    assert_int_equal(alert_add_period(&a, 202400), -1);
    assert_int_equal(alert_add_period(&a, 2024), -1);
    assert_int_equal(a.nperiods, 5);
    alert_free(&a);
}

static void test_fen_format(void **state) {
    (void)state;
    char out[32];
    struct { int64_t fen; const char *want; } cases[] = {
        {1860000, "18,600.00"}, {-123450, "-1,234.50"}, {5, "0.05"},       {0, "0.00"},
        {100, "1.00"},          {99999, "999.99"},      {100000, "1,000.00"}, {-5, "-0.05"},
        {123456789, "1,234,567.89"}, {100000000000, "1,000,000,000.00"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fen_format(cases[i].fen, out, sizeof out);
        assert_string_equal(out, cases[i].want);
    }
    fen_format(INT64_MIN, out, sizeof out);
    assert_string_equal(out, "-92,233,720,368,547,758.08");
    char tiny[6];
    fen_format(1860000, tiny, sizeof tiny); /* truncates, never overflows */
    assert_int_equal(strlen(tiny), 5);
}

/* ---- fingerprints -------------------------------------------------------- */

static void test_fingerprint_changes(void **state) {
    (void)state;
    alert a;
    build_pad(&a);
    alert_fingerprint(&a);
    char base[17];
    memcpy(base, a.fingerprint, sizeof base);
    assert_int_equal(strlen(base), 16);
    for (int i = 0; i < 16; i++) assert_non_null(strchr("0123456789abcdef", base[i]));

    alert_fingerprint(&a); /* deterministic */
    assert_string_equal(a.fingerprint, base);

    a.amount += 1;
    alert_fingerprint(&a);
    assert_string_not_equal(a.fingerprint, base);
    a.amount -= 1;

    a.conf = CONF_MEDIUM;
    alert_fingerprint(&a);
    assert_string_not_equal(a.fingerprint, base);
    a.conf = CONF_HIGH;

    assert_int_equal(alert_add_period(&a, 202410), 0);
    alert_fingerprint(&a);
    assert_string_not_equal(a.fingerprint, base);
    a.nperiods--; /* drop 2024-10 again (the last, sorted) */
    alert_fingerprint(&a);
    assert_string_equal(a.fingerprint, base);

    /* Detail formatting does not matter, its content does. */
    set_str(&a.detail_json, "{ \"grid_report_only\": false, \"grace_months\": 0,\n"
                            "  \"basis\": \"household_deregistration\", \"death_date\": \"2024-03-12\" }");
    alert_fingerprint(&a);
    assert_string_equal(a.fingerprint, base);
    set_str(&a.detail_json, "{\"death_date\":\"2024-03-11\",\"basis\":\"household_deregistration\","
                            "\"grace_months\":0,\"grid_report_only\":false}");
    alert_fingerprint(&a);
    assert_string_not_equal(a.fingerprint, base);
    alert_free(&a);

    /* A new evidence item changes it. */
    build_pad(&a);
    add_ev(&a, "death", FK_DEATH, "civil", "CR-9", NULL, LINK_HIGH,
           (const char *const[]){"id_no", ID_A, "name", NAME_A, "death_date", "2024-03-13", "basis",
                                 "cremation", NULL});
    alert_fingerprint(&a);
    assert_string_not_equal(a.fingerprint, base);
    char with_cr[17];
    memcpy(with_cr, a.fingerprint, sizeof with_cr);
    alert_free(&a);

    /* The same evidence inserted in another order gives the same fingerprint. */
    alert_init(&a, RULE_PENSION_AFTER_DEATH, "person:" ID_A);
    memcpy(a.id_no, ID_A, sizeof a.id_no);
    a.conf = CONF_HIGH;
    set_str(&a.detail_json, "{\"death_date\":\"2024-03-12\",\"basis\":\"household_deregistration\","
                            "\"grace_months\":0,\"grid_report_only\":false}");
    add_ev(&a, "death", FK_DEATH, "civil", "CR-9", NULL, LINK_HIGH,
           (const char *const[]){"id_no", ID_A, "name", NAME_A, "death_date", "2024-03-13", "basis",
                                 "cremation", NULL});
    for (int m = 9; m >= 4; m--) {
        char ref[32], period[16];
        snprintf(ref, sizeof ref, "P-2024%02d-77", m);
        snprintf(period, sizeof period, "2024-%02d", m);
        add_ev(&a, "payment", FK_PAYMENT, "hr", ref, NULL, LINK_HIGH,
               (const char *const[]){"id_no", ID_A, "program", "pension", "period", period, "amount",
                                     "310000", NULL});
        assert_int_equal(alert_add_period(&a, 202400 + m), 0);
        a.amount += 310000;
    }
    add_ev(&a, "death", FK_DEATH, "psb", "D2024-0001", NULL, LINK_HIGH,
           (const char *const[]){"id_no", ID_A, "name", NAME_A, "death_date", "2024-03-12", "basis",
                                 "household_deregistration", NULL});
    alert_fingerprint(&a);
    assert_string_equal(a.fingerprint, with_cr);
    alert_free(&a);
}

/* ---- evidence ------------------------------------------------------------ */

static void test_evidence_copied(void **state) {
    (void)state;
    alert a;
    alert_init(&a, RULE_PENSION_IN_CUSTODY, "person:" ID_A);
    fact f;
    make_fact(&f, FK_CUSTODY, "justice", "J-17", "{\"jyrq\":\"2024/1/15\"}",
              (const char *const[]){"id_no", ID_A, "from", "2024/1/15", "kind", "imprisonment", NULL});
    assert_int_equal(alert_add_evidence(&a, "custody", &f, LINK_LOW), 0);
    fact_clear(&f); /* the alert keeps its own copies */
    assert_int_equal(a.nev, 1);
    assert_string_equal(a.ev[0].role, "custody");
    assert_string_equal(a.ev[0].source, "justice");
    assert_string_equal(a.ev[0].kind, "custody");
    assert_string_equal(a.ev[0].ref, "J-17");
    assert_string_equal(a.ev[0].raw_json, "{\"jyrq\":\"2024/1/15\"}");
    assert_int_equal(a.ev[0].link, LINK_LOW);
    json_error_t err;
    json_t *fields = json_loads(a.ev[0].norm_json, 0, &err);
    assert_non_null(fields);
    assert_string_equal(json_string_value(json_object_get(fields, "from")), "2024-01-15");
    assert_string_equal(json_string_value(json_object_get(fields, "id_no")), ID_A);
    json_decref(fields);

    /* A fact without raw values gives NULL raw_json. */
    make_fact(&f, FK_CUSTODY, "justice", "J-18", NULL,
              (const char *const[]){"id_no", ID_A, "from", "2024-02-01", NULL});
    assert_int_equal(alert_add_evidence(&a, "custody", &f, LINK_HIGH), 0);
    fact_clear(&f);
    assert_null(a.ev[1].raw_json);
    alert_free(&a);
}

static void test_alert_list(void **state) {
    (void)state;
    alert_list l = {0};
    for (int i = 0; i < 40; i++) {
        alert *a = alert_list_push(&l);
        assert_non_null(a);
        assert_null(a->subject);
        char subj[32];
        snprintf(subj, sizeof subj, "case:C%d", i);
        alert_init(a, RULE_DUPLICATE_ASSISTANCE, subj);
        assert_int_equal(alert_add_period(a, 202401 + i % 12), 0);
    }
    assert_int_equal(l.n, 40);
    assert_string_equal(l.items[39].subject, "case:C39");
    alert_list_free(&l);
    assert_int_equal(l.n, 0);
    assert_null(l.items);
}

/* ---- JSON ---------------------------------------------------------------- */

static void test_json_round_trip(void **state) {
    (void)state;
    alert a, b;
    build_pad(&a);
    set_str(&a.case_key, "C-88");
    snprintf(a.status, sizeof a.status, "pushed");
    a.version = 3;
    a.first_seen = 1717000000;
    a.updated_at = 1718000000;
    alert_fingerprint(&a);

    json_t *j = alert_to_json(&a, 0);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "id")), "PAD-e10e178245aadc26");
    assert_string_equal(json_string_value(json_object_get(j, "rule")), "pension_after_death");
    assert_string_equal(json_string_value(json_object_get(j, "rule_title")), "死亡后仍发放养老金");
    assert_string_equal(json_string_value(json_object_get(j, "id_no")), ID_A);
    assert_string_equal(json_string_value(json_object_get(j, "name")), NAME_A);
    assert_string_equal(json_string_value(json_object_get(j, "case")), "C-88");
    assert_int_equal(json_integer_value(json_object_get(j, "amount")), 1860000);
    assert_string_equal(json_string_value(json_object_get(j, "amount_yuan")), "18600.00");
    assert_string_equal(json_string_value(json_object_get(j, "confidence")), "high");
    json_t *periods = json_object_get(j, "periods");
    assert_int_equal(json_array_size(periods), 6);
    assert_string_equal(json_string_value(json_array_get(periods, 0)), "2024-04");
    assert_string_equal(json_string_value(json_array_get(periods, 5)), "2024-09");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "detail"), "basis")),
                        "household_deregistration");
    json_t *ev0 = json_array_get(json_object_get(j, "evidence"), 0);
    assert_string_equal(json_string_value(json_object_get(ev0, "role")), "death");
    assert_string_equal(json_string_value(json_object_get(ev0, "link")), "high");
    assert_string_equal(json_string_value(json_object_get(json_object_get(ev0, "raw"), "xm")), "張三豐");
    assert_string_equal(json_string_value(json_object_get(json_object_get(ev0, "fields"), "death_date")),
                        "2024-03-12");

    assert_int_equal(alert_from_json(j, &b), 0);
    assert_string_equal(b.id, a.id);
    assert_int_equal(b.rule, a.rule);
    assert_string_equal(b.subject, a.subject);
    assert_string_equal(b.id_no, a.id_no);
    assert_string_equal(b.case_key, "C-88");
    assert_string_equal(b.name, NAME_A);
    assert_string_equal(b.region, "420501");
    assert_string_equal(b.grid, "G-0107");
    assert_int_equal(b.amount, a.amount);
    assert_int_equal(b.conf, a.conf);
    assert_int_equal(b.nperiods, a.nperiods);
    for (size_t i = 0; i < a.nperiods; i++) assert_int_equal(b.periods[i], a.periods[i]);
    assert_string_equal(b.status, "pushed");
    assert_int_equal(b.version, 3);
    assert_int_equal(b.first_seen, 1717000000);
    assert_int_equal(b.updated_at, 1718000000);
    assert_string_equal(b.fingerprint, a.fingerprint);
    assert_int_equal(b.nev, a.nev);
    for (size_t i = 0; i < a.nev; i++) {
        assert_string_equal(b.ev[i].role, a.ev[i].role);
        assert_string_equal(b.ev[i].source, a.ev[i].source);
        assert_string_equal(b.ev[i].kind, a.ev[i].kind);
        assert_string_equal(b.ev[i].ref, a.ev[i].ref);
        assert_int_equal(b.ev[i].link, a.ev[i].link);
        assert_true((a.ev[i].raw_json == NULL) == (b.ev[i].raw_json == NULL));
    }
    /* Recomputing the fingerprint of the rebuilt alert gives the same value. */
    alert_fingerprint(&b);
    assert_string_equal(b.fingerprint, a.fingerprint);
    /* And exporting it again gives equal JSON. */
    json_t *j2 = alert_to_json(&b, 0);
    assert_non_null(j2);
    assert_true(json_equal(j, j2));
    json_decref(j2);
    alert_free(&b);
    json_decref(j);

    /* A case-only alert without person, name, detail or evidence. */
    alert c;
    alert_init(&c, RULE_ASSISTANCE_HIDDEN_INCOME, "case:C-9");
    c.conf = CONF_LOW;
    c.amount = -50;
    j = alert_to_json(&c, 0);
    assert_non_null(j);
    assert_true(json_is_null(json_object_get(j, "id_no")));
    assert_true(json_is_null(json_object_get(j, "name")));
    assert_string_equal(json_string_value(json_object_get(j, "amount_yuan")), "-0.50");
    assert_int_equal(alert_from_json(j, &b), 0);
    assert_string_equal(b.id_no, "");
    assert_null(b.name);
    assert_int_equal(b.amount, -50);
    assert_int_equal(b.conf, CONF_LOW);
    alert_free(&b);
    json_decref(j);
    alert_free(&c);
    alert_free(&a);
}

static void test_json_bad_input(void **state) {
    (void)state;
    alert a, b;
    build_pad(&a);
    json_t *good = alert_to_json(&a, 0);
    assert_non_null(good);
    alert_free(&a);

    struct { const char *key; json_t *val; } breaks[] = {
        {"rule", json_string("pension_forever")},
        {"subject", json_integer(7)},
        {"amount", json_string("18600.00")},
        {"confidence", json_string("certain")},
        {"periods", json_pack("[s]", "2024-13")},
        {"periods", json_pack("[s]", "202404")},
        {"id", json_string("PAD-0000000000000000")},
        {"id_no", json_string("4205011950031212339999")},
        {"case", json_integer(5)},
        {"evidence", json_pack("[{s:s}]", "link", "strong")},
        {"evidence", json_string("none")},
    };
    for (size_t i = 0; i < sizeof breaks / sizeof breaks[0]; i++) {
        json_t *j = json_deep_copy(good);
        assert_non_null(j);
        assert_int_equal(json_object_set_new(j, breaks[i].key, breaks[i].val), 0);
        memset(&b, 0x5a, sizeof b);
        if (alert_from_json(j, &b) != -1) fail_msg("accepted bad %s (case %zu)", breaks[i].key, i);
        assert_null(b.subject); /* left freed and zeroed */
        assert_null(b.ev);
        json_decref(j);
    }
    json_t *j = json_deep_copy(good);
    json_object_del(j, "rule");
    assert_int_equal(alert_from_json(j, &b), -1);
    json_decref(j);
    j = json_array();
    assert_int_equal(alert_from_json(j, &b), -1);
    json_decref(j);

    /* The masked form does not load back (its subject no longer matches the id). */
    build_pad(&a);
    j = alert_to_json(&a, 1);
    assert_int_equal(alert_from_json(j, &b), -1);
    json_decref(j);
    alert_free(&a);
    json_decref(good);
}

/* ---- masking ------------------------------------------------------------- */

static void test_json_masking(void **state) {
    (void)state;
    alert a;
    build_pad(&a);
    /* Ids and names hidden in odd places: a raw id with full-width digits, a
     * member name under a pinyin column, an id inside a ref and a case key. */
    add_ev(&a, "person", FK_PERSON, "grid", "row-" ID_A,
           "{\"sfz\":\"４２０５０１１９５００３１２１２３３\",\"cyxm\":\"张三丰 \",\"bz\":\"户主" ID_A "\"}",
           LINK_HIGH, (const char *const[]){"id_no", ID_A, "name", NAME_A, "grid", "G-0107", NULL});
    set_str(&a.case_key, "K" ID_C);
    set_str(&a.detail_json, "{\"death_date\":\"2024-03-12\",\"basis\":\"household_deregistration\","
                            "\"member\":\"" ID_C "\",\"names\":[{\"source\":\"hr\",\"name\":\"" NAME_C "\"}]}");
    json_t *j = alert_to_json(&a, 1);
    assert_non_null(j);
    char *text = json_dumps(j, 0); /* jansson escapes nothing by default: UTF-8 stays readable */
    assert_non_null(text);
    assert_not_contains(text, ID_A);
    assert_not_contains(text, ID_C);
    assert_no_digit_run(text);
    assert_not_contains(text, NAME_A);
    assert_not_contains(text, "三丰");
    assert_not_contains(text, NAME_C);
    assert_not_contains(text, "張三豐"); /* raw traditional-form name under column xm */
    assert_not_contains(text, "４２０５０１"); /* full-width digits */
    assert_string_equal(json_string_value(json_object_get(j, "id_no")), "4205**********1233");
    assert_string_equal(json_string_value(json_object_get(j, "subject")), "person:4205**********1233");
    assert_string_equal(json_string_value(json_object_get(j, "name")), "张**");
    json_t *ev0 = json_array_get(json_object_get(j, "evidence"), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(ev0, "fields"), "id_no")),
                        "4205**********1233");
    assert_string_equal(json_string_value(json_object_get(json_object_get(ev0, "fields"), "name")), "张**");
    /* Non-personal values are left alone. */
    assert_string_equal(json_string_value(json_object_get(j, "grid")), "G-0107");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "detail"), "death_date")),
                        "2024-03-12");
    assert_string_equal(json_string_value(json_object_get(ev0, "ref")), "D2024-0001");
    free(text);
    json_decref(j);

    /* Unmasked export keeps them (the test above is not vacuous). */
    j = alert_to_json(&a, 0);
    text = json_dumps(j, 0);
    assert_contains(text, ID_A);
    assert_contains(text, NAME_A);
    free(text);
    json_decref(j);

    /* A subject for a person without a valid id. */
    alert b;
    alert_init(&b, RULE_PENSION_AFTER_DEATH, "person:~" NAME_C "|1960-05-02");
    j = alert_to_json(&b, 1);
    assert_string_equal(json_string_value(json_object_get(j, "subject")), "person:~李**|1960-05-02");
    json_decref(j);
    alert_free(&b);
    alert_free(&a);
}

static void test_text_masking(void **state) {
    (void)state;
    alert a;
    build_pad(&a);
    add_ev(&a, "person", FK_PERSON, "grid", "row-" ID_A, NULL, LINK_HIGH,
           (const char *const[]){"id_no", ID_A, "name", NAME_A, "grid", "G-0107", NULL});
    char *text = alert_explain_zh(&a, test_label, NULL);
    char *sum = alert_summary_zh(&a);
    assert_non_null(text);
    assert_non_null(sum);
    const char *outs[] = {text, sum};
    for (int i = 0; i < 2; i++) {
        assert_not_contains(outs[i], ID_A);
        assert_not_contains(outs[i], NAME_A);
        assert_not_contains(outs[i], "三丰");
        assert_no_digit_run(outs[i]);
    }
    assert_contains(text, "对象：张**（4205**********1233），地区 420501，网格 G-0107");
    assert_contains(text, "记录号 row-4205**********1233");
    free(text);
    free(sum);
    alert_free(&a);
}

/* ---- explanations -------------------------------------------------------- */

static void test_explain_pension_after_death(void **state) {
    (void)state;
    alert a;
    build_pad(&a);
    char *t = alert_explain_zh(&a, test_label, NULL);
    assert_non_null(t);
    assert_int_equal(strncmp(t, "[高] 死亡后仍发放养老金：公安户籍注销 2024-03-12；2024-04 至 2024-09 共发放 6 个月，合计 "
                                "18,600.00 元\n",
                             strlen("[高] 死亡后仍发放养老金：公安户籍注销 2024-03-12；2024-04 至 2024-09 共发放 6 "
                                    "个月，合计 18,600.00 元\n")),
                     0);
    assert_contains(t, "\n证据：\n");
    assert_contains(t, "  - 公安（死亡记录，记录号 D2024-0001，身份证号匹配）：死亡日期 2024-03-12，依据 户籍注销\n");
    /* hr has no label: the source name is shown */
    assert_contains(t, "  - hr（发放记录，记录号 P-202404-77，身份证号匹配）：养老金 发放月份 2024-04 金额 3,100.00 元\n");
    assert_string_equal(last_line(t), "处理建议：此为疑点线索，请核实后处理，核实前不得仅凭比对结果停发或追缴。");
    assert_not_contains(t, "置信度降为中");
    char *s = alert_summary_zh(&a);
    assert_string_equal(s, "死亡后仍发放养老金 2024-04 至 2024-09，合计 18,600.00 元（高）");
    free(s);
    free(t);

    /* Gaps in the periods, a name conflict, no label function at all. */
    a.nperiods = 0;
    a.amount = 0;
    int ps[] = {202404, 202406, 202407, 202409};
    for (int i = 0; i < 4; i++) assert_int_equal(alert_add_period(&a, ps[i]), 0);
    a.amount = 4 * 310000;
    a.conf = CONF_MEDIUM;
    set_str(&a.detail_json, "{\"death_date\":\"2024-03-12\",\"basis\":\"household_deregistration\","
                            "\"grace_months\":0,\"grid_report_only\":false,\"name_conflict\":true}");
    t = alert_explain_zh(&a, NULL, NULL);
    assert_contains(t, "[中] 死亡后仍发放养老金：psb户籍注销 2024-03-12；2024-04、2024-06 至 2024-07、2024-09 共发放 4 "
                       "个月，合计 12,400.00 元\n");
    assert_contains(t, "注意：同一身份证号在各系统中姓名不一致，置信度降为中\n");
    s = alert_summary_zh(&a);
    assert_string_equal(s, "死亡后仍发放养老金 2024-04、2024-06 至 2024-07、2024-09，合计 12,400.00 元（中）");
    free(s);
    free(t);
    alert_free(&a);

    /* Grid report only: low confidence, on-site verification. */
    alert_init(&a, RULE_PENSION_AFTER_DEATH, "person:" ID_A);
    memcpy(a.id_no, ID_A, sizeof a.id_no);
    set_str(&a.name, NAME_A);
    a.conf = CONF_LOW;
    set_str(&a.detail_json, "{\"death_date\":\"2024-05-02\",\"basis\":\"grid_report\",\"grace_months\":1,"
                            "\"grid_report_only\":true}");
    add_ev(&a, "death", FK_DEATH, "grid", "GR-5", NULL, LINK_LOW,
           (const char *const[]){"name", NAME_A, "death_date", "2024-05-02", "basis", "grid_report", NULL});
    assert_int_equal(alert_add_period(&a, 202407), 0);
    a.amount = 310000;
    t = alert_explain_zh(&a, test_label, NULL);
    assert_contains(t, "[低] 死亡后仍发放养老金：grid网格员上报 2024-05-02；宽限 1 个月后，2024-07 共发放 1 个月，合计 3,100.00 元");
    assert_contains(t, "姓名+出生日期匹配（低置信度）");
    assert_contains(t, "请网格员上门核实");
    assert_string_equal(last_line(t), "处理建议：此为疑点线索，请网格员上门核实后处理，核实前不得仅凭比对结果停发或追缴。");
    free(t);
    alert_free(&a);
}

static void test_explain_hidden_income(void **state) {
    (void)state;
    alert a;
    alert_init(&a, RULE_ASSISTANCE_HIDDEN_INCOME, "case:C100");
    set_str(&a.case_key, "C100");
    set_str(&a.region, "420501");
    a.conf = CONF_HIGH;
    set_str(&a.detail_json,
            "{\"program\":\"dibao\",\"region\":\"420501\",\"standard\":80000,\"min_months\":3,\"months\":["
            "{\"period\":\"2024-01\",\"income\":300000,\"members\":2,\"limit\":160000},"
            "{\"period\":\"2024-02\",\"income\":250000,\"members\":2,\"limit\":160000},"
            "{\"period\":\"2024-03\",\"income\":90000,\"members\":1,\"limit\":80000}]}");
    for (int m = 1; m <= 3; m++) {
        assert_int_equal(alert_add_period(&a, 202400 + m), 0);
        a.amount += 80000;
    }
    add_ev(&a, "member", FK_ASSISTANCE_MEMBER, "civil", "M-1", NULL, LINK_HIGH,
           (const char *const[]){"case", "C100", "program", "dibao", "id_no", ID_A, "name", NAME_A, "from",
                                 "2023-06-01", NULL});
    add_ev(&a, "income", FK_INCOME, "tax", "T-1", NULL, LINK_HIGH,
           (const char *const[]){"id_no", ID_A, "period", "2024-01", "amount", "300000", "kind", "wage",
                                 "payer", "武汉某物流有限公司", NULL});
    char *t = alert_explain_zh(&a, test_label, NULL);
    assert_non_null(t);
    assert_contains(t, "[高] 低保家庭隐瞒收入：案件 C100：3 个月家庭人均收入超过当地低保标准（每人每月 800.00 元）："
                       "2024-01 家庭收入 3,000.00 元 / 2 人，2024-02 家庭收入 2,500.00 元 / 2 人，"
                       "2024-03 家庭收入 900.00 元 / 1 人");
    assert_contains(t, "涉及救助金 2024-01 至 2024-03 合计 2,400.00 元\n");
    assert_contains(t, "对象：案件 C100，地区 420501\n");
    assert_contains(t, "案件 C100 低保，成员 张**（4205**********1233），在保 2023-06-01 至今");
    assert_contains(t, "收入月份 2024-01 金额 3,000.00 元（工资），支付方 武汉某物流有限公司");
    assert_no_digit_run(t);
    assert_not_contains(t, NAME_A);
    char *s = alert_summary_zh(&a);
    assert_string_equal(s, "低保家庭隐瞒收入 案件 C100 2024-01 至 2024-03，合计 2,400.00 元（高）");
    free(s);
    free(t);
    alert_free(&a);
}

static void test_explain_hidden_assets(void **state) {
    (void)state;
    alert a;
    alert_init(&a, RULE_ASSISTANCE_HIDDEN_ASSETS, "case:C7");
    set_str(&a.case_key, "C7");
    a.conf = CONF_HIGH;
    set_str(&a.detail_json,
            "{\"program\":\"dibao\",\"assets\":["
            "{\"member\":\"" ID_C "\",\"kind\":\"vehicle\",\"subkind\":\"car\",\"from\":\"2023-05-01\","
            "\"description\":\"鄂A12345\"},"
            "{\"member\":\"" ID_A "\",\"kind\":\"real_estate\",\"from\":\"2020-01-01\",\"description\":\"幸福小区3-201\"},"
            "{\"member\":\"" ID_A "\",\"kind\":\"real_estate\",\"from\":\"2023-09-09\"},"
            "{\"member\":\"" ID_A "\",\"kind\":\"business\",\"subkind\":\"legal_representative\",\"from\":\"2024-01-02\"}"
            "],\"months\":[\"2023-06\",\"2023-07\"]}");
    assert_int_equal(alert_add_period(&a, 202306), 0);
    assert_int_equal(alert_add_period(&a, 202307), 0);
    a.amount = 150000;
    add_ev(&a, "member", FK_ASSISTANCE_MEMBER, "civil", "M-7", NULL, LINK_HIGH,
           (const char *const[]){"case", "C7", "program", "dibao", "id_no", ID_C, "name", NAME_C, "from",
                                 "2022-01-01", "to", "2024-12-31", NULL});
    add_ev(&a, "asset", FK_ASSET, "vehicles", "V-1", NULL, LINK_HIGH,
           (const char *const[]){"id_no", ID_C, "kind", "vehicle", "subkind", "car", "from", "2023-05-01", NULL});
    char *t = alert_explain_zh(&a, test_label, NULL);
    assert_non_null(t);
    assert_contains(t, "[高] 低保家庭隐瞒财产：案件 C7：成员 李**（4205**********4562） 名下车辆 小型汽车（鄂A12345），自 2023-05-01 起");
    assert_contains(t, "名下经营主体 法定代表人，自 2024-01-02 起");
    assert_contains(t, "多套房产 2 处：4205**********1233 幸福小区3-201 自 2020-01-01 起、4205**********1233 自 2023-09-09 起");
    assert_contains(t, "持有期间仍领取救助 2 个月（2023-06 至 2023-07），合计 1,500.00 元\n");
    assert_contains(t, "在保 2022-01-01 至 2024-12-31");
    assert_contains(t, "车辆 小型汽车，持有 2023-05-01 至今");
    assert_no_digit_run(t);
    assert_not_contains(t, NAME_C);
    free(t);
    alert_free(&a);
}

static void test_explain_deceased_member(void **state) {
    (void)state;
    alert a;
    alert_init(&a, RULE_ASSISTANCE_DECEASED_MEMBER, "case:C200/person:" ID_C);
    set_str(&a.case_key, "C200");
    memcpy(a.id_no, ID_C, sizeof a.id_no);
    set_str(&a.name, NAME_C);
    a.conf = CONF_HIGH;
    set_str(&a.detail_json, "{\"program\":\"dibao\",\"member\":\"" ID_C "\",\"death_date\":\"2024-02-10\","
                            "\"basis\":\"cremation\",\"member_to\":null}");
    add_ev(&a, "death", FK_DEATH, "civil", "CR-1", NULL, LINK_HIGH,
           (const char *const[]){"id_no", ID_C, "name", NAME_C, "death_date", "2024-02-10", "basis", "cremation",
                                 NULL});
    for (int m = 3; m <= 5; m++) {
        char ref[16], per[16];
        snprintf(ref, sizeof ref, "DB-%d", m);
        snprintf(per, sizeof per, "2024-%02d", m);
        add_ev(&a, "case_payment", FK_PAYMENT, "civil", ref, NULL, LINK_NONE,
               (const char *const[]){"id_no", ID_A, "program", "dibao", "period", per, "amount", "72000", "case",
                                     "C200", NULL});
        assert_int_equal(alert_add_period(&a, 202400 + m), 0);
        a.amount += 72000;
    }
    char *t = alert_explain_zh(&a, test_label, NULL);
    assert_non_null(t);
    assert_contains(t, "[高] 已故成员仍在保并领取救助：成员 李**（4205**********4562） 已于 2024-02-10 死亡（民政火化记录），"
                       "案件 C200 仍在保，之后发放 3 个月救助金（2024-03 至 2024-05），合计 2,160.00 元\n");
    assert_contains(t, "对象：李**（4205**********4562），案件 C200\n");
    assert_contains(t, "民政（发放记录，记录号 DB-3，按案件号关联）：低保 发放月份 2024-03 金额 720.00 元，案件 C200");
    assert_no_digit_run(t);
    free(t);
    alert_free(&a);
}

static void test_explain_custody_duplicate(void **state) {
    (void)state;
    alert a;
    alert_init(&a, RULE_PENSION_IN_CUSTODY, "person:" ID_A);
    memcpy(a.id_no, ID_A, sizeof a.id_no);
    a.conf = CONF_HIGH;
    set_str(&a.detail_json, "{\"custody_from\":\"2024-01-15\",\"custody_kind\":\"imprisonment\"}");
    for (int m = 2; m <= 4; m++) assert_int_equal(alert_add_period(&a, 202400 + m), 0);
    a.amount = 930000;
    char *t = alert_explain_zh(&a, test_label, NULL);
    assert_contains(t, "[高] 服刑期间领取养老金：服刑期间 2024-01-15 至今 领取养老金 3 个月（2024-02 至 2024-04），合计 9,300.00 元");
    assert_contains(t, "对象：4205**********1233\n");
    assert_contains(t, "证据：\n  （无）\n");
    free(t);
    set_str(&a.detail_json, "{\"custody_from\":\"2024-01-15\",\"custody_to\":\"2024-06-30\","
                            "\"custody_kind\":\"imprisonment\"}");
    t = alert_explain_zh(&a, test_label, NULL);
    assert_contains(t, "服刑期间 2024-01-15 至 2024-06-30 领取养老金 3 个月");
    free(t);
    alert_free(&a);

    alert_init(&a, RULE_DUPLICATE_ASSISTANCE, "person:" ID_A);
    memcpy(a.id_no, ID_A, sizeof a.id_no);
    set_str(&a.name, NAME_A);
    a.conf = CONF_HIGH;
    set_str(&a.detail_json, "{\"earlier_case\":\"C1\",\"later_case\":\"C2\",\"overlap_from\":\"2024-03\","
                            "\"overlap_to\":\"2024-06\"}");
    for (int m = 3; m <= 6; m++) assert_int_equal(alert_add_period(&a, 202400 + m), 0);
    a.amount = 288000;
    t = alert_explain_zh(&a, test_label, NULL);
    assert_contains(t, "[高] 重复享受救助：同时在案件 C1 与 C2 中享受救助，重叠 2024-03 至 2024-06，"
                       "后一案件重叠期间发放（2024-03 至 2024-06）合计 2,880.00 元\n");
    assert_contains(t, "对象：张**（4205**********1233）\n");
    free(t);
    alert_free(&a);
}

static void test_explain_identity_conflict(void **state) {
    (void)state;
    alert a;
    alert_init(&a, RULE_IDENTITY_CONFLICT, "person:" ID_B);
    memcpy(a.id_no, ID_B, sizeof a.id_no);
    set_str(&a.name, "张三");
    a.conf = CONF_MEDIUM;
    set_str(&a.detail_json, "{\"names\":[{\"source\":\"hr\",\"name\":\"张三\"},{\"source\":\"grid\",\"name\":\"章三\"}],"
                            "\"birth_dates\":[{\"source\":\"hr\",\"stated\":\"1949-12-30\",\"embedded\":\"1949-12-31\"}]}");
    char *t = alert_explain_zh(&a, test_label, NULL);
    assert_non_null(t);
    /* "grid" has an empty label: the source name is shown */
    assert_contains(t, "[中] 身份信息冲突：同一身份证号在不同系统中姓名不一致：hr「张*」、grid「章*」；"
                       "出生日期与身份证号不符：hr 登记 1949-12-30，身份证号为 1949-12-31\n");
    assert_not_contains(t, "张三");
    assert_not_contains(t, "章三");
    assert_not_contains(t, ID_B);
    assert_string_equal(last_line(t), "处理建议：此为疑点线索，请核实后处理，核实前不得仅凭比对结果停发或追缴。");
    char *s = alert_summary_zh(&a);
    assert_string_equal(s, "身份信息冲突 1101**********002X：姓名不一致、出生日期不符（中）");
    free(s);
    free(t);

    /* The masked names still show where they differ, so the conflict is readable. */
    set_str(&a.detail_json, "{\"names\":[{\"source\":\"hr\",\"name\":\"陈建华\"},{\"source\":\"grid\",\"name\":\"陈健华\"}]}");
    t = alert_explain_zh(&a, test_label, NULL);
    assert_contains(t, "姓名不一致：hr「陈建*」、grid「陈健*」");
    assert_not_contains(t, "陈建华");
    assert_not_contains(t, "陈健华");
    free(t);

    /* Birth date only: the names list repeats one name, so no name finding. */
    a.conf = CONF_HIGH;
    set_str(&a.detail_json, "{\"names\":[{\"source\":\"hr\",\"name\":\"张三\"},{\"source\":\"grid\",\"name\":\"张三\"}],"
                            "\"birth_dates\":[{\"source\":\"psb\",\"stated\":\"1949-12-30\",\"embedded\":\"1949-12-31\"}]}");
    t = alert_explain_zh(&a, test_label, NULL);
    assert_contains(t, "[高] 身份信息冲突：出生日期与身份证号不符：公安 登记 1949-12-30，身份证号为 1949-12-31\n");
    assert_not_contains(t, "姓名不一致");
    s = alert_summary_zh(&a);
    assert_string_equal(s, "身份信息冲突 1101**********002X：出生日期不符（高）");
    free(s);
    free(t);
    alert_free(&a);
}

static void test_explain_evidence_cap(void **state) {
    (void)state;
    alert a;
    alert_init(&a, RULE_PENSION_AFTER_DEATH, "person:" ID_A);
    a.conf = CONF_HIGH;
    for (int i = 0; i < 35; i++) {
        char ref[16];
        snprintf(ref, sizeof ref, "P-%d", i);
        add_ev(&a, "payment", FK_PAYMENT, "hr", ref, NULL, LINK_HIGH,
               (const char *const[]){"id_no", ID_A, "program", "pension", "period", "2024-04", "amount", "100",
                                     NULL});
    }
    char *t = alert_explain_zh(&a, test_label, NULL);
    assert_non_null(t);
    assert_contains(t, "记录号 P-29，");
    assert_not_contains(t, "记录号 P-30，");
    assert_contains(t, "……另有 5 条\n");
    int lines = 0;
    for (const char *p = t; (p = strstr(p, "\n  - ")) != NULL; p++) lines++;
    assert_int_equal(lines, 30);
    free(t);
    alert_free(&a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_fnv_vectors),
        cmocka_unit_test(test_make_id_exact_and_stable),
        cmocka_unit_test(test_rule_tables),
        cmocka_unit_test(test_rule_registry),
        cmocka_unit_test(test_periods_sorted_dedup),
        cmocka_unit_test(test_fen_format),
        cmocka_unit_test(test_fingerprint_changes),
        cmocka_unit_test(test_evidence_copied),
        cmocka_unit_test(test_alert_list),
        cmocka_unit_test(test_json_round_trip),
        cmocka_unit_test(test_json_bad_input),
        cmocka_unit_test(test_json_masking),
        cmocka_unit_test(test_text_masking),
        cmocka_unit_test(test_explain_pension_after_death),
        cmocka_unit_test(test_explain_hidden_income),
        cmocka_unit_test(test_explain_hidden_assets),
        cmocka_unit_test(test_explain_deceased_member),
        cmocka_unit_test(test_explain_custody_duplicate),
        cmocka_unit_test(test_explain_identity_conflict),
        cmocka_unit_test(test_explain_evidence_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
