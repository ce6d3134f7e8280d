/* alert.c - explained alerts: stable ids, evidence, fingerprints, JSON export
 * and zh-CN explanations for reviewers.
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
#include "alerts/alert.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/ident.h"
#include "core/log.h"

#define LOG_TAG "alert"
#define FNV_OFFSET 14695981039346656037ULL
#define FNV_PRIME 1099511628211ULL
#define EXPLAIN_MAX_EVIDENCE 30
#define EXPLAIN_MAX_MONTHS 12

/* ------------------------------------------------------------------------ */
/* Rules and confidence names                                                */

typedef struct rule_info {
    const char *name;
    const char *prefix;
    const char *title_zh;
} rule_info;

static const rule_info rule_table[RULE__COUNT] = {
    [RULE_PENSION_AFTER_DEATH] = {"pension_after_death", "PAD", "死亡后仍发放养老金"},
    [RULE_ASSISTANCE_HIDDEN_INCOME] = {"assistance_hidden_income", "AHI", "低保家庭隐瞒收入"},
    [RULE_ASSISTANCE_HIDDEN_ASSETS] = {"assistance_hidden_assets", "AHA", "低保家庭隐瞒财产"},
    [RULE_ASSISTANCE_DECEASED_MEMBER] = {"assistance_deceased_member", "ADM",
                                         "已故成员仍在保并领取救助"},
    [RULE_PENSION_IN_CUSTODY] = {"pension_in_custody", "PIC", "服刑期间领取养老金"},
    [RULE_DUPLICATE_ASSISTANCE] = {"duplicate_assistance", "DUP", "重复享受救助"},
    [RULE_IDENTITY_CONFLICT] = {"identity_conflict", "IDC", "身份信息冲突"},
};

static int rule_valid(rule_id r) { return (int)r >= 0 && r < RULE__COUNT; }

const char *rule_name(rule_id r) { return rule_valid(r) ? rule_table[r].name : "unknown"; }

const char *rule_title_zh(rule_id r) { return rule_valid(r) ? rule_table[r].title_zh : "未知规则"; }

