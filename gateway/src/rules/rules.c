/* rules.c - the seven cross-match rules of docs/record-model.md over a resolved
 * factset (see rules.h), with the readings of its "Precise readings" section.
 *
 * Facts are reached through indexes built once per run: the per-person fact
 * lists identity_resolve() made (CSR) and per-case lists of member facts and of
 * dibao/tekun payment facts (a strmap from case key to case index, CSR lists in
 * (source, ref) order). Months are handled as month indices (year * 12 + month
 * - 1) and per-case or per-person month bitmaps, so no rule scans all facts more
 * than once per subject. Alerts are sorted by (rule, subject) at the end.
 *
 * Ownership: rules_run() appends alerts it owns to `out`; on failure it frees
 * the alerts it added and leaves `out` as it was. */
#include "rules/rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/date.h"
#include "core/log.h"
#include "core/strmap.h"

#define OPEN_END 99991231 /* "to" of an ongoing interval */

/* ---- small helpers ------------------------------------------------------ */

static const char *fact_str(const fact *f, fact_field ff) {
    return (f->f[ff].set && f->f[ff].s && f->f[ff].s[0]) ? f->f[ff].s : NULL;
}
static int fact_has(const fact *f, fact_field ff) { return f->f[ff].set != 0; }
static int64_t fact_i(const fact *f, fact_field ff) { return f->f[ff].i; }
static int str_eq(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

static int is_authoritative_basis(const char *basis) {
    return str_eq(basis, "household_deregistration") || str_eq(basis, "cremation") ||
           str_eq(basis, "death_certificate");
}

static int is_assistance_program(const char *p) { return str_eq(p, "dibao") || str_eq(p, "tekun"); }

static const char *role_for_kind(fact_kind k) {
    switch (k) {
    case FK_PERSON: return "person";
    case FK_DEATH: return "death";
    case FK_PAYMENT: return "payment";
    case FK_ASSISTANCE_MEMBER: return "member";
    case FK_INCOME: return "income";
    case FK_ASSET: return "asset";
    case FK_CUSTODY: return "custody";
    default: return "fact";
    }
}

/* ---- run context ----------------------------------------------------------- */

typedef struct rules_ctx {
    const factset *fs;
    const rules_config *rc;
    int today_month;       /* yyyymm bounding ongoing enrollments */
    int *order;            /* owned: member and case payment facts in (source, ref) order */
    size_t norder;
    strmap cases;          /* case key -> case index */
    size_t ncases;
    const char **case_key; /* owned array; strings borrowed from facts */
    int *case_sorted;      /* owned: case indices sorted by key */
    size_t *mem_off;       /* owned: case c's member facts are mem[mem_off[c] .. mem_off[c+1]) */
    int *mem;
    size_t *pay_off;       /* owned: case c's dibao/tekun payment facts, same layout */
    int *pay;
    unsigned *mark;        /* owned: per-fact marks for "already used" ... */
    unsigned mark_gen;     /* ... valid when mark[i] == mark_gen */
} rules_ctx;

static const fact *F(const rules_ctx *cx, int i) { return &cx->fs->facts[i]; }

static void mark_reset(rules_ctx *cx) {
    if (++cx->mark_gen == 0) { /* wrapped: clear */
        memset(cx->mark, 0, cx->fs->nfacts * sizeof *cx->mark);
        cx->mark_gen = 1;
    }
}
/* 1 when fact i was not marked yet in this generation (and marks it). */
static int mark_once(rules_ctx *cx, int i) {
    if (cx->mark[i] == cx->mark_gen) return 0;
    cx->mark[i] = cx->mark_gen;
    return 1;
}

/* An assistance payment read by its case. Assistance is paid to a household
 * case: the payment may name a member (id_no) or only the case, and both are
 * read here by `case` alone, never through the member's identity. */
static int is_case_payment(const fact *f) {
    return f->kind == FK_PAYMENT && fact_str(f, FF_CASE) && fact_has(f, FF_PERIOD) &&
           is_assistance_program(fact_str(f, FF_PROGRAM));
}

typedef struct case_sort_key {
    const char *key;
    int idx;
} case_sort_key;

static int cmp_case_sort_key(const void *a, const void *b) {
    return strcmp(((const case_sort_key *)a)->key, ((const case_sort_key *)b)->key);
}

/* Builds the case index and its member and payment lists. */
static int ctx_build_cases(rules_ctx *cx) {
    const factset *fs = cx->fs;
    size_t nsel = 0;
    for (size_t i = 0; i < fs->nfacts; i++) {
        const fact *f = F(cx, (int)i);
        nsel += (f->kind == FK_ASSISTANCE_MEMBER && fact_str(f, FF_CASE)) || is_case_payment(f);
    }
    cx->order = malloc((nsel ? nsel : 1) * sizeof *cx->order);
    if (!cx->order) {
        gg_error("rules", "out of memory selecting %zu case facts", nsel);
        return -1;
    }
    for (size_t i = 0; i < fs->nfacts; i++) {
        const fact *f = F(cx, (int)i);
        if ((f->kind == FK_ASSISTANCE_MEMBER && fact_str(f, FF_CASE)) || is_case_payment(f))
            cx->order[cx->norder++] = (int)i;
    }
    if (factset_sort_indices(fs, cx->order, cx->norder) != 0) return -1;
    if (strmap_init(&cx->cases, 64) != 0) return -1;
    for (size_t oi = 0; oi < cx->norder; oi++) {
        const fact *f = F(cx, cx->order[oi]);
        const char *ck = fact_str(f, FF_CASE);
        if (f->kind == FK_ASSISTANCE_MEMBER && ck &&
            strmap_intern(&cx->cases, ck, (int)strmap_count(&cx->cases), NULL) < 0)
            return -1;
    }
    size_t nc = cx->ncases = strmap_count(&cx->cases);
    cx->case_key = calloc(nc + 1, sizeof *cx->case_key);
    cx->case_sorted = malloc((nc + 1) * sizeof *cx->case_sorted);
    cx->mem_off = calloc(nc + 1, sizeof *cx->mem_off);
    cx->pay_off = calloc(nc + 1, sizeof *cx->pay_off);
    if (!cx->case_key || !cx->case_sorted || !cx->mem_off || !cx->pay_off) goto oom;
    size_t it = 0;
    const char *key;
    int ci;
    while (strmap_next(&cx->cases, &it, &key, &ci)) cx->case_key[ci] = key;
    case_sort_key *sk = malloc((nc + 1) * sizeof *sk);
    if (!sk) goto oom;
    for (size_t c = 0; c < nc; c++) {
        sk[c].key = cx->case_key[c];
        sk[c].idx = (int)c;
    }
    qsort(sk, nc, sizeof *sk, cmp_case_sort_key);
    for (size_t c = 0; c < nc; c++) cx->case_sorted[c] = sk[c].idx;
    free(sk);

    for (int pass = 0; pass < 2; pass++) {
        size_t *mfill = NULL, *pfill = NULL;
        if (pass == 1) {
            for (size_t c = 0; c < nc; c++) {
                cx->mem_off[c + 1] += cx->mem_off[c];
                cx->pay_off[c + 1] += cx->pay_off[c];
            }
            cx->mem = malloc((cx->mem_off[nc] + 1) * sizeof *cx->mem);
            cx->pay = malloc((cx->pay_off[nc] + 1) * sizeof *cx->pay);
            mfill = malloc((nc + 1) * sizeof *mfill);
            pfill = malloc((nc + 1) * sizeof *pfill);
            if (!cx->mem || !cx->pay || !mfill || !pfill) {
                free(mfill);
                free(pfill);
                goto oom;
            }
            memcpy(mfill, cx->mem_off, (nc + 1) * sizeof *mfill);
            memcpy(pfill, cx->pay_off, (nc + 1) * sizeof *pfill);
        }
        for (size_t oi = 0; oi < cx->norder; oi++) {
            int i = cx->order[oi];
            const fact *f = F(cx, i);
            int c;
            if (f->kind == FK_ASSISTANCE_MEMBER) {
                if (!strmap_get(&cx->cases, fact_str(f, FF_CASE), &c)) continue;
                if (pass == 0) cx->mem_off[c + 1]++;
                else cx->mem[mfill[c]++] = i;
            } else if (is_case_payment(f)) {
                if (!strmap_get(&cx->cases, fact_str(f, FF_CASE), &c)) continue;
                if (pass == 0) cx->pay_off[c + 1]++;
                else cx->pay[pfill[c]++] = i;
            }
        }
        free(mfill);
        free(pfill);
    }
    return 0;
oom:
    gg_error("rules", "out of memory indexing %zu cases", nc);
    return -1;
}

static void ctx_free(rules_ctx *cx) {
    free(cx->order);
    strmap_free(&cx->cases);
    free(cx->case_key);
    free(cx->case_sorted);
    free(cx->mem_off);
    free(cx->mem);
    free(cx->pay_off);
    free(cx->pay);
    free(cx->mark);
}

/* Enrollment of a member fact as a day interval [from, to] (to = OPEN_END when
 * ongoing) and as month indices [mlo, mhi]; 0 when it covers no month. */
static int member_span(const rules_ctx *cx, const fact *f, int *from, int *to, int *mlo, int *mhi) {
    if (!fact_has(f, FF_FROM)) return 0;
    *from = (int)fact_i(f, FF_FROM);
    *to = fact_has(f, FF_TO) ? (int)fact_i(f, FF_TO) : OPEN_END;
    *mlo = month_index(date_month(*from));
    *mhi = month_index(*to == OPEN_END ? cx->today_month : date_month(*to));
    return *mlo <= *mhi;
}

/* Months of the day interval [lo, hi] (hi may be OPEN_END = through today's month). */
static int day_span_months(const rules_ctx *cx, int lo, int hi, int *mlo, int *mhi) {
    if (lo > hi) return 0;
    *mlo = month_index(date_month(lo));
    *mhi = month_index(hi == OPEN_END ? cx->today_month : date_month(hi));
    return *mlo <= *mhi;
}

/* ---- alerts ----------------------------------------------------------------- */

/* Opens an alert for `subject`. name/region/grid come from person p (when >= 0);
 * id_no is set when person_subject. Returns NULL on out of memory. */
static alert *open_alert(rules_ctx *cx, alert_list *out, rule_id r, const char *subject, int p,
                         int person_subject, const char *case_key) {
    alert *a = alert_list_push(out);
    if (!a) return NULL;
    alert_init(a, r, subject);
    if (!a->subject) return NULL;
    if (p >= 0) {
        const person *ps = &cx->fs->persons[p];
        if (person_subject) memcpy(a->id_no, ps->id_no, sizeof a->id_no);
        if ((ps->name && !(a->name = strdup(ps->name))) || !(a->region = strdup(ps->region)) ||
            (ps->grid && !(a->grid = strdup(ps->grid))))
            return NULL;
    }
    if (case_key && !(a->case_key = strdup(case_key))) return NULL;
    return a;
}

/* alert_add_period() refuses months outside 1000-01..9999-12 with -1, like an
 * out-of-memory failure; such a period is left out here instead of failing the run. */
static int add_period(alert *a, int yyyymm) {
    int y = yyyymm / 100, m = yyyymm % 100;
    if (y < 1000 || y > 9999 || m < 1 || m > 12) return 0;
    return alert_add_period(a, yyyymm);
}

static int add_ev(rules_ctx *cx, alert *a, const char *role, int fi) {
    return alert_add_evidence(a, role, F(cx, fi), (link_conf)cx->fs->link[fi]) == 0 ? 0 : -1;
}

/* Evidence "person": the first person fact tied to p by id, if any. */
static int add_person_ev(rules_ctx *cx, alert *a, int p) {
    const factset *fs = cx->fs;
    for (size_t k = fs->by_person_off[p]; k < fs->by_person_off[p + 1]; k++) {
        int fi = fs->by_person[k];
        if (F(cx, fi)->kind == FK_PERSON && fs->link[fi] == LINK_HIGH) return add_ev(cx, a, "person", fi);
    }
    return 0;
}

static confidence conf_of(int all_low, int name_conflict) {
    if (all_low) return CONF_LOW;
    return name_conflict ? CONF_MEDIUM : CONF_HIGH;
}

/* Sets a->conf and stores the detail (stolen) as compact JSON text, adding
 * "name_conflict": true when the name conflict lowered the confidence. */
static int finish_alert(alert *a, int all_low, int name_conflict, json_t *detail) {
    if (!detail) return -1;
    a->conf = conf_of(all_low, name_conflict);
    if (a->conf == CONF_MEDIUM && json_object_set_new(detail, "name_conflict", json_true()) != 0) {
        json_decref(detail);
        return -1;
    }
    a->detail_json = json_dumps(detail, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(detail);
    return a->detail_json ? 0 : -1;
}

/* Adds the case's dibao/tekun payments whose period is marked in bm (month
 * indices lo .. lo+n-1) as evidence and to *amount. */
static int add_case_payments(rules_ctx *cx, alert *a, int ci, const unsigned char *bm, int lo, int n,
                             int64_t *amount) {
    for (size_t k = cx->pay_off[ci]; k < cx->pay_off[ci + 1]; k++) {
        int fi = cx->pay[k];
        const fact *f = F(cx, fi);
        int mi = month_index((int)fact_i(f, FF_PERIOD));
        if (mi < lo || mi >= lo + n || !bm[mi - lo]) continue;
        *amount += fact_i(f, FF_AMOUNT);
        if (add_ev(cx, a, "case_payment", fi) != 0) return -1;
    }
    return 0;
}

static int add_periods(alert *a, const unsigned char *bm, int lo, int n) {
    for (int m = 0; m < n; m++)
        if (bm[m] && add_period(a, month_of_index(lo + m)) != 0) return -1;
    return 0;
}

/* ---- deaths -------------------------------------------------------------------- */

typedef struct death_found {
    int date;       /* D, yyyymmdd */
    int grid_only;  /* D rests on grid reports only */
    int all_low;    /* every death fact giving D is a low-confidence link */
    int first;      /* first fact (source, ref order) giving D */
} death_found;

static int death_gives_d(const rules_ctx *cx, int fi, const death_found *d);

/* D for person p: the earliest authoritative, non-revoked death; when
 * authoritative_only is 0 and there is none, the earliest non-revoked grid
 * report. 1 found, 0 none. */
static int person_death(const rules_ctx *cx, int p, int authoritative_only, death_found *d) {
    const factset *fs = cx->fs;
    int d_auth = 0, d_grid = 0;
    for (size_t k = fs->by_person_off[p]; k < fs->by_person_off[p + 1]; k++) {
        const fact *f = F(cx, fs->by_person[k]);
        if (f->kind != FK_DEATH || !fact_has(f, FF_DEATH_DATE)) continue;
        if (fact_has(f, FF_REVOKED) && fact_i(f, FF_REVOKED)) continue;
        int dd = (int)fact_i(f, FF_DEATH_DATE);
        if (is_authoritative_basis(fact_str(f, FF_BASIS))) {
            if (!d_auth || dd < d_auth) d_auth = dd;
        } else if (!d_grid || dd < d_grid) {
            d_grid = dd;
        }
    }
    if (!d_auth && (authoritative_only || !d_grid)) return 0;
    d->grid_only = !d_auth;
    d->date = d_auth ? d_auth : d_grid;
    d->all_low = 1;
    d->first = -1;
    for (size_t k = fs->by_person_off[p]; k < fs->by_person_off[p + 1]; k++) {
        int fi = fs->by_person[k];
        if (!death_gives_d(cx, fi, d)) continue;
        if (d->first < 0) d->first = fi;
        if (fs->link[fi] != LINK_LOW) d->all_low = 0;
    }
    return 1;
}

/* 1 when fact fi is one of the death facts giving d->date. */
static int death_gives_d(const rules_ctx *cx, int fi, const death_found *d) {
    const fact *f = F(cx, fi);
    if (f->kind != FK_DEATH || !fact_has(f, FF_DEATH_DATE) || fact_i(f, FF_DEATH_DATE) != d->date) return 0;
    if (fact_has(f, FF_REVOKED) && fact_i(f, FF_REVOKED)) return 0;
    return is_authoritative_basis(fact_str(f, FF_BASIS)) != d->grid_only;
}

static int add_death_ev(rules_ctx *cx, alert *a, int p, const death_found *d) {
    const factset *fs = cx->fs;
    for (size_t k = fs->by_person_off[p]; k < fs->by_person_off[p + 1]; k++) {
        int fi = fs->by_person[k];
        if (death_gives_d(cx, fi, d) && add_ev(cx, a, "death", fi) != 0) return -1;
    }
    return 0;
}

/* ---- scratch vectors and member grouping --------------------------------------- */

typedef struct ivec {
    int *v;
    size_t n, cap;
} ivec;

static int ivec_push(ivec *x, int val) {
    if (x->n == x->cap) {
        size_t ncap = x->cap ? x->cap * 2 : 16;
        int *nv = realloc(x->v, ncap * sizeof *nv);
        if (!nv) {
            gg_error("rules", "out of memory growing a scratch list to %zu entries", ncap);
            return -1;
        }
        x->v = nv;
        x->cap = ncap;
    }
    x->v[x->n++] = val;
    return 0;
}

typedef struct member_ref {
    int person; /* person index, -1 when the member fact is not linked */
    int pos;    /* position in the case's member list ((source, ref) order) */
    int fi;     /* fact index */
} member_ref;

static int cmp_member_ref(const void *a, const void *b) {
    const member_ref *x = a, *y = b;
    if (x->person != y->person) return (x->person > y->person) - (x->person < y->person);
    return (x->pos > y->pos) - (x->pos < y->pos);
}

/* The case's member facts grouped by person (unlinked ones, person -1, sort
 * first), each group in (source, ref) order. *out is malloc'd, *n entries. */
static int case_member_refs(const rules_ctx *cx, int ci, member_ref **out, size_t *n) {
    size_t m0 = cx->mem_off[ci], nm = cx->mem_off[ci + 1] - m0;
    member_ref *r = malloc((nm ? nm : 1) * sizeof *r);
    if (!r) {
        gg_error("rules", "out of memory grouping %zu members of a case", nm);
        return -1;
    }
    for (size_t k = 0; k < nm; k++) {
        r[k].fi = cx->mem[m0 + k];
        r[k].person = cx->fs->person_of[r[k].fi];
        r[k].pos = (int)k;
    }
    qsort(r, nm, sizeof *r, cmp_member_ref);
    *out = r;
    *n = nm;
    return 0;
}

/* Month span [lo, hi] (month indices) of a case's enrollment; 0 when none. */
static int case_span(const rules_ctx *cx, int ci, int *lo, int *hi) {
    int any = 0;
    for (size_t k = cx->mem_off[ci]; k < cx->mem_off[ci + 1]; k++) {
        int from, to, mlo, mhi;
        if (!member_span(cx, F(cx, cx->mem[k]), &from, &to, &mlo, &mhi)) continue;
        if (!any || mlo < *lo) *lo = mlo;
        if (!any || mhi > *hi) *hi = mhi;
        any = 1;
    }
    return any;
}

/* Marks in bm (month indices lo .. lo+n-1) the months member fact fi is enrolled. */
static void mark_member_months(const rules_ctx *cx, int fi, unsigned char *bm, int lo, int n) {
    int from, to, mlo, mhi;
    if (!member_span(cx, F(cx, fi), &from, &to, &mlo, &mhi)) return;
    for (int m = mlo; m <= mhi; m++)
        if (m >= lo && m < lo + n) bm[m - lo] = 1;
}

/* 1 when member fact fi is enrolled in a month marked in bm. */
static int member_in_months(const rules_ctx *cx, int fi, const unsigned char *bm, int lo, int n) {
    int from, to, mlo, mhi;
    if (!member_span(cx, F(cx, fi), &from, &to, &mlo, &mhi)) return 0;
    for (int m = mlo; m <= mhi; m++)
        if (m >= lo && m < lo + n && bm[m - lo]) return 1;
    return 0;
}

/* Case facts shared by the case rules: program and region from the member
 * facts (first non-empty in (source, ref) order), first member's person. */
static void case_basics(const rules_ctx *cx, int ci, const char **program, const char **region, int *first_person) {
    *program = NULL;
    *region = NULL;
    *first_person = -1;
    for (size_t k = cx->mem_off[ci]; k < cx->mem_off[ci + 1]; k++) {
        int fi = cx->mem[k];
        const fact *f = F(cx, fi);
        if (!*program) *program = fact_str(f, FF_PROGRAM);
        if (!*region) *region = fact_str(f, FF_REGION);
        if (*first_person < 0) *first_person = cx->fs->person_of[fi];
    }
    if (!*region && *first_person >= 0) *region = cx->fs->persons[*first_person].region;
}

static char *case_subject(const char *case_key, const char *id18) {
    size_t len = strlen(case_key) + 40;
    char *s = malloc(len);
    if (!s) {
        gg_error("rules", "out of memory building an alert subject");
        return NULL;
    }
    if (id18)
        snprintf(s, len, "case:%s/person:%s", case_key, id18);
    else
        snprintf(s, len, "case:%s", case_key);
    return s;
}

/* ---- rule 1: pension_after_death ------------------------------------------------ */

static int is_pension_payment(const fact *f) {
    return f->kind == FK_PAYMENT && fact_has(f, FF_PERIOD) && str_eq(fact_str(f, FF_PROGRAM), "pension");
}

static int rule_pension_after_death(rules_ctx *cx, alert_list *out) {
    const factset *fs = cx->fs;
    for (size_t p = 0; p < fs->npersons; p++) {
        const person *ps = &fs->persons[p];
        death_found d;
        if (!person_death(cx, (int)p, 0, &d)) continue;
        int limit = month_add(date_month(d.date), cx->rc->grace_months);
        size_t nover = 0;
        for (size_t k = fs->by_person_off[p]; k < fs->by_person_off[p + 1]; k++) {
            const fact *f = F(cx, fs->by_person[k]);
            if (is_pension_payment(f) && fact_i(f, FF_PERIOD) > limit) nover++;
        }
        if (!nover) continue;
        char subject[64], dbuf[16];
        snprintf(subject, sizeof subject, "person:%s", ps->id_no);
        alert *a = open_alert(cx, out, RULE_PENSION_AFTER_DEATH, subject, (int)p, 1, NULL);
        if (!a || add_death_ev(cx, a, (int)p, &d) != 0) return -1;
        for (size_t k = fs->by_person_off[p]; k < fs->by_person_off[p + 1]; k++) {
            int fi = fs->by_person[k];
            const fact *f = F(cx, fi);
            if (!is_pension_payment(f) || fact_i(f, FF_PERIOD) <= limit) continue;
            a->amount += fact_i(f, FF_AMOUNT);
            if (add_period(a, (int)fact_i(f, FF_PERIOD)) != 0 || add_ev(cx, a, "payment", fi) != 0)
                return -1;
        }
        if (add_person_ev(cx, a, (int)p) != 0) return -1;
        date_text(d.date, dbuf, sizeof dbuf);
        json_t *detail = json_pack("{s:s, s:s?, s:i, s:b}", "death_date", dbuf, "basis",
                                   fact_str(F(cx, d.first), FF_BASIS), "grace_months", cx->rc->grace_months,
                                   "grid_report_only", d.grid_only);
        if (finish_alert(a, d.grid_only || d.all_low, ps->name_conflict, detail) != 0) return -1;
    }
    return 0;
}

/* ---- rule 2: assistance_hidden_income -------------------------------------------- */

typedef struct income_case {
    int lo, n;             /* month indices lo .. lo+n-1 */
    int *members;          /* distinct enrolled persons (or unlinked member facts) per month */
    int64_t *income;       /* household income per month */
    unsigned char *bm;     /* scratch: one person's enrolled months */
    unsigned char *flag;   /* flagged months */
    member_ref *refs;
    size_t nrefs;
} income_case;

static void income_case_free(income_case *ic) {
    free(ic->members);
    free(ic->income);
    free(ic->bm);
    free(ic->flag);
    free(ic->refs);
    memset(ic, 0, sizeof *ic);
}

/* Fills ic->bm with the months the person of refs[g0 .. g1) is enrolled. */
static void group_months(const rules_ctx *cx, income_case *ic, size_t g0, size_t g1) {
    memset(ic->bm, 0, (size_t)ic->n);
    for (size_t g = g0; g < g1; g++) mark_member_months(cx, ic->refs[g].fi, ic->bm, ic->lo, ic->n);
}

/* Income facts of person p counted for the case: period enrolled (ic->bm) and,
 * when only_flagged, flagged. Calls add(i) per fact when a is not NULL. */
static int income_pass(rules_ctx *cx, income_case *ic, int p, alert *a) {
    const factset *fs = cx->fs;
    for (size_t k = fs->by_person_off[p]; k < fs->by_person_off[p + 1]; k++) {
        int fi = fs->by_person[k];
        const fact *f = F(cx, fi);
        if (f->kind != FK_INCOME || !fact_has(f, FF_PERIOD)) continue;
        int m = month_index((int)fact_i(f, FF_PERIOD)) - ic->lo;
        if (m < 0 || m >= ic->n || !ic->bm[m]) continue;
        if (!a) {
            ic->income[m] += fact_i(f, FF_AMOUNT);
        } else if (ic->flag[m] && add_ev(cx, a, "income", fi) != 0) {
            return -1;
        }
    }
    return 0;
}

static int hidden_income_case(rules_ctx *cx, int ci, alert_list *out) {
    const factset *fs = cx->fs;
    const rules_config *rc = cx->rc;
    const char *program, *region;
    int first_person, hi;
    income_case ic = {0};
    case_basics(cx, ci, &program, &region, &first_person);
    int64_t standard = rules_standard_for(rc, region);
    if (standard < 0 || !case_span(cx, ci, &ic.lo, &hi)) return 0;
    ic.n = hi - ic.lo + 1;
    ic.members = calloc((size_t)ic.n, sizeof *ic.members);
    ic.income = calloc((size_t)ic.n, sizeof *ic.income);
    ic.bm = calloc((size_t)ic.n, 1);
    ic.flag = calloc((size_t)ic.n, 1);
    if (!ic.members || !ic.income || !ic.bm || !ic.flag) goto oom;
    if (case_member_refs(cx, ci, &ic.refs, &ic.nrefs) != 0) goto fail;

    for (size_t g0 = 0, g1; g0 < ic.nrefs; g0 = g1) {
        int p = ic.refs[g0].person;
        /* An unlinked member fact counts as a member of its own, with no income. */
        for (g1 = g0 + 1; p >= 0 && g1 < ic.nrefs && ic.refs[g1].person == p; g1++) {
        }
        group_months(cx, &ic, g0, g1);
        for (int m = 0; m < ic.n; m++) ic.members[m] += ic.bm[m];
        if (p >= 0) income_pass(cx, &ic, p, NULL);
    }
    int nflag = 0;
    for (int m = 0; m < ic.n; m++) {
        if (ic.members[m] > 0 && ic.income[m] > standard * ic.members[m]) {
            ic.flag[m] = 1;
            nflag++;
        }
    }
    if (nflag < rc->min_months || nflag == 0) {
        income_case_free(&ic);
        return 0;
    }

    char *subject = case_subject(cx->case_key[ci], NULL);
    alert *a = subject ? open_alert(cx, out, RULE_ASSISTANCE_HIDDEN_INCOME, subject, first_person, 0,
                                    cx->case_key[ci])
                       : NULL;
    free(subject);
    if (!a || add_periods(a, ic.flag, ic.lo, ic.n) != 0) goto fail;
    int name_conflict = 0, all_low = 1;
    for (size_t k = cx->mem_off[ci]; k < cx->mem_off[ci + 1]; k++) {
        int fi = cx->mem[k];
        if (!member_in_months(cx, fi, ic.flag, ic.lo, ic.n)) continue;
        if (add_ev(cx, a, "member", fi) != 0) goto fail;
        if (fs->link[fi] != LINK_LOW) all_low = 0;
        if (fs->person_of[fi] >= 0 && fs->persons[fs->person_of[fi]].name_conflict) name_conflict = 1;
    }
    for (size_t g0 = 0, g1; g0 < ic.nrefs; g0 = g1) {
        int p = ic.refs[g0].person;
        for (g1 = g0 + 1; p >= 0 && g1 < ic.nrefs && ic.refs[g1].person == p; g1++) {
        }
        if (p < 0) continue;
        group_months(cx, &ic, g0, g1);
        if (income_pass(cx, &ic, p, a) != 0) goto fail;
    }
    if (add_case_payments(cx, a, ci, ic.flag, ic.lo, ic.n, &a->amount) != 0) goto fail;

    json_t *months = json_array();
    if (!months) goto fail;
    for (int m = 0; m < ic.n; m++) {
        if (!ic.flag[m]) continue;
        char mbuf[16];
        month_text(month_of_index(ic.lo + m), mbuf, sizeof mbuf);
        if (json_array_append_new(months, json_pack("{s:s, s:I, s:i, s:I}", "period", mbuf, "income",
                                                    (json_int_t)ic.income[m], "members", ic.members[m], "limit",
                                                    (json_int_t)(standard * ic.members[m]))) != 0) {
            json_decref(months);
            goto fail;
        }
    }
    json_t *detail = json_pack("{s:s?, s:s?, s:I, s:i, s:o}", "program", program, "region", region, "standard",
                               (json_int_t)standard, "min_months", rc->min_months, "months", months);
    if (finish_alert(a, all_low, name_conflict, detail) != 0) goto fail;
    income_case_free(&ic);
    return 0;
oom:
    gg_error("rules", "out of memory evaluating assistance_hidden_income");
fail:
    income_case_free(&ic);
    return -1;
}

static int rule_hidden_income(rules_ctx *cx, alert_list *out) {
    for (size_t c = 0; c < cx->ncases; c++)
        if (hidden_income_case(cx, cx->case_sorted[c], out) != 0) return -1;
    return 0;
}

/* ---- rule 3: assistance_hidden_assets ------------------------------------------ */

static int subkind_exempt(const rules_config *rc, const char *subkind) {
    if (!subkind) return 0;
    for (size_t i = 0; i < rc->nexempt; i++)
        if (str_eq(rc->exempt_subkinds[i], subkind)) return 1;
    return 0;
}

static void asset_interval(const fact *f, int *from, int *to) {
    *from = (int)fact_i(f, FF_FROM);
    *to = fact_has(f, FF_TO) ? (int)fact_i(f, FF_TO) : OPEN_END;
}

/* Marks in held the months of holding [hf, ht] while enrolled [ef, et]. 1 when any. */
static int mark_holding(const rules_ctx *cx, int ef, int et, int hf, int ht, unsigned char *held, int lo, int n) {
    int mlo, mhi, any = 0;
    if (!day_span_months(cx, hf > ef ? hf : ef, ht < et ? ht : et, &mlo, &mhi)) return 0;
    for (int m = mlo; m <= mhi; m++)
        if (m >= lo && m < lo + n) {
            held[m - lo] = 1;
            any = 1;
        }
    return any;
}

/* Scans the assets of member fact mfi's person; contributing asset facts are
 * appended (once) to assets. 1 when the member held something, -1 on OOM. */
static int member_holdings(rules_ctx *cx, int mfi, unsigned char *held, int lo, int n, ivec *assets, ivec *re) {
    const factset *fs = cx->fs;
    int p = fs->person_of[mfi], ef, et, mlo, mhi, found = 0;
    if (p < 0 || !member_span(cx, F(cx, mfi), &ef, &et, &mlo, &mhi)) return 0;
    re->n = 0;
    for (size_t k = fs->by_person_off[p]; k < fs->by_person_off[p + 1]; k++) {
        int fi = fs->by_person[k];
        const fact *f = F(cx, fi);
        if (f->kind != FK_ASSET || !fact_has(f, FF_FROM)) continue;
        const char *kind = fact_str(f, FF_KIND);
        int hf, ht;
        asset_interval(f, &hf, &ht);
        if (str_eq(kind, "real_estate")) {
            if (ivec_push(re, fi) != 0) return -1;
        } else if ((str_eq(kind, "vehicle") && !subkind_exempt(cx->rc, fact_str(f, FF_SUBKIND))) ||
                   str_eq(kind, "business")) {
            if (mark_holding(cx, ef, et, hf, ht, held, lo, n)) {
                found = 1;
                if (mark_once(cx, fi) && ivec_push(assets, fi) != 0) return -1;
            }
        }
    }
    /* More than one dwelling at once: every overlap of two properties is a holding. */
    for (size_t i = 0; i < re->n; i++) {
        int fi1, ti1;
        asset_interval(F(cx, re->v[i]), &fi1, &ti1);
        for (size_t j = i + 1; j < re->n; j++) {
            int fi2, ti2;
            asset_interval(F(cx, re->v[j]), &fi2, &ti2);
            int of = fi1 > fi2 ? fi1 : fi2, ot = ti1 < ti2 ? ti1 : ti2;
            if (of > ot || !mark_holding(cx, ef, et, of, ot, held, lo, n)) continue;
            found = 1;
            if (mark_once(cx, re->v[i]) && ivec_push(assets, re->v[i]) != 0) return -1;
            if (mark_once(cx, re->v[j]) && ivec_push(assets, re->v[j]) != 0) return -1;
        }
    }
    return found;
}

static int hidden_assets_case(rules_ctx *cx, int ci, alert_list *out, ivec *assets, ivec *members, ivec *re) {
    const factset *fs = cx->fs;
    const char *program, *region;
    int first_person, lo, hi;
    case_basics(cx, ci, &program, &region, &first_person);
    if (!case_span(cx, ci, &lo, &hi)) return 0;
    int n = hi - lo + 1;
    unsigned char *held = calloc((size_t)n, 1);
    if (!held) {
        gg_error("rules", "out of memory evaluating assistance_hidden_assets");
        return -1;
    }
    assets->n = members->n = 0;
    mark_reset(cx);
    for (size_t k = cx->mem_off[ci]; k < cx->mem_off[ci + 1]; k++) {
        int r = member_holdings(cx, cx->mem[k], held, lo, n, assets, re);
        if (r < 0 || (r > 0 && ivec_push(members, cx->mem[k]) != 0)) goto fail;
    }
    if (!members->n) {
        free(held);
        return 0;
    }
    char *subject = case_subject(cx->case_key[ci], NULL);
    alert *a = subject ? open_alert(cx, out, RULE_ASSISTANCE_HIDDEN_ASSETS, subject, first_person, 0,
                                    cx->case_key[ci])
                       : NULL;
    free(subject);
    if (!a || add_periods(a, held, lo, n) != 0) goto fail;
    int all_low = 1, name_conflict = 0;
    for (size_t i = 0; i < members->n; i++) {
        int fi = members->v[i];
        if (add_ev(cx, a, "member", fi) != 0) goto fail;
        if (fs->link[fi] != LINK_LOW) all_low = 0;
        if (fs->persons[fs->person_of[fi]].name_conflict) name_conflict = 1;
    }
    json_t *jassets = json_array(), *jmonths = json_array();
    if (!jassets || !jmonths) {
        json_decref(jassets);
        json_decref(jmonths);
        goto fail;
    }
    for (size_t i = 0; i < assets->n; i++) {
        int fi = assets->v[i];
        const fact *f = F(cx, fi);
        char fbuf[16], tbuf[16];
        date_text((int)fact_i(f, FF_FROM), fbuf, sizeof fbuf);
        if (fact_has(f, FF_TO)) date_text((int)fact_i(f, FF_TO), tbuf, sizeof tbuf);
        if (add_ev(cx, a, "asset", fi) != 0 ||
            json_array_append_new(jassets, json_pack("{s:s, s:s?, s:s?, s:s, s:s?, s:s?}", "member",
                                                     fs->persons[fs->person_of[fi]].id_no, "kind",
                                                     fact_str(f, FF_KIND), "subkind", fact_str(f, FF_SUBKIND),
                                                     "from", fbuf, "to", fact_has(f, FF_TO) ? tbuf : NULL,
                                                     "description", fact_str(f, FF_DESCRIPTION))) != 0) {
            json_decref(jassets);
            json_decref(jmonths);
            goto fail;
        }
    }
    for (int m = 0; m < n; m++) {
        char mbuf[16];
        if (!held[m]) continue;
        month_text(month_of_index(lo + m), mbuf, sizeof mbuf);
        if (json_array_append_new(jmonths, json_string(mbuf)) != 0) {
            json_decref(jassets);
            json_decref(jmonths);
            goto fail;
        }
    }
    if (add_case_payments(cx, a, ci, held, lo, n, &a->amount) != 0) {
        json_decref(jassets);
        json_decref(jmonths);
        goto fail;
    }
    json_t *detail = json_pack("{s:s?, s:o, s:o}", "program", program, "assets", jassets, "months", jmonths);
    if (finish_alert(a, all_low, name_conflict, detail) != 0) goto fail;
    free(held);
    return 0;
fail:
    free(held);
    return -1;
}

static int rule_hidden_assets(rules_ctx *cx, alert_list *out) {
    ivec assets = {0}, members = {0}, re = {0};
    int rc = 0;
    for (size_t c = 0; c < cx->ncases && rc == 0; c++)
        rc = hidden_assets_case(cx, cx->case_sorted[c], out, &assets, &members, &re);
    free(assets.v);
    free(members.v);
    free(re.v);
    return rc;
}

/* ---- rule 4: assistance_deceased_member ----------------------------------------- */

/* Member fact still enrolled after D. */
static int enrolled_after(const fact *m, int d) { return !fact_has(m, FF_TO) || fact_i(m, FF_TO) > d; }

/* Payment period covered for a member fact enrolled after D: after the month
 * of D and up to the month of `to` (all later periods when `to` is empty). */
static int period_after_death(const fact *m, int dmonth, int period) {
    if (period <= dmonth) return 0;
    return !fact_has(m, FF_TO) || period <= date_month((int)fact_i(m, FF_TO));
}

static int deceased_member(rules_ctx *cx, int ci, const member_ref *g, size_t ng, alert_list *out) {
    const factset *fs = cx->fs;
    int p = g[0].person;
    death_found d;
    if (p < 0 || !person_death(cx, p, 1, &d)) return 0;
    int dmonth = date_month(d.date);
    size_t nq = 0, npay = 0;
    for (size_t i = 0; i < ng; i++) nq += enrolled_after(F(cx, g[i].fi), d.date);
    if (!nq) return 0;
    for (size_t k = cx->pay_off[ci]; k < cx->pay_off[ci + 1]; k++) {
        int period = (int)fact_i(F(cx, cx->pay[k]), FF_PERIOD);
        for (size_t i = 0; i < ng; i++) {
            const fact *m = F(cx, g[i].fi);
            if (enrolled_after(m, d.date) && period_after_death(m, dmonth, period)) {
                npay++;
                break;
            }
        }
    }
    if (!npay) return 0;

    const person *ps = &fs->persons[p];
    char *subject = case_subject(cx->case_key[ci], ps->id_no);
    alert *a = subject ? open_alert(cx, out, RULE_ASSISTANCE_DECEASED_MEMBER, subject, p, 1, cx->case_key[ci])
                       : NULL;
    free(subject);
    if (!a) return -1;
    const char *program = NULL;
    int to = 0; /* latest `to` among the members still enrolled after D; OPEN_END when ongoing */
    for (size_t i = 0; i < ng; i++) {
        const fact *m = F(cx, g[i].fi);
        if (!enrolled_after(m, d.date)) continue;
        if (!program) program = fact_str(m, FF_PROGRAM);
        int mt = fact_has(m, FF_TO) ? (int)fact_i(m, FF_TO) : OPEN_END;
        if (mt > to) to = mt;
        if (add_ev(cx, a, "member", g[i].fi) != 0) return -1;
    }
    if (add_death_ev(cx, a, p, &d) != 0) return -1;
    for (size_t k = cx->pay_off[ci]; k < cx->pay_off[ci + 1]; k++) {
        int fi = cx->pay[k];
        int period = (int)fact_i(F(cx, fi), FF_PERIOD);
        for (size_t i = 0; i < ng; i++) {
            const fact *m = F(cx, g[i].fi);
            if (!enrolled_after(m, d.date) || !period_after_death(m, dmonth, period)) continue;
            a->amount += fact_i(F(cx, fi), FF_AMOUNT);
            if (add_period(a, period) != 0 || add_ev(cx, a, "case_payment", fi) != 0) return -1;
            break;
        }
    }
    char dbuf[16], tbuf[16];
    date_text(d.date, dbuf, sizeof dbuf);
    if (to != OPEN_END) date_text(to, tbuf, sizeof tbuf);
    json_t *detail = json_pack("{s:s?, s:s, s:s, s:s?, s:s?}", "program", program, "member", ps->id_no,
                               "death_date", dbuf, "basis", fact_str(F(cx, d.first), FF_BASIS), "member_to",
                               to == OPEN_END ? NULL : tbuf);
    return finish_alert(a, d.all_low, ps->name_conflict, detail);
}

static int rule_deceased_member(rules_ctx *cx, alert_list *out) {
    for (size_t c = 0; c < cx->ncases; c++) {
        int ci = cx->case_sorted[c];
        member_ref *refs;
        size_t nrefs;
        if (case_member_refs(cx, ci, &refs, &nrefs) != 0) return -1;
        for (size_t g0 = 0, g1; g0 < nrefs; g0 = g1) {
            for (g1 = g0 + 1; g1 < nrefs && refs[g1].person == refs[g0].person; g1++) {
            }
            if (deceased_member(cx, ci, refs + g0, g1 - g0, out) != 0) {
                free(refs);
                return -1;
            }
        }
        free(refs);
    }
    return 0;
}

/* ---- rule 5: pension_in_custody --------------------------------------------------- */

/* 1 when the whole month `period` lies inside custody fact c. */
static int month_inside_custody(const fact *c, int period) {
    int first = period * 100 + 1, last = period * 100 + month_days(period);
    if (first < fact_i(c, FF_FROM)) return 0;
    return !fact_has(c, FF_TO) || last <= fact_i(c, FF_TO);
}

static int rule_pension_in_custody(rules_ctx *cx, alert_list *out) {
    const factset *fs = cx->fs;
    ivec custody = {0};
    int rc = -1;
    for (size_t p = 0; p < fs->npersons; p++) {
        const person *ps = &fs->persons[p];
        custody.n = 0;
        for (size_t k = fs->by_person_off[p]; k < fs->by_person_off[p + 1]; k++) {
            int fi = fs->by_person[k];
            const fact *f = F(cx, fi);
            if (f->kind == FK_CUSTODY && fact_has(f, FF_FROM) && str_eq(fact_str(f, FF_KIND), "imprisonment") &&
                ivec_push(&custody, fi) != 0)
                goto done;
        }
        if (!custody.n) continue;
        alert *a = NULL;
        int first_custody = -1, all_low = 1;
        mark_reset(cx);
        for (size_t k = fs->by_person_off[p]; k < fs->by_person_off[p + 1]; k++) {
            int fi = fs->by_person[k];
            const fact *f = F(cx, fi);
            if (!is_pension_payment(f)) continue;
            int period = (int)fact_i(f, FF_PERIOD), inside = 0;
            for (size_t c = 0; c < custody.n; c++) {
                if (!month_inside_custody(F(cx, custody.v[c]), period)) continue;
                inside = 1;
                mark_once(cx, custody.v[c]);
            }
            if (!inside) continue;
            if (!a) {
                char subject[64];
                snprintf(subject, sizeof subject, "person:%s", ps->id_no);
                a = open_alert(cx, out, RULE_PENSION_IN_CUSTODY, subject, (int)p, 1, NULL);
                if (!a) goto done;
            }
            a->amount += fact_i(f, FF_AMOUNT);
            if (add_period(a, period) != 0 || add_ev(cx, a, "payment", fi) != 0) goto done;
        }
        if (!a) continue;
        for (size_t c = 0; c < custody.n; c++) {
            int fi = custody.v[c];
            if (cx->mark[fi] != cx->mark_gen) continue;
            if (first_custody < 0) first_custody = fi;
            if (fs->link[fi] != LINK_LOW) all_low = 0;
            if (add_ev(cx, a, "custody", fi) != 0) goto done;
        }
        if (add_person_ev(cx, a, (int)p) != 0) goto done;
        const fact *cf = F(cx, first_custody);
        char fbuf[16], tbuf[16];
        date_text((int)fact_i(cf, FF_FROM), fbuf, sizeof fbuf);
        if (fact_has(cf, FF_TO)) date_text((int)fact_i(cf, FF_TO), tbuf, sizeof tbuf);
        json_t *detail = json_pack("{s:s, s:s?, s:s}", "custody_from", fbuf, "custody_to",
                                   fact_has(cf, FF_TO) ? tbuf : NULL, "custody_kind", "imprisonment");
        if (finish_alert(a, all_low, ps->name_conflict, detail) != 0) goto done;
    }
    rc = 0;
done:
    free(custody.v);
    return rc;
}

/* ---- rule 6: duplicate_assistance --------------------------------------------------- */

typedef struct dup_case {
    const char *key; /* case key, borrowed */
    int ci;          /* case index */
    int start;       /* earliest `from` of this person's enrollment in the case */
    int involved;    /* part of an overlapping pair */
} dup_case;

static int cmp_dup_case(const void *a, const void *b) {
    return strcmp(((const dup_case *)a)->key, ((const dup_case *)b)->key);
}

static int dup_case_find(const dup_case *dc, size_t nd, const char *key) {
    for (size_t j = 0; j < nd; j++)
        if (strcmp(dc[j].key, key) == 0) return (int)j;
    return -1;
}

/* One person's duplicate enrollment. mems: the person's member facts. */
static int duplicate_person(rules_ctx *cx, int p, const ivec *mems, int lo, int n, alert_list *out) {
    const factset *fs = cx->fs;
    const person *ps = &fs->persons[p];
    dup_case *dc = calloc(mems->n, sizeof *dc);
    unsigned char *bm = NULL, *owed = NULL, *ov = NULL;
    size_t nd = 0;
    int rc = -1;
    if (!dc) goto oom;
    for (size_t i = 0; i < mems->n; i++) {
        const fact *m = F(cx, mems->v[i]);
        const char *key = fact_str(m, FF_CASE);
        int j = dup_case_find(dc, nd, key), from = (int)fact_i(m, FF_FROM);
        if (j >= 0) {
            if (from < dc[j].start) dc[j].start = from;
            continue;
        }
        dc[nd].key = key;
        dc[nd].start = from;
        if (!strmap_get(&cx->cases, key, &dc[nd].ci)) dc[nd].ci = -1;
        nd++;
    }
    if (nd < 2) {
        rc = 0;
        goto done;
    }
    qsort(dc, nd, sizeof *dc, cmp_dup_case);
    bm = calloc(nd * (size_t)n, 1);
    owed = calloc(nd * (size_t)n, 1);
    ov = calloc((size_t)n, 1);
    if (!bm || !owed || !ov) goto oom;
    for (size_t i = 0; i < mems->n; i++) {
        int j = dup_case_find(dc, nd, fact_str(F(cx, mems->v[i]), FF_CASE));
        mark_member_months(cx, mems->v[i], bm + (size_t)j * n, lo, n);
    }
    int earlier = -1, later = -1, first_from = 0, first_to = 0;
    for (size_t x = 0; x < nd; x++) {
        for (size_t y = x + 1; y < nd; y++) {
            /* Keys are sorted and distinct: on equal starts y has the greater key. */
            size_t lt = dc[y].start >= dc[x].start ? y : x, er = lt == y ? x : y;
            int any = 0, mfrom = 0, mto = 0;
            for (int m = 0; m < n; m++) {
                if (!bm[x * n + m] || !bm[y * n + m]) continue;
                owed[lt * n + m] = 1;
                ov[m] = 1;
                if (!any) mfrom = m;
                mto = m;
                any = 1;
            }
            if (!any) continue;
            dc[x].involved = dc[y].involved = 1;
            if (earlier < 0) {
                earlier = (int)er;
                later = (int)lt;
                first_from = mfrom;
                first_to = mto;
            }
        }
    }
    if (earlier < 0) {
        rc = 0;
        goto done;
    }
    char subject[64];
    snprintf(subject, sizeof subject, "person:%s", ps->id_no);
    alert *a = open_alert(cx, out, RULE_DUPLICATE_ASSISTANCE, subject, p, 1, NULL);
    if (!a || add_periods(a, ov, lo, n) != 0) goto done;
    int all_low = 1;
    for (size_t i = 0; i < mems->n; i++) {
        int fi = mems->v[i];
        if (!dc[dup_case_find(dc, nd, fact_str(F(cx, fi), FF_CASE))].involved) continue;
        if (fs->link[fi] != LINK_LOW) all_low = 0;
        if (add_ev(cx, a, "member", fi) != 0) goto done;
    }
    for (size_t j = 0; j < nd; j++)
        if (dc[j].ci >= 0 && add_case_payments(cx, a, dc[j].ci, owed + j * n, lo, n, &a->amount) != 0) goto done;
    char fbuf[16], tbuf[16];
    month_text(month_of_index(lo + first_from), fbuf, sizeof fbuf);
    month_text(month_of_index(lo + first_to), tbuf, sizeof tbuf);
    json_t *detail = json_pack("{s:s, s:s, s:s, s:s}", "earlier_case", dc[earlier].key, "later_case",
                               dc[later].key, "overlap_from", fbuf, "overlap_to", tbuf);
    if (finish_alert(a, all_low, ps->name_conflict, detail) != 0) goto done;
    rc = 0;
    goto done;
oom:
    gg_error("rules", "out of memory evaluating duplicate_assistance");
done:
    free(dc);
    free(bm);
    free(owed);
    free(ov);
    return rc;
}

static int rule_duplicate_assistance(rules_ctx *cx, alert_list *out) {
    const factset *fs = cx->fs;
    ivec mems = {0};
    int rc = 0;
    for (size_t p = 0; p < fs->npersons && rc == 0; p++) {
        int lo = 0, hi = 0;
        mems.n = 0;
        for (size_t k = fs->by_person_off[p]; k < fs->by_person_off[p + 1]; k++) {
            int fi = fs->by_person[k], from, to, mlo, mhi;
            const fact *f = F(cx, fi);
            if (f->kind != FK_ASSISTANCE_MEMBER || !fact_str(f, FF_CASE)) continue;
            if (!member_span(cx, f, &from, &to, &mlo, &mhi)) continue;
            if (!mems.n || mlo < lo) lo = mlo;
            if (!mems.n || mhi > hi) hi = mhi;
            if (ivec_push(&mems, fi) != 0) {
                rc = -1;
                break;
            }
        }
        if (rc == 0 && mems.n >= 2) rc = duplicate_person(cx, (int)p, &mems, lo, hi - lo + 1, out);
    }
    free(mems.v);
    return rc;
}

/* ---- rule 7: identity_conflict ------------------------------------------------------ */

static int identity_conflict_person(rules_ctx *cx, int p, alert_list *out) {
    const factset *fs = cx->fs;
    const person *ps = &fs->persons[p];
    size_t k0 = fs->by_person_off[p], k1 = fs->by_person_off[p + 1];
    int birth_conflict = 0;
    for (size_t k = k0; k < k1 && !birth_conflict; k++) {
        int fi = fs->by_person[k];
        const fact *f = F(cx, fi);
        if (fs->link[fi] == LINK_HIGH && fact_has(f, FF_BIRTH_DATE) && fact_i(f, FF_BIRTH_DATE) != ps->birth_date)
            birth_conflict = 1;
    }
    if (!ps->name_conflict && !birth_conflict) return 0;

    char subject[64];
    snprintf(subject, sizeof subject, "person:%s", ps->id_no);
    alert *a = open_alert(cx, out, RULE_IDENTITY_CONFLICT, subject, p, 1, NULL);
    json_t *names = json_array(), *births = json_array();
    ivec seen_names = {0}, seen_births = {0};
    if (!a || !names || !births) goto fail;
    mark_reset(cx);
    for (size_t k = k0; k < k1; k++) {
        int fi = fs->by_person[k];
        const fact *f = F(cx, fi);
        if (fs->link[fi] != LINK_HIGH) continue;
        if (f->name_norm) {
            int dup = 0;
            for (size_t i = 0; i < seen_names.n && !dup; i++) {
                const fact *g = F(cx, seen_names.v[i]);
                dup = str_eq(g->source, f->source) && strcmp(g->name_norm, f->name_norm) == 0;
            }
            if (!dup) {
                if (ivec_push(&seen_names, fi) != 0 ||
                    json_array_append_new(names, json_pack("{s:s?, s:s}", "source", f->source, "name",
                                                           f->name_norm)) != 0)
                    goto fail;
                if (mark_once(cx, fi) && add_ev(cx, a, role_for_kind(f->kind), fi) != 0) goto fail;
            }
        }
        if (fact_has(f, FF_BIRTH_DATE) && fact_i(f, FF_BIRTH_DATE) != ps->birth_date) {
            int dup = 0;
            for (size_t i = 0; i < seen_births.n && !dup; i++) {
                const fact *g = F(cx, seen_births.v[i]);
                dup = str_eq(g->source, f->source) && fact_i(g, FF_BIRTH_DATE) == fact_i(f, FF_BIRTH_DATE);
            }
            if (!dup) {
                char sbuf[16], ebuf[16];
                date_text((int)fact_i(f, FF_BIRTH_DATE), sbuf, sizeof sbuf);
                date_text(ps->birth_date, ebuf, sizeof ebuf);
                if (ivec_push(&seen_births, fi) != 0 ||
                    json_array_append_new(births, json_pack("{s:s?, s:s, s:s}", "source", f->source, "stated",
                                                            sbuf, "embedded", ebuf)) != 0)
                    goto fail;
                if (mark_once(cx, fi) && add_ev(cx, a, role_for_kind(f->kind), fi) != 0) goto fail;
            }
        }
    }
    free(seen_names.v);
    free(seen_births.v);
    /* A data-quality notice: no money at risk, and the conflict itself never
     * lowers its own confidence. */
    json_t *detail = json_pack("{s:o, s:o}", "names", names, "birth_dates", births);
    return finish_alert(a, 0, 0, detail);
fail:
    gg_error("rules", "out of memory evaluating identity_conflict");
    json_decref(names);
    json_decref(births);
    free(seen_names.v);
    free(seen_births.v);
    return -1;
}

static int rule_identity_conflict(rules_ctx *cx, alert_list *out) {
    for (size_t p = 0; p < cx->fs->npersons; p++)
        if (identity_conflict_person(cx, (int)p, out) != 0) return -1;
    return 0;
}

/* ---- configuration and entry point ------------------------------------------------- */

void rules_config_defaults(rules_config *rc) {
    static const char *const exempt[] = {"motorcycle", "disability_vehicle"};
    memset(rc, 0, sizeof *rc);
    for (int r = 0; r < RULE__COUNT; r++) rc->enabled[r] = 1;
    rc->grace_months = 0;
    rc->min_months = 3;
    rc->standard_default = -1;
    rc->exempt_subkinds = calloc(2, sizeof *rc->exempt_subkinds);
    if (!rc->exempt_subkinds) {
        gg_error("rules", "out of memory setting the default exempt vehicle subkinds");
        return;
    }
    for (size_t i = 0; i < 2; i++) {
        rc->exempt_subkinds[i] = strdup(exempt[i]);
        if (!rc->exempt_subkinds[i]) {
            gg_error("rules", "out of memory setting the default exempt vehicle subkinds");
            return;
        }
        rc->nexempt = i + 1;
    }
}

void rules_config_free(rules_config *rc) {
    if (!rc) return;
    free(rc->standards);
    for (size_t i = 0; i < rc->nexempt; i++) free(rc->exempt_subkinds[i]);
    free(rc->exempt_subkinds);
    rc->standards = NULL;
    rc->nstandards = 0;
    rc->exempt_subkinds = NULL;
    rc->nexempt = 0;
}

int64_t rules_standard_for(const rules_config *rc, const char *region) {
    size_t best_len = 0;
    int64_t best = rc->standard_default;
    if (!region) return best;
    for (size_t i = 0; i < rc->nstandards; i++) {
        const char *pre = rc->standards[i].prefix;
        size_t len = strlen(pre);
        if (len > best_len && strncmp(region, pre, len) == 0) {
            best_len = len;
            best = rc->standards[i].fen;
        }
    }
    return best;
}

static int cmp_alert(const void *a, const void *b) {
    const alert *x = a, *y = b;
    if (x->rule != y->rule) return (x->rule > y->rule) - (x->rule < y->rule);
    return strcmp(x->subject, y->subject);
}

int rules_run(const factset *fs, const rules_config *rc, alert_list *out) {
    static int (*const rule_fn[RULE__COUNT])(rules_ctx *, alert_list *) = {
        [RULE_PENSION_AFTER_DEATH] = rule_pension_after_death,
        [RULE_ASSISTANCE_HIDDEN_INCOME] = rule_hidden_income,
        [RULE_ASSISTANCE_HIDDEN_ASSETS] = rule_hidden_assets,
        [RULE_ASSISTANCE_DECEASED_MEMBER] = rule_deceased_member,
        [RULE_PENSION_IN_CUSTODY] = rule_pension_in_custody,
        [RULE_DUPLICATE_ASSISTANCE] = rule_duplicate_assistance,
        [RULE_IDENTITY_CONFLICT] = rule_identity_conflict,
    };
    if (fs->nfacts && (!fs->person_of || !fs->by_person_off)) {
        gg_error("rules", "rules_run called on a factset without identity_resolve()");
        return -1;
    }
    rules_ctx cx = {0};
    size_t n0 = out->n;
    cx.fs = fs;
    cx.rc = rc;
    cx.today_month = date_month(rc->today ? rc->today : date_today());
    cx.mark = calloc(fs->nfacts ? fs->nfacts : 1, sizeof *cx.mark);
    if (!cx.mark) {
        gg_error("rules", "out of memory allocating marks for %zu facts", fs->nfacts);
        goto fail;
    }
    if (ctx_build_cases(&cx) != 0) goto fail;
    for (int r = 0; r < RULE__COUNT; r++) {
        if (!rc->enabled[r]) continue;
        size_t before = out->n;
        if (rule_fn[r](&cx, out) != 0) {
            gg_error("rules", "rule %s failed (out of memory)", rule_name((rule_id)r));
            goto fail;
        }
        gg_debug("rules", "%s: %zu alerts", rule_name((rule_id)r), out->n - before);
    }
    if (out->n > n0) qsort(out->items + n0, out->n - n0, sizeof *out->items, cmp_alert);
    for (size_t i = n0; i < out->n; i++) alert_fingerprint(&out->items[i]);
    ctx_free(&cx);
    return 0;
fail:
    for (size_t i = n0; i < out->n; i++) alert_free(&out->items[i]);
    out->n = n0;
    ctx_free(&cx);
    return -1;
}
