/* state.c - the embedded state store on SQLite (WAL; a new store's first
 * pulls with a rollback journal, state_open_flags): opening it, the schema
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

#include "core/hash.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The schema version this build writes and understands. */
#define STATE_SCHEMA_VERSION 11 /* 2: facts.name_norm; 3: marks; 4: quarantine.kind; 5: audit;
                                  6: facts.content_hash, dq, name_hash;
                                  7: facts.fields (binary, model/factcodec.h) for
                                     fields_json, key (kind, source, ref), no facts_kind;
                                  8: interest (the stored subjects of interest);
                                  9: row_memo (app/pull.h), facts_hash;
                                  10: touched, low_links (store/touched.c), facts_id, facts_no_id
                                      (facts_subject in their place since), person_gen
                                      (store/register.c);
                                  11: fact_hash_sets for facts_hash (store/facts.c),
                                      alerts.explanation */
#define STR_(x) #x
#define STR(x) STR_(x)

/* The facts (schema 7): `fields` holds the fields in the binary form of
 * model/factcodec.h; raw_json the source's own values (evidence). The key
 * leads with kind, so it serves the by-kind reads and the (source, kind)
 * counts, prunes and hash lookups alike (a rowid table: rows are ~600 bytes). */
#define FACTS_TABLE_SQL(name)                                                                                  \
    "CREATE TABLE IF NOT EXISTS " name "("                                                                     \
    " source TEXT NOT NULL,"                                                                                   \
    " kind TEXT NOT NULL,"                                                                                     \
    " ref TEXT NOT NULL,"                                                                                      \
    " id_norm TEXT NOT NULL DEFAULT '',"                                                                       \
    " case_key TEXT,"                                                                                          \
    " fields BLOB NOT NULL,"                                                                                   \
    " raw_json TEXT,"                                                                                          \
    " first_cycle BIGINT NOT NULL,"                                                                            \
    " last_cycle BIGINT NOT NULL,"                                                                             \
    " name_norm TEXT,"                                                                                         \
    " content_hash BIGINT,"                                                                                    \
    " dq INTEGER,"                                                                                             \
    " name_hash BIGINT,"                                                                                       \
    " PRIMARY KEY(kind, source, ref));"

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
    /* Schema 8: the subjects of interest of the last cycle that built them
     * (kind 0: an id, 1: a case key; state_interest_replace). A new table,
     * created as is on older stores. */
    "CREATE TABLE IF NOT EXISTS interest("
    " kind INTEGER NOT NULL,"
    " key TEXT NOT NULL,"
    " PRIMARY KEY(kind, key)) WITHOUT ROWID;"
    /* Schema 9: per stream, the row memo of its last pull (app/pull.h), 64-bit
     * words in parts, under the token of what they depend on
     * (state_row_memo_append). A new table, created as is. */
    "CREATE TABLE IF NOT EXISTS row_memo("
    " source TEXT NOT NULL,"
    " stream TEXT NOT NULL,"
    " part INTEGER NOT NULL,"
    " token BIGINT NOT NULL,"
    " words BLOB NOT NULL,"
    " PRIMARY KEY(source, stream, part));"
    FACTS_TABLE_SQL("facts")
    "CREATE INDEX IF NOT EXISTS facts_dq ON facts(dq) WHERE dq IS NOT NULL;"
    FACTS_PERSON_NAMES_SQL /* covering: kind too */
    "CREATE INDEX IF NOT EXISTS facts_case_key ON facts(case_key) WHERE case_key IS NOT NULL;"
    /* Schema 11: per (source, kind), the ref and content hashes of its
     * stored facts as the last complete pull left them, 16 bytes a fact in
     * parts (store/facts.c: state_fact_hash_set_put; dropped by any write to
     * the facts of that source and kind). In place of the facts_hash index
     * of schema 9, which is dropped. */
    "CREATE TABLE IF NOT EXISTS fact_hash_sets("
    " source TEXT NOT NULL,"
    " kind TEXT NOT NULL,"
    " part INTEGER NOT NULL,"
    " words BLOB NOT NULL,"
    " PRIMARY KEY(source, kind, part));"
    /* Schema 10: the touched log and what a match of the subjects it names
     * reads (store/touched.c; its indexes come with the log). New, created
     * as is. */
    "CREATE TABLE IF NOT EXISTS touched(key TEXT PRIMARY KEY) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS low_links(key TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY(key, id)) WITHOUT ROWID;"
    /* the generation of the persons, under which the register cache beside
     * the store is written (store/register.c) */
    "CREATE TABLE IF NOT EXISTS person_gen(id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO person_gen(id, n) VALUES (1, abs(random() % 4611686018427387904));"
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
    " kind TEXT NOT NULL DEFAULT 'rejected',"
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
    " status_at BIGINT NOT NULL,"
    " explanation TEXT);" /* schema 11: of this version (state_alert_explanation_set) */
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

/* Schema 4: the audit log (store/audit.c), append-only: triggers refuse
 * UPDATE and DELETE. Created as is on older stores (a new table). */
static const char *const audit_schema_sql =
    "CREATE TABLE IF NOT EXISTS audit("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, at BIGINT NOT NULL, kind TEXT NOT NULL, actor TEXT NOT NULL,"
    " source TEXT, stream TEXT, rows BIGINT, adapter_hash TEXT, alert_id TEXT, sink TEXT, version INTEGER,"
    " result TEXT, detail TEXT);"
    "CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit"
    " BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
    "CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit"
    " BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;";

/* Schema 2 -> 3: the marks that were stored as watermarks move to `marks`. */
static const char *const migrate_marks_sql =
    "INSERT INTO marks(scope, key, value, updated_at)"
    " SELECT source, stream, value, updated_at FROM watermarks"
    " WHERE stream LIKE 'verdict:%' OR stream LIKE '%#lookup';"
    "DELETE FROM watermarks WHERE stream LIKE 'verdict:%' OR stream LIKE '%#lookup';";

/* 3 -> 4: the quarantine says which kind each row is (state.h); rows with an
 * invalid id were stored with the reason "invalid id_no: ...". */
static const char *const migrate_quarantine_kind_sql =
    "ALTER TABLE quarantine ADD COLUMN kind TEXT NOT NULL DEFAULT 'rejected';"
    "UPDATE quarantine SET kind = 'invalid_id' WHERE reason LIKE 'invalid id_no:%';";