int rule_parse(const char *s, rule_id *out) {
    if (!s) return -1;
    for (int i = 0; i < RULE__COUNT; i++)
        if (strcmp(s, rule_table[i].name) == 0) {
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

static int confidence_parse(const char *s, confidence *out) {
    if (!s) return -1;
    if (strcmp(s, "low") == 0) *out = CONF_LOW;
    else if (strcmp(s, "medium") == 0) *out = CONF_MEDIUM;
    else if (strcmp(s, "high") == 0) *out = CONF_HIGH;
    else return -1;
    return 0;
}

static const char *link_name(link_conf l) {
    switch (l) {
    case LINK_HIGH: return "high";
    case LINK_LOW: return "low";
    case LINK_NONE: return "none";
    }
    return "none";
}

static int link_parse(const char *s, link_conf *out) {
    if (!s) return -1;
    if (strcmp(s, "high") == 0) *out = LINK_HIGH;
    else if (strcmp(s, "low") == 0) *out = LINK_LOW;
    else if (strcmp(s, "none") == 0) *out = LINK_NONE;
    else return -1;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Hashing                                                                   */

static uint64_t fnv1a_update(uint64_t h, const void *data, size_t len) {
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= FNV_PRIME;
    }
    return h;
}

static uint64_t fnv1a_str(uint64_t h, const char *s) {
    return s ? fnv1a_update(h, s, strlen(s)) : h;
}

void alert_make_id(rule_id r, const char *subject, char out[40]) {
    uint64_t h = FNV_OFFSET;
    h = fnv1a_str(h, rule_name(r));
    h = fnv1a_update(h, "|", 1);
    h = fnv1a_str(h, subject ? subject : "");
    snprintf(out, 40, "%s-%016llx", rule_valid(r) ? rule_table[r].prefix : "UNK",
             (unsigned long long)h);
}

/* ------------------------------------------------------------------------ */
/* Small growable string buffer. On allocation failure `oom` is set and      */
/* further appends are ignored; the owner checks it once at the end.         */

typedef struct sbuf {
    char *s;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_reserve(sbuf *b, size_t extra) {
    if (b->oom) return;
    if (b->len + extra + 1 <= b->cap) return;
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap < b->len + extra + 1) ncap *= 2;
    char *n = realloc(b->s, ncap);
    if (!n) {
        b->oom = 1;
        return;
    }
    b->s = n;
    b->cap = ncap;
}

static void sb_putn(sbuf *b, const char *s, size_t n) {
    sb_reserve(b, n);
    if (b->oom) return;
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_puts(sbuf *b, const char *s) {
    if (s) sb_putn(b, s, strlen(s));
}

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = 1;
        return;
    }
    sb_reserve(b, (size_t)n);
    if (b->oom) return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Hands the text to the caller (malloc'd) or NULL on OOM. */
static char *sb_take(sbuf *b) {
    if (b->oom) {
        free(b->s);
        return NULL;
    }
    if (!b->s) return strdup("");
    return b->s;
}

/* ------------------------------------------------------------------------ */
/* Masking helpers                                                           */

/* Length of an id character at s (ASCII digit or X/x: 1, full-width digit or
 * X/x: 3), 0 when s does not start with one. *is_digit tells digits from X. */
static size_t id_char_at(const unsigned char *s, int *is_digit) {
    if (s[0] >= '0' && s[0] <= '9') {
        *is_digit = 1;
        return 1;
    }
    if (s[0] == 'X' || s[0] == 'x') {
        *is_digit = 0;
        return 1;
    }
    if (s[0] == 0xEF && s[1] == 0xBC && s[2] >= 0x90 && s[2] <= 0x99) { /* ０-９ */
        *is_digit = 1;
        return 3;
    }
    if ((s[0] == 0xEF && s[1] == 0xBC && s[2] == 0xB8) ||   /* Ｘ */
        (s[0] == 0xEF && s[1] == 0xBD && s[2] == 0x98)) {  /* ｘ */
        *is_digit = 0;
        return 3;
    }
    return 0;
}

/* Copies `in` to a new string with every run of 15+ id characters (starting
 * with a digit, spaces/hyphens allowed inside) replaced by ident_mask() of its
 * cleaned form. Returns malloc'd text or NULL on OOM. */
static char *mask_id_runs(const char *in) {
    if (!in) return NULL;
    sbuf b = {0};
    const unsigned char *s = (const unsigned char *)in;
    size_t n = strlen(in), i = 0;
    while (i < n) {
        int dig = 0;
        size_t cl = id_char_at(s + i, &dig);
        if (cl == 0 || !dig) {
            /* copy this byte (UTF-8 continuation bytes are never id chars) */
            sb_putn(&b, (const char *)s + i, cl ? cl : 1);
            i += cl ? cl : 1;
            continue;
        }
        char clean[64];
        size_t nclean = 0, j = i, end = i;
        while (j < n) {
            size_t l = id_char_at(s + j, &dig);
            if (l) {
                if (nclean < sizeof clean - 1) {
                    char c;
                    if (l == 1) c = (char)(s[j] == 'x' ? 'X' : s[j]);
                    else c = dig ? (char)('0' + (s[j + 2] - 0x90)) : 'X';
                    clean[nclean] = c;
                }
                nclean++;
                j += l;
                end = j;
            } else if (s[j] == ' ' || s[j] == '-') {
                j++;
            } else {
                break;
            }
        }
        if (nclean >= 15) {
            char masked[64];
            clean[nclean < sizeof clean ? nclean : sizeof clean - 1] = '\0';
            ident_mask(clean, masked, sizeof masked);
            sb_puts(&b, masked);
        } else {
            sb_putn(&b, (const char *)s + i, end - i);
        }
        i = end;
    }
    return sb_take(&b);
}

/* Masked id into out (>= 32): ident_mask, "" for NULL/empty. */
static void mask_id(const char *id, char *out, size_t outsz) {
    if (!id || !*id) {
        out[0] = '\0';
        return;
    }
    ident_mask(id, out, outsz);
}

static void mask_name(const char *name, char *out, size_t outsz) {
    if (!name || !*name) {
        out[0] = '\0';
        return;
    }
    name_mask(name, out, outsz);
}

/* Masks a subject key: ids and the name part of "person:~<name>|<birth>". */
static char *mask_subject(const char *subject) {
    if (!subject) return NULL;
    sbuf b = {0};
    const char *p = subject;
    const char *tilde;
    while ((tilde = strstr(p, "person:~")) != NULL) {
        tilde += strlen("person:~");
        sb_putn(&b, p, (size_t)(tilde - p));
        const char *bar = strchr(tilde, '|');
        size_t nlen = bar ? (size_t)(bar - tilde) : strlen(tilde);
        char name[256], masked[512];
        if (nlen >= sizeof name) nlen = sizeof name - 1;
        memcpy(name, tilde, nlen);
        name[nlen] = '\0';
        mask_name(name, masked, sizeof masked);
        sb_puts(&b, masked);
        p = bar ? bar : tilde + strlen(tilde);
    }
    sb_puts(&b, p);
    char *half = sb_take(&b);
    if (!half) return NULL;
    char *out = mask_id_runs(half);
    free(half);
    return out;
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

static int month_valid(int yyyymm) {
    int m = yyyymm % 100, y = yyyymm / 100;
    return y >= 1000 && y <= 9999 && m >= 1 && m <= 12;
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

static char *dup_or_null(const char *s, int *oom) {
    if (!s) return NULL;
    char *d = strdup(s);
    if (!d) *oom = 1;
    return d;
}

int alert_add_evidence(alert *a, const char *role, const fact *f, link_conf link) {
    alert_evidence e = {0};
    int oom = 0;
    e.role = dup_or_null(role ? role : "", &oom);
    e.source = dup_or_null(f->source ? f->source : "", &oom);
    e.kind = dup_or_null(fact_kind_name(f->kind), &oom);
    e.ref = dup_or_null(f->ref ? f->ref : "", &oom);
    e.raw_json = dup_or_null(f->raw_json, &oom);
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

static int cmp_str0(const char *x, const char *y) { return strcmp(x ? x : "", y ? y : ""); }

static int evidence_key_cmp(const void *pa, const void *pb) {
    const alert_evidence *x = *(alert_evidence *const *)pa;
    const alert_evidence *y = *(alert_evidence *const *)pb;
    int c = cmp_str0(x->source, y->source);
    if (!c) c = cmp_str0(x->kind, y->kind);
    if (!c) c = cmp_str0(x->ref, y->ref);
    return c;
}

void alert_fingerprint(alert *a) {
    uint64_t h = FNV_OFFSET;
    char buf[64];
    int n = snprintf(buf, sizeof buf, "amount=%lld;conf=%d;periods=", (long long)a->amount,
                     (int)a->conf);
    h = fnv1a_update(h, buf, (size_t)n);
    for (size_t i = 0; i < a->nperiods; i++) {
        n = snprintf(buf, sizeof buf, "%d,", a->periods[i]);
        h = fnv1a_update(h, buf, (size_t)n);
    }
    h = fnv1a_update(h, ";evidence=", 10);
    alert_evidence **order = a->nev ? malloc(a->nev * sizeof *order) : NULL;
    if (a->nev && !order) {
        /* Still deterministic for this insertion order; logged so it is seen. */
        gg_error(LOG_TAG, "alert %s: out of memory sorting evidence for the fingerprint", a->id);
    }
    for (size_t i = 0; i < a->nev; i++) {
        const alert_evidence *e = order ? NULL : &a->ev[i];
        if (order) order[i] = &a->ev[i];
        if (e) {
            h = fnv1a_str(h, e->source);
            h = fnv1a_update(h, "\x1f", 1);
            h = fnv1a_str(h, e->kind);
            h = fnv1a_update(h, "\x1f", 1);
            h = fnv1a_str(h, e->ref);
            h = fnv1a_update(h, "\x1e", 1);
        }
    }
    if (order) {
        qsort(order, a->nev, sizeof *order, evidence_key_cmp);
        for (size_t i = 0; i < a->nev; i++) {
            h = fnv1a_str(h, order[i]->source);
            h = fnv1a_update(h, "\x1f", 1);
            h = fnv1a_str(h, order[i]->kind);
            h = fnv1a_update(h, "\x1f", 1);
            h = fnv1a_str(h, order[i]->ref);
            h = fnv1a_update(h, "\x1e", 1);
        }
        free(order);
    }
    h = fnv1a_update(h, ";detail=", 8);
    char *canon = detail_canonical(a->detail_json);
    if (canon) {
        h = fnv1a_str(h, canon);
        free(canon);
    } else {
        gg_error(LOG_TAG, "alert %s: out of memory canonicalizing detail_json", a->id);
        h = fnv1a_str(h, a->detail_json);
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
static void fen_plain(int64_t fen, char *out, size_t outsz) {
    uint64_t mag = fen < 0 ? (uint64_t)0 - (uint64_t)fen : (uint64_t)fen;
    snprintf(out, outsz, "%s%llu.%02llu", fen < 0 ? "-" : "", (unsigned long long)(mag / 100),
             (unsigned long long)(mag % 100));
}

static void month_text(int yyyymm, char out[16]) {
    snprintf(out, 16, "%04d-%02d", yyyymm / 100, yyyymm % 100);
}

static int month_next(int yyyymm) {
    return yyyymm % 100 == 12 ? (yyyymm / 100 + 1) * 100 + 1 : yyyymm + 1;
}

static int month_parse(const char *s, int *out) {
    int y, m;
    char tail;
    if (!s || sscanf(s, "%4d-%2d%c", &y, &m, &tail) != 2) return -1;
    if (strlen(s) != 7) return -1;
    *out = y * 100 + m;
    return month_valid(*out) ? 0 : -1;
}

/* Periods as contiguous ranges: "2024-04 至 2024-09", "2024-04、2024-06 至 2024-07". */
static void periods_zh(sbuf *b, const int *periods, size_t n) {
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j + 1 < n && periods[j + 1] == month_next(periods[j])) j++;
        char m1[16], m2[16];
        month_text(periods[i], m1);
        if (i > 0) sb_puts(b, "、");
        if (j == i) {
            sb_puts(b, m1);
        } else {
            month_text(periods[j], m2);
            sb_printf(b, "%s 至 %s", m1, m2);
        }
        i = j + 1;
    }
}

/* ------------------------------------------------------------------------ */
/* JSON access helpers (tolerant of dates given as text or yyyymmdd ints)    */

static const char *jstr(const json_t *o, const char *k) {
    return json_string_value(json_object_get(o, k));
}

static int jint(const json_t *o, const char *k, long long *out) {
    const json_t *v = json_object_get(o, k);
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    if (json_is_string(v)) {
        char *end;
        const char *s = json_string_value(v);
        long long x = strtoll(s, &end, 10);
        if (*s && !*end) {
            *out = x;
            return 0;
        }
    }
    return -1;
}

/* Date or month field as text: "2024-03-12" / "2024-03" strings are used as
 * they are, integers 20240312 / 202403 are formatted. 0 when present. */
static int jdate(const json_t *o, const char *k, char *out, size_t outsz) {
    const json_t *v = json_object_get(o, k);
    if (json_is_string(v) && *json_string_value(v)) {
        snprintf(out, outsz, "%s", json_string_value(v));
        return 0;
    }
    if (json_is_integer(v)) {
        long long x = json_integer_value(v);
        if (x > 9999999) snprintf(out, outsz, "%04lld-%02lld-%02lld", x / 10000, x / 100 % 100, x % 100);
        else if (x > 99999) snprintf(out, outsz, "%04lld-%02lld", x / 100, x % 100);
        else return -1;
        return 0;
    }
    return -1;
}

static json_t *parse_obj(const char *text) {
    if (!text || !*text) return NULL;
    json_error_t err;
    return json_loads(text, JSON_DECODE_ANY, &err);
}

/* ------------------------------------------------------------------------ */
/* JSON export                                                               */

static int name_like_key(const char *k) {
    size_t n = strlen(k);
    if (strcmp(k, "name") == 0 || strcmp(k, "xm") == 0) return 1;
    if (n > 5 && strcmp(k + n - 5, "_name") == 0) return 1;
    if (n > 2 && strcmp(k + n - 2, "xm") == 0) return 1; /* pinyin 姓名 abbreviations: cyxm */
    if (strstr(k, "name") || strstr(k, "NAME") || strstr(k, "Name")) return 1;
    if (strstr(k, "姓名")) return 1;
    return 0;
}

static int id_like_key(const char *k) {
    return strcmp(k, "id_no") == 0 || strcmp(k, "member") == 0 || strcmp(k, "sfzhm") == 0 ||
           strcmp(k, "sfzh") == 0 || strstr(k, "身份证") != NULL;
}

typedef struct mask_ctx {
    const json_t *names; /* JSON array of plain names to hide wherever they appear as a value */
} mask_ctx;

static int is_known_name(const mask_ctx *mc, const char *v) {
    /* compare with surrounding ASCII spaces trimmed */
    while (*v == ' ') v++;
    size_t n = strlen(v);
    while (n && v[n - 1] == ' ') n--;
    size_t i;
    const json_t *nm;
    json_array_foreach(mc->names, i, nm) {
        const char *s = json_string_value(nm);
        if (s && *s && strlen(s) == n && memcmp(s, v, n) == 0) return 1;
    }
    return 0;
}

/* Masks one string value found under `key` (may be NULL). Returns a new
 * jansson string or NULL on failure. */
static json_t *mask_string_value(const mask_ctx *mc, const char *key, const char *v) {
    char buf[512];
    if (key && id_like_key(key) && *v) {
        mask_id(v, buf, sizeof buf);
        return json_string(buf);
    }
    if ((key && name_like_key(key) && *v) || is_known_name(mc, v)) {
        mask_name(v, buf, sizeof buf);
        return json_string(buf);
    }
    char *m = mask_id_runs(v);
    if (!m) return NULL;
    json_t *s = json_string(m);
    free(m);
    return s;
}

/* Masks ids and names in a JSON value in place (recursively). 0 ok, -1 OOM. */
static int mask_json_tree(const mask_ctx *mc, json_t *j) {
    if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v) {
            if (json_is_string(v)) {
                json_t *m = mask_string_value(mc, k, json_string_value(v));
                if (!m || json_object_set_new(j, k, m) != 0) return -1;
            } else if (mask_json_tree(mc, v) != 0) {
                return -1;
            }
        }
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) {
            if (json_is_string(v)) {
                json_t *m = mask_string_value(mc, NULL, json_string_value(v));
                if (!m || json_array_set_new(j, i, m) != 0) return -1;
            } else if (mask_json_tree(mc, v) != 0) {
                return -1;
            }
        }
    }
    return 0;
}

/* Collects (copies) the plain names an alert mentions (subject name, evidence
 * names, detail names) into the JSON array `names`, so raw values equal to one
 * of them can be hidden. 0 ok, -1 OOM. */
static int collect_names(const json_t *j, json_t *names) {
    if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v) {
            if (json_is_string(v) && name_like_key(k) && *json_string_value(v)) {
                if (json_array_append_new(names, json_string(json_string_value(v))) != 0) return -1;
            } else if (collect_names(v, names) != 0) {
                return -1;
            }
        }
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) if (collect_names(v, names) != 0) return -1;
    }
    return 0;
}

