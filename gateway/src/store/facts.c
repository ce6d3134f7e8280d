/* facts.c - the facts kept for matching: upsert by (source, kind, ref) with
 * the cycles they were first stored and last written, a content hash so an
 * unchanged record is neither re-encoded nor rewritten, reloading them
 * (fields and the stored folded name), persons on demand (by id, by folded
 * name + id-embedded birth date, those with a conflict of their own), counts,
 * full-refresh pruning against the refs seen in a cycle, and the subjects
 * that became of interest since a cycle (for incremental lookups). The
 * fields are kept in the binary form of model/factcodec.h; the JSON form of
 * schema 6 is only read by the 6 -> 7 conversion (st_sql_fields_blob). */
#include "store/state_internal.h"

#include "core/hash.h"
#include "core/hashset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- hashes ---------------------------------------------------------------- */

static uint64_t fnv_str(uint64_t h, const char *s) {
    /* the terminating NUL is hashed too, so "ab"+"c" differs from "a"+"bc" */
    return s ? fnv1a64_update(h, s, strlen(s) + 1) : fnv1a64_update(h, "\xff", 1);
}

uint64_t state_ref_hash(const char *ref) { return fnv_str(GG_FNV_OFFSET, ref); }

/* A text field's or the id's bytes (NUL included; NULL: none, marked) */
static uint64_t h64_str(uint64_t h, const char *s) {
    return s ? gg_hash64_update(h, s, strlen(s) + 1) : gg_hash64_update(h ^ 2, NULL, 0);
}

uint64_t state_fact_hash(const fact *f) {
    /* gg_hash64 (XXH3): one call per field, its number, integer
     * and text; the raw values by their hash (model/fact.h), so that an
     * unchanged row is recognized without building its raw JSON */
    uint64_t head[2] = {(uint64_t)f->kind, fact_raw_hash(f)};
    uint64_t h = gg_hash64_update(GG_HASH64_SEED, head, sizeof head);
    for (int i = 0; i < FF__COUNT; i++) {
        const fact_val *v = &f->f[i];
        if (!FACT_HAS(f, i)) continue;
        /* a text field hashes integer 0 and its string, any other its
         * integer and no string (fact_val is a union: read the live member) */
        int text = fact_field_is_text((fact_field)i);
        uint64_t fi[2] = {(uint64_t)i, text ? 0u : (uint64_t)v->i};
        h = gg_hash64_update(h, fi, sizeof fi);
        h = h64_str(h, text ? v->s : NULL);
    }
    /* the id's reading depends on the day (a birth date in the future) */
    h = h64_str(h ^ (uint64_t)f->id_status << 8, f->id_norm);
    return h;
}

int state_fact_stored_hash(state *st, const fact *f, uint64_t *hash, int *found) {
    sqlite3_stmt *s = st->fact_hash;
    *found = 0;
    *hash = 0;
    int ret = 0, rc;
    if (st_bind_text(s, 1, f->source) != SQLITE_OK || st_bind_text(s, 2, fact_kind_name(f->kind)) != SQLITE_OK ||
        st_bind_text(s, 3, f->ref) != SQLITE_OK) {
        ret = st_db_fail(st, "fact hash: bind");
    } else if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (sqlite3_column_type(s, 0) != SQLITE_NULL) {
            *found = 1;
            *hash = (uint64_t)sqlite3_column_int64(s, 0);
        }
    } else if (rc != SQLITE_DONE) {
        ret = st_db_fail(st, "fact hash");
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return ret;
}

/* ---- hash sets (state.h) ---------------------------------------------------- */

/* Pairs a part of a set holds at most (1 MiB). */
#define HASH_SET_PART_PAIRS ((size_t)1 << 16)

int st_hash_set_drop(state *st, const char *source, int kind) {
    int in_tx = !sqlite3_get_autocommit(st->db);
    size_t slen = strlen(source);
    if (in_tx)
        for (size_t i = 0; i < st->hs_ndropped; i++)
            if (st->hs_dropped[i].kind == kind && !strcmp(st->hs_dropped[i].source, source)) return 0;
    sqlite3_stmt *s = st_kept(st, "hash set drop", "DELETE FROM fact_hash_sets WHERE source = ?1 AND kind = ?2");
    if (!s) return -1;
    if (st_bind_text(s, 1, source) != SQLITE_OK || st_bind_text(s, 2, fact_kind_name((fact_kind)kind)) != SQLITE_OK ||
        sqlite3_step(s) != SQLITE_DONE) {
        st_db_fail(st, "hash set drop");
        st_kept_done(s);
        return -1;
    }
    st_kept_done(s);
    /* remembered for the transaction (a long name, or a ninth pair, is
     * dropped again on its next write: right, only slower) */
    if (in_tx && slen < sizeof st->hs_dropped[0].source &&
        st->hs_ndropped < sizeof st->hs_dropped / sizeof st->hs_dropped[0]) {
        memcpy(st->hs_dropped[st->hs_ndropped].source, source, slen + 1);
        st->hs_dropped[st->hs_ndropped++].kind = kind;
    }
    return 0;
}

