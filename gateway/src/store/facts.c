/* facts.c - the facts kept for matching: upsert by (source, kind, ref) with
 * the cycles they were first and last seen, reloading them (fields and the
 * stored folded name), counts, full-refresh pruning and the subjects that
 * became of interest since a cycle (for incremental lookups). */
#include "store/state_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- facts ----------------------------------------------------------------- */

int state_fact_put(state *st, const fact *f, long cycle) {
    if (!f->source || !f->ref) {
        gg_error("state", "fact put: %s fact without %s", fact_kind_name(f->kind),
                 f->source ? "ref" : "source");
        return -1;
    }
    char *fields = fact_fields_json(f); /* owned here */
    if (!fields) {
        gg_error("state", "fact put: cannot encode the fields of a %s fact from %s",
                 fact_kind_name(f->kind), f->source);
        return -1;
    }
    const char *case_key = f->f[FF_CASE].set ? f->f[FF_CASE].s : NULL;
    sqlite3_stmt *s = st->fact_put;
    int ret = 0;
    if (st_bind_text(s, 1, f->source) != SQLITE_OK ||
        st_bind_text(s, 2, fact_kind_name(f->kind)) != SQLITE_OK ||
        st_bind_text(s, 3, f->ref) != SQLITE_OK || st_bind_text(s, 4, f->id_norm) != SQLITE_OK ||
        st_bind_text(s, 5, case_key) != SQLITE_OK || st_bind_text(s, 6, fields) != SQLITE_OK ||
        st_bind_text(s, 7, f->raw_json) != SQLITE_OK ||
        sqlite3_bind_int64(s, 8, cycle) != SQLITE_OK || st_bind_text(s, 9, f->name_norm) != SQLITE_OK) {
        ret = st_db_fail(st, "fact put: bind");
    } else if (sqlite3_step(s) != SQLITE_DONE) {
        ret = st_db_fail(st, "fact put");
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s); /* drop the borrowed pointers before freeing */
    free(fields);
    return ret;
}

/* Rebuilds fact `f` (initialized to kind k) from a fields_json object text.
 * 0 ok, -1 with the reason in err. */
static int fact_from_fields_json(fact *f, const char *fields_json, char *err, size_t errsz) {
    json_error_t jerr;
    json_t *obj = json_loads(fields_json, 0, &jerr);
    if (!obj || !json_is_object(obj)) {
        gg_set_err(err, errsz, "fields_json is not a JSON object (%s)", obj ? "not an object" : jerr.text);
        json_decref(obj);
        return -1;
    }
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        fact_field ff;
        char ferr[200];
        int rc;
        if (fact_field_parse(key, &ff) != 0) {
            gg_set_err(err, errsz, "unknown field '%s'", key);
            json_decref(obj);
            return -1;
        }
        if (json_is_string(v))
            rc = fact_set_text(f, ff, json_string_value(v), ferr, sizeof ferr);
        else if (json_is_integer(v))
            rc = fact_set_int(f, ff, (int64_t)json_integer_value(v), ferr, sizeof ferr);
        else if (json_is_boolean(v))
            rc = fact_set_int(f, ff, json_is_true(v) ? 1 : 0, ferr, sizeof ferr);
        else if (json_is_null(v))
            continue; /* an absent value */
        else {
            rc = -1;
            snprintf(ferr, sizeof ferr, "unsupported JSON type");
        }
        if (rc != 0) {
            gg_set_err(err, errsz, "field '%s': %s", key, ferr);
            json_decref(obj);
            return -1;
        }
    }
    json_decref(obj);
    return 0;
}

