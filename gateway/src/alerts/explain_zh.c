/* explain_zh.c - readable zh-CN texts for reviewers: alert_explain_zh (the
 * finding per rule, then the evidence with department labels) and
 * alert_summary_zh (one line for lists and push payloads). Ids and names only
 * appear masked (mask.c). */
#include "alerts/alert_internal.h"
#include "alerts/explain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPLAIN_MAX_EVIDENCE 30

/* Periods as contiguous ranges: "2024-04 至 2024-09", "2024-04、2024-06 至 2024-07". */
void alert_periods_zh(sbuf *b, const int *periods, size_t n) {
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j + 1 < n && periods[j + 1] == month_next(periods[j])) j++;
        char m1[16], m2[16];
        month_text(periods[i], m1, sizeof m1);
        if (i > 0) sb_puts(b, "、");
        if (j == i) {
            sb_puts(b, m1);
        } else {
            month_text(periods[j], m2, sizeof m2);
            sb_printf(b, "%s 至 %s", m1, m2);
        }
        i = j + 1;
    }
}

/* ------------------------------------------------------------------------ */
/* zh-CN explanations                                                        */

const char *alert_basis_zh(const char *basis) {
    if (!basis) return "死亡登记";
    if (strcmp(basis, "household_deregistration") == 0) return "户籍注销";
    if (strcmp(basis, "cremation") == 0) return "火化记录";
    if (strcmp(basis, "death_certificate") == 0) return "死亡医学证明";
    if (strcmp(basis, "grid_report") == 0) return "网格员上报";
    return basis;
}

const char *alert_program_zh(const char *p) {
    if (!p) return "";
    if (strcmp(p, "pension") == 0) return "养老金";
    if (strcmp(p, "dibao") == 0) return "低保";
    if (strcmp(p, "tekun") == 0) return "特困供养";
    return p;
}

static const char *kind_zh(const char *k) {
    if (!k) return "记录";
    if (strcmp(k, "person") == 0) return "人员信息";
    if (strcmp(k, "death") == 0) return "死亡记录";
    if (strcmp(k, "payment") == 0) return "发放记录";
    if (strcmp(k, "assistance_member") == 0) return "救助成员";
    if (strcmp(k, "income") == 0) return "收入记录";
    if (strcmp(k, "asset") == 0) return "财产记录";
    if (strcmp(k, "custody") == 0) return "羁押记录";
    if (strcmp(k, "verdict") == 0) return "核查反馈";
    return k;
}

static const char *income_kind_zh(const char *k) {
    if (!k) return NULL;
    if (strcmp(k, "wage") == 0) return "工资";
    if (strcmp(k, "business") == 0) return "经营收入";
    if (strcmp(k, "pension") == 0) return "养老金";
    if (strcmp(k, "unemployment") == 0) return "失业金";
    if (strcmp(k, "other") == 0) return "其他";
    return k;
}

const char *alert_asset_kind_zh(const char *k) {
    if (!k) return "财产";
    if (strcmp(k, "vehicle") == 0) return "车辆";
    if (strcmp(k, "real_estate") == 0) return "房产";
    if (strcmp(k, "business") == 0) return "经营主体";
    return k;
}

const char *alert_subkind_zh(const char *k) {
    if (!k) return NULL;
    if (strcmp(k, "car") == 0) return "小型汽车";
    if (strcmp(k, "truck") == 0) return "货车";
    if (strcmp(k, "motorcycle") == 0) return "摩托车";
    if (strcmp(k, "disability_vehicle") == 0) return "残疾人专用车";
    if (strcmp(k, "legal_representative") == 0) return "法定代表人";
    if (strcmp(k, "shareholder") == 0) return "股东";
    return k;
}

const char *alert_custody_kind_zh(const char *k) {
    if (k && strcmp(k, "detention") == 0) return "拘留";
    return "服刑";
}

const char *alert_source_label(source_label_fn label, void *ud, const char *source) {
    const char *l = (label && source) ? label(ud, source) : NULL;
    if (l && *l) return l;
    return source ? source : "未知来源";
}