int state_fact_hash_set_put(state *st, const char *source, int k, const uint64_t *pairs, size_t n) {
    if (st_hash_set_drop(st, source, k)) return -1;
    /* the set just put stands until the next write: that one drops it again */
    for (size_t i = 0; i < st->hs_ndropped; i++)
        if (st->hs_dropped[i].kind == k && !strcmp(st->hs_dropped[i].source, source))
            st->hs_dropped[i] = st->hs_dropped[--st->hs_ndropped];
    sqlite3_stmt *s = st_kept(st, "hash set put",
                              "INSERT INTO fact_hash_sets(source, kind, part, words) VALUES(?1, ?2, ?3, ?4)");
    if (!s) return -1;
    size_t off = 0;
    long part = 0;
    int ret = 0;
    do { /* an empty set is one empty part: a set, of no fact */
        size_t m = n - off < HASH_SET_PART_PAIRS ? n - off : HASH_SET_PART_PAIRS;
        int rc = st_bind_text(s, 1, source);
        if (rc == SQLITE_OK) rc = st_bind_text(s, 2, fact_kind_name((fact_kind)k));
        if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 3, part);
        if (rc == SQLITE_OK)
            rc = m ? sqlite3_bind_blob64(s, 4, pairs + 2 * off, (sqlite3_uint64)m * 2 * sizeof *pairs, SQLITE_STATIC)
                   : sqlite3_bind_zeroblob(s, 4, 0);
        if (rc != SQLITE_OK || sqlite3_step(s) != SQLITE_DONE) ret = st_db_fail(st, "hash set put");
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
        off += m;
        part++;
    } while (ret == 0 && off < n);
    st_kept_done(s);
    return ret;
}

int state_fact_hash_set_exists(state *st, const char *source, int k) {
    sqlite3_stmt *s = st_kept(st, "hash set exists",
                              "SELECT EXISTS(SELECT 1 FROM fact_hash_sets WHERE source = ?1 AND kind = ?2)");
    if (!s) return -1;
    int ret;
    if (st_bind_text(s, 1, source) != SQLITE_OK || st_bind_text(s, 2, fact_kind_name((fact_kind)k)) != SQLITE_OK ||
        sqlite3_step(s) != SQLITE_ROW)
        ret = st_db_fail(st, "hash set exists");
    else
        ret = sqlite3_column_int(s, 0) != 0;
    st_kept_done(s);
    return ret;
}

/* The pairs of the (source, kind)'s set to fn: 1 when it has none (or a
 * part is not well formed: warned, and the caller reads the rows), 0 when
 * they were all given (or fn stopped), -1 on failure. */
static int hash_set_each(state *st, const char *source, int k,
                         int (*fn)(void *ud, uint64_t ref_hash, uint64_t content_hash), void *ud) {
    sqlite3_stmt *s;
    if (st_prepare(st, "hash set read",
                   "SELECT words, (SELECT count(*) FROM fact_hash_sets WHERE source = ?1 AND kind = ?2"
                   " AND length(words) % 16 <> 0) FROM fact_hash_sets WHERE source = ?1 AND kind = ?2 ORDER BY part",
                   &s))
        return -1;
    if (st_bind_text(s, 1, source) != SQLITE_OK || st_bind_text(s, 2, fact_kind_name((fact_kind)k)) != SQLITE_OK) {
        sqlite3_finalize(s);
        return st_db_fail(st, "hash set read: bind");
    }
    int rc, ret = 1, stop = 0;
    while (!stop && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (ret == 1 && sqlite3_column_int64(s, 1) != 0) {
            gg_warn("state", "source %s: the stored %s hash set is not well formed; the facts are read instead", source,
                    fact_kind_name((fact_kind)k));
            break;
        }
        ret = 0;
        const unsigned char *b = sqlite3_column_blob(s, 0);
        size_t m = (size_t)sqlite3_column_bytes(s, 0) / 16;
        for (size_t i = 0; i < m && !stop; i++) {
            uint64_t w[2];
            memcpy(w, b + 16 * i, sizeof w); /* host order, as put */
            stop = fn(ud, w[0], w[1]) != 0;
        }
    }
    if (!stop && ret != 1 && rc != SQLITE_DONE) ret = st_db_fail(st, "hash set read");
    sqlite3_finalize(s);
    return ret;
}

int state_fact_hashes_each(state *st, const char *source, int k,
                           int (*fn)(void *ud, uint64_t ref_hash, uint64_t content_hash), void *ud) {
    int set = hash_set_each(st, source, k, fn, ud);
    if (set != 1) return set;
    sqlite3_stmt *s;
    if (st_prepare(st, "fact hashes",
                   "SELECT ref, content_hash FROM facts WHERE source = ?1 AND kind = ?2 AND content_hash IS NOT NULL",
                   &s))
        return -1;
    if (st_bind_text(s, 1, source) != SQLITE_OK || st_bind_text(s, 2, fact_kind_name((fact_kind)k)) != SQLITE_OK) {
        sqlite3_finalize(s);
        return st_db_fail(st, "fact hashes: bind");
    }
    int rc, ret = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *ref = st_col_text(s, 0);
        if (ref && fn(ud, state_ref_hash(ref), (uint64_t)sqlite3_column_int64(s, 1)) != 0) break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) ret = st_db_fail(st, "fact hashes");
    sqlite3_finalize(s);
    return ret;
}

