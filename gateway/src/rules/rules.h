/* rules.h - the cross-match rules of docs/record-model.md, evaluated over a
 * resolved factset. Each rule yields at most one alert per subject. */
#ifndef GG_RULES_H
#define GG_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "alerts/alert.h"
#include "model/factset.h"

typedef struct region_standard {
    char prefix[7];  /* region-code prefix, 1..6 digits */
    int64_t fen;     /* monthly per-capita standard */
} region_standard;

typedef struct rules_config {
    int enabled[RULE__COUNT];   /* default all 1 */
    int grace_months;           /* pension_after_death; default 0 */
    int min_months;             /* assistance_hidden_income; default 3 */
    int64_t standard_default;   /* fen; -1 = none configured (rule skipped) */
    region_standard *standards; /* longest matching prefix wins */
    size_t nstandards;
    char **exempt_subkinds;     /* default {"motorcycle", "disability_vehicle"} */
    size_t nexempt;
    int today;                  /* yyyymmdd bounding ongoing enrollments; 0 = clock */
} rules_config;

void rules_config_defaults(rules_config *rc);
void rules_config_free(rules_config *rc);
/* Monthly standard for a region (longest prefix), or standard_default. */
int64_t rules_standard_for(const rules_config *rc, const char *region);

/* Evaluates every enabled rule; appends alerts to out. 0 ok, -1 out of memory. */
int rules_run(const factset *fs, const rules_config *rc, alert_list *out);

#endif