/* Index of the death evidence that matches the detail's death date and basis
 * (the first death evidence otherwise), or -1. */
long alert_find_death_evidence(const explain_ctx *x, const char *member) {
    char want[32] = "", got[32];
    const char *basis = alert_jstr(x->detail, "basis");
    alert_jdate(x->detail, "death_date", want, sizeof want);
    long first = -1;
    for (size_t i = 0; i < x->a->nev; i++) {
        const alert_evidence *e = &x->a->ev[i];
        if (!e->kind || strcmp(e->kind, "death") != 0) continue;
        const char *id = alert_jstr(x->fields[i], "id_no");
        if (member && id && strcmp(id, member) != 0) continue;
        if (first < 0) first = (long)i;
        if (alert_jdate(x->fields[i], "death_date", got, sizeof got) == 0 && strcmp(got, want) == 0 &&
            (!basis || gg_strcmp0(alert_jstr(x->fields[i], "basis"), basis) == 0))
            return (long)i;
    }
    return first;
}

/* Name of the person with id `id18` among the evidence fields (borrowed), or NULL. */
const char *alert_find_name_for(const explain_ctx *x, const char *id18) {
    if (!id18 || !*id18) return NULL;
    for (size_t i = 0; i < x->a->nev; i++) {
        const char *id = alert_jstr(x->fields[i], "id_no");
        const char *nm = alert_jstr(x->fields[i], "name");
        if (id && nm && *nm && strcmp(id, id18) == 0) return nm;
    }
    if (x->a->id_no[0] && strcmp(x->a->id_no, id18) == 0) return x->a->name;
    return NULL;
}

/* "张*（4205**********123X）" or either part alone. */
void alert_person_zh(sbuf *b, const char *name, const char *id18) {
    char nm[512], id[64];
    name_mask(name, nm, sizeof nm);
    ident_mask(id18, id, sizeof id);
    if (nm[0] && id[0]) sb_printf(b, "%s（%s）", nm, id);
    else if (nm[0]) sb_puts(b, nm);
    else if (id[0]) sb_puts(b, id);
    else sb_puts(b, "（身份不详）");
}

void alert_money_zh(sbuf *b, int64_t fen) {
    char m[40];
    fen_format(fen, m, sizeof m);
    sb_printf(b, "%s 元", m);
}

const char *alert_case_of(const explain_ctx *x) {
    if (x->a->case_key) return x->a->case_key;
    const char *c = alert_jstr(x->detail, "case");
    return c ? c : "（未知）";
}

/* "2024-01-15 至 2024-12-31", or "2024-01-15 至今" when the end is open. */
void alert_span_zh(sbuf *b, const json_t *o, const char *kfrom, const char *kto) {
    char from[32] = "日期不详", to[32];
    alert_jdate(o, kfrom, from, sizeof from);
    if (alert_jdate(o, kto, to, sizeof to) == 0) sb_printf(b, "%s 至 %s", from, to);
    else sb_printf(b, "%s 至今", from);
}

