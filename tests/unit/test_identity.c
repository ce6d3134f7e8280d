/* test_identity.c - unit tests for identity.c, factset.c and strmap.c:
 * high-confidence links across id spellings, person attributes, low-confidence
 * links by name + birth date (unique, ambiguous, region-checked), invalid ids
 * counted as absent, name conflicts on normalized names, the per-person lists
 * in (source, ref) order, factset move semantics, and the string map. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model/factset.h"
#include "identity/resolve.h"
#include "fact_builder.h"
#include "core/strmap.h"

#define TODAY 20250601

typedef struct tb {
    factset fs;
    name_normalizer *nn;
    identity_stats st;
    int nref;
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
    *state = t;
    return 0;
}

static int tb_teardown(void **state) {
    tb *t = *state;
    factset_free(&t->fs);
    name_normalizer_free(t->nn);
    free(t);
    return 0;
}

static void mkid(char out[IDENT_LEN + 1], const char *region, const char *birth, int seq) {
    fb_mkid(out, region, birth, seq);
}

/* Adds a fact; "ref" sets the record key (default a counter). Returns its index. */
static int addf(tb *t, fact_kind k, const char *source, ...) {
    va_list ap;
    va_start(ap, source);
    int i = fb_vaddf(&t->fs, t->nn, &t->nref, TODAY, k, source, ap);
    va_end(ap);
    return i;
}

static void resolve(tb *t) { assert_int_equal(identity_resolve(&t->fs, &t->st), 0); }

/* ---- high-confidence links --------------------------------------------------- */

static void test_high_link_and_person(void **state) {
    tb *t = *state;
    char a[19], legacy[16], spaced[32];
    mkid(a, "110101", "19400101", 11);
    /* The same person written three ways: 18 digits, legacy 15 digits, spaced. */
    snprintf(legacy, sizeof legacy, "110101%.6s%.3s", a + 8, a + 14);
    snprintf(spaced, sizeof spaced, "%.6s %.8s %.4s", a, a + 6, a + 14);
    /* Added out of (source, ref) order on purpose. */
    int f_dth = addf(t, FK_DEATH, "psb", "id_no", spaced, "name", "张三", "death_date", "2024-01-02", "basis",
                     "cremation", NULL);
    int f_per = addf(t, FK_PERSON, "grid", "id_no", a, "name", "張三", "region", "110105", "grid", "G-7", "address",
                     "某街1号", NULL);
    int f_pay = addf(t, FK_PAYMENT, "a_hrss", "id_no", legacy, "program", "pension", "period", "2024-01", "amount",
                     "100", "name", "张老三", NULL);
    resolve(t);
    assert_int_equal(t->fs.npersons, 1);
    assert_int_equal(t->st.persons, 1);
    assert_int_equal(t->st.linked_high, 3);
    assert_int_equal(t->st.linked_low, 0);
    int p = identity_find(&t->fs, a);
    assert_int_equal(p, 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(t->fs.person_of[i], p);
        assert_int_equal(t->fs.link[i], LINK_HIGH);
    }
    const person *ps = &t->fs.persons[p];
    assert_string_equal(ps->id_no, a);
    /* Person fact wins for the name (normalized: traditional to simplified),
     * although the payment comes first in (source, ref) order. */
    assert_string_equal(ps->name, "张三");
    assert_int_equal(ps->birth_date, 19400101);
    assert_string_equal(ps->region, "110105");
    assert_string_equal(ps->grid, "G-7");
    assert_string_equal(ps->address, "某街1号");
    assert_true(ps->has_person_fact);
    /* 张老三 (payment) differs from 张三 (person, death): a name conflict. */
    assert_true(ps->name_conflict);
    assert_int_equal(t->st.name_conflicts, 1);
    /* CSR in (source, ref) order: a_hrss, grid, psb. */
    assert_int_equal(t->fs.by_person_off[0], 0);
    assert_int_equal(t->fs.by_person_off[1], 3);
    assert_int_equal(t->fs.by_person[0], f_pay);
    assert_int_equal(t->fs.by_person[1], f_per);
    assert_int_equal(t->fs.by_person[2], f_dth);
    char other[19];
    mkid(other, "110101", "19400101", 13);
    assert_int_equal(identity_find(&t->fs, other), -1);
    assert_int_equal(identity_find(&t->fs, NULL), -1);
}

