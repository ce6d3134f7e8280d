/* alerts.c - stored alerts and their lifecycle: upsert by stable id (version
 * and reopen when the fingerprint changes), loading with full evidence,
 * iteration, status changes (verdicts), withdrawal and overdue escalation.
 * Periods and evidence are kept as JSON text columns. */
#include "store/state_internal.h"

#include "core/jsontext.h"
#include "core/sbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Columns of an alert row, in the order alert_from_row() reads them. */
#define ALERT_COLUMNS                                                                     \
    "id, rule, subject, id_no, case_key, name, region, grid, amount, confidence,"         \
    " periods_json, detail_json, evidence_json, status, version, fingerprint, first_seen," \
    " updated_at"
/* The same without the evidence (an empty list in its place), and then the
 * stored explanation (state_alert_get_to_push). */
#define ALERT_COLUMNS_TO_PUSH                                                             \
    "id, rule, subject, id_no, case_key, name, region, grid, amount, confidence,"         \
    " periods_json, detail_json, '[]', status, version, fingerprint, first_seen,"         \
    " updated_at, explanation"

/* ---- alerts ---------------------------------------------------------------- */

static const char *alert_link_name(link_conf l) {
    switch (l) {
    case LINK_HIGH: return "high";
    case LINK_LOW: return "low";
    default: return "none";
    }
}

static link_conf alert_link_parse(const char *s) {
    if (s && strcmp(s, "high") == 0) return LINK_HIGH;
    if (s && strcmp(s, "low") == 0) return LINK_LOW;
    return LINK_NONE;
}

static int alert_confidence_parse(const char *s, confidence *out) {
    for (int c = CONF_LOW; c <= CONF_HIGH; c++)
        if (s && strcmp(s, confidence_name((confidence)c)) == 0) {
            *out = (confidence)c;
            return 0;
        }
    return -1;
}

