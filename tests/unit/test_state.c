/* test_state.c - unit tests of the SQLite state store (gateway/src/store):
 * schema creation, reopen and migrations (1 -> 2 -> 3), watermarks and marks,
 * fact round trips for every kind, the new subjects of interest, quarantine
 * dedup, data-quality sums, cycles, the alert lifecycle, the outbox, crash
 * safety and refusal of bad or newer files.
 *
 * Each test works in its own mkdtemp directory; the database is also checked
 * with plain SQLite queries so the tests do not only trust the store's readers. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

#include "alerts/alert.h"
#include "model/fact.h"
#include "core/log.h"
#include "store/state.h"
#include "store/state_internal.h" /* st->db: an authorizer that makes a read fail */

/* Per-test fixture: a temp directory and the database path inside it. */
typedef struct fixture {
    char dir[64];
    char path[128];
} fixture;

static int setup(void **stp) {
    fixture *fx = calloc(1, sizeof *fx);
    if (!fx) return -1;
    snprintf(fx->dir, sizeof fx->dir, "/tmp/gg_test_state_XXXXXX");
    if (!mkdtemp(fx->dir)) {
        free(fx);
        return -1;
    }
    snprintf(fx->path, sizeof fx->path, "%s/state.db", fx->dir);
    *stp = fx;
    return 0;
}

static int teardown(void **stp) {
    fixture *fx = *stp;
    char p[160];
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal", ".lock"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        snprintf(p, sizeof p, "%s%s", fx->path, suffixes[i]);
        unlink(p);
    }
    snprintf(p, sizeof p, "%s/other", fx->dir);
    unlink(p);
    rmdir(fx->dir);
    free(fx);
    return 0;
}

static state *open_ok(const fixture *fx) {
    char err[512] = "";
    state *st = state_open(fx->path, err, sizeof err);
    if (!st) fail_msg("state_open(%s) failed: %s", fx->path, err);
    return st;
}

/* Runs one query on the database file directly and returns the first column of
 * the first row as a malloc'd string ("" when NULL, NULL when no row). */
static char *sql_text(const fixture *fx, const char *sql) {
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(fx->path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        fail_msg("prepare %s: %s", sql, sqlite3_errmsg(db));
    char *out = NULL;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(s, 0);
        out = strdup(v ? v : "");
    } else if (rc != SQLITE_DONE) {
        fail_msg("step %s: %s", sql, sqlite3_errmsg(db));
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    return out;
}

static long sql_long(const fixture *fx, const char *sql) {
    char *v = sql_text(fx, sql);
    assert_non_null(v);
    long n = strtol(v, NULL, 10);
    free(v);
    return n;
}

static void sql_exec(const fixture *fx, const char *sql) {
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(fx->path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) fail_msg("exec %s: %s", sql, msg);
    sqlite3_close(db);
}

static void assert_sql_text(const fixture *fx, const char *sql, const char *want) {
    char *v = sql_text(fx, sql);
    if (!want) {
        assert_null(v);
        return;
    }
    assert_non_null(v);
    assert_string_equal(v, want);
    free(v);
}

/* ---- schema ---------------------------------------------------------------- */

static int count_pairs(void *ud, uint64_t ref_hash, uint64_t content_hash) {
    (void)ref_hash, (void)content_hash;
    ++*(long *)ud;
    return 0;
}

static void test_schema_create_and_reopen(void **stp) {
    fixture *fx = *stp;
    state *st = open_ok(fx);
    state_close(st);

    static const char *const tables[] = {"meta", "cycles", "watermarks", "marks", "facts",
                                         "quarantine", "dq", "alerts", "outbox", "fact_hash_sets"};
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        char q[160];
        snprintf(q, sizeof q, "SELECT COUNT(*) FROM sqlite_master WHERE type='table' AND name='%s'",
                 tables[i]);
        assert_int_equal(sql_long(fx, q), 1);
    }
    assert_sql_text(fx, "SELECT value FROM meta WHERE key='schema_version'", "11");
    assert_sql_text(fx, "PRAGMA journal_mode", "wal");
    assert_int_equal(sql_long(fx, "SELECT COUNT(*) FROM sqlite_master WHERE type='index'"
                                   " AND name IN ('facts_person_names','facts_dq','facts_case_key')"),
                     3);

    /* Reopen keeps data and does not duplicate the schema row. */
    st = open_ok(fx);
    assert_int_equal(state_watermark_set(st, "hr", "payments", "2024-05-01T00:00:00|99"), 0);
    state_close(st);
    st = open_ok(fx);
    char *v = NULL;
    assert_int_equal(state_watermark_get(st, "hr", "payments", &v), 0);
    assert_non_null(v);
    assert_string_equal(v, "2024-05-01T00:00:00|99");
    free(v);
    state_close(st);
    assert_int_equal(sql_long(fx, "SELECT COUNT(*) FROM meta"), 2); /* version and digest */
}

static void test_not_a_database_refused(void **stp) {
    fixture *fx = *stp;
    FILE *fp = fopen(fx->path, "w");
    assert_non_null(fp);
    for (int i = 0; i < 64; i++) fputs("this is a text file, not an SQLite database\n", fp);
    fclose(fp);

    char err[512] = "";
    state *st = state_open(fx->path, err, sizeof err);
    assert_null(st);
    assert_non_null(strstr(err, "not a database"));
    assert_non_null(strstr(err, fx->path));

    /* The file was not clobbered. */
    fp = fopen(fx->path, "r");
    assert_non_null(fp);
    char line[128];
    assert_non_null(fgets(line, sizeof line, fp));
    fclose(fp);
    assert_string_equal(line, "this is a text file, not an SQLite database\n");

    /* A path in a directory that does not exist fails with the path named. */
    char bad[200];
    snprintf(bad, sizeof bad, "%s/missing/dir/state.db", fx->dir);
    err[0] = '\0';
    assert_null(state_open(bad, err, sizeof err));
    assert_non_null(strstr(err, bad));
}

static void test_newer_schema_refused(void **stp) {
    fixture *fx = *stp;
    state_close(open_ok(fx));
    sql_exec(fx, "UPDATE meta SET value='99' WHERE key='schema_version'");
    char err[512] = "";
    state *st = state_open(fx->path, err, sizeof err);
    assert_null(st);
    assert_non_null(strstr(err, "schema version 99"));
    assert_non_null(strstr(err, "newer"));
    /* Refusal leaves the file as it was. */
    assert_sql_text(fx, "SELECT value FROM meta WHERE key='schema_version'", "99");

    sql_exec(fx, "UPDATE meta SET value='banana' WHERE key='schema_version'");
    err[0] = '\0';
    assert_null(state_open(fx->path, err, sizeof err));
    assert_non_null(strstr(err, "schema_version"));

    sql_exec(fx, "UPDATE meta SET value='4' WHERE key='schema_version'");
    state_close(open_ok(fx));
}

/* A version-7 store (no interest table) opens as 8 and gains the table; the
 * stored subjects of interest are replaced whole and load back. */