int state_person_name_check(state *st, const char *id_norm, const char *name, const char *name_norm,
                            int *persons, int *same) {
    sqlite3_stmt *s = st->person_name;
    *persons = *same = 0;
    int ret = 0;
    if (st_bind_text(s, 1, id_norm) != SQLITE_OK ||
        sqlite3_bind_int64(s, 2, (sqlite3_int64)state_ref_hash(name)) != SQLITE_OK ||
        st_bind_text(s, 3, name_norm) != SQLITE_OK) {
        ret = st_db_fail(st, "person name: bind");
    } else if (sqlite3_step(s) == SQLITE_ROW) {
        *persons = sqlite3_column_int64(s, 1) > 0;
        *same = sqlite3_column_int64(s, 2) > 0 || sqlite3_column_int64(s, 0) > 0;
    } else {
        ret = st_db_fail(st, "person name");
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return ret;
}

/* ---- facts ----------------------------------------------------------------- */

int state_fact_put(state *st, const fact *f, long cycle) { return state_fact_put_hashed(st, f, cycle, state_fact_hash(f)); }

/* Binds f to s: fact_put_sql's parameters ?1..?12, which fact_upd_sql and
 * fact_old_sql share; the fields are those fact_store encoded into
 * st->fields_buf. SQLite's result code. */
static int fact_bind(state *st, sqlite3_stmt *s, const fact *f, long cycle, uint64_t hash, int dq) {
    const char *case_key = FACT_HAS(f, FF_CASE) ? f->f[FF_CASE].s : NULL;
    int rc;
    if ((rc = st_bind_text(s, 1, f->source)) != SQLITE_OK ||
        (rc = st_bind_text(s, 2, fact_kind_name(f->kind))) != SQLITE_OK ||
        (rc = st_bind_text(s, 3, f->ref)) != SQLITE_OK || (rc = st_bind_text(s, 4, f->id_norm)) != SQLITE_OK ||
        (rc = st_bind_text(s, 5, case_key)) != SQLITE_OK ||
        (rc = sqlite3_bind_blob(s, 6, st->fields_buf.p, (int)st->fields_buf.len, SQLITE_STATIC)) != SQLITE_OK ||
        (rc = st_bind_text(s, 7, f->raw_json)) != SQLITE_OK || (rc = sqlite3_bind_int64(s, 8, cycle)) != SQLITE_OK ||
        (rc = st_bind_text(s, 9, f->name_norm)) != SQLITE_OK ||
        (rc = sqlite3_bind_int64(s, 10, (sqlite3_int64)hash)) != SQLITE_OK ||
        (rc = dq ? sqlite3_bind_int(s, 11, 1) : sqlite3_bind_null(s, 11)) != SQLITE_OK)
        return rc;
    return f->kind == FK_PERSON && FACT_HAS(f, FF_NAME) && f->f[FF_NAME].s
               ? sqlite3_bind_int64(s, 12, (sqlite3_int64)state_ref_hash(f->f[FF_NAME].s))
               : sqlite3_bind_null(s, 12);
}

/* Runs the write s (fact_put_sql or fact_upd_sql) once for f; *changed gets
 * the rows it changed. 0, or -1 (logged). */
static int fact_run(state *st, sqlite3_stmt *s, const fact *f, long cycle, uint64_t hash, int dq, int *changed) {
    int ret = 0;
    *changed = 0;
    if (fact_bind(st, s, f, cycle, hash, dq) != SQLITE_OK)
        ret = st_db_fail(st, "fact put: bind");
    else if (sqlite3_step(s) != SQLITE_DONE)
        ret = st_db_fail(st, "fact put");
    else
        *changed = sqlite3_changes(st->db);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s); /* drop the borrowed pointers */
    return ret;
}

/* The stored fact f is about to replace (fact_old_sql): whether there is
 * one, and which of its content, its keys in the touched log (id, case,
 * folded name), its identity as a person (id, folded name, name hash,
 * conflict flag) and its names stay the same. */
typedef struct {
    int found, same_content, same_keys, same_identity, same_names;
} fact_before;

static int fact_before_read(state *st, const fact *f, long cycle, uint64_t hash, int dq, fact_before *b) {
    sqlite3_stmt *s = st->fact_old;
    int ret = 0, rc;
    memset(b, 0, sizeof *b);
    if (fact_bind(st, s, f, cycle, hash, dq) != SQLITE_OK) {
        ret = st_db_fail(st, "fact put: bind");
    } else if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        b->found = 1;
        b->same_content = sqlite3_column_int(s, 0);
        b->same_keys = sqlite3_column_int(s, 1);
        b->same_identity = sqlite3_column_int(s, 2);
        b->same_names = sqlite3_column_int(s, 3);
    } else if (rc != SQLITE_DONE) {
        ret = st_db_fail(st, "fact put: stored fact");
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return ret;
}

