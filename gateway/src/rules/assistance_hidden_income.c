/* assistance_hidden_income.c - rule assistance_hidden_income (AHI, "低保家庭隐瞒收入"): a dibao/tekun case whose household income exceeded the regional standard
 * times its enrolled members in at least min_months months.
 * Evaluation over the run context of rules/driver.c, the finding part of its
 * zh-CN explanation, its configuration keys, and its descriptor. */
#include "rules/rules_internal.h"

#include "alerts/explain.h"

/* ---- evaluation ----------------------------------------------------------------- */

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
    for (size_t g = g0; g < g1; g++) rules_mark_member_months(cx, ic->refs[g].fi, ic->bm, ic->lo, ic->n);
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
        } else if (ic->flag[m] && rules_add_ev(cx, a, "income", fi) != 0) {
            return -1;
        }
    }
    return 0;
}

static int hidden_income_case(rules_ctx *cx, rule_id self, int ci, alert_list *out) {
    const factset *fs = cx->fs;
    const rules_config *rc = cx->rc;
    const char *program, *region;
    int first_person, hi;
    income_case ic = {0};
    rules_case_basics(cx, ci, &program, &region, &first_person);
    int64_t standard = rules_standard_for(rc, region);
    if (standard < 0 || !rules_case_span(cx, ci, &ic.lo, &hi)) return 0;
    ic.n = hi - ic.lo + 1;
    ic.members = calloc((size_t)ic.n, sizeof *ic.members);
    ic.income = calloc((size_t)ic.n, sizeof *ic.income);
    ic.bm = calloc((size_t)ic.n, 1);
    ic.flag = calloc((size_t)ic.n, 1);
    if (!ic.members || !ic.income || !ic.bm || !ic.flag) goto oom;
    if (rules_case_member_refs(cx, ci, &ic.refs, &ic.nrefs) != 0) goto fail;

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

    char *subject = rules_case_subject(cx->case_key[ci], NULL);
    alert *a = subject ? rules_open_alert(cx, out, self, subject, first_person, 0,
                                    cx->case_key[ci])
                       : NULL;
    free(subject);
    if (!a || rules_add_periods(a, ic.flag, ic.lo, ic.n) != 0) goto fail;
    int name_conflict = 0, all_low = 1;
    for (size_t k = cx->mem_off[ci]; k < cx->mem_off[ci + 1]; k++) {
        int fi = cx->mem[k];
        if (!rules_member_in_months(cx, fi, ic.flag, ic.lo, ic.n)) continue;
        if (rules_add_ev(cx, a, "member", fi) != 0) goto fail;
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
    if (rules_add_case_payments(cx, a, ci, ic.flag, ic.lo, ic.n, &a->amount) != 0) goto fail;

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
    if (rules_finish_alert(a, all_low, name_conflict, detail) != 0) goto fail;
    income_case_free(&ic);
    return 0;
oom:
    gg_error("rules", "out of memory evaluating assistance_hidden_income");
fail:
    income_case_free(&ic);
    return -1;
}

static int evaluate(rules_ctx *cx, rule_id self, alert_list *out) {
    for (size_t c = 0; c < cx->ncases; c++)
        if (hidden_income_case(cx, self, cx->case_sorted[c], out) != 0) return -1;
    return 0;
}

/* ---- explanation ---------------------------------------------------------------- */

static void finding_hidden_income(struct sbuf *b, const explain_ctx *x) {
    const json_t *months = json_object_get(x->detail, "months");
    long long standard = 0;
    alert_jint(x->detail, "standard", &standard);
    char std[40];
    fen_format(standard, std, sizeof std);
    sb_printf(b, "案件 %s：%zu 个月家庭人均收入超过当地低保标准（每人每月 %s 元）：", alert_case_of(x),
              json_array_size(months), std);
    size_t i;
    const json_t *m;
    json_array_foreach(months, i, m) {
        if (i == EXPLAIN_MAX_MONTHS) {
            sb_printf(b, " 等（另有 %zu 个月）", json_array_size(months) - i);
            break;
        }
        char per[32] = "?";
        long long income = 0, members = 0;
        alert_jdate(m, "period", per, sizeof per);
        alert_jint(m, "income", &income);
        alert_jint(m, "members", &members);
        char inc[40];
        fen_format(income, inc, sizeof inc);
        sb_printf(b, "%s%s 家庭收入 %s 元 / %lld 人", i ? "，" : "", per, inc, members);
    }
    sb_puts(b, "；涉及救助金 ");
    if (x->a->nperiods) {
        alert_periods_zh(b, x->a->periods, x->a->nperiods);
        sb_puts(b, " ");
    }
    sb_puts(b, "合计 ");
    alert_money_zh(b, x->a->amount);
}

/* ---- descriptor ----------------------------------------------------------------- */

static const fact_kind needs[] = {FK_PERSON, FK_PAYMENT, FK_ASSISTANCE_MEMBER, FK_INCOME};

/* standard.<prefix>: the standard of the regions whose code starts with <prefix>. */
static int set_region_standard(const confkey *k, void *base, const char *name, const char *val, char *err,
                               size_t errsz) {
    rules_config *rc = base;
    const char *pre = name + strlen("standard.");
    size_t n = strlen(pre);
    long l;
    if (n < 1 || n > 6 || strspn(pre, "0123456789") != n) {
        snprintf(err, errsz, "key %s: the region prefix must be 1 to 6 digits", name);
        return -1;
    }
    if (confkey_parse_long(val, k->min, k->max, &l)) {
        snprintf(err, errsz, "key %s: bad value '%s' (an integer from %ld to %ld)", name, val, k->min, k->max);
        return -1;
    }
    rc->standards = xrealloc(rc->standards, (rc->nstandards + 1) * sizeof *rc->standards);
    region_standard *rs = &rc->standards[rc->nstandards++];
    memset(rs, 0, sizeof *rs);
    memcpy(rs->prefix, pre, n);
    rs->fen = l;
    return 0;
}

static const confkey keys[] = {
    {"rule", "min_months", CK_INT, "3", 1, 120, offsetof(rules_config, min_months), NULL, NULL,
     "months with household income above the standard needed for an alert"},
    {"rule", "standard", CK_LONG, NULL, 0, 100000000L, offsetof(rules_config, standard_default), NULL, NULL,
     "monthly per-capita standard in fen for every region; unset = rule skipped where no prefix matches"},
    {"rule", "standard.<prefix>", CK_LONG, NULL, 0, 100000000L, 0, set_region_standard, NULL,
     "standard in fen for regions whose code starts with <prefix> (1-6 digits); longest prefix wins"},
};

const rule_desc rule_assistance_hidden_income = {
    .info = {"assistance_hidden_income", "AHI", "低保家庭隐瞒收入", finding_hidden_income, NULL},
    .needs = needs,
    .nneeds = sizeof needs / sizeof *needs,
    .evaluate = evaluate,
    .keys = keys,
    .nkeys = sizeof keys / sizeof *keys,
};