static json_t *jstring_or_null(const char *s) {
    if (!s) return json_null();
    json_t *j = json_string(s);
    if (!j) {
        gg_warn(LOG_TAG, "text is not valid UTF-8; exported as null");
        return json_null();
    }
    return j;
}

json_t *alert_to_json(const alert *a, int mask_ids) {
    json_t *o = json_object();
    json_t *detail = NULL, *evs = NULL, *periods = NULL, *names = NULL;
    int bad = 0;
    if (!o) goto oom;

    /* Parse detail and evidence first (the name list for masking needs them). */
    detail = parse_obj(a->detail_json);
    if (!detail) {
        if (a->detail_json && *a->detail_json)
            gg_warn(LOG_TAG, "alert %s: detail_json is not valid JSON; exported as {}", a->id);
        detail = json_object();
        if (!detail) goto oom;
    }
    evs = json_array();
    if (!evs) goto oom;
    for (size_t i = 0; i < a->nev; i++) {
        const alert_evidence *e = &a->ev[i];
        json_t *raw = parse_obj(e->raw_json);
        json_t *fields = parse_obj(e->norm_json);
        if (!raw) raw = json_null();
        if (!fields) fields = json_object();
        json_t *eo = json_object();
        if (!eo || !raw || !fields) {
            json_decref(eo);
            json_decref(raw);
            json_decref(fields);
            goto oom;
        }
        bad |= json_object_set_new(eo, "role", jstring_or_null(e->role));
        bad |= json_object_set_new(eo, "source", jstring_or_null(e->source));
        bad |= json_object_set_new(eo, "kind", jstring_or_null(e->kind));
        bad |= json_object_set_new(eo, "ref", jstring_or_null(e->ref));
        bad |= json_object_set_new(eo, "link", json_string(link_name(e->link)));
        bad |= json_object_set_new(eo, "raw", raw);
        bad |= json_object_set_new(eo, "fields", fields);
        bad |= json_array_append_new(evs, eo);
        if (bad) goto oom;
    }

    if (mask_ids) {
        names = json_array();
        if (!names) goto oom;
        if (a->name && *a->name && json_array_append_new(names, jstring_or_null(a->name)) != 0) goto oom;
        if (collect_names(detail, names) != 0) goto oom;
        size_t i;
        json_t *eo;
        json_array_foreach(evs, i, eo) if (collect_names(json_object_get(eo, "fields"), names) != 0) goto oom;
        mask_ctx mc = {names};
        if (mask_json_tree(&mc, detail) != 0) goto oom;
        json_array_foreach(evs, i, eo) {
            json_t *raw = json_object_get(eo, "raw");
            json_t *fields = json_object_get(eo, "fields");
            if (mask_json_tree(&mc, raw) != 0 || mask_json_tree(&mc, fields) != 0) goto oom;
            const char *ref = json_string_value(json_object_get(eo, "ref"));
            if (ref) {
                char *m = mask_id_runs(ref);
                if (!m || json_object_set_new(eo, "ref", json_string(m)) != 0) {
                    free(m);
                    goto oom;
                }
                free(m);
            }
        }
    }

    periods = json_array();
    if (!periods) goto oom;
    for (size_t i = 0; i < a->nperiods; i++) {
        char m[16];
        month_text(a->periods[i], m);
        if (json_array_append_new(periods, json_string(m)) != 0) goto oom;
    }

    char yuan[40], idbuf[64], namebuf[512];
    fen_plain(a->amount, yuan, sizeof yuan);
    json_t *subject, *id_no, *name, *case_key;
    if (mask_ids) {
        char *ms = mask_subject(a->subject);
        char *mc = mask_id_runs(a->case_key);
        if ((a->subject && !ms) || (a->case_key && !mc)) {
            free(ms);
            free(mc);
            goto oom;
        }
        subject = jstring_or_null(ms);
        case_key = jstring_or_null(mc);
        free(ms);
        free(mc);
        mask_id(a->id_no, idbuf, sizeof idbuf);
        id_no = a->id_no[0] ? json_string(idbuf) : json_null();
        mask_name(a->name, namebuf, sizeof namebuf);
        name = a->name ? json_string(namebuf) : json_null();
    } else {
        subject = jstring_or_null(a->subject);
        case_key = jstring_or_null(a->case_key);
        id_no = a->id_no[0] ? jstring_or_null(a->id_no) : json_null();
        name = jstring_or_null(a->name);
    }
    bad |= json_object_set_new(o, "id", json_string(a->id));
    bad |= json_object_set_new(o, "rule", json_string(rule_name(a->rule)));
    bad |= json_object_set_new(o, "rule_title", json_string(rule_title_zh(a->rule)));
    bad |= json_object_set_new(o, "subject", subject);
    bad |= json_object_set_new(o, "id_no", id_no);
    bad |= json_object_set_new(o, "case", case_key);
    bad |= json_object_set_new(o, "name", name);
    bad |= json_object_set_new(o, "region", jstring_or_null(a->region));
    bad |= json_object_set_new(o, "grid", jstring_or_null(a->grid));
    bad |= json_object_set_new(o, "amount", json_integer((json_int_t)a->amount));
    bad |= json_object_set_new(o, "amount_yuan", json_string(yuan));
    bad |= json_object_set_new(o, "confidence", json_string(confidence_name(a->conf)));
    bad |= json_object_set_new(o, "periods", periods);
    periods = NULL;
    bad |= json_object_set_new(o, "status", json_string(a->status));
    bad |= json_object_set_new(o, "version", json_integer(a->version));
    bad |= json_object_set_new(o, "fingerprint", json_string(a->fingerprint));
    bad |= json_object_set_new(o, "first_seen", json_integer(a->first_seen));
    bad |= json_object_set_new(o, "updated_at", json_integer(a->updated_at));
    bad |= json_object_set_new(o, "detail", detail);
    detail = NULL;
    bad |= json_object_set_new(o, "evidence", evs);
    evs = NULL;
    if (bad) goto oom;
    json_decref(names);
    return o;

oom:
    gg_error(LOG_TAG, "alert %s: out of memory building its JSON", a->id);
    json_decref(names);
    json_decref(detail);
    json_decref(evs);
    json_decref(periods);
    json_decref(o);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* JSON import                                                               */

/* Copies an optional string member: absent/null -> NULL. -1 on a wrong type or OOM. */
static int take_opt_str(const json_t *o, const char *k, char **out) {
    const json_t *v = json_object_get(o, k);
    *out = NULL;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v)) return -1;
    *out = strdup(json_string_value(v));
    return *out ? 0 : -1;
}

