/* alert.c - explained alerts: rule and confidence names, stable ids, the
 * alert itself (periods, evidence), fingerprints, alert lists and money and
 * month text (rule names, prefixes and titles are read from the rule
 * registry through alert_rule_get()). JSON is in json.c, zh-CN explanations in explain_zh.c, the
 * masking every outward text goes through in mask.c.
 *
 * Ids and fingerprints are FNV-1a 64-bit hashes (offset 14695981039346656037,
 * prime 1099511628211), printed as 16 lowercase hex digits:
 *   id          = "<PREFIX>-" + fnv1a64(rule_name(r) + "|" + subject)
 *   fingerprint = fnv1a64(amount, confidence, periods, sorted evidence
 *                 (source, kind, ref), canonical detail_json)
 *
 * Masking: every text meant for people or other systems (explanations,
 * summaries, alert_to_json with mask_ids) shows id numbers only through
 * ident_mask() and names only through name_mask(); as a last guard, any run of
 * 15 or more id characters (digits, X, full-width digits, with inner spaces or
 * hyphens) left in such a text is replaced by its ident_mask() form.
 *
 * Ownership: an alert owns its subject, case_key, name, region, grid,
 * periods, detail_json and evidence (and every string in them); alert_free()
 * releases them all. Returned strings and JSON values belong to the caller. */
#include "alerts/alert_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"

/* ------------------------------------------------------------------------ */
/* Rules and confidence names                                                */

/* Names, prefixes and titles come from the rule registry (alert_rule_get). */

const char *rule_name(rule_id r) {
    const alert_rule *d = alert_rule_get(r);
    return d ? d->name : "unknown";
}

const char *rule_title_zh(rule_id r) {
    const alert_rule *d = alert_rule_get(r);
    return d ? d->title_zh : "未知规则";
}

int rule_parse(const char *s, rule_id *out) {
    if (!s) return -1;
    const alert_rule *d;
    for (int i = 0; (d = alert_rule_get((rule_id)i)) != NULL; i++)
        if (strcmp(s, d->name) == 0) {
            *out = (rule_id)i;
            return 0;
        }
    return -1;
}

const char *confidence_name(confidence c) {
    switch (c) {
    case CONF_LOW: return "low";
    case CONF_MEDIUM: return "medium";
    case CONF_HIGH: return "high";
    }
    return "low";
}

const char *confidence_zh(confidence c) {
    switch (c) {
    case CONF_LOW: return "低";
    case CONF_MEDIUM: return "中";
    case CONF_HIGH: return "高";
    }
    return "低";
}

int alert_confidence_parse(const char *s, confidence *out) {
    if (!s) return -1;
    if (strcmp(s, "low") == 0) *out = CONF_LOW;
    else if (strcmp(s, "medium") == 0) *out = CONF_MEDIUM;
    else if (strcmp(s, "high") == 0) *out = CONF_HIGH;
    else return -1;
    return 0;
}

const char *alert_link_name(link_conf l) {
    switch (l) {
    case LINK_HIGH: return "high";
    case LINK_LOW: return "low";
    case LINK_NONE: return "none";
    }
    return "none";
}

