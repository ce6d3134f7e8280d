/* assistance_hidden_assets.c - rule assistance_hidden_assets (AHA, "低保家庭隐瞒财产"): a case with a member holding a vehicle (not an exempt subkind), a business,
 * or two dwellings at once while enrolled.
 * Evaluation over the run context of rules/driver.c, the finding part of its
 * zh-CN explanation, its configuration keys, and its descriptor. */
#include "rules/rules_internal.h"

#include "alerts/explain.h"

/* ---- evaluation ----------------------------------------------------------------- */

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
    if (!rules_day_span_months(cx, hf > ef ? hf : ef, ht < et ? ht : et, &mlo, &mhi)) return 0;
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
    if (p < 0 || !rules_member_span(cx, F(cx, mfi), &ef, &et, &mlo, &mhi)) return 0;
    re->n = 0;
    for (size_t k = fs->by_person_off[p]; k < fs->by_person_off[p + 1]; k++) {
        int fi = fs->by_person[k];
        const fact *f = F(cx, fi);
        if (f->kind != FK_ASSET || !fact_has(f, FF_FROM)) continue;
        const char *kind = fact_str(f, FF_KIND);
        int hf, ht;
        asset_interval(f, &hf, &ht);
        if (str_eq(kind, "real_estate")) {
            if (rules_ivec_push(re, fi) != 0) return -1;
        } else if ((str_eq(kind, "vehicle") && !subkind_exempt(cx->rc, fact_str(f, FF_SUBKIND))) ||
                   str_eq(kind, "business")) {
            if (mark_holding(cx, ef, et, hf, ht, held, lo, n)) {
                found = 1;
                if (rules_mark_once(cx, fi) && rules_ivec_push(assets, fi) != 0) return -1;
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
            if (rules_mark_once(cx, re->v[i]) && rules_ivec_push(assets, re->v[i]) != 0) return -1;
            if (rules_mark_once(cx, re->v[j]) && rules_ivec_push(assets, re->v[j]) != 0) return -1;
        }
    }
    return found;
}

