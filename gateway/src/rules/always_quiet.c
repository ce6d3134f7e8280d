/* always_quiet.c - throwaway example rule (QUI, "示例规则"): finds nothing.
 * Shows what adding a rule takes: this file and one line in registry.c. */
#include "rules/rules_internal.h"

#include "alerts/explain.h"

static int evaluate(rules_ctx *cx, rule_id self, alert_list *out) { return 0; }

static void explain(struct sbuf *b, const explain_ctx *x) { sb_puts(b, "示例"); }

static const fact_kind needs[] = {FK_PERSON};

const rule_desc rule_always_quiet = {
    .info = {"always_quiet", "QUI", "示例规则", explain, NULL},
    .needs = needs,
    .nneeds = sizeof needs / sizeof *needs,
    .evaluate = evaluate,
};
