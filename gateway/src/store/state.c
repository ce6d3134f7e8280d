/* state.c - the embedded state store on SQLite (WAL): watermarks, facts kept
 * for matching, alerts and their lifecycle, the delivery outbox, the
 * quarantine of rejected records, data-quality counts and cycles.
 *
 * The schema is plain SQL (TEXT, INTEGER, BIGINT; upserts written as
 * INSERT ... ON CONFLICT ... DO UPDATE/NOTHING, which PostgreSQL shares), so it
 * can move to a shared PostgreSQL store later. A `meta` table records the
 * schema version; a database written by a newer build is refused.
 *
 * The hot paths (state_fact_put, once per fact; quarantine and dq counters)
 * keep their prepared statements in the handle and rely on the caller's
 * transaction (state_begin/state_commit) for speed and atomicity. Everything
 * else prepares its statement per call so iterations may nest.
 *
 * Ownership: a `state` owns its connection and cached statements;
 * state_close() finalizes them and closes the connection (an uncommitted
 * transaction is rolled back). Strings handed to callbacks are borrowed for the
 * duration of the callback only. Errors are logged as
 * "state: <operation>: <sqlite message>" and returned as -1; id numbers and
 * names are never logged. */
#include "store/state.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sqlite3.h>

#include "core/log.h"

/* The schema version this build writes and understands. */
#define STATE_SCHEMA_VERSION 2 /* 2: facts.name_norm */
/* Longest last_error kept on an outbox row, in bytes. */
#define OUTBOX_ERROR_MAX 1000

struct state {
    sqlite3 *db;                 /* owned */
    sqlite3_stmt *fact_put;      /* owned, cached: called per fact */
    sqlite3_stmt *quarantine_add;/* owned, cached */
    sqlite3_stmt *dq_add;        /* owned, cached */
};

static const char *const schema_sql =
    "CREATE TABLE IF NOT EXISTS cycles("
    " id INTEGER PRIMARY KEY,"
    " started_at BIGINT NOT NULL,"
    " ended_at BIGINT,"
    " summary_json TEXT);"
    "CREATE TABLE IF NOT EXISTS watermarks("
    " source TEXT NOT NULL,"
    " stream TEXT NOT NULL,"
    " value TEXT,"
    " updated_at BIGINT NOT NULL,"
    " PRIMARY KEY(source, stream));"
    "CREATE TABLE IF NOT EXISTS facts("
    " source TEXT NOT NULL,"
    " kind TEXT NOT NULL,"
    " ref TEXT NOT NULL,"
    " id_norm TEXT NOT NULL DEFAULT '',"
    " case_key TEXT,"
    " fields_json TEXT NOT NULL,"
    " raw_json TEXT,"
    " first_cycle BIGINT NOT NULL,"
    " last_cycle BIGINT NOT NULL,"
    " name_norm TEXT,"
    " PRIMARY KEY(source, kind, ref));"
    "CREATE INDEX IF NOT EXISTS facts_id_norm ON facts(id_norm);"
    "CREATE INDEX IF NOT EXISTS facts_case_key ON facts(case_key);"
    "CREATE INDEX IF NOT EXISTS facts_kind ON facts(kind, source, ref);"
    "CREATE TABLE IF NOT EXISTS quarantine("
    " id INTEGER PRIMARY KEY,"
    " source TEXT NOT NULL,"
    " stream TEXT NOT NULL,"
    " ref TEXT NOT NULL,"
    " reason TEXT NOT NULL,"
    " raw_json TEXT,"
    " first_cycle BIGINT NOT NULL,"
    " last_cycle BIGINT NOT NULL,"
    " count BIGINT NOT NULL,"
    " at BIGINT NOT NULL,"
    " UNIQUE(source, stream, ref, reason));"
    "CREATE TABLE IF NOT EXISTS dq("
    " cycle BIGINT NOT NULL,"
    " source TEXT NOT NULL,"
    " metric TEXT NOT NULL,"
    " reason TEXT NOT NULL,"
    " n BIGINT NOT NULL,"
    " PRIMARY KEY(cycle, source, metric, reason));"
    "CREATE TABLE IF NOT EXISTS alerts("
    " id TEXT PRIMARY KEY,"
    " rule TEXT NOT NULL,"
    " subject TEXT NOT NULL,"
    " id_no TEXT NOT NULL DEFAULT '',"
    " case_key TEXT,"
    " name TEXT,"
    " region TEXT,"
    " grid TEXT,"
    " amount BIGINT NOT NULL,"
    " confidence TEXT NOT NULL,"
    " periods_json TEXT NOT NULL,"
    " detail_json TEXT,"
    " evidence_json TEXT NOT NULL,"
    " status TEXT NOT NULL"
    "  CHECK(status IN ('new','pushed','confirmed','dismissed','overdue','withdrawn')),"
    " verdict TEXT,"
    " verdict_note TEXT,"
    " version INTEGER NOT NULL,"
    " fingerprint TEXT NOT NULL,"
    " first_seen BIGINT NOT NULL,"
    " updated_at BIGINT NOT NULL,"
    " status_at BIGINT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS alerts_status ON alerts(status);"
    "CREATE TABLE IF NOT EXISTS outbox("
    " id INTEGER PRIMARY KEY,"
    " alert_id TEXT NOT NULL REFERENCES alerts(id),"
    " sink TEXT NOT NULL,"
    " version INTEGER NOT NULL,"
    " status TEXT NOT NULL CHECK(status IN ('pending','done','dead')),"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " next_attempt BIGINT NOT NULL,"
    " last_error TEXT,"
    " created_at BIGINT NOT NULL,"
    " done_at BIGINT,"
    " UNIQUE(alert_id, sink, version));"
    "CREATE INDEX IF NOT EXISTS outbox_due ON outbox(status, next_attempt);";

static const char *const fact_put_sql =
    "INSERT INTO facts(source, kind, ref, id_norm, case_key, fields_json, raw_json,"
    " first_cycle, last_cycle, name_norm) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9)"
    " ON CONFLICT(source, kind, ref) DO UPDATE SET id_norm = excluded.id_norm,"
    " case_key = excluded.case_key, fields_json = excluded.fields_json,"
    " raw_json = excluded.raw_json, last_cycle = excluded.last_cycle,"
    " name_norm = excluded.name_norm";

static const char *const quarantine_add_sql =
    "INSERT INTO quarantine(source, stream, ref, reason, raw_json, first_cycle,"
    " last_cycle, count, at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?6, 1, ?7)"
    " ON CONFLICT(source, stream, ref, reason) DO UPDATE SET"
    " raw_json = excluded.raw_json, last_cycle = excluded.last_cycle,"
    " count = quarantine.count + 1, at = excluded.at";