/* periods_json text (malloc'd) for a's periods: ["2024-04", ...]. */
static char *periods_to_json(const alert *a) {
    json_t *arr = json_array();
    if (!arr) return NULL;
    for (size_t i = 0; i < a->nperiods; i++) {
        char buf[16];
        month_text(a->periods[i], buf, sizeof buf);
        if (json_array_append_new(arr, json_string(buf)) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    char *s = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return s;
}

/* Appends a stored JSON text (a record's raw values, its fields) to the
 * evidence: as is when jansson would write it back byte for byte (every row
 * a worker wrote, every fact's fields), else parsed and written by jansson
 * (a JSON item of a REST page with nested values; NULL: null, or `dflt`).
 * -1 when it does not parse. */
static int evidence_put_json(sbuf *b, const char *text, const char *dflt) {
    if (!text) {
        sb_puts(b, dflt);
        return 0;
    }
    if (jt_flat_object_canonical(text)) {
        sb_puts(b, text);
        return 0;
    }
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    if (!v) return -1;
    char *dumped = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(v);
    if (!dumped) {
        b->oom = 1;
        return 0;
    }
    sb_puts(b, dumped);
    free(dumped);
    return 0;
}

/* ,"key":"value" when value is set (json_pack's "s?" leaves a NULL out); -1
 * when it is not valid UTF-8. */
static int evidence_put_member(sbuf *b, int *first, const char *key, const char *value) {
    if (!value) return 0;
    sb_puts(b, *first ? "\"" : ",\"");
    sb_puts(b, key);
    sb_puts(b, "\":");
    *first = 0;
    return jt_sb_string(b, value);
}

/* evidence_json text (malloc'd) for a's evidence, or NULL with a reason in
 * err: [{"role":..,"source":..,"kind":..,"ref":..,"raw":{..},"fields":{..},
 * "link":".."},...], as json_pack and json_dumps(JSON_COMPACT) wrote it, but
 * without parsing each record's stored raw values and fields only to write
 * them again (core/jsontext.h). Raw values that do not parse (a store written
 * by a worker that sent broken text) become null, with a warning naming the
 * record: the alert is stored, the other evidence complete. */
static char *evidence_to_json(const alert *a, char *err, size_t errsz) {
    sbuf b = {0};
    sb_putn(&b, "[", 1);
    for (size_t i = 0; i < a->nev; i++) {
        const alert_evidence *e = &a->ev[i];
        int first = 1;
        sb_puts(&b, i ? ",{" : "{");
        if (evidence_put_member(&b, &first, "role", e->role) || evidence_put_member(&b, &first, "source", e->source) ||
            evidence_put_member(&b, &first, "kind", e->kind) || evidence_put_member(&b, &first, "ref", e->ref)) {
            gg_set_err(err, errsz, "evidence %zu: cannot build JSON (text that is not UTF-8)", i);
            free(sb_take(&b));
            return NULL;
        }
        sb_puts(&b, first ? "\"raw\":" : ",\"raw\":");
        if (evidence_put_json(&b, e->raw_json, "null")) {
            gg_warn("state", "alert %s: evidence %zu (%s %s from %s): its stored raw values do not parse; shown as null",
                    a->id, i, e->kind ? e->kind : "?", e->ref ? e->ref : "?", e->source ? e->source : "?");
            sb_puts(&b, "null");
        }
        sb_puts(&b, ",\"fields\":");
        if (evidence_put_json(&b, e->norm_json, "{}")) {
            gg_set_err(err, errsz, "evidence %zu (%s from %s): norm_json does not parse", i, e->kind ? e->kind : "?",
                       e->source ? e->source : "?");
            free(sb_take(&b));
            return NULL;
        }
        sb_puts(&b, ",\"link\":\"");
        sb_puts(&b, alert_link_name(e->link));
        sb_puts(&b, "\"}");
    }
    sb_putn(&b, "]", 1);
    char *s = sb_take(&b);
    if (!s) gg_set_err(err, errsz, "out of memory");
    return s;
}

/* Compact JSON text of v (malloc'd), or NULL for JSON null / absent. *oom set on failure. */
static char *json_text_or_null(const json_t *v, int *oom) {
    if (!v || json_is_null(v)) return NULL;
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s) *oom = 1;
    return s;
}

/* Fills a->ev from an evidence_json array text. 0 ok, -1 with reason in err. */
static int evidence_from_json(alert *a, const char *text, char *err, size_t errsz) {
    json_error_t jerr;
    json_t *arr = json_loads(text, 0, &jerr);
    if (!arr || !json_is_array(arr)) {
        gg_set_err(err, errsz, "evidence_json is not an array (%s)", arr ? "wrong type" : jerr.text);
        json_decref(arr);
        return -1;
    }
    size_t n = json_array_size(arr);
    if (n > 0) {
        /* malloc'd like alert_add_evidence's array: alert_free() releases it. */
        a->ev = calloc(n, sizeof *a->ev);
        if (!a->ev) {
            gg_set_err(err, errsz, "out of memory");
            json_decref(arr);
            return -1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(arr, i);
        alert_evidence *e = &a->ev[i];
        a->nev = i + 1; /* so alert_free() frees what was filled so far */
        if (!json_is_object(o)) {
            gg_set_err(err, errsz, "evidence %zu is not an object", i);
            json_decref(arr);
            return -1;
        }
        int oom = 0;
        e->role = xstrdup(json_string_value(json_object_get(o, "role")));
        e->source = xstrdup(json_string_value(json_object_get(o, "source")));
        e->kind = xstrdup(json_string_value(json_object_get(o, "kind")));
        e->ref = xstrdup(json_string_value(json_object_get(o, "ref")));
        e->raw_json = json_text_or_null(json_object_get(o, "raw"), &oom);
        e->norm_json = json_text_or_null(json_object_get(o, "fields"), &oom);
        e->link = alert_link_parse(json_string_value(json_object_get(o, "link")));
        if (oom) {
            gg_set_err(err, errsz, "out of memory");
            json_decref(arr);
            return -1;
        }
    }
    json_decref(arr);
    return 0;
}

/* Fills a->periods from a periods_json array text. */
static int periods_from_json(alert *a, const char *text, char *err, size_t errsz) {
    json_t *arr = json_loads(text, 0, NULL);
    if (!arr || !json_is_array(arr)) {
        gg_set_err(err, errsz, "periods_json is not an array");
        json_decref(arr);
        return -1;
    }
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        int ym;
        const char *p = json_string_value(v);
        if (!p || conv_month(p, &ym) != 0) {
            gg_set_err(err, errsz, "period %zu is not a month", i);
            json_decref(arr);
            return -1;
        }
        if (alert_add_period(a, ym) != 0) {
            gg_set_err(err, errsz, "out of memory");
            json_decref(arr);
            return -1;
        }
    }
    json_decref(arr);
    return 0;
}

/* Rebuilds an alert from a row selected with ALERT_COLUMNS. On failure `a` is
 * freed and err says why. */
static int alert_from_row(sqlite3_stmt *s, alert *a, char *err, size_t errsz) {
    rule_id r;
    const char *rule = st_col_text(s, 1), *subject = st_col_text(s, 2);
    memset(a, 0, sizeof *a);
    if (!rule || rule_parse(rule, &r) != 0) {
        gg_set_err(err, errsz, "unknown rule '%s'", rule ? rule : "(null)");
        return -1;
    }
    alert_init(a, r, subject ? subject : "");
    snprintf(a->id, sizeof a->id, "%s", st_col_text(s, 0) ? st_col_text(s, 0) : "");
    snprintf(a->id_no, sizeof a->id_no, "%s", st_col_text(s, 3) ? st_col_text(s, 3) : "");
    int oom = 0;
    a->case_key = st_col_dup(s, 4, &oom);
    a->name = st_col_dup(s, 5, &oom);
    a->region = st_col_dup(s, 6, &oom);
    a->grid = st_col_dup(s, 7, &oom);
    a->amount = (int64_t)sqlite3_column_int64(s, 8);
    a->detail_json = st_col_dup(s, 11, &oom);
    if (oom || (subject && !a->subject)) {
        gg_set_err(err, errsz, "out of memory");
        goto fail;
    }
    if (alert_confidence_parse(st_col_text(s, 9), &a->conf) != 0) {
        gg_set_err(err, errsz, "unknown confidence '%s'", st_col_text(s, 9) ? st_col_text(s, 9) : "");
        goto fail;
    }
    if (periods_from_json(a, st_col_text(s, 10) ? st_col_text(s, 10) : "[]", err, errsz) != 0)
        goto fail;
    if (evidence_from_json(a, st_col_text(s, 12) ? st_col_text(s, 12) : "[]", err, errsz) != 0)
        goto fail;
    snprintf(a->status, sizeof a->status, "%s", st_col_text(s, 13) ? st_col_text(s, 13) : "");
    a->version = sqlite3_column_int(s, 14);
    snprintf(a->fingerprint, sizeof a->fingerprint, "%s", st_col_text(s, 15) ? st_col_text(s, 15) : "");
    a->first_seen = sqlite3_column_int64(s, 16);
    a->updated_at = sqlite3_column_int64(s, 17);
    return 0;
fail:
    alert_free(a);
    memset(a, 0, sizeof *a);
    return -1;
}

/* Binds the finding columns of `a` as ?2..?13 (see the upsert statements). */
static int bind_finding(sqlite3_stmt *s, const alert *a, const char *periods,
                        const char *evidence) {
    if (st_bind_text(s, 2, rule_name(a->rule)) != SQLITE_OK ||
        st_bind_text(s, 3, a->subject ? a->subject : "") != SQLITE_OK ||
        st_bind_text(s, 4, a->id_no) != SQLITE_OK || st_bind_text(s, 5, a->case_key) != SQLITE_OK ||
        st_bind_text(s, 6, a->name) != SQLITE_OK || st_bind_text(s, 7, a->region) != SQLITE_OK ||
        st_bind_text(s, 8, a->grid) != SQLITE_OK ||
        sqlite3_bind_int64(s, 9, a->amount) != SQLITE_OK ||
        st_bind_text(s, 10, confidence_name(a->conf)) != SQLITE_OK ||
        st_bind_text(s, 11, periods) != SQLITE_OK || st_bind_text(s, 12, a->detail_json) != SQLITE_OK ||
        st_bind_text(s, 13, evidence) != SQLITE_OK)
        return -1;
    return 0;
}

int state_alert_upsert(state *st, alert *a, alert_change *change) {
    alert_fingerprint(a);
    *change = ALERT_UNCHANGED;

    /* What is stored now? */
    sqlite3_stmt *s = st_kept(st, "alert upsert: lookup",
                              "SELECT fingerprint, status, version, first_seen, updated_at FROM alerts"
                              " WHERE id = ?1");
    if (!s) return -1;
    if (st_bind_text(s, 1, a->id) != SQLITE_OK) {
        st_db_fail(st, "alert upsert: bind");
        st_kept_done(s);
        return -1;
    }
    int rc = sqlite3_step(s);
    int exists = 0, old_version = 0;
    long long first_seen = 0, updated_at = 0;
    char old_fp[sizeof a->fingerprint] = "", old_status[sizeof a->status] = "";
    if (rc == SQLITE_ROW) {
        exists = 1;
        snprintf(old_fp, sizeof old_fp, "%s", st_col_text(s, 0) ? st_col_text(s, 0) : "");
        snprintf(old_status, sizeof old_status, "%s", st_col_text(s, 1) ? st_col_text(s, 1) : "");
        old_version = sqlite3_column_int(s, 2);
        first_seen = sqlite3_column_int64(s, 3);
        updated_at = sqlite3_column_int64(s, 4);
    } else if (rc != SQLITE_DONE) {
        st_db_fail(st, "alert upsert: lookup");
        st_kept_done(s);
        return -1;
    }
    st_kept_done(s);

    if (exists && strcmp(old_fp, a->fingerprint) == 0) {
        snprintf(a->status, sizeof a->status, "%s", old_status);
        a->version = old_version;
        a->first_seen = first_seen;
        a->updated_at = updated_at;
        return 0;
    }

    char jerr[256];
    char *periods = periods_to_json(a);            /* owned */
    char *evidence = evidence_to_json(a, jerr, sizeof jerr); /* owned */
    if (!periods || !evidence) {
        gg_error("state", "alert upsert %s: %s", a->id,
                 !evidence ? jerr : "cannot encode periods");
        free(periods);
        free(evidence);
        return -1;
    }
    long long now = gg_now_seconds();
    const char *sql =
        exists ? "UPDATE alerts SET rule = ?2, subject = ?3, id_no = ?4, case_key = ?5,"
                 " name = ?6, region = ?7, grid = ?8, amount = ?9, confidence = ?10,"
                 " periods_json = ?11, detail_json = ?12, evidence_json = ?13,"
                 " fingerprint = ?14, version = version + 1, status = 'new',"
                 " updated_at = ?15, status_at = ?15, explanation = NULL WHERE id = ?1"
               : "INSERT INTO alerts(id, rule, subject, id_no, case_key, name, region, grid,"
                 " amount, confidence, periods_json, detail_json, evidence_json, fingerprint,"
                 " status, version, first_seen, updated_at, status_at) VALUES(?1, ?2, ?3, ?4,"
                 " ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, 'new', 1, ?15, ?15, ?15)";
    const char *op = exists ? "alert upsert: update" : "alert upsert: insert";
    int ret = -1;
    if ((s = st_kept(st, op, sql)) != NULL) {
        if (st_bind_text(s, 1, a->id) != SQLITE_OK || bind_finding(s, a, periods, evidence) != 0 ||
            st_bind_text(s, 14, a->fingerprint) != SQLITE_OK ||
            sqlite3_bind_int64(s, 15, now) != SQLITE_OK) {
            st_db_fail(st, op);
            st_kept_done(s);
        } else {
            ret = st_kept_step_done(st, op, s);
        }
    }
    free(periods);
    free(evidence);
    if (ret != 0) return -1;

    snprintf(a->status, sizeof a->status, "new");
    a->updated_at = now;
    if (exists) {
        a->version = old_version + 1;
        a->first_seen = first_seen;
        *change = ALERT_UPDATED;
    } else {
        a->version = 1;
        a->first_seen = now;
        *change = ALERT_CREATED;
    }
    return 0;
}

int state_alert_get(state *st, const char *id, alert *out) {
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = st_kept(st, "alert get", "SELECT " ALERT_COLUMNS " FROM alerts WHERE id = ?1");
    if (!s) return -1;
    if (st_bind_text(s, 1, id) != SQLITE_OK) {
        st_db_fail(st, "alert get: bind");
        st_kept_done(s);
        return -1;
    }
    int rc = sqlite3_step(s), ret;
    if (rc == SQLITE_ROW) {
        char err[256];
        ret = alert_from_row(s, out, err, sizeof err);
        if (ret != 0) gg_error("state", "alert get %s: stored alert is unreadable: %s", id, err);
    } else if (rc == SQLITE_DONE) {
        ret = 1;
    } else {
        ret = st_db_fail(st, "alert get");
    }
    st_kept_done(s);
    return ret;
}

int state_alert_get_to_push(state *st, const char *id, alert *out, char **explanation) {
    memset(out, 0, sizeof *out);
    *explanation = NULL;
    sqlite3_stmt *s = st_kept(st, "alert get to push", "SELECT " ALERT_COLUMNS_TO_PUSH " FROM alerts WHERE id = ?1");
    if (!s) return -1;
    if (st_bind_text(s, 1, id) != SQLITE_OK) {
        st_db_fail(st, "alert get to push: bind");
        st_kept_done(s);
        return -1;
    }
    int rc = sqlite3_step(s), ret;
    if (rc == SQLITE_ROW) {
        char err[256];
        int oom = 0;
        ret = alert_from_row(s, out, err, sizeof err);
        if (ret != 0) {
            gg_error("state", "alert get %s: stored alert is unreadable: %s", id, err);
        } else if ((*explanation = st_col_dup(s, 18, &oom)) == NULL && oom) {
            gg_error("state", "alert get %s: out of memory", id);
            alert_free(out);
            ret = -1;
        }
    } else if (rc == SQLITE_DONE) {
        ret = 1;
    } else {
        ret = st_db_fail(st, "alert get to push");
    }
    st_kept_done(s);
    return ret;
}

int state_alert_explanation_set(state *st, const char *id, int version, const char *text) {
    sqlite3_stmt *s =
        st_kept(st, "alert explanation", "UPDATE alerts SET explanation = ?3 WHERE id = ?1 AND version = ?2");
    if (!s) return -1;
    if (st_bind_text(s, 1, id) != SQLITE_OK || sqlite3_bind_int(s, 2, version) != SQLITE_OK ||
        st_bind_text(s, 3, text) != SQLITE_OK) {
        st_db_fail(st, "alert explanation: bind");
        st_kept_done(s);
        return -1;
    }
    return st_kept_step_done(st, "alert explanation", s);
}

int state_alerts_each(state *st, const char *rule, const char *status,
                      int (*fn)(void *ud, const alert *a), void *ud) {
    sqlite3_stmt *s;
    if (st_prepare(st, "alerts each",
                "SELECT " ALERT_COLUMNS " FROM alerts WHERE (?1 IS NULL OR rule = ?1)"
                " AND (?2 IS NULL OR status = ?2) ORDER BY id",
                &s))
        return -1;
    if (st_bind_text(s, 1, rule) != SQLITE_OK || st_bind_text(s, 2, status) != SQLITE_OK) {
        st_db_fail(st, "alerts each: bind");
        sqlite3_finalize(s);
        return -1;
    }
    int rc, ret = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        alert a;
        char err[256];
        if (alert_from_row(s, &a, err, sizeof err) != 0) {
            gg_error("state", "alerts each: stored alert %s is unreadable: %s",
                     st_col_text(s, 0) ? st_col_text(s, 0) : "?", err);
            ret = -1;
            break;
        }
        int stop = fn(ud, &a);
        alert_free(&a);
        if (stop) break;
    }
    if (ret == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE) ret = st_db_fail(st, "alerts each");
    sqlite3_finalize(s);
    return ret;
}