/* Key canonical values of one evidence item in zh. */
static void evidence_values_zh(sbuf *b, const char *kind, const json_t *f) {
    char d1[32];
    long long amt;
    if (!f || !kind) {
        sb_puts(b, "（无规范化字段）");
        return;
    }
    if (strcmp(kind, "death") == 0) {
        sb_printf(b, "死亡日期 %s，依据 %s", alert_jdate(f, "death_date", d1, sizeof d1) ? "不详" : d1,
                  alert_basis_zh(alert_jstr(f, "basis")));
        if (json_is_true(json_object_get(f, "revoked"))) sb_puts(b, "（已撤销）");
    } else if (strcmp(kind, "payment") == 0) {
        const char *prog = alert_jstr(f, "program");
        if (prog) sb_printf(b, "%s ", alert_program_zh(prog));
        sb_printf(b, "发放月份 %s", alert_jdate(f, "period", d1, sizeof d1) ? "不详" : d1);
        if (alert_jint(f, "amount", &amt) == 0) {
            sb_puts(b, " 金额 ");
            alert_money_zh(b, amt);
        }
        const char *c = alert_jstr(f, "case");
        if (c && *c) sb_printf(b, "，案件 %s", c);
    } else if (strcmp(kind, "income") == 0) {
        sb_printf(b, "收入月份 %s", alert_jdate(f, "period", d1, sizeof d1) ? "不详" : d1);
        if (alert_jint(f, "amount", &amt) == 0) {
            sb_puts(b, " 金额 ");
            alert_money_zh(b, amt);
        }
        const char *k = income_kind_zh(alert_jstr(f, "kind"));
        if (k) sb_printf(b, "（%s）", k);
        const char *payer = alert_jstr(f, "payer");
        if (payer && *payer) sb_printf(b, "，支付方 %s", payer);
    } else if (strcmp(kind, "assistance_member") == 0) {
        const char *c = alert_jstr(f, "case"), *prog = alert_jstr(f, "program");
        sb_printf(b, "案件 %s%s%s，成员 ", c ? c : "?", prog ? " " : "", prog ? alert_program_zh(prog) : "");
        alert_person_zh(b, alert_jstr(f, "name"), alert_jstr(f, "id_no"));
        sb_puts(b, "，在保 ");
        alert_span_zh(b, f, "from", "to");
    } else if (strcmp(kind, "asset") == 0) {
        sb_puts(b, alert_asset_kind_zh(alert_jstr(f, "kind")));
        const char *sub = alert_subkind_zh(alert_jstr(f, "subkind"));
        if (sub && *sub) sb_printf(b, " %s", sub);
        const char *desc = alert_jstr(f, "description");
        if (desc && *desc) sb_printf(b, "（%s）", desc);
        sb_puts(b, "，持有 ");
        alert_span_zh(b, f, "from", "to");
    } else if (strcmp(kind, "custody") == 0) {
        sb_printf(b, "%s ", alert_custody_kind_zh(alert_jstr(f, "kind")));
        alert_span_zh(b, f, "from", "to");
    } else if (strcmp(kind, "person") == 0) {
        sb_puts(b, "姓名 ");
        char nm[512];
        name_mask(alert_jstr(f, "name"), nm, sizeof nm);
        sb_puts(b, nm[0] ? nm : "不详");
        if (alert_jdate(f, "birth_date", d1, sizeof d1) == 0) sb_printf(b, "，出生日期 %s", d1);
        const char *region = alert_jstr(f, "region"), *grid = alert_jstr(f, "grid");
        if (region && *region) sb_printf(b, "，地区 %s", region);
        if (grid && *grid) sb_printf(b, "，网格 %s", grid);
    } else {
        sb_puts(b, "详见原始记录");
    }
}

static const char *link_zh(const alert_evidence *e) {
    switch (e->link) {
    case LINK_HIGH: return "身份证号匹配";
    case LINK_LOW: return "姓名+出生日期匹配（低置信度）";
    case LINK_NONE: break;
    }
    return "按案件号关联";
}