/* 5 -> 6 (from any older schema): content hash (NULL: rewritten when next seen), the person
 * conflict flag (set conservatively for every person stating a birth date;
 * the next read of the source sets it exactly) and name hash. */
static const char *const migrate_hash_sql =
    "ALTER TABLE facts ADD COLUMN content_hash BIGINT;"
    "ALTER TABLE facts ADD COLUMN dq INTEGER;"
    "ALTER TABLE facts ADD COLUMN name_hash BIGINT;"
    "DROP INDEX IF EXISTS facts_id_norm;"  /* persons: facts_person_names; nothing else asks by id */
    "DROP INDEX IF EXISTS facts_case_key;" /* re-created without the rows that have no case */
    "UPDATE facts SET dq = 1 WHERE kind = 'person' AND id_norm <> '' AND fields_json LIKE '%\"birth_date\"%';";

/* 6 -> 7 (after 5 -> 6): the facts move to a table keyed (kind, source, ref)
 * with their fields converted from JSON to the binary form by
 * gg_fields_blob() (facts.c; a damaged row fails the migration, which then
 * changes nothing); dropping the old table drops facts_kind, and schema_sql
 * re-creates the other indexes. Content hashes are kept: they hash the fact,
 * not its encoding, so an unchanged record is still not rewritten. */
static const char *const migrate_fields_sql =
    "DROP TABLE IF EXISTS facts_v7;"
    FACTS_TABLE_SQL("facts_v7")
    "INSERT INTO facts_v7(source, kind, ref, id_norm, case_key, fields, raw_json, first_cycle, last_cycle,"
    " name_norm, content_hash, dq, name_hash)"
    " SELECT source, kind, ref, id_norm, case_key, gg_fields_blob(kind, fields_json), raw_json, first_cycle,"
    " last_cycle, name_norm, content_hash, dq, name_hash FROM facts ORDER BY kind, source, ref;"
    "DROP TABLE facts;"
    "ALTER TABLE facts_v7 RENAME TO facts;";

static const char *const fact_put_sql =
    "INSERT INTO facts(source, kind, ref, id_norm, case_key, fields, raw_json,"
    " first_cycle, last_cycle, name_norm, content_hash, dq, name_hash)"
    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10, ?11, ?12)"
    " ON CONFLICT(kind, source, ref) DO UPDATE SET id_norm = excluded.id_norm,"
    " case_key = excluded.case_key, fields = excluded.fields,"
    " raw_json = excluded.raw_json, last_cycle = excluded.last_cycle,"
    " name_norm = excluded.name_norm, content_hash = excluded.content_hash,"
    " dq = excluded.dq, name_hash = excluded.name_hash";

/* state_fact_put_stored: the same parameters as fact_put_sql; the columns an
 * index reads are compared, not set. */
static const char *const fact_upd_sql =
    "UPDATE facts SET fields = ?6, raw_json = ?7, last_cycle = ?8, content_hash = ?10"
    " WHERE kind = ?2 AND source = ?1 AND ref = ?3 AND id_norm = ?4 AND case_key IS ?5"
    " AND name_norm IS ?9 AND dq IS ?11 AND name_hash IS ?12";

static const char *const person_name_sql =
    "SELECT COALESCE(SUM(name_norm = ?3), 0), COUNT(*), COALESCE(SUM(name_hash = ?2), 0)"
    " FROM facts INDEXED BY facts_person_names"
    " WHERE id_norm = ?1 AND kind = 'person' AND name_norm IS NOT NULL";

static const char *const fact_hash_sql =
    "SELECT content_hash FROM facts WHERE source = ?1 AND kind = ?2 AND ref = ?3";

static const char *const fact_raw_sql =
    "SELECT raw_json FROM facts WHERE source = ?1 AND kind = ?2 AND ref = ?3";

static const char *const quarantine_add_sql =
    "INSERT INTO quarantine(source, stream, ref, reason, raw_json, first_cycle,"
    " last_cycle, count, at, kind) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?6, 1, ?7, ?8)"
    " ON CONFLICT(source, stream, ref, reason) DO UPDATE SET"
    " raw_json = excluded.raw_json, last_cycle = excluded.last_cycle,"
    " count = quarantine.count + 1, at = excluded.at, kind = excluded.kind";

static const char *const dq_add_sql =
    "INSERT INTO dq(cycle, source, metric, reason, n) VALUES(?1, ?2, ?3, ?4, ?5)"
    " ON CONFLICT(cycle, source, metric, reason) DO UPDATE SET n = dq.n + excluded.n";


/* ---- small helpers ------------------------------------------------------- */

/* Logs the connection's last error for operation `op`; returns -1. */
int st_db_fail(state *st, const char *op) {
    gg_error("state", "%s: %s", op, sqlite3_errmsg(st->db));
    return -1;
}

int st_prepare(state *st, const char *op, const char *sql, sqlite3_stmt **out) {
    *out = NULL;
    if (sqlite3_prepare_v2(st->db, sql, -1, out, NULL) != SQLITE_OK) return st_db_fail(st, op);
    return 0;
}

/* Binds a borrowed string (valid until the statement is reset), or NULL. */
int st_bind_text(sqlite3_stmt *s, int idx, const char *v) {
    return v ? sqlite3_bind_text(s, idx, v, -1, SQLITE_STATIC) : sqlite3_bind_null(s, idx);
}

/* Column text as a C string, NULL for SQL NULL. Borrowed until the next step. */
const char *st_col_text(sqlite3_stmt *s, int i) {
    return (const char *)sqlite3_column_text(s, i);
}

/* malloc'd copy of a column, NULL for SQL NULL; sets *oom on allocation failure. */
char *st_col_dup(sqlite3_stmt *s, int i, int *oom) {
    const char *v = st_col_text(s, i);
    if (!v) return NULL;
    char *d = strdup(v);
    if (!d) *oom = 1;
    return d;
}