static void test_name_fallback_and_no_conflict(void **state) {
    tb *t = *state;
    char a[19];
    mkid(a, "320102", "19500505", 21);
    /* No person fact: the name is the first named fact's in (source, ref) order
     * (source "b" before "c"); region falls back to the id's first six. The
     * traditional and simplified spellings normalize to one name: no conflict. */
    addf(t, FK_DEATH, "c", "id_no", a, "name", "劉備", "death_date", "2024-01-02", "basis", "cremation", NULL);
    addf(t, FK_PAYMENT, "b", "id_no", a, "program", "pension", "period", "2024-01", "amount", "100", "name",
         "刘备", NULL);
    addf(t, FK_PAYMENT, "a", "id_no", a, "program", "pension", "period", "2024-02", "amount", "100", NULL);
    /* b: no person fact, two different names; the first in (source, ref)
     * order names the person (source "k" ref "r1" before "k"/"r2" before "m"). */
    char b[19];
    mkid(b, "320102", "19500505", 23);
    addf(t, FK_DEATH, "m", "id_no", b, "name", "关羽", "death_date", "2024-01-02", "basis", "cremation", NULL);
    addf(t, FK_DEATH, "k", "ref", "r2", "id_no", b, "name", "关云长", "death_date", "2024-01-02", "basis",
         "cremation", NULL);
    addf(t, FK_DEATH, "k", "ref", "r1", "id_no", b, "name", "關二爺", "death_date", "2024-01-02", "basis",
         "cremation", NULL);
    /* c: two person facts; the first in (source, ref) order gives region and grid. */
    char c[19];
    mkid(c, "320102", "19500505", 25);
    addf(t, FK_PERSON, "z", "id_no", c, "name", "张飞", "region", "320999", "grid", "Z", NULL);
    addf(t, FK_PERSON, "h", "id_no", c, "name", "张飞", "region", "320105", "grid", "H", NULL);
    resolve(t);
    const person *ps = &t->fs.persons[identity_find(&t->fs, a)];
    assert_string_equal(ps->name, "刘备");
    assert_string_equal(ps->region, "320102");
    assert_null(ps->grid);
    assert_false(ps->has_person_fact);
    assert_false(ps->name_conflict);
    ps = &t->fs.persons[identity_find(&t->fs, b)];
    assert_string_equal(ps->name, "关二爷");
    assert_true(ps->name_conflict);
    ps = &t->fs.persons[identity_find(&t->fs, c)];
    assert_string_equal(ps->region, "320105");
    assert_string_equal(ps->grid, "H");
    assert_false(ps->name_conflict);
    assert_int_equal(t->st.name_conflicts, 1);
}

static void test_persons_sorted_and_found(void **state) {
    tb *t = *state;
    char ids[50][19];
    for (int i = 0; i < 50; i++) {
        /* Inserted in descending order; persons come out sorted by id. */
        mkid(ids[i], "440305", "19600101", 500 - i * 7);
        addf(t, FK_PERSON, "grid", "id_no", ids[i], "name", "某", NULL);
        addf(t, FK_PAYMENT, "hrss", "id_no", ids[i], "program", "pension", "period", "2024-01", "amount", "1",
             NULL);
    }
    resolve(t);
    assert_int_equal(t->fs.npersons, 50);
    for (size_t p = 1; p < t->fs.npersons; p++)
        assert_true(strcmp(t->fs.persons[p - 1].id_no, t->fs.persons[p].id_no) < 0);
    for (int i = 0; i < 50; i++) {
        int p = identity_find(&t->fs, ids[i]);
        assert_true(p >= 0);
        assert_string_equal(t->fs.persons[p].id_no, ids[i]);
        assert_int_equal(t->fs.by_person_off[p + 1] - t->fs.by_person_off[p], 2);
        assert_int_equal(t->fs.person_of[2 * i], p);
    }
    assert_int_equal(t->st.linked_high, 100);
}

/* ---- low-confidence links ---------------------------------------------------- */