static const char *const dq_add_sql =
    "INSERT INTO dq(cycle, source, metric, reason, n) VALUES(?1, ?2, ?3, ?4, ?5)"
    " ON CONFLICT(cycle, source, metric, reason) DO UPDATE SET n = dq.n + excluded.n";

/* Columns of an alert row, in the order alert_from_row() reads them. */
#define ALERT_COLUMNS                                                                     \
    "id, rule, subject, id_no, case_key, name, region, grid, amount, confidence,"         \
    " periods_json, detail_json, evidence_json, status, version, fingerprint, first_seen," \
    " updated_at"

/* ---- small helpers ------------------------------------------------------- */

static long long now_seconds(void) { return (long long)time(NULL); }

static void set_err(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errsz, const char *fmt, ...) {
    if (!err || errsz == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errsz, fmt, ap);
    va_end(ap);
}

/* Logs the connection's last error for operation `op`; returns -1. */
static int db_fail(state *st, const char *op) {
    gg_error("state", "%s: %s", op, sqlite3_errmsg(st->db));
    return -1;
}

static int prepare(state *st, const char *op, const char *sql, sqlite3_stmt **out) {
    *out = NULL;
    if (sqlite3_prepare_v2(st->db, sql, -1, out, NULL) != SQLITE_OK) return db_fail(st, op);
    return 0;
}

/* Binds a borrowed string (valid until the statement is reset), or NULL. */
static int bind_text(sqlite3_stmt *s, int idx, const char *v) {
    return v ? sqlite3_bind_text(s, idx, v, -1, SQLITE_STATIC) : sqlite3_bind_null(s, idx);
}

/* Column text as a C string, NULL for SQL NULL. Borrowed until the next step. */
static const char *col_text(sqlite3_stmt *s, int i) {
    return (const char *)sqlite3_column_text(s, i);
}

/* malloc'd copy of a column, NULL for SQL NULL; sets *oom on allocation failure. */
static char *col_dup(sqlite3_stmt *s, int i, int *oom) {
    const char *v = col_text(s, i);
    if (!v) return NULL;
    char *d = strdup(v);
    if (!d) *oom = 1;
    return d;
}

