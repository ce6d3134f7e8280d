/* state.c - the embedded state store on SQLite (WAL): opening it, the schema
 * and its migrations, transactions and cycles. The tables are read and written
 * by facts.c, alerts.c, outbox.c, quarantine.c (with the data-quality counts)
 * and marks.c (watermarks and marks), which share state_internal.h.
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
#include "store/state_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The schema version this build writes and understands. */
#define STATE_SCHEMA_VERSION 4 /* 2: facts.name_norm; 3: marks; 4: facts.content_hash, dq, name_hash */
#define STR_(x) #x
#define STR(x) STR_(x)

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
    "CREATE TABLE IF NOT EXISTS marks("
    " scope TEXT NOT NULL,"
    " key TEXT NOT NULL,"
    " value TEXT,"
    " updated_at BIGINT NOT NULL,"
    " PRIMARY KEY(scope, key));"
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
    " content_hash BIGINT,"
    " dq INTEGER,"
    " name_hash BIGINT,"
    " PRIMARY KEY(source, kind, ref));"
    "CREATE INDEX IF NOT EXISTS facts_dq ON facts(dq) WHERE dq IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS facts_person_names ON facts(id_norm, name_hash, name_norm, kind) WHERE kind = 'person';" /* covering: kind too */
    "CREATE INDEX IF NOT EXISTS facts_case_key ON facts(case_key) WHERE case_key IS NOT NULL;"
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

/* Schema 2 -> 3: the marks that were stored as watermarks move to `marks`. */
static const char *const migrate_marks_sql =
    "INSERT INTO marks(scope, key, value, updated_at)"
    " SELECT source, stream, value, updated_at FROM watermarks"
    " WHERE stream LIKE 'verdict:%' OR stream LIKE '%#lookup';"
    "DELETE FROM watermarks WHERE stream LIKE 'verdict:%' OR stream LIKE '%#lookup';";

/* Schema 3 -> 4: content hash (NULL: rewritten when next seen), the person
 * conflict flag (set conservatively for every person stating a birth date;
 * the next read of the source sets it exactly) and name hash. */
static const char *const migrate_hash_sql =
    "ALTER TABLE facts ADD COLUMN content_hash BIGINT;"
    "ALTER TABLE facts ADD COLUMN dq INTEGER;"
    "ALTER TABLE facts ADD COLUMN name_hash BIGINT;"
    "DROP INDEX IF EXISTS facts_id_norm;"  /* persons: facts_person_names; nothing else asks by id */
    "DROP INDEX IF EXISTS facts_case_key;" /* re-created without the rows that have no case */
    "UPDATE facts SET dq = 1 WHERE kind = 'person' AND id_norm <> '' AND fields_json LIKE '%\"birth_date\"%';";

static const char *const fact_put_sql =
    "INSERT INTO facts(source, kind, ref, id_norm, case_key, fields_json, raw_json,"
    " first_cycle, last_cycle, name_norm, content_hash, dq, name_hash)"
    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10, ?11, ?12)"
    " ON CONFLICT(source, kind, ref) DO UPDATE SET id_norm = excluded.id_norm,"
    " case_key = excluded.case_key, fields_json = excluded.fields_json,"
    " raw_json = excluded.raw_json, last_cycle = excluded.last_cycle,"
    " name_norm = excluded.name_norm, content_hash = excluded.content_hash,"
    " dq = excluded.dq, name_hash = excluded.name_hash";

static const char *const person_name_sql =
    "SELECT COALESCE(SUM(name_norm = ?3), 0), COUNT(*), COALESCE(SUM(name_hash = ?2), 0)"
    " FROM facts INDEXED BY facts_person_names"
    " WHERE id_norm = ?1 AND kind = 'person' AND name_norm IS NOT NULL";

static const char *const fact_hash_sql =
    "SELECT content_hash FROM facts WHERE source = ?1 AND kind = ?2 AND ref = ?3";

static const char *const quarantine_add_sql =
    "INSERT INTO quarantine(source, stream, ref, reason, raw_json, first_cycle,"
    " last_cycle, count, at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?6, 1, ?7)"
    " ON CONFLICT(source, stream, ref, reason) DO UPDATE SET"
    " raw_json = excluded.raw_json, last_cycle = excluded.last_cycle,"
    " count = quarantine.count + 1, at = excluded.at";

static const char *const dq_add_sql =
    "INSERT INTO dq(cycle, source, metric, reason, n) VALUES(?1, ?2, ?3, ?4, ?5)"
    " ON CONFLICT(cycle, source, metric, reason) DO UPDATE SET n = dq.n + excluded.n";