int state_facts_each(state *st, int k, int (*fn)(void *ud, fact *f), void *ud) {
    sqlite3_stmt *s;
    const char *sql =
        k < 0 ? "SELECT kind, source, ref, fields_json, raw_json, name_norm FROM facts"
                " ORDER BY kind, source, ref"
              : "SELECT kind, source, ref, fields_json, raw_json, name_norm FROM facts WHERE kind = ?1"
                " ORDER BY kind, source, ref";
    if (st_prepare(st, "facts each", sql, &s)) return -1;
    if (k >= 0 && st_bind_text(s, 1, fact_kind_name((fact_kind)k)) != SQLITE_OK) {
        st_db_fail(st, "facts each: bind");
        sqlite3_finalize(s);
        return -1;
    }
    int rc, ret = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *kind = st_col_text(s, 0), *source = st_col_text(s, 1);
        fact_kind fk;
        if (!kind || fact_kind_parse(kind, &fk) != 0) {
            gg_error("state", "facts each: stored fact from %s has unknown kind '%s'",
                     source ? source : "?", kind ? kind : "(null)");
            ret = -1;
            break;
        }
        fact f;
        fact_init(&f, fk);
        int oom = 0;
        f.source = st_col_dup(s, 1, &oom);
        f.ref = st_col_dup(s, 2, &oom);
        f.raw_json = st_col_dup(s, 4, &oom);
        f.name_norm = st_col_dup(s, 5, &oom); /* folded when stored; NULL for facts without a name */
        if (oom || !f.source || !f.ref) {
            gg_error("state", "facts each: %s", oom ? "out of memory" : "row without source/ref");
            fact_clear(&f);
            ret = -1;
            break;
        }
        char ferr[256];
        const char *fields = st_col_text(s, 3);
        if (!fields || fact_from_fields_json(&f, fields, ferr, sizeof ferr) != 0) {
            gg_error("state", "facts each: cannot rebuild a fact of kind %s from %s: %s", kind,
                     f.source, fields ? ferr : "no fields_json");
            fact_clear(&f);
            ret = -1;
            break;
        }
        /* f and everything it points to now belongs to the callback. */
        if (fn(ud, &f) != 0) break;
    }
    if (ret == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE) ret = st_db_fail(st, "facts each");
    sqlite3_finalize(s);
    return ret;
}

long state_fact_count(state *st, int k) {
    sqlite3_stmt *s;
    if (st_prepare(st, "fact count",
                k < 0 ? "SELECT COUNT(*) FROM facts" : "SELECT COUNT(*) FROM facts WHERE kind = ?1",
                &s))
        return -1;
    if (k >= 0 && st_bind_text(s, 1, fact_kind_name((fact_kind)k)) != SQLITE_OK) {
        st_db_fail(st, "fact count: bind");
        sqlite3_finalize(s);
        return -1;
    }
    long n = -1;
    if (sqlite3_step(s) == SQLITE_ROW)
        n = (long)sqlite3_column_int64(s, 0);
    else
        st_db_fail(st, "fact count");
    sqlite3_finalize(s);
    return n;
}

int state_facts_prune(state *st, const char *source, int k, long before_cycle, long *deleted) {
    sqlite3_stmt *s;
    if (st_prepare(st, "facts prune", "DELETE FROM facts WHERE source = ?1 AND kind = ?2 AND last_cycle < ?3", &s))
        return -1;
    if (st_bind_text(s, 1, source) != SQLITE_OK || st_bind_text(s, 2, fact_kind_name((fact_kind)k)) != SQLITE_OK ||
        sqlite3_bind_int64(s, 3, before_cycle) != SQLITE_OK) {
        sqlite3_finalize(s);
        return st_db_fail(st, "facts prune: bind");
    }
    if (st_step_done(st, "facts prune", s)) return -1;
    if (deleted) *deleted = (long)sqlite3_changes(st->db);
    return 0;
}

int state_interest_new_each(state *st, long since_cycle,
                            int (*fn)(void *ud, const char *source, const char *kind, const char *ref,
                                      long first_cycle),
                            void *ud) {
    sqlite3_stmt *s;
    if (st_prepare(st, "interest new each",
                "SELECT source, kind, ref, first_cycle FROM facts"
                " WHERE kind IN ('death', 'custody', 'assistance_member') AND first_cycle > ?1"
                " ORDER BY source, kind, ref",
                &s))
        return -1;
    if (sqlite3_bind_int64(s, 1, since_cycle) != SQLITE_OK) {
        st_db_fail(st, "interest new each: bind");
        sqlite3_finalize(s);
        return -1;
    }
    int rc, ret = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        if (fn(ud, st_col_text(s, 0), st_col_text(s, 1), st_col_text(s, 2), (long)sqlite3_column_int64(s, 3)) != 0) break;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) ret = st_db_fail(st, "interest new each");
    sqlite3_finalize(s);
    return ret;
}

long state_fact_count_source(state *st, const char *source, int k) {
    sqlite3_stmt *s;
    if (st_prepare(st, "fact count", "SELECT COUNT(*) FROM facts WHERE source = ?1 AND kind = ?2", &s)) return -1;
    long n = -1;
    if (st_bind_text(s, 1, source) == SQLITE_OK && st_bind_text(s, 2, fact_kind_name((fact_kind)k)) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        n = (long)sqlite3_column_int64(s, 0);
    else
        st_db_fail(st, "fact count");
    sqlite3_finalize(s);
    return n;
}