int alert_link_parse(const char *s, link_conf *out) {
    if (!s) return -1;
    if (strcmp(s, "high") == 0) *out = LINK_HIGH;
    else if (strcmp(s, "low") == 0) *out = LINK_LOW;
    else if (strcmp(s, "none") == 0) *out = LINK_NONE;
    else return -1;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Hashing                                                                   */

void alert_make_id(rule_id r, const char *subject, char out[40]) {
    uint64_t h = GG_FNV_OFFSET;
    h = fnv1a64_str(h, rule_name(r));
    h = fnv1a64_update(h, "|", 1);
    h = fnv1a64_str(h, subject ? subject : "");
    const alert_rule *d = alert_rule_get(r);
    snprintf(out, 40, "%s-%016llx", d ? d->prefix : "UNK", (unsigned long long)h);
}


/* ------------------------------------------------------------------------ */
/* Lifecycle                                                                 */

void alert_init(alert *a, rule_id r, const char *subject) {
    memset(a, 0, sizeof *a);
    a->rule = r;
    if (subject) {
        a->subject = strdup(subject);
        if (!a->subject) gg_error(LOG_TAG, "alert_init: out of memory copying the subject");
    }
    alert_make_id(r, subject, a->id);
}

static void evidence_free(alert_evidence *e) {
    free(e->role);
    free(e->source);
    free(e->kind);
    free(e->ref);
    free(e->raw_json);
    free(e->norm_json);
    memset(e, 0, sizeof *e);
}

void alert_free(alert *a) {
    if (!a) return;
    free(a->subject);
    free(a->case_key);
    free(a->name);
    free(a->region);
    free(a->grid);
    free(a->periods);
    free(a->detail_json);
    for (size_t i = 0; i < a->nev; i++) evidence_free(&a->ev[i]);
    free(a->ev);
    memset(a, 0, sizeof *a);
}

int alert_add_period(alert *a, int yyyymm) {
    if (!month_valid(yyyymm)) {
        gg_warn(LOG_TAG, "alert %s: ignoring invalid period %d", a->id, yyyymm);
        return -1;
    }
    size_t lo = 0, hi = a->nperiods;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (a->periods[mid] < yyyymm) lo = mid + 1;
        else hi = mid;
    }
    if (lo < a->nperiods && a->periods[lo] == yyyymm) return 0;
    int *np = realloc(a->periods, (a->nperiods + 1) * sizeof *np);
    if (!np) {
        gg_error(LOG_TAG, "alert %s: out of memory adding a period", a->id);
        return -1;
    }
    a->periods = np;
    memmove(np + lo + 1, np + lo, (a->nperiods - lo) * sizeof *np);
    np[lo] = yyyymm;
    a->nperiods++;
    return 0;
}