static void test_low_link_unique(void **state) {
    tb *t = *state;
    char a[19], b[19];
    mkid(a, "370202", "19391111", 51);
    mkid(b, "370202", "19391112", 53); /* same name, other birth date */
    addf(t, FK_PERSON, "grid", "id_no", a, "name", "郑十", NULL);
    addf(t, FK_PERSON, "grid", "id_no", b, "name", "郑十", NULL);
    int d = addf(t, FK_DEATH, "civil", "name", "郑十", "birth_date", "1939-11-11", "death_date", "2024-01-20",
                 "basis", "cremation", NULL);
    resolve(t);
    assert_int_equal(t->fs.person_of[d], identity_find(&t->fs, a));
    assert_int_equal(t->fs.link[d], LINK_LOW);
    assert_int_equal(t->st.linked_low, 1);
    assert_int_equal(t->st.ambiguous, 0);
    /* The low-linked fact is in the person's list. */
    int p = identity_find(&t->fs, a), found = 0;
    for (size_t k = t->fs.by_person_off[p]; k < t->fs.by_person_off[p + 1]; k++) found |= t->fs.by_person[k] == d;
    assert_true(found);
}

/* Names and birth dates on income, asset, custody and assistance_member facts
 * count exactly like those on person facts: a differing name is a name
 * conflict, the person fact still gives the person's name, and a row with an
 * invalid id links at low confidence by name + birth date. An id-less case
 * payment names no person and makes none. */
static void test_names_on_every_person_bearing_kind(void **state) {
    tb *t = *state;
    char a[19], b[19], c[19], bad[19];
    mkid(a, "420502", "19480305", 21);
    mkid(b, "420502", "19500101", 23);
    mkid(c, "420502", "19520202", 25);
    addf(t, FK_PERSON, "grid", "id_no", a, "name", "王五", NULL);
    /* contribution record under another name, sorted before the grid */
    int inc = addf(t, FK_INCOME, "a_hrss", "id_no", a, "name", "王武", "birth_date", "1948年3月5日", "period",
                   "2024-01", "amount", "500000", NULL);
    /* same name in another script and with a stated birth date: no conflict */
    addf(t, FK_PERSON, "grid", "id_no", b, "name", "赵六", NULL);
    addf(t, FK_ASSET, "vehicles", "id_no", b, "name", "趙六", "birth_date", "19500101", "kind", "vehicle", "from",
         "2020-01-01", NULL);
    /* custody only: its name becomes the person's name */
    addf(t, FK_CUSTODY, "justice", "id_no", c, "name", "孙七", "from", "2023-01-01", NULL);
    addf(t, FK_ASSISTANCE_MEMBER, "civil", "id_no", c, "name", "孙柒", "case", "DB-1", "program", "dibao", "from",
         "2022-01-01", NULL);
    /* invalid id (check character wrong) on an income row: low link by name + birth */
    snprintf(bad, sizeof bad, "%s", a);
    bad[17] = bad[17] == '0' ? '1' : '0';
    int low = addf(t, FK_INCOME, "tax", "id_no", bad, "name", "王五", "birth_date", "1948.3.5", "period", "2024-02",
                   "amount", "1", NULL);
    int cpay = addf(t, FK_PAYMENT, "civil", "case", "DB-1", "program", "dibao", "period", "2024-01", "amount",
                    "50000", NULL);
    resolve(t);
    assert_int_equal(t->fs.npersons, 3);
    int pa = identity_find(&t->fs, a), pb = identity_find(&t->fs, b), pc = identity_find(&t->fs, c);
    assert_true(t->fs.persons[pa].name_conflict);
    assert_string_equal(t->fs.persons[pa].name, "王五"); /* the person fact's */
    assert_int_equal(t->fs.person_of[inc], pa);
    assert_false(t->fs.persons[pb].name_conflict);
    assert_true(t->fs.persons[pc].name_conflict);
    assert_string_equal(t->fs.persons[pc].name, "孙柒"); /* first in (source, ref) order: civil */
    assert_int_equal(t->st.name_conflicts, 2);
    assert_int_equal(t->fs.person_of[low], pa);
    assert_int_equal(t->fs.link[low], LINK_LOW);
    assert_int_equal(t->st.linked_low, 1);
    assert_int_equal(t->fs.person_of[cpay], -1);
    assert_int_equal(t->fs.link[cpay], LINK_NONE);
}

