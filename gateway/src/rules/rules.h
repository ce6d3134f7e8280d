/* rules.h - the cross-match rules of docs/record-model.md, evaluated over a
 * resolved factset. Each rule yields at most one alert per subject.
 *
 * Every rule is one file, rules/<name>.c, defining one rule_desc; the one
 * array in rules/registry.c lists them, and its order is the rule index
 * (rule_id) and the order alerts come out in. Adding a rule = its file plus
 * one line in registry.c. Its [rule NAME] configuration keys are part of its
 * descriptor (confkeys whose offsets point into rules_config, where the
 * parsed values live); `enabled` is common to all (rules_common_keys). */
#ifndef GG_RULES_H
#define GG_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "alerts/alert.h"
#include "core/confkey.h"
#include "model/factset.h"

typedef struct region_standard {
    char prefix[7];  /* region-code prefix, 1..6 digits */
    int64_t fen;     /* monthly per-capita standard */
} region_standard;

typedef struct rules_config {
    int enabled[RULES_MAX];     /* by rule index; key `enabled` of every rule */
    int grace_months;           /* pension_after_death */
    int min_months;             /* assistance_hidden_income */
    long standard_default;      /* fen; -1 = none configured (rule skipped) */
    region_standard *standards; /* longest matching prefix wins */
    size_t nstandards;
    char **exempt_subkinds;     /* assistance_hidden_assets */
    size_t nexempt;
    int today;                  /* yyyymmdd bounding ongoing enrollments; 0 = clock */
} rules_config;

typedef struct rules_ctx rules_ctx; /* the run context of rules/driver.c */

typedef struct rule_desc {
    alert_rule info;           /* name, alert-id prefix, zh-CN title, explanation */
    const fact_kind *needs;    /* fact kinds the rule reads */
    size_t nneeds;
    /* Appends its alerts (rule index `self`) to out. 0 ok, -1 out of memory. */
    int (*evaluate)(rules_ctx *cx, rule_id self, alert_list *out);
    const confkey *keys;       /* its [rule NAME] keys besides `enabled`; base: rules_config */
    size_t nkeys;
} rule_desc;

/* The registry (rules/registry.c). */
size_t rules_count(void);
const rule_desc *rules_get(rule_id r);          /* NULL when out of range */
const rule_desc *rules_find(const char *name, rule_id *r); /* by name; NULL when unknown */
/* Keys every [rule NAME] takes; their base is &rules_config.enabled[r]. */
extern const confkey rules_common_keys[];
extern const size_t rules_ncommon_keys;

/* Defaults from the descriptors' keys. 0 ok, -1 out of memory (logged). */
int rules_config_defaults(rules_config *rc);
void rules_config_free(rules_config *rc);
/* Monthly standard for a region (longest prefix), or standard_default. */
int64_t rules_standard_for(const rules_config *rc, const char *region);

/* Evaluates every enabled rule; appends alerts to out. 0 ok, -1 out of memory. */
int rules_run(const factset *fs, const rules_config *rc, alert_list *out);

#endif