/* Compact text of an optional JSON member: absent/null -> NULL. */
static int take_opt_json(const json_t *o, const char *k, char **out) {
    const json_t *v = json_object_get(o, k);
    *out = NULL;
    if (!v || json_is_null(v)) return 0;
    *out = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    return *out ? 0 : -1;
}

int alert_from_json(const json_t *j, alert *a) {
    memset(a, 0, sizeof *a);
    if (!json_is_object(j)) {
        gg_warn(LOG_TAG, "alert_from_json: not a JSON object");
        return -1;
    }
    rule_id r;
    const char *rule = jstr(j, "rule"), *subject = jstr(j, "subject");
    if (rule_parse(rule, &r) != 0 || !subject) {
        gg_warn(LOG_TAG, "alert_from_json: missing or unknown rule/subject");
        return -1;
    }
    alert_init(a, r, subject);
    if (!a->subject) goto bad;
    const char *id = jstr(j, "id");
    if (id && strcmp(id, a->id) != 0) {
        gg_warn(LOG_TAG, "alert_from_json: id %s does not match rule and subject (masked input?)", id);
        goto bad;
    }
    const json_t *idno = json_object_get(j, "id_no");
    if (json_is_string(idno)) {
        if (strlen(json_string_value(idno)) > IDENT_LEN) {
            gg_warn(LOG_TAG, "alert_from_json %s: id_no longer than %d characters", a->id, IDENT_LEN);
            goto bad;
        }
        snprintf(a->id_no, sizeof a->id_no, "%s", json_string_value(idno));
    } else if (idno && !json_is_null(idno)) {
        goto bad_type;
    }
    if (take_opt_str(j, "case", &a->case_key) || take_opt_str(j, "name", &a->name) ||
        take_opt_str(j, "region", &a->region) || take_opt_str(j, "grid", &a->grid))
        goto bad_type;
    const json_t *amount = json_object_get(j, "amount");
    if (!json_is_integer(amount)) {
        gg_warn(LOG_TAG, "alert_from_json %s: amount must be integer fen", a->id);
        goto bad;
    }
    a->amount = json_integer_value(amount);
    if (confidence_parse(jstr(j, "confidence"), &a->conf) != 0) {
        gg_warn(LOG_TAG, "alert_from_json %s: unknown confidence", a->id);
        goto bad;
    }
    const json_t *periods = json_object_get(j, "periods");
    if (periods && !json_is_array(periods)) goto bad_type;
    size_t i;
    const json_t *v;
    json_array_foreach(periods, i, v) {
        int ym;
        if (month_parse(json_string_value(v), &ym) != 0) {
            gg_warn(LOG_TAG, "alert_from_json %s: period %zu is not YYYY-MM", a->id, i);
            goto bad;
        }
        if (alert_add_period(a, ym) != 0) goto bad;
    }
    const char *status = jstr(j, "status");
    if (status) snprintf(a->status, sizeof a->status, "%s", status);
    long long x;
    if (jint(j, "version", &x) == 0) a->version = (int)x;
    if (jint(j, "first_seen", &x) == 0) a->first_seen = x;
    if (jint(j, "updated_at", &x) == 0) a->updated_at = x;
    if (take_opt_json(j, "detail", &a->detail_json)) goto bad_type;

    const json_t *evs = json_object_get(j, "evidence");
    if (evs && !json_is_array(evs)) goto bad_type;
    if (json_array_size(evs)) {
        a->ev = calloc(json_array_size(evs), sizeof *a->ev);
        if (!a->ev) goto bad;
    }
    json_array_foreach(evs, i, v) {
        alert_evidence *e = &a->ev[a->nev++];
        if (!json_is_object(v)) goto bad_type;
        if (take_opt_str(v, "role", &e->role) || take_opt_str(v, "source", &e->source) ||
            take_opt_str(v, "kind", &e->kind) || take_opt_str(v, "ref", &e->ref) ||
            take_opt_json(v, "raw", &e->raw_json) || take_opt_json(v, "fields", &e->norm_json))
            goto bad_type;
        if (link_parse(jstr(v, "link"), &e->link) != 0) {
            gg_warn(LOG_TAG, "alert_from_json %s: evidence %zu has an unknown link", a->id, i);
            goto bad;
        }
    }
    const char *fp = jstr(j, "fingerprint");
    if (fp && strlen(fp) == 16) snprintf(a->fingerprint, sizeof a->fingerprint, "%s", fp);
    else alert_fingerprint(a);
    return 0;

bad_type:
    gg_warn(LOG_TAG, "alert_from_json %s: a member has the wrong type (or out of memory)", a->id);
bad:
    alert_free(a);
    return -1;
}

