/* duplicate_assistance.c - rule duplicate_assistance (DUP, "重复享受救助"): one person enrolled in two assistance cases in the same months; the later
 * case's payments for the overlap are at risk.
 * Evaluation over the run context of rules/driver.c, the finding part of its
 * zh-CN explanation, its configuration keys, and its descriptor. */
#include "rules/rules_internal.h"

#include "alerts/explain.h"

/* ---- evaluation ----------------------------------------------------------------- */

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
static int duplicate_person(rules_ctx *cx, rule_id self, int p, const ivec *mems, int lo, int n, alert_list *out) {
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
        rules_mark_member_months(cx, mems->v[i], bm + (size_t)j * n, lo, n);
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
    alert *a = rules_open_alert(cx, out, self, subject, p, 1, NULL);
    if (!a || rules_add_periods(a, ov, lo, n) != 0) goto done;
    int all_low = 1;
    for (size_t i = 0; i < mems->n; i++) {
        int fi = mems->v[i];
        if (!dc[dup_case_find(dc, nd, fact_str(F(cx, fi), FF_CASE))].involved) continue;
        if (fs->link[fi] != LINK_LOW) all_low = 0;
        if (rules_add_ev(cx, a, "member", fi) != 0) goto done;
    }
    for (size_t j = 0; j < nd; j++)
        if (dc[j].ci >= 0 && rules_add_case_payments(cx, a, dc[j].ci, owed + j * n, lo, n, &a->amount) != 0) goto done;
    char fbuf[16], tbuf[16];
    month_text(month_of_index(lo + first_from), fbuf, sizeof fbuf);
    month_text(month_of_index(lo + first_to), tbuf, sizeof tbuf);
    json_t *detail = json_pack("{s:s, s:s, s:s, s:s}", "earlier_case", dc[earlier].key, "later_case",
                               dc[later].key, "overlap_from", fbuf, "overlap_to", tbuf);
    if (rules_finish_alert(a, all_low, ps->name_conflict, detail) != 0) goto done;
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

static int evaluate(rules_ctx *cx, rule_id self, alert_list *out) {
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
            if (!rules_member_span(cx, f, &from, &to, &mlo, &mhi)) continue;
            if (!mems.n || mlo < lo) lo = mlo;
            if (!mems.n || mhi > hi) hi = mhi;
            if (rules_ivec_push(&mems, fi) != 0) {
                rc = -1;
                break;
            }
        }
        if (rc == 0 && mems.n >= 2) rc = duplicate_person(cx, self, (int)p, &mems, lo, hi - lo + 1, out);
    }
    free(mems.v);
    return rc;
}

/* ---- explanation ---------------------------------------------------------------- */

static void finding_duplicate(struct sbuf *b, const explain_ctx *x) {
    const char *earlier = alert_jstr(x->detail, "earlier_case"), *later = alert_jstr(x->detail, "later_case");
    sb_printf(b, "同时在案件 %s 与 %s 中享受救助，重叠 ", earlier ? earlier : "?", later ? later : "?");
    alert_span_zh(b, x->detail, "overlap_from", "overlap_to");
    sb_puts(b, "，后一案件重叠期间发放");
    if (x->a->nperiods) {
        sb_puts(b, "（");
        alert_periods_zh(b, x->a->periods, x->a->nperiods);
        sb_puts(b, "）");
    }
    sb_puts(b, "合计 ");
    alert_money_zh(b, x->a->amount);
}

/* ---- descriptor ----------------------------------------------------------------- */

static const fact_kind needs[] = {FK_PERSON, FK_PAYMENT, FK_ASSISTANCE_MEMBER};

const rule_desc rule_duplicate_assistance = {
    .info = {"duplicate_assistance", "DUP", "重复享受救助", finding_duplicate, NULL},
    .needs = needs,
    .nneeds = sizeof needs / sizeof *needs,
    .evaluate = evaluate,
};
