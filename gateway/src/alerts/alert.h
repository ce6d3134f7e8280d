/* alert.h - explained alerts: what a rule found, with the evidence behind it.
 *
 * Alert ids are stable: alert_make_id(rule, subject) hashes the rule and the
 * subject key, so the same finding has the same id on every run and restart.
 * Subjects: "person:<id18>" (or "person:~<name>|<birth>" when no valid id),
 * "case:<case key>", "case:<case key>/person:<id18>".
 *
 * Hash (shared with the Python test oracle): FNV-1a 64-bit, offset basis
 * 14695981039346656037, prime 1099511628211, over the UTF-8 bytes of
 * rule_name(r) + "|" + subject, printed as 16 lowercase hex digits after the
 * rule prefix (each rule's descriptor gives it: PAD pension_after_death, AHI
 * assistance_hidden_income, AHA assistance_hidden_assets, ADM
 * assistance_deceased_member, PIC pension_in_custody, DUP duplicate_assistance,
 * IDC identity_conflict).
 * e.g. rule pension_after_death, subject "person:420501195003121233" ->
 * "PAD-e10e178245aadc26". The fingerprint uses the same hash over amount,
 * confidence, periods, the evidence (source, kind, ref) sorted, and detail_json
 * re-serialized with sorted keys (so formatting does not change it).
 *
 * Masking (explanations, summaries, alert_to_json with mask_ids): ids via
 * ident_mask(), names via name_mask(); any remaining run of 15+ id characters
 * (ASCII or full-width digits/X, inner spaces or hyphens allowed), in refs and
 * raw values too, is replaced by its ident_mask() form.
 *
 * detail_json carries the rule-specific facts the explanation needs (keys per
 * rule documented below); evidence lists every fact used, with its source, the
 * department's record key, the raw values as the source held them and the
 * canonical ones.
 *
 * detail_json keys (dates "YYYY-MM-DD", months "YYYY-MM", money integer fen):
 *   pension_after_death:   death_date, basis, grace_months, grid_report_only (bool)
 *   assistance_hidden_income: program, region, standard, min_months,
 *                          months: [{period, income, members, limit}]
 *   assistance_hidden_assets: program, assets: [{member (id18), kind, subkind,
 *                          from, to, description}], months: [period...]
 *   assistance_deceased_member: program, member (id18), death_date, basis, member_to
 *   pension_in_custody:    custody_from, custody_to, custody_kind
 *   duplicate_assistance:  earlier_case, later_case, overlap_from, overlap_to
 *   identity_conflict:     names: [{source, name}], birth_dates: [{source, stated, embedded}]
 * Every alert also has: name_conflict (bool) when confidence was lowered by it. */
#ifndef GG_ALERT_H
#define GG_ALERT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "model/fact.h"

/* A rule is known by its position in the rules layer's registry
 * (rules/registry.c, the one array listing every rule). The names below are
 * the positions of the seven rules of docs/record-model.md, for the code and
 * tests that single one out; test_alert checks them against the registry. A
 * rule added to the registry needs no name here: it is just the next index
 * (below RULES_MAX). Alerts sort by this index, so registry order is output order. */
typedef enum {
    RULE_PENSION_AFTER_DEATH = 0,
    RULE_ASSISTANCE_HIDDEN_INCOME,
    RULE_ASSISTANCE_HIDDEN_ASSETS,
    RULE_ASSISTANCE_DECEASED_MEMBER,
    RULE_PENSION_IN_CUSTODY,
    RULE_DUPLICATE_ASSISTANCE,
    RULE_IDENTITY_CONFLICT,
    RULE__COUNT /* the named rules; rules_count() is the registry's size */
} rule_id;

#define RULES_MAX 32 /* room for per-rule arrays (enabled, routes) */

typedef enum { CONF_LOW = 0, CONF_MEDIUM, CONF_HIGH } confidence;

struct alert;
struct sbuf;
struct explain_ctx;

/* A rule as this layer sees it: the head of its descriptor (rules/rules.h).
 * The rules layer owns the table; alerts/ reads it through alert_rule_get()
 * and never includes rules/ (the function is defined by rules/registry.c, the
 * layer above, so the table is in one place and this layer stays below it). */