int state_alert_set_status(state *st, const char *id, const char *status, const char *note) {
    static const char *const known[] = {"new", "pushed", "confirmed", "dismissed", "overdue", "withdrawn"};
    int ok = 0;
    for (size_t i = 0; status && i < sizeof known / sizeof known[0]; i++)
        if (strcmp(status, known[i]) == 0) ok = 1;
    if (!ok) {
        gg_error("state", "alert set status %s: unknown status '%s'", id ? id : "?",
                 status ? status : "(null)");
        return -1;
    }
    int verdict = strcmp(status, "confirmed") == 0 || strcmp(status, "dismissed") == 0;
    sqlite3_stmt *s = st_kept(st, "alert set status",
                              verdict ? "UPDATE alerts SET status = ?2, status_at = ?3, verdict = ?2,"
                                        " verdict_note = ?4 WHERE id = ?1"
                                      : "UPDATE alerts SET status = ?2, status_at = ?3 WHERE id = ?1");
    if (!s) return -1;
    if (st_bind_text(s, 1, id) != SQLITE_OK || st_bind_text(s, 2, status) != SQLITE_OK ||
        sqlite3_bind_int64(s, 3, gg_now_seconds()) != SQLITE_OK ||
        (verdict && st_bind_text(s, 4, note) != SQLITE_OK)) {
        st_db_fail(st, "alert set status: bind");
        st_kept_done(s);
        return -1;
    }
    if (st_kept_step_done(st, "alert set status", s) != 0) return -1;
    if (sqlite3_changes(st->db) == 0) {
        gg_error("state", "alert set status: no alert %s", id ? id : "(null)");
        return -1;
    }
    return 0;
}

