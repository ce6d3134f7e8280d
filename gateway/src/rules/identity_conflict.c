/* identity_conflict.c - rule identity_conflict (IDC, "身份信息冲突"): one id number with different names across sources, or a stated birth date
 * that differs from the one the id number embeds (a data-quality notice).
 * Evaluation over the run context of rules/driver.c, the finding part of its
 * zh-CN explanation, its configuration keys, and its descriptor. */
#include "rules/rules_internal.h"

#include "alerts/explain.h"

/* ---- evaluation ----------------------------------------------------------------- */

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


static int identity_conflict_person(rules_ctx *cx, rule_id self, int p, alert_list *out) {
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
    alert *a = rules_open_alert(cx, out, self, subject, p, 1, NULL);
    json_t *names = json_array(), *births = json_array();
    ivec seen_names = {0}, seen_births = {0};
    if (!a || !names || !births) goto fail;
    rules_mark_reset(cx);
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
                if (rules_ivec_push(&seen_names, fi) != 0 ||
                    json_array_append_new(names, json_pack("{s:s?, s:s}", "source", f->source, "name",
                                                           f->name_norm)) != 0)
                    goto fail;
                if (rules_mark_once(cx, fi) && rules_add_ev(cx, a, role_for_kind(f->kind), fi) != 0) goto fail;
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
                if (rules_ivec_push(&seen_births, fi) != 0 ||
                    json_array_append_new(births, json_pack("{s:s?, s:s, s:s}", "source", f->source, "stated",
                                                            sbuf, "embedded", ebuf)) != 0)
                    goto fail;
                if (rules_mark_once(cx, fi) && rules_add_ev(cx, a, role_for_kind(f->kind), fi) != 0) goto fail;
            }
        }
    }
    free(seen_names.v);
    free(seen_births.v);
    /* A data-quality notice: no money at risk, and the conflict itself never
     * lowers its own confidence. */
    json_t *detail = json_pack("{s:o, s:o}", "names", names, "birth_dates", births);
    return rules_finish_alert(a, 0, 0, detail);
fail:
    gg_error("rules", "out of memory evaluating identity_conflict");
    json_decref(names);
    json_decref(births);
    free(seen_names.v);
    free(seen_births.v);
    return -1;
}

static int evaluate(rules_ctx *cx, rule_id self, alert_list *out) {
    for (size_t p = 0; p < cx->fs->npersons; p++)
        if (identity_conflict_person(cx, self, (int)p, out) != 0) return -1;
    return 0;
}

/* ---- explanation ---------------------------------------------------------------- */

/* 1 when the detail's names list holds two or more distinct names (this rule
 * lists every source's name, also for a birth-date-only conflict). */
static int names_differ(const json_t *names) {
    const char *first = NULL;
    size_t i;
    const json_t *v;
    json_array_foreach(names, i, v) {
        const char *n = alert_jstr(v, "name");
        if (!n) continue;
        if (!first) first = n;
        else if (strcmp(first, n) != 0) return 1;
    }
    return 0;
}

/* Length in bytes of the UTF-8 character at s (1 for bytes that start none). */
static size_t utf8_char_len(const char *s) {
    unsigned char c = (unsigned char)*s;
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    for (size_t i = 1; i < n; i++)
        if (!s[i]) return i;
    return n;
}

/* Masks `name` but shows the characters where it differs from `other`, so a
 * reviewer can see what the conflict is ("陈建*" vs "陈健*") without the whole
 * name: the first character and the differing ones stay, the rest become '*'. */
static void mask_name_against(const char *name, const char *other, char *out, size_t outsz) {
    size_t n = 0;
    int i = 0;
    const char *p = name, *q = other ? other : "";
    if (outsz == 0) return;
    while (*p && n + 5 < outsz) {
        size_t lp = utf8_char_len(p), lq = *q ? utf8_char_len(q) : 0;
        int same = lq == lp && !memcmp(p, q, lp);
        if (i == 0 || !same) {
            memcpy(out + n, p, lp);
            n += lp;
        } else {
            out[n++] = '*';
        }
        p += lp;
        q += lq;
        i++;
    }
    out[n] = '\0';
}

static void finding_identity_conflict(struct sbuf *b, const explain_ctx *x) {
    const json_t *names = json_object_get(x->detail, "names");
    const json_t *births = json_object_get(x->detail, "birth_dates");
    int any = 0;
    size_t i;
    const json_t *v;
    if (names_differ(names)) {
        sb_puts(b, "同一身份证号在不同系统中姓名不一致：");
        json_array_foreach(names, i, v) {
            char nm[512];
            const char *mine = alert_jstr(v, "name"), *other = NULL;
            size_t k;
            const json_t *w;
            json_array_foreach(names, k, w) {
                const char *n2 = alert_jstr(w, "name");
                if (!other && n2 && mine && strcmp(n2, mine) != 0) other = n2;
            }
            if (mine && other)
                mask_name_against(mine, other, nm, sizeof nm);
            else
                name_mask(mine, nm, sizeof nm);
            sb_printf(b, "%s%s「%s」", i ? "、" : "", alert_source_label(x->label, x->ud, alert_jstr(v, "source")), nm);
        }
        any = 1;
    }
    json_array_foreach(births, i, v) {
        char stated[32] = "?", embedded[32] = "?";
        alert_jdate(v, "stated", stated, sizeof stated);
        alert_jdate(v, "embedded", embedded, sizeof embedded);
        sb_printf(b, "%s出生日期与身份证号不符：%s 登记 %s，身份证号为 %s", any ? "；" : "",
                  alert_source_label(x->label, x->ud, alert_jstr(v, "source")), stated, embedded);
        any = 1;
    }
    if (!any) sb_puts(b, "各系统登记的身份信息不一致");
}

/* Summary tail: which identity facts conflict (no money at risk). */
static void summary_identity_conflict(struct sbuf *b, const alert *a) {
    json_t *d = alert_parse_obj(a->detail_json);
    int names = names_differ(json_object_get(d, "names"));
    int births = json_array_size(json_object_get(d, "birth_dates")) > 0;
    json_decref(d);
    if (a->id_no[0]) {
        char id[64];
        ident_mask(a->id_no, id, sizeof id);
        sb_printf(b, " %s", id);
    }
    sb_printf(b, "：%s%s%s", names ? "姓名不一致" : "", names && births ? "、" : "",
              births ? "出生日期不符" : (names ? "" : "身份信息不一致"));
}

/* ---- descriptor ----------------------------------------------------------------- */

static const fact_kind needs[] = {FK_PERSON};

const rule_desc rule_identity_conflict = {
    .info = {"identity_conflict", "IDC", "身份信息冲突", finding_identity_conflict, summary_identity_conflict},
    .needs = needs,
    .nneeds = sizeof needs / sizeof *needs,
    .evaluate = evaluate,
};
