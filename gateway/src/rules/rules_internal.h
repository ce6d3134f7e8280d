/* rules_internal.h - what the rule files share: the run context (cases,
 * member and payment lists by case, facts by person), the helpers that build
 * alerts, and small fact accessors. Defined in rules/driver.c; only rules/
 * includes this.
 *
 * Months are month indices (year * 12 + month - 1) in the scans; day intervals
 * whose `to` is open use OPEN_END. Facts are addressed by index into
 * cx->fs->facts; F(cx, i) is fact i. */
#ifndef GG_RULES_INTERNAL_H
#define GG_RULES_INTERNAL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/date.h"
#include "core/util.h"
#include "core/log.h"
#include "core/strmap.h"
#include "rules/rules.h"

#define OPEN_END 99991231 /* "to" of an ongoing interval */

/* ---- the run context ---------------------------------------------------------- */

struct rules_ctx {
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
};

typedef struct death_found {
    int date;       /* D, yyyymmdd */
    int grid_only;  /* D rests on grid reports only */
    int all_low;    /* every death fact giving D is a low-confidence link */
    int first;      /* first fact (source, ref order) giving D */
} death_found;

typedef struct ivec {
    int *v;
    size_t n, cap;
} ivec;

typedef struct member_ref {
    int person; /* person index, -1 when the member fact is not linked */
    int pos;    /* position in the case's member list ((source, ref) order) */
    int fi;     /* fact index */
} member_ref;

/* ---- small helpers ------------------------------------------------------------- */

/* Months and dates: core/date.h (month_index, month_of_index, month_days,
 * date_text, month_text). */

static inline const char *fact_str(const fact *f, fact_field ff) {
    return (FACT_HAS(f, ff) && f->f[ff].s && f->f[ff].s[0]) ? f->f[ff].s : NULL;
}
static inline int fact_has(const fact *f, fact_field ff) { return FACT_HAS(f, ff) != 0; }
static inline int64_t fact_i(const fact *f, fact_field ff) { return f->f[ff].i; }
static inline int str_eq(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

static inline int is_authoritative_basis(const char *basis) {
    return str_eq(basis, "household_deregistration") || str_eq(basis, "cremation") ||
           str_eq(basis, "death_certificate");
}

static inline int is_assistance_program(const char *p) { return str_eq(p, "dibao") || str_eq(p, "tekun"); }


static inline const fact *F(const rules_ctx *cx, int i) { return &cx->fs->facts[i]; }

static inline int is_pension_payment(const fact *f) {
    return f->kind == FK_PAYMENT && fact_has(f, FF_PERIOD) && str_eq(fact_str(f, FF_PROGRAM), "pension");
}

/* ---- driver.c ------------------------------------------------------------------ */

void rules_mark_reset(rules_ctx *cx);
int rules_mark_once(rules_ctx *cx, int i);
int rules_member_span(const rules_ctx *cx, const fact *f, int *from, int *to, int *mlo, int *mhi);
int rules_day_span_months(const rules_ctx *cx, int lo, int hi, int *mlo, int *mhi);
/* Opens an alert of rule r for `subject` (name/region/grid from person p when
 * >= 0, id_no when person_subject); NULL on out of memory. */
alert *rules_open_alert(rules_ctx *cx, alert_list *out, rule_id r, const char *subject, int p, int person_subject,
                  const char *case_key);
int rules_add_period(alert *a, int yyyymm);
int rules_add_ev(rules_ctx *cx, alert *a, const char *role, int fi);
int rules_add_person_ev(rules_ctx *cx, alert *a, int p);
/* Sets the confidence and stores detail (stolen) as compact JSON. */
int rules_finish_alert(alert *a, int all_low, int name_conflict, json_t *detail);
/* Adds case ci's dibao/tekun payments for the months marked in bm as evidence and to *amount. */
int rules_add_case_payments(rules_ctx *cx, alert *a, int ci, const unsigned char *bm, int lo, int n, int64_t *amount);
int rules_add_periods(alert *a, const unsigned char *bm, int lo, int n);
/* D for person p (authoritative deaths first, grid reports unless
 * authoritative_only). 1 found, 0 none. */
int rules_person_death(const rules_ctx *cx, int p, int authoritative_only, death_found *d);
int rules_add_death_ev(rules_ctx *cx, alert *a, int p, const death_found *d);
int rules_ivec_push(ivec *x, int val);
int rules_case_member_refs(const rules_ctx *cx, int ci, member_ref **out, size_t *n);
int rules_case_span(const rules_ctx *cx, int ci, int *lo, int *hi);
void rules_mark_member_months(const rules_ctx *cx, int fi, unsigned char *bm, int lo, int n);
int rules_member_in_months(const rules_ctx *cx, int fi, const unsigned char *bm, int lo, int n);
void rules_case_basics(const rules_ctx *cx, int ci, const char **program, const char **region, int *first_person);
char *rules_case_subject(const char *case_key, const char *id18);

#endif