/* Collects ids of alerts matching a one-parameter-free query into a
 * malloc'd array (so the caller can update the table while walking it). */
static int collect_ids(state *st, const char *op, sqlite3_stmt *s, char ***ids, size_t *n) {
    *ids = NULL;
    *n = 0;
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 32;
            char **grown = realloc(*ids, cap * sizeof **ids);
            if (!grown) goto oom;
            *ids = grown;
        }
        char *id = strdup(st_col_text(s, 0) ? st_col_text(s, 0) : "");
        if (!id) goto oom;
        (*ids)[(*n)++] = id;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return st_db_fail(st, op);
    return 0;
oom:
    sqlite3_finalize(s);
    gg_error("state", "%s: out of memory", op);
    return -1;
}

static void free_ids(char **ids, size_t n) {
    for (size_t i = 0; i < n; i++) free(ids[i]);
    free(ids);
}

int state_alerts_subjects_each(state *st,
                               int (*fn)(void *ud, const char *id, const char *rule, const char *id_no,
                                         const char *case_key, const char *subject, const char *status),
                               void *ud) {
    enum { NCOLS = 6 };
    sqlite3_stmt *s;
    if (st_prepare(st, "alert subjects",
                   "SELECT id, rule, id_no, case_key, subject, status FROM alerts ORDER BY id", &s))
        return -1;
    /* rows * NCOLS texts (NULL for SQL NULL), collected before fn runs */
    char **cells = NULL;
    size_t n = 0, cap = 0;
    int rc, oom = 0;
    while (!oom && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **grown = realloc(cells, cap * NCOLS * sizeof *cells);
            if (!grown) {
                oom = 1;
                break;
            }
            cells = grown;
        }
        for (int c = 0; c < NCOLS; c++) cells[n * NCOLS + c] = st_col_dup(s, c, &oom);
        n++;
    }
    int ret = 0;
    if (oom)
        ret = -1, gg_error("state", "alert subjects: out of memory");
    else if (rc != SQLITE_DONE)
        ret = st_db_fail(st, "alert subjects");
    sqlite3_finalize(s);
    for (size_t i = 0; i < n && ret == 0; i++) {
        char **r = cells + i * NCOLS;
        ret = fn(ud, r[0] ? r[0] : "", r[1] ? r[1] : "", r[2] ? r[2] : "", r[3], r[4] ? r[4] : "", r[5] ? r[5] : "");
    }
    for (size_t i = 0; i < n * NCOLS; i++) free(cells[i]);
    free(cells);
    return ret > 0 ? 0 : ret;
}