/* ---- small helpers ------------------------------------------------------- */

long long now_seconds(void) { return (long long)time(NULL); }

void set_err(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void set_err(char *err, size_t errsz, const char *fmt, ...) {
    if (!err || errsz == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errsz, fmt, ap);
    va_end(ap);
}

/* Logs the connection's last error for operation `op`; returns -1. */
int db_fail(state *st, const char *op) {
    gg_error("state", "%s: %s", op, sqlite3_errmsg(st->db));
    return -1;
}

int prepare(state *st, const char *op, const char *sql, sqlite3_stmt **out) {
    *out = NULL;
    if (sqlite3_prepare_v2(st->db, sql, -1, out, NULL) != SQLITE_OK) return db_fail(st, op);
    return 0;
}

/* Binds a borrowed string (valid until the statement is reset), or NULL. */
int bind_text(sqlite3_stmt *s, int idx, const char *v) {
    return v ? sqlite3_bind_text(s, idx, v, -1, SQLITE_STATIC) : sqlite3_bind_null(s, idx);
}

/* Column text as a C string, NULL for SQL NULL. Borrowed until the next step. */
const char *col_text(sqlite3_stmt *s, int i) {
    return (const char *)sqlite3_column_text(s, i);
}

/* malloc'd copy of a column, NULL for SQL NULL; sets *oom on allocation failure. */
char *col_dup(sqlite3_stmt *s, int i, int *oom) {
    const char *v = col_text(s, i);
    if (!v) return NULL;
    char *d = strdup(v);
    if (!d) *oom = 1;
    return d;
}

/* Runs a statement that returns no rows (or whose rows are ignored). */
int exec_sql(state *st, const char *op, const char *sql) {
    char *msg = NULL;
    if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        gg_error("state", "%s: %s", op, msg ? msg : sqlite3_errmsg(st->db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

/* Steps a prepared one-shot statement to completion and finalizes it. */
int step_done(state *st, const char *op, sqlite3_stmt *s) {
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
/* 1 when the facts table has column `col` (a migration half-applied by hand
 * or by a test is not applied twice). */
static int facts_have_column(state *st, const char *col) {
    sqlite3_stmt *s = NULL;
    int has = 0;
    if (sqlite3_prepare_v2(st->db, "SELECT 1 FROM pragma_table_info('facts') WHERE name = ?1", -1, &s, NULL) ==
            SQLITE_OK &&
        sqlite3_bind_text(s, 1, col, -1, SQLITE_STATIC) == SQLITE_OK)
        has = sqlite3_step(s) == SQLITE_ROW;
    sqlite3_finalize(s);
    return has;
}

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
    if (version >= 1 && version < 4 && !facts_have_column(st, "content_hash") &&
        sqlite3_exec(st->db, migrate_hash_sql, NULL, NULL, &msg) != SQLITE_OK) {
        set_err(err, errsz, "state %s: migrate schema 3 -> 4: %s", path, msg ? msg : sqlite3_errmsg(st->db));
        sqlite3_free(msg);
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    if (sqlite3_exec(st->db, schema_sql, NULL, NULL, &msg) != SQLITE_OK) {
        set_err(err, errsz, "state %s: create schema: %s", path,
                msg ? msg : sqlite3_errmsg(st->db));
        sqlite3_free(msg);
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    /* 2 -> 3: verdict marks ("verdict:<alert id>") and lookup marks
     * ("<stream>#lookup") were kept as watermarks of their source; they move
     * to the marks table, scope = that source, key as it was. */
    if (version >= 1 && version < 3 && sqlite3_exec(st->db, migrate_marks_sql, NULL, NULL, &msg) != SQLITE_OK) {
        set_err(err, errsz, "state %s: migrate schema 2 -> 3: %s", path, msg ? msg : sqlite3_errmsg(st->db));
        sqlite3_free(msg);
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    if (sqlite3_exec(st->db,
                     "INSERT INTO meta(key, value) VALUES('schema_version', '" STR(STATE_SCHEMA_VERSION) "')"
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
    sqlite3_finalize(st->fact_hash);
    sqlite3_finalize(st->person_name);
    sqlite3_finalize(st->quarantine_add);
    sqlite3_finalize(st->dq_add);
    st->fact_put = st->fact_hash = st->person_name = st->quarantine_add = st->dq_add = NULL;
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
                     "PRAGMA cache_size = -65536;" /* 64 MiB: the per-row hash and person lookups */
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
        sqlite3_prepare_v2(st->db, fact_hash_sql, -1, &st->fact_hash, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(st->db, person_name_sql, -1, &st->person_name, NULL) != SQLITE_OK ||
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
