/* pension_after_death.c - rule pension_after_death (PAD, "死亡后仍发放养老金"): pension payments for months after the person died (plus grace_months): the
 * death date D is the earliest authoritative death, else the earliest grid report (low confidence).
 * Evaluation over the run context of rules/driver.c, the finding part of its
 * zh-CN explanation, its configuration keys, and its descriptor. */
#include "rules/rules_internal.h"

#include "alerts/explain.h"

/* ---- evaluation ----------------------------------------------------------------- */

static int evaluate(rules_ctx *cx, rule_id self, alert_list *out) {
    const factset *fs = cx->fs;
    for (size_t p = 0; p < fs->npersons; p++) {
        const person *ps = &fs->persons[p];
        death_found d;
        if (!rules_person_death(cx, (int)p, 0, &d)) continue;
        int limit = month_add(date_month(d.date), cx->rc->grace_months);
        size_t nover = 0;
        for (size_t k = fs->by_person_off[p]; k < fs->by_person_off[p + 1]; k++) {
            const fact *f = F(cx, fs->by_person[k]);
            if (is_pension_payment(f) && fact_i(f, FF_PERIOD) > limit) nover++;
        }
        if (!nover) continue;
        char subject[64], dbuf[16];
        snprintf(subject, sizeof subject, "person:%s", ps->id_no);
        alert *a = rules_open_alert(cx, out, self, subject, (int)p, 1, NULL);
        if (!a || rules_add_death_ev(cx, a, (int)p, &d) != 0) return -1;
        for (size_t k = fs->by_person_off[p]; k < fs->by_person_off[p + 1]; k++) {
            int fi = fs->by_person[k];
            const fact *f = F(cx, fi);
            if (!is_pension_payment(f) || fact_i(f, FF_PERIOD) <= limit) continue;
            a->amount += fact_i(f, FF_AMOUNT);
            if (rules_add_period(a, (int)fact_i(f, FF_PERIOD)) != 0 || rules_add_ev(cx, a, "payment", fi) != 0)
                return -1;
        }
        if (rules_add_person_ev(cx, a, (int)p) != 0) return -1;
        date_text(d.date, dbuf, sizeof dbuf);
        json_t *detail = json_pack("{s:s, s:s?, s:i, s:b}", "death_date", dbuf, "basis",
                                   fact_str(F(cx, d.first), FF_BASIS), "grace_months", cx->rc->grace_months,
                                   "grid_report_only", d.grid_only);
        if (rules_finish_alert(a, d.grid_only || d.all_low, ps->name_conflict, detail) != 0) return -1;
    }
    return 0;
}

/* ---- explanation ---------------------------------------------------------------- */

static void finding_pension_after_death(struct sbuf *b, const explain_ctx *x) {
    char date[32] = "日期不详";
    alert_jdate(x->detail, "death_date", date, sizeof date);
    const char *basis = alert_jstr(x->detail, "basis");
    long di = alert_find_death_evidence(x, NULL);
    const char *src = di >= 0 ? x->a->ev[di].source : NULL;
    if (!basis && di >= 0) basis = alert_jstr(x->fields[di], "basis");
    sb_printf(b, "%s%s %s；", src ? alert_source_label(x->label, x->ud, src) : "",
              alert_basis_zh(basis), date);
    long long grace;
    if (alert_jint(x->detail, "grace_months", &grace) == 0 && grace > 0)
        sb_printf(b, "宽限 %lld 个月后，", grace);
    alert_periods_zh(b, x->a->periods, x->a->nperiods);
    sb_printf(b, " 共发放 %zu 个月，合计 ", x->a->nperiods);
    alert_money_zh(b, x->a->amount);
}

/* ---- descriptor ----------------------------------------------------------------- */

static const fact_kind needs[] = {FK_PERSON, FK_DEATH, FK_PAYMENT};

static const confkey keys[] = {
    {"rule", "grace_months", CK_INT, "0", 0, 120, offsetof(rules_config, grace_months), NULL, NULL,
     "months after the month of death in which pension payments are still tolerated"},
};

const rule_desc rule_pension_after_death = {
    .info = {"pension_after_death", "PAD", "死亡后仍发放养老金", finding_pension_after_death, NULL},
    .needs = needs,
    .nneeds = sizeof needs / sizeof *needs,
    .evaluate = evaluate,
    .keys = keys,
    .nkeys = sizeof keys / sizeof *keys,
};