/* Counts a change of f's content (state.c, fact_changes_sql): identity too
 * for a fact of the small side, but for a person only when its identity
 * changed; a person new or renamed moves the persons' generation. */
static int fact_change_count(state *st, const fact *f, const fact_before *b) {
    int ident = !fact_kind_is_stream(f->kind) && (!b->found || f->kind != FK_PERSON || !b->same_identity);
    int ret = 0;
    if (sqlite3_bind_int(st->changes_add, 1, ident) != SQLITE_OK)
        ret = st_db_fail(st, "fact change counter: bind");
    else if (sqlite3_step(st->changes_add) != SQLITE_DONE)
        ret = st_db_fail(st, "fact change counter");
    sqlite3_reset(st->changes_add);
    /* once per transaction: any new value says the register may differ */
    if (ret == 0 && f->kind == FK_PERSON && (!b->found || !b->same_names) &&
        (!st->gen_moved || sqlite3_get_autocommit(st->db))) {
        ret = st_exec_sql(st, "person generation", "UPDATE person_gen SET n = n + 1 WHERE id = 1");
        st->gen_moved = ret == 0;
    }
    return ret;
}

/* Writes f: the narrow update of fact_upd_sql when `narrow` asks for it and
 * the stored fact keeps its keys and identity, the upsert otherwise; counts
 * the change and logs the keys (touched.c) as the writer, since facts have no
 * insert or update triggers (state.c, fact_changes_sql). In a first load
 * (state_first_load_begin) nothing of the source and kind is stored: nothing
 * to read first, and the counts wait for its end. 0, or -1 (logged). */
static int fact_store(state *st, const fact *f, long cycle, uint64_t hash, int narrow) {
    if (!f->source || !f->ref) {
        gg_error("state", "fact put: %s fact without %s", fact_kind_name(f->kind),
                 f->source ? "ref" : "source");
        return -1;
    }
    if (fact_fields_encode(f, &st->fields_buf) != 0) {
        gg_error("state", "fact put: cannot encode the fields of a %s fact from %s",
                 fact_kind_name(f->kind), f->source);
        return -1;
    }
    /* A person with a valid id that states another birth date than its id's
     * is flagged (dq): persons are loaded on demand, and one with a conflict
     * of its own is an identity_conflict even when nothing else names it. */
    int dq = f->kind == FK_PERSON && f->id_status == ID_OK && f->id_norm[0] && FACT_HAS(f, FF_BIRTH_DATE) &&
             f->f[FF_BIRTH_DATE].i != ident_birth_date(f->id_norm);
    int changed;
    if (st_hash_set_drop(st, f->source, (int)f->kind)) return -1;
    if (st->changes_suspended) {
        if (fact_run(st, st->fact_put, f, cycle, hash, dq, &changed)) return -1;
        if (!changed) return 0;
        st->changes_pending++;                                  /* every write of a first load counts */
        if (!fact_kind_is_stream(f->kind)) st->ident_pending++; /* every small-side put too */
        if (f->kind == FK_PERSON) st->persons_pending++;         /* the persons' generation moves */
        return st->touch_on ? st_touch_keys(st, f) : 0;
    }
    fact_before b;
    if (fact_before_read(st, f, cycle, hash, dq, &b)) return -1;
    if (b.found && !b.same_keys && st->touch_on && st_touch_stored_keys(st, f)) return -1;
    int upd = narrow && b.found && b.same_keys && b.same_identity;
    if (fact_run(st, upd ? st->fact_upd : st->fact_put, f, cycle, hash, dq, &changed)) return -1;
    if (!changed && upd && fact_run(st, st->fact_put, f, cycle, hash, dq, &changed)) return -1;
    if (!changed || (b.found && b.same_content)) return 0; /* only last_cycle moved */
    if (fact_change_count(st, f, &b)) return -1;
    return st->touch_on ? st_touch_keys(st, f) : 0;
}

int state_fact_put_hashed(state *st, const fact *f, long cycle, uint64_t hash) {
    return fact_store(st, f, cycle, hash, 0);
}

int state_fact_put_stored(state *st, const fact *f, long cycle, uint64_t hash) {
    return fact_store(st, f, cycle, hash, 1);
}

/* Rebuilds fact `f` (initialized to kind k) from a schema-6 fields_json
 * object text (the 6 -> 7 migration). 0 ok, -1 with the reason in err. */
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

void st_sql_fields_blob(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    (void)argc;
    const char *kind = (const char *)sqlite3_value_text(argv[0]);
    const char *json = (const char *)sqlite3_value_text(argv[1]);
    fact_kind fk;
    char err[300], ferr[256];
    if (!kind || fact_kind_parse(kind, &fk) != 0) {
        snprintf(err, sizeof err, "a stored fact has unknown kind '%s'", kind ? kind : "(null)");
        sqlite3_result_error(ctx, err, -1);
        return;
    }
    fact f;
    fact_init(&f, fk);
    fact_blob b = {0};
    if (!json || fact_from_fields_json(&f, json, ferr, sizeof ferr) != 0) {
        snprintf(err, sizeof err, "a stored %s fact: %s", kind, json ? ferr : "no fields_json");
        sqlite3_result_error(ctx, err, -1);
    } else if (fact_fields_encode(&f, &b) != 0) {
        sqlite3_result_error_nomem(ctx);
    } else {
        sqlite3_result_blob(ctx, b.p, (int)b.len, SQLITE_TRANSIENT);
    }
    fact_blob_free(&b);
    fact_clear(&f);
}