static void test_low_link_ambiguous(void **state) {
    tb *t = *state;
    char a[19], b[19];
    mkid(a, "370202", "19391111", 51);
    mkid(b, "370203", "19391111", 53);
    addf(t, FK_PERSON, "grid", "id_no", a, "name", "郑十", NULL);
    addf(t, FK_PERSON, "grid", "id_no", b, "name", "郑十", NULL);
    int d = addf(t, FK_DEATH, "civil", "name", "郑十", "birth_date", "1939-11-11", "death_date", "2024-01-20",
                 "basis", "cremation", NULL);
    /* The stated region picks one of the two homonyms. */
    int e = addf(t, FK_DEATH, "civil", "name", "郑十", "birth_date", "1939-11-11", "region", "370203", "death_date",
                 "2024-01-20", "basis", "cremation", NULL);
    resolve(t);
    assert_int_equal(t->fs.person_of[d], -1);
    assert_int_equal(t->fs.link[d], LINK_NONE);
    assert_int_equal(t->st.ambiguous, 1);
    assert_int_equal(t->fs.person_of[e], identity_find(&t->fs, b));
    assert_int_equal(t->fs.link[e], LINK_LOW);
    assert_int_equal(t->st.linked_low, 1);
}

static void test_region_mismatch_prevents_low_link(void **state) {
    tb *t = *state;
    char a[19];
    mkid(a, "110101", "19450303", 61);
    /* Lives in 110105 per the person fact: that is the region compared. */
    addf(t, FK_PERSON, "grid", "id_no", a, "name", "钱一", "region", "110105", NULL);
    int d1 = addf(t, FK_DEATH, "civil", "name", "钱一", "birth_date", "1945-03-03", "region", "310101",
                  "death_date", "2024-01-20", "basis", "cremation", NULL);
    int d2 = addf(t, FK_DEATH, "civil", "name", "钱一", "birth_date", "1945-03-03", "region", "110101",
                  "death_date", "2024-01-20", "basis", "cremation", NULL);
    int d3 = addf(t, FK_DEATH, "civil", "name", "钱一", "birth_date", "1945-03-03", "region", "110105",
                  "death_date", "2024-01-20", "basis", "cremation", NULL);
    /* Without a birth date, or without a name match, nothing links. */
    int d4 = addf(t, FK_DEATH, "civil", "name", "钱一", "death_date", "2024-01-20", "basis", "cremation", NULL);
    int d5 = addf(t, FK_DEATH, "civil", "name", "钱二", "birth_date", "1945-03-03", "death_date", "2024-01-20",
                  "basis", "cremation", NULL);
    resolve(t);
    assert_int_equal(t->fs.person_of[d1], -1);
    assert_int_equal(t->fs.person_of[d2], -1); /* the id's region is not where they live */
    assert_int_equal(t->fs.person_of[d3], 0);
    assert_int_equal(t->fs.link[d3], LINK_LOW);
    assert_int_equal(t->fs.person_of[d4], -1);
    assert_int_equal(t->fs.person_of[d5], -1);
    assert_int_equal(t->st.linked_low, 1);
    assert_int_equal(t->st.unlinked, 4);
    assert_int_equal(t->st.ambiguous, 0);
}

static void test_invalid_id_counts_as_absent(void **state) {
    tb *t = *state;
    char a[19], bad[19];
    mkid(a, "420106", "19400315", 71);
    memcpy(bad, a, sizeof bad);
    bad[17] = bad[17] == '0' ? '1' : '0'; /* wrong check character */
    addf(t, FK_PERSON, "grid", "id_no", a, "name", "陈七", NULL);
    int d = addf(t, FK_DEATH, "civil", "id_no", bad, "name", "陈七", "birth_date", "1940-03-15", "death_date",
                 "2024-01-20", "basis", "cremation", NULL);
    /* An invalid id with no birth date: not linked at all, and no person. */
    char bad2[19];
    mkid(bad2, "420106", "19400316", 73);
    bad2[17] = bad2[17] == '0' ? '1' : '0';
    int pay = addf(t, FK_PAYMENT, "hrss", "id_no", bad2, "program", "pension", "period", "2024-01", "amount", "1",
                   NULL);
    /* Verdicts carry no identity. */
    int v = addf(t, FK_VERDICT, "grid", "alert", "PAD-0000000000000000", "verdict", "confirmed", NULL);
    resolve(t);
    assert_int_not_equal(t->fs.facts[d].id_status, ID_OK);
    assert_int_equal(t->fs.npersons, 1);
    assert_int_equal(t->fs.person_of[d], 0);
    assert_int_equal(t->fs.link[d], LINK_LOW);
    assert_int_equal(t->fs.person_of[pay], -1);
    assert_int_equal(t->fs.person_of[v], -1);
    assert_int_equal(identity_find(&t->fs, bad), -1);
    assert_int_equal(t->st.linked_high, 1);
    assert_int_equal(t->st.linked_low, 1);
    assert_int_equal(t->st.unlinked, 2);
}

