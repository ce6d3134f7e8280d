/* assistance_deceased_member.c - rule assistance_deceased_member (ADM, "已故成员仍在保并领取救助"): a member still enrolled after an authoritative death, with case payments
 * for the months after it.
 * Evaluation over the run context of rules/driver.c, the finding part of its
 * zh-CN explanation, its configuration keys, and its descriptor. */
#include "rules/rules_internal.h"

#include "alerts/explain.h"

/* ---- evaluation ----------------------------------------------------------------- */

/* Member fact still enrolled after D. */
static int enrolled_after(const fact *m, int d) { return !fact_has(m, FF_TO) || fact_i(m, FF_TO) > d; }

/* Payment period covered for a member fact enrolled after D: after the month
 * of D and up to the month of `to` (all later periods when `to` is empty). */
static int period_after_death(const fact *m, int dmonth, int period) {
    if (period <= dmonth) return 0;
    return !fact_has(m, FF_TO) || period <= date_month((int)fact_i(m, FF_TO));
}

static int deceased_member(rules_ctx *cx, rule_id self, int ci, const member_ref *g, size_t ng, alert_list *out) {
    const factset *fs = cx->fs;
    int p = g[0].person;
    death_found d;
    if (p < 0 || !rules_person_death(cx, p, 1, &d)) return 0;
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
    char *subject = rules_case_subject(cx->case_key[ci], ps->id_no);
    alert *a = subject ? rules_open_alert(cx, out, self, subject, p, 1, cx->case_key[ci])
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
        if (rules_add_ev(cx, a, "member", g[i].fi) != 0) return -1;
    }
    if (rules_add_death_ev(cx, a, p, &d) != 0) return -1;
    for (size_t k = cx->pay_off[ci]; k < cx->pay_off[ci + 1]; k++) {
        int fi = cx->pay[k];
        int period = (int)fact_i(F(cx, fi), FF_PERIOD);
        for (size_t i = 0; i < ng; i++) {
            const fact *m = F(cx, g[i].fi);
            if (!enrolled_after(m, d.date) || !period_after_death(m, dmonth, period)) continue;
            a->amount += fact_i(F(cx, fi), FF_AMOUNT);
            if (rules_add_period(a, period) != 0 || rules_add_ev(cx, a, "case_payment", fi) != 0) return -1;
            break;
        }
    }
    char dbuf[16], tbuf[16];
    date_text(d.date, dbuf, sizeof dbuf);
    if (to != OPEN_END) date_text(to, tbuf, sizeof tbuf);
    json_t *detail = json_pack("{s:s?, s:s, s:s, s:s?, s:s?}", "program", program, "member", ps->id_no,
                               "death_date", dbuf, "basis", fact_str(F(cx, d.first), FF_BASIS), "member_to",
                               to == OPEN_END ? NULL : tbuf);
    return rules_finish_alert(a, d.all_low, ps->name_conflict, detail);
}

static int evaluate(rules_ctx *cx, rule_id self, alert_list *out) {
    for (size_t c = 0; c < cx->ncases; c++) {
        int ci = cx->case_sorted[c];
        member_ref *refs;
        size_t nrefs;
        if (rules_case_member_refs(cx, ci, &refs, &nrefs) != 0) return -1;
        for (size_t g0 = 0, g1; g0 < nrefs; g0 = g1) {
            for (g1 = g0 + 1; g1 < nrefs && refs[g1].person == refs[g0].person; g1++) {
            }
            if (deceased_member(cx, self, ci, refs + g0, g1 - g0, out) != 0) {
                free(refs);
                return -1;
            }
        }
        free(refs);
    }
    return 0;
}

/* ---- explanation ---------------------------------------------------------------- */

static void finding_deceased_member(struct sbuf *b, const explain_ctx *x) {
    const char *member = alert_jstr(x->detail, "member");
    if (!member && x->a->id_no[0]) member = x->a->id_no;
    char date[32] = "日期不详";
    alert_jdate(x->detail, "death_date", date, sizeof date);
    const char *basis = alert_jstr(x->detail, "basis");
    long di = alert_find_death_evidence(x, member);
    const char *src = di >= 0 ? x->a->ev[di].source : NULL;
    if (!basis && di >= 0) basis = alert_jstr(x->fields[di], "basis");
    sb_puts(b, "成员 ");
    alert_person_zh(b, alert_find_name_for(x, member), member);
    sb_printf(b, " 已于 %s 死亡（%s%s），案件 %s 仍在保", date,
              src ? alert_source_label(x->label, x->ud, src) : "", alert_basis_zh(basis), alert_case_of(x));
    char to[32];
    if (alert_jdate(x->detail, "member_to", to, sizeof to) == 0) sb_printf(b, "（登记在保至 %s）", to);
    sb_printf(b, "，之后发放 %zu 个月救助金（", x->a->nperiods);
    alert_periods_zh(b, x->a->periods, x->a->nperiods);
    sb_puts(b, "），合计 ");
    alert_money_zh(b, x->a->amount);
}

/* ---- descriptor ----------------------------------------------------------------- */

static const fact_kind needs[] = {FK_PERSON, FK_DEATH, FK_PAYMENT, FK_ASSISTANCE_MEMBER};

const rule_desc rule_assistance_deceased_member = {
    .info = {"assistance_deceased_member", "ADM", "已故成员仍在保并领取救助", finding_deceased_member, NULL},
    .needs = needs,
    .nneeds = sizeof needs / sizeof *needs,
    .evaluate = evaluate,
};