/* Steps a prepared statement whose columns are (kind, source, ref, fields,
 * raw values: not read, name_norm), calling fn with each rebuilt fact;
 * finalizes it, or (cached) resets it and clears its bindings. */
static int facts_rows_each_ex(state *st, const char *op, sqlite3_stmt *s, int (*fn)(void *ud, fact *f), void *ud,
                              int cached) {
    int rc, ret = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *kind = st_col_text(s, 0), *source = st_col_text(s, 1);
        fact_kind fk;
        if (!kind || fact_kind_parse(kind, &fk) != 0) {
            gg_error("state", "%s: stored fact from %s has unknown kind '%s'", op,
                     source ? source : "?", kind ? kind : "(null)");
            ret = -1;
            break;
        }
        fact f;
        fact_init(&f, fk);
        int oom = 0;
        f.source = st_col_dup(s, 1, &oom);
        f.ref = st_col_dup(s, 2, &oom);
        /* Raw values are not loaded: only an alert's evidence needs them
         * (store/evidence.c fetches those), and they are most of the bytes. */
        f.name_norm = st_col_dup(s, 5, &oom); /* folded when stored; NULL for facts without a name */
        if (oom || !f.source || !f.ref) {
            gg_error("state", "%s: %s", op, oom ? "out of memory" : "row without source/ref");
            fact_clear(&f);
            ret = -1;
            break;
        }
        char ferr[256];
        const void *fields = sqlite3_column_blob(s, 3);
        size_t nfields = (size_t)sqlite3_column_bytes(s, 3);
        if (!fields || fact_fields_decode(&f, fields, nfields, ferr, sizeof ferr) != 0) {
            gg_error("state", "%s: cannot rebuild a fact of kind %s from %s: %s", op, kind,
                     f.source, fields ? ferr : "no fields");
            fact_clear(&f);
            ret = -1;
            break;
        }
        fact_share_name_norm(&f); /* most folded names are the name itself */
        /* f and everything it points to now belongs to the callback. */
        if (fn(ud, &f) != 0) break;
    }
    if (ret == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE) ret = st_db_fail(st, op);
    if (cached) {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    } else {
        sqlite3_finalize(s);
    }
    return ret;
}

static int facts_rows_each(state *st, const char *op, sqlite3_stmt *s, int (*fn)(void *ud, fact *f), void *ud) {
    return facts_rows_each_ex(st, op, s, fn, ud, 0);
}

#define FACT_COLS "SELECT kind, source, ref, fields, NULL, name_norm FROM facts"

int state_facts_each(state *st, int k, int (*fn)(void *ud, fact *f), void *ud) {
    sqlite3_stmt *s;
    const char *sql = k < 0 ? FACT_COLS " ORDER BY kind, source, ref"
                            : FACT_COLS " WHERE kind = ?1 ORDER BY kind, source, ref";
    if (st_prepare(st, "facts each", sql, &s)) return -1;
    if (k >= 0 && st_bind_text(s, 1, fact_kind_name((fact_kind)k)) != SQLITE_OK) {
        st_db_fail(st, "facts each: bind");
        sqlite3_finalize(s);
        return -1;
    }
    return facts_rows_each(st, "facts each", s, fn, ud);
}

/* Binds text to the cached statement *cache (prepared from sql on first
 * use); NULL on failure (logged, the statement reset). */
static sqlite3_stmt *cached_bound(state *st, const char *op, sqlite3_stmt **cache, const char *sql,
                                  const char *text) {
    if (!*cache && st_prepare(st, op, sql, cache)) return NULL;
    sqlite3_stmt *s = *cache;
    if (st_bind_text(s, 1, text ? text : "") != SQLITE_OK) {
        st_db_fail(st, op);
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
        return NULL;
    }
    return s;
}

/* The facts of many ids at once. Looked up one id at a time, each fact
 * costs a random page of the table (the index gives the ids in order, the
 * rows lie in the order they were written): 12 us a person at 1M residents.
 * Here the ids go into a TEMP table, and one statement reads the facts whose
 * rowids its join with the index finds (CROSS JOIN: the ids first, each
 * looked up in the index; without statistics for the TEMP table the planner
 * would scan the whole index instead): SQLite collects those rowids, sorted,
 * and reads the rows in table order (the interest's 38k persons at 1M
 * residents: 0.48 s -> 0.3 s). The order of the facts is the table's;
 * callers put their set in order themselves. */
static const char *const want_ids_sql =
    "CREATE TEMP TABLE IF NOT EXISTS want_ids(id TEXT PRIMARY KEY) WITHOUT ROWID;"
    "DELETE FROM temp.want_ids;";