/* ---- factset ---------------------------------------------------------------------- */

static void test_factset_move_and_reresolve(void **state) {
    tb *t = *state;
    char a[19], b[19];
    mkid(a, "500103", "19550101", 81);
    mkid(b, "500103", "19550101", 83);
    addf(t, FK_PERSON, "z", "id_no", a, "name", "甲", NULL);
    resolve(t);
    assert_int_equal(t->fs.npersons, 1);

    /* factset_add moves the contents and resets the caller's fact. */
    fact f;
    char err[128];
    fact_init(&f, FK_PERSON);
    f.source = strdup("a");
    f.ref = strdup("k1");
    assert_int_equal(fact_set_text(&f, FF_ID_NO, b, err, sizeof err), 0);
    assert_int_equal(fact_set_text(&f, FF_NAME, "乙", err, sizeof err), 0);
    fact_normalize_identity(&f, t->nn, TODAY);
    char *moved_source = f.source;
    assert_int_equal(factset_add(&t->fs, &f), 0);
    assert_null(f.source);
    assert_null(f.ref);
    assert_null(f.name_norm);
    assert_int_equal(f.kind, FK_PERSON);
    assert_false(FACT_HAS(&f, FF_ID_NO));
    assert_ptr_equal(t->fs.facts[1].source, moved_source);
    assert_true(t->fs.facts[1].source_shared); /* the set's copy of "a" now */
    /* A second fact of source "a" shares the set's copy (its own is freed);
     * a copy out of the set owns its source again (ASan checks both). */
    fact g, h;
    fact_init(&g, FK_PERSON);
    g.source = strdup("a");
    g.ref = strdup("k2");
    assert_int_equal(fact_set_text(&g, FF_ID_NO, b, err, sizeof err), 0);
    assert_int_equal(fact_set_text(&g, FF_NAME, "乙", err, sizeof err), 0);
    assert_int_equal(factset_add(&t->fs, &g), 0);
    assert_ptr_equal(t->fs.facts[2].source, moved_source);
    assert_int_equal(t->fs.nsources, 2); /* "z" and "a" */
    assert_int_equal(fact_copy(&h, &t->fs.facts[2]), 0);
    assert_false(h.source_shared);
    assert_ptr_not_equal(h.source, moved_source);
    assert_string_equal(h.source, "a");
    fact_clear(&h);
    /* Adding drops the stale resolution; resolving again sees both. */
    assert_null(t->fs.persons);
    resolve(t);
    assert_int_equal(t->fs.npersons, 2);

    int *order = NULL;
    assert_int_equal(factset_order(&t->fs, &order), 0);
    assert_int_equal(order[0], 1); /* source "a" before "z" */
    assert_int_equal(order[1], 2);
    assert_int_equal(order[2], 0);
    free(order);
}

static void test_empty_factset(void **state) {
    tb *t = *state;
    resolve(t);
    assert_int_equal(t->fs.npersons, 0);
    assert_int_equal(t->st.persons, 0);
    assert_int_equal(identity_find(&t->fs, "110101194001010011"), -1);
    int *order = (int *)1;
    assert_int_equal(factset_order(&t->fs, &order), 0);
    assert_null(order);
}

/* ---- strmap -------------------------------------------------------------------------- */