int alert_add_evidence(alert *a, const char *role, const fact *f, link_conf link) {
    alert_evidence e = {0};
    int oom = 0;
    e.role = xstrdup(role ? role : "");
    e.source = xstrdup(f->source ? f->source : "");
    e.kind = xstrdup(fact_kind_name(f->kind));
    e.ref = xstrdup(f->ref ? f->ref : "");
    e.raw_json = xstrdup(f->raw_json);
    e.norm_json = fact_fields_json(f);
    if (!e.norm_json) oom = 1;
    e.link = link;
    alert_evidence *nev = oom ? NULL : realloc(a->ev, (a->nev + 1) * sizeof *nev);
    if (!nev) {
        gg_error(LOG_TAG, "alert %s: out of memory adding %s evidence", a->id,
                 role ? role : "");
        evidence_free(&e);
        return -1;
    }
    a->ev = nev;
    a->ev[a->nev++] = e;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Fingerprint                                                               */

/* detail_json in a canonical form (sorted keys, compact) so that the same
 * details hash the same whatever their formatting; "{}" when absent.
 * Unparseable text is hashed as it is. Returns malloc'd text or NULL. */
static char *detail_canonical(const char *detail_json) {
    if (!detail_json || !*detail_json) return strdup("{}");
    json_error_t err;
    json_t *j = json_loads(detail_json, JSON_DECODE_ANY, &err);
    if (!j) return strdup(detail_json);
    char *out = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    json_decref(j);
    return out;
}

static int evidence_key_cmp(const void *pa, const void *pb) {
    const alert_evidence *x = *(alert_evidence *const *)pa;
    const alert_evidence *y = *(alert_evidence *const *)pb;
    int c = gg_strcmp0(x->source, y->source);
    if (!c) c = gg_strcmp0(x->kind, y->kind);
    if (!c) c = gg_strcmp0(x->ref, y->ref);
    return c;
}

void alert_fingerprint(alert *a) {
    uint64_t h = GG_FNV_OFFSET;
    char buf[64];
    int n = snprintf(buf, sizeof buf, "amount=%lld;conf=%d;periods=", (long long)a->amount,
                     (int)a->conf);
    h = fnv1a64_update(h, buf, (size_t)n);
    for (size_t i = 0; i < a->nperiods; i++) {
        n = snprintf(buf, sizeof buf, "%d,", a->periods[i]);
        h = fnv1a64_update(h, buf, (size_t)n);
    }
    h = fnv1a64_update(h, ";evidence=", 10);
    alert_evidence **order = a->nev ? malloc(a->nev * sizeof *order) : NULL;
    if (a->nev && !order) {
        /* Still deterministic for this insertion order; logged so it is seen. */
        gg_error(LOG_TAG, "alert %s: out of memory sorting evidence for the fingerprint", a->id);
    }
    for (size_t i = 0; i < a->nev; i++) {
        const alert_evidence *e = order ? NULL : &a->ev[i];
        if (order) order[i] = &a->ev[i];
        if (e) {
            h = fnv1a64_str(h, e->source);
            h = fnv1a64_update(h, "\x1f", 1);
            h = fnv1a64_str(h, e->kind);
            h = fnv1a64_update(h, "\x1f", 1);
            h = fnv1a64_str(h, e->ref);
            h = fnv1a64_update(h, "\x1e", 1);
        }
    }
    if (order) {
        qsort(order, a->nev, sizeof *order, evidence_key_cmp);
        for (size_t i = 0; i < a->nev; i++) {
            h = fnv1a64_str(h, order[i]->source);
            h = fnv1a64_update(h, "\x1f", 1);
            h = fnv1a64_str(h, order[i]->kind);
            h = fnv1a64_update(h, "\x1f", 1);
            h = fnv1a64_str(h, order[i]->ref);
            h = fnv1a64_update(h, "\x1e", 1);
        }
        free(order);
    }
    h = fnv1a64_update(h, ";detail=", 8);
    char *canon = detail_canonical(a->detail_json);
    if (canon) {
        h = fnv1a64_str(h, canon);
        free(canon);
    } else {
        gg_error(LOG_TAG, "alert %s: out of memory canonicalizing detail_json", a->id);
        h = fnv1a64_str(h, a->detail_json);
    }
    snprintf(a->fingerprint, sizeof a->fingerprint, "%016llx", (unsigned long long)h);
}

/* ------------------------------------------------------------------------ */
/* Alert lists                                                               */

alert *alert_list_push(alert_list *l) {
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 16;
        alert *ni = realloc(l->items, ncap * sizeof *ni);
        if (!ni) {
            gg_error(LOG_TAG, "alert_list_push: out of memory growing to %zu alerts", ncap);
            return NULL;
        }
        l->items = ni;
        l->cap = ncap;
    }
    alert *a = &l->items[l->n++];
    memset(a, 0, sizeof *a);
    return a;
}

void alert_list_free(alert_list *l) {
    if (!l) return;
    for (size_t i = 0; i < l->n; i++) alert_free(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

/* ------------------------------------------------------------------------ */
/* Money                                                                     */

void fen_format(int64_t fen, char *out, size_t outsz) {
    if (!out || outsz == 0) return;
    uint64_t mag = fen < 0 ? (uint64_t)0 - (uint64_t)fen : (uint64_t)fen;
    uint64_t yuan = mag / 100, cents = mag % 100;
    char digits[32];
    int nd = snprintf(digits, sizeof digits, "%llu", (unsigned long long)yuan);
    char tmp[48];
    size_t k = 0;
    if (fen < 0) tmp[k++] = '-';
    for (int i = 0; i < nd; i++) {
        if (i > 0 && (nd - i) % 3 == 0) tmp[k++] = ',';
        tmp[k++] = digits[i];
    }
    snprintf(tmp + k, sizeof tmp - k, ".%02llu", (unsigned long long)cents);
    snprintf(out, outsz, "%s", tmp);
}

/* "18600.00": yuan without thousands separators (for machines). */
void alert_fen_plain(int64_t fen, char *out, size_t outsz) {
    uint64_t mag = fen < 0 ? (uint64_t)0 - (uint64_t)fen : (uint64_t)fen;
    snprintf(out, outsz, "%s%llu.%02llu", fen < 0 ? "-" : "", (unsigned long long)(mag / 100),
             (unsigned long long)(mag % 100));
}

