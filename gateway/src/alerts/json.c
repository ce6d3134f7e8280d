/* json.c - alerts as JSON: alert_to_json for export (with mask_ids, ids and
 * names masked in every value, raw values included) and alert_from_json, its
 * inverse for unmasked input; plus the tolerant JSON accessors the zh-CN
 * explanations share. Returned JSON values belong to the caller. */
#include "alerts/alert_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

/* ------------------------------------------------------------------------ */
/* JSON access helpers (tolerant of dates given as text or yyyymmdd ints)    */

const char *alert_jstr(const json_t *o, const char *k) {
    return json_string_value(json_object_get(o, k));
}

int alert_jint(const json_t *o, const char *k, long long *out) {
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
int alert_jdate(const json_t *o, const char *k, char *out, size_t outsz) {
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

json_t *alert_parse_obj(const char *text) {
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
        ident_mask(v, buf, sizeof buf);
        return json_string(buf);
    }
    if ((key && name_like_key(key) && *v) || is_known_name(mc, v)) {
        name_mask(v, buf, sizeof buf);
        return json_string(buf);
    }
    char *m = mask_text(v, 0);
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
    detail = alert_parse_obj(a->detail_json);
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
        json_t *raw = alert_parse_obj(e->raw_json);
        json_t *fields = alert_parse_obj(e->norm_json);
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
        bad |= json_object_set_new(eo, "link", json_string(alert_link_name(e->link)));
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
                char *m = mask_text(ref, 0);
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
        month_text(a->periods[i], m, sizeof m);
        if (json_array_append_new(periods, json_string(m)) != 0) goto oom;
    }

    char yuan[40], idbuf[64], namebuf[512];
    alert_fen_plain(a->amount, yuan, sizeof yuan);
    json_t *subject, *id_no, *name, *case_key;
    if (mask_ids) {
        char *ms = mask_subject(a->subject);
        char *mc = mask_text(a->case_key, 0);
        if ((a->subject && !ms) || (a->case_key && !mc)) {
            free(ms);
            free(mc);
            goto oom;
        }
        subject = jstring_or_null(ms);
        case_key = jstring_or_null(mc);
        free(ms);
        free(mc);
        ident_mask(a->id_no, idbuf, sizeof idbuf);
        id_no = a->id_no[0] ? json_string(idbuf) : json_null();
        name_mask(a->name, namebuf, sizeof namebuf);
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
    const char *rule = alert_jstr(j, "rule"), *subject = alert_jstr(j, "subject");
    if (rule_parse(rule, &r) != 0 || !subject) {
        gg_warn(LOG_TAG, "alert_from_json: missing or unknown rule/subject");
        return -1;
    }
    alert_init(a, r, subject);
    if (!a->subject) goto bad;
    const char *id = alert_jstr(j, "id");
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
    if (alert_confidence_parse(alert_jstr(j, "confidence"), &a->conf) != 0) {
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
    const char *status = alert_jstr(j, "status");
    if (status) snprintf(a->status, sizeof a->status, "%s", status);
    long long x;
    if (alert_jint(j, "version", &x) == 0) a->version = (int)x;
    if (alert_jint(j, "first_seen", &x) == 0) a->first_seen = x;
    if (alert_jint(j, "updated_at", &x) == 0) a->updated_at = x;
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
        if (alert_link_parse(alert_jstr(v, "link"), &e->link) != 0) {
            gg_warn(LOG_TAG, "alert_from_json %s: evidence %zu has an unknown link", a->id, i);
            goto bad;
        }
    }
    const char *fp = alert_jstr(j, "fingerprint");
    if (fp && strlen(fp) == 16) snprintf(a->fingerprint, sizeof a->fingerprint, "%s", fp);
    else alert_fingerprint(a);
    return 0;

bad_type:
    gg_warn(LOG_TAG, "alert_from_json %s: a member has the wrong type (or out of memory)", a->id);
bad:
    alert_free(a);
    return -1;
}