static int cmp_text_ptr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int state_facts_of_ids(state *st, int persons, const char *const *ids, size_t n, int (*fn)(void *ud, fact *f),
                       void *ud) {
    if (n == 0) return 0;
    if (st_exec_sql(st, "facts of ids: id table", want_ids_sql)) return -1;
    /* inserted in order: appended to the temporary b-tree instead of spread
     * over it (in random order its pages spill to a temporary file as it
     * outgrows the temp database's small page cache) */
    const char **sorted = malloc(n * sizeof *sorted);
    if (!sorted) {
        gg_error("state", "facts of ids: out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) sorted[i] = ids[i] ? ids[i] : "";
    qsort(sorted, n, sizeof *sorted, cmp_text_ptr);
    sqlite3_stmt *ins;
    if (st_prepare(st, "facts of ids: id", "INSERT OR IGNORE INTO temp.want_ids(id) VALUES(?1)", &ins)) {
        free(sorted);
        return -1;
    }
    int ret = 0;
    for (size_t i = 0; i < n && ret == 0; i++) {
        if (st_bind_text(ins, 1, sorted[i]) != SQLITE_OK) ret = st_db_fail(st, "facts of ids: bind");
        else if (sqlite3_step(ins) != SQLITE_DONE) ret = st_db_fail(st, "facts of ids: id");
        sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);
    free(sorted);
    sqlite3_stmt *s = NULL;
    if (ret == 0 &&
        st_prepare(st, "facts of ids",
                   persons ? FACT_COLS " WHERE rowid IN (SELECT f.rowid FROM temp.want_ids w CROSS JOIN facts f INDEXED BY"
                                       " facts_person_names WHERE f.id_norm = w.id AND f.kind = 'person')"
                           : FACT_COLS " WHERE rowid IN (SELECT f.rowid FROM temp.want_ids w CROSS JOIN facts f INDEXED BY"
                                       " facts_subject WHERE f.id_norm = w.id AND f.id_norm <> ''"
                                       " AND f.kind NOT IN ('person', 'verdict'))",
                   &s))
        ret = -1;
    if (ret == 0) ret = facts_rows_each(st, "facts of ids", s, fn, ud); /* finalizes s */
    /* emptied again: a failure here only leaves ids the next call deletes */
    (void)st_exec_sql(st, "facts of ids: id table", "DELETE FROM temp.want_ids;");
    return ret;
}

int state_fact_names_walk(state *st, int (*fn)(void *ud, const char *id_norm, const char *name_norm), void *ud) {
    return st_text_pairs_each(st, "fact names each",
                              "SELECT id_norm, name_norm FROM facts INDEXED BY facts_subject WHERE id_norm <> ''"
                              " AND kind NOT IN ('person', 'verdict') AND name_norm IS NOT NULL",
                              fn, ud);
}

int state_facts_without_id_named(state *st, int (*fn)(void *ud, fact *f), void *ud) {
    sqlite3_stmt *s;
    if (st_prepare(st, "named facts without id",
                   FACT_COLS " INDEXED BY facts_subject WHERE id_norm = '' AND name_norm IS NOT NULL"
                   " AND kind NOT IN ('person', 'verdict') ORDER BY kind, source, ref",
                   &s))
        return -1;
    return facts_rows_each(st, "named facts without id", s, fn, ud);
}

int state_case_facts(state *st, const char *case_key, int (*id_fn)(void *ud, const char *id),
                     int (*fn)(void *ud, fact *f), void *ud) {
    sqlite3_stmt *s = cached_bound(st, "case ids", &st->case_ids,
                                   "SELECT DISTINCT id_norm FROM facts WHERE case_key = ?1 AND id_norm <> ''"
                                   " AND kind <> 'verdict'",
                                   case_key);
    if (!s) return -1;
    int rc, ret = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *id = st_col_text(s, 0);
        if (id && id[0] && (ret = id_fn(ud, id)) != 0) break;
    }
    if (ret == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE) ret = st_db_fail(st, "case ids");
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (ret) return ret < 0 ? -1 : ret;
    s = cached_bound(st, "case facts without id", &st->case_no_id,
                     FACT_COLS " WHERE case_key = ?1 AND id_norm = '' AND name_norm IS NULL"
                     " AND kind <> 'verdict' ORDER BY kind, source, ref",
                     case_key);
    return s ? facts_rows_each_ex(st, "case facts without id", s, fn, ud, 1) : -1;
}

/* Calls fn with the id_norm of each row of a one-column query; finalizes s. */
static int ids_each(state *st, const char *op, sqlite3_stmt *s, int (*fn)(void *ud, const char *id), void *ud) {
    int rc, ret = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *id = st_col_text(s, 0);
        if (id && id[0] && fn(ud, id) != 0) break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) ret = st_db_fail(st, op);
    sqlite3_finalize(s);
    return ret;
}