int state_alerts_open_each(state *st, int (*fn)(void *ud, const char *id), void *ud) {
    sqlite3_stmt *s;
    if (st_prepare(st, "alerts open",
                "SELECT id FROM alerts WHERE status IN ('new', 'pushed', 'overdue') ORDER BY id", &s))
        return -1;
    char **ids;
    size_t n;
    if (collect_ids(st, "alerts open", s, &ids, &n)) return -1;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) rc = fn(ud, ids[i]);
    free_ids(ids, n);
    return rc > 0 ? 0 : rc;
}

int state_alert_withdraw(state *st, const char *id, int *version) {
    sqlite3_stmt *s;
    long long now = gg_now_seconds();
    /* The fingerprint is cleared so that the same finding coming back counts
     * as changed evidence and reopens the alert. */
    if (st_prepare(st, "alert withdraw",
                "UPDATE alerts SET status = 'withdrawn', version = version + 1, fingerprint = '',"
                " status_at = ?2, updated_at = ?2 WHERE id = ?1 RETURNING version",
                &s))
        return -1;
    if (st_bind_text(s, 1, id) != SQLITE_OK || sqlite3_bind_int64(s, 2, now) != SQLITE_OK) {
        sqlite3_finalize(s);
        return st_db_fail(st, "alert withdraw: bind");
    }
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        if (version) *version = sqlite3_column_int(s, 0);
        rc = sqlite3_step(s);
    } else if (rc == SQLITE_DONE) {
        sqlite3_finalize(s);
        gg_error("state", "alert withdraw: no alert %s", id);
        return -1;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return st_db_fail(st, "alert withdraw");
    return 0;
}

