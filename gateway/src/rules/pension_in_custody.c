/* pension_in_custody.c - rule pension_in_custody (PIC, "服刑期间领取养老金"): pension paid for whole months spent in imprisonment.
 * Evaluation over the run context of rules/driver.c, the finding part of its
 * zh-CN explanation, its configuration keys, and its descriptor. */
#include "rules/rules_internal.h"

#include "alerts/explain.h"

/* ---- evaluation ----------------------------------------------------------------- */

/* 1 when the whole month `period` lies inside custody fact c. */
static int month_inside_custody(const fact *c, int period) {
    int first = period * 100 + 1, last = period * 100 + month_days(period);
    if (first < fact_i(c, FF_FROM)) return 0;
    return !fact_has(c, FF_TO) || last <= fact_i(c, FF_TO);
}

static int evaluate(rules_ctx *cx, rule_id self, alert_list *out) {
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
                rules_ivec_push(&custody, fi) != 0)
                goto done;
        }
        if (!custody.n) continue;
        alert *a = NULL;
        int first_custody = -1, all_low = 1;
        rules_mark_reset(cx);
        for (size_t k = fs->by_person_off[p]; k < fs->by_person_off[p + 1]; k++) {
            int fi = fs->by_person[k];
            const fact *f = F(cx, fi);
            if (!is_pension_payment(f)) continue;
            int period = (int)fact_i(f, FF_PERIOD), inside = 0;
            for (size_t c = 0; c < custody.n; c++) {
                if (!month_inside_custody(F(cx, custody.v[c]), period)) continue;
                inside = 1;
                rules_mark_once(cx, custody.v[c]);
            }
            if (!inside) continue;
            if (!a) {
                char subject[64];
                snprintf(subject, sizeof subject, "person:%s", ps->id_no);
                a = rules_open_alert(cx, out, self, subject, (int)p, 1, NULL);
                if (!a) goto done;
            }
            a->amount += fact_i(f, FF_AMOUNT);
            if (rules_add_period(a, period) != 0 || rules_add_ev(cx, a, "payment", fi) != 0) goto done;
        }
        if (!a) continue;
        for (size_t c = 0; c < custody.n; c++) {
            int fi = custody.v[c];
            if (cx->mark[fi] != cx->mark_gen) continue;
            if (first_custody < 0) first_custody = fi;
            if (fs->link[fi] != LINK_LOW) all_low = 0;
            if (rules_add_ev(cx, a, "custody", fi) != 0) goto done;
        }
        if (rules_add_person_ev(cx, a, (int)p) != 0) goto done;
        const fact *cf = F(cx, first_custody);
        char fbuf[16], tbuf[16];
        date_text((int)fact_i(cf, FF_FROM), fbuf, sizeof fbuf);
        if (fact_has(cf, FF_TO)) date_text((int)fact_i(cf, FF_TO), tbuf, sizeof tbuf);
        json_t *detail = json_pack("{s:s, s:s?, s:s}", "custody_from", fbuf, "custody_to",
                                   fact_has(cf, FF_TO) ? tbuf : NULL, "custody_kind", "imprisonment");
        if (rules_finish_alert(a, all_low, ps->name_conflict, detail) != 0) goto done;
    }
    rc = 0;
done:
    free(custody.v);
    return rc;
}

/* ---- explanation ---------------------------------------------------------------- */

static void finding_pension_in_custody(struct sbuf *b, const explain_ctx *x) {
    sb_printf(b, "%s期间 ", alert_custody_kind_zh(alert_jstr(x->detail, "custody_kind")));
    alert_span_zh(b, x->detail, "custody_from", "custody_to");
    sb_printf(b, " 领取养老金 %zu 个月（", x->a->nperiods);
    alert_periods_zh(b, x->a->periods, x->a->nperiods);
    sb_puts(b, "），合计 ");
    alert_money_zh(b, x->a->amount);
}

/* ---- descriptor ----------------------------------------------------------------- */

static const fact_kind needs[] = {FK_PERSON, FK_PAYMENT, FK_CUSTODY};

const rule_desc rule_pension_in_custody = {
    .info = {"pension_in_custody", "PIC", "服刑期间领取养老金", finding_pension_in_custody, NULL},
    .needs = needs,
    .nneeds = sizeof needs / sizeof *needs,
    .evaluate = evaluate,
};
