/* explain.h - the kit a rule's zh-CN explanation is written with.
 *
 * Each rule's descriptor (rules/<rule>.c) carries the finding part of its
 * explanation, alert_rule.explain; explain_zh.c writes the rest (title, who,
 * evidence, caveats) around it and masks the whole text at the end. The
 * helpers below are the ones explain_zh.c uses itself, so every rule words
 * dates, money, people and sources the same way. Names and ids given to
 * alert_person_zh() are masked there; nothing here keeps state. */
#ifndef GG_EXPLAIN_H
#define GG_EXPLAIN_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "alerts/alert.h"
#include "core/mask.h"
#include "core/sbuf.h"

#define EXPLAIN_MAX_MONTHS 12 /* months listed before "等（另有 N 个月）" */

/* sbuf (growable text): core/sbuf.h; ident_mask, name_mask: core/mask.h. */

/* What an explanation reads: the alert, its detail and the parsed canonical
 * fields of each evidence item (NULL when unparseable). All borrowed. */
typedef struct explain_ctx {
    const alert *a;
    json_t *detail; /* never NULL */
    json_t **fields;
    source_label_fn label;
    void *ud;
} explain_ctx;

void alert_periods_zh(sbuf *b, const int *periods, size_t n); /* "2024-04 至 2024-09、2024-11" */
void alert_money_zh(sbuf *b, int64_t fen);                     /* "18,600.00 元" */
void alert_person_zh(sbuf *b, const char *name, const char *id18); /* masked "张*（4205**********123X）" */
void alert_span_zh(sbuf *b, const json_t *o, const char *kfrom, const char *kto); /* "A 至 B" / "A 至今" */
const char *alert_basis_zh(const char *basis);     /* death basis: "户籍注销" */
const char *alert_program_zh(const char *p);       /* "低保" */
const char *alert_asset_kind_zh(const char *k);    /* "车辆" */
const char *alert_subkind_zh(const char *k);       /* "摩托车"; NULL for NULL */
const char *alert_custody_kind_zh(const char *k);  /* "服刑" / "拘留" */
/* The source's department label, else its name, else "未知来源". */
const char *alert_source_label(source_label_fn label, void *ud, const char *source);
/* Index of the death evidence matching the detail's death date and basis (the
 * first death evidence of `member`, or of anyone when NULL, otherwise), or -1. */
long alert_find_death_evidence(const explain_ctx *x, const char *member);
/* Name of the person with id `id18` among the evidence (borrowed), or NULL. */
const char *alert_find_name_for(const explain_ctx *x, const char *id18);
const char *alert_case_of(const explain_ctx *x);   /* the alert's case key or "（未知）" */

/* Tolerant JSON accessors (json.c). */
const char *alert_jstr(const json_t *o, const char *k);         /* borrowed or NULL */
int alert_jint(const json_t *o, const char *k, long long *out); /* integer or digit text; 0 ok */
/* Date or month member as "YYYY-MM-DD" / "YYYY-MM" text; 0 when present. */
int alert_jdate(const json_t *o, const char *k, char *out, size_t outsz);
json_t *alert_parse_obj(const char *text);                      /* new reference or NULL */

#endif
