/* registry.c - the one list of rules. Position = rule index (rule_id), the
 * order rules run in and alerts sort by; the first seven are the named
 * positions of alerts/alert.h (test_alert checks them). A new rule: its file
 * rules/<name>.c defining `const rule_desc rule_<name>`, plus one line in
 * RULES below.
 *
 * alert_rule_get() is defined here for the alerts layer, which reads rule
 * names, prefixes, titles and explanations through it without including rules/
 * (see alerts/alert.h). */
#include "rules/rules.h"

#include <string.h>

#define RULES(X)                    \
    X(pension_after_death)          \
    X(assistance_hidden_income)     \
    X(assistance_hidden_assets)     \
    X(assistance_deceased_member)   \
    X(pension_in_custody)           \
    X(duplicate_assistance)         \
    X(identity_conflict)            \
    /* new rules: one X(name) line above this one */

#define DECLARE(n) extern const rule_desc rule_##n;
#define ENTRY(n) &rule_##n,
RULES(DECLARE)
static const rule_desc *const registry[] = {RULES(ENTRY)};

_Static_assert(sizeof registry / sizeof *registry <= RULES_MAX, "raise RULES_MAX in alerts/alert.h");

const confkey rules_common_keys[] = {
    {"rule", "enabled", CK_BOOL, "yes", 0, 0, 0, NULL, NULL, "run this rule"},
};
const size_t rules_ncommon_keys = sizeof rules_common_keys / sizeof *rules_common_keys;

size_t rules_count(void) { return sizeof registry / sizeof *registry; }

const rule_desc *rules_get(rule_id r) {
    return (int)r >= 0 && (size_t)r < rules_count() ? registry[r] : NULL;
}

const rule_desc *rules_find(const char *name, rule_id *r) {
    for (size_t i = 0; name && i < rules_count(); i++)
        if (strcmp(registry[i]->info.name, name) == 0) {
            if (r) *r = (rule_id)i;
            return registry[i];
        }
    return NULL;
}

const alert_rule *alert_rule_get(rule_id r) {
    const rule_desc *d = rules_get(r);
    return d ? &d->info : NULL;
}