/* Runs a statement that returns no rows (or whose rows are ignored). */
int st_exec_sql(state *st, const char *op, const char *sql) {
    char *msg = NULL;
    if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        gg_error("state", "%s: %s", op, msg ? msg : sqlite3_errmsg(st->db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

int st_exec_index_build(sqlite3 *db, const char *op, const char *create_sql, int cache_kib) {
    char *msg = NULL;
    int rc = sqlite3_exec(db, "PRAGMA cache_size = -" STR(ST_SORT_CACHE_KIB), NULL, NULL, &msg);
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, create_sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) gg_error("state", "%s: %s", op, msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    /* the connection's own size again, whatever became of the build */
    char back[64];
    snprintf(back, sizeof back, "PRAGMA cache_size = -%d", cache_kib);
    if (sqlite3_exec(db, back, NULL, NULL, NULL) != SQLITE_OK)
        gg_warn("state", "%s: cannot set the page cache back to %d KiB: %s", op, cache_kib, sqlite3_errmsg(db));
    return rc == SQLITE_OK ? 0 : -1;
}

sqlite3_stmt *st_kept(state *st, const char *op, const char *sql) {
    size_t i = 0;
    for (; i < ST_KEPT_MAX && st->kept[i].sql; i++)
        if (st->kept[i].sql == sql) return st->kept[i].s;
    if (i == ST_KEPT_MAX) {
        gg_error("state", "%s: more than %d statements kept prepared (ST_KEPT_MAX)", op, ST_KEPT_MAX);
        return NULL;
    }
    sqlite3_stmt *s;
    if (st_prepare(st, op, sql, &s)) return NULL;
    st->kept[i].sql = sql;
    st->kept[i].s = s;
    return s;
}

void st_kept_done(sqlite3_stmt *s) {
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

int st_kept_step_done(state *st, const char *op, sqlite3_stmt *s) {
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE) st_db_fail(st, op);
    st_kept_done(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Steps a prepared one-shot statement to completion and finalizes it. */
int st_step_done(state *st, const char *op, sqlite3_stmt *s) {
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE) {
        st_db_fail(st, op);
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
        gg_set_err(err, errsz, "read schema version: %s", sqlite3_errmsg(st->db));
        return -1;
    }
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const char *v = st_col_text(s, 0);
        char *end = NULL;
        errno = 0;
        long n = v ? strtol(v, &end, 10) : 0;
        if (!v || errno || end == v || *end || n <= 0) {
            gg_set_err(err, errsz, "schema_version '%s' in meta is not a positive integer",
                    v ? v : "(null)");
            sqlite3_finalize(s);
            return -1;
        }
        *version = n;
    } else if (rc != SQLITE_DONE) {
        gg_set_err(err, errsz, "read schema version: %s", sqlite3_errmsg(st->db));
        sqlite3_finalize(s);
        return -1;
    }
    sqlite3_finalize(s);
    return 0;
}

/* 1 when table has the column (a table created by this build's schema
 * already has it; one from an older build needs the migration). */
static int has_column(state *st, const char *table, const char *column) {
    sqlite3_stmt *s = NULL;
    int found = 0;
    if (sqlite3_prepare_v2(st->db, "SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2", -1, &s, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_text(s, 1, table, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, column, -1, SQLITE_STATIC);
        found = sqlite3_step(s) == SQLITE_ROW;
    }
    sqlite3_finalize(s);
    return found;
}

/* The fact change counters (state_facts_changes, state_facts_identity_changes)
 * live in a TEMP table, so nothing is added to the file's schema, and move in
 * the writing transaction: a rolled-back write un-counts. An upsert that
 * rewrites a fact as it was (only last_cycle moves) does not count. `ident`
 * counts the changes of the small side that the subjects of interest and the
 * register's names derive from: every insert or delete of a fact other than a
 * payment or income, every update of one but a person's whose normalized id,
 * folded name, name hash and conflict flag stay as they were (a resident who
 * moved). A person without a valid id is neither in the register nor a
 * link's target (those are keyed by the id), so only its id becoming valid
 * counts.
 *
 * Inserts and updates are counted by the writer (store/facts.c, fact_store),
 * not by triggers: a trigger on facts makes SQLite keep a statement journal
 * for every write, and with 16 KiB pages each write's four or five pages went
 * to a temporary file. Deletes (prunes, a few statements for many rows) keep
 * their TEMP triggers. IDENT_KIND_SQL(r) is 1 for a kind of row r that counts
 * for identity. */
#define IDENT_KIND_SQL(r) "(" r ".kind NOT IN ('payment','income'))"
static const char *const fact_changes_sql =
    "CREATE TEMP TABLE IF NOT EXISTS fact_changes(n INTEGER NOT NULL, ident INTEGER NOT NULL DEFAULT 0);"
    "INSERT INTO fact_changes(n, ident) SELECT 0, 0 WHERE NOT EXISTS (SELECT 1 FROM fact_changes);"
    "CREATE TEMP TRIGGER IF NOT EXISTS facts_changed_del AFTER DELETE ON main.facts"
    " BEGIN UPDATE fact_changes SET n = n + 1, ident = ident + " IDENT_KIND_SQL("old") "; END;"
    /* the persons' generation (store/register.c), in the main database */
    "CREATE TEMP TRIGGER IF NOT EXISTS persons_gen_del AFTER DELETE ON main.facts WHEN old.kind = 'person'"
    " BEGIN UPDATE person_gen SET n = n + 1 WHERE id = 1; END;";

/* What fact_store reads of a stored fact before it writes it again (the
 * parameters of fact_put_sql): whether its content, its keys in the touched
 * log, its identity as a person and its names stay the same. */
static const char *const fact_old_sql =
    "SELECT content_hash IS ?10 AND id_norm IS ?4 AND case_key IS ?5 AND name_norm IS ?9,"
    " id_norm IS ?4 AND case_key IS ?5 AND name_norm IS ?9,"
    " id_norm IS ?4 AND name_norm IS ?9 AND name_hash IS ?12 AND dq IS ?11,"
    " id_norm IS ?4 AND name_norm IS ?9 AND name_hash IS ?12"
    " FROM facts WHERE kind = ?2 AND source = ?1 AND ref = ?3";

/* A change counted: ?1 for identity too (fact_changes_sql). */
static const char *const changes_add_sql = "UPDATE temp.fact_changes SET n = n + 1, ident = ident + ?1";

long st_query_long(state *st, const char *op, const char *sql) {
    sqlite3_stmt *s;
    if (st_prepare(st, op, sql, &s)) return -1;
    long n = -1;
    if (sqlite3_step(s) == SQLITE_ROW)
        n = (long)sqlite3_column_int64(s, 0);
    else
        st_db_fail(st, op);
    sqlite3_finalize(s);
    return n;
}

int st_text_pairs_each(state *st, const char *op, const char *sql,
                       int (*fn)(void *ud, const char *a, const char *b), void *ud) {
    sqlite3_stmt *s;
    if (st_prepare(st, op, sql, &s)) return -1;
    int rc, ret = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *a = st_col_text(s, 0), *b = st_col_text(s, 1);
        if (a && b && (ret = fn(ud, a, b)) != 0) break;
    }
    if (ret == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE) ret = st_db_fail(st, op);
    sqlite3_finalize(s);
    return ret < 0 ? -1 : ret;
}

long state_facts_changes(state *st) { return st_query_long(st, "fact changes", "SELECT n FROM temp.fact_changes"); }

long state_facts_identity_changes(state *st) {
    return st_query_long(st, "fact changes", "SELECT ident FROM temp.fact_changes");
}

/* The digest of this build's schema text (hex, 16 digits), kept in meta
 * next to the version: a build whose schema text differs (an object added
 * without a new version) goes through setup_schema's write transaction once. */
static void schema_digest(char out[17]) {
    uint64_t h = fnv1a64_str(GG_FNV_OFFSET, schema_sql);
    h = fnv1a64_str(h, audit_schema_sql);
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* 1 when the store's schema is this build's: meta holds this version and
 * this digest. One read statement, no write lock: in WAL mode it never waits
 * for a writer, so a command opened while the daemon is inside a long write
 * transaction goes on at once (the write transaction of setup_schema waited
 * for the writer up to busy_timeout and then failed "database is locked").
 * Every schema object of a current store exists: setup_schema creates them
 * all before it writes the digest, and the only drop of one (the persons'
 * indexes in a first load, store/facts.c) is rebuilt in the same
 * transaction. 0 on anything else, errors included (the write path then
 * reports them). */
static int schema_is_current(state *st) {
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT (SELECT value FROM meta WHERE key = 'schema_version'),"
                           " (SELECT value FROM meta WHERE key = 'schema_digest')",
                           -1, &s, NULL) != SQLITE_OK) {
        sqlite3_finalize(s); /* no meta table yet: a new store */
        return 0;
    }
    char digest[17];
    schema_digest(digest);
    int current = 0;
    if (sqlite3_step(s) == SQLITE_ROW) {
        const char *v = st_col_text(s, 0), *d = st_col_text(s, 1);
        current = v && d && !strcmp(v, STR(STATE_SCHEMA_VERSION)) && !strcmp(d, digest);
    }
    sqlite3_finalize(s);
    return current;
}

/* Creates or checks the schema inside one transaction; *converted is set
 * when the facts were converted to schema 7 (the caller vacuums). A store
 * whose schema is current is only read (schema_is_current). */
static int setup_schema(state *st, const char *path, int *converted, char *err, size_t errsz) {
    char *msg = NULL;
    if (schema_is_current(st)) return 0;
    if (sqlite3_exec(st->db,
                     "BEGIN IMMEDIATE;"
                     "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);",
                     NULL, NULL, &msg) != SQLITE_OK) {
        gg_set_err(err, errsz, "state %s: create meta table: %s", path,
                msg ? msg : sqlite3_errmsg(st->db));
        sqlite3_free(msg);
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    long version = 0;
    char verr[256];
    if (read_schema_version(st, &version, verr, sizeof verr) != 0) {
        gg_set_err(err, errsz, "state %s: %s", path, verr);
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    if (version > STATE_SCHEMA_VERSION) {
        gg_set_err(err, errsz,
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
        gg_set_err(err, errsz, "state %s: migrate schema 1 -> 2: %s", path, msg ? msg : sqlite3_errmsg(st->db));
        sqlite3_free(msg);
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    /* 5 -> 6 before schema_sql, whose indexes name the new columns. */
    if (version >= 1 && version < 6 && !has_column(st, "facts", "content_hash") &&
        sqlite3_exec(st->db, migrate_hash_sql, NULL, NULL, &msg) != SQLITE_OK) {
        gg_set_err(err, errsz, "state %s: migrate schema 5 -> 6: %s", path, msg ? msg : sqlite3_errmsg(st->db));
        sqlite3_free(msg);
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    /* 6 -> 7 before schema_sql, whose facts table is the new one. */
    if (version >= 1 && version < 7 && has_column(st, "facts", "fields_json")) {
        if (sqlite3_create_function(st->db, "gg_fields_blob", 2, SQLITE_UTF8, NULL, st_sql_fields_blob, NULL,
                                    NULL) != SQLITE_OK ||
            sqlite3_exec(st->db, migrate_fields_sql, NULL, NULL, &msg) != SQLITE_OK) {
            gg_set_err(err, errsz, "state %s: migrate schema 6 -> 7: %s", path, msg ? msg : sqlite3_errmsg(st->db));
            sqlite3_free(msg);
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
        *converted = 1;
    }
    if (sqlite3_exec(st->db, schema_sql, NULL, NULL, &msg) != SQLITE_OK) {
        gg_set_err(err, errsz, "state %s: create schema: %s", path,
                msg ? msg : sqlite3_errmsg(st->db));
        sqlite3_free(msg);
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    /* 2 -> 3: verdict marks ("verdict:<alert id>") and lookup marks
     * ("<stream>#lookup") were kept as watermarks of their source; they move
     * to the marks table, scope = that source, key as it was. */
    if (version >= 1 && version < 3 && sqlite3_exec(st->db, migrate_marks_sql, NULL, NULL, &msg) != SQLITE_OK) {
        gg_set_err(err, errsz, "state %s: migrate schema 2 -> 3: %s", path, msg ? msg : sqlite3_errmsg(st->db));
        sqlite3_free(msg);
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    if (version >= 1 && version < 4 && !has_column(st, "quarantine", "kind") &&
        sqlite3_exec(st->db, migrate_quarantine_kind_sql, NULL, NULL, &msg) != SQLITE_OK) {
        gg_set_err(err, errsz, "state %s: migrate schema 3 -> 4: %s", path, msg ? msg : sqlite3_errmsg(st->db));
        sqlite3_free(msg);
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    /* 10 -> 11: the alerts' explanations (NULL for the alerts stored
     * before: made when delivered, as then). */
    if (version >= 1 && version < 11 && has_column(st, "alerts", "id") && !has_column(st, "alerts", "explanation") &&
        sqlite3_exec(st->db, "ALTER TABLE alerts ADD COLUMN explanation TEXT", NULL, NULL, &msg) != SQLITE_OK) {
        gg_set_err(err, errsz, "state %s: migrate schema 10 -> 11: %s", path, msg ? msg : sqlite3_errmsg(st->db));
        sqlite3_free(msg);
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    /* 10 -> 11: facts_hash gives way to fact_hash_sets (empty: the first
     * complete pull of each source and kind writes its set). */
    if (version >= 1 && version < 11 &&
        sqlite3_exec(st->db, "DROP INDEX IF EXISTS facts_hash", NULL, NULL, &msg) != SQLITE_OK) {
        gg_set_err(err, errsz, "state %s: migrate schema 10 -> 11: %s", path, msg ? msg : sqlite3_errmsg(st->db));
        sqlite3_free(msg);
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    if (sqlite3_exec(st->db, audit_schema_sql, NULL, NULL, &msg) != SQLITE_OK) {
        gg_set_err(err, errsz, "state %s: create the audit table (schema 5): %s", path,
                msg ? msg : sqlite3_errmsg(st->db));
        sqlite3_free(msg);
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    char digest[17], meta_sql[256];
    schema_digest(digest);
    snprintf(meta_sql, sizeof meta_sql,
             "INSERT INTO meta(key, value) VALUES('schema_version', '" STR(STATE_SCHEMA_VERSION) "'),"
             " ('schema_digest', '%s')"
             " ON CONFLICT(key) DO UPDATE SET value = excluded.value;"
             "COMMIT;",
             digest);
    if (sqlite3_exec(st->db, meta_sql, NULL, NULL, &msg) != SQLITE_OK) {
        gg_set_err(err, errsz, "state %s: create schema: %s", path,
                msg ? msg : sqlite3_errmsg(st->db));
        sqlite3_free(msg);
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

static void state_finalize_cached(state *st) {
    sqlite3_finalize(st->fact_put);
    sqlite3_finalize(st->fact_upd);
    sqlite3_finalize(st->fact_old);
    sqlite3_finalize(st->changes_add);
    sqlite3_finalize(st->touch_add);
    sqlite3_finalize(st->touch_old);
    st->fact_old = st->changes_add = st->touch_add = st->touch_old = NULL;
    st->fact_upd = NULL;
    sqlite3_finalize(st->fact_hash);
    sqlite3_finalize(st->fact_raw);
    sqlite3_finalize(st->person_name);
    sqlite3_finalize(st->case_ids);
    sqlite3_finalize(st->case_no_id);
    st->case_ids = st->case_no_id = NULL;
    sqlite3_finalize(st->quarantine_add);
    sqlite3_finalize(st->dq_add);
    st->fact_put = st->fact_hash = st->fact_raw = st->person_name = st->quarantine_add = st->dq_add = NULL;
    for (size_t i = 0; i < ST_KEPT_MAX; i++) sqlite3_finalize(st->kept[i].s);
    memset(st->kept, 0, sizeof st->kept);
    fact_blob_free(&st->fields_buf);
}

/* The state store holds every department's ids and names: the database file
 * is created 0600 whatever the umask (SQLite gives its -wal and -shm files
 * the database file's mode), and an existing store or -wal/-shm file that
 * others can read is narrowed to 0600. Not for ":memory:" or URI names. */
static int make_private(const char *path, int *empty, char *err, size_t errsz) {
    *empty = 0;
    if (!strcmp(path, ":memory:") || !strncmp(path, "file:", 5)) return 0;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        gg_set_err(err, errsz, "state %s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat sb;
    int statted = fstat(fd, &sb) == 0;
    *empty = statted && sb.st_size == 0;
    if (statted && (sb.st_mode & 077) && fchmod(fd, 0600) != 0) {
        gg_set_err(err, errsz, "state %s: cannot make it private (chmod 0600): %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    close(fd);
    static const char *const side[] = {"-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof side / sizeof side[0]; i++) {
        char p2[4096];
        if (snprintf(p2, sizeof p2, "%s%s", path, side[i]) >= (int)sizeof p2) continue;
        if (stat(p2, &sb) == 0 && (sb.st_mode & 077) && chmod(p2, 0600) != 0)
            gg_warn("state", "%s: cannot make it private (chmod 0600): %s", p2, strerror(errno));
    }
    return 0;
}

int state_lock(const char *path, int *fd_out, char *err, size_t errsz) {
    *fd_out = -1;
    if (!path || !*path) {
        gg_set_err(err, errsz, "state: no database path given");
        return -1;
    }
    char lp[4096];
    if (snprintf(lp, sizeof lp, "%s.lock", path) >= (int)sizeof lp) {
        gg_set_err(err, errsz, "state %s: path too long for its lock file", path);
        return -1;
    }
    int fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        gg_set_err(err, errsz, "state %s: cannot open the lock file %s: %s", path, lp, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char buf[32] = "";
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        buf[n > 0 ? n : 0] = '\0';
        long holder = strtol(buf, NULL, 10);
        close(fd);
        if (e == EWOULDBLOCK) {
            if (holder > 0)
                gg_set_err(err, errsz,
                        "state %s is in use by another gridgate (pid %ld holds %s); one daemon per state store",
                        path, holder, lp);
            else
                gg_set_err(err, errsz, "state %s is in use by another gridgate (it holds %s); one daemon per state store",
                        path, lp);
        } else {
            gg_set_err(err, errsz, "state %s: cannot lock %s: %s", path, lp, strerror(e));
        }
        return -1;
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len)
        gg_warn("state", "%s: cannot write the pid into the lock file: %s", lp, strerror(errno));
    fchmod(fd, 0600);
    *fd_out = fd;
    return 0;
}

void state_unlock(int fd) {
    if (fd >= 0) close(fd); /* releases the flock; the pid left in the file is only informative */
}

/* STATE_CACHE_KIB and STATE_PAGE_SIZE: state_internal.h. */

/* In a child of fork(2) (a worker): SQLite as if never used. The buffer of
 * the parent's page cache is not mapped here (MADV_DONTFORK), so SQLite is
 * shut down (its global state reset; the parent's connection, inherited as
 * plain memory, is never touched again, as SQLite requires of a connection
 * across fork) and told to take pages from malloc when it starts again: a
 * worker that reads SQLite through ODBC opens its own connection. */
static void state_child_after_fork(void) {
    (void)sqlite3_shutdown();
    (void)sqlite3_config(SQLITE_CONFIG_PAGECACHE, (void *)NULL, 0, 0);
}

void state_library_init(void) {
    /* The fork gate of the checkpoint thread (checkpoint.c); without it
     * checkpoints stay on the committing connection. */
    if (st_checkpoint_library_init() != 0)
        gg_warn("state", "cannot register the checkpoint thread's fork handler; checkpoints stay on commit");
    /* SQLite's allocation statistics take a global mutex on every malloc;
     * nothing here reads them. Only possible before SQLite initializes
     * (SQLITE_MISUSE after: then they stay on, which is harmless). */
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    /* SQLITE_CONFIG_STMTJRNL_SPILL is left at SQLite's 64 KiB on purpose.
     * A larger spill (4 MiB, tried to keep the statement journals of the
     * narrow updates of facts in memory with 16 KiB pages) made Debian 12's
     * SQLite 3.40 fail the persons' index build of a first load of 1M
     * residents with SQLITE_FULL ("database or disk is full") while spilling
     * that statement's journal to its file, with the disk nearly empty. */
}

/* The page size of the SQLite database at path, from its header (bytes
 * 16-17, big-endian; 1 means 65536), or STATE_PAGE_SIZE when there is no
 * such database yet (no file, empty, not SQLite's). */
static int store_page_size(const char *path) {
    unsigned char h[18];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return STATE_PAGE_SIZE;
    ssize_t n = read(fd, h, sizeof h);
    close(fd);
    if (n != (ssize_t)sizeof h || memcmp(h, "SQLite format 3", 16) != 0) return STATE_PAGE_SIZE;
    int ps = (h[16] << 8) | h[17];
    if (ps == 1) return 65536;
    return ps >= 512 && (ps & (ps - 1)) == 0 ? ps : STATE_PAGE_SIZE;
}

/* The page cache lives in one mapping that no child inherits, with slots of
 * the first store's page size, set up when the process opens its first store
 * (before SQLite starts: the slots' size must be known then). The core forks
 * its workers with the cache full (the stored hashes and memos it hands them
 * are read just before), and keeps reading and writing the store while they
 * run: with the cache in malloc's heap, every cache page it then reused was
 * shared with a live child, so each reuse took a copy-on-write fault and a
 * TLB flush on every CPU. At 1M residents that was 1.4 s of a 6.1 s unchanged
 * cycle and ~10 s of a 30 s first one (BENCHMARKS.md). A page bigger than a
 * slot, or one past the last slot, comes from malloc as before. Any failure
 * here leaves SQLite's own malloc'd cache: slower, not wrong. Process-wide by
 * necessity, as SQLite's configuration is: once per process. */
static void page_cache_setup(const char *path) {
    static int done;
    if (done) return;
    done = 1;
    int hdr = 0;
    if (sqlite3_config(SQLITE_CONFIG_PCACHE_HDRSZ, &hdr) != SQLITE_OK) return;
    int page = store_page_size(path);
    size_t nslots = (size_t)STATE_CACHE_KIB * 1024 / (size_t)page + 64; /* and room for the schema's */
    size_t slot = ((size_t)page + (size_t)hdr + 7) & ~(size_t)7, len = slot * nslots;
    void *buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED) {
        gg_warn("state", "page cache: cannot map %zu bytes (%s); using malloc's", len, strerror(errno));
        return;
    }
    if (madvise(buf, len, MADV_DONTFORK) != 0) {
        gg_warn("state", "page cache: madvise(MADV_DONTFORK) failed (%s); using malloc's", strerror(errno));
        munmap(buf, len);
        return;
    }
    /* SQLite writes a free-list link into every slot at once: in 2 MiB
     * pages that is a few dozen faults, not thousands (0.2 s here). A hint only. */
    (void)madvise(buf, len, MADV_HUGEPAGE);
    if (pthread_atfork(NULL, NULL, state_child_after_fork) != 0) {
        gg_warn("state", "page cache: cannot register the fork handler; using malloc's");
        munmap(buf, len);
        return;
    }
    if (sqlite3_config(SQLITE_CONFIG_PAGECACHE, buf, (int)slot, (int)nslots) != SQLITE_OK) {
        /* SQLite already started: the handler then only restarts it in children */
        munmap(buf, len);
    }
    /* the mapping lives as long as the process (SQLite holds it) */
}

state *state_open(const char *path, char *err, size_t errsz) { return state_open_flags(path, 0, err, errsz); }

/* The WAL file kept between runs. SQLite deletes the WAL when its last
 * connection closes, so each `run --once` (a nightly timer) began with a new
 * file and paid for growing it: a WAL frame is 24 bytes of header and a 16 KiB
 * page, so most writes end inside a new 4 KiB block that ext4 allocates and
 * zeroes first. An incremental night at 4M residents (40k changed persons,
 * about 700 MB of frames) spent over half of its residents' stream in the
 * kernel so (perf: copy into new pages, their zeroing, block allocation);
 * with the WAL's blocks already there the stream took 2.0-2.7 s instead of
 * 4.7-4.8 s when the machine's memory was cold, and the night 5.4-5.6 s
 * instead of 5.9-6.0 s when it was not (BENCHMARKS.md). So the file persists
 * (SQLITE_FCNTL_PERSIST_WAL), and journal_size_limit trims it to
 * STATE_WAL_KEEP_BYTES after the checkpoint that lets a writer start it over,
 * which also bounds what a long-running daemon keeps on disk (before, the
 * largest WAL it ever wrote). The file is 0600 as the store (make_private).
 * Called once the store is in WAL mode. */
static void st_wal_keep(state *st) {
    int on = 1;
    if (sqlite3_file_control(st->db, "main", SQLITE_FCNTL_PERSIST_WAL, &on) != SQLITE_OK) {
        gg_debug("state", "the WAL file cannot be kept between runs (SQLITE_FCNTL_PERSIST_WAL refused)");
        return;
    }
    if (st_exec_sql(st, "WAL size limit", "PRAGMA journal_size_limit = " STR(STATE_WAL_KEEP_BYTES))) return;
    st->wal_kept = 1;
}

/* Before the last close of a kept WAL: SQLite checkpoints it at close but
 * leaves its frames valid, so the next open would read every frame back in
 * its recovery and append after them. A checkpoint that copies every frame,
 * then a write of one page (the header's user_version, to the value it has)
 * starts the WAL over: a new header whose salt ends the old frames, so the
 * next run's recovery reads one frame and its writes go over the blocks the
 * file has. With journal_size_limit at -1 the close keeps the file (with a
 * limit it would truncate it to nothing). Only on a handle that ran write
 * transactions (run and deliver, which hold the store's lock: the last to
 * close it), never on a command's (an export's audit line beside a running
 * daemon must not copy the daemon's WAL back at its exit); and never waiting:
 * any failure costs the next run only the old growth. */
static void st_wal_restart_for_close(state *st) {
    if (!st->wal_kept) return;
    if (st->wrote && sqlite3_get_autocommit(st->db)) {
        int log = -1, ckpt = -1;
        int rc = sqlite3_wal_checkpoint_v2(st->db, "main", SQLITE_CHECKPOINT_PASSIVE, &log, &ckpt);
        if (rc == SQLITE_OK && log > 0 && ckpt == log) {
            long v = st_query_long(st, "user version", "PRAGMA user_version");
            char sql[64];
            snprintf(sql, sizeof sql, "PRAGMA user_version = %ld", v);
            (void)sqlite3_busy_timeout(st->db, 0);
            if (v < 0 || sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
                gg_debug("state", "close: the WAL was not started over (%s); the next run reads it back",
                         sqlite3_errmsg(st->db));
        }
    }
    (void)sqlite3_exec(st->db, "PRAGMA journal_size_limit = -1", NULL, NULL, NULL);
}

/* The journal mode a new store starts in: WAL, or (STATE_OPEN_DEFER_WAL on an
 * empty file) a rollback journal with full syncs until state_wal_settle. An
 * existing store in rollback mode (another process's first load, or one
 * killed before it settled) is put in WAL mode; while that process holds it
 * the switch waits busy_timeout and then leaves it as it is (a reader). */
/* sqlite3_exec callback of a journal_mode pragma: *ud = 1 when it answers wal. */
static int mode_is_wal_cb(void *ud, int ncols, char **vals, char **names) {
    (void)names;
    *(int *)ud = ncols > 0 && vals[0] && !strcmp(vals[0], "wal");
    return 0;
}

static int journal_setup(state *st, int defer, char **msg) {
    if (defer) {
        st->wal_deferred = 1;
        return sqlite3_exec(st->db, "PRAGMA journal_mode = DELETE; PRAGMA synchronous = FULL;", NULL, NULL, msg);
    }
    int wal = 0; /* what the switch answers: the mode the store is in after it */
    int rc = sqlite3_exec(st->db, "PRAGMA journal_mode = WAL;", mode_is_wal_cb, &wal, msg);
    if (rc == SQLITE_BUSY) {
        sqlite3_free(*msg);
        *msg = NULL;
        gg_debug("state", "the store is busy in rollback-journal mode (a first load elsewhere); opened as it is");
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK) return rc;
    rc = sqlite3_exec(st->db, "PRAGMA synchronous = NORMAL;", NULL, NULL, msg);
    if (rc == SQLITE_OK && wal) st_wal_keep(st);
    return rc;
}

int state_wal_settle(state *st) {
    if (!st->wal_deferred) return 0;
    sqlite3_stmt *s = NULL;
    const char *mode = NULL;
    int rc = sqlite3_prepare_v2(st->db, "PRAGMA journal_mode = WAL", -1, &s, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) mode = (const char *)sqlite3_column_text(s, 0);
    int wal = mode && !strcmp(mode, "wal");
    if (!wal && !st->wal_warned) {
        gg_warn("state", "cannot switch the new store to WAL mode yet (%s); it keeps its rollback journal until "
                "the next try", mode ? mode : sqlite3_errmsg(st->db));
        st->wal_warned = 1;
    }
    sqlite3_finalize(s);
    if (!wal) return -1;
    st->wal_deferred = 0;
    if (st_exec_sql(st, "journal mode", "PRAGMA synchronous = NORMAL")) return -1;
    st_wal_keep(st);
    gg_info("state", "the new store's first load was written with a rollback journal (each page once); WAL from here");
    return 0;
}

state *state_open_flags(const char *path, int flags, char *err, size_t errsz) {
    if (!path || !*path) {
        gg_set_err(err, errsz, "state: no database path given");
        return NULL;
    }
    int empty;
    if (make_private(path, &empty, err, errsz)) return NULL;
    page_cache_setup(path);
    state *st = calloc(1, sizeof *st);
    if (!st) {
        gg_set_err(err, errsz, "state %s: out of memory", path);
        return NULL;
    }
    /* One thread uses a state handle (the run loop, or a command); the admin
     * endpoint's threads never touch it: no mutex per SQLite call. */
    int rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        gg_set_err(err, errsz, "state %s: cannot open: %s", path,
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
                     "PRAGMA page_size = " STR(STATE_PAGE_SIZE) ";" /* a new store's; WAL keeps an old one's */
                     "PRAGMA cache_size = -" STR(STATE_CACHE_KIB) ";"
                     "PRAGMA foreign_keys = ON;",
                     NULL, NULL, &msg) != SQLITE_OK ||
        journal_setup(st, empty && (flags & STATE_OPEN_DEFER_WAL), &msg) != SQLITE_OK) {
        gg_set_err(err, errsz, "state %s: cannot use as a database: %s", path,
                msg ? msg : sqlite3_errmsg(st->db));
        sqlite3_free(msg);
        sqlite3_close(st->db);
        free(st);
        return NULL;
    }
    int converted = 0;
    if (setup_schema(st, path, &converted, err, errsz) != 0) {
        sqlite3_close(st->db);
        free(st);
        return NULL;
    }
    /* The conversion left the old facts table's pages free (the file about
     * doubled): give them back once. A failure here leaves a good store. */
    if (converted) {
        gg_info("state", "facts converted to schema 7 (binary fields, key kind/source/ref); compacting the file");
        if (sqlite3_exec(st->db, "VACUUM", NULL, NULL, &msg) != SQLITE_OK) {
            gg_warn("state", "vacuum after the conversion: %s (the store is usable, only larger)",
                    msg ? msg : sqlite3_errmsg(st->db));
            sqlite3_free(msg);
            msg = NULL;
        }
    }
    char *cmsg = NULL;
    if (sqlite3_exec(st->db, fact_changes_sql, NULL, NULL, &cmsg) != SQLITE_OK) {
        gg_set_err(err, errsz, "state %s: fact change counter: %s", path, cmsg ? cmsg : sqlite3_errmsg(st->db));
        sqlite3_free(cmsg);
        sqlite3_close(st->db);
        free(st);
        return NULL;
    }
    if (sqlite3_prepare_v2(st->db, fact_put_sql, -1, &st->fact_put, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(st->db, fact_upd_sql, -1, &st->fact_upd, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(st->db, fact_old_sql, -1, &st->fact_old, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(st->db, changes_add_sql, -1, &st->changes_add, NULL) != SQLITE_OK ||
        st_touch_prepare(st) != SQLITE_OK ||
        sqlite3_prepare_v2(st->db, fact_hash_sql, -1, &st->fact_hash, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(st->db, fact_raw_sql, -1, &st->fact_raw, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(st->db, person_name_sql, -1, &st->person_name, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(st->db, quarantine_add_sql, -1, &st->quarantine_add, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(st->db, dq_add_sql, -1, &st->dq_add, NULL) != SQLITE_OK) {
        gg_set_err(err, errsz, "state %s: prepare statements: %s", path, sqlite3_errmsg(st->db));
        state_finalize_cached(st);
        sqlite3_close(st->db);
        free(st);
        return NULL;
    }
    /* the touched log of a store written before the writer logged: its
     * insert and update triggers go (logged and failed open: the log would
     * be kept twice, and each write journaled) */
    if (st_touch_log_upgrade(st) != 0 || (st->touch_on = state_touch_log_on(st)) < 0) {
        gg_set_err(err, errsz, "state %s: touched log: %s", path, sqlite3_errmsg(st->db));
        state_finalize_cached(st);
        sqlite3_close(st->db);
        free(st);
        return NULL;
    }
    st->ckpt = st_checkpointer_start(st->db, path);
    return st;
}

void state_close(state *st) {
    if (!st) return;
    st_index_build_join(st);
    st_checkpointer_stop(st->ckpt, st->db);
    state_finalize_cached(st);
    if (!sqlite3_get_autocommit(st->db)) {
        gg_warn("state", "close: a transaction was still open; rolling it back");
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    }
    st_wal_restart_for_close(st);
    if (sqlite3_close(st->db) != SQLITE_OK)
        gg_error("state", "close: %s", sqlite3_errmsg(st->db));
    free(st);
}

long state_background_checkpoints(state *st) { return st_checkpointer_done(st->ckpt); }

/* A write transaction reads whether the touched log is on (another handle
 * on the store may have turned it on or off since). */
int state_begin(state *st) {
    st_index_build_join(st); /* its write lock is not to be waited for by SQLite's busy timeout */
    if (st_exec_sql(st, "begin transaction", "BEGIN IMMEDIATE")) return -1;
    st->wrote = 1;
    int on = state_touch_log_on(st);
    if (on < 0) {
        (void)st_exec_sql(st, "begin transaction", "ROLLBACK");
        return -1;
    }
    st->touch_on = on;
    st->gen_moved = 0;
    st->hs_ndropped = 0;
    return 0;
}
int state_commit(state *st) {
    st->gen_moved = 0;
    st->hs_ndropped = 0;
    return st_exec_sql(st, "commit", "COMMIT");
}
int state_in_transaction(state *st) { return !sqlite3_get_autocommit(st->db); }

int state_read_begin(state *st) { return st_exec_sql(st, "begin read transaction", "BEGIN DEFERRED"); }
int state_read_end(state *st) {
    if (st_exec_sql(st, "end read transaction", "COMMIT") == 0) return 0;
    /* never left open: the next BEGIN IMMEDIATE would fail (logged above) */
    if (!sqlite3_get_autocommit(st->db)) (void)st_exec_sql(st, "end read transaction", "ROLLBACK");
    return -1;
}
int state_rollback(state *st) {
    int rc = st_exec_sql(st, "rollback", "ROLLBACK");
    /* a first load rolled back: its facts are gone, and so is its count */
    st->changes_suspended = 0;
    st->changes_pending = 0;
    st->ident_pending = 0;
    st->persons_pending = 0;
    st->gen_moved = 0;
    st->hs_ndropped = 0;
    /* the touched log as the rollback left it (a start or stop inside the
     * transaction is undone) */
    int on = state_touch_log_on(st);
    if (on < 0) return -1;
    st->touch_on = on;
    return rc;
}

/* ---- cycles ---------------------------------------------------------------- */

int state_cycle_begin(state *st, long *cycle) {
    sqlite3_stmt *s;
    if (st_prepare(st, "cycle begin",
                "INSERT INTO cycles(id, started_at)"
                " SELECT COALESCE(MAX(id), 0) + 1, ?1 FROM cycles",
                &s))
        return -1;
    if (sqlite3_bind_int64(s, 1, gg_now_seconds()) != SQLITE_OK) {
        st_db_fail(st, "cycle begin: bind");
        sqlite3_finalize(s);
        return -1;
    }
    if (st_step_done(st, "cycle begin", s) != 0) return -1;
    *cycle = (long)sqlite3_last_insert_rowid(st->db);
    return 0;
}

int state_cycle_end(state *st, long cycle, const char *summary_json) {
    sqlite3_stmt *s;
    if (st_prepare(st, "cycle end",
                "UPDATE cycles SET ended_at = ?1, summary_json = ?2 WHERE id = ?3", &s))
        return -1;
    if (sqlite3_bind_int64(s, 1, gg_now_seconds()) != SQLITE_OK ||
        st_bind_text(s, 2, summary_json) != SQLITE_OK ||
        sqlite3_bind_int64(s, 3, cycle) != SQLITE_OK) {
        st_db_fail(st, "cycle end: bind");
        sqlite3_finalize(s);
        return -1;
    }
    if (st_step_done(st, "cycle end", s) != 0) return -1;
    if (sqlite3_changes(st->db) == 0) {
        gg_error("state", "cycle end: no cycle %ld", cycle);
        return -1;
    }
    return 0;
}