static void test_strmap(void **state) {
    (void)state;
    strmap m = {0}; /* a zeroed map is a valid empty map */
    int v = -1;
    assert_int_equal(strmap_get(&m, "x", &v), 0);
    assert_int_equal(strmap_has(&m, "x"), 0);
    assert_int_equal(strmap_count(&m), 0);
    char key[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(strmap_intern(&m, key, i, &v), 1);
        assert_int_equal(v, i);
    }
    assert_int_equal(strmap_count(&m), 20000);
    /* intern of an existing key keeps the value; put replaces it. */
    assert_int_equal(strmap_intern(&m, "k77", 5, &v), 0);
    assert_int_equal(v, 77);
    assert_int_equal(strmap_put(&m, "k77", -77), 0);
    assert_int_equal(strmap_get(&m, "k77", &v), 1);
    assert_int_equal(v, -77);
    assert_int_equal(strmap_count(&m), 20000);
    for (int i = 0; i < 20000; i += 37) {
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(strmap_get(&m, key, &v), 1);
        assert_int_equal(v, i == 77 ? -77 : i);
    }
    assert_int_equal(strmap_has(&m, "k20000"), 0);
    assert_int_equal(strmap_has(&m, ""), 0);
    /* Set use. */
    assert_int_equal(strmap_add(&m, ""), 1);
    assert_int_equal(strmap_add(&m, ""), 0);
    assert_int_equal(strmap_has(&m, ""), 1);
    /* Iteration visits every entry once. */
    size_t it = 0, n = 0;
    long long sum = 0;
    const char *k;
    while (strmap_next(&m, &it, &k, &v)) {
        n++;
        if (k[0] == 'k') sum += atoi(k + 1);
    }
    assert_int_equal(n, 20001);
    assert_int_equal(sum, 20000LL * 19999 / 2);
    strmap_free(&m);
    assert_int_equal(strmap_count(&m), 0);
    assert_int_equal(strmap_has(&m, "k1"), 0);
    /* Reusable after free; keys are copies. */
    assert_int_equal(strmap_init(&m, 3), 0);
    char buf[8] = "abc";
    assert_int_equal(strmap_put(&m, buf, 1), 0);
    buf[0] = 'x';
    assert_int_equal(strmap_has(&m, "abc"), 1);
    assert_int_equal(strmap_has(&m, "xbc"), 0);
    strmap_free(&m);
}

/* The huge pages of the facts array, in KiB (AnonHugePages of the mapping that
 * holds p, /proc/self/smaps), or -1 when it cannot be read. */
static long huge_kib_at(const void *p) {
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) return -1;
    char line[512];
    int in = 0;
    long kib = -1;
    unsigned long a = (unsigned long)p;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char dash;
        if (sscanf(line, "%lx%c%lx ", &lo, &dash, &hi) == 3 && dash == '-') {
            in = a >= lo && a < hi;
            continue;
        }
        if (in && sscanf(line, "AnonHugePages: %ld kB", &kib) == 1) break;
    }
    fclose(f);
    return kib;
}

/* factset_collapse_pages: the facts stay as they were, and when it says it
 * collapsed (a kernel with MADV_COLLAPSE) the array's mapping holds huge pages. */
static void test_collapse_pages(void **state) {
    (void)state;
    enum { N = 40000 }; /* ~13 MB: several 2 MiB pages */
    factset fs;
    memset(&fs, 0, sizeof fs);
    assert_int_equal(factset_collapse_pages(&fs), -1); /* empty */
    for (int i = 0; i < N; i++) {
        fact f;
        fact_init(&f, i % 2 ? FK_PAYMENT : FK_DEATH);
        f.source = strdup(i % 3 ? "hr" : "grid");
        char ref[32];
        snprintf(ref, sizeof ref, "R%07d", i);
        f.ref = strdup(ref);
        f.raw_hash = (uint64_t)i * 2654435761u;
        assert_int_equal(factset_add(&fs, &f), 0);
    }
    int rc = factset_collapse_pages(&fs);
    assert_int_equal(fs.nfacts, N);
    for (int i = 0; i < N; i++) {
        char ref[32];
        snprintf(ref, sizeof ref, "R%07d", i);
        assert_string_equal(fs.facts[i].ref, ref);
        assert_string_equal(fs.facts[i].source, i % 3 ? "hr" : "grid");
        assert_int_equal(fs.facts[i].kind, i % 2 ? FK_PAYMENT : FK_DEATH);
        assert_true(fs.facts[i].raw_hash == (uint64_t)i * 2654435761u);
    }
    if (rc == 0) {
        long kib = huge_kib_at(&fs.facts[N / 2]);
        if (kib >= 0 && kib < 2048) fail_msg("collapsed, but the facts' mapping has %ld KiB in huge pages", kib);
    }
    factset_free(&fs);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, tb_setup, tb_teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        T(test_high_link_and_person),
        cmocka_unit_test(test_collapse_pages),
        T(test_name_fallback_and_no_conflict),
        T(test_persons_sorted_and_found),
        T(test_low_link_unique),
        T(test_names_on_every_person_bearing_kind),
        T(test_low_link_ambiguous),
        T(test_region_mismatch_prevents_low_link),
        T(test_invalid_id_counts_as_absent),
        T(test_factset_move_and_reresolve),
        T(test_empty_factset),
        cmocka_unit_test(test_strmap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