/* Runs a statement that returns no rows (or whose rows are ignored). */
static int exec_sql(state *st, const char *op, const char *sql) {
    char *msg = NULL;
    if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        gg_error("state", "%s: %s", op, msg ? msg : sqlite3_errmsg(st->db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

/* Steps a prepared one-shot statement to completion and finalizes it. */
static int step_done(state *st, const char *op, sqlite3_stmt *s) {
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE) {
        db_fail(st, op);
        sqlite3_finalize(s);
        return -1;
    }
    sqlite3_finalize(s);
    return 0;
}

/* ---- open / close / transactions ----------------------------------------- */

/* Reads meta.schema_version: 0 ok (*version 0 when absent), -1 error. */
static int read_schema_version(state *st, long *version, char *err, size_t errsz) {
    sqlite3_stmt *s = NULL;
    *version = 0;
    if (sqlite3_prepare_v2(st->db, "SELECT value FROM meta WHERE key = 'schema_version'", -1,
                           &s, NULL) != SQLITE_OK) {
        set_err(err, errsz, "read schema version: %s", sqlite3_errmsg(st->db));
        return -1;
    }
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const char *v = col_text(s, 0);
        char *end = NULL;
        errno = 0;
        long n = v ? strtol(v, &end, 10) : 0;
        if (!v || errno || end == v || *end || n <= 0) {
            set_err(err, errsz, "schema_version '%s' in meta is not a positive integer",
                    v ? v : "(null)");
            sqlite3_finalize(s);
            return -1;
        }
        *version = n;
    } else if (rc != SQLITE_DONE) {
        set_err(err, errsz, "read schema version: %s", sqlite3_errmsg(st->db));
        sqlite3_finalize(s);
        return -1;
    }
    sqlite3_finalize(s);
    return 0;
}

/* Creates or checks the schema inside one transaction. */
static int setup_schema(state *st, const char *path, char *err, size_t errsz) {
    char *msg = NULL;
    if (sqlite3_exec(st->db,
                     "BEGIN IMMEDIATE;"
                     "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);",
                     NULL, NULL, &msg) != SQLITE_OK) {
        set_err(err, errsz, "state %s: create meta table: %s", path,
                msg ? msg : sqlite3_errmsg(st->db));
        sqlite3_free(msg);
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    long version = 0;
    char verr[256];
    if (read_schema_version(st, &version, verr, sizeof verr) != 0) {
        set_err(err, errsz, "state %s: %s", path, verr);
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    if (version > STATE_SCHEMA_VERSION) {
        set_err(err, errsz,
                "state %s: schema version %ld is newer than this build knows (%d); "
                "refusing to open it (upgrade gridgate)",
                path, version, STATE_SCHEMA_VERSION);
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    /* Migrations, inside the same transaction as the schema: 1 -> 2 adds the
     * folded name next to each fact so reloads need no OpenCC call. */
    if (version == 1 &&
        sqlite3_exec(st->db, "ALTER TABLE facts ADD COLUMN name_norm TEXT", NULL, NULL, &msg) != SQLITE_OK) {
        set_err(err, errsz, "state %s: migrate schema 1 -> 2: %s", path, msg ? msg : sqlite3_errmsg(st->db));
        sqlite3_free(msg);
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    if (sqlite3_exec(st->db, schema_sql, NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(st->db,
                     "INSERT INTO meta(key, value) VALUES('schema_version', '2')"
                     " ON CONFLICT(key) DO UPDATE SET value = excluded.value;"
                     "COMMIT;",
                     NULL, NULL, &msg) != SQLITE_OK) {
        set_err(err, errsz, "state %s: create schema: %s", path,
                msg ? msg : sqlite3_errmsg(st->db));
        sqlite3_free(msg);
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

static void state_finalize_cached(state *st) {
    sqlite3_finalize(st->fact_put);
    sqlite3_finalize(st->quarantine_add);
    sqlite3_finalize(st->dq_add);
    st->fact_put = st->quarantine_add = st->dq_add = NULL;
}

state *state_open(const char *path, char *err, size_t errsz) {
    if (!path || !*path) {
        set_err(err, errsz, "state: no database path given");
        return NULL;
    }
    state *st = calloc(1, sizeof *st);
    if (!st) {
        set_err(err, errsz, "state %s: out of memory", path);
        return NULL;
    }
    int rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        set_err(err, errsz, "state %s: cannot open: %s", path,
                st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
        sqlite3_close(st->db);
        free(st);
        return NULL;
    }
    /* The first statements touch the file: a file that is not a database
     * fails here with SQLite's "file is not a database". */
    char *msg = NULL;
    if (sqlite3_exec(st->db,
                     "PRAGMA busy_timeout = 5000;"
                     "PRAGMA journal_mode = WAL;"
                     "PRAGMA synchronous = NORMAL;"
                     "PRAGMA foreign_keys = ON;",
                     NULL, NULL, &msg) != SQLITE_OK) {
        set_err(err, errsz, "state %s: cannot use as a database: %s", path,
                msg ? msg : sqlite3_errmsg(st->db));
        sqlite3_free(msg);
        sqlite3_close(st->db);
        free(st);
        return NULL;
    }
    if (setup_schema(st, path, err, errsz) != 0) {
        sqlite3_close(st->db);
        free(st);
        return NULL;
    }
    if (sqlite3_prepare_v2(st->db, fact_put_sql, -1, &st->fact_put, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(st->db, quarantine_add_sql, -1, &st->quarantine_add, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(st->db, dq_add_sql, -1, &st->dq_add, NULL) != SQLITE_OK) {
        set_err(err, errsz, "state %s: prepare statements: %s", path, sqlite3_errmsg(st->db));
        state_finalize_cached(st);
        sqlite3_close(st->db);
        free(st);
        return NULL;
    }
    return st;
}

void state_close(state *st) {
    if (!st) return;
    state_finalize_cached(st);
    if (!sqlite3_get_autocommit(st->db)) {
        gg_warn("state", "close: a transaction was still open; rolling it back");
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    }
    if (sqlite3_close(st->db) != SQLITE_OK)
        gg_error("state", "close: %s", sqlite3_errmsg(st->db));
    free(st);
}

int state_begin(state *st) { return exec_sql(st, "begin transaction", "BEGIN IMMEDIATE"); }
int state_commit(state *st) { return exec_sql(st, "commit", "COMMIT"); }
int state_rollback(state *st) { return exec_sql(st, "rollback", "ROLLBACK"); }

/* ---- watermarks ------------------------------------------------------------ */

int state_watermark_get(state *st, const char *source, const char *stream, char **value) {
    sqlite3_stmt *s;
    *value = NULL;
    if (prepare(st, "watermark get",
                "SELECT value FROM watermarks WHERE source = ?1 AND stream = ?2", &s))
        return -1;
    if (bind_text(s, 1, source) != SQLITE_OK || bind_text(s, 2, stream) != SQLITE_OK) {
        db_fail(st, "watermark get: bind");
        sqlite3_finalize(s);
        return -1;
    }
    int rc = sqlite3_step(s), ret = 0;
    if (rc == SQLITE_ROW) {
        int oom = 0;
        *value = col_dup(s, 0, &oom);
        if (oom) {
            gg_error("state", "watermark get: out of memory");
            ret = -1;
        }
    } else if (rc != SQLITE_DONE) {
        ret = db_fail(st, "watermark get");
    }
    sqlite3_finalize(s);
    return ret;
}

int state_watermark_set(state *st, const char *source, const char *stream, const char *value) {
    sqlite3_stmt *s;
    if (prepare(st, "watermark set",
                "INSERT INTO watermarks(source, stream, value, updated_at) VALUES(?1, ?2, ?3, ?4)"
                " ON CONFLICT(source, stream) DO UPDATE SET value = excluded.value,"
                " updated_at = excluded.updated_at",
                &s))
        return -1;
    if (bind_text(s, 1, source) != SQLITE_OK || bind_text(s, 2, stream) != SQLITE_OK ||
        bind_text(s, 3, value) != SQLITE_OK ||
        sqlite3_bind_int64(s, 4, now_seconds()) != SQLITE_OK) {
        db_fail(st, "watermark set: bind");
        sqlite3_finalize(s);
        return -1;
    }
    return step_done(st, "watermark set", s);
}

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
    if (bind_text(s, 1, f->source) != SQLITE_OK ||
        bind_text(s, 2, fact_kind_name(f->kind)) != SQLITE_OK ||
        bind_text(s, 3, f->ref) != SQLITE_OK || bind_text(s, 4, f->id_norm) != SQLITE_OK ||
        bind_text(s, 5, case_key) != SQLITE_OK || bind_text(s, 6, fields) != SQLITE_OK ||
        bind_text(s, 7, f->raw_json) != SQLITE_OK ||
        sqlite3_bind_int64(s, 8, cycle) != SQLITE_OK || bind_text(s, 9, f->name_norm) != SQLITE_OK) {
        ret = db_fail(st, "fact put: bind");
    } else if (sqlite3_step(s) != SQLITE_DONE) {
        ret = db_fail(st, "fact put");
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
        set_err(err, errsz, "fields_json is not a JSON object (%s)", obj ? "not an object" : jerr.text);
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
            set_err(err, errsz, "unknown field '%s'", key);
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
            set_err(err, errsz, "field '%s': %s", key, ferr);
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
    if (prepare(st, "facts each", sql, &s)) return -1;
    if (k >= 0 && bind_text(s, 1, fact_kind_name((fact_kind)k)) != SQLITE_OK) {
        db_fail(st, "facts each: bind");
        sqlite3_finalize(s);
        return -1;
    }
    int rc, ret = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *kind = col_text(s, 0), *source = col_text(s, 1);
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
        f.source = col_dup(s, 1, &oom);
        f.ref = col_dup(s, 2, &oom);
        f.raw_json = col_dup(s, 4, &oom);
        f.name_norm = col_dup(s, 5, &oom); /* folded when stored; NULL for facts without a name */
        if (oom || !f.source || !f.ref) {
            gg_error("state", "facts each: %s", oom ? "out of memory" : "row without source/ref");
            fact_clear(&f);
            ret = -1;
            break;
        }
        char ferr[256];
        const char *fields = col_text(s, 3);
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
    if (ret == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE) ret = db_fail(st, "facts each");
    sqlite3_finalize(s);
    return ret;
}

long state_fact_count(state *st, int k) {
    sqlite3_stmt *s;
    if (prepare(st, "fact count",
                k < 0 ? "SELECT COUNT(*) FROM facts" : "SELECT COUNT(*) FROM facts WHERE kind = ?1",
                &s))
        return -1;
    if (k >= 0 && bind_text(s, 1, fact_kind_name((fact_kind)k)) != SQLITE_OK) {
        db_fail(st, "fact count: bind");
        sqlite3_finalize(s);
        return -1;
    }
    long n = -1;
    if (sqlite3_step(s) == SQLITE_ROW)
        n = (long)sqlite3_column_int64(s, 0);
    else
        db_fail(st, "fact count");
    sqlite3_finalize(s);
    return n;
}

int state_facts_prune(state *st, const char *source, int k, long before_cycle, long *deleted) {
    sqlite3_stmt *s;
    if (prepare(st, "facts prune", "DELETE FROM facts WHERE source = ?1 AND kind = ?2 AND last_cycle < ?3", &s))
        return -1;
    if (bind_text(s, 1, source) != SQLITE_OK || bind_text(s, 2, fact_kind_name((fact_kind)k)) != SQLITE_OK ||
        sqlite3_bind_int64(s, 3, before_cycle) != SQLITE_OK) {
        sqlite3_finalize(s);
        return db_fail(st, "facts prune: bind");
    }
    if (step_done(st, "facts prune", s)) return -1;
    if (deleted) *deleted = (long)sqlite3_changes(st->db);
    return 0;
}

int state_interest_new_each(state *st, long since_cycle,
                            int (*fn)(void *ud, const char *source, const char *kind, const char *ref,
                                      long first_cycle),
                            void *ud) {
    sqlite3_stmt *s;
    if (prepare(st, "interest new each",
                "SELECT source, kind, ref, first_cycle FROM facts"
                " WHERE kind IN ('death', 'custody', 'assistance_member') AND first_cycle > ?1"
                " ORDER BY source, kind, ref",
                &s))
        return -1;
    if (sqlite3_bind_int64(s, 1, since_cycle) != SQLITE_OK) {
        db_fail(st, "interest new each: bind");
        sqlite3_finalize(s);
        return -1;
    }
    int rc, ret = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        if (fn(ud, col_text(s, 0), col_text(s, 1), col_text(s, 2), (long)sqlite3_column_int64(s, 3)) != 0) break;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) ret = db_fail(st, "interest new each");
    sqlite3_finalize(s);
    return ret;
}

long state_fact_count_source(state *st, const char *source, int k) {
    sqlite3_stmt *s;
    if (prepare(st, "fact count", "SELECT COUNT(*) FROM facts WHERE source = ?1 AND kind = ?2", &s)) return -1;
    long n = -1;
    if (bind_text(s, 1, source) == SQLITE_OK && bind_text(s, 2, fact_kind_name((fact_kind)k)) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        n = (long)sqlite3_column_int64(s, 0);
    else
        db_fail(st, "fact count");
    sqlite3_finalize(s);
    return n;
}

/* ---- quarantine ------------------------------------------------------------ */

int state_quarantine_add(state *st, const char *source, const char *stream, const char *ref,
                         const char *reason, const char *raw_json, long cycle) {
    /* Missing keys are stored as "" so that UNIQUE(...) deduplicates them
     * (NULLs never compare equal). */
    sqlite3_stmt *s = st->quarantine_add;
    int ret = 0;
    if (bind_text(s, 1, source ? source : "") != SQLITE_OK ||
        bind_text(s, 2, stream ? stream : "") != SQLITE_OK ||
        bind_text(s, 3, ref ? ref : "") != SQLITE_OK ||
        bind_text(s, 4, reason ? reason : "") != SQLITE_OK ||
        bind_text(s, 5, raw_json) != SQLITE_OK || sqlite3_bind_int64(s, 6, cycle) != SQLITE_OK ||
        sqlite3_bind_int64(s, 7, now_seconds()) != SQLITE_OK) {
        ret = db_fail(st, "quarantine add: bind");
    } else if (sqlite3_step(s) != SQLITE_DONE) {
        ret = db_fail(st, "quarantine add");
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return ret;
}

int state_quarantine_each(state *st, const char *source,
                          int (*fn)(void *ud, const quarantine_row *r), void *ud) {
    sqlite3_stmt *s;
    if (prepare(st, "quarantine each",
                "SELECT id, source, stream, ref, reason, raw_json, at FROM quarantine"
                " WHERE ?1 IS NULL OR source = ?1 ORDER BY id",
                &s))
        return -1;
    if (bind_text(s, 1, source) != SQLITE_OK) {
        db_fail(st, "quarantine each: bind");
        sqlite3_finalize(s);
        return -1;
    }
    int rc, ret = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        quarantine_row r = {
            .id = (long)sqlite3_column_int64(s, 0),
            .source = col_text(s, 1),
            .stream = col_text(s, 2),
            .ref = col_text(s, 3),
            .reason = col_text(s, 4),
            .raw_json = col_text(s, 5),
            .at = sqlite3_column_int64(s, 6),
        };
        if (fn(ud, &r) != 0) break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) ret = db_fail(st, "quarantine each");
    sqlite3_finalize(s);
    return ret;
}

/* ---- data quality ---------------------------------------------------------- */

int state_dq_add(state *st, const char *source, const char *metric, const char *reason, long n,
                 long cycle) {
    sqlite3_stmt *s = st->dq_add;
    int ret = 0;
    if (sqlite3_bind_int64(s, 1, cycle) != SQLITE_OK ||
        bind_text(s, 2, source ? source : "") != SQLITE_OK ||
        bind_text(s, 3, metric ? metric : "") != SQLITE_OK ||
        bind_text(s, 4, reason ? reason : "") != SQLITE_OK ||
        sqlite3_bind_int64(s, 5, n) != SQLITE_OK) {
        ret = db_fail(st, "dq add: bind");
    } else if (sqlite3_step(s) != SQLITE_DONE) {
        ret = db_fail(st, "dq add");
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return ret;
}

int state_dq_each(state *st, long cycle,
                  int (*fn)(void *ud, const char *source, const char *metric, const char *reason,
                            long n),
                  void *ud) {
    sqlite3_stmt *s;
    /* cycle <= 0: the latest cycle that has counts. */
    if (prepare(st, "dq each",
                "SELECT source, metric, reason, n FROM dq"
                " WHERE cycle = CASE WHEN ?1 > 0 THEN ?1 ELSE (SELECT MAX(cycle) FROM dq) END"
                " ORDER BY source, metric, reason",
                &s))
        return -1;
    if (sqlite3_bind_int64(s, 1, cycle) != SQLITE_OK) {
        db_fail(st, "dq each: bind");
        sqlite3_finalize(s);
        return -1;
    }
    int rc, ret = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        if (fn(ud, col_text(s, 0), col_text(s, 1), col_text(s, 2),
               (long)sqlite3_column_int64(s, 3)) != 0)
            break;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) ret = db_fail(st, "dq each");
    sqlite3_finalize(s);
    return ret;
}

/* ---- cycles ---------------------------------------------------------------- */

int state_cycle_begin(state *st, long *cycle) {
    sqlite3_stmt *s;
    if (prepare(st, "cycle begin",
                "INSERT INTO cycles(id, started_at)"
                " SELECT COALESCE(MAX(id), 0) + 1, ?1 FROM cycles",
                &s))
        return -1;
    if (sqlite3_bind_int64(s, 1, now_seconds()) != SQLITE_OK) {
        db_fail(st, "cycle begin: bind");
        sqlite3_finalize(s);
        return -1;
    }
    if (step_done(st, "cycle begin", s) != 0) return -1;
    *cycle = (long)sqlite3_last_insert_rowid(st->db);
    return 0;
}

int state_cycle_end(state *st, long cycle, const char *summary_json) {
    sqlite3_stmt *s;
    if (prepare(st, "cycle end",
                "UPDATE cycles SET ended_at = ?1, summary_json = ?2 WHERE id = ?3", &s))
        return -1;
    if (sqlite3_bind_int64(s, 1, now_seconds()) != SQLITE_OK ||
        bind_text(s, 2, summary_json) != SQLITE_OK ||
        sqlite3_bind_int64(s, 3, cycle) != SQLITE_OK) {
        db_fail(st, "cycle end: bind");
        sqlite3_finalize(s);
        return -1;
    }
    if (step_done(st, "cycle end", s) != 0) return -1;
    if (sqlite3_changes(st->db) == 0) {
        gg_error("state", "cycle end: no cycle %ld", cycle);
        return -1;
    }
    return 0;
}

/* ---- alerts ---------------------------------------------------------------- */

static const char *link_name(link_conf l) {
    switch (l) {
    case LINK_HIGH: return "high";
    case LINK_LOW: return "low";
    default: return "none";
    }
}

static link_conf link_parse(const char *s) {
    if (s && strcmp(s, "high") == 0) return LINK_HIGH;
    if (s && strcmp(s, "low") == 0) return LINK_LOW;
    return LINK_NONE;
}

static int confidence_parse(const char *s, confidence *out) {
    for (int c = CONF_LOW; c <= CONF_HIGH; c++)
        if (s && strcmp(s, confidence_name((confidence)c)) == 0) {
            *out = (confidence)c;
            return 0;
        }
    return -1;
}

/* JSON value for an optional JSON text: the parsed value, or null for NULL.
 * Returns NULL (with *bad set) when the text does not parse. New reference. */
static json_t *json_of_text(const char *text, int *bad) {
    if (!text) return json_null();
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    if (!v) *bad = 1;
    return v;
}

/* periods_json text (malloc'd) for a's periods: ["2024-04", ...]. */
static char *periods_to_json(const alert *a) {
    json_t *arr = json_array();
    if (!arr) return NULL;
    for (size_t i = 0; i < a->nperiods; i++) {
        char buf[16];
        snprintf(buf, sizeof buf, "%04d-%02d", a->periods[i] / 100, a->periods[i] % 100);
        if (json_array_append_new(arr, json_string(buf)) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    char *s = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return s;
}

/* evidence_json text (malloc'd) for a's evidence, or NULL with a reason in err. */
static char *evidence_to_json(const alert *a, char *err, size_t errsz) {
    json_t *arr = json_array();
    if (!arr) {
        set_err(err, errsz, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < a->nev; i++) {
        const alert_evidence *e = &a->ev[i];
        int bad_raw = 0, bad_norm = 0;
        json_t *raw = json_of_text(e->raw_json, &bad_raw);
        json_t *fields = e->norm_json ? json_of_text(e->norm_json, &bad_norm) : json_object();
        if (bad_raw || bad_norm || !raw || !fields) {
            set_err(err, errsz, "evidence %zu (%s from %s): %s", i, e->kind ? e->kind : "?",
                    e->source ? e->source : "?",
                    bad_raw ? "raw_json does not parse" : bad_norm ? "norm_json does not parse"
                                                               : "out of memory");
            json_decref(raw);
            json_decref(fields);
            json_decref(arr);
            return NULL;
        }
        json_t *o = json_pack("{s:s?, s:s?, s:s?, s:s?, s:o, s:o, s:s}", "role", e->role,
                              "source", e->source, "kind", e->kind, "ref", e->ref, "raw", raw,
                              "fields", fields, "link", link_name(e->link));
        /* json_pack's "o" steals raw/fields even on failure. */
        if (!o || json_array_append_new(arr, o) != 0) {
            set_err(err, errsz, "evidence %zu: cannot build JSON", i);
            json_decref(arr);
            return NULL;
        }
    }
    char *s = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    if (!s) set_err(err, errsz, "out of memory");
    return s;
}

/* Compact JSON text of v (malloc'd), or NULL for JSON null / absent. *oom set on failure. */
static char *json_text_or_null(const json_t *v, int *oom) {
    if (!v || json_is_null(v)) return NULL;
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s) *oom = 1;
    return s;
}

static char *dup_or_null(const char *s, int *oom) {
    if (!s) return NULL;
    char *d = strdup(s);
    if (!d) *oom = 1;
    return d;
}

/* Fills a->ev from an evidence_json array text. 0 ok, -1 with reason in err. */
static int evidence_from_json(alert *a, const char *text, char *err, size_t errsz) {
    json_error_t jerr;
    json_t *arr = json_loads(text, 0, &jerr);
    if (!arr || !json_is_array(arr)) {
        set_err(err, errsz, "evidence_json is not an array (%s)", arr ? "wrong type" : jerr.text);
        json_decref(arr);
        return -1;
    }
    size_t n = json_array_size(arr);
    if (n > 0) {
        /* malloc'd like alert_add_evidence's array: alert_free() releases it. */
        a->ev = calloc(n, sizeof *a->ev);
        if (!a->ev) {
            set_err(err, errsz, "out of memory");
            json_decref(arr);
            return -1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(arr, i);
        alert_evidence *e = &a->ev[i];
        a->nev = i + 1; /* so alert_free() frees what was filled so far */
        if (!json_is_object(o)) {
            set_err(err, errsz, "evidence %zu is not an object", i);
            json_decref(arr);
            return -1;
        }
        int oom = 0;
        e->role = dup_or_null(json_string_value(json_object_get(o, "role")), &oom);
        e->source = dup_or_null(json_string_value(json_object_get(o, "source")), &oom);
        e->kind = dup_or_null(json_string_value(json_object_get(o, "kind")), &oom);
        e->ref = dup_or_null(json_string_value(json_object_get(o, "ref")), &oom);
        e->raw_json = json_text_or_null(json_object_get(o, "raw"), &oom);
        e->norm_json = json_text_or_null(json_object_get(o, "fields"), &oom);
        e->link = link_parse(json_string_value(json_object_get(o, "link")));
        if (oom) {
            set_err(err, errsz, "out of memory");
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
        set_err(err, errsz, "periods_json is not an array");
        json_decref(arr);
        return -1;
    }
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        int ym;
        const char *p = json_string_value(v);
        if (!p || conv_month(p, &ym) != 0) {
            set_err(err, errsz, "period %zu is not a month", i);
            json_decref(arr);
            return -1;
        }
        if (alert_add_period(a, ym) != 0) {
            set_err(err, errsz, "out of memory");
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
    const char *rule = col_text(s, 1), *subject = col_text(s, 2);
    memset(a, 0, sizeof *a);
    if (!rule || rule_parse(rule, &r) != 0) {
        set_err(err, errsz, "unknown rule '%s'", rule ? rule : "(null)");
        return -1;
    }
    alert_init(a, r, subject ? subject : "");
    snprintf(a->id, sizeof a->id, "%s", col_text(s, 0) ? col_text(s, 0) : "");
    snprintf(a->id_no, sizeof a->id_no, "%s", col_text(s, 3) ? col_text(s, 3) : "");
    int oom = 0;
    a->case_key = col_dup(s, 4, &oom);
    a->name = col_dup(s, 5, &oom);
    a->region = col_dup(s, 6, &oom);
    a->grid = col_dup(s, 7, &oom);
    a->amount = (int64_t)sqlite3_column_int64(s, 8);
    a->detail_json = col_dup(s, 11, &oom);
    if (oom || (subject && !a->subject)) {
        set_err(err, errsz, "out of memory");
        goto fail;
    }
    if (confidence_parse(col_text(s, 9), &a->conf) != 0) {
        set_err(err, errsz, "unknown confidence '%s'", col_text(s, 9) ? col_text(s, 9) : "");
        goto fail;
    }
    if (periods_from_json(a, col_text(s, 10) ? col_text(s, 10) : "[]", err, errsz) != 0)
        goto fail;
    if (evidence_from_json(a, col_text(s, 12) ? col_text(s, 12) : "[]", err, errsz) != 0)
        goto fail;
    snprintf(a->status, sizeof a->status, "%s", col_text(s, 13) ? col_text(s, 13) : "");
    a->version = sqlite3_column_int(s, 14);
    snprintf(a->fingerprint, sizeof a->fingerprint, "%s", col_text(s, 15) ? col_text(s, 15) : "");
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
    if (bind_text(s, 2, rule_name(a->rule)) != SQLITE_OK ||
        bind_text(s, 3, a->subject ? a->subject : "") != SQLITE_OK ||
        bind_text(s, 4, a->id_no) != SQLITE_OK || bind_text(s, 5, a->case_key) != SQLITE_OK ||
        bind_text(s, 6, a->name) != SQLITE_OK || bind_text(s, 7, a->region) != SQLITE_OK ||
        bind_text(s, 8, a->grid) != SQLITE_OK ||
        sqlite3_bind_int64(s, 9, a->amount) != SQLITE_OK ||
        bind_text(s, 10, confidence_name(a->conf)) != SQLITE_OK ||
        bind_text(s, 11, periods) != SQLITE_OK || bind_text(s, 12, a->detail_json) != SQLITE_OK ||
        bind_text(s, 13, evidence) != SQLITE_OK)
        return -1;
    return 0;
}

int state_alert_upsert(state *st, alert *a, alert_change *change) {
    alert_fingerprint(a);
    *change = ALERT_UNCHANGED;

    /* What is stored now? */
    sqlite3_stmt *s;
    if (prepare(st, "alert upsert: lookup",
                "SELECT fingerprint, status, version, first_seen, updated_at FROM alerts"
                " WHERE id = ?1",
                &s))
        return -1;
    if (bind_text(s, 1, a->id) != SQLITE_OK) {
        db_fail(st, "alert upsert: bind");
        sqlite3_finalize(s);
        return -1;
    }
    int rc = sqlite3_step(s);
    int exists = 0, old_version = 0;
    long long first_seen = 0, updated_at = 0;
    char old_fp[sizeof a->fingerprint] = "", old_status[sizeof a->status] = "";
    if (rc == SQLITE_ROW) {
        exists = 1;
        snprintf(old_fp, sizeof old_fp, "%s", col_text(s, 0) ? col_text(s, 0) : "");
        snprintf(old_status, sizeof old_status, "%s", col_text(s, 1) ? col_text(s, 1) : "");
        old_version = sqlite3_column_int(s, 2);
        first_seen = sqlite3_column_int64(s, 3);
        updated_at = sqlite3_column_int64(s, 4);
    } else if (rc != SQLITE_DONE) {
        db_fail(st, "alert upsert: lookup");
        sqlite3_finalize(s);
        return -1;
    }
    sqlite3_finalize(s);

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
    long long now = now_seconds();
    const char *sql =
        exists ? "UPDATE alerts SET rule = ?2, subject = ?3, id_no = ?4, case_key = ?5,"
                 " name = ?6, region = ?7, grid = ?8, amount = ?9, confidence = ?10,"
                 " periods_json = ?11, detail_json = ?12, evidence_json = ?13,"
                 " fingerprint = ?14, version = version + 1, status = 'new',"
                 " updated_at = ?15, status_at = ?15 WHERE id = ?1"
               : "INSERT INTO alerts(id, rule, subject, id_no, case_key, name, region, grid,"
                 " amount, confidence, periods_json, detail_json, evidence_json, fingerprint,"
                 " status, version, first_seen, updated_at, status_at) VALUES(?1, ?2, ?3, ?4,"
                 " ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, 'new', 1, ?15, ?15, ?15)";
    const char *op = exists ? "alert upsert: update" : "alert upsert: insert";
    int ret = -1;
    if (prepare(st, op, sql, &s) == 0) {
        if (bind_text(s, 1, a->id) != SQLITE_OK || bind_finding(s, a, periods, evidence) != 0 ||
            bind_text(s, 14, a->fingerprint) != SQLITE_OK ||
            sqlite3_bind_int64(s, 15, now) != SQLITE_OK) {
            db_fail(st, op);
            sqlite3_finalize(s);
        } else {
            ret = step_done(st, op, s);
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
    sqlite3_stmt *s;
    if (prepare(st, "alert get", "SELECT " ALERT_COLUMNS " FROM alerts WHERE id = ?1", &s))
        return -1;
    if (bind_text(s, 1, id) != SQLITE_OK) {
        db_fail(st, "alert get: bind");
        sqlite3_finalize(s);
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
        ret = db_fail(st, "alert get");
    }
    sqlite3_finalize(s);
    return ret;
}

int state_alerts_each(state *st, const char *rule, const char *status,
                      int (*fn)(void *ud, const alert *a), void *ud) {
    sqlite3_stmt *s;
    if (prepare(st, "alerts each",
                "SELECT " ALERT_COLUMNS " FROM alerts WHERE (?1 IS NULL OR rule = ?1)"
                " AND (?2 IS NULL OR status = ?2) ORDER BY id",
                &s))
        return -1;
    if (bind_text(s, 1, rule) != SQLITE_OK || bind_text(s, 2, status) != SQLITE_OK) {
        db_fail(st, "alerts each: bind");
        sqlite3_finalize(s);
        return -1;
    }
    int rc, ret = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        alert a;
        char err[256];
        if (alert_from_row(s, &a, err, sizeof err) != 0) {
            gg_error("state", "alerts each: stored alert %s is unreadable: %s",
                     col_text(s, 0) ? col_text(s, 0) : "?", err);
            ret = -1;
            break;
        }
        int stop = fn(ud, &a);
        alert_free(&a);
        if (stop) break;
    }
    if (ret == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE) ret = db_fail(st, "alerts each");
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
    sqlite3_stmt *s;
    if (prepare(st, "alert set status",
                verdict ? "UPDATE alerts SET status = ?2, status_at = ?3, verdict = ?2,"
                          " verdict_note = ?4 WHERE id = ?1"
                        : "UPDATE alerts SET status = ?2, status_at = ?3 WHERE id = ?1",
                &s))
        return -1;
    if (bind_text(s, 1, id) != SQLITE_OK || bind_text(s, 2, status) != SQLITE_OK ||
        sqlite3_bind_int64(s, 3, now_seconds()) != SQLITE_OK ||
        (verdict && bind_text(s, 4, note) != SQLITE_OK)) {
        db_fail(st, "alert set status: bind");
        sqlite3_finalize(s);
        return -1;
    }
    if (step_done(st, "alert set status", s) != 0) return -1;
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
        char *id = strdup(col_text(s, 0) ? col_text(s, 0) : "");
        if (!id) goto oom;
        (*ids)[(*n)++] = id;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return db_fail(st, op);
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

int state_alerts_open_each(state *st, int (*fn)(void *ud, const char *id), void *ud) {
    sqlite3_stmt *s;
    if (prepare(st, "alerts open",
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
    long long now = now_seconds();
    /* The fingerprint is cleared so that the same finding coming back counts
     * as changed evidence and reopens the alert. */
    if (prepare(st, "alert withdraw",
                "UPDATE alerts SET status = 'withdrawn', version = version + 1, fingerprint = '',"
                " status_at = ?2, updated_at = ?2 WHERE id = ?1 RETURNING version",
                &s))
        return -1;
    if (bind_text(s, 1, id) != SQLITE_OK || sqlite3_bind_int64(s, 2, now) != SQLITE_OK) {
        sqlite3_finalize(s);
        return db_fail(st, "alert withdraw: bind");
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
    if (rc != SQLITE_DONE) return db_fail(st, "alert withdraw");
    return 0;
}

int state_alerts_overdue(state *st, long long pushed_before, int (*fn)(void *ud, const char *id), void *ud) {
    sqlite3_stmt *s;
    if (prepare(st, "alerts overdue",
                "SELECT id FROM alerts WHERE status = 'pushed' AND status_at <= ?1 ORDER BY id", &s))
        return -1;
    if (sqlite3_bind_int64(s, 1, pushed_before) != SQLITE_OK) {
        sqlite3_finalize(s);
        return db_fail(st, "alerts overdue: bind");
    }
    char **ids;
    size_t n;
    if (collect_ids(st, "alerts overdue", s, &ids, &n)) return -1;
    int rc = 0;
    long long now = now_seconds();
    for (size_t i = 0; i < n && rc == 0; i++) {
        sqlite3_stmt *u;
        if (prepare(st, "alert overdue",
                    "UPDATE alerts SET status = 'overdue', version = version + 1, status_at = ?2 WHERE id = ?1",
                    &u)) {
            rc = -1;
            break;
        }
        if (bind_text(u, 1, ids[i]) != SQLITE_OK || sqlite3_bind_int64(u, 2, now) != SQLITE_OK) {
            sqlite3_finalize(u);
            rc = db_fail(st, "alert overdue: bind");
            break;
        }
        if (step_done(st, "alert overdue", u)) {
            rc = -1;
            break;
        }
        if (fn && fn(ud, ids[i]) < 0) rc = -1;
    }
    free_ids(ids, n);
    return rc;
}

/* ---- outbox ---------------------------------------------------------------- */

int state_outbox_enqueue(state *st, const char *alert_id, const char *sink, int version) {
    sqlite3_stmt *s;
    long long now = now_seconds();
    if (prepare(st, "outbox enqueue",
                "INSERT INTO outbox(alert_id, sink, version, status, attempts, next_attempt,"
                " created_at) VALUES(?1, ?2, ?3, 'pending', 0, ?4, ?4)"
                " ON CONFLICT(alert_id, sink, version) DO NOTHING",
                &s))
        return -1;
    if (bind_text(s, 1, alert_id) != SQLITE_OK || bind_text(s, 2, sink) != SQLITE_OK ||
        sqlite3_bind_int(s, 3, version) != SQLITE_OK ||
        sqlite3_bind_int64(s, 4, now) != SQLITE_OK) {
        db_fail(st, "outbox enqueue: bind");
        sqlite3_finalize(s);
        return -1;
    }
    return step_done(st, "outbox enqueue", s);
}

/* One outbox row copied out of SQLite, so callbacks can update the table. */
typedef struct outbox_copy {
    outbox_row row;
    char *alert_id, *sink, *last_error; /* owned */
} outbox_copy;

static void outbox_copies_free(outbox_copy *v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(v[i].alert_id);
        free(v[i].sink);
        free(v[i].last_error);
    }
    free(v);
}

int state_outbox_due(state *st, int (*fn)(void *ud, const outbox_row *r), void *ud) {
    sqlite3_stmt *s;
    if (prepare(st, "outbox due",
                "SELECT id, alert_id, sink, version, attempts, last_error FROM outbox"
                " WHERE status = 'pending' AND next_attempt <= ?1 ORDER BY id",
                &s))
        return -1;
    if (sqlite3_bind_int64(s, 1, now_seconds()) != SQLITE_OK) {
        db_fail(st, "outbox due: bind");
        sqlite3_finalize(s);
        return -1;
    }
    /* Collect first: the callback delivers (slowly) and then marks rows done
     * or failed, which must not run under an open read cursor. */
    outbox_copy *rows = NULL;
    size_t n = 0, cap = 0;
    int rc, ret = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            outbox_copy *nr = realloc(rows, ncap * sizeof *nr);
            if (!nr) {
                gg_error("state", "outbox due: out of memory");
                ret = -1;
                break;
            }
            rows = nr;
            cap = ncap;
        }
        outbox_copy *c = &rows[n++];
        int oom = 0;
        memset(c, 0, sizeof *c);
        c->alert_id = col_dup(s, 1, &oom);
        c->sink = col_dup(s, 2, &oom);
        c->last_error = col_dup(s, 5, &oom);
        c->row.id = (long)sqlite3_column_int64(s, 0);
        c->row.version = sqlite3_column_int(s, 3);
        c->row.attempts = sqlite3_column_int(s, 4);
        if (oom) {
            gg_error("state", "outbox due: out of memory");
            ret = -1;
            break;
        }
    }
    if (ret == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE) ret = db_fail(st, "outbox due");
    sqlite3_finalize(s);
    for (size_t i = 0; ret == 0 && i < n; i++) {
        rows[i].row.alert_id = rows[i].alert_id;
        rows[i].row.sink = rows[i].sink;
        rows[i].row.last_error = rows[i].last_error;
        if (fn(ud, &rows[i].row) != 0) break;
    }
    outbox_copies_free(rows, n);
    return ret;
}

int state_outbox_done(state *st, long id) {
    sqlite3_stmt *s;
    if (prepare(st, "outbox done",
                "UPDATE outbox SET status = 'done', done_at = ?2 WHERE id = ?1", &s))
        return -1;
    if (sqlite3_bind_int64(s, 1, id) != SQLITE_OK ||
        sqlite3_bind_int64(s, 2, now_seconds()) != SQLITE_OK) {
        db_fail(st, "outbox done: bind");
        sqlite3_finalize(s);
        return -1;
    }
    if (step_done(st, "outbox done", s) != 0) return -1;
    if (sqlite3_changes(st->db) == 0) {
        gg_error("state", "outbox done: no outbox row %ld", id);
        return -1;
    }
    return 0;
}

/* Length of the longest prefix of s of at most max bytes that does not split a
 * UTF-8 sequence. */
static size_t utf8_prefix_len(const char *s, size_t max) {
    size_t len = strlen(s);
    if (len <= max) return len;
    len = max;
    while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80) len--;
    return len;
}

int state_outbox_failed(state *st, long id, const char *error, long long next_attempt,
                        int max_attempts) {
    /* max_attempts <= 0: retry forever. */
    char *kept = NULL; /* owned: the error cut to OUTBOX_ERROR_MAX bytes */
    if (error) {
        size_t len = utf8_prefix_len(error, OUTBOX_ERROR_MAX);
        kept = malloc(len + 1);
        if (!kept) {
            gg_error("state", "outbox failed: out of memory");
            return -1;
        }
        memcpy(kept, error, len);
        kept[len] = '\0';
    }
    sqlite3_stmt *s;
    if (prepare(st, "outbox failed",
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_attempt = ?3,"
                " status = CASE WHEN ?4 > 0 AND attempts + 1 >= ?4 THEN 'dead' ELSE 'pending' END"
                " WHERE id = ?1",
                &s)) {
        free(kept);
        return -1;
    }
    int ret;
    if (sqlite3_bind_int64(s, 1, id) != SQLITE_OK || bind_text(s, 2, kept) != SQLITE_OK ||
        sqlite3_bind_int64(s, 3, next_attempt) != SQLITE_OK ||
        sqlite3_bind_int(s, 4, max_attempts) != SQLITE_OK) {
        ret = db_fail(st, "outbox failed: bind");
        sqlite3_finalize(s);
    } else {
        ret = step_done(st, "outbox failed", s);
        if (ret == 0 && sqlite3_changes(st->db) == 0) {
            gg_error("state", "outbox failed: no outbox row %ld", id);
            ret = -1;
        }
    }
    free(kept);
    return ret;
}

int state_outbox_pending_count(state *st, const char *alert_id, long *n) {
    sqlite3_stmt *s;
    *n = 0;
    if (prepare(st, "outbox pending count",
                "SELECT COUNT(*) FROM outbox WHERE status = 'pending'"
                " AND (?1 IS NULL OR alert_id = ?1)",
                &s))
        return -1;
    if (bind_text(s, 1, alert_id) != SQLITE_OK) {
        db_fail(st, "outbox pending count: bind");
        sqlite3_finalize(s);
        return -1;
    }
    int ret = 0;
    if (sqlite3_step(s) == SQLITE_ROW)
        *n = (long)sqlite3_column_int64(s, 0);
    else
        ret = db_fail(st, "outbox pending count");
    sqlite3_finalize(s);
    return ret;
}

int state_outbox_each(state *st, const char *status,
                      int (*fn)(void *ud, const outbox_row *r, const char *status), void *ud) {
    sqlite3_stmt *s;
    if (prepare(st, "outbox each",
                "SELECT id, alert_id, sink, version, attempts, last_error, status FROM outbox"
                " WHERE ?1 IS NULL OR status = ?1 ORDER BY id",
                &s))
        return -1;
    if (bind_text(s, 1, status) != SQLITE_OK) {
        db_fail(st, "outbox each: bind");
        sqlite3_finalize(s);
        return -1;
    }
    int rc, ret = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        outbox_row r = {
            .id = (long)sqlite3_column_int64(s, 0),
            .alert_id = col_text(s, 1),
            .sink = col_text(s, 2),
            .version = sqlite3_column_int(s, 3),
            .attempts = sqlite3_column_int(s, 4),
            .last_error = col_text(s, 5),
        };
        if (fn(ud, &r, col_text(s, 6)) != 0) break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) ret = db_fail(st, "outbox each");
    sqlite3_finalize(s);
    return ret;
}