/* ------------------------------------------------------------------------ */
/* zh-CN explanations                                                        */

static const char *basis_zh(const char *basis) {
    if (!basis) return "死亡登记";
    if (strcmp(basis, "household_deregistration") == 0) return "户籍注销";
    if (strcmp(basis, "cremation") == 0) return "火化记录";
    if (strcmp(basis, "death_certificate") == 0) return "死亡医学证明";
    if (strcmp(basis, "grid_report") == 0) return "网格员上报";
    return basis;
}

static const char *program_zh(const char *p) {
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

static const char *asset_kind_zh(const char *k) {
    if (!k) return "财产";
    if (strcmp(k, "vehicle") == 0) return "车辆";
    if (strcmp(k, "real_estate") == 0) return "房产";
    if (strcmp(k, "business") == 0) return "经营主体";
    return k;
}

static const char *subkind_zh(const char *k) {
    if (!k) return NULL;
    if (strcmp(k, "car") == 0) return "小型汽车";
    if (strcmp(k, "truck") == 0) return "货车";
    if (strcmp(k, "motorcycle") == 0) return "摩托车";
    if (strcmp(k, "disability_vehicle") == 0) return "残疾人专用车";
    if (strcmp(k, "legal_representative") == 0) return "法定代表人";
    if (strcmp(k, "shareholder") == 0) return "股东";
    return k;
}

static const char *custody_kind_zh(const char *k) {
    if (k && strcmp(k, "detention") == 0) return "拘留";
    return "服刑";
}

static const char *source_label(source_label_fn label, void *ud, const char *source) {
    const char *l = (label && source) ? label(ud, source) : NULL;
    if (l && *l) return l;
    return source ? source : "未知来源";
}

/* Parsed evidence fields, one per evidence item (NULL when unparseable). */
typedef struct explain_ctx {
    const alert *a;
    json_t *detail; /* never NULL */
    json_t **fields;
    source_label_fn label;
    void *ud;
} explain_ctx;

/* Index of the death evidence that matches the detail's death date and basis
 * (the first death evidence otherwise), or -1. */
static long find_death_evidence(const explain_ctx *x, const char *member) {
    char want[32] = "", got[32];
    const char *basis = jstr(x->detail, "basis");
    jdate(x->detail, "death_date", want, sizeof want);
    long first = -1;
    for (size_t i = 0; i < x->a->nev; i++) {
        const alert_evidence *e = &x->a->ev[i];
        if (!e->kind || strcmp(e->kind, "death") != 0) continue;
        const char *id = jstr(x->fields[i], "id_no");
        if (member && id && strcmp(id, member) != 0) continue;
        if (first < 0) first = (long)i;
        if (jdate(x->fields[i], "death_date", got, sizeof got) == 0 && strcmp(got, want) == 0 &&
            (!basis || cmp_str0(jstr(x->fields[i], "basis"), basis) == 0))
            return (long)i;
    }
    return first;
}

/* Name of the person with id `id18` among the evidence fields (borrowed), or NULL. */
static const char *find_name_for(const explain_ctx *x, const char *id18) {
    if (!id18 || !*id18) return NULL;
    for (size_t i = 0; i < x->a->nev; i++) {
        const char *id = jstr(x->fields[i], "id_no");
        const char *nm = jstr(x->fields[i], "name");
        if (id && nm && *nm && strcmp(id, id18) == 0) return nm;
    }
    if (x->a->id_no[0] && strcmp(x->a->id_no, id18) == 0) return x->a->name;
    return NULL;
}

/* "张*（4205**********123X）" or either part alone. */
static void person_zh(sbuf *b, const char *name, const char *id18) {
    char nm[512], id[64];
    mask_name(name, nm, sizeof nm);
    mask_id(id18, id, sizeof id);
    if (nm[0] && id[0]) sb_printf(b, "%s（%s）", nm, id);
    else if (nm[0]) sb_puts(b, nm);
    else if (id[0]) sb_puts(b, id);
    else sb_puts(b, "（身份不详）");
}

static void money_zh(sbuf *b, int64_t fen) {
    char m[40];
    fen_format(fen, m, sizeof m);
    sb_printf(b, "%s 元", m);
}

static const char *case_of(const explain_ctx *x) {
    if (x->a->case_key) return x->a->case_key;
    const char *c = jstr(x->detail, "case");
    return c ? c : "（未知）";
}

static void finding_pension_after_death(sbuf *b, const explain_ctx *x) {
    char date[32] = "日期不详";
    jdate(x->detail, "death_date", date, sizeof date);
    const char *basis = jstr(x->detail, "basis");
    long di = find_death_evidence(x, NULL);
    const char *src = di >= 0 ? x->a->ev[di].source : NULL;
    if (!basis && di >= 0) basis = jstr(x->fields[di], "basis");
    sb_printf(b, "%s%s %s；", src ? source_label(x->label, x->ud, src) : "",
              basis_zh(basis), date);
    long long grace;
    if (jint(x->detail, "grace_months", &grace) == 0 && grace > 0)
        sb_printf(b, "宽限 %lld 个月后，", grace);
    periods_zh(b, x->a->periods, x->a->nperiods);
    sb_printf(b, " 共发放 %zu 个月，合计 ", x->a->nperiods);
    money_zh(b, x->a->amount);
}

static void finding_hidden_income(sbuf *b, const explain_ctx *x) {
    const json_t *months = json_object_get(x->detail, "months");
    long long standard = 0;
    jint(x->detail, "standard", &standard);
    char std[40];
    fen_format(standard, std, sizeof std);
    sb_printf(b, "案件 %s：%zu 个月家庭人均收入超过当地低保标准（每人每月 %s 元）：", case_of(x),
              json_array_size(months), std);
    size_t i;
    const json_t *m;
    json_array_foreach(months, i, m) {
        if (i == EXPLAIN_MAX_MONTHS) {
            sb_printf(b, " 等（另有 %zu 个月）", json_array_size(months) - i);
            break;
        }
        char per[32] = "?";
        long long income = 0, members = 0;
        jdate(m, "period", per, sizeof per);
        jint(m, "income", &income);
        jint(m, "members", &members);
        char inc[40];
        fen_format(income, inc, sizeof inc);
        sb_printf(b, "%s%s 家庭收入 %s 元 / %lld 人", i ? "，" : "", per, inc, members);
    }
    sb_puts(b, "；涉及救助金 ");
    if (x->a->nperiods) {
        periods_zh(b, x->a->periods, x->a->nperiods);
        sb_puts(b, " ");
    }
    sb_puts(b, "合计 ");
    money_zh(b, x->a->amount);
}

static void finding_hidden_assets(sbuf *b, const explain_ctx *x) {
    const json_t *assets = json_object_get(x->detail, "assets");
    sb_printf(b, "案件 %s：", case_of(x));
    size_t i, nre = 0, shown = 0;
    const json_t *as;
    json_array_foreach(assets, i, as) {
        const char *kind = jstr(as, "kind");
        if (kind && strcmp(kind, "real_estate") == 0) {
            nre++;
            continue;
        }
        char from[32] = "", to[32] = "";
        jdate(as, "from", from, sizeof from);
        jdate(as, "to", to, sizeof to);
        const char *member = jstr(as, "member");
        sb_puts(b, shown++ ? "；成员 " : "成员 ");
        person_zh(b, find_name_for(x, member), member);
        sb_printf(b, " 名下%s", asset_kind_zh(kind));
        const char *sub = subkind_zh(jstr(as, "subkind"));
        if (sub && *sub) sb_printf(b, " %s", sub);
        const char *desc = jstr(as, "description");
        if (desc && *desc) sb_printf(b, "（%s）", desc);
        if (from[0]) sb_printf(b, "，自 %s 起", from);
        if (to[0]) sb_printf(b, "至 %s", to);
    }
    if (nre) {
        sb_printf(b, "%s多套房产 %zu 处：", shown ? "；" : "", nre);
        size_t k = 0;
        json_array_foreach(assets, i, as) {
            const char *kind = jstr(as, "kind");
            if (!kind || strcmp(kind, "real_estate") != 0) continue;
            char from[32] = "";
            jdate(as, "from", from, sizeof from);
            const char *member = jstr(as, "member");
            sb_puts(b, k++ ? "、" : "");
            person_zh(b, find_name_for(x, member), member);
            const char *desc = jstr(as, "description");
            if (desc && *desc) sb_printf(b, " %s", desc);
            if (from[0]) sb_printf(b, " 自 %s 起", from);
        }
    }
    sb_printf(b, "；持有期间仍领取救助 %zu 个月（", x->a->nperiods);
    periods_zh(b, x->a->periods, x->a->nperiods);
    sb_puts(b, "），合计 ");
    money_zh(b, x->a->amount);
}

static void finding_deceased_member(sbuf *b, const explain_ctx *x) {
    const char *member = jstr(x->detail, "member");
    if (!member && x->a->id_no[0]) member = x->a->id_no;
    char date[32] = "日期不详";
    jdate(x->detail, "death_date", date, sizeof date);
    const char *basis = jstr(x->detail, "basis");
    long di = find_death_evidence(x, member);
    const char *src = di >= 0 ? x->a->ev[di].source : NULL;
    if (!basis && di >= 0) basis = jstr(x->fields[di], "basis");
    sb_puts(b, "成员 ");
    person_zh(b, find_name_for(x, member), member);
    sb_printf(b, " 已于 %s 死亡（%s%s），案件 %s 仍在保", date,
              src ? source_label(x->label, x->ud, src) : "", basis_zh(basis), case_of(x));
    char to[32];
    if (jdate(x->detail, "member_to", to, sizeof to) == 0) sb_printf(b, "（登记在保至 %s）", to);
    sb_printf(b, "，之后发放 %zu 个月救助金（", x->a->nperiods);
    periods_zh(b, x->a->periods, x->a->nperiods);
    sb_puts(b, "），合计 ");
    money_zh(b, x->a->amount);
}

/* "2024-01-15 至 2024-12-31", or "2024-01-15 至今" when the end is open. */
static void span_zh(sbuf *b, const json_t *o, const char *kfrom, const char *kto) {
    char from[32] = "日期不详", to[32];
    jdate(o, kfrom, from, sizeof from);
    if (jdate(o, kto, to, sizeof to) == 0) sb_printf(b, "%s 至 %s", from, to);
    else sb_printf(b, "%s 至今", from);
}

static void finding_pension_in_custody(sbuf *b, const explain_ctx *x) {
    sb_printf(b, "%s期间 ", custody_kind_zh(jstr(x->detail, "custody_kind")));
    span_zh(b, x->detail, "custody_from", "custody_to");
    sb_printf(b, " 领取养老金 %zu 个月（", x->a->nperiods);
    periods_zh(b, x->a->periods, x->a->nperiods);
    sb_puts(b, "），合计 ");
    money_zh(b, x->a->amount);
}

static void finding_duplicate(sbuf *b, const explain_ctx *x) {
    const char *earlier = jstr(x->detail, "earlier_case"), *later = jstr(x->detail, "later_case");
    sb_printf(b, "同时在案件 %s 与 %s 中享受救助，重叠 ", earlier ? earlier : "?", later ? later : "?");
    span_zh(b, x->detail, "overlap_from", "overlap_to");
    sb_puts(b, "，后一案件重叠期间发放");
    if (x->a->nperiods) {
        sb_puts(b, "（");
        periods_zh(b, x->a->periods, x->a->nperiods);
        sb_puts(b, "）");
    }
    sb_puts(b, "合计 ");
    money_zh(b, x->a->amount);
}

/* 1 when the detail's names list holds two or more distinct names (rules.c
 * lists every source's name, also for a birth-date-only conflict). */
static int names_differ(const json_t *names) {
    const char *first = NULL;
    size_t i;
    const json_t *v;
    json_array_foreach(names, i, v) {
        const char *n = jstr(v, "name");
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

static void finding_identity_conflict(sbuf *b, const explain_ctx *x) {
    const json_t *names = json_object_get(x->detail, "names");
    const json_t *births = json_object_get(x->detail, "birth_dates");
    int any = 0;
    size_t i;
    const json_t *v;
    if (names_differ(names)) {
        sb_puts(b, "同一身份证号在不同系统中姓名不一致：");
        json_array_foreach(names, i, v) {
            char nm[512];
            const char *mine = jstr(v, "name"), *other = NULL;
            size_t k;
            const json_t *w;
            json_array_foreach(names, k, w) {
                const char *n2 = jstr(w, "name");
                if (!other && n2 && mine && strcmp(n2, mine) != 0) other = n2;
            }
            if (mine && other)
                mask_name_against(mine, other, nm, sizeof nm);
            else
                mask_name(mine, nm, sizeof nm);
            sb_printf(b, "%s%s「%s」", i ? "、" : "", source_label(x->label, x->ud, jstr(v, "source")), nm);
        }
        any = 1;
    }
    json_array_foreach(births, i, v) {
        char stated[32] = "?", embedded[32] = "?";
        jdate(v, "stated", stated, sizeof stated);
        jdate(v, "embedded", embedded, sizeof embedded);
        sb_printf(b, "%s出生日期与身份证号不符：%s 登记 %s，身份证号为 %s", any ? "；" : "",
                  source_label(x->label, x->ud, jstr(v, "source")), stated, embedded);
        any = 1;
    }
    if (!any) sb_puts(b, "各系统登记的身份信息不一致");
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
        sb_printf(b, "死亡日期 %s，依据 %s", jdate(f, "death_date", d1, sizeof d1) ? "不详" : d1,
                  basis_zh(jstr(f, "basis")));
        if (json_is_true(json_object_get(f, "revoked"))) sb_puts(b, "（已撤销）");
    } else if (strcmp(kind, "payment") == 0) {
        const char *prog = jstr(f, "program");
        if (prog) sb_printf(b, "%s ", program_zh(prog));
        sb_printf(b, "发放月份 %s", jdate(f, "period", d1, sizeof d1) ? "不详" : d1);
        if (jint(f, "amount", &amt) == 0) {
            sb_puts(b, " 金额 ");
            money_zh(b, amt);
        }
        const char *c = jstr(f, "case");
        if (c && *c) sb_printf(b, "，案件 %s", c);
    } else if (strcmp(kind, "income") == 0) {
        sb_printf(b, "收入月份 %s", jdate(f, "period", d1, sizeof d1) ? "不详" : d1);
        if (jint(f, "amount", &amt) == 0) {
            sb_puts(b, " 金额 ");
            money_zh(b, amt);
        }
        const char *k = income_kind_zh(jstr(f, "kind"));
        if (k) sb_printf(b, "（%s）", k);
        const char *payer = jstr(f, "payer");
        if (payer && *payer) sb_printf(b, "，支付方 %s", payer);
    } else if (strcmp(kind, "assistance_member") == 0) {
        const char *c = jstr(f, "case"), *prog = jstr(f, "program");
        sb_printf(b, "案件 %s%s%s，成员 ", c ? c : "?", prog ? " " : "", prog ? program_zh(prog) : "");
        person_zh(b, jstr(f, "name"), jstr(f, "id_no"));
        sb_puts(b, "，在保 ");
        span_zh(b, f, "from", "to");
    } else if (strcmp(kind, "asset") == 0) {
        sb_puts(b, asset_kind_zh(jstr(f, "kind")));
        const char *sub = subkind_zh(jstr(f, "subkind"));
        if (sub && *sub) sb_printf(b, " %s", sub);
        const char *desc = jstr(f, "description");
        if (desc && *desc) sb_printf(b, "（%s）", desc);
        sb_puts(b, "，持有 ");
        span_zh(b, f, "from", "to");
    } else if (strcmp(kind, "custody") == 0) {
        sb_printf(b, "%s ", custody_kind_zh(jstr(f, "kind")));
        span_zh(b, f, "from", "to");
    } else if (strcmp(kind, "person") == 0) {
        sb_puts(b, "姓名 ");
        char nm[512];
        mask_name(jstr(f, "name"), nm, sizeof nm);
        sb_puts(b, nm[0] ? nm : "不详");
        if (jdate(f, "birth_date", d1, sizeof d1) == 0) sb_printf(b, "，出生日期 %s", d1);
        const char *region = jstr(f, "region"), *grid = jstr(f, "grid");
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
    x.detail = parse_obj(a->detail_json);
    if (!json_is_object(x.detail)) {
        json_decref(x.detail);
        x.detail = json_object();
        if (!x.detail) goto oom;
    }
    if (a->nev) {
        x.fields = calloc(a->nev, sizeof *x.fields);
        if (!x.fields) goto oom;
        for (size_t i = 0; i < a->nev; i++) x.fields[i] = parse_obj(a->ev[i].norm_json);
    }

    /* 1. The finding. */
    sb_printf(&b, "[%s] %s：", confidence_zh(a->conf), rule_title_zh(a->rule));
    switch (a->rule) {
    case RULE_PENSION_AFTER_DEATH: finding_pension_after_death(&b, &x); break;
    case RULE_ASSISTANCE_HIDDEN_INCOME: finding_hidden_income(&b, &x); break;
    case RULE_ASSISTANCE_HIDDEN_ASSETS: finding_hidden_assets(&b, &x); break;
    case RULE_ASSISTANCE_DECEASED_MEMBER: finding_deceased_member(&b, &x); break;
    case RULE_PENSION_IN_CUSTODY: finding_pension_in_custody(&b, &x); break;
    case RULE_DUPLICATE_ASSISTANCE: finding_duplicate(&b, &x); break;
    case RULE_IDENTITY_CONFLICT: finding_identity_conflict(&b, &x); break;
    default: sb_puts(&b, "未知规则"); break;
    }
    sb_puts(&b, "\n");

    /* 2. Who. */
    sb_puts(&b, "对象：");
    if (a->id_no[0] || (a->name && *a->name)) person_zh(&b, a->name, a->id_no);
    else sb_printf(&b, "案件 %s", case_of(&x));
    if (a->case_key && (a->id_no[0] || (a->name && *a->name))) sb_printf(&b, "，案件 %s", a->case_key);
    if (a->region && *a->region) sb_printf(&b, "，地区 %s", a->region);
    if (a->grid && *a->grid) sb_printf(&b, "，网格 %s", a->grid);
    sb_puts(&b, "\n");

    /* 3. Evidence. */
    sb_puts(&b, "证据：\n");
    for (size_t i = 0; i < a->nev && i < EXPLAIN_MAX_EVIDENCE; i++) {
        const alert_evidence *e = &a->ev[i];
        sb_printf(&b, "  - %s（%s，记录号 %s，%s）：", source_label(label, ud, e->source), kind_zh(e->kind),
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
    masked = mask_id_runs(text);
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
    if (a->rule == RULE_IDENTITY_CONFLICT) {
        json_t *d = parse_obj(a->detail_json);
        int names = names_differ(json_object_get(d, "names"));
        int births = json_array_size(json_object_get(d, "birth_dates")) > 0;
        json_decref(d);
        if (a->id_no[0]) {
            char id[64];
            mask_id(a->id_no, id, sizeof id);
            sb_printf(&b, " %s", id);
        }
        sb_printf(&b, "：%s%s%s", names ? "姓名不一致" : "", names && births ? "、" : "",
                  births ? "出生日期不符" : (names ? "" : "身份信息不一致"));
    } else {
        if (a->nperiods) {
            sb_puts(&b, " ");
            periods_zh(&b, a->periods, a->nperiods);
        }
        sb_puts(&b, "，合计 ");
        money_zh(&b, a->amount);
    }
    sb_printf(&b, "（%s）", confidence_zh(a->conf));
    char *text = sb_take(&b);
    if (!text) {
        gg_error(LOG_TAG, "alert %s: out of memory writing its summary", a->id);
        return NULL;
    }
    char *masked = mask_id_runs(text);
    free(text);
    if (!masked) gg_error(LOG_TAG, "alert %s: out of memory masking its summary", a->id);
    return masked;
}