static void test_migration_from_v7_interest(void **stp) {
    fixture *fx = *stp;
    state_close(open_ok(fx));
    sql_exec(fx, "DROP TABLE interest; UPDATE meta SET value='7' WHERE key='schema_version'");
    assert_int_equal(sql_long(fx, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'interest'"), 0);
    state *st = open_ok(fx);
    assert_sql_text(fx, "SELECT value FROM meta WHERE key='schema_version'", "11");
    assert_int_equal(sql_long(fx, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'interest'"), 1);
    strmap ids = {0}, cases = {0};
    assert_int_equal(strmap_add(&ids, "11010519491231002X"), 1);
    assert_int_equal(strmap_add(&ids, "420503195609075502"), 1);
    assert_int_equal(strmap_add(&cases, "C1"), 1);
    assert_int_equal(state_begin(st), 0);
    assert_int_equal(state_interest_replace(st, &ids, &cases), 0);
    assert_int_equal(state_commit(st), 0);
    strmap_free(&ids);
    strmap_free(&cases);
    assert_int_equal(strmap_add(&ids, "420503195609075502"), 1);
    assert_int_equal(state_begin(st), 0);
    assert_int_equal(state_interest_replace(st, &ids, &cases), 0); /* replaced, not added to */
    assert_int_equal(state_commit(st), 0);
    strmap_free(&ids);
    assert_int_equal(state_interest_load(st, &ids, &cases), 0);
    assert_int_equal(strmap_count(&ids), 1);
    assert_int_equal(strmap_count(&cases), 0);
    assert_true(strmap_has(&ids, "420503195609075502"));
    strmap_free(&ids);
    strmap_free(&cases);
    state_close(st);
    /* reopening a version-8 store keeps the set */
    st = open_ok(fx);
    assert_int_equal(sql_long(fx, "SELECT COUNT(*) FROM interest WHERE kind = 0"), 1);
    state_close(st);
}

static void person_at(fact *f, const char *ref, const char *id, const char *name, int birth);

/* A version-5 store (main's facts: no content_hash, dq, name_hash; indexes
 * facts_id_norm and facts_case_key) migrates to 6 in place: its facts are
 * kept with no content hash (rewritten when next read), persons stating a
 * birth date are flagged until re-read, the person index replaces the id
 * index, and the quarantine kinds and audit table of 4 and 5 stay. */
static void test_migration_from_v5(void **stp) {
    fixture *fx = *stp;
    state_close(open_ok(fx));
    sql_exec(fx, "DROP TABLE facts;"
                 "CREATE TABLE facts(source TEXT NOT NULL, kind TEXT NOT NULL, ref TEXT NOT NULL,"
                 " id_norm TEXT NOT NULL DEFAULT '', case_key TEXT, fields_json TEXT NOT NULL, raw_json TEXT,"
                 " first_cycle BIGINT NOT NULL, last_cycle BIGINT NOT NULL, name_norm TEXT,"
                 " PRIMARY KEY(source, kind, ref));"
                 "CREATE INDEX facts_id_norm ON facts(id_norm);"
                 "CREATE INDEX facts_case_key ON facts(case_key);"
                 "INSERT INTO facts VALUES('grid', 'person', 'P1', '11010519491231002X', NULL,"
                 " '{\"id_no\":\"11010519491231002X\",\"name\":\"张三\",\"birth_date\":19491231}', NULL, 1, 1, '张三');"
                 "INSERT INTO facts VALUES('hr', 'payment', 'R1', '11010519491231002X', NULL,"
                 " '{\"id_no\":\"11010519491231002X\"}', NULL, 1, 1, NULL);"
                 "INSERT INTO quarantine(source, stream, ref, reason, raw_json, first_cycle, last_cycle, count, at, kind)"
                 " VALUES('hr', 's', 'Q1', 'invalid id_no: bad', NULL, 1, 1, 1, 0, 'invalid_id');"
                 "UPDATE meta SET value='5' WHERE key='schema_version'");
    state *st = open_ok(fx);
    assert_sql_text(fx, "SELECT value FROM meta WHERE key='schema_version'", "11");
    assert_int_equal(sql_long(fx, "SELECT COUNT(*) FROM facts"), 2);
    assert_int_equal(sql_long(fx, "SELECT COUNT(*) FROM facts WHERE content_hash IS NULL"), 2);
    assert_int_equal(sql_long(fx, "SELECT COUNT(*) FROM facts WHERE dq = 1"), 1);
    assert_int_equal(sql_long(fx, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'facts_id_norm'"), 0);
    assert_int_equal(sql_long(fx, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'facts_person_names'"), 1);
    assert_int_equal(sql_long(fx, "SELECT COUNT(*) FROM quarantine WHERE kind = 'invalid_id'"), 1);
    assert_int_equal(sql_long(fx, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'audit'"), 1);
    /* a fact found without a hash is written again, with one */
    fact f;
    person_at(&f, "P1", "11010519491231002X", "张三", 0);
    uint64_t h = 0;
    int found = 1;
    assert_int_equal(state_fact_stored_hash(st, &f, &h, &found), 0);
    assert_int_equal(found, 0);
    assert_int_equal(state_fact_put(st, &f, 2), 0);
    assert_int_equal(state_fact_stored_hash(st, &f, &h, &found), 0);
    assert_int_equal(found, 1);
    assert_int_equal(sql_long(fx, "SELECT COUNT(*) FROM facts WHERE dq = 1"), 0);
    fact_clear(&f);
    state_close(st);
    /* reopening a version-6 store changes nothing */
    state_close(open_ok(fx));
    assert_int_equal(sql_long(fx, "SELECT COUNT(*) FROM facts WHERE content_hash IS NOT NULL"), 1);
}

static int count_and_clear(void *ud, fact *f) {
    (*(int *)ud)++;
    assert_null(f->name_norm); /* stored by version 1: no folded name */
    fact_clear(f);
    return 0;
}

/* A version-1 store (no facts.name_norm) is migrated in place; its facts are
 * kept and read back without a folded name (the caller folds those). */
static void test_migration_from_v1(void **stp) {
    fixture *fx = *stp;
    state_close(open_ok(fx));
    sql_exec(fx, "DROP TABLE facts;"
                 "CREATE TABLE facts(source TEXT NOT NULL, kind TEXT NOT NULL, ref TEXT NOT NULL,"
                 " id_norm TEXT NOT NULL DEFAULT '', case_key TEXT, fields_json TEXT NOT NULL, raw_json TEXT,"
                 " first_cycle BIGINT NOT NULL, last_cycle BIGINT NOT NULL, PRIMARY KEY(source, kind, ref));"
                 "INSERT INTO facts VALUES('grid', 'person', 'P1', '', NULL,"
                 " '{\"id_no\":\"x\",\"name\":\"张三\"}', NULL, 1, 1);"
                 "UPDATE meta SET value='1' WHERE key='schema_version'");
    state *st = open_ok(fx);
    assert_sql_text(fx, "SELECT value FROM meta WHERE key='schema_version'", "11");
    int n = 0;
    assert_int_equal(state_facts_each(st, FK_PERSON, count_and_clear, &n), 0);
    assert_int_equal(n, 1);
    /* new facts store their folded name and get it back */
    fact f;
    fact_init(&f, FK_PERSON);
    f.source = strdup("grid");
    f.ref = strdup("P2");
    char err[200];
    assert_int_equal(fact_set_text(&f, FF_ID_NO, "110105194912310021", err, sizeof err), 0);
    assert_int_equal(fact_set_text(&f, FF_NAME, "張三", err, sizeof err), 0);
    f.name_norm = strdup("张三");
    assert_int_equal(state_fact_put(st, &f, 2), 0);
    fact_clear(&f);
    assert_sql_text(fx, "SELECT name_norm FROM facts WHERE ref = 'P2'", "张三");
    assert_sql_text(fx, "SELECT coalesce(name_norm, 'none') FROM facts WHERE ref = 'P1'", "none");
    state_close(st);
}

/* A version-2 store kept verdict marks ("verdict:<alert id>") and lookup marks
 * ("<stream>#lookup") as watermarks of their source. Opening it migrates them
 * to the marks table (scope = source, same key and value) and leaves the
 * streams' own watermarks where they were; a failed migration changes nothing. */
static void test_migration_from_v2(void **stp) {
    fixture *fx = *stp;
    state_close(open_ok(fx));
    sql_exec(fx, "DROP TABLE marks;"
                 "INSERT INTO watermarks VALUES('hr', 'pension_payments', '{\"ts\":\"2024-05-01\",\"key\":\"9\"}', 10);"
                 "INSERT INTO watermarks VALUES('hr', 'pension_payments#lookup', '7', 11);"
                 "INSERT INTO watermarks VALUES('court', 'verdict:PAD-e10e178245aadc26', 'V1|confirmed|2024-06-01', 12);"
                 "INSERT INTO watermarks VALUES('court', 'verdicts', 'x', 13);"
                 "UPDATE meta SET value='2' WHERE key='schema_version'");
    state *st = open_ok(fx);
    assert_sql_text(fx, "SELECT value FROM meta WHERE key='schema_version'", "11");
    assert_int_equal(sql_long(fx, "SELECT COUNT(*) FROM watermarks"), 2);
    assert_int_equal(sql_long(fx, "SELECT COUNT(*) FROM marks"), 2);
    assert_int_equal(sql_long(fx, "SELECT updated_at FROM marks WHERE key = 'pension_payments#lookup'"), 11);
    char *v = NULL;
    assert_int_equal(state_watermark_get(st, "hr", "pension_payments", &v), 0);
    assert_string_equal(v, "{\"ts\":\"2024-05-01\",\"key\":\"9\"}");
    free(v);
    assert_int_equal(state_watermark_get(st, "court", "verdicts", &v), 0);
    assert_string_equal(v, "x");
    free(v);
    assert_int_equal(state_watermark_get(st, "hr", "pension_payments#lookup", &v), 0);
    assert_null(v);
    assert_int_equal(state_watermark_get(st, "court", "verdict:PAD-e10e178245aadc26", &v), 0);
    assert_null(v);
    assert_int_equal(state_mark_get(st, "hr", "pension_payments#lookup", &v), 0);
    assert_string_equal(v, "7");
    free(v);
    assert_int_equal(state_mark_get(st, "court", "verdict:PAD-e10e178245aadc26", &v), 0);
    assert_string_equal(v, "V1|confirmed|2024-06-01");
    free(v);
    state_close(st);
    /* reopening a version-3 store moves nothing again */
    st = open_ok(fx);
    state_close(st);
    assert_int_equal(sql_long(fx, "SELECT COUNT(*) FROM watermarks"), 2);
    assert_int_equal(sql_long(fx, "SELECT COUNT(*) FROM marks"), 2);

    /* A migration that fails (here: marks holds a row with the same key
     * already, so the insert violates its primary key) rolls back whole. */
    sql_exec(fx, "INSERT INTO watermarks VALUES('hr', 'pension_payments#lookup', '8', 14);"
                 "UPDATE meta SET value='2' WHERE key='schema_version'");
    char err[512] = "";
    assert_null(state_open(fx->path, err, sizeof err));
    assert_non_null(strstr(err, "migrate schema 2 -> 3"));
    assert_sql_text(fx, "SELECT value FROM meta WHERE key='schema_version'", "2");
    assert_int_equal(sql_long(fx, "SELECT COUNT(*) FROM watermarks"), 3);
    assert_sql_text(fx, "SELECT value FROM marks WHERE key = 'pension_payments#lookup'", "7");
}

/* ---- watermarks ------------------------------------------------------------ */

static void test_watermarks(void **stp) {
    fixture *fx = *stp;
    state *st = open_ok(fx);
    char *v = (char *)1;
    assert_int_equal(state_watermark_get(st, "hr", "payments", &v), 0);
    assert_null(v);

    assert_int_equal(state_watermark_set(st, "hr", "payments", "100"), 0);
    assert_int_equal(state_watermark_set(st, "hr", "persons", "alpha"), 0);
    assert_int_equal(state_watermark_set(st, "psb", "payments", "other"), 0);
    assert_int_equal(state_watermark_set(st, "hr", "payments", "200"), 0); /* overwrite */

    assert_int_equal(state_watermark_get(st, "hr", "payments", &v), 0);
    assert_string_equal(v, "200");
    free(v);
    assert_int_equal(state_watermark_get(st, "hr", "persons", &v), 0);
    assert_string_equal(v, "alpha");
    free(v);
    assert_int_equal(state_watermark_get(st, "psb", "payments", &v), 0);
    assert_string_equal(v, "other");
    free(v);
    state_close(st);
    assert_int_equal(sql_long(fx, "SELECT COUNT(*) FROM watermarks"), 3);
}

/* Marks are their own table: a mark and a watermark with the same names do
 * not see each other. */
static void test_marks(void **stp) {
    fixture *fx = *stp;
    state *st = open_ok(fx);
    char *v = (char *)1;
    assert_int_equal(state_mark_get(st, "court", "verdict:PAD-1", &v), 0);
    assert_null(v);
    assert_int_equal(state_mark_set(st, "court", "verdict:PAD-1", "a"), 0);
    assert_int_equal(state_mark_set(st, "hr", "verdict:PAD-1", "b"), 0);
    assert_int_equal(state_mark_set(st, "court", "verdict:PAD-1", "c"), 0); /* overwrite */
    assert_int_equal(state_watermark_set(st, "hr", "payments", "wm"), 0);
    assert_int_equal(state_mark_get(st, "court", "verdict:PAD-1", &v), 0);
    assert_string_equal(v, "c");
    free(v);
    assert_int_equal(state_mark_get(st, "hr", "verdict:PAD-1", &v), 0);
    assert_string_equal(v, "b");
    free(v);
    assert_int_equal(state_mark_get(st, "hr", "payments", &v), 0);
    assert_null(v);
    assert_int_equal(state_watermark_get(st, "court", "verdict:PAD-1", &v), 0);
    assert_null(v);
    /* marks survive a reopen */
    state_close(st);
    st = open_ok(fx);
    assert_int_equal(state_mark_get(st, "court", "verdict:PAD-1", &v), 0);
    assert_string_equal(v, "c");
    free(v);
    state_close(st);
    assert_int_equal(sql_long(fx, "SELECT COUNT(*) FROM marks"), 2);
    assert_int_equal(sql_long(fx, "SELECT COUNT(*) FROM watermarks"), 1);
}

/* ---- facts ----------------------------------------------------------------- */

static void set_text(fact *f, fact_field ff, const char *v) {
    char err[200] = "";
    if (fact_set_text(f, ff, v, err, sizeof err) != 0)
        fail_msg("fact_set_text(%s, %s): %s", fact_kind_name(f->kind), fact_field_name(ff), err);
}

static void set_int(fact *f, fact_field ff, int64_t v) {
    char err[200] = "";
    if (fact_set_int(f, ff, v, err, sizeof err) != 0)
        fail_msg("fact_set_int(%s, %s): %s", fact_kind_name(f->kind), fact_field_name(ff), err);
}

static void fact_start(fact *f, fact_kind k, const char *source, const char *ref,
                       const char *id_norm) {
    fact_init(f, k);
    f->source = strdup(source);
    f->ref = strdup(ref);
    assert_non_null(f->source);
    assert_non_null(f->ref);
    snprintf(f->id_norm, sizeof f->id_norm, "%s", id_norm ? id_norm : "");
}

/* One fact of every kind, exercising every field type. */
#define NKINDS 8
static void make_all_kinds(fact fs[NKINDS]) {
    fact *f = &fs[0];
    fact_start(f, FK_PERSON, "grid", "P-1", "11010519491231002X");
    set_text(f, FF_ID_NO, "110105 19491231 002x");
    set_text(f, FF_NAME, "张　三");
    set_text(f, FF_SEX, "m");
    set_text(f, FF_BIRTH_DATE, "1949年12月31日");
    set_text(f, FF_REGION, "110105");
    set_text(f, FF_ADDRESS, "北京市朝阳区某街 1 号");
    set_text(f, FF_GRID, "G-0101");
    set_text(f, FF_HOUSEHOLD, "H-77");
    f->raw_json = strdup("{\"SFZH\":\"110105 19491231 002x\",\"XM\":\"张　三\"}");

    f = &fs[1];
    fact_start(f, FK_DEATH, "psb", "D-1", "11010519491231002X");
    set_text(f, FF_ID_NO, "11010519491231002X");
    set_text(f, FF_NAME, "张三");
    set_text(f, FF_DEATH_DATE, "2024/3/12");
    set_text(f, FF_BASIS, "household_deregistration");
    set_text(f, FF_BIRTH_DATE, "19491231");
    set_text(f, FF_REVOKED, "否");

    f = &fs[2];
    fact_start(f, FK_PAYMENT, "hr", "PAY-2024-04-1", "11010519491231002X");
    set_text(f, FF_ID_NO, "11010519491231002X");
    set_text(f, FF_PROGRAM, "pension");
    set_text(f, FF_PERIOD, "2024年4月");
    set_int(f, FF_AMOUNT, 310055);
    set_text(f, FF_NAME, "張三");
    set_text(f, FF_PAYER, "市社保中心");
    set_text(f, FF_PAID_ON, "2024-04-15 00:00:00");

    f = &fs[3];
    fact_start(f, FK_ASSISTANCE_MEMBER, "civil", "M-1", "110105198001010016");
    set_text(f, FF_CASE, "DB-2023-001");
    set_text(f, FF_PROGRAM, "dibao");
    set_text(f, FF_ID_NO, "110105198001010016");
    set_text(f, FF_NAME, "李四");
    set_text(f, FF_FROM, "2023-01-01");
    set_text(f, FF_TO, "2024-06-30");
    set_text(f, FF_RELATION, "spouse");
    set_text(f, FF_REGION, "110105");
    set_int(f, FF_HOUSEHOLD_SIZE, 3);

    f = &fs[4];
    fact_start(f, FK_INCOME, "tax", "I-1", "110105198001010016");
    set_text(f, FF_ID_NO, "110105198001010016");
    set_text(f, FF_PERIOD, "202402");
    set_int(f, FF_AMOUNT, -1200); /* a correction */
    set_text(f, FF_KIND, "wage");
    set_text(f, FF_PAYER, "某公司");

    f = &fs[5];
    fact_start(f, FK_ASSET, "psb", "V-1", "110105198001010016");
    set_text(f, FF_ID_NO, "110105198001010016");
    set_text(f, FF_KIND, "vehicle");
    set_text(f, FF_FROM, "2022-02-28");
    set_text(f, FF_SUBKIND, "car");
    set_text(f, FF_DESCRIPTION, "京A·12345");
    set_int(f, FF_VALUE, 9999999999LL); /* beyond 32 bits */

    f = &fs[6];
    fact_start(f, FK_CUSTODY, "justice", "C-1", "110105198001010016");
    set_text(f, FF_ID_NO, "110105198001010016");
    set_text(f, FF_FROM, "2024-02-29");
    set_text(f, FF_TO, "2025-02-28");
    set_text(f, FF_KIND, "imprisonment");

    f = &fs[7];
    fact_start(f, FK_VERDICT, "grid", "V-9", NULL);
    set_text(f, FF_ALERT, "PAD-0123456789abcdef");
    set_text(f, FF_VERDICT, "dismissed");
    set_text(f, FF_BY, "网格员 7");
    set_text(f, FF_AT, "2024-05-01 10:00");
    set_text(f, FF_NOTE, "家属已退回");
    f->raw_json = strdup("{\"note\":\"家属已退回\"}");
}

/* Loaded facts carry no raw values (only an alert's evidence needs them):
 * they are fetched apart, by (source, kind, ref). */
static void assert_fact_equal(state *st, const fact *got, const fact *want) {
    assert_int_equal(got->kind, want->kind);
    assert_string_equal(got->source, want->source);
    assert_string_equal(got->ref, want->ref);
    for (int i = 0; i < FF__COUNT; i++) {
        const fact_val *g = &got->f[i], *w = &want->f[i];
        int text = fact_field_is_text((fact_field)i);
        const char *gs = text ? g->s : NULL, *ws = text ? w->s : NULL;
        int64_t gi = text ? 0 : g->i, wi = text ? 0 : w->i;
        if (FACT_HAS(got, i) != FACT_HAS(want, i) || gi != wi ||
            ((gs || ws) && (!gs || !ws || strcmp(gs, ws) != 0)))
            fail_msg("%s fact %s: field %s differs (set %d/%d, i %lld/%lld, s %s/%s)",
                     fact_kind_name(want->kind), want->ref, fact_field_name((fact_field)i),
                     FACT_HAS(got, i), FACT_HAS(want, i), (long long)gi, (long long)wi, gs ? gs : "-",
                     ws ? ws : "-");
    }
    assert_null(got->raw_json);
    char *raw = NULL;
    assert_int_equal(state_fact_raw(st, want->source, want->kind, want->ref, &raw), 0);
    if (want->raw_json) {
        assert_non_null(raw);
        assert_string_equal(raw, want->raw_json);
    } else {
        assert_null(raw);
    }
    free(raw);
    /* The store does not normalize identity: the caller does. */
    assert_string_equal(got->id_norm, "");
}

/* Collects the facts a state_facts_each() hands over (moving them). */
typedef struct fact_bag {
    fact items[32];
    size_t n;
    size_t stop_after; /* 0 = never stop */
} fact_bag;

static int collect_fact(void *ud, fact *f) {
    fact_bag *b = ud;
    if (b->n >= sizeof b->items / sizeof b->items[0]) {
        fact_clear(f);
        return 1;
    }
    b->items[b->n++] = *f; /* moved: the bag owns the strings now */
    return b->stop_after && b->n >= b->stop_after;
}

static void bag_free(fact_bag *b) {
    for (size_t i = 0; i < b->n; i++) fact_clear(&b->items[i]);
    b->n = 0;
}

static const fact *find_fact(const fact *fs, size_t n, fact_kind k) {
    for (size_t i = 0; i < n; i++)
        if (fs[i].kind == k) return &fs[i];
    return NULL;
}

static void test_fact_round_trip_every_kind(void **stp) {
    fixture *fx = *stp;
    fact fs[NKINDS];
    make_all_kinds(fs);

    state *st = open_ok(fx);
    assert_int_equal(state_begin(st), 0);
    for (int i = 0; i < NKINDS; i++) assert_int_equal(state_fact_put(st, &fs[i], 1), 0);
    assert_int_equal(state_commit(st), 0);
    state_close(st);

    st = open_ok(fx);
    assert_int_equal(state_fact_count(st, -1), NKINDS);
    for (int k = 0; k < FK__COUNT; k++) assert_int_equal(state_fact_count(st, k), 1);

    fact_bag *bag = calloc(1, sizeof *bag);
    assert_non_null(bag);
    assert_int_equal(state_facts_each(st, -1, collect_fact, bag), 0);
    assert_int_equal(bag->n, NKINDS);
    /* Ordered by kind name, then source, then ref. */
    for (size_t i = 1; i < bag->n; i++)
        assert_true(strcmp(fact_kind_name(bag->items[i - 1].kind),
                           fact_kind_name(bag->items[i].kind)) < 0);
    for (size_t i = 0; i < bag->n; i++) {
        const fact *want = find_fact(fs, NKINDS, bag->items[i].kind);
        assert_non_null(want);
        assert_fact_equal(st, &bag->items[i], want);
    }
    /* Spot checks of the typed values themselves. */
    const fact *d = find_fact(bag->items, bag->n, FK_DEATH);
    assert_int_equal(d->f[FF_DEATH_DATE].i, 20240312);
    assert_int_equal(FACT_HAS(d, FF_REVOKED), 1);
    assert_int_equal(d->f[FF_REVOKED].i, 0);
    const fact *p = find_fact(bag->items, bag->n, FK_PAYMENT);
    assert_int_equal(p->f[FF_PERIOD].i, 202404);
    assert_int_equal(p->f[FF_AMOUNT].i, 310055);
    const fact *a = find_fact(bag->items, bag->n, FK_ASSET);
    assert_int_equal(a->f[FF_VALUE].i, 9999999999LL);
    assert_string_equal(a->f[FF_KIND].s, "vehicle");
    const fact *per = find_fact(bag->items, bag->n, FK_PERSON);
    assert_string_equal(per->f[FF_SEX].s, "M");
    bag_free(bag);

    /* One kind only. */
    assert_int_equal(state_facts_each(st, FK_CUSTODY, collect_fact, bag), 0);
    assert_int_equal(bag->n, 1);
    assert_int_equal(bag->items[0].kind, FK_CUSTODY);
    assert_int_equal(bag->items[0].f[FF_FROM].i, 20240229);
    bag_free(bag);

    /* A callback returning nonzero stops the iteration. */
    bag->stop_after = 3;
    assert_int_equal(state_facts_each(st, -1, collect_fact, bag), 0);
    assert_int_equal(bag->n, 3);
    bag_free(bag);
    bag->stop_after = 0;

    /* Upsert: same (source, kind, ref) in a later cycle replaces the values. */
    fact *pay = &fs[2];
    set_int(pay, FF_AMOUNT, 320000);
    set_text(pay, FF_CASE, "DB-X");
    free(pay->raw_json);
    pay->raw_json = strdup("{\"JE\":\"3200.00\"}");
    assert_int_equal(state_fact_put(st, pay, 2), 0);
    assert_int_equal(state_fact_count(st, FK_PAYMENT), 1);
    assert_int_equal(state_facts_each(st, FK_PAYMENT, collect_fact, bag), 0);
    assert_int_equal(bag->n, 1);
    assert_fact_equal(st, &bag->items[0], pay);
    assert_int_equal(bag->items[0].f[FF_AMOUNT].i, 320000);
    bag_free(bag);
    state_close(st);
    assert_sql_text(fx, "SELECT first_cycle || '/' || last_cycle || '/' || case_key FROM facts"
                        " WHERE kind='payment'", "1/2/DB-X");
    assert_sql_text(fx, "SELECT id_norm FROM facts WHERE kind='verdict'", "");

    /* A stored fact that no longer fits the contract is an error, not silence. */
    /* (fields: version 1, field 255 of type 0, length 1, "x") */
    sql_exec(fx, "UPDATE facts SET fields=X'01FF000178' WHERE kind='income'");
    st = open_ok(fx);
    assert_int_equal(state_facts_each(st, FK_INCOME, collect_fact, bag), -1);
    assert_int_equal(bag->n, 0);
    sql_exec(fx, "UPDATE facts SET fields='not a blob' WHERE kind='income'");
    assert_int_equal(state_facts_each(st, FK_INCOME, collect_fact, bag), -1);
    assert_int_equal(bag->n, 0);
    /* a truncated row: its first bytes only */
    sql_exec(fx, "UPDATE facts SET fields=substr((SELECT fields FROM facts WHERE kind='payment'), 1, 5)"
                 " WHERE kind='income'");
    assert_int_equal(state_facts_each(st, FK_INCOME, collect_fact, bag), -1);
    assert_int_equal(bag->n, 0);
    state_close(st);

    free(bag);
    for (int i = 0; i < NKINDS; i++) fact_clear(&fs[i]);
}

/* Replaces the facts table with the schema-6 one (fields_json; key (source,
 * kind, ref); facts_kind and the other indexes of 6) holding fs as main's
 * code wrote them (fact_fields_json, hash, name hash, folded name), and marks
 * the store version 6. */
static void make_v6_facts(const fixture *fx, const fact *fs, int n, const char *bad_json) {
    sql_exec(fx, "DROP TABLE facts;"
                 "CREATE TABLE facts(source TEXT NOT NULL, kind TEXT NOT NULL, ref TEXT NOT NULL,"
                 " id_norm TEXT NOT NULL DEFAULT '', case_key TEXT, fields_json TEXT NOT NULL, raw_json TEXT,"
                 " first_cycle BIGINT NOT NULL, last_cycle BIGINT NOT NULL, name_norm TEXT,"
                 " content_hash BIGINT, dq INTEGER, name_hash BIGINT, PRIMARY KEY(source, kind, ref));"
                 "CREATE INDEX facts_dq ON facts(dq) WHERE dq IS NOT NULL;"
                 "CREATE INDEX facts_person_names ON facts(id_norm, name_hash, name_norm, kind) WHERE kind = 'person';"
                 "CREATE INDEX facts_case_key ON facts(case_key) WHERE case_key IS NOT NULL;"
                 "CREATE INDEX facts_kind ON facts(kind, source, ref);"
                 "UPDATE meta SET value='6' WHERE key='schema_version'");
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_open_v2(fx->path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "INSERT INTO facts VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, 1, ?8, ?9, NULL, ?10)",
                                        -1, &s, NULL),
                     SQLITE_OK);
    for (int i = 0; i < n; i++) {
        const fact *f = &fs[i];
        char *json = fact_fields_json(f);
        assert_non_null(json);
        sqlite3_bind_text(s, 1, f->source, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, fact_kind_name(f->kind), -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, f->ref, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 4, f->id_norm, -1, SQLITE_STATIC);
        if (FACT_HAS(f, FF_CASE)) sqlite3_bind_text(s, 5, f->f[FF_CASE].s, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 6, bad_json && i == n - 1 ? bad_json : json, -1, SQLITE_STATIC);
        if (f->raw_json) sqlite3_bind_text(s, 7, f->raw_json, -1, SQLITE_STATIC);
        if (f->name_norm) sqlite3_bind_text(s, 8, f->name_norm, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 9, (sqlite3_int64)state_fact_hash(f));
        if (f->kind == FK_PERSON && FACT_HAS(f, FF_NAME))
            sqlite3_bind_int64(s, 10, (sqlite3_int64)state_ref_hash(f->f[FF_NAME].s));
        assert_int_equal(sqlite3_step(s), SQLITE_DONE);
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
        free(json);
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
}

/* A schema-6 store (fields as JSON) is converted in place at open: every
 * fact reads back as it was stored, with its content hash (an unchanged
 * record is not rewritten), the old key and facts_kind are gone; a row whose
 * JSON does not parse fails the open and leaves the store as it was. */
static void test_migration_from_v6(void **stp) {
    fixture *fx = *stp;
    fact fs[NKINDS];
    make_all_kinds(fs);
    state_close(open_ok(fx));
    make_v6_facts(fx, fs, NKINDS, NULL);

    state *st = open_ok(fx);
    assert_sql_text(fx, "SELECT value FROM meta WHERE key='schema_version'", "11");
    assert_int_equal(sql_long(fx, "SELECT COUNT(*) FROM pragma_table_info('facts') WHERE name = 'fields_json'"), 0);
    assert_int_equal(sql_long(fx, "SELECT COUNT(*) FROM facts WHERE typeof(fields) = 'blob'"), NKINDS);
    assert_int_equal(sql_long(fx, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'facts_kind'"), 0);
    assert_int_equal(sql_long(fx, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'facts_v7'"), 0);
    assert_int_equal(sql_long(fx, "PRAGMA freelist_count"), 0); /* vacuumed after the conversion */
    assert_int_equal(sql_long(fx, "SELECT COUNT(*) FROM sqlite_master WHERE name IN"
                                  " ('facts_person_names', 'facts_case_key', 'facts_dq')"), 3);
    /* the key leads with kind */
    assert_sql_text(fx, "SELECT group_concat(name, ',') FROM (SELECT name FROM pragma_index_info("
                        "(SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'facts'"
                        " AND name LIKE 'sqlite_autoindex_facts%')) ORDER BY seqno)", "kind,source,ref");
    fact_bag *bag = calloc(1, sizeof *bag);
    assert_non_null(bag);
    assert_int_equal(state_facts_each(st, -1, collect_fact, bag), 0);
    assert_int_equal(bag->n, NKINDS);
    for (size_t i = 0; i < bag->n; i++) {
        const fact *want = find_fact(fs, NKINDS, bag->items[i].kind);
        assert_non_null(want);
        assert_fact_equal(st, &bag->items[i], want);
    }
    bag_free(bag);
    for (int i = 0; i < NKINDS; i++) {
        uint64_t h = 0;
        int found = 0;
        assert_int_equal(state_fact_stored_hash(st, &fs[i], &h, &found), 0);
        assert_int_equal(found, 1);
        assert_true(h == state_fact_hash(&fs[i]));
    }
    /* writing a fact again as it was is no change */
    long before = state_facts_changes(st);
    assert_int_equal(state_fact_put(st, &fs[0], 2), 0);
    assert_int_equal(state_facts_changes(st), before);
    state_close(st);

    /* a damaged row: the open fails, nothing is converted */
    make_v6_facts(fx, fs, NKINDS, "{\"no_such_field\":1}");
    char err[512] = "";
    assert_null(state_open(fx->path, err, sizeof err));
    assert_non_null(strstr(err, "migrate schema 6 -> 7"));
    assert_sql_text(fx, "SELECT value FROM meta WHERE key='schema_version'", "6");
    assert_int_equal(sql_long(fx, "SELECT COUNT(*) FROM pragma_table_info('facts') WHERE name = 'fields_json'"), 1);
    assert_int_equal(sql_long(fx, "SELECT COUNT(*) FROM facts"), NKINDS);
    assert_int_equal(sql_long(fx, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'facts_v7'"), 0);

    free(bag);
    for (int i = 0; i < NKINDS; i++) fact_clear(&fs[i]);
}

static void test_fact_put_rejects_missing_keys(void **stp) {
    fixture *fx = *stp;
    state *st = open_ok(fx);
    fact f;
    fact_init(&f, FK_DEATH);
    f.source = strdup("psb");
    assert_int_equal(state_fact_put(st, &f, 1), -1); /* no ref */
    assert_int_equal(state_fact_count(st, -1), 0);
    fact_clear(&f);
    state_close(st);
}

/* New subjects of interest as "source|kind|ref|first_cycle" strings. */
typedef struct interest_list {
    char rows[16][120];
    size_t n;
} interest_list;

static int collect_new_interest(void *ud, const char *source, const char *kind, const char *ref, long first) {
    interest_list *l = ud;
    if (l->n < 16) snprintf(l->rows[l->n++], sizeof l->rows[0], "%s|%s|%s|%ld", source, kind, ref, first);
    return 0;
}

/* Stores a minimal fact of kind k (state_fact_put checks no required fields). */
static void put_simple_at(state *st, fact_kind k, const char *source, const char *ref, const char *id_norm,
                          const char *case_key, long cycle) {
    fact f;
    fact_start(&f, k, source, ref, id_norm);
    if (id_norm && *id_norm) set_text(&f, FF_ID_NO, id_norm);
    if (case_key) set_text(&f, FF_CASE, case_key);
    assert_int_equal(state_fact_put(st, &f, cycle), 0);
    fact_clear(&f);
}

static void put_simple(state *st, fact_kind k, const char *source, const char *ref, const char *id_norm,
                       const char *case_key) {
    put_simple_at(st, k, source, ref, id_norm, case_key, 1);
}

/* ---- content hashes, refs seen, persons on demand -------------------------- */

static void person_at(fact *f, const char *ref, const char *id, const char *name, int birth) {
    fact_start(f, FK_PERSON, "grid", ref, NULL);
    set_text(f, FF_ID_NO, id);
    set_text(f, FF_NAME, name);
    if (birth) set_int(f, FF_BIRTH_DATE, birth);
    fact_normalize_identity(f, NULL, 20250101);
    free(f->raw_json);
    f->raw_json = strdup("{\"XM\":\"x\"}");
}

static int count_ids(void *ud, const char *id) {
    (void)id;
    (*(int *)ud)++;
    return 0;
}

/* The content hash of a fact is stored and compared across cycles: the same
 * fact must hash to the same value in every version, or an upgrade rewrites
 * every stored fact. The values below are those of gg_hash64 (XXH3) over the raw
 * hash (the raw JSON's when no row hash is set), the fields (a text field as
 * integer 0 and its string, any other as its integer and no string) and the
 * id's reading, as introduced with the row hash: changing them is a decision
 * (it rewrites every stored fact once), never an accident. */
static void hash_fact(fact *f, fact_kind k, const char *const *kv) {
    char err[200];
    fact_init(f, k);
    f->source = strdup("hr");
    f->ref = strdup("R1");
    for (int i = 0; kv[i]; i += 2) {
        fact_field ff;
        assert_int_equal(fact_field_parse(kv[i], &ff), 0);
        assert_int_equal(fact_set_text(f, ff, kv[i + 1], err, sizeof err), 0);
    }
    fact_normalize_identity(f, NULL, 20250630);
}

static void test_fact_hash_pinned(void **stp) {
    (void)stp;
    static const char *const person[] = {"id_no", "11010519491231002X", "name", "张三", "sex", "f",
                                         "birth_date", "1949-12-31", "region", "110105", NULL};
    static const char *const payment[] = {"id_no", "110105194912310021", "program", "pension", "period", "2024-03",
                                          "amount", "123450", "payer", "A", "paid_on", "20240305", NULL};
    static const char *const death[] = {"name", "李四", "death_date", "2024-03-12", "basis", "cremation",
                                        "revoked", "否", NULL};
    static const char *const asset[] = {"id_no", "11010519491231002X", "kind", "vehicle", "from", "20200101",
                                        "value", "-5", "description", "住宅", NULL};
    static const char *const *const all[] = {person, payment, death, asset};
    static const fact_kind kinds[] = {FK_PERSON, FK_PAYMENT, FK_DEATH, FK_ASSET};
    static const uint64_t want[] = {0x119b5c845ffe1e0bULL, 0x181dc9f55744721fULL, 0xd154399fe8195287ULL,
                                    0x30df58c05d628462ULL, 0xa33f58426a386494ULL};
    uint64_t got[5];
    fact f;
    for (int i = 0; i < 4; i++) {
        hash_fact(&f, kinds[i], all[i]);
        got[i] = state_fact_hash(&f);
        if (i == 0) { /* with the source's own values */
            f.raw_json = strdup("{\"XM\":\"张三\"}");
            got[4] = state_fact_hash(&f);
        }
        fact_clear(&f);
    }
    for (int i = 0; i < 5; i++)
        if (got[i] != want[i]) fprintf(stderr, "hash %d: 0x%016llxULL\n", i, (unsigned long long)got[i]);
    for (int i = 0; i < 5; i++) assert_true(got[i] == want[i]);
}

/* A fact stored with its content hash reads back that hash; any change of a
 * field or the raw values changes it. An unchanged fact found by its hash is
 * not rewritten (the cycle skips it), and pruning by the refs seen removes
 * exactly the facts not among them. */
static void test_fact_hash_and_prune_unseen(void **stp) {
    fixture *fx = *stp;
    state *st = open_ok(fx);
    fact a, b;
    person_at(&a, "P1", "11010519491231002X", "张三", 0);
    uint64_t h0 = state_fact_hash(&a), stored = 0;
    int found = 1;
    assert_int_equal(state_fact_stored_hash(st, &a, &stored, &found), 0);
    assert_int_equal(found, 0);
    assert_int_equal(state_fact_put(st, &a, 1), 0);
    assert_int_equal(state_fact_stored_hash(st, &a, &stored, &found), 0);
    assert_int_equal(found, 1);
    assert_true(stored == h0);
    assert_true(state_fact_hash(&a) == h0); /* stable */
    set_text(&a, FF_NAME, "张四");
    assert_true(state_fact_hash(&a) != h0);
    set_text(&a, FF_NAME, "张三");
    free(a.raw_json);
    a.raw_json = strdup("{\"XM\":\"y\"}");
    assert_true(state_fact_hash(&a) != h0);
    assert_true(state_ref_hash("P1") != state_ref_hash("P2"));

    person_at(&b, "P2", "11010519491231002X", "张三", 0);
    assert_int_equal(state_fact_put(st, &b, 1), 0);
    put_simple(st, FK_DEATH, "grid", "P3", "110105194912310029", NULL);
    uint64_t seen[1] = {state_ref_hash("P2")};
    long gone = -1;
    assert_int_equal(state_facts_prune_unseen(st, "grid", FK_PERSON, seen, 1, &gone), 0);
    assert_int_equal(gone, 1);
    assert_int_equal(sql_long(fx, "SELECT COUNT(*) FROM facts WHERE kind = 'person'"), 1);
    assert_int_equal(sql_long(fx, "SELECT COUNT(*) FROM facts WHERE ref = 'P2'"), 1);
    assert_int_equal(sql_long(fx, "SELECT COUNT(*) FROM facts WHERE kind = 'death'"), 1); /* other kind */
    assert_int_equal(state_facts_prune_unseen(st, "grid", FK_PERSON, NULL, 0, &gone), 0);
    assert_int_equal(gone, 1);
    assert_int_equal(state_fact_count(st, FK_PERSON), 0);
    fact_clear(&a);
    fact_clear(&b);
    state_close(st);
}

/* The identity change counter counts what the subjects of interest and the
 * register's names derive from: every insert and delete of a fact of the
 * small side, an update of one, and of a person only its id, names or
 * conflict flag; payments and incomes never. The change counter counts all. */
/* Puts person ref as stated, living at address (NULL: none). */
static void put_person_as(state *st, int stored, const char *ref, const char *id, const char *name, int birth,
                          const char *address, long cycle) {
    fact p;
    person_at(&p, ref, id, name, birth);
    if (address) set_text(&p, FF_ADDRESS, address);
    if (stored)
        assert_int_equal(state_fact_put_stored(st, &p, cycle, state_fact_hash(&p)), 0);
    else
        assert_int_equal(state_fact_put(st, &p, cycle), 0);
    fact_clear(&p);
}

static void put_person(state *st, const char *ref, const char *id, const char *name, int birth, const char *address,
                       long cycle) {
    put_person_as(st, 0, ref, id, name, birth, address, cycle);
}

/* Both change counters as they should stand (changes < 0: not checked). */
static void expect_changes(state *st, long changes, long identity) {
    if (changes >= 0) assert_int_equal(state_facts_changes(st), changes);
    assert_int_equal(state_facts_identity_changes(st), identity);
}

static void test_identity_changes(void **stp) {
    fixture *fx = *stp;
    state *st = open_ok(fx);
    const char *A = "11010519491231002X", *B = "110105194912310038", *C = "110105194912310045";
    put_person(st, "r1", A, "王小明", 19491231, "东街1号", 1);
    expect_changes(st, 1, 1); /* a new person */
    put_person(st, "r1", A, "王小明", 19491231, "西街2号", 2);
    expect_changes(st, 2, 1); /* moved: a change, not one of identity */
    put_person(st, "r1", A, "王小明", 19491231, "西街2号", 3);
    expect_changes(st, 2, 1); /* the same again: neither */
    put_person(st, "r1", A, "王晓明", 19491231, "西街2号", 4);
    expect_changes(st, 3, 2); /* renamed: identity */
    put_person(st, "r1", A, "王晓明", 19500101, "西街2号", 5);
    expect_changes(st, -1, 3); /* a stated birth date other than the id's (the conflict flag): identity */
    put_person(st, "r1", B, "王晓明", 0, "西街2号", 6);
    expect_changes(st, 5, 4); /* another id: identity */
    /* payments and incomes: changes, never of identity */
    put_simple_at(st, FK_PAYMENT, "hr", "p1", B, NULL, 6);
    put_simple_at(st, FK_INCOME, "hr", "i1", B, NULL, 6);
    put_simple_at(st, FK_PAYMENT, "hr", "p1", C, NULL, 7);
    expect_changes(st, 8, 4);
    long gone = 0;
    assert_int_equal(state_facts_prune(st, "hr", FK_PAYMENT, 8, &gone), 0);
    assert_int_equal(gone, 1);
    expect_changes(st, 9, 4);
    /* any other kind: every change; a person pruned: identity */
    put_simple_at(st, FK_DEATH, "psb", "d1", B, NULL, 8);
    put_simple_at(st, FK_DEATH, "psb", "d1", C, NULL, 9);
    expect_changes(st, -1, 6);
    assert_int_equal(state_facts_prune(st, "grid", FK_PERSON, 10, &gone), 0);
    assert_int_equal(gone, 1);
    expect_changes(st, 12, 7);
    /* a first load of persons counts every person put, at its end */
    assert_int_equal(state_begin(st), 0);
    assert_int_equal(state_person_index_suspend(st), 0);
    put_person(st, "r2", "110105194912310054", "李四", 0, NULL, 11);
    put_simple_at(st, FK_PAYMENT, "hr", "p2", "110105194912310054", NULL, 11);
    expect_changes(st, -1, 7);
    assert_int_equal(state_person_index_restore(st), 0);
    assert_int_equal(state_commit(st), 0);
    expect_changes(st, 14, 8);
    state_close(st);
}

/* The stored person of an id, as the store gives it back: its address and
 * name (copied into the buffers; "" when absent). */
static void stored_person(state *st, const char *id, char *address, char *name, size_t n) {
    fact_bag b = {0};
    const char *ids[] = {id};
    assert_int_equal(state_facts_of_ids(st, 1, ids, 1, collect_fact, &b), 0);
    assert_int_equal(b.n, 1);
    const fact *f = &b.items[0];
    snprintf(address, n, "%s", FACT_HAS(f, FF_ADDRESS) && f->f[FF_ADDRESS].s ? f->f[FF_ADDRESS].s : "");
    snprintf(name, n, "%s", FACT_HAS(f, FF_NAME) && f->f[FF_NAME].s ? f->f[FF_NAME].s : "");
    bag_free(&b);
}

/* state_fact_put_stored rewrites what changed; a change of identity (name,
 * id, stated birth date) goes through the upsert, and so does a fact that
 * was not stored after all. The persons' name index follows every path. */
static void test_put_stored(void **stp) {
    fixture *fx = *stp;
    state *st = open_ok(fx);
    const char *A = "11010519491231002X";
    char addr[64], name[64];
    int persons = 0, same = 0;
    put_person_as(st, 1, "r1", A, "王小明", 19491231, "东街1号", 1);
    expect_changes(st, 1, 1); /* not stored yet: inserted */
    assert_int_equal(state_fact_count(st, FK_PERSON), 1);
    put_person_as(st, 1, "r1", A, "王小明", 19491231, "西街2号", 2);
    expect_changes(st, 2, 1); /* moved: rewritten in place, no change of identity */
    stored_person(st, A, addr, name, sizeof addr);
    assert_string_equal(addr, "西街2号");
    assert_int_equal(state_person_name_check(st, A, "王小明", NULL, &persons, &same), 0);
    assert_true(persons && same);
    put_person_as(st, 1, "r1", A, "王晓明", 19491231, "西街2号", 3);
    expect_changes(st, 3, 2); /* renamed: the upsert, identity */
    stored_person(st, A, addr, name, sizeof addr);
    assert_string_equal(name, "王晓明");
    assert_int_equal(state_person_name_check(st, A, "王晓明", NULL, &persons, &same), 0);
    assert_true(persons && same);
    assert_int_equal(state_person_name_check(st, A, "王小明", NULL, &persons, &same), 0);
    assert_true(persons && !same); /* the index no longer has the old name */
    put_person_as(st, 1, "r1", A, "王晓明", 19500101, "西街2号", 4);
    expect_changes(st, 4, 3); /* a stated birth date other than the id's: the conflict flag, identity */
    assert_int_equal(state_fact_count(st, FK_PERSON), 1);
    state_close(st);
}

/* The touched log (store/touched.c): off until a match restarts it; then
 * every insert, delete and content change of a fact but a verdict adds its
 * id, case and (without a valid id) folded name once, a rewrite with the same
 * content nothing; a rolled-back write leaves no key; stop turns it off. */
typedef struct {
    char keys[16][64];
    int n;
} touched_keys;

static int collect_touched(void *ud, char type, const char *value) {
    touched_keys *t = ud;
    if (t->n < 16) snprintf(t->keys[t->n++], sizeof t->keys[0], "%c%s", type, value);
    return 0;
}

static int has_touched(state *st, const char *key) {
    touched_keys t = {.n = 0};
    assert_int_equal(state_touched_each(st, collect_touched, &t), 0);
    for (int i = 0; i < t.n; i++)
        if (!strcmp(t.keys[i], key)) return 1;
    return 0;
}

/* An alert's evidence is written as JSON text directly (store/alerts.c,
 * core/jsontext.h): one alert with three pieces of evidence, raw values as a
 * worker writes them (kept byte for byte), a REST item with nested values
 * (written by jansson), and text that does not parse (null, with a warning:
 * the alert is stored, the rest of its evidence complete). */
static void test_alert_evidence_json(void **stp) {
    fixture *fx = *stp;
    state *st = open_ok(fx);

    alert a;
    memset(&a, 0, sizeof a);
    a.rule = RULE_PENSION_AFTER_DEATH;
    snprintf(a.id, sizeof a.id, "A-jsontext-1");
    a.subject = strdup("42050119500312123X");
    a.amount = 100;
    a.conf = CONF_HIGH;
    alert_evidence ev[3];
    memset(ev, 0, sizeof ev);
    const char *raws[3] = {"{\"lsh\":\"L1\",\"xm\":\"张三\",\"ffje\":\"1.00\"}",
                           "{\"id\": \"D1\", \"nested\": {\"a\": [1, 2.5]}}", "{\"broken\":"};
    for (int i = 0; i < 3; i++) {
        ev[i].role = strdup(i ? "death" : "payment");
        ev[i].source = strdup("hr");
        ev[i].kind = strdup(i ? "death" : "payment");
        char ref[8];
        snprintf(ref, sizeof ref, "R%d", i);
        ev[i].ref = strdup(ref);
        ev[i].raw_json = strdup(raws[i]);
        ev[i].norm_json = strdup("{\"amount\":100}");
        ev[i].link = LINK_HIGH;
    }
    a.ev = ev;
    a.nev = 3;
    alert_change ch;
    assert_int_equal(state_alert_upsert(st, &a, &ch), 0); /* the broken raw values do not fail it */
    assert_int_equal(ch, ALERT_CREATED);

    alert got;
    assert_int_equal(state_alert_get(st, "A-jsontext-1", &got), 0);
    assert_int_equal(got.nev, 3);
    assert_string_equal(got.ev[0].raw_json, raws[0]); /* as the worker wrote it */
    assert_string_equal(got.ev[1].raw_json, "{\"id\":\"D1\",\"nested\":{\"a\":[1,2.5]}}"); /* by jansson */
    assert_null(got.ev[2].raw_json);                                                  /* null, not lost */
    assert_string_equal(got.ev[2].ref, "R2");
    assert_string_equal(got.ev[2].norm_json, "{\"amount\":100}");
    alert_free(&got);

    for (int i = 0; i < 3; i++) {
        free(ev[i].role);
        free(ev[i].source);
        free(ev[i].kind);
        free(ev[i].ref);
        free(ev[i].raw_json);
        free(ev[i].norm_json);
    }
    free(a.subject);
    state_close(st);
}

/* Denies reading the schema table: the query that tells state_begin
 * whether the touched log is on fails inside the transaction it opened. */
static int deny_schema_read(void *ud, int action, const char *a, const char *b, const char *c, const char *d) {
    (void)ud;
    (void)b;
    (void)c;
    (void)d;
    if (action == SQLITE_READ && a && (!strcmp(a, "sqlite_master") || !strcmp(a, "sqlite_schema"))) return SQLITE_DENY;
    return SQLITE_OK;
}

/* state_begin reads whether the touched log is on inside the transaction it
 * has opened (BEGIN IMMEDIATE); when that read fails, the transaction is
 * rolled back, not left open for the next BEGIN to trip over, and the
 * failure is returned; once the read works again, so does the next
 * transaction, with the log's writes as before. */
static void test_begin_fails_cleanly(void **stp) {
    fixture *fx = *stp;
    state *st = open_ok(fx);
    const char *A = "11010519491231002X";
    assert_int_equal(state_touch_log_restart(st), 0);
    sqlite3_set_authorizer(st->db, deny_schema_read, NULL);
    assert_int_equal(state_begin(st), -1);
    assert_false(state_in_transaction(st));
    sqlite3_set_authorizer(st->db, NULL, NULL);
    assert_int_equal(state_begin(st), 0);
    put_simple_at(st, FK_DEATH, "psb", "d1", A, NULL, 1);
    assert_int_equal(state_commit(st), 0);
    assert_true(has_touched(st, "i11010519491231002X")); /* the log still on */
    state_close(st);
}

/* How many facts of the bag have this ref. */
static int bag_refs(const fact_bag *b, const char *ref) {
    int n = 0;
    for (size_t i = 0; i < b->n; i++) n += strcmp(b->items[i].ref, ref) == 0;
    return n;
}

/* The facts of many ids at once (state_facts_of_ids): the persons of the
 * ids, or their other facts but verdicts, each once whatever the order or
 * repetition of the ids; ids with nothing stored add nothing; the same inside
 * a read transaction (the ids go through a TEMP table) and inside a write
 * one, and the id table is left empty for the next call. */
static void test_facts_of_ids(void **stp) {
    fixture *fx = *stp;
    state *st = open_ok(fx);
    const char *A = "11010519491231002X", *B = "110105195001010012", *C = "110105195501010019";
    put_person_as(st, 0, "r1", A, "王小明", 19491231, "东街1号", 1);
    put_person_as(st, 0, "r2", B, "李四", 19500101, NULL, 1);
    put_person_as(st, 0, "r3", B, "李肆", 19500101, NULL, 1); /* the same id twice */
    put_person_as(st, 0, "r4", C, "张三", 19550101, NULL, 1);
    put_simple_at(st, FK_DEATH, "psb", "d1", A, NULL, 1);
    put_simple_at(st, FK_PAYMENT, "hr", "p1", A, NULL, 1);
    put_simple_at(st, FK_PAYMENT, "hr", "p2", B, NULL, 1);
    put_simple_at(st, FK_PAYMENT, "hr", "p3", C, NULL, 1);
    put_simple_at(st, FK_VERDICT, "grid", "v1", NULL, NULL, 1);
    assert_int_equal(state_touch_log_restart(st), 0); /* facts_subject exists from here */

    fact_bag *bag = calloc(1, sizeof *bag);
    assert_non_null(bag);
    const char *ids[] = {B, "110105196001010017", A, B}; /* the second: nothing stored */
    assert_int_equal(state_facts_of_ids(st, 1, ids, 4, collect_fact, bag), 0);
    assert_int_equal(bag->n, 3);
    assert_true(bag_refs(bag, "r1") == 1 && bag_refs(bag, "r2") == 1 && bag_refs(bag, "r3") == 1);
    bag_free(bag);
    assert_int_equal(state_facts_of_ids(st, 0, ids, 4, collect_fact, bag), 0);
    assert_int_equal(bag->n, 3); /* d1, p1, p2: no person, not C's payment */
    assert_true(bag_refs(bag, "d1") == 1 && bag_refs(bag, "p1") == 1 && bag_refs(bag, "p2") == 1);
    bag_free(bag);
    /* inside a read transaction, then a write one; nothing left of earlier ids */
    assert_int_equal(state_read_begin(st), 0);
    const char *c[] = {C};
    assert_int_equal(state_facts_of_ids(st, 1, c, 1, collect_fact, bag), 0);
    assert_int_equal(state_facts_of_ids(st, 0, c, 1, collect_fact, bag), 0);
    assert_int_equal(state_read_end(st), 0);
    assert_int_equal(bag->n, 2);
    assert_true(bag_refs(bag, "r4") == 1 && bag_refs(bag, "p3") == 1);
    bag_free(bag);
    assert_int_equal(state_begin(st), 0);
    assert_int_equal(state_facts_of_ids(st, 1, c, 1, collect_fact, bag), 0);
    assert_int_equal(state_commit(st), 0);
    assert_int_equal(bag->n, 1);
    bag_free(bag);
    assert_int_equal(state_facts_of_ids(st, 1, ids, 0, collect_fact, bag), 0); /* no id: nothing */
    assert_int_equal(bag->n, 0);
    assert_int_equal(sql_long(fx, "SELECT count(*) FROM facts"), 9); /* the temp table is the handle's own */
    free(bag);
    state_close(st);
}

static void test_touched_log(void **stp) {
    fixture *fx = *stp;
    state *st = open_ok(fx);
    const char *A = "11010519491231002X", *B = "110105195001010011";
    assert_int_equal(state_touch_log_on(st), 0);
    put_person_as(st, 0, "r1", A, "王小明", 19491231, "东街1号", 1);
    assert_int_equal(state_touched_count(st), 0); /* off: nothing kept */
    assert_int_equal(state_touch_log_restart(st), 0);
    assert_int_equal(state_touch_log_on(st), 1);
    assert_int_equal(state_touched_count(st), 0);
    /* no trigger on an insert or update of a fact (each made SQLite journal
     * every write's pages): the writer logs them */
    assert_int_equal(sql_long(fx, "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'facts'"
                                  " AND sql NOT LIKE '%AFTER DELETE ON%'"),
                     0);
    put_person_as(st, 0, "r1", A, "王小明", 19491231, "东街1号", 2);
    assert_int_equal(state_touched_count(st), 0); /* the same content: no change */
    put_person_as(st, 1, "r1", A, "王小明", 19491231, "西街2号", 3);
    assert_int_equal(state_touched_count(st), 1); /* moved: the narrow update */
    assert_true(has_touched(st, "i11010519491231002X"));
    put_person_as(st, 0, "r1", A, "王晓明", 19491231, "西街2号", 4);
    assert_int_equal(state_touched_count(st), 1); /* renamed: the same id, once */
    put_simple_at(st, FK_ASSISTANCE_MEMBER, "civil", "m1", B, "C1", 4);
    assert_true(has_touched(st, "i110105195001010011") && has_touched(st, "cC1"));
    assert_int_equal(state_touched_count(st), 3);
    put_person_as(st, 0, "r2", "12345", "张三", 19600101, NULL, 4); /* no valid id */
    assert_true(has_touched(st, "n张三"));
    put_simple_at(st, FK_VERDICT, "grid", "v1", NULL, NULL, 4);
    put_simple_at(st, FK_VERDICT, "grid", "v2", NULL, NULL, 4);
    assert_true(has_touched(st, "v")); /* verdicts are read whole: one key says one changed */
    assert_int_equal(state_touched_count(st), 5);
    /* a rolled-back write leaves no key */
    assert_int_equal(state_begin(st), 0);
    put_simple_at(st, FK_DEATH, "psb", "d1", "110105195501010014", NULL, 5);
    assert_int_equal(state_rollback(st), 0);
    assert_false(has_touched(st, "i110105195501010014"));
    /* a restart empties it; a deleted fact is touched as it was */
    assert_int_equal(state_touch_log_restart(st), 0);
    assert_int_equal(state_touched_count(st), 0);
    assert_int_equal(state_facts_prune(st, "civil", FK_ASSISTANCE_MEMBER, 5, NULL), 0);
    assert_true(has_touched(st, "i110105195001010011") && has_touched(st, "cC1"));
    assert_int_equal(state_touched_count(st), 2);
    /* stop: off and empty, and writes are no longer logged */
    assert_int_equal(state_touch_log_stop(st), 0);
    assert_int_equal(state_touch_log_on(st), 0);
    assert_int_equal(state_touched_count(st), 0);
    put_person_as(st, 0, "r1", A, "王小明", 19491231, "北街3号", 6);
    assert_int_equal(state_touched_count(st), 0);
    /* a store of an earlier build logged inserts and updates by triggers:
     * they go at open, the log stays on, and the writer logs instead */
    assert_int_equal(state_touch_log_restart(st), 0);
    state_close(st);
    sql_exec(fx, "CREATE TRIGGER facts_touched_ins AFTER INSERT ON facts BEGIN SELECT 1; END;"
                 "CREATE TRIGGER facts_touched_upd AFTER UPDATE ON facts BEGIN SELECT 1; END;");
    st = open_ok(fx);
    assert_int_equal(sql_long(fx, "SELECT count(*) FROM sqlite_master WHERE name IN"
                                  " ('facts_touched_ins', 'facts_touched_upd')"),
                     0);
    assert_int_equal(state_touch_log_on(st), 1);
    put_person_as(st, 1, "r1", A, "王小明", 19491231, "南街4号", 7);
    assert_true(has_touched(st, "i11010519491231002X"));
    assert_int_equal(state_touched_count(st), 1);
    state_close(st);
    /* a store of an earlier build had two indexes for the log (facts_id,
     * facts_no_id; two scans to build): they go at open with the log, which
     * the next match turns on with its one index, facts_subject */
    sql_exec(fx, "DROP INDEX facts_subject;"
                 "CREATE INDEX facts_id ON facts(id_norm, name_norm) WHERE id_norm <> ''"
                 " AND kind NOT IN ('person', 'verdict');"
                 "CREATE INDEX facts_no_id ON facts(kind) WHERE id_norm = '' AND name_norm IS NOT NULL"
                 " AND kind NOT IN ('person', 'verdict');");
    st = open_ok(fx);
    assert_int_equal(sql_long(fx, "SELECT count(*) FROM sqlite_master WHERE name IN"
                                  " ('facts_id', 'facts_no_id', 'facts_subject', 'facts_touched_del')"),
                     0);
    assert_int_equal(state_touch_log_on(st), 0);
    assert_int_equal(state_touched_count(st), 0);
    assert_int_equal(state_touch_log_restart(st), 0);
    assert_int_equal(state_touch_log_on(st), 1);
    assert_int_equal(sql_long(fx, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'facts_subject'"),
                     1);
    put_person_as(st, 0, "r2", "12345", "张三", 19600101, "东街1号", 8); /* no valid id: by name */
    assert_true(has_touched(st, "n张三"));
    state_close(st);
}

/* The register cache (store/register.c): the persons' generation moves with
 * every write that may change the register (a person inserted, deleted,
 * renamed; a first load) and not with others (a resident who moved, a death);
 * a cache is read back only under the generation it was stored under. */
static void test_register_cache(void **stp) {
    fixture *fx = *stp;
    state *st = open_ok(fx);
    const char *A = "11010519491231002X";
    long g0 = state_person_gen(st);
    assert_true(g0 >= 0);
    put_person_as(st, 0, "r1", A, "王小明", 19491231, "东街1号", 1);
    long g1 = state_person_gen(st);
    assert_true(g1 > g0);
    put_person_as(st, 1, "r1", A, "王小明", 19491231, "西街2号", 2); /* moved */
    put_simple_at(st, FK_DEATH, "psb", "d1", A, NULL, 2);
    assert_int_equal(state_person_gen(st), g1);
    put_person_as(st, 0, "r1", A, "王晓明", 19491231, "西街2号", 3); /* renamed */
    long g2 = state_person_gen(st);
    assert_true(g2 > g1);
    /* a rolled-back write leaves it */
    assert_int_equal(state_begin(st), 0);
    put_person_as(st, 0, "r2", "110105195001010011", "李四", 19500101, NULL, 3);
    assert_int_equal(state_rollback(st), 0);
    assert_int_equal(state_person_gen(st), g2);
    /* a first load of persons counts at its end */
    assert_int_equal(state_begin(st), 0);
    assert_int_equal(state_person_index_suspend(st), 0);
    put_person_as(st, 0, "r3", "110105195001010011", "李四", 19500101, NULL, 4);
    assert_int_equal(state_person_index_restore(st), 0);
    assert_int_equal(state_commit(st), 0);
    long g3 = state_person_gen(st);
    assert_true(g3 > g2);
    assert_int_equal(state_facts_prune(st, "grid", FK_PERSON, 4, NULL), 0); /* r1 deleted */
    long g4 = state_person_gen(st);
    assert_true(g4 > g3);
    /* written under g4: read back under g4 only, from a private file */
    uint64_t ids[3] = {1, 5, 9}, pairs[2] = {2, 7};
    state_register_map m;
    assert_int_equal(state_register_cache_get(st, g4, &m), 0);
    assert_int_equal(state_register_cache_put(st, g4, ids, 3, pairs, 2), 0);
    char rpath[600];
    snprintf(rpath, sizeof rpath, "%s.register", fx->path);
    struct stat sb;
    assert_int_equal(stat(rpath, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(state_register_cache_get(st, g4, &m), 1);
    assert_int_equal(m.nids, 3);
    assert_int_equal(m.npairs, 2);
    assert_memory_equal(m.ids, ids, sizeof ids);
    assert_memory_equal(m.pairs, pairs, sizeof pairs);
    state_register_map_release(&m);
    assert_null(m.map);
    put_person_as(st, 0, "r4", "110105195501010014", "赵五", 19550101, NULL, 5);
    assert_int_equal(state_register_cache_get(st, state_person_gen(st), &m), 0); /* stale */
    /* a damaged file is not read (warned), as if none were written */
    long g5 = state_person_gen(st);
    assert_int_equal(state_register_cache_put(st, g5, ids, 3, pairs, 2), 0);
    assert_int_equal(truncate(rpath, (off_t)sb.st_size - 4), 0);
    assert_int_equal(state_register_cache_get(st, g5, &m), 0);
    assert_null(m.map);
    /* two stores do not share a generation: each starts at a random one */
    assert_true(g0 != 0);
    state_close(st);
}

/* Persons are found by id, by folded name + the birth date the id embeds, and
 * by a conflict of their own (two names for one id, or a stated birth date
 * other than the id's); those without a valid id are listed apart. */
/* A first load of persons builds the persons' index at its end; a load that
 * fails is rolled back with the index as it was. */
static void test_person_index_suspended_for_first_load(void **stp) {
    fixture *fx = *stp;
    const char *count_ix = "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'facts_person_names'";
    state *st = open_ok(fx);
    fact fs[NKINDS];
    make_all_kinds(fs);
    const fact *person = find_fact(fs, NKINDS, FK_PERSON);
    assert_non_null(person);
    /* rolled back: no person stored, the index still there, the change
     * counter unchanged and counting again (its triggers are back) */
    assert_int_equal(state_begin(st), 0);
    assert_int_equal(state_person_index_suspend(st), 0);
    assert_int_equal(state_fact_put(st, person, 1), 0);
    assert_int_equal(state_rollback(st), 0);
    assert_int_equal(state_facts_changes(st), 0);
    assert_int_equal(state_begin(st), 0);
    assert_int_equal(state_fact_put(st, person, 1), 0);
    assert_int_equal(state_rollback(st), 0);
    assert_int_equal(state_facts_changes(st), 0);
    /* nor after a suspended load that wrote nothing */
    assert_int_equal(state_begin(st), 0);
    assert_int_equal(state_person_index_suspend(st), 0);
    assert_int_equal(state_rollback(st), 0);
    put_simple_at(st, FK_DEATH, "src", "d0", "110105194912310029", NULL, 1);
    assert_int_equal(state_facts_changes(st), 1);
    assert_int_equal(state_facts_prune(st, "src", FK_DEATH, 2, NULL), 0);
    assert_int_equal(state_facts_changes(st), 2);
    state_close(st);
    assert_int_equal(sql_long(fx, count_ix), 1);
    assert_int_equal(sql_long(fx, "SELECT count(*) FROM facts"), 0);
    /* committed: the person stored, the index rebuilt and in use; the
     * change counter counts each fact put once, and its triggers count the
     * writes after the load again */
    st = open_ok(fx);
    assert_int_equal(state_begin(st), 0);
    assert_int_equal(state_person_index_suspend(st), 0);
    assert_int_equal(state_fact_put(st, person, 1), 0);
    put_simple_at(st, FK_DEATH, "src", "d1", "110105194912310029", NULL, 1);
    assert_int_equal(state_facts_changes(st), 0); /* counted at the end of the load */
    assert_int_equal(state_person_index_restore(st), 0);
    assert_int_equal(state_commit(st), 0);
    assert_int_equal(state_facts_changes(st), 2);
    put_simple_at(st, FK_DEATH, "src", "d1", "110105194912310029", NULL, 1); /* unchanged: not counted */
    assert_int_equal(state_facts_changes(st), 2);
    put_simple_at(st, FK_DEATH, "src", "d2", "110105194912310037", NULL, 1);
    assert_int_equal(state_facts_changes(st), 3);
    put_simple_at(st, FK_DEATH, "src", "d2", "110105194912310045", NULL, 2); /* changed: the update trigger */
    assert_int_equal(state_facts_changes(st), 4);
    long gone = 0;
    assert_int_equal(state_facts_prune(st, "src", FK_DEATH, 2, &gone), 0);
    assert_int_equal(gone, 1);
    assert_int_equal(state_facts_changes(st), 5);
    fact_bag *bag = calloc(1, sizeof *bag);
    assert_non_null(bag);
    char *id = sql_text(fx, "SELECT id_norm FROM facts WHERE kind = 'person'");
    assert_non_null(id);
    const char *ids[] = {id};
    assert_int_equal(state_facts_of_ids(st, 1, ids, 1, collect_fact, bag), 0); /* INDEXED BY facts_person_names */
    free(id);
    assert_int_equal(bag->n, 1);
    bag_free(bag);
    free(bag);
    state_close(st);
    assert_int_equal(sql_long(fx, count_ix), 1);
    assert_int_equal(sql_long(fx, "SELECT count(*) FROM facts INDEXED BY facts_person_names WHERE kind = 'person'"),
                     1);
    for (int i = 0; i < NKINDS; i++) fact_clear(&fs[i]);
}

/* A kept statement is prepared once per literal and given back reset with
 * no bindings; past ST_KEPT_MAX distinct literals st_kept fails (logged)
 * instead of leaking; the store closes with them finalized (the sanitizer
 * build checks). */
static void test_kept_statements(void **stp) {
    fixture *fx = *stp;
    state *st = open_ok(fx);
    static const char *const ins = "INSERT INTO marks(scope, key, value, updated_at) VALUES(?1, ?2, 'v', 0)";
    sqlite3_stmt *a = st_kept(st, "test kept", ins);
    assert_non_null(a);
    assert_int_equal(sqlite3_bind_text(a, 1, "s", -1, SQLITE_STATIC), SQLITE_OK);
    assert_int_equal(sqlite3_bind_text(a, 2, "k1", -1, SQLITE_STATIC), SQLITE_OK);
    assert_int_equal(st_kept_step_done(st, "test kept", a), 0);
    sqlite3_stmt *b = st_kept(st, "test kept", ins);
    assert_ptr_equal(a, b); /* the same statement, not prepared again */
    assert_null(sqlite3_column_name(b, 0)); /* an INSERT: no columns */
    assert_int_equal(sqlite3_stmt_busy(b), 0);
    /* bindings cleared: the key is NULL now, which the NOT NULL refuses */
    assert_int_equal(sqlite3_bind_text(b, 1, "s", -1, SQLITE_STATIC), SQLITE_OK);
    assert_int_equal(st_kept_step_done(st, "test kept", b), -1);
    assert_int_equal(sqlite3_stmt_busy(b), 0);
    /* distinct literals up to the limit, then an error */
    static char sqls[ST_KEPT_MAX + 1][64];
    size_t used = 0;
    while (used < ST_KEPT_MAX && st->kept[used].sql) used++;
    for (size_t i = 0; used + i <= ST_KEPT_MAX; i++) {
        snprintf(sqls[i], sizeof sqls[i], "SELECT %zu", i);
        sqlite3_stmt *s = st_kept(st, "test kept", sqls[i]);
        if (used + i < ST_KEPT_MAX) assert_non_null(s);
        else assert_null(s);
    }
    state_close(st);
    assert_int_equal(sql_long(fx, "SELECT count(*) FROM marks WHERE scope = 's'"), 1);
}

/* PRAGMA cache_size of a connection, in KiB (SQLite reports -KiB). */
static long conn_cache_kib(sqlite3 *db) {
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA cache_size", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    long v = (long)sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v < 0 ? -v : v;
}

/* An index build runs with the sorter's small page cache and gives the
 * connection its own cache back, built or failed; the first load's persons'
 * index too. */
static void test_index_build_gives_the_cache_back(void **stp) {
    fixture *fx = *stp;
    state *st = open_ok(fx);
    assert_int_equal(conn_cache_kib(st->db), STATE_CACHE_KIB);
    assert_int_equal(st_exec_index_build(st->db, "test build", "CREATE INDEX t_refs ON facts(ref);", STATE_CACHE_KIB), 0);
    assert_int_equal(conn_cache_kib(st->db), STATE_CACHE_KIB);
    assert_int_equal(st_exec_index_build(st->db, "test build", "CREATE INDEX t_bad ON facts(no_such_column);",
                                         STATE_CACHE_KIB),
                     -1);
    assert_int_equal(conn_cache_kib(st->db), STATE_CACHE_KIB);
    fact fs[NKINDS];
    make_all_kinds(fs);
    const fact *person = find_fact(fs, NKINDS, FK_PERSON);
    assert_non_null(person);
    assert_int_equal(state_begin(st), 0);
    assert_int_equal(state_person_index_suspend(st), 0);
    assert_int_equal(state_fact_put(st, person, 1), 0);
    assert_int_equal(state_person_index_restore(st), 0);
    assert_int_equal(state_commit(st), 0);
    assert_int_equal(conn_cache_kib(st->db), STATE_CACHE_KIB);
    state_close(st);
    assert_int_equal(sql_long(fx, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 't_refs'"), 1);
    assert_int_equal(sql_long(fx, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 't_bad'"), 0);
    assert_int_equal(sql_long(fx, "SELECT count(*) FROM facts INDEXED BY facts_person_names WHERE kind = 'person'"),
                     1);
    for (int i = 0; i < NKINDS; i++) fact_clear(&fs[i]);
}

/* A first load of any kind counts its facts at its end (a payment only as
 * a change, a death also of identity), the persons' generation does not move
 * for a load without persons, and a rolled-back load counts nothing and
 * leaves the writer counting each write again. */
static void test_first_load_counts_at_its_end(void **stp) {
    fixture *fx = *stp;
    const char *A = "11010519491231002X", *B = "110105194912310038";
    state *st = open_ok(fx);
    long g0 = state_person_gen(st);
    assert_true(g0 >= 0);
    assert_int_equal(state_begin(st), 0);
    assert_int_equal(state_first_load_begin(st), 0);
    put_simple_at(st, FK_PAYMENT, "hr", "p1", A, NULL, 1);
    put_simple_at(st, FK_PAYMENT, "hr", "p2", B, NULL, 1);
    put_simple_at(st, FK_DEATH, "psb", "d1", A, NULL, 1);
    expect_changes(st, 0, 0); /* counted at the end of the load */
    assert_int_equal(state_first_load_end(st), 0);
    assert_int_equal(state_commit(st), 0);
    expect_changes(st, 3, 1);
    assert_int_equal(state_person_gen(st), g0);
    /* rolled back: nothing counted, the triggers count again */
    assert_int_equal(state_begin(st), 0);
    assert_int_equal(state_first_load_begin(st), 0);
    put_simple_at(st, FK_DEATH, "psb", "d2", B, NULL, 2);
    assert_int_equal(state_rollback(st), 0);
    expect_changes(st, 3, 1);
    put_simple_at(st, FK_DEATH, "psb", "d2", B, NULL, 2);
    expect_changes(st, 4, 2);
    put_simple_at(st, FK_PAYMENT, "hr", "p1", B, NULL, 2); /* changed: counted by the writer */
    expect_changes(st, 5, 2);
    /* a person in a suspended load moves the generation once */
    assert_int_equal(state_begin(st), 0);
    assert_int_equal(state_first_load_begin(st), 0);
    put_person(st, "r1", A, "张三", 0, NULL, 3);
    put_person(st, "r2", B, "李四", 0, NULL, 3);
    assert_int_equal(state_first_load_end(st), 0);
    assert_int_equal(state_commit(st), 0);
    expect_changes(st, 7, 4);
    assert_int_equal(state_person_gen(st), g0 + 1);
    state_close(st);
    assert_int_equal(sql_long(fx, "SELECT count(*) FROM facts"), 6);
}

static void test_persons_on_demand(void **stp) {
    fixture *fx = *stp;
    state *st = open_ok(fx);
    const char *A = "11010519491231002X", *B = "110105195001010020", *C = "110105196001010025";
    fact f;
    person_at(&f, "P1", A, "张三", 0);
    assert_int_equal(state_fact_put(st, &f, 1), 0);
    fact_clear(&f);
    person_at(&f, "P2", B, "李四", 19500101);
    assert_int_equal(state_fact_put(st, &f, 1), 0);
    fact_clear(&f);
    person_at(&f, "P3", B, "李四", 0);
    assert_int_equal(state_fact_put(st, &f, 1), 0);
    fact_clear(&f);
    person_at(&f, "P4", C, "王五", 19600202); /* states another birth date */
    assert_int_equal(state_fact_put(st, &f, 1), 0);
    fact_clear(&f);
    person_at(&f, "P5", A, "张叁", 0); /* a second name for A */
    assert_int_equal(state_fact_put(st, &f, 1), 0);
    fact_clear(&f);
    person_at(&f, "P6", "12345", "赵六", 19700101); /* invalid id */
    assert_int_equal(state_fact_put(st, &f, 1), 0);
    fact_clear(&f);

    fact_bag *bag = calloc(1, sizeof *bag);
    assert_non_null(bag);
    const char *bids[] = {B, B}; /* an id twice is looked up once */
    assert_int_equal(state_facts_of_ids(st, 1, bids, 2, collect_fact, bag), 0);
    assert_int_equal(bag->n, 2);
    int p2 = !strcmp(bag->items[0].ref, "P2") || !strcmp(bag->items[1].ref, "P2");
    int p3 = !strcmp(bag->items[0].ref, "P3") || !strcmp(bag->items[1].ref, "P3");
    assert_true(p2 && p3);
    bag_free(bag);
    assert_int_equal(state_persons_without_id(st, collect_fact, bag), 0);
    assert_int_equal(bag->n, 1);
    assert_string_equal(bag->items[0].ref, "P6");
    bag_free(bag);
    int n = 0;
    assert_int_equal(state_person_ids_by_key(st, "李四", 19500101, count_ids, &n), 0);
    assert_int_equal(n, 1);
    n = 0;
    assert_int_equal(state_person_ids_by_key(st, "李四", 19500102, count_ids, &n), 0);
    assert_int_equal(n, 0);
    n = 0;
    assert_int_equal(state_person_ids_by_key(st, "王五", 19600101, count_ids, &n), 0); /* the id's birth */
    assert_int_equal(n, 1);
    n = 0;
    assert_int_equal(state_person_ids_in_conflict(st, count_ids, &n), 0);
    assert_int_equal(n, 2); /* A (two names) and C (birth date) */
    free(bag);
    state_close(st);
}

/* Pruning a larger set: the seen hashes span many buckets of the lookup
 * directory (store/facts.c); exactly the refs not seen go, including the
 * first and the last in hash order, and seen hashes of refs never stored
 * change nothing. */
static int cmp_hash(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static void test_prune_unseen_many(void **stp) {
    fixture *fx = *stp;
    state *st = open_ok(fx);
    enum { N = 3000 };
    uint64_t *seen = calloc(N + 100, sizeof *seen);
    assert_non_null(seen);
    size_t nseen = 0;
    assert_int_equal(state_begin(st), 0);
    for (int i = 0; i < N; i++) {
        char ref[32];
        snprintf(ref, sizeof ref, "D%d", i);
        put_simple(st, FK_DEATH, "grid", ref, "110105194912310029", NULL);
        if (i % 3 != 0) seen[nseen++] = state_ref_hash(ref);
    }
    assert_int_equal(state_commit(st), 0);
    for (int i = 0; i < 100; i++) { /* seen, never stored */
        char ref[32];
        snprintf(ref, sizeof ref, "X%d", i);
        seen[nseen++] = state_ref_hash(ref);
    }
    qsort(seen, nseen, sizeof *seen, cmp_hash);
    long gone = -1;
    assert_int_equal(state_facts_prune_unseen(st, "grid", FK_DEATH, seen, nseen, &gone), 0);
    assert_int_equal(gone, N / 3);
    assert_int_equal(sql_long(fx, "SELECT COUNT(*) FROM facts WHERE kind = 'death'"), N - N / 3);
    assert_int_equal(sql_long(fx, "SELECT COUNT(*) FROM facts WHERE ref IN ('D0', 'D3', 'D2997')"), 0);
    assert_int_equal(sql_long(fx, "SELECT COUNT(*) FROM facts WHERE ref IN ('D1', 'D2', 'D2999')"), 3);
    /* the smallest and the largest seen hash alone keep just their facts */
    uint64_t ends[2];
    size_t nends = 0;
    uint64_t lo = UINT64_MAX, hi = 0;
    char lo_ref[32] = "", hi_ref[32] = "";
    for (int i = 0; i < N; i++) {
        char ref[32];
        snprintf(ref, sizeof ref, "D%d", i);
        if (i % 3 == 0) continue;
        uint64_t h = state_ref_hash(ref);
        if (h < lo) lo = h, snprintf(lo_ref, sizeof lo_ref, "%s", ref);
        if (h > hi) hi = h, snprintf(hi_ref, sizeof hi_ref, "%s", ref);
    }
    ends[nends++] = lo;
    ends[nends++] = hi;
    assert_int_equal(state_facts_prune_unseen(st, "grid", FK_DEATH, ends, nends, &gone), 0);
    assert_int_equal(gone, N - N / 3 - 2);
    char q[128];
    snprintf(q, sizeof q, "SELECT COUNT(*) FROM facts WHERE ref IN ('%s', '%s')", lo_ref, hi_ref);
    assert_int_equal(sql_long(fx, q), 2);
    free(seen);
    state_close(st);
}

/* The one pass over the register (state_person_names_walk) reports every
 * named person with an id to the name callback and each id in conflict once
 * (two folded names, or a data-quality flag) whatever its number of rows;
 * an id whose rows share one name is not in conflict. */
typedef struct {
    int names;
    char ids[8][32];
    int nids;
} walk_seen;

static int walk_name(void *ud, const char *id, const char *name) {
    (void)id;
    (void)name;
    ((walk_seen *)ud)->names++;
    return 0;
}

static int walk_conflict(void *ud, const char *id) {
    walk_seen *w = ud;
    assert_true(w->nids < 8);
    snprintf(w->ids[w->nids++], sizeof w->ids[0], "%s", id);
    return 0;
}

static int walk_has(const walk_seen *w, const char *id) {
    int n = 0;
    for (int i = 0; i < w->nids; i++) n += strcmp(w->ids[i], id) == 0;
    return n;
}

static void test_person_names_walk(void **stp) {
    fixture *fx = *stp;
    state *st = open_ok(fx);
    const char *A = "11010519491231002X", *B = "110105195001010020", *C = "110105196001010025",
               *D = "11010519700101002X";
    const char *rows[][3] = {{"P1", NULL, "张三"}, {"P2", NULL, "张三"}, {"P3", NULL, "张叁"}, {"P4", NULL, "张三"},
                             {"P5", NULL, "李四"}, {"P6", NULL, "李四"}, {"P7", NULL, "王五"}, {"P8", NULL, "赵六"},
                             {"P9", NULL, "赵七"}};
    const char *ids[] = {A, A, A, A, B, B, C, D, D};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        fact f;
        person_at(&f, rows[i][0], ids[i], rows[i][2], i == 6 ? 19600202 : 0); /* C states another birth */
        assert_int_equal(state_fact_put(st, &f, 1), 0);
        fact_clear(&f);
    }
    walk_seen w = {0};
    assert_int_equal(state_person_names_walk(st, walk_name, walk_conflict, &w), 0);
    assert_int_equal(w.names, 9);
    assert_int_equal(walk_has(&w, A), 1);
    assert_int_equal(walk_has(&w, B), 0);
    assert_int_equal(walk_has(&w, C), 1); /* dq */
    assert_int_equal(walk_has(&w, D), 1);
    assert_int_equal(w.nids, 3);
    /* conflicts alone: the same ids; names alone: no conflicts asked */
    walk_seen c = {0};
    assert_int_equal(state_person_ids_in_conflict(st, walk_conflict, &c), 0);
    assert_int_equal(c.nids, 3);
    assert_int_equal(walk_has(&c, A) + walk_has(&c, C) + walk_has(&c, D), 3);
    walk_seen o = {0};
    assert_int_equal(state_person_names_walk(st, walk_name, NULL, &o), 0);
    assert_int_equal(o.names, 9);
    assert_int_equal(o.nids, 0);
    state_close(st);
}

/* The fact change counter: inserts, content changes and deletions count;
 * re-storing a fact as it was (a later cycle) does not; a rolled-back write
 * does not either; a new handle starts at 0. */
static void test_facts_changes(void **stp) {
    fixture *fx = *stp;
    state *st = open_ok(fx);
    assert_int_equal(state_facts_changes(st), 0);
    put_simple_at(st, FK_DEATH, "src", "d1", "110105194912310029", NULL, 1);
    put_simple_at(st, FK_DEATH, "src", "d2", "110105194912310037", NULL, 1);
    assert_int_equal(state_facts_changes(st), 2);
    put_simple_at(st, FK_DEATH, "src", "d1", "110105194912310029", NULL, 2); /* same content */
    put_simple_at(st, FK_DEATH, "src", "d2", "110105194912310037", NULL, 2);
    assert_int_equal(state_facts_changes(st), 2);
    put_simple_at(st, FK_DEATH, "src", "d1", "110105194912310053", NULL, 3); /* id changed */
    assert_int_equal(state_facts_changes(st), 3);
    assert_int_equal(state_begin(st), 0);
    put_simple_at(st, FK_DEATH, "src", "d3", "110105194912310045", NULL, 3);
    assert_int_equal(state_rollback(st), 0);
    assert_int_equal(state_facts_changes(st), 3);
    long gone = 0;
    assert_int_equal(state_facts_prune(st, "src", FK_DEATH, 3, &gone), 0); /* d2: last seen in 2 */
    assert_int_equal(gone, 1);
    assert_int_equal(state_facts_changes(st), 4);
    state_close(st);
    st = open_ok(fx);
    assert_int_equal(state_facts_changes(st), 0);
    state_close(st);
}

/* Deaths/custody/members first stored after a cycle, for targeted lookups;
 * re-seeing a fact later does not make it new again, other kinds never count. */
static void test_interest_new(void **stp) {
    fixture *fx = *stp;
    state *st = open_ok(fx);
    const char *A = "110105194912310029";
    put_simple_at(st, FK_DEATH, "src", "d1", A, NULL, 1);
    put_simple_at(st, FK_DEATH, "src", "d2", A, NULL, 3);
    put_simple_at(st, FK_PAYMENT, "src", "p1", A, NULL, 3);
    put_simple_at(st, FK_PERSON, "src", "x1", A, NULL, 3);
    put_simple_at(st, FK_DEATH, "src", "d1", A, NULL, 3); /* seen again: first_cycle stays 1 */
    interest_list l = {0};
    assert_int_equal(state_interest_new_each(st, 2, collect_new_interest, &l), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.rows[0], "src|death|d2|3");
    l.n = 0;
    assert_int_equal(state_interest_new_each(st, 0, collect_new_interest, &l), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.rows[0], "src|death|d1|1");
    state_close(st);
}

/* Row memos: parts appended in order under a token, per (source, stream),
 * read back whole and in order (duplicates kept); cleared; a part of another
 * token, or of a length that is not whole words, is refused as no memo (the
 * stream then maps every row). */
static void test_row_memos(void **stp) {
    fixture *fx = *stp;
    state *st = open_ok(fx);
    uint64_t a[5] = {9, 3, 7, UINT64_MAX, 3}, tok = 0, *h = NULL;
    size_t n = 0;
    assert_int_equal(state_row_memo_load(st, "hr", "pay", &tok, &h, &n), 0);
    assert_null(h);
    assert_int_equal(n, 0);
    assert_int_equal(state_begin(st), 0);
    assert_int_equal(state_row_memo_append(st, "hr", "pay", 0, 0x8000000000000001ULL, a, 2), 0);
    assert_int_equal(state_row_memo_append(st, "hr", "pay", 1, 0x8000000000000001ULL, a + 2, 3), 0);
    assert_int_equal(state_row_memo_append(st, "hr", "inc", 0, 5, a, 2), 0);
    assert_int_equal(state_commit(st), 0);
    assert_int_equal(state_row_memo_load(st, "hr", "pay", &tok, &h, &n), 0);
    assert_int_equal(n, 5);
    assert_int_equal(tok, 0x8000000000000001ULL);
    assert_memory_equal(h, a, sizeof a); /* the parts in order, duplicates kept */
    free(h);
    /* replaced: cleared, then a part 0 of another token */
    assert_int_equal(state_row_memo_clear(st, "hr", "pay"), 0);
    assert_int_equal(state_row_memo_append(st, "hr", "pay", 0, 6, a + 1, 3), 0);
    assert_int_equal(state_row_memo_load(st, "hr", "pay", &tok, &h, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(tok, 6);
    assert_int_equal(h[0], 3);
    free(h);
    assert_int_equal(state_row_memo_clear(st, "hr", "pay"), 0);
    assert_int_equal(state_row_memo_load(st, "hr", "pay", &tok, &h, &n), 0);
    assert_null(h);
    /* a second part under another token: not one memo */
    assert_int_equal(state_row_memo_append(st, "hr", "inc", 1, 6, a, 1), 0);
    assert_int_equal(state_row_memo_load(st, "hr", "inc", &tok, &h, &n), 0);
    assert_null(h);
    assert_int_equal(n, 0);
    state_close(st);
    sql_exec(fx, "UPDATE row_memo SET token = 5, words = x'0102030405' WHERE stream = 'inc' AND part = 1");
    st = open_ok(fx);
    assert_int_equal(state_row_memo_load(st, "hr", "inc", &tok, &h, &n), 0); /* 5 bytes: not whole words */
    assert_null(h);
    state_close(st);
}

/* ---- quarantine and data quality ----------------------------------------- */

typedef struct qlist {
    char rows[8][200];
    size_t n;
} qlist;

static int collect_quarantine(void *ud, const quarantine_row *r) {
    qlist *l = ud;
    assert_true(r->at > 0);
    if (l->n < 8)
        snprintf(l->rows[l->n++], sizeof l->rows[0], "%s/%s/%s/%s/%s", r->source, r->stream,
                 r->ref, r->reason, r->raw_json ? r->raw_json : "-");
    return 0;
}

static void test_quarantine_dedup(void **stp) {
    fixture *fx = *stp;
    state *st = open_ok(fx);
    assert_int_equal(state_quarantine_add(st, "psb", "deaths", "R1", "bad check character",
                                          "{\"id\":\"1\"}", 1), 0);
    assert_int_equal(state_quarantine_add(st, "psb", "deaths", "R1", "bad check character",
                                          "{\"id\":\"2\"}", 2), 0);
    assert_int_equal(state_quarantine_add(st, "psb", "deaths", "R1", "bad length", NULL, 2), 0);
    assert_int_equal(state_quarantine_add(st, "hr", "payments", "R1", "bad check character",
                                          NULL, 2), 0);
    assert_int_equal(state_quarantine_add(st, "hr", NULL, NULL, "no ref", NULL, 3), 0);
    assert_int_equal(state_quarantine_add(st, "hr", NULL, NULL, "no ref", NULL, 4), 0);

    qlist l = {0};
    assert_int_equal(state_quarantine_each(st, NULL, collect_quarantine, &l), 0);
    assert_int_equal(l.n, 4);
    assert_string_equal(l.rows[0], "psb/deaths/R1/bad check character/{\"id\":\"2\"}");
    assert_string_equal(l.rows[1], "psb/deaths/R1/bad length/-");
    assert_string_equal(l.rows[2], "hr/payments/R1/bad check character/-");
    assert_string_equal(l.rows[3], "hr///no ref/-");

    memset(&l, 0, sizeof l);
    assert_int_equal(state_quarantine_each(st, "psb", collect_quarantine, &l), 0);
    assert_int_equal(l.n, 2);
    state_close(st);

    assert_sql_text(fx, "SELECT first_cycle || '/' || last_cycle || '/' || count FROM quarantine"
                        " WHERE source='psb' AND reason='bad check character'", "1/2/2");
    assert_sql_text(fx, "SELECT first_cycle || '/' || last_cycle || '/' || count FROM quarantine"
                        " WHERE reason='no ref'", "3/4/2");
}

static int collect_kinds(void *ud, const quarantine_row *r) {
    qlist *l = ud;
    if (l->n < 8) snprintf(l->rows[l->n++], sizeof l->rows[0], "%s/%s/%s/%ld", r->ref, r->kind, r->reason, r->last_cycle);
    return 0;
}

/* Each quarantine row says its kind; a rejected record whose earlier fact is
 * stored keeps that fact for pruning (last_cycle moved to this cycle), and
 * the last-good rows of a cycle can be listed. Schema 3 stores migrate with
 * their invalid-id rows recognised. */
static void test_quarantine_kinds(void **stp) {
    fixture *fx = *stp;
    state *st = open_ok(fx);
    fact f;
    fact_init(&f, FK_DEATH);
    f.source = strdup("civil");
    f.ref = strdup("HH1");
    assert_non_null(f.source);
    assert_int_equal(state_fact_put(st, &f, 1), 0);
    fact_clear(&f);
    int kept = -1;
    assert_int_equal(state_quarantine_keep_fact(st, "civil", FK_DEATH, "HH1", 3, &kept), 0);
    assert_int_equal(kept, 1);
    assert_int_equal(state_quarantine_keep_fact(st, "civil", FK_DEATH, "HH2", 3, &kept), 0);
    assert_int_equal(kept, 0);
    assert_int_equal(state_quarantine_keep_fact(st, "civil", FK_PAYMENT, "HH1", 3, &kept), 0);
    assert_int_equal(kept, 0); /* another kind's record of the same key */
    assert_int_equal(state_quarantine_add_kind(st, QK_LAST_GOOD_KEPT, "civil", "cremations", "HH1", "bad date",
                                               NULL, 3), 0);
    assert_int_equal(state_quarantine_add_kind(st, QK_INVALID_ID, "civil", "cremations", "HH3",
                                               "invalid id_no: check character", NULL, 3), 0);
    assert_int_equal(state_quarantine_add(st, "civil", "cremations", "HH2", "bad date", NULL, 3), 0);
    long gone = -1;
    assert_int_equal(state_facts_prune(st, "civil", FK_DEATH, 3, &gone), 0);
    assert_int_equal(gone, 0); /* HH1 was kept as seen in cycle 3 */
    qlist l = {0};
    assert_int_equal(state_quarantine_each(st, NULL, collect_kinds, &l), 0);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.rows[0], "HH1/last_good_kept/bad date/3");
    assert_string_equal(l.rows[1], "HH3/invalid_id/invalid id_no: check character/3");
    assert_string_equal(l.rows[2], "HH2/rejected/bad date/3");
    memset(&l, 0, sizeof l);
    assert_int_equal(state_quarantine_last_good_each(st, 3, collect_kinds, &l), 0);
    assert_int_equal(l.n, 1);
    memset(&l, 0, sizeof l);
    assert_int_equal(state_quarantine_last_good_each(st, 4, collect_kinds, &l), 0);
    assert_int_equal(l.n, 0);
    assert_string_equal(quarantine_kind_words("last_good_kept"), "rejected, last good kept");
    assert_string_equal(quarantine_kind_words("invalid_id"), "invalid id, kept");
    assert_string_equal(quarantine_kind_words("rejected"), "rejected");
    state_close(st);

    /* A schema 3 store (no kind column) migrates: invalid-id rows recognised. */
    sql_exec(fx, "ALTER TABLE quarantine DROP COLUMN kind; UPDATE meta SET value='3' WHERE key='schema_version'");
    st = open_ok(fx);
    state_close(st);
    assert_sql_text(fx, "SELECT value FROM meta WHERE key='schema_version'", "11");
    assert_sql_text(fx, "SELECT group_concat(ref || ':' || kind, ',') FROM (SELECT ref, kind FROM quarantine ORDER BY id)",
                    "HH1:rejected,HH3:invalid_id,HH2:rejected");
}

typedef struct dqlist {
    char rows[8][120];
    size_t n;
} dqlist;

static int collect_dq(void *ud, const char *source, const char *metric, const char *reason,
                      long n) {
    dqlist *l = ud;
    if (l->n < 8)
        snprintf(l->rows[l->n++], sizeof l->rows[0], "%s/%s/%s=%ld", source, metric, reason, n);
    return 0;
}

static void test_dq_sums_and_latest_cycle(void **stp) {
    fixture *fx = *stp;
    state *st = open_ok(fx);
    dqlist l = {0};
    assert_int_equal(state_dq_each(st, 0, collect_dq, &l), 0); /* empty: nothing */
    assert_int_equal(l.n, 0);

    assert_int_equal(state_dq_add(st, "psb", "invalid_id", "bad_check", 3, 1), 0);
    assert_int_equal(state_dq_add(st, "psb", "invalid_id", "bad_check", 2, 1), 0);
    assert_int_equal(state_dq_add(st, "psb", "invalid_id", "bad_length", 1, 1), 0);
    assert_int_equal(state_dq_add(st, "hr", "rows", "", 1000, 1), 0);
    assert_int_equal(state_dq_add(st, "psb", "invalid_id", "bad_check", 7, 2), 0);
    assert_int_equal(state_dq_add(st, "hr", "rows", NULL, 10, 2), 0);
    assert_int_equal(state_dq_add(st, "hr", "rows", NULL, 5, 2), 0);

    assert_int_equal(state_dq_each(st, 1, collect_dq, &l), 0);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.rows[0], "hr/rows/=1000");
    assert_string_equal(l.rows[1], "psb/invalid_id/bad_check=5");
    assert_string_equal(l.rows[2], "psb/invalid_id/bad_length=1");

    memset(&l, 0, sizeof l);
    assert_int_equal(state_dq_each(st, 0, collect_dq, &l), 0); /* latest = 2 */
    assert_int_equal(l.n, 2);
    assert_string_equal(l.rows[0], "hr/rows/=15");
    assert_string_equal(l.rows[1], "psb/invalid_id/bad_check=7");

    memset(&l, 0, sizeof l);
    assert_int_equal(state_dq_each(st, 5, collect_dq, &l), 0); /* no such cycle */
    assert_int_equal(l.n, 0);
    state_close(st);
}

static void test_cycles(void **stp) {
    fixture *fx = *stp;
    state *st = open_ok(fx);
    long c1 = 0, c2 = 0;
    assert_int_equal(state_cycle_begin(st, &c1), 0);
    assert_int_equal(state_cycle_end(st, c1, "{\"facts\":3}"), 0);
    assert_int_equal(state_cycle_begin(st, &c2), 0);
    assert_true(c2 > c1);
    assert_int_equal(state_cycle_end(st, c2 + 10, "{}"), -1); /* unknown cycle */
    state_close(st);
    st = open_ok(fx);
    long c3 = 0;
    assert_int_equal(state_cycle_begin(st, &c3), 0);
    assert_true(c3 > c2);
    state_close(st);
    char q[120];
    snprintf(q, sizeof q, "SELECT summary_json FROM cycles WHERE id=%ld AND ended_at > 0", c1);
    assert_sql_text(fx, q, "{\"facts\":3}");
    snprintf(q, sizeof q, "SELECT COUNT(*) FROM cycles WHERE id=%ld AND ended_at IS NULL", c2);
    assert_int_equal(sql_long(fx, q), 1);
}

/* ---- alerts ---------------------------------------------------------------- */

static const char *const PERSON_ID = "110105194912310029";

/* Builds a pension_after_death alert with `nmonths` months from 2024-04. */
static void make_alert(alert *a, int nmonths) {
    char subject[64];
    snprintf(subject, sizeof subject, "person:%s", PERSON_ID);
    alert_init(a, RULE_PENSION_AFTER_DEATH, subject);
    snprintf(a->id_no, sizeof a->id_no, "%s", PERSON_ID);
    a->name = strdup("张三");
    a->region = strdup("110105");
    a->grid = strdup("G-0101");
    a->conf = CONF_HIGH;
    a->detail_json = strdup("{\"death_date\":\"2024-03-12\",\"basis\":\"household_deregistration\","
                            "\"grace_months\":0,\"grid_report_only\":false}");
    assert_non_null(a->detail_json);

    fact d;
    fact_start(&d, FK_DEATH, "psb", "D-1", PERSON_ID);
    set_text(&d, FF_ID_NO, PERSON_ID);
    set_text(&d, FF_NAME, "张三");
    set_text(&d, FF_DEATH_DATE, "2024-03-12");
    set_text(&d, FF_BASIS, "household_deregistration");
    d.raw_json = strdup("{\"SWRQ\": \"2024年3月12日\", \"ZXYY\": null}"); /* not compact */
    assert_int_equal(alert_add_evidence(a, "death", &d, LINK_HIGH), 0);
    fact_clear(&d);

    for (int m = 0; m < nmonths; m++) {
        fact p;
        char ref[32], period[16];
        snprintf(ref, sizeof ref, "PAY-%d", m);
        snprintf(period, sizeof period, "2024-%02d", 4 + m);
        fact_start(&p, FK_PAYMENT, "hr", ref, PERSON_ID);
        set_text(&p, FF_ID_NO, PERSON_ID);
        set_text(&p, FF_PROGRAM, "pension");
        set_text(&p, FF_PERIOD, period);
        set_int(&p, FF_AMOUNT, 310000);
        assert_int_equal(alert_add_evidence(a, "payment", &p, m == 0 ? LINK_LOW : LINK_HIGH), 0);
        fact_clear(&p);
        assert_int_equal(alert_add_period(a, 202404 + m), 0);
        a->amount += 310000;
    }
}

static void assert_json_text_equal(const char *got, const char *want) {
    if (!want) {
        assert_null(got);
        return;
    }
    assert_non_null(got);
    json_t *g = json_loads(got, JSON_DECODE_ANY, NULL), *w = json_loads(want, JSON_DECODE_ANY, NULL);
    assert_non_null(g);
    assert_non_null(w);
    if (!json_equal(g, w)) fail_msg("JSON differs: got %s want %s", got, want);
    json_decref(g);
    json_decref(w);
}

static void assert_str_or_null(const char *got, const char *want) {
    if (!want) {
        assert_null(got);
        return;
    }
    assert_non_null(got);
    assert_string_equal(got, want);
}

static void assert_alert_finding_equal(const alert *got, const alert *want) {
    assert_string_equal(got->id, want->id);
    assert_int_equal(got->rule, want->rule);
    assert_string_equal(got->subject, want->subject);
    assert_string_equal(got->id_no, want->id_no);
    assert_str_or_null(got->case_key, want->case_key);
    assert_str_or_null(got->name, want->name);
    assert_str_or_null(got->region, want->region);
    assert_str_or_null(got->grid, want->grid);
    assert_int_equal(got->amount, want->amount);
    assert_int_equal(got->conf, want->conf);
    assert_int_equal(got->nperiods, want->nperiods);
    for (size_t i = 0; i < want->nperiods; i++) assert_int_equal(got->periods[i], want->periods[i]);
    assert_json_text_equal(got->detail_json, want->detail_json);
    assert_int_equal(got->nev, want->nev);
    for (size_t i = 0; i < want->nev; i++) {
        const alert_evidence *g = &got->ev[i], *w = &want->ev[i];
        assert_string_equal(g->role, w->role);
        assert_string_equal(g->source, w->source);
        assert_string_equal(g->kind, w->kind);
        assert_string_equal(g->ref, w->ref);
        assert_int_equal(g->link, w->link);
        assert_json_text_equal(g->raw_json, w->raw_json);
        assert_json_text_equal(g->norm_json, w->norm_json);
        /* Kept as compact JSON text. */
        if (g->raw_json) assert_null(strstr(g->raw_json, "\": "));
    }
    assert_string_equal(got->fingerprint, want->fingerprint);
}

typedef struct alert_ids {
    char ids[8][40];
    char status[8][16];
    size_t n;
} alert_ids;

static int collect_alert(void *ud, const alert *a) {
    alert_ids *l = ud;
    if (l->n < 8) {
        snprintf(l->ids[l->n], sizeof l->ids[0], "%s", a->id);
        snprintf(l->status[l->n], sizeof l->status[0], "%s", a->status);
        l->n++;
    }
    return 0;
}

/* The explanation stored with a version (state_alert_explanation_set) is
 * what a delivery loads with the alert, without its evidence; it is set only
 * for the version named, and a new version clears it. */
static void test_alert_explanation_stored(void **stp) {
    fixture *fx = *stp;
    state *st = open_ok(fx);
    alert a, got;
    alert_change ch;
    char *expl = NULL;
    make_alert(&a, 2);
    assert_int_equal(state_alert_upsert(st, &a, &ch), 0);
    assert_int_equal(state_alert_get_to_push(st, a.id, &got, &expl), 0);
    assert_null(expl); /* none stored yet */
    assert_int_equal(got.nev, 0);
    alert_free(&got);
    assert_int_equal(state_alert_explanation_set(st, a.id, 2, "版本二"), 0); /* not this version: nothing */
    assert_int_equal(state_alert_get_to_push(st, a.id, &got, &expl), 0);
    assert_null(expl);
    alert_free(&got);
    assert_int_equal(state_alert_explanation_set(st, a.id, 1, "说明一"), 0);
    assert_int_equal(state_alert_get_to_push(st, a.id, &got, &expl), 0);
    assert_non_null(expl);
    assert_string_equal(expl, "说明一");
    free(expl);
    assert_int_equal(got.nev, 0); /* no evidence read */
    assert_int_equal(got.version, 1);
    assert_int_equal(got.amount, a.amount);
    assert_int_equal(got.nperiods, 2);
    assert_string_equal(got.id, a.id);
    assert_string_equal(got.grid, "G-0101");
    alert_free(&got);
    char id[40];
    snprintf(id, sizeof id, "%s", a.id);
    alert_free(&a);
    make_alert(&a, 3); /* a new version: its explanation is to be made */
    assert_int_equal(state_alert_upsert(st, &a, &ch), 0);
    assert_int_equal(ch, ALERT_UPDATED);
    assert_int_equal(state_alert_get_to_push(st, id, &got, &expl), 0);
    assert_null(expl);
    assert_int_equal(got.version, 2);
    alert_free(&got);
    alert_free(&a);
    assert_int_equal(state_alert_get_to_push(st, "PAD-0000000000000000", &got, &expl), 1);
    state_close(st);
}

static void test_alert_lifecycle(void **stp) {
    fixture *fx = *stp;
    state *st = open_ok(fx);
    alert a, got;
    alert_change ch = ALERT_UPDATED;

    /* Created. */
    make_alert(&a, 2);
    assert_int_equal(state_alert_upsert(st, &a, &ch), 0);
    assert_int_equal(ch, ALERT_CREATED);
    assert_string_equal(a.status, "new");
    assert_int_equal(a.version, 1);
    assert_true(a.first_seen > 0);
    assert_true(strlen(a.fingerprint) > 0);

    assert_int_equal(state_alert_get(st, a.id, &got), 0);
    assert_alert_finding_equal(&got, &a);
    assert_string_equal(got.status, "new");
    assert_int_equal(got.version, 1);
    assert_int_equal(got.first_seen, a.first_seen);
    alert_free(&got);
    char id[40];
    snprintf(id, sizeof id, "%s", a.id);
    long long first_seen = a.first_seen;
    alert_free(&a);

    /* Same evidence on a later run: unchanged, lifecycle read back. */
    make_alert(&a, 2);
    assert_int_equal(state_alert_upsert(st, &a, &ch), 0);
    assert_int_equal(ch, ALERT_UNCHANGED);
    assert_string_equal(a.status, "new");
    assert_int_equal(a.version, 1);
    assert_int_equal(a.first_seen, first_seen);
    alert_free(&a);

    /* Pushed, then dismissed by the grid. */
    assert_int_equal(state_alert_set_status(st, id, "pushed", NULL), 0);
    assert_int_equal(state_alert_set_status(st, id, "dismissed", "家属已退回"), 0);
    make_alert(&a, 2);
    assert_int_equal(state_alert_upsert(st, &a, &ch), 0);
    assert_int_equal(ch, ALERT_UNCHANGED); /* stays quiet */
    assert_string_equal(a.status, "dismissed");
    alert_free(&a);

    /* New evidence (one more month): updated, version 2, reopened. */
    make_alert(&a, 3);
    assert_int_equal(state_alert_upsert(st, &a, &ch), 0);
    assert_int_equal(ch, ALERT_UPDATED);
    assert_int_equal(a.version, 2);
    assert_string_equal(a.status, "new");
    assert_int_equal(a.first_seen, first_seen);
    assert_int_equal(state_alert_get(st, id, &got), 0);
    assert_alert_finding_equal(&got, &a);
    assert_int_equal(got.amount, 930000);
    assert_int_equal(got.nperiods, 3);
    assert_int_equal(got.periods[2], 202406);
    assert_int_equal(got.version, 2);
    assert_string_equal(got.status, "new");
    alert_free(&got);
    alert_free(&a);

    /* A second alert, case-bound, for iteration and filters. */
    alert b;
    alert_init(&b, RULE_DUPLICATE_ASSISTANCE, "case:DB-1/person:11010519800101001X");
    snprintf(b.id_no, sizeof b.id_no, "11010519800101001X");
    b.case_key = strdup("DB-1");
    b.conf = CONF_LOW;
    assert_int_equal(alert_add_period(&b, 202401), 0);
    assert_int_equal(state_alert_upsert(st, &b, &ch), 0);
    assert_int_equal(ch, ALERT_CREATED);
    assert_int_equal(state_alert_get(st, b.id, &got), 0);
    assert_alert_finding_equal(&got, &b);
    assert_null(got.name);
    assert_null(got.detail_json);
    alert_free(&got);

    alert_ids l = {0};
    assert_int_equal(state_alerts_each(st, NULL, NULL, collect_alert, &l), 0);
    assert_int_equal(l.n, 2);
    assert_true(strcmp(l.ids[0], l.ids[1]) < 0); /* ordered by id */
    memset(&l, 0, sizeof l);
    assert_int_equal(state_alerts_each(st, "duplicate_assistance", NULL, collect_alert, &l), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.ids[0], b.id);
    memset(&l, 0, sizeof l);
    assert_int_equal(state_alert_set_status(st, b.id, "confirmed", "核实属实"), 0);
    assert_int_equal(state_alerts_each(st, NULL, "confirmed", collect_alert, &l), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.ids[0], b.id);
    memset(&l, 0, sizeof l);
    assert_int_equal(state_alerts_each(st, "pension_after_death", "confirmed", collect_alert, &l), 0);
    assert_int_equal(l.n, 0);

    /* Fault paths: unknown id, unknown status. */
    assert_int_equal(state_alert_get(st, "PAD-ffffffffffffffff", &got), 1);
    assert_int_equal(state_alert_set_status(st, "PAD-ffffffffffffffff", "pushed", NULL), -1);
    assert_int_equal(state_alert_set_status(st, id, "closed", NULL), -1);
    alert_free(&b);
    state_close(st);

    /* The old verdict is kept on reopen; the confirmed one has its note. */
    char q[200];
    snprintf(q, sizeof q, "SELECT status || '/' || verdict || '/' || verdict_note || '/' || version"
                          " FROM alerts WHERE id='%s'", id);
    assert_sql_text(fx, q, "new/dismissed/家属已退回/2");
    assert_sql_text(fx, "SELECT verdict || '/' || verdict_note FROM alerts"
                        " WHERE rule='duplicate_assistance'", "confirmed/核实属实");

    /* A stored alert that does not parse is reported, not half-returned. */
    snprintf(q, sizeof q, "UPDATE alerts SET evidence_json='{' WHERE id='%s'", id);
    sql_exec(fx, q);
    st = open_ok(fx);
    assert_int_equal(state_alert_get(st, id, &got), -1);
    memset(&l, 0, sizeof l);
    assert_int_equal(state_alerts_each(st, NULL, NULL, collect_alert, &l), -1);
    state_close(st);
}

/* ---- outbox ---------------------------------------------------------------- */

typedef struct outbox_list {
    long id[8];
    char alert_id[8][40], sink[8][16], status[8][16];
    char last_error[8][1100];
    int version[8], attempts[8];
    size_t n;
} outbox_list;

static int collect_outbox_status(void *ud, const outbox_row *r, const char *status) {
    outbox_list *l = ud;
    if (l->n < 8) {
        size_t i = l->n++;
        l->id[i] = r->id;
        snprintf(l->alert_id[i], sizeof l->alert_id[0], "%s", r->alert_id);
        snprintf(l->sink[i], sizeof l->sink[0], "%s", r->sink);
        snprintf(l->status[i], sizeof l->status[0], "%s", status ? status : "");
        snprintf(l->last_error[i], sizeof l->last_error[0], "%s",
                 r->last_error ? r->last_error : "");
        l->version[i] = r->version;
        l->attempts[i] = r->attempts;
    }
    return 0;
}

static int collect_outbox(void *ud, const outbox_row *r) {
    return collect_outbox_status(ud, r, NULL);
}

/* A due callback that delivers by marking each row done right away (writes
 * while iterating). */
typedef struct deliver_ctx {
    state *st;
    int delivered;
} deliver_ctx;

static int deliver_all(void *ud, const outbox_row *r) {
    deliver_ctx *c = ud;
    assert_int_equal(state_outbox_done(c->st, r->id), 0);
    c->delivered++;
    return 0;
}

static void test_outbox(void **stp) {
    fixture *fx = *stp;
    state *st = open_ok(fx);
    alert a1, a2;
    alert_change ch;
    make_alert(&a1, 1);
    alert_init(&a2, RULE_IDENTITY_CONFLICT, "person:11010519800101001X");
    assert_int_equal(state_alert_upsert(st, &a1, &ch), 0);
    assert_int_equal(state_alert_upsert(st, &a2, &ch), 0);

    /* Idempotent enqueue. */
    assert_int_equal(state_outbox_enqueue(st, a1.id, "grid", 1), 0);
    assert_int_equal(state_outbox_enqueue(st, a1.id, "grid", 1), 0);
    assert_int_equal(state_outbox_enqueue(st, a1.id, "webhook", 1), 0);
    assert_int_equal(state_outbox_enqueue(st, a2.id, "grid", 1), 0);
    assert_int_equal(state_outbox_enqueue(st, a1.id, "grid", 2), 0); /* a new version */
    /* An outbox row for an alert that does not exist is refused. */
    assert_int_equal(state_outbox_enqueue(st, "PAD-0000000000000000", "grid", 1), -1);

    long n = -1;
    assert_int_equal(state_outbox_pending_count(st, a1.id, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(state_outbox_pending_count(st, NULL, &n), 0);
    assert_int_equal(n, 4);

    outbox_list l = {0};
    assert_int_equal(state_outbox_due(st, collect_outbox, &l), 0);
    assert_int_equal(l.n, 4);
    for (size_t i = 1; i < l.n; i++) assert_true(l.id[i - 1] < l.id[i]); /* oldest first */
    assert_string_equal(l.alert_id[0], a1.id);
    assert_string_equal(l.sink[0], "grid");
    assert_int_equal(l.version[0], 1);
    assert_int_equal(l.attempts[0], 0);
    assert_string_equal(l.sink[1], "webhook");
    assert_string_equal(l.alert_id[2], a2.id);
    assert_int_equal(l.version[3], 2);
    long grid1 = l.id[0], hook1 = l.id[1], grid2 = l.id[2], grid_v2 = l.id[3];

    /* Failure with a retry time in the future: not due, still pending. */
    long long now = (long long)time(NULL);
    assert_int_equal(state_outbox_failed(st, hook1, "HTTP 503", now + 3600, 3), 0);
    memset(&l, 0, sizeof l);
    assert_int_equal(state_outbox_due(st, collect_outbox, &l), 0);
    assert_int_equal(l.n, 3);
    for (size_t i = 0; i < l.n; i++) assert_true(l.id[i] != hook1);
    assert_int_equal(state_outbox_pending_count(st, a1.id, &n), 0);
    assert_int_equal(n, 3);

    /* Failures due again now: retried until dead at max_attempts, error kept. */
    char longerr[3000];
    memset(longerr, 'e', sizeof longerr - 1);
    longerr[sizeof longerr - 1] = '\0';
    memcpy(longerr + 998, "错", 3); /* a UTF-8 sequence across the 1000-byte cut */
    assert_int_equal(state_outbox_failed(st, grid2, "timeout", now - 1, 3), 0);
    memset(&l, 0, sizeof l);
    assert_int_equal(state_outbox_due(st, collect_outbox, &l), 0);
    int seen = 0;
    for (size_t i = 0; i < l.n; i++)
        if (l.id[i] == grid2) {
            seen = 1;
            assert_int_equal(l.attempts[i], 1);
            assert_string_equal(l.last_error[i], "timeout");
        }
    assert_true(seen);
    assert_int_equal(state_outbox_failed(st, grid2, "timeout again", now - 1, 3), 0);
    assert_int_equal(state_outbox_failed(st, grid2, longerr, now - 1, 3), 0);
    memset(&l, 0, sizeof l);
    assert_int_equal(state_outbox_due(st, collect_outbox, &l), 0);
    for (size_t i = 0; i < l.n; i++) assert_true(l.id[i] != grid2);
    memset(&l, 0, sizeof l);
    assert_int_equal(state_outbox_each(st, "dead", collect_outbox_status, &l), 0);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.id[0], grid2);
    assert_int_equal(l.attempts[0], 3);
    assert_string_equal(l.status[0], "dead");
    assert_int_equal(strlen(l.last_error[0]), 998); /* cut before the split character */
    assert_int_equal(strspn(l.last_error[0], "e"), 998);

    /* Done: out of the due list; the delivering callback may write while iterating. */
    assert_int_equal(state_outbox_done(st, grid1), 0);
    deliver_ctx dc = {st, 0};
    assert_int_equal(state_outbox_due(st, deliver_all, &dc), 0);
    assert_int_equal(dc.delivered, 1); /* only grid_v2 is left due */
    memset(&l, 0, sizeof l);
    assert_int_equal(state_outbox_due(st, collect_outbox, &l), 0);
    assert_int_equal(l.n, 0);
    assert_int_equal(state_outbox_done(st, 999999), -1);
    assert_int_equal(state_outbox_failed(st, 999999, "x", now, 3), -1);

    memset(&l, 0, sizeof l);
    assert_int_equal(state_outbox_each(st, NULL, collect_outbox_status, &l), 0);
    assert_int_equal(l.n, 4);
    assert_string_equal(l.status[0], "done");
    assert_string_equal(l.status[1], "pending"); /* hook1, retry in an hour */
    assert_int_equal(l.attempts[1], 1);
    assert_string_equal(l.last_error[1], "HTTP 503");
    assert_string_equal(l.status[2], "dead");
    assert_string_equal(l.status[3], "done");
    assert_int_equal(l.id[3], grid_v2);
    assert_int_equal(state_outbox_pending_count(st, NULL, &n), 0);
    assert_int_equal(n, 1);

    alert_free(&a1);
    alert_free(&a2);
    state_close(st);
    char q[120];
    snprintf(q, sizeof q, "SELECT COUNT(*) FROM outbox WHERE status='done' AND done_at >= %lld", now);
    assert_int_equal(sql_long(fx, q), 2);
}

/* ---- crash safety ---------------------------------------------------------- */

static void test_uncommitted_transaction_leaves_nothing(void **stp) {
    fixture *fx = *stp;
    state *st = open_ok(fx);
    put_simple(st, FK_DEATH, "psb", "kept", "110105194912310029", NULL);
    assert_int_equal(state_watermark_set(st, "psb", "deaths", "1"), 0);

    assert_int_equal(state_begin(st), 0);
    put_simple(st, FK_DEATH, "psb", "lost", "110105196001010013", NULL);
    assert_int_equal(state_watermark_set(st, "psb", "deaths", "2"), 0);
    assert_int_equal(state_dq_add(st, "psb", "rows", "", 1, 1), 0);
    state_close(st); /* no commit */

    st = open_ok(fx);
    assert_int_equal(state_fact_count(st, -1), 1);
    char *v = NULL;
    assert_int_equal(state_watermark_get(st, "psb", "deaths", &v), 0);
    assert_string_equal(v, "1");
    free(v);

    /* Explicit rollback too. */
    assert_int_equal(state_begin(st), 0);
    put_simple(st, FK_DEATH, "psb", "lost2", "110105196001010013", NULL);
    assert_int_equal(state_rollback(st), 0);
    assert_int_equal(state_fact_count(st, -1), 1);
    /* Commit without a transaction is an error. */
    assert_int_equal(state_commit(st), -1);
    state_close(st);
    assert_int_equal(sql_long(fx, "SELECT COUNT(*) FROM dq"), 0);
}

/* Forks a child that opens the store (state_open_flags with `flags`),
 * commits 50 custody facts and a watermark, then (with a page cache of
 * `cache_pages`, 0: as opened) writes 5000 more and another watermark and is
 * killed before committing; waits for it. Both tests below read what it left. */
static void kill_in_second_transaction(const fixture *fx, int flags, int cache_pages) {
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char err[256], pragma[64];
        state *st = state_open_flags(fx->path, flags, err, sizeof err);
        if (!st) _exit(2);
        if (state_begin(st) != 0) _exit(3);
        for (int i = 0; i < 50; i++) {
            fact f;
            char ref[16];
            snprintf(ref, sizeof ref, "ok-%d", i);
            fact_start(&f, FK_CUSTODY, "justice", ref, "110105196001010013");
            if (state_fact_put(st, &f, 1) != 0) _exit(4);
            fact_clear(&f);
        }
        if (state_watermark_set(st, "justice", "custody", "50") != 0) _exit(5);
        if (state_commit(st) != 0) _exit(6);
        snprintf(pragma, sizeof pragma, "PRAGMA cache_size = %d", cache_pages);
        if (cache_pages && sqlite3_exec(st->db, pragma, NULL, NULL, NULL) != SQLITE_OK) _exit(7);
        if (state_begin(st) != 0) _exit(8);
        for (int i = 0; i < 5000; i++) {
            fact f;
            char ref[16];
            snprintf(ref, sizeof ref, "torn-%d", i);
            fact_start(&f, FK_CUSTODY, "justice", ref, "110105196001010013");
            if (state_fact_put(st, &f, 2) != 0) _exit(9);
            fact_clear(&f);
        }
        if (state_watermark_set(st, "justice", "custody", "5050") != 0) _exit(10);
        raise(SIGKILL);
        _exit(11);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFSIGNALED(status)) fail_msg("child exited with %d before the kill", WEXITSTATUS(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
}

/* The first transaction's facts and watermark, none of the killed one's. */
static void assert_first_transaction_only(state *st) {
    assert_int_equal(state_fact_count(st, FK_CUSTODY), 50);
    char *v = NULL;
    assert_int_equal(state_watermark_get(st, "justice", "custody", &v), 0);
    assert_string_equal(v, "50");
    free(v);
}

static void test_killed_process_leaves_previous_state(void **stp) {
    fixture *fx = *stp;
    state_close(open_ok(fx));
    kill_in_second_transaction(fx, 0, 0);
    state *st = open_ok(fx);
    assert_first_transaction_only(st);
    state_close(st);
}

static char *st_pragma(state *st, const char *pragma) {
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA %s", pragma);
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_prepare_v2(st->db, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    char *v = strdup((const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    return v;
}

static void assert_st_pragma(state *st, const char *pragma, const char *want) {
    char *v = st_pragma(st, pragma);
    if (strcmp(v, want) != 0) fail_msg("PRAGMA %s is %s, not %s", pragma, v, want);
    free(v);
}

static void put_custody(state *st, const char *prefix, int n, long cycle) {
    for (int i = 0; i < n; i++) {
        fact f;
        char ref[32];
        snprintf(ref, sizeof ref, "%s-%d", prefix, i);
        fact_start(&f, FK_CUSTODY, "justice", ref, "110105196001010013");
        assert_int_equal(state_fact_put(st, &f, cycle), 0);
        fact_clear(&f);
    }
}

/* STATE_OPEN_DEFER_WAL: a store the open creates is written with a rollback
 * journal (synchronous FULL) until state_wal_settle, which cannot switch
 * while another connection reads it and can once it is done; an existing
 * store opened so is in WAL mode at once. */
static void test_new_store_defers_wal(void **stp) {
    fixture *fx = *stp;
    char err[512] = "";
    state *st = state_open_flags(fx->path, STATE_OPEN_DEFER_WAL, err, sizeof err);
    if (!st) fail_msg("state_open_flags: %s", err);
    assert_st_pragma(st, "journal_mode", "delete");
    assert_st_pragma(st, "synchronous", "2");
    assert_int_equal(state_begin(st), 0);
    put_custody(st, "first", 200, 1);
    assert_int_equal(state_commit(st), 0);
    char side[200];
    snprintf(side, sizeof side, "%s-wal", fx->path);
    assert_int_equal(access(side, F_OK), -1); /* no WAL written */
    assert_int_equal(sql_long(fx, "SELECT count(*) FROM facts"), 200);

    /* a reader in another connection holds the file: no switch yet */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(fx->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM facts", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW); /* the read transaction holds its lock */
    sqlite3_busy_timeout(st->db, 50);
    assert_int_equal(state_wal_settle(st), -1);
    assert_st_pragma(st, "journal_mode", "delete");
    sqlite3_finalize(q);
    assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    assert_int_equal(state_wal_settle(st), 0);
    assert_st_pragma(st, "journal_mode", "wal");
    assert_st_pragma(st, "synchronous", "1");
    assert_int_equal(state_wal_settle(st), 0); /* settled: nothing to do */
    assert_int_equal(state_begin(st), 0);
    put_custody(st, "second", 10, 2);
    assert_int_equal(state_commit(st), 0);
    assert_int_equal(state_fact_count(st, FK_CUSTODY), 210);
    state_close(st);

    /* not new: WAL from the open, whatever the flag */
    st = state_open_flags(fx->path, STATE_OPEN_DEFER_WAL, err, sizeof err);
    if (!st) fail_msg("state_open_flags: %s", err);
    assert_st_pragma(st, "journal_mode", "wal");
    assert_st_pragma(st, "synchronous", "1");
    assert_int_equal(state_wal_settle(st), 0);
    state_close(st);
    assert_sql_text(fx, "PRAGMA integrity_check", "ok");
}

/* A process killed in the first load of a new store, after its page cache
 * spilled into the file: the hot journal left behind is rolled back by the
 * next open, which puts the store in WAL mode; what was committed stays. */
static void test_new_store_killed_in_first_load(void **stp) {
    fixture *fx = *stp;
    mode_t old_umask = umask(022); /* the journal is private all the same */
    /* a small page cache: the torn transaction's pages reach the file */
    kill_in_second_transaction(fx, STATE_OPEN_DEFER_WAL, 4);
    char side[200];
    snprintf(side, sizeof side, "%s-journal", fx->path);
    struct stat sb;
    assert_int_equal(stat(side, &sb), 0); /* the hot journal the kill left, 0600 */
    assert_int_equal(sb.st_mode & 0777, 0600);
    umask(old_umask);

    state *st = open_ok(fx);
    assert_st_pragma(st, "journal_mode", "wal");
    assert_first_transaction_only(st);
    state_close(st);
    assert_int_equal(access(side, F_OK), -1);
    assert_sql_text(fx, "PRAGMA integrity_check", "ok");
}

/* Another process opening a new store between two transactions of its first
 * load (a `gridgate alerts list` during the first cycle) puts it in WAL mode
 * and reads what was committed; the first load goes on in WAL mode and its
 * settle finds nothing left to switch. (Within a transaction the open waits
 * busy_timeout for the write lock its schema check takes, in either mode.) */
static void test_open_during_first_load(void **stp) {
    fixture *fx = *stp;
    char err[512] = "";
    state *w = state_open_flags(fx->path, STATE_OPEN_DEFER_WAL, err, sizeof err);
    if (!w) fail_msg("state_open_flags: %s", err);
    assert_int_equal(state_begin(w), 0);
    put_custody(w, "first", 20, 1);
    assert_int_equal(state_commit(w), 0);
    state *r = open_ok(fx);
    assert_st_pragma(r, "journal_mode", "wal");
    assert_int_equal(state_fact_count(r, FK_CUSTODY), 20);
    assert_int_equal(state_begin(w), 0); /* the first load's next stream */
    put_custody(w, "next", 20, 1);
    assert_int_equal(state_commit(w), 0);
    assert_int_equal(state_fact_count(r, FK_CUSTODY), 40);
    state_close(r);
    assert_int_equal(state_wal_settle(w), 0);
    assert_st_pragma(w, "journal_mode", "wal");
    assert_int_equal(state_fact_count(w, FK_CUSTODY), 40);
    state_close(w);
    assert_sql_text(fx, "PRAGMA integrity_check", "ok");
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A command opened while the daemon is inside a long write transaction (a
 * stream's pull) opens at once and reads the last commit: a current store's
 * schema is only read (in WAL mode readers never wait). Before, the schema
 * check's BEGIN IMMEDIATE waited busy_timeout (5 s) and failed "database is
 * locked". */
static void test_open_during_write_transaction(void **stp) {
    fixture *fx = *stp;
    state *w = open_ok(fx);
    assert_int_equal(state_begin(w), 0);
    put_custody(w, "committed", 20, 1);
    assert_int_equal(state_commit(w), 0);
    assert_int_equal(state_begin(w), 0);
    put_custody(w, "pending", 30, 2); /* the write transaction stays open */
    double t0 = now_seconds();
    state *r = open_ok(fx);
    double took = now_seconds() - t0;
    if (took > 2.0) fail_msg("open waited %.1f s for the writer", took);
    assert_int_equal(state_fact_count(r, FK_CUSTODY), 20);
    char *v = NULL;
    assert_int_equal(state_watermark_get(r, "hr", "payments", &v), 0);
    assert_null(v);
    assert_int_equal(state_commit(w), 0);
    assert_int_equal(state_fact_count(r, FK_CUSTODY), 50);
    state_close(r);
    state_close(w);
}

/* A store whose meta does not hold this build's schema digest (an earlier
 * build's, or none) gets the full check once: a missing object is created
 * and the digest written. */
static void test_schema_digest_checked(void **stp) {
    fixture *fx = *stp;
    state_close(open_ok(fx));
    char *digest = sql_text(fx, "SELECT value FROM meta WHERE key = 'schema_digest'");
    assert_non_null(digest);
    assert_int_equal(strlen(digest), 16);
    /* current: a dropped index stays dropped (nothing but the meta is read) */
    sql_exec(fx, "DROP INDEX facts_dq");
    state_close(open_ok(fx));
    assert_int_equal(sql_long(fx, "SELECT count(*) FROM sqlite_master WHERE name = 'facts_dq'"), 0);
    /* another digest: the schema is created again */
    sql_exec(fx, "UPDATE meta SET value = '0000000000000000' WHERE key = 'schema_digest'");
    state_close(open_ok(fx));
    assert_int_equal(sql_long(fx, "SELECT count(*) FROM sqlite_master WHERE name = 'facts_dq'"), 1);
    assert_sql_text(fx, "SELECT value FROM meta WHERE key = 'schema_digest'", digest);
    /* none (an earlier build of this version) */
    sql_exec(fx, "DELETE FROM meta WHERE key = 'schema_digest'; DROP INDEX facts_dq");
    state_close(open_ok(fx));
    assert_int_equal(sql_long(fx, "SELECT count(*) FROM sqlite_master WHERE name = 'facts_dq'"), 1);
    assert_sql_text(fx, "SELECT value FROM meta WHERE key = 'schema_digest'", digest);
    free(digest);
}

static unsigned file_mode(const char *path, const char *suffix) {
    char p[200];
    snprintf(p, sizeof p, "%s%s", path, suffix);
    struct stat sb;
    if (stat(p, &sb) != 0) fail_msg("%s does not exist", p);
    return (unsigned)(sb.st_mode & 0777);
}

/* The store holds personal data: with a permissive umask (022) the database
 * and the -wal/-shm files SQLite creates on the first write are 0600, and an
 * existing store left 0644 by an older build is narrowed on open. */
static void test_files_private(void **stp) {
    fixture *fx = *stp;
    mode_t old = umask(022);
    state *st = open_ok(fx);
    assert_int_equal(state_begin(st), 0);
    assert_int_equal(state_quarantine_add(st, "psb", "deaths", "R1", "bad date", "{}", 1), 0);
    assert_int_equal(state_commit(st), 0);
    assert_int_equal(file_mode(fx->path, ""), 0600);
    assert_int_equal(file_mode(fx->path, "-wal"), 0600);
    assert_int_equal(file_mode(fx->path, "-shm"), 0600);
    state_close(st);
    assert_int_equal(chmod(fx->path, 0644), 0);
    st = open_ok(fx);
    assert_int_equal(file_mode(fx->path, ""), 0600);
    state_close(st);
    umask(old);
}

/* The WAL frames of path's -wal whose salt is the header's (those the next
 * open's recovery reads), and the file's size; -1 frames when it is absent
 * or has no valid header. */
static long wal_valid_frames(const char *path, long *size) {
    char side[4096];
    snprintf(side, sizeof side, "%s-wal", path);
    *size = -1;
    FILE *f = fopen(side, "rb");
    if (!f) return -1;
    unsigned char hdr[32], fh[24];
    long n = -1;
    if (fread(hdr, 1, sizeof hdr, f) == sizeof hdr && hdr[0] == 0x37 && hdr[1] == 0x7f && hdr[2] == 0x06) {
        unsigned long page = ((unsigned long)hdr[8] << 24) | ((unsigned long)hdr[9] << 16) |
                             ((unsigned long)hdr[10] << 8) | hdr[11];
        n = 0;
        for (;;) {
            if (fseek(f, 32L + n * (long)(24 + page), SEEK_SET) != 0 || fread(fh, 1, sizeof fh, f) != sizeof fh)
                break;
            if (memcmp(fh + 8, hdr + 16, 8) != 0) break; /* another generation's salt */
            n++;
        }
    }
    fseek(f, 0, SEEK_END);
    *size = ftell(f);
    fclose(f);
    return n;
}

/* The WAL file outlives the store's close (st_wal_keep): it stays, 0600,
 * started over so that the next open's recovery reads at most one frame and
 * the next writes reuse its blocks instead of growing a new file; the data
 * are all in the database. A handle that only read leaves it as it is. */
static void test_wal_kept_between_runs(void **stp) {
    fixture *fx = *stp;
    mode_t old = umask(022);
    state *st = open_ok(fx);
    assert_int_equal(state_begin(st), 0);
    put_custody(st, "night1", 3000, 1);
    assert_int_equal(state_commit(st), 0);
    long live_size = 0;
    long live = wal_valid_frames(fx->path, &live_size);
    assert_true(live > 10); /* the transaction's pages */
    state_close(st);

    long size1 = 0;
    long frames = wal_valid_frames(fx->path, &size1);
    assert_true(frames >= 0 && frames <= 1);
    assert_true(size1 >= live_size); /* kept at its size, not truncated */
    assert_int_equal(file_mode(fx->path, "-wal"), 0600);
    /* the database file alone holds everything */
    sqlite3 *db = NULL;
    char copy[4200];
    snprintf(copy, sizeof copy, "%s.copy", fx->path);
    {
        FILE *in = fopen(fx->path, "rb"), *out = fopen(copy, "wb");
        assert_non_null(in);
        assert_non_null(out);
        char buf[65536];
        size_t k;
        while ((k = fread(buf, 1, sizeof buf, in)) > 0) assert_int_equal(fwrite(buf, 1, k, out), k);
        fclose(in);
        fclose(out);
    }
    assert_int_equal(sqlite3_open_v2(copy, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM facts", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), 3000);
    sqlite3_finalize(q);
    sqlite3_close(db);
    unlink(copy);

    /* the next run: the same amount written again goes over the kept blocks */
    st = open_ok(fx);
    assert_int_equal(state_fact_count(st, FK_CUSTODY), 3000);
    assert_int_equal(state_begin(st), 0);
    put_custody(st, "night2", 3000, 2);
    assert_int_equal(state_commit(st), 0);
    state_close(st);
    long size2 = 0;
    frames = wal_valid_frames(fx->path, &size2);
    assert_true(frames >= 0 && frames <= 1);
    assert_true(size2 <= size1 + size1 / 4);

    /* a reader in another connection at the close: the log cannot be
     * started over (its frames stay valid); nothing is lost, the next open
     * reads them back */
    st = open_ok(fx);
    assert_int_equal(state_begin(st), 0);
    put_custody(st, "night3", 500, 3);
    assert_int_equal(state_commit(st), 0);
    sqlite3 *rd = NULL;
    assert_int_equal(sqlite3_open_v2(fx->path, &rd, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *rq = NULL;
    assert_int_equal(sqlite3_prepare_v2(rd, "SELECT count(*) FROM facts", -1, &rq, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(rd, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(rq), SQLITE_ROW); /* holds its snapshot */
    state_close(st);
    sqlite3_finalize(rq);
    assert_int_equal(sqlite3_exec(rd, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(rd);
    long size_r = 0;
    assert_true(wal_valid_frames(fx->path, &size_r) > 1);
    st = open_ok(fx);
    assert_int_equal(state_fact_count(st, FK_CUSTODY), 6500);
    assert_int_equal(state_begin(st), 0); /* a writer again: its close starts the log over */
    assert_int_equal(state_commit(st), 0);
    state_close(st);
    frames = wal_valid_frames(fx->path, &size2);
    assert_true(frames >= 0 && frames <= 1);

    /* a handle that only reads: no write at its close */
    st = open_ok(fx);
    assert_int_equal(state_fact_count(st, FK_CUSTODY), 6500);
    state_close(st);
    long size3 = 0;
    frames = wal_valid_frames(fx->path, &size3);
    assert_true(frames >= 0 && frames <= 1);
    assert_int_equal(size3, size2);
    umask(old);
}

/* The page cache's buffer is not inherited by a child of fork
 * (state_library_init, called once in main): a worker that uses SQLite of its
 * own (the SQLite ODBC driver) must get a working library, not the parent's
 * unmapped slots; the parent's store works on. */
static void test_cache_not_inherited(void **stp) {
    fixture *fx = *stp;
    state *st = open_ok(fx);
    assert_int_equal(state_begin(st), 0);
    for (int i = 0; i < 3000; i++) {
        fact f;
        char ref[16];
        snprintf(ref, sizeof ref, "p-%d", i);
        fact_start(&f, FK_CUSTODY, "justice", ref, "110105196001010013");
        assert_int_equal(state_fact_put(st, &f, 1), 0);
        fact_clear(&f);
    }
    assert_int_equal(state_commit(st), 0);
    fflush(NULL);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        signal(SIGSEGV, SIG_DFL); /* die of it, not cmocka's handler */
        signal(SIGBUS, SIG_DFL);
        char other[160];
        snprintf(other, sizeof other, "%s/other", fx->dir);
        sqlite3 *db = NULL;
        if (sqlite3_open_v2(other, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) _exit(2);
        /* more pages than a few: the child's cache takes and reuses many */
        if (sqlite3_exec(db,
                         "PRAGMA cache_size = 50; CREATE TABLE t(a INTEGER PRIMARY KEY, b BLOB);"
                         "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4000)"
                         " INSERT INTO t SELECT i, randomblob(1000) FROM n;",
                         NULL, NULL, NULL) != SQLITE_OK)
            _exit(3);
        sqlite3_stmt *q = NULL;
        if (sqlite3_prepare_v2(db, "SELECT count(*), sum(length(b)) FROM t", -1, &q, NULL) != SQLITE_OK) _exit(4);
        int ok = sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int(q, 0) == 4000 &&
                 sqlite3_column_int64(q, 1) == 4000000;
        sqlite3_finalize(q);
        sqlite3_close(db);
        _exit(ok ? 0 : 5);
    }
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    if (!WIFEXITED(status)) fail_msg("the child died of signal %d", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(state_fact_count(st, -1), 3000);
    assert_int_equal(state_begin(st), 0);
    fact f;
    fact_start(&f, FK_CUSTODY, "justice", "after-fork", "110105196001010013");
    assert_int_equal(state_fact_put(st, &f, 1), 0);
    fact_clear(&f);
    assert_int_equal(state_commit(st), 0);
    assert_int_equal(state_fact_count(st, -1), 3001);
    state_close(st);
}

static off_t file_size(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 ? sb.st_size : -1;
}

/* Puts facts <prefix>-<from>.. (custody, a ~420-byte raw value each) in one
 * transaction; 0, or -1 on any failure. No cmocka assert: a forked child
 * uses it too. */
static int fill_facts(state *st, const char *prefix, int from, int n) {
    char raw[420];
    memset(raw, 'x', sizeof raw);
    memcpy(raw, "{\"note\":\"", 9);
    memcpy(raw + sizeof raw - 3, "\"}", 3);
    if (state_begin(st) != 0) return -1;
    for (int i = from; i < from + n; i++) {
        fact f;
        char ref[32];
        snprintf(ref, sizeof ref, "%s-%d", prefix, i);
        fact_init(&f, FK_CUSTODY);
        f.source = strdup("justice");
        f.ref = strdup(ref);
        f.raw_json = strdup(raw);
        snprintf(f.id_norm, sizeof f.id_norm, "%s", "110105196001010013");
        int rc = f.source && f.ref && f.raw_json ? state_fact_put(st, &f, 1) : -1;
        fact_clear(&f);
        if (rc != 0) return -1;
    }
    return state_commit(st);
}

/* Puts n facts p-<from>.., committed. */
static void put_many(state *st, int from, int n) { assert_int_equal(fill_facts(st, "p", from, n), 0); }

/* A new store has 16 KiB pages; a store made with 4 KiB pages keeps them
 * (WAL fixes the size), opens and takes facts as before. */
static void test_page_size(void **stp) {
    fixture *fx = *stp;
    state *st = open_ok(fx);
    state_close(st);
    assert_int_equal(sql_long(fx, "PRAGMA page_size"), 16384);
    char old[96];
    snprintf(old, sizeof old, "%.64s/old.db", fx->dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(old, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; CREATE TABLE x(a)", NULL,
                                  NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    fixture fo = *fx;
    snprintf(fo.path, sizeof fo.path, "%s", old);
    st = open_ok(&fo);
    put_many(st, 0, 500);
    state_close(st);
    assert_int_equal(sql_long(&fo, "PRAGMA page_size"), 4096);
    assert_int_equal(sql_long(&fo, "SELECT count(*) FROM facts"), 500);
    unlink(old);
    snprintf(old, sizeof old, "%.64s/old.db-wal", fx->dir);
    unlink(old);
    snprintf(old, sizeof old, "%.64s/old.db-shm", fx->dir);
    unlink(old);
}


/* The WAL is copied back by the store's own thread (checkpoint.c): after a
 * commit of ~10 MB the database file grows with no further call on the
 * store, the thread counts its checkpoints, and what was written reads back
 * there and after a reopen. */
static void test_background_checkpoint(void **stp) {
    fixture *fx = *stp;
    state *st = open_ok(fx);
    assert_int_equal(state_background_checkpoints(st), 0);
    off_t before = file_size(fx->path);
    put_many(st, 0, 20000);
    /* the file grows while a checkpoint copies: wait for one to end */
    for (int i = 0; i < 100 && state_background_checkpoints(st) < 1; i++) usleep(50 * 1000);
    if (state_background_checkpoints(st) < 1) fail_msg("no checkpoint ended within 5 s of the commit");
    off_t after = file_size(fx->path);
    if (after < before + (8 << 20))
        fail_msg("a checkpoint ended but the database file is %lld bytes (from %lld)", (long long)after,
                 (long long)before);
    assert_int_equal(state_fact_count(st, -1), 20000);
    state_close(st);
    st = open_ok(fx);
    assert_int_equal(state_fact_count(st, -1), 20000);
    state_close(st);
}

/* A process killed while its checkpoint thread copies the WAL back (the
 * commit just before the kill woke it) loses nothing committed: the store
 * reopens whole (integrity_check), with every fact of the three commits, and
 * takes writes again. */
static void test_killed_during_checkpoint(void **stp) {
    fixture *fx = *stp;
    state_close(open_ok(fx));
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char err[256];
        state *st = state_open(fx->path, err, sizeof err);
        if (!st) _exit(2);
        for (int round = 0; round < 3; round++)
            if (fill_facts(st, "k", round * 8000, 8000) != 0) _exit(3);
        if (state_background_checkpoints(st) < 0) _exit(6); /* no thread: nothing tested */
        raise(SIGKILL);
        _exit(7);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFSIGNALED(status)) fail_msg("child exited with %d before the kill", WEXITSTATUS(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);

    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(fx->path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "ok");
    sqlite3_finalize(q);
    sqlite3_close(db);

    state *st = open_ok(fx);
    assert_int_equal(state_fact_count(st, FK_CUSTODY), 24000);
    put_many(st, 24000, 100);
    assert_int_equal(state_fact_count(st, FK_CUSTODY), 24100);
    state_close(st);
}

/* Forks a child that opens a database of its own beside the store and runs
 * sql in it, as the ODBC worker's driver does, and waits for it: 0 it
 * worked, 1 it was stuck (killed by its 10 s alarm: a lock the parent's
 * threads held at the fork), 2 it failed. */
static int fork_child_using_sqlite(const fixture *fx, const char *sql) {
    fflush(NULL);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        alarm(10);
        signal(SIGALRM, SIG_DFL);
        char other[160];
        snprintf(other, sizeof other, "%s/child-%d", fx->dir, (int)getpid());
        sqlite3 *db = NULL;
        if (sqlite3_open_v2(other, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) _exit(2);
        int ok = sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK;
        sqlite3_close(db);
        unlink(other);
        _exit(ok ? 0 : 3);
    }
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) return 1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 2;
}

/* Forks while the checkpoint thread copies the WAL (checkpoint.c's fork
 * gate and interrupt): every child gets a working SQLite of its own, as the
 * ODBC worker's driver needs (a child stuck on a lock the thread held at the
 * fork is killed by its alarm), and the parent's store stays whole. The
 * window in which the thread holds one of SQLite's global mutexes is short:
 * this catches a broken gate by chance only; what it always checks is that
 * forks, interrupted checkpoints and their retries lose nothing. */
static void test_fork_during_checkpoint(void **stp) {
    fixture *fx = *stp;
    state *st = open_ok(fx);
    int forks = 0, stuck = 0, failed = 0;
    for (int round = 0; round < 6; round++) {
        put_many(st, round * 8000, 8000); /* wakes the thread: ~4 MB to copy */
        for (int k = 0; k < 8; k++, forks++) {
            int r = fork_child_using_sqlite(fx, "PRAGMA journal_mode = WAL; CREATE TABLE t(a);"
                                                "INSERT INTO t VALUES (1); PRAGMA wal_checkpoint(TRUNCATE);");
            stuck += r == 1;
            failed += r == 2;
            usleep(500);
        }
    }
    if (stuck || failed) fail_msg("%d of %d children stuck, %d failed", stuck, forks, failed);
    assert_true(state_background_checkpoints(st) >= 1);
    assert_int_equal(state_fact_count(st, -1), 48000);
    state_close(st);
}

/* 1 when the store's schema holds the index (read on a connection of its own). */
static long has_index(const fixture *fx, const char *name) {
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = '%s'", name);
    return sql_long(fx, sql);
}

/* A first load of persons, committed: builds facts_person_names. */
static void first_load_of_persons(state *st, int n) {
    assert_int_equal(state_begin(st), 0);
    assert_int_equal(state_person_index_suspend(st), 0);
    for (int i = 0; i < n; i++) {
        char ref[32], id[32];
        snprintf(ref, sizeof ref, "r%d", i);
        snprintf(id, sizeof id, "1101051950%08d", i); /* not valid ids: stored as given */
        put_person(st, ref, id, "张三", 19500101, NULL, 1);
    }
    put_simple_at(st, FK_DEATH, "psb", "d1", "110105194912310029", NULL, 1);
    assert_int_equal(state_person_index_restore(st), 0);
    assert_int_equal(state_commit(st), 0);
}

/* Builds facts_subject beside a read transaction and waits for it. */
static void build_beside_reader(state *st) {
    assert_int_equal(state_read_begin(st), 0);
    assert_int_equal(state_index_build_start(st), 0);
    assert_int_equal(state_read_end(st), 0);
    assert_int_equal(state_index_build_wait(st), 0);
}

/* The index built once from the stored rows (store/indexbuild.c): a first
 * load of persons commits with the persons' index only; started in a read
 * transaction, the build beside the core makes the touched log's
 * facts_subject on a second connection while the reader reads on, and the
 * next write waits for it. Then nothing is left to build. No facts_hash
 * index is made (schema 11: the hash sets took its place). */
static void test_index_build_beside_reader(void **stp) {
    fixture *fx = *stp;
    state *st = open_ok(fx);
    first_load_of_persons(st, 3000);
    assert_int_equal(has_index(fx, "facts_person_names"), 1);
    assert_int_equal(has_index(fx, "facts_subject"), 0);
    assert_int_equal(state_read_begin(st), 0);
    assert_int_equal(state_index_build_start(st), 0);
    assert_int_equal(state_index_build_start(st), 0); /* running: nothing more */
    assert_int_equal(state_fact_count(st, FK_PERSON), 3000); /* the reader reads on */
    assert_int_equal(state_read_end(st), 0);
    assert_int_equal(state_begin(st), 0); /* waits for the build */
    put_simple_at(st, FK_DEATH, "psb", "d2", "110105194912310037", NULL, 2);
    assert_int_equal(state_commit(st), 0);
    assert_int_equal(has_index(fx, "facts_subject"), 1);
    assert_int_equal(sql_long(fx, "SELECT count(*) FROM facts INDEXED BY facts_subject WHERE kind NOT IN ('person', 'verdict')"),
                     2);
    assert_int_equal(state_index_build_wait(st), 0);
    state_close(st);
    assert_int_equal(has_index(fx, "facts_subject"), 1);
    assert_int_equal(has_index(fx, "facts_hash"), 0);
}

/* The wait alone builds nothing (the touched log's start builds
 * facts_subject when no build beside the core did); a new store still in
 * its first load's rollback journal starts no build (the builder's commit
 * would wait for the core's reads) and builds once in WAL mode. */
static void test_index_build_fallbacks(void **stp) {
    fixture *fx = *stp;
    state *st = open_ok(fx);
    first_load_of_persons(st, 10);
    assert_int_equal(state_index_build_wait(st), 0);
    assert_int_equal(has_index(fx, "facts_subject"), 0);
    state_close(st);
    teardown(stp);
    assert_int_equal(setup(stp), 0);
    fx = *stp;
    char err[512] = "";
    st = state_open_flags(fx->path, STATE_OPEN_DEFER_WAL, err, sizeof err);
    assert_non_null(st);
    first_load_of_persons(st, 10);
    build_beside_reader(st);
    assert_int_equal(has_index(fx, "facts_subject"), 0);
    assert_int_equal(state_wal_settle(st), 0);
    build_beside_reader(st);
    assert_int_equal(has_index(fx, "facts_subject"), 1);
    state_close(st);
}

/* Forks while the build beside the core runs (the fork gate interrupts it,
 * checkpoint.c): the child gets a working SQLite of its own, and the index
 * is there after the wait, or, when the fork interrupted it, after the next
 * build. */
static void test_fork_during_index_build(void **stp) {
    fixture *fx = *stp;
    state *st = open_ok(fx);
    first_load_of_persons(st, 10);
    assert_int_equal(fill_facts(st, "c", 0, 60000), 0);
    int stuck = 0, failed = 0;
    for (int round = 0; round < 3; round++) {
        if (round) sql_exec(fx, "DROP INDEX IF EXISTS facts_subject");
        assert_int_equal(state_read_begin(st), 0);
        assert_int_equal(state_index_build_start(st), 0);
        usleep(round * 20000);
        int r = fork_child_using_sqlite(fx, "CREATE TABLE t(a); INSERT INTO t VALUES (1);");
        stuck += r == 1;
        failed += r == 2;
        assert_int_equal(state_read_end(st), 0);
        assert_int_equal(state_index_build_wait(st), 0);
        if (!has_index(fx, "facts_subject")) build_beside_reader(st);
        assert_int_equal(has_index(fx, "facts_subject"), 1);
    }
    if (stuck || failed) fail_msg("%d children stuck, %d failed", stuck, failed);
    assert_int_equal(state_fact_count(st, FK_CUSTODY), 60000);
    state_close(st);
}

/* A process killed (SIGKILL) while its build beside the core runs, at
 * several moments of the build: the store is whole (integrity_check), holds
 * every fact, has facts_subject or not, and the next process builds it. */
static void test_killed_during_index_build(void **stp) {
    fixture *fx = *stp;
    state *st = open_ok(fx);
    first_load_of_persons(st, 10);
    assert_int_equal(fill_facts(st, "c", 0, 60000), 0);
    state_close(st);
    int missing = 0;
    for (int round = 0; round < 4; round++) {
        sql_exec(fx, "DROP INDEX IF EXISTS facts_subject");
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            char err[256];
            state *cst = state_open(fx->path, err, sizeof err);
            if (!cst || state_read_begin(cst) != 0 || state_index_build_start(cst) != 0) _exit(2);
            usleep((useconds_t)round * 40000);
            raise(SIGKILL);
            _exit(7);
        }
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFSIGNALED(status)) fail_msg("child exited with %d before the kill", WEXITSTATUS(status));
        assert_sql_text(fx, "PRAGMA integrity_check", "ok");
        missing += has_index(fx, "facts_subject") == 0;
        st = open_ok(fx);
        assert_int_equal(state_fact_count(st, FK_CUSTODY), 60000);
        assert_int_equal(state_fact_count(st, FK_PERSON), 10);
        build_beside_reader(st);
        state_close(st);
        assert_int_equal(has_index(fx, "facts_subject"), 1);
    }
    assert_true(missing >= 1); /* the kill came before the build's commit at least once */
}

/* ---- hash sets (state_fact_hash_set_put) ----------------------------------- */

typedef struct pairs_got {
    uint64_t ref[8], content[8];
    size_t n;
} pairs_got;

static int pair_collect(void *ud, uint64_t ref_hash, uint64_t content_hash) {
    pairs_got *g = ud;
    if (g->n < 8) {
        g->ref[g->n] = ref_hash;
        g->content[g->n] = content_hash;
    }
    g->n++;
    return 0;
}

/* The content hash given for ref, 0 when none. */
static uint64_t pair_of(const pairs_got *g, const char *ref) {
    uint64_t h = state_ref_hash(ref);
    for (size_t i = 0; i < g->n && i < 8; i++)
        if (g->ref[i] == h) return g->content[i];
    return 0;
}

static uint64_t stored_hash(state *st, fact_kind k, const char *source, const char *ref) {
    fact f;
    fact_start(&f, k, source, ref, NULL);
    uint64_t h = 0;
    int found = 0;
    assert_int_equal(state_fact_stored_hash(st, &f, &h, &found), 0);
    assert_true(found);
    fact_clear(&f);
    return h;
}

/* A set, once put, is what the workers' hashes are read from (a pair put
 * unlike the row shows that it is read); a write to a fact of its source and
 * kind drops it in the write's transaction, and the rows are read again; a
 * write to another source or kind leaves it; a rollback brings a dropped set
 * back; a prune drops it; an empty set is a set of no fact. */
static void test_hash_set_stands_for_the_facts(void **stp) {
    fixture *fx = *stp;
    state *st = open_ok(fx);
    assert_int_equal(state_begin(st), 0);
    put_simple_at(st, FK_DEATH, "psb", "d1", "110105194912310029", NULL, 1);
    put_simple_at(st, FK_DEATH, "psb", "d2", "110105194912310037", NULL, 1);
    put_simple_at(st, FK_DEATH, "civil", "c1", "110105194912310029", NULL, 1);
    assert_int_equal(state_commit(st), 0);
    uint64_t h1 = stored_hash(st, FK_DEATH, "psb", "d1"), h2 = stored_hash(st, FK_DEATH, "psb", "d2");
    assert_int_equal(state_fact_hash_set_exists(st, "psb", FK_DEATH), 0);
    pairs_got g = {0};
    assert_int_equal(state_fact_hashes_each(st, "psb", FK_DEATH, pair_collect, &g), 0); /* from the rows */
    assert_int_equal(g.n, 2);
    assert_true(pair_of(&g, "d1") == h1 && pair_of(&g, "d2") == h2);

    uint64_t pairs[4] = {state_ref_hash("d1"), h1, state_ref_hash("d2"), 42};
    assert_int_equal(state_begin(st), 0);
    assert_int_equal(state_fact_hash_set_put(st, "psb", FK_DEATH, pairs, 2), 0);
    assert_int_equal(state_commit(st), 0);
    assert_int_equal(state_fact_hash_set_exists(st, "psb", FK_DEATH), 1);
    memset(&g, 0, sizeof g);
    assert_int_equal(state_fact_hashes_each(st, "psb", FK_DEATH, pair_collect, &g), 0);
    assert_int_equal(g.n, 2);
    assert_true(pair_of(&g, "d2") == 42); /* the set's, not the row's */

    /* another source, another kind: the set stands */
    assert_int_equal(state_begin(st), 0);
    put_simple_at(st, FK_DEATH, "civil", "c2", "110105194912310037", NULL, 2);
    put_simple_at(st, FK_CUSTODY, "psb", "k1", "110105194912310037", NULL, 2);
    assert_int_equal(state_commit(st), 0);
    assert_int_equal(state_fact_hash_set_exists(st, "psb", FK_DEATH), 1);

    /* a write of its own, rolled back: the set is back */
    assert_int_equal(state_begin(st), 0);
    put_simple_at(st, FK_DEATH, "psb", "d3", "110105194912310045", NULL, 2);
    assert_int_equal(state_fact_hash_set_exists(st, "psb", FK_DEATH), 0);
    assert_int_equal(state_rollback(st), 0);
    assert_int_equal(state_fact_hash_set_exists(st, "psb", FK_DEATH), 1);

    /* committed: dropped, the rows are read (three facts, their own hashes) */
    assert_int_equal(state_begin(st), 0);
    put_simple_at(st, FK_DEATH, "psb", "d3", "110105194912310045", NULL, 2);
    put_simple_at(st, FK_DEATH, "psb", "d4", "110105194912310053", NULL, 2); /* dropped once a transaction */
    assert_int_equal(state_commit(st), 0);
    assert_int_equal(state_fact_hash_set_exists(st, "psb", FK_DEATH), 0);
    memset(&g, 0, sizeof g);
    assert_int_equal(state_fact_hashes_each(st, "psb", FK_DEATH, pair_collect, &g), 0);
    assert_int_equal(g.n, 4);
    assert_true(pair_of(&g, "d2") == h2);

    /* put, then a write in the same transaction after it: dropped again */
    assert_int_equal(state_begin(st), 0);
    assert_int_equal(state_fact_hash_set_put(st, "psb", FK_DEATH, pairs, 2), 0);
    put_simple_at(st, FK_DEATH, "psb", "d5", "110105194912310061", NULL, 3);
    assert_int_equal(state_commit(st), 0);
    assert_int_equal(state_fact_hash_set_exists(st, "psb", FK_DEATH), 0);

    /* a prune drops it */
    assert_int_equal(state_begin(st), 0);
    assert_int_equal(state_fact_hash_set_put(st, "psb", FK_DEATH, pairs, 2), 0);
    assert_int_equal(state_commit(st), 0);
    uint64_t seen[2] = {state_ref_hash("d1"), state_ref_hash("d2")};
    if (seen[0] > seen[1]) {
        uint64_t t = seen[0];
        seen[0] = seen[1];
        seen[1] = t;
    }
    long gone = 0;
    assert_int_equal(state_begin(st), 0);
    assert_int_equal(state_facts_prune_unseen(st, "psb", FK_DEATH, seen, 2, &gone), 0);
    assert_int_equal(state_commit(st), 0);
    assert_int_equal(gone, 3);
    assert_int_equal(state_fact_hash_set_exists(st, "psb", FK_DEATH), 0);

    /* an empty set: no pair, and no row read */
    assert_int_equal(state_begin(st), 0);
    assert_int_equal(state_fact_hash_set_put(st, "psb", FK_DEATH, NULL, 0), 0);
    assert_int_equal(state_commit(st), 0);
    assert_int_equal(state_fact_hash_set_exists(st, "psb", FK_DEATH), 1);
    memset(&g, 0, sizeof g);
    assert_int_equal(state_fact_hashes_each(st, "psb", FK_DEATH, pair_collect, &g), 0);
    assert_int_equal(g.n, 0);
    state_close(st);
}

/* A set of many parts reads back whole; one whose part is not a whole
 * number of pairs is not read (warned): the rows are. */
static void test_hash_set_parts_and_damage(void **stp) {
    fixture *fx = *stp;
    state *st = open_ok(fx);
    size_t n = 150000; /* three parts */
    uint64_t *pairs = malloc(2 * n * sizeof *pairs);
    assert_non_null(pairs);
    for (size_t i = 0; i < n; i++) {
        pairs[2 * i] = 1000 + i;
        pairs[2 * i + 1] = 7 * i + 1;
    }
    assert_int_equal(state_begin(st), 0);
    put_simple_at(st, FK_ASSET, "psb", "v1", "110105194912310029", NULL, 1);
    assert_int_equal(state_fact_hash_set_put(st, "psb", FK_ASSET, pairs, n), 0);
    assert_int_equal(state_commit(st), 0);
    assert_int_equal(sql_long(fx, "SELECT count(*) FROM fact_hash_sets WHERE source = 'psb' AND kind = 'asset'"), 3);
    pairs_got g = {0};
    assert_int_equal(state_fact_hashes_each(st, "psb", FK_ASSET, pair_collect, &g), 0);
    assert_int_equal(g.n, n);
    assert_true(g.ref[7] == 1007 && g.content[7] == 50);
    state_close(st);
    sql_exec(fx, "UPDATE fact_hash_sets SET words = substr(words, 1, 17) WHERE part = 1");
    st = open_ok(fx);
    memset(&g, 0, sizeof g);
    assert_int_equal(state_fact_hashes_each(st, "psb", FK_ASSET, pair_collect, &g), 0);
    assert_int_equal(g.n, 1); /* the one fact's row */
    assert_true(g.ref[0] == state_ref_hash("v1"));
    state_close(st);
    free(pairs);
}

/* 10 -> 11: the facts_hash index of a schema-10 store is dropped (the hash
 * sets take its place, empty until the first complete pull), its facts
 * stay, and their hashes are read from the rows meanwhile; the alerts get
 * their explanation column. */
static void test_migration_from_v10_facts_hash(void **stp) {
    fixture *fx = *stp;
    state *st = open_ok(fx);
    assert_int_equal(state_begin(st), 0);
    put_simple_at(st, FK_DEATH, "psb", "d1", "110105194912310029", NULL, 1);
    assert_int_equal(state_commit(st), 0);
    state_close(st);
    sql_exec(fx, "DROP TABLE fact_hash_sets;"
                 "ALTER TABLE alerts DROP COLUMN explanation;"
                 "CREATE INDEX facts_hash ON facts(kind, source, ref, content_hash);"
                 "UPDATE meta SET value = '10' WHERE key = 'schema_version';"
                 "UPDATE meta SET value = 'v10' WHERE key = 'schema_digest';");
    st = open_ok(fx);
    assert_sql_text(fx, "SELECT value FROM meta WHERE key='schema_version'", "11");
    assert_int_equal(sql_long(fx, "SELECT count(*) FROM sqlite_master WHERE name = 'facts_hash'"), 0);
    assert_int_equal(sql_long(fx, "SELECT count(*) FROM pragma_table_info('alerts') WHERE name = 'explanation'"), 1);
    assert_int_equal(state_fact_hash_set_exists(st, "psb", FK_DEATH), 0);
    assert_int_equal(state_fact_count(st, FK_DEATH), 1);
    long n = 0;
    assert_int_equal(state_fact_hashes_each(st, "psb", FK_DEATH, count_pairs, &n), 0);
    assert_int_equal(n, 1);
    state_close(st);
}

/* One daemon per store: the lock file is 0600 and holds the pid; a second
 * taker (another process: flock locks belong to the open file) is refused
 * with that pid, and can take it once the holder is gone. */
static void test_lock(void **stp) {
    fixture *fx = *stp;
    mode_t old = umask(022);
    char err[512] = "";
    int fd = -1;
    assert_int_equal(state_lock(fx->path, &fd, err, sizeof err), 0);
    assert_true(fd >= 0);
    assert_int_equal(file_mode(fx->path, ".lock"), 0600);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        char e2[512] = "", want[64];
        int fd2 = -1;
        snprintf(want, sizeof want, "(pid %ld holds ", (long)getppid());
        int rc = state_lock(fx->path, &fd2, e2, sizeof e2);
        _exit(rc == -1 && fd2 == -1 && strstr(e2, want) && strstr(e2, "one daemon per state store") ? 0 : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    state_unlock(fd);
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        char e2[512] = "";
        int fd2 = -1;
        _exit(state_lock(fx->path, &fd2, e2, sizeof e2) == 0 ? 0 : 1);
    }
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    umask(old);
}

int main(void) {
    gg_log_set_level(GG_LOG_ERROR);
    state_library_init(); /* as gridgate's main: the page cache no child inherits */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_schema_create_and_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_from_v10_facts_hash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_not_inherited, setup, teardown),
        cmocka_unit_test_setup_teardown(test_page_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_background_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fork_during_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_build_beside_reader, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_build_fallbacks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fork_during_index_build, setup, teardown),
        cmocka_unit_test_setup_teardown(test_killed_during_index_build, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_set_stands_for_the_facts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_set_parts_and_damage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_killed_during_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_files_private, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quarantine_kinds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_a_database_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_from_v1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_from_v2, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_from_v5, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_from_v6, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_from_v7_interest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interest_new, setup, teardown),
        cmocka_unit_test_setup_teardown(test_row_memos, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fact_hash_and_prune_unseen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_unseen_many, setup, teardown),
        cmocka_unit_test_setup_teardown(test_person_names_walk, setup, teardown),
        cmocka_unit_test(test_fact_hash_pinned),
        cmocka_unit_test_setup_teardown(test_persons_on_demand, setup, teardown),
        cmocka_unit_test_setup_teardown(test_person_index_suspended_for_first_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_build_gives_the_cache_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kept_statements, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_load_counts_at_its_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_identity_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_stored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_touched_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_facts_of_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_begin_fails_cleanly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alert_evidence_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_register_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_facts_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watermarks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_marks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fact_round_trip_every_kind, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fact_put_rejects_missing_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quarantine_dedup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dq_sums_and_latest_cycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cycles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alert_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alert_explanation_stored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uncommitted_transaction_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_killed_process_leaves_previous_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_store_defers_wal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_kept_between_runs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_store_killed_in_first_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_during_first_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_during_write_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_digest_checked, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