typedef struct alert_rule {
    const char *name;     /* "pension_after_death": config sections, JSON, ids */
    const char *prefix;   /* "PAD": alert id prefix, unique */
    const char *title_zh; /* "死亡后仍发放养老金" */
    /* The finding part of the zh-CN explanation (alerts/explain.h). */
    void (*explain)(struct sbuf *b, const struct explain_ctx *x);
    /* Optional: the tail of the one-line summary after the title and case;
     * NULL = " <periods>，合计 <money>". */
    void (*summary)(struct sbuf *b, const struct alert *a);
} alert_rule;

/* Rule r of the registry, NULL when r is out of range (rules/registry.c). */
const alert_rule *alert_rule_get(rule_id r);

const char *rule_name(rule_id r);              /* "pension_after_death" */
const char *rule_title_zh(rule_id r);          /* "死亡后仍发放养老金" */
int rule_parse(const char *s, rule_id *out);   /* 0 ok, -1 unknown */
const char *confidence_name(confidence c);     /* "high" */
const char *confidence_zh(confidence c);       /* "高" */

typedef struct alert_evidence {
    char *role;      /* what the fact shows: "death", "payment", "member", "income",
                        "asset", "custody", "case_payment", "person" */
    char *source;    /* source name */
    char *kind;      /* fact kind name */
    char *ref;       /* department record key */
    char *raw_json;  /* raw values as the source held them (may be NULL) */
    char *norm_json; /* canonical fields */
    link_conf link;  /* how the fact was tied to the subject */
} alert_evidence;

typedef struct alert {
    char id[40];
    rule_id rule;
    char *subject;            /* see above */
    char id_no[IDENT_LEN + 1];/* subject person's id, "" when the subject is a case only */
    char *case_key;           /* NULL when not case-bound */
    char *name;               /* subject person's normalized name (may be NULL) */
    char *region;             /* 6-digit region of the person/case (may be NULL) */
    char *grid;               /* grid cell of the person (may be NULL) */
    int64_t amount;           /* money at risk, fen */
    confidence conf;
    int *periods;             /* yyyymm, ascending, no duplicates */
    size_t nperiods;
    char *detail_json;        /* rule-specific, see above */
    alert_evidence *ev;
    size_t nev;
    /* Lifecycle, kept by the state store: */
    char status[16];          /* new, pushed, confirmed, dismissed, overdue, withdrawn */
    int version;              /* bumps when the evidence changes */
    char fingerprint[17];     /* hash of amount, periods, evidence refs */
    long long first_seen, updated_at; /* unix seconds */
} alert;

typedef struct alert_list {
    alert *items;
    size_t n, cap;
} alert_list;

/* Stable id "<rule prefix>-<16 hex>" e.g. "PAD-3f2a9c0d11e4b7a8". out >= 40. */
void alert_make_id(rule_id r, const char *subject, char out[40]);
/* Initializes `a` (zeroed, id computed). subject is copied. */
void alert_init(alert *a, rule_id r, const char *subject);
void alert_free(alert *a);
int alert_add_period(alert *a, int yyyymm);     /* keeps sorted, dedups */
/* Appends evidence copied from fact `f` (source, kind, ref, raw, canonical). */
int alert_add_evidence(alert *a, const char *role, const fact *f, link_conf link);
/* Computes a->fingerprint from amount, confidence, periods and evidence refs. */
void alert_fingerprint(alert *a);

alert *alert_list_push(alert_list *l); /* new zeroed slot, NULL on OOM */
void alert_list_free(alert_list *l);

/* Looks up a source's department label (e.g. "公安户籍") for explanations. */
typedef const char *(*source_label_fn)(void *ud, const char *source);

/* Readable zh-CN explanation (malloc'd), ids and names masked, e.g.
 * "死亡后仍发放养老金：公安户籍注销 2024-03-12；2024-04 至 2024-09 共发放 6 个月，合计 18,600.00 元". */
char *alert_explain_zh(const alert *a, source_label_fn label, void *ud);
/* One-line summary for lists and push payloads (masked). */
char *alert_summary_zh(const alert *a);
/* JSON object for export: rule, subject, id_no, case, amount, confidence,
 * periods, detail, evidence, status. mask_ids masks id numbers and names. */
json_t *alert_to_json(const alert *a, int mask_ids);
/* Rebuilds an alert from alert_to_json output (unmasked); 0 ok, -1 bad input. */
int alert_from_json(const json_t *j, alert *a);
/* Money in fen as "18,600.00". out >= 32. */
void fen_format(int64_t fen, char *out, size_t outsz);

#endif