static int hidden_assets_case(rules_ctx *cx, rule_id self, int ci, alert_list *out, ivec *assets, ivec *members, ivec *re) {
    const factset *fs = cx->fs;
    const char *program, *region;
    int first_person, lo, hi;
    rules_case_basics(cx, ci, &program, &region, &first_person);
    if (!rules_case_span(cx, ci, &lo, &hi)) return 0;
    int n = hi - lo + 1;
    unsigned char *held = calloc((size_t)n, 1);
    if (!held) {
        gg_error("rules", "out of memory evaluating assistance_hidden_assets");
        return -1;
    }
    assets->n = members->n = 0;
    rules_mark_reset(cx);
    for (size_t k = cx->mem_off[ci]; k < cx->mem_off[ci + 1]; k++) {
        int r = member_holdings(cx, cx->mem[k], held, lo, n, assets, re);
        if (r < 0 || (r > 0 && rules_ivec_push(members, cx->mem[k]) != 0)) goto fail;
    }
    if (!members->n) {
        free(held);
        return 0;
    }
    char *subject = rules_case_subject(cx->case_key[ci], NULL);
    alert *a = subject ? rules_open_alert(cx, out, self, subject, first_person, 0,
                                    cx->case_key[ci])
                       : NULL;
    free(subject);
    if (!a || rules_add_periods(a, held, lo, n) != 0) goto fail;
    int all_low = 1, name_conflict = 0;
    for (size_t i = 0; i < members->n; i++) {
        int fi = members->v[i];
        if (rules_add_ev(cx, a, "member", fi) != 0) goto fail;
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
        if (rules_add_ev(cx, a, "asset", fi) != 0 ||
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
    if (rules_add_case_payments(cx, a, ci, held, lo, n, &a->amount) != 0) {
        json_decref(jassets);
        json_decref(jmonths);
        goto fail;
    }
    json_t *detail = json_pack("{s:s?, s:o, s:o}", "program", program, "assets", jassets, "months", jmonths);
    if (rules_finish_alert(a, all_low, name_conflict, detail) != 0) goto fail;
    free(held);
    return 0;
fail:
    free(held);
    return -1;
}

static int evaluate(rules_ctx *cx, rule_id self, alert_list *out) {
    ivec assets = {0}, members = {0}, re = {0};
    int rc = 0;
    for (size_t c = 0; c < cx->ncases && rc == 0; c++)
        rc = hidden_assets_case(cx, self, cx->case_sorted[c], out, &assets, &members, &re);
    free(assets.v);
    free(members.v);
    free(re.v);
    return rc;
}

/* ---- explanation ---------------------------------------------------------------- */

static void finding_hidden_assets(struct sbuf *b, const explain_ctx *x) {
    const json_t *assets = json_object_get(x->detail, "assets");
    sb_printf(b, "案件 %s：", alert_case_of(x));
    size_t i, nre = 0, shown = 0;
    const json_t *as;
    json_array_foreach(assets, i, as) {
        const char *kind = alert_jstr(as, "kind");
        if (kind && strcmp(kind, "real_estate") == 0) {
            nre++;
            continue;
        }
        char from[32] = "", to[32] = "";
        alert_jdate(as, "from", from, sizeof from);
        alert_jdate(as, "to", to, sizeof to);
        const char *member = alert_jstr(as, "member");
        sb_puts(b, shown++ ? "；成员 " : "成员 ");
        alert_person_zh(b, alert_find_name_for(x, member), member);
        sb_printf(b, " 名下%s", alert_asset_kind_zh(kind));
        const char *sub = alert_subkind_zh(alert_jstr(as, "subkind"));
        if (sub && *sub) sb_printf(b, " %s", sub);
        const char *desc = alert_jstr(as, "description");
        if (desc && *desc) sb_printf(b, "（%s）", desc);
        if (from[0]) sb_printf(b, "，自 %s 起", from);
        if (to[0]) sb_printf(b, "至 %s", to);
    }
    if (nre) {
        sb_printf(b, "%s多套房产 %zu 处：", shown ? "；" : "", nre);
        size_t k = 0;
        json_array_foreach(assets, i, as) {
            const char *kind = alert_jstr(as, "kind");
            if (!kind || strcmp(kind, "real_estate") != 0) continue;
            char from[32] = "";
            alert_jdate(as, "from", from, sizeof from);
            const char *member = alert_jstr(as, "member");
            sb_puts(b, k++ ? "、" : "");
            alert_person_zh(b, alert_find_name_for(x, member), member);
            const char *desc = alert_jstr(as, "description");
            if (desc && *desc) sb_printf(b, " %s", desc);
            if (from[0]) sb_printf(b, " 自 %s 起", from);
        }
    }
    sb_printf(b, "；持有期间仍领取救助 %zu 个月（", x->a->nperiods);
    alert_periods_zh(b, x->a->periods, x->a->nperiods);
    sb_puts(b, "），合计 ");
    alert_money_zh(b, x->a->amount);
}

/* ---- descriptor ----------------------------------------------------------------- */

static const fact_kind needs[] = {FK_PERSON, FK_PAYMENT, FK_ASSISTANCE_MEMBER, FK_ASSET};

static int set_exempt(const confkey *k, void *base, const char *name, const char *val, char *err,
                      size_t errsz) {
    (void)k;
    (void)name;
    (void)err;
    (void)errsz;
    rules_config *rc = base;
    size_t n;
    char **items = confkey_split_list(val, &n);
    confkey_free_list(rc->exempt_subkinds, rc->nexempt);
    rc->exempt_subkinds = items;
    rc->nexempt = n;
    return 0;
}

static const confkey keys[] = {
    {"rule", "exempt_subkinds", CK_LIST, "motorcycle, disability_vehicle", 0, 0, 0, set_exempt, NULL,
     "vehicle subkinds that do not count as hidden assets"},
};

const rule_desc rule_assistance_hidden_assets = {
    .info = {"assistance_hidden_assets", "AHA", "低保家庭隐瞒财产", finding_hidden_assets, NULL},
    .needs = needs,
    .nneeds = sizeof needs / sizeof *needs,
    .evaluate = evaluate,
    .keys = keys,
    .nkeys = sizeof keys / sizeof *keys,
};