char *alert_explain_zh(const alert *a, source_label_fn label, void *ud) {
    explain_ctx x = {a, NULL, NULL, label, ud};
    sbuf b = {0};
    char *text = NULL, *masked = NULL;
    x.detail = alert_parse_obj(a->detail_json);
    if (!json_is_object(x.detail)) {
        json_decref(x.detail);
        x.detail = json_object();
        if (!x.detail) goto oom;
    }
    if (a->nev) {
        x.fields = calloc(a->nev, sizeof *x.fields);
        if (!x.fields) goto oom;
        for (size_t i = 0; i < a->nev; i++) x.fields[i] = alert_parse_obj(a->ev[i].norm_json);
    }

    /* 1. The finding. */
    sb_printf(&b, "[%s] %s：", confidence_zh(a->conf), rule_title_zh(a->rule));
    const alert_rule *r = alert_rule_get(a->rule);
    if (r && r->explain) r->explain(&b, &x);
    else sb_puts(&b, "未知规则");
    sb_puts(&b, "\n");

    /* 2. Who. */
    sb_puts(&b, "对象：");
    if (a->id_no[0] || (a->name && *a->name)) alert_person_zh(&b, a->name, a->id_no);
    else sb_printf(&b, "案件 %s", alert_case_of(&x));
    if (a->case_key && (a->id_no[0] || (a->name && *a->name))) sb_printf(&b, "，案件 %s", a->case_key);
    if (a->region && *a->region) sb_printf(&b, "，地区 %s", a->region);
    if (a->grid && *a->grid) sb_printf(&b, "，网格 %s", a->grid);
    sb_puts(&b, "\n");

    /* 3. Evidence. */
    sb_puts(&b, "证据：\n");
    for (size_t i = 0; i < a->nev && i < EXPLAIN_MAX_EVIDENCE; i++) {
        const alert_evidence *e = &a->ev[i];
        sb_printf(&b, "  - %s（%s，记录号 %s，%s）：", alert_source_label(label, ud, e->source), kind_zh(e->kind),
                  e->ref ? e->ref : "?", link_zh(e));
        evidence_values_zh(&b, e->kind, x.fields[i]);
        sb_puts(&b, "\n");
    }
    if (a->nev > EXPLAIN_MAX_EVIDENCE) sb_printf(&b, "  ……另有 %zu 条\n", a->nev - EXPLAIN_MAX_EVIDENCE);
    if (a->nev == 0) sb_puts(&b, "  （无）\n");

    /* 4. Caveats and what to do. */
    int low_link = 0;
    for (size_t i = 0; i < a->nev; i++) low_link |= a->ev[i].link == LINK_LOW;
    if (a->conf == CONF_MEDIUM && json_is_true(json_object_get(x.detail, "name_conflict")))
        sb_puts(&b, "注意：同一身份证号在各系统中姓名不一致，置信度降为中\n");
    if (json_is_true(json_object_get(x.detail, "grid_report_only")))
        sb_puts(&b, "注意：死亡信息仅来自网格员上报，尚无户籍注销、火化或死亡医学证明，置信度低\n");
    if (low_link) sb_puts(&b, "注意：部分证据仅凭姓名+出生日期关联，可能为同名同生日的他人\n");
    if (a->conf == CONF_LOW)
        sb_puts(&b, "处理建议：此为疑点线索，请网格员上门核实后处理，核实前不得仅凭比对结果停发或追缴。");
    else
        sb_puts(&b, "处理建议：此为疑点线索，请核实后处理，核实前不得仅凭比对结果停发或追缴。");

    text = sb_take(&b);
    b.s = NULL;
    if (!text) goto oom;
    /* Last guard: no id-like digit run survives (e.g. inside a ref or description). */
    masked = mask_text(text, 0);
    free(text);
    if (!masked) goto oom;
    goto done;

oom:
    gg_error(LOG_TAG, "alert %s: out of memory writing its explanation", a->id);
    free(b.s);
    masked = NULL;
done:
    if (x.fields)
        for (size_t i = 0; i < a->nev; i++) json_decref(x.fields[i]);
    free(x.fields);
    json_decref(x.detail);
    return masked;
}

char *alert_summary_zh(const alert *a) {
    sbuf b = {0};
    sb_puts(&b, rule_title_zh(a->rule));
    if (a->case_key && *a->case_key) sb_printf(&b, " 案件 %s", a->case_key);
    const alert_rule *r = alert_rule_get(a->rule);
    if (r && r->summary) {
        r->summary(&b, a);
    } else {
        if (a->nperiods) {
            sb_puts(&b, " ");
            alert_periods_zh(&b, a->periods, a->nperiods);
        }
        sb_puts(&b, "，合计 ");
        alert_money_zh(&b, a->amount);
    }
    sb_printf(&b, "（%s）", confidence_zh(a->conf));
    char *text = sb_take(&b);
    if (!text) {
        gg_error(LOG_TAG, "alert %s: out of memory writing its summary", a->id);
        return NULL;
    }
    char *masked = mask_text(text, 0);
    free(text);
    if (!masked) gg_error(LOG_TAG, "alert %s: out of memory masking its summary", a->id);
    return masked;
}