int state_person_ids_by_key(state *st, const char *name_norm, int birth, int (*fn)(void *ud, const char *id),
                            void *ud) {
    /* Rare (facts without a valid id): a scan of facts_person_names rather
     * than one more index every person write would pay for. */
    char bbuf[16];
    snprintf(bbuf, sizeof bbuf, "%08d", birth);
    sqlite3_stmt *s;
    if (st_prepare(st, "person ids by key",
                "SELECT DISTINCT id_norm FROM facts INDEXED BY facts_person_names"
                " WHERE kind = 'person' AND id_norm <> '' AND name_norm = ?1 AND substr(id_norm, 7, 8) = ?2",
                &s))
        return -1;
    if (st_bind_text(s, 1, name_norm) != SQLITE_OK || st_bind_text(s, 2, bbuf) != SQLITE_OK) {
        st_db_fail(st, "person ids by key: bind");
        sqlite3_finalize(s);
        return -1;
    }
    return ids_each(st, "person ids by key", s, fn, ud);
}

int state_person_name_hashes_each(state *st, int (*fn)(void *ud, const char *id_norm, uint64_t name_hash),
                                  void *ud) {
    sqlite3_stmt *s;
    if (st_prepare(st, "person name hashes", ST_PERSON_NAME_HASHES_SQL, &s))
        return -1;
    int rc, ret = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *id = st_col_text(s, 0);
        if (id && fn(ud, id, (uint64_t)sqlite3_column_int64(s, 1)) != 0) break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) ret = st_db_fail(st, "person name hashes");
    sqlite3_finalize(s);
    return ret;
}

int state_persons_without_id(state *st, int (*fn)(void *ud, fact *f), void *ud) {
    sqlite3_stmt *s;
    if (st_prepare(st, "persons without id", FACT_COLS " INDEXED BY facts_person_names WHERE id_norm = '' AND kind = 'person' ORDER BY source, ref", &s))
        return -1;
    return facts_rows_each(st, "persons without id", s, fn, ud);
}

/* A growable copy of a column's text (the statement's own is gone at the
 * next step). */
typedef struct {
    char *s;
    size_t len, cap;
} text_copy;

static int text_copy_set(text_copy *t, const char *v, size_t len) {
    if (len + 1 > t->cap) {
        size_t ncap = t->cap ? t->cap : 64;
        while (ncap < len + 1) ncap *= 2;
        char *ns = realloc(t->s, ncap);
        if (!ns) return -1;
        t->s = ns;
        t->cap = ncap;
    }
    memcpy(t->s, v, len);
    t->s[len] = '\0';
    t->len = len;
    return 0;
}

int state_person_names_walk(state *st, int (*name_fn)(void *ud, const char *id_norm, const char *name_norm),
                            int (*conflict_fn)(void *ud, const char *id), void *ud) {
    sqlite3_stmt *s;
    /* The ids flagged as a data-quality conflict first (facts_dq, few rows). */
    if (conflict_fn) {
        if (st_prepare(st, "person ids in conflict", "SELECT DISTINCT id_norm FROM facts WHERE dq = 1", &s)) return -1;
        if (ids_each(st, "person ids in conflict", s, conflict_fn, ud)) return -1;
    }
    /* One pass over facts_person_names in its order: the rows of an id are
     * adjacent, and an id names two persons when two of its rows' folded
     * names differ (the same as GROUP BY id_norm HAVING MIN(name_norm) <>
     * MAX(name_norm): NULL names take no part). */
    if (st_prepare(st, "person names each",
                   "SELECT id_norm, name_norm FROM facts INDEXED BY facts_person_names"
                   " WHERE kind = 'person' AND id_norm <> '' AND name_norm IS NOT NULL ORDER BY id_norm",
                   &s))
        return -1;
    text_copy pid = {0}, pname = {0};
    int rc, ret = 0, flagged = 0, stop = 0;
    while (!stop && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(s, 0);
        const char *name = (const char *)sqlite3_column_text(s, 1);
        if (!id || !name) continue;
        if (name_fn && name_fn(ud, id, name) != 0) break;
        if (!conflict_fn) continue;
        size_t idlen = (size_t)sqlite3_column_bytes(s, 0), namelen = (size_t)sqlite3_column_bytes(s, 1);
        if (pid.s && pid.len == idlen && memcmp(pid.s, id, idlen) == 0) {
            if (flagged || (pname.len == namelen && memcmp(pname.s, name, namelen) == 0)) continue;
            flagged = 1;
            if (conflict_fn(ud, id) != 0) stop = 1;
            continue;
        }
        flagged = 0;
        if (text_copy_set(&pid, id, idlen) || text_copy_set(&pname, name, namelen)) {
            gg_error("state", "person names each: out of memory");
            ret = -1;
            break;
        }
    }
    if (ret == 0 && !stop && rc != SQLITE_ROW && rc != SQLITE_DONE) ret = st_db_fail(st, "person names each");
    sqlite3_finalize(s);
    free(pid.s);
    free(pname.s);
    return ret;
}