int state_alerts_overdue(state *st, long long pushed_before, int (*fn)(void *ud, const char *id), void *ud) {
    sqlite3_stmt *s;
    if (st_prepare(st, "alerts overdue",
                "SELECT id FROM alerts WHERE status = 'pushed' AND status_at <= ?1 ORDER BY id", &s))
        return -1;
    if (sqlite3_bind_int64(s, 1, pushed_before) != SQLITE_OK) {
        sqlite3_finalize(s);
        return st_db_fail(st, "alerts overdue: bind");
    }
    char **ids;
    size_t n;
    if (collect_ids(st, "alerts overdue", s, &ids, &n)) return -1;
    int rc = 0;
    long long now = gg_now_seconds();
    for (size_t i = 0; i < n && rc == 0; i++) {
        sqlite3_stmt *u;
        if (st_prepare(st, "alert overdue",
                    "UPDATE alerts SET status = 'overdue', version = version + 1, status_at = ?2 WHERE id = ?1",
                    &u)) {
            rc = -1;
            break;
        }
        if (st_bind_text(u, 1, ids[i]) != SQLITE_OK || sqlite3_bind_int64(u, 2, now) != SQLITE_OK) {
            sqlite3_finalize(u);
            rc = st_db_fail(st, "alert overdue: bind");
            break;
        }
        if (st_step_done(st, "alert overdue", u)) {
            rc = -1;
            break;
        }
        if (fn && fn(ud, ids[i]) < 0) rc = -1;
    }
    free_ids(ids, n);
    return rc;
}

int state_alert_counts_each(state *st, int (*fn)(void *ud, const char *rule, const char *status, long n), void *ud) {
    sqlite3_stmt *s;
    if (st_prepare(st, "alert counts", "SELECT rule, status, COUNT(*) FROM alerts GROUP BY rule, status", &s))
        return -1;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        if (fn(ud, st_col_text(s, 0), st_col_text(s, 1), (long)sqlite3_column_int64(s, 2))) break;
    int ret = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : st_db_fail(st, "alert counts");
    sqlite3_finalize(s);
    return ret;
}