int state_person_ids_in_conflict(state *st, int (*fn)(void *ud, const char *id), void *ud) {
    return state_person_names_walk(st, NULL, fn, ud);
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
    if (st_hash_set_drop(st, source, k)) return -1;
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

int state_facts_prune_unseen(state *st, const char *source, int k, const uint64_t *seen, size_t nseen,
                             long *deleted) {
    sqlite3_stmt *s;
    int64_t *gone = NULL;
    size_t ngone = 0, cap = 0;
    hashset dir; /* over the seen hashes (ascending, distinct: the caller's) */
    if (deleted) *deleted = 0;
    if (hashset_view(&dir, seen, nseen)) {
        gg_error("state", "facts prune: out of memory");
        return -1;
    }
    if (st_prepare(st, "facts prune", "SELECT rowid, ref FROM facts WHERE source = ?1 AND kind = ?2", &s)) {
        hashset_free(&dir);
        return -1;
    }
    if (st_bind_text(s, 1, source) != SQLITE_OK || st_bind_text(s, 2, fact_kind_name((fact_kind)k)) != SQLITE_OK) {
        sqlite3_finalize(s);
        hashset_free(&dir);
        return st_db_fail(st, "facts prune: bind");
    }
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const unsigned char *ref = sqlite3_column_text(s, 1);
        if (ref && hashset_has(&dir, fnv_str(GG_FNV_OFFSET, (const char *)ref))) continue;
        if (ngone == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            int64_t *ng = realloc(gone, ncap * sizeof *ng);
            if (!ng) {
                gg_error("state", "facts prune: out of memory");
                free(gone);
                hashset_free(&dir);
                sqlite3_finalize(s);
                return -1;
            }
            gone = ng;
            cap = ncap;
        }
        gone[ngone++] = (int64_t)sqlite3_column_int64(s, 0);
    }
    hashset_free(&dir);
    if (rc != SQLITE_DONE) {
        st_db_fail(st, "facts prune");
        free(gone);
        sqlite3_finalize(s);
        return -1;
    }
    sqlite3_finalize(s);
    if (ngone && st_hash_set_drop(st, source, k)) {
        free(gone);
        return -1;
    }
    if (ngone && st_prepare(st, "facts prune", "DELETE FROM facts WHERE rowid = ?1", &s)) {
        free(gone);
        return -1;
    }
    int ret = 0;
    for (size_t i = 0; i < ngone && ret == 0; i++) {
        if (sqlite3_bind_int64(s, 1, gone[i]) != SQLITE_OK || sqlite3_step(s) != SQLITE_DONE)
            ret = st_db_fail(st, "facts prune: delete");
        sqlite3_reset(s);
    }
    if (ngone) sqlite3_finalize(s);
    free(gone);
    if (ret == 0 && deleted) *deleted = (long)ngone;
    return ret;
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

int state_fact_any_source(state *st, const char *source, int k) {
    sqlite3_stmt *s;
    if (st_prepare(st, "fact any", "SELECT 1 FROM facts WHERE source = ?1 AND kind = ?2 LIMIT 1", &s)) return -1;
    int rc = -1;
    if (st_bind_text(s, 1, source) == SQLITE_OK && st_bind_text(s, 2, fact_kind_name((fact_kind)k)) == SQLITE_OK) {
        int step = sqlite3_step(s);
        rc = step == SQLITE_ROW ? 1 : step == SQLITE_DONE ? 0 : -1;
    }
    if (rc < 0) st_db_fail(st, "fact any");
    sqlite3_finalize(s);
    return rc;
}

/* ---- first loads ----------------------------------------------------------- */

/* Inside the stream's transaction: nothing of the stream's source and kind
 * is stored, so each write is an insert and fact_store reads nothing before
 * it; the change counters get the count at the end (an insert of a payment or
 * income counts only as a change, state.c's fact_changes_sql), and the
 * persons' generation moves once if a person was put. The counter is the
 * handle's own (a temp table), so a crash loses nothing of it; a rollback
 * drops the count. */
int state_first_load_begin(state *st) {
    st->changes_suspended = 1;
    st->changes_pending = 0;
    st->ident_pending = 0;
    st->persons_pending = 0;
    return 0;
}

int state_first_load_end(state *st) {
    if (!st->changes_suspended) return 0;
    sqlite3_stmt *s;
    if (st_prepare(st, "fact change counter", "UPDATE temp.fact_changes SET n = n + ?1, ident = ident + ?2", &s))
        return -1;
    if (sqlite3_bind_int64(s, 1, st->changes_pending) != SQLITE_OK ||
        sqlite3_bind_int64(s, 2, st->ident_pending) != SQLITE_OK) {
        sqlite3_finalize(s);
        return st_db_fail(st, "fact change counter: bind");
    }
    if (st_step_done(st, "fact change counter", s) ||
        (st->persons_pending &&
         st_exec_sql(st, "person generation", "UPDATE person_gen SET n = n + 1 WHERE id = 1")))
        return -1;
    st->changes_suspended = 0;
    st->changes_pending = 0;
    st->ident_pending = 0;
    st->persons_pending = 0;
    return 0;
}

/* A first load of persons drops their index as well, and builds it once,
 * sorted, before the commit. A rollback brings it back. */
int state_person_index_suspend(state *st) {
    if (st_exec_sql(st, "person index suspend", "DROP INDEX IF EXISTS facts_person_names;")) return -1;
    return state_first_load_begin(st);
}

int state_person_index_restore(state *st) {
    if (st_exec_index_build(st->db, "person index rebuild", FACTS_PERSON_NAMES_SQL, STATE_CACHE_KIB)) return -1;
    return state_first_load_end(st);
}
