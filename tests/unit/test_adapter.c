/* test_adapter.c - the adapter runtime against a real SQLite database read
 * through unixODBC's SQLite3 driver: declarative mapping in C, conversions
 * and rejects, GBK at the boundary, row functions, custom pulls, push, and
 * declaration errors that name file and line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "adapter.h"
#include "config.h"

static char tmpdir[64];
static char dbpath[128];

typedef struct collected {
    fact facts[64];
    int nfacts;
    char refs[64][64];
    char reasons[64][600];
    int nrejects;
} collected;

static int on_fact(void *ud, const char *stream, fact *f) {
    (void)stream;
    collected *c = ud;
    assert_true(c->nfacts < 64);
    fact_init(&c->facts[c->nfacts], f->kind);
    assert_int_equal(fact_copy(&c->facts[c->nfacts], f), 0);
    c->nfacts++;
    return 0;
}

static int on_reject(void *ud, const char *stream, const char *ref, const char *reason, const char *raw) {
    (void)stream;
    (void)raw;
    collected *c = ud;
    assert_true(c->nrejects < 64);
    snprintf(c->refs[c->nrejects], sizeof c->refs[0], "%s", ref);
    snprintf(c->reasons[c->nrejects], sizeof c->reasons[0], "%s", reason);
    c->nrejects++;
    return 0;
}

static void collected_free(collected *c) {
    for (int i = 0; i < c->nfacts; i++) fact_clear(&c->facts[i]);
    memset(c, 0, sizeof *c);
}

static const char *reject_reason(const collected *c, const char *ref) {
    for (int i = 0; i < c->nrejects; i++)
        if (!strcmp(c->refs[i], ref)) return c->reasons[i];
    return NULL;
}

static const fact *fact_by_ref(const collected *c, const char *ref) {
    for (int i = 0; i < c->nfacts; i++)
        if (!strcmp(c->facts[i].ref, ref)) return &c->facts[i];
    return NULL;
}

static void sql(sqlite3 *db, const char *q) {
    char *err = NULL;
    if (sqlite3_exec(db, q, NULL, NULL, &err) != SQLITE_OK) {
        print_error("sqlite: %s\n", err);
        fail();
    }
}

static int setup(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/gg-adapter-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    snprintf(dbpath, sizeof dbpath, "%s/dept.db", tmpdir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
    sql(db, "CREATE TABLE ffmx (lsh TEXT, sfzhm TEXT, xm TEXT, ffny TEXT, ffje TEXT, xb TEXT);"
            "INSERT INTO ffmx VALUES ('1', '110105194912310021', '张三', '202403', '1234.50', '1');"
            "INSERT INTO ffmx VALUES ('2', '110105194912310021', '张三', '2024/4', '1,000', '2');"
            "INSERT INTO ffmx VALUES ('3', '110105194912310021', '张三', '2024-13', '10.00', '1');"
            "INSERT INTO ffmx VALUES ('4', '110105194912310021', '张三', '202405', '12.345', '1');"
            "INSERT INTO ffmx VALUES ('5', '110105194912310021', '张三', '202405', '12.00', '9');"
            "INSERT INTO ffmx VALUES ('', '110105194912310021', '张三', '202405', '12.00', '1');"
            "INSERT INTO ffmx VALUES ('7', NULL, '张三', '202405', '12.00', '1');"
            "CREATE TABLE hh (hhbh TEXT, xm TEXT, swrq TEXT);");
    /* GBK: 张三 = D5 C5 C8 FD; an undecodable sequence FF FE */
    sql(db, "INSERT INTO hh VALUES ('H1', CAST(X'D5C5C8FD' AS TEXT), '20240312');"
            "INSERT INTO hh VALUES ('H2', CAST(X'FFFE' AS TEXT), '2024/3/9');");
    sqlite3_close(db);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd);
}

/* A source conf with one ODBC connection "db" to the test database. */
static gg_source_conf make_src(const char *encoding, gg_conn_conf *cc, char *spec, size_t specsz) {
    snprintf(spec, specsz, "odbc:Driver=SQLite3;Database=%s", dbpath);
    memset(cc, 0, sizeof *cc);
    cc->name = "db";
    cc->spec = spec;
    gg_source_conf s;
    memset(&s, 0, sizeof s);
    s.name = "dept";
    s.label = "部门";
    s.encoding = (char *)encoding;
    s.enabled = 1;
    s.deadline_ms = 1000;
    s.memory_mb = 64;
    s.conns[0] = *cc;
    s.nconns = 1;
    return s;
}

static const char *write_adapter(const char *name, const char *text) {
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_declarative_mapping_and_rejects(void **state) {
    (void)state;
    gg_conn_conf cc;
    char spec[256], err[1024];
    gg_source_conf src = make_src("UTF-8", &cc, spec, sizeof spec);
    const char *path = write_adapter("pay.lua",
                                     "return { streams = { pay = {\n"
                                     "  kind = 'payment', conn = 'db', key = 'lsh',\n"
                                     "  sql = [[SELECT lsh, sfzhm, xm, ffny, ffje, xb FROM ffmx ORDER BY lsh]],\n"
                                     "  map = { id_no = 'sfzhm', name = 'xm', program = const 'pension',\n"
                                     "          period = month 'ffny', amount = yuan 'ffje',\n"
                                     "          payer = code('xb', { ['1'] = 'A', ['2'] = 'B' }) },\n"
                                     "} } }\n");
    adapter *ad = adapter_load(&src, path, err, sizeof err);
    assert_non_null(ad);
    assert_int_equal(adapter_stream_count(ad), 1);
    assert_true(adapter_stream(ad, 0)->declarative);
    collected c;
    memset(&c, 0, sizeof c);
    adapter_sink sink = {on_fact, on_reject, &c};
    long n = 0;
    assert_int_equal(adapter_pull(ad, 0, &sink, 0, NULL, &n, NULL, err, sizeof err), 0);
    assert_int_equal(n, 2);
    const fact *f1 = fact_by_ref(&c, "1");
    assert_non_null(f1);
    assert_string_equal(f1->source, "dept");
    assert_int_equal(f1->f[FF_AMOUNT].i, 123450);
    assert_int_equal(f1->f[FF_PERIOD].i, 202403);
    assert_string_equal(f1->f[FF_PROGRAM].s, "pension");
    assert_string_equal(f1->f[FF_PAYER].s, "A");
    const fact *f2 = fact_by_ref(&c, "2");
    assert_int_equal(f2->f[FF_AMOUNT].i, 100000);
    assert_int_equal(f2->f[FF_PERIOD].i, 202404);
    /* rejects name the field, column and reason; never the id */
    assert_non_null(strstr(reject_reason(&c, "3"), "field period (column ffny): not a month"));
    assert_non_null(strstr(reject_reason(&c, "4"), "field amount (column ffje): not an amount in yuan"));
    assert_non_null(strstr(reject_reason(&c, "5"), "code '9' is not in the code table"));
    const char *nokey = NULL;
    for (int i = 0; i < c.nrejects; i++)
        if (!strncmp(c.refs[i], "(row ", 5)) nokey = c.reasons[i];
    assert_non_null(nokey);
    assert_non_null(strstr(nokey, "record has no key (column lsh is empty)"));
    assert_non_null(strstr(reject_reason(&c, "7"), "id_no"));
    for (int i = 0; i < c.nrejects; i++) assert_null(strstr(c.reasons[i], "110105194912310021"));
    assert_int_equal(c.nrejects, 5);
    collected_free(&c);
    /* limit stops early */
    assert_int_equal(adapter_pull(ad, 0, &sink, 1, NULL, &n, NULL, err, sizeof err), 0);
    assert_int_equal(c.nfacts, 1);
    collected_free(&c);
    adapter_free(ad);
}

static void test_gbk_boundary(void **state) {
    (void)state;
    gg_conn_conf cc;
    char spec[256], err[1024];
    const char *text = "return { streams = { cremations = {\n"
                       "  kind = 'death', conn = 'db', key = 'hhbh',\n"
                       "  sql = [[SELECT hhbh, xm, swrq FROM hh ORDER BY hhbh]],\n"
                       "  map = { name = 'xm', death_date = date 'swrq', basis = const 'cremation' },\n"
                       "} } }\n";
    const char *path = write_adapter("gbk.lua", text);
    gg_source_conf src = make_src("GBK", &cc, spec, sizeof spec);
    adapter *ad = adapter_load(&src, path, err, sizeof err);
    assert_non_null(ad);
    collected c;
    memset(&c, 0, sizeof c);
    adapter_sink sink = {on_fact, on_reject, &c};
    assert_int_equal(adapter_pull(ad, 0, &sink, 0, NULL, NULL, NULL, err, sizeof err), 0);
    assert_int_equal(c.nfacts, 1);
    assert_string_equal(c.facts[0].f[FF_NAME].s, "张三");
    assert_int_equal(c.facts[0].f[FF_DEATH_DATE].i, 20240312);
    assert_int_equal(c.nrejects, 1);
    assert_string_equal(c.refs[0], "H2");
    assert_non_null(strstr(c.reasons[0], "column xm: not valid GBK text"));
    collected_free(&c);
    adapter_free(ad);
    /* read as UTF-8, the same bytes are rejected with a hint */
    src = make_src("UTF-8", &cc, spec, sizeof spec);
    ad = adapter_load(&src, path, err, sizeof err);
    assert_non_null(ad);
    assert_int_equal(adapter_pull(ad, 0, &sink, 0, NULL, NULL, NULL, err, sizeof err), 0);
    assert_int_equal(c.nfacts, 0);
    assert_int_equal(c.nrejects, 2);
    assert_non_null(strstr(c.reasons[0], "set encoding = GBK"));
    collected_free(&c);
    adapter_free(ad);
}

static void test_row_function(void **state) {
    (void)state;
    gg_conn_conf cc;
    char spec[256], err[1024];
    gg_source_conf src = make_src("UTF-8", &cc, spec, sizeof spec);
    const char *path = write_adapter("row.lua",
                                     "return { streams = { pay = {\n"
                                     "  kind = 'payment', conn = 'db', key = 'lsh',\n"
                                     "  sql = [[SELECT lsh, sfzhm, ffny, ffje, xb FROM ffmx WHERE lsh IN ('1','2','5')]],\n"
                                     "  map = { id_no = 'sfzhm', period = month 'ffny', amount = yuan 'ffje' },\n"
                                     "  row = function(r)\n"
                                     "    if r.lsh == '2' then return nil end\n"
                                     "    if r.xb == '9' then return false, 'sex code 9 means unknown' end\n"
                                     "    return { program = (r.xb == '1') and 'pension' or 'dibao', amount = 777, ref = 'R' .. r.lsh }\n"
                                     "  end,\n"
                                     "} } }\n");
    adapter *ad = adapter_load(&src, path, err, sizeof err);
    assert_non_null(ad);
    collected c;
    memset(&c, 0, sizeof c);
    adapter_sink sink = {on_fact, on_reject, &c};
    assert_int_equal(adapter_pull(ad, 0, &sink, 0, NULL, NULL, NULL, err, sizeof err), 0);
    assert_int_equal(c.nfacts, 1);
    assert_string_equal(c.facts[0].ref, "R1");
    assert_int_equal(c.facts[0].f[FF_AMOUNT].i, 777); /* the row function overrides the map */
    assert_string_equal(c.facts[0].f[FF_PROGRAM].s, "pension");
    assert_int_equal(c.nrejects, 1);
    assert_string_equal(c.refs[0], "5");
    assert_non_null(strstr(c.reasons[0], "rejected by the adapter: sex code 9 means unknown"));
    collected_free(&c);
    adapter_free(ad);
}

static void test_custom_pull_and_runtime_errors(void **state) {
    (void)state;
    gg_conn_conf cc;
    char spec[256], err[1024];
    gg_source_conf src = make_src("UTF-8", &cc, spec, sizeof spec);
    const char *path = write_adapter("pull.lua",
                                     "return { streams = {\n"
                                     "  custom = { kind = 'death', pull = function(ctx)\n"
                                     "    local rows = ctx.conns.db:query('SELECT hhbh, swrq FROM hh WHERE hhbh = ?', { 'H1' })\n"
                                     "    for _, r in ipairs(rows) do\n"
                                     "      ctx.emit{ ref = r.hhbh, name = 'x', death_date = r.swrq, basis = 'cremation' }\n"
                                     "    end\n"
                                     "    ctx.emit{ ref = 'bad', name = 'y', death_date = 'someday', basis = 'cremation' }\n"
                                     "    ctx.emit{ ref = 'amb', name = 'z', death_date = '2024-01-01', basis = 'cremation', mood = 'sad' }\n"
                                     "    ctx.reject('X9', 'duplicate row')\n"
                                     "  end },\n"
                                     "  broken = { kind = 'death', pull = function(ctx)\n"
                                     "    local t = nil\n"
                                     "    return t.field\n"
                                     "  end },\n"
                                     "} }\n");
    adapter *ad = adapter_load(&src, path, err, sizeof err);
    assert_non_null(ad);
    /* streams are sorted by name: broken, custom */
    assert_string_equal(adapter_stream(ad, 0)->name, "broken");
    collected c;
    memset(&c, 0, sizeof c);
    adapter_sink sink = {on_fact, on_reject, &c};
    assert_int_equal(adapter_pull(ad, 1, &sink, 0, NULL, NULL, NULL, err, sizeof err), 0);
    assert_int_equal(c.nfacts, 2);
    assert_int_equal(fact_by_ref(&c, "H1")->f[FF_DEATH_DATE].i, 20240312);
    assert_non_null(fact_by_ref(&c, "amb"));
    assert_non_null(reject_reason(&c, "bad"));
    assert_non_null(strstr(reject_reason(&c, "X9"), "duplicate row"));
    /* the unknown field 'mood' is a warning, once */
    int warned = 0;
    for (const char *const *w = adapter_warnings(ad); *w; w++) warned += strstr(*w, "'mood'") != NULL;
    assert_int_equal(warned, 1);
    collected_free(&c);
    /* a Lua error fails the stream with file:line and the source */
    assert_int_equal(adapter_pull(ad, 0, &sink, 0, NULL, NULL, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "source dept, stream 'broken'"));
    assert_non_null(strstr(err, "pull.lua:13:"));
    adapter_free(ad);
}

/* Declaration mistakes are load errors that name the file and the line. */
static void expect_load_error(const char *text, const char *frag1, const char *frag2) {
    gg_conn_conf cc;
    char spec[256], err[1024] = "";
    gg_source_conf src = make_src("UTF-8", &cc, spec, sizeof spec);
    const char *path = write_adapter("bad.lua", text);
    adapter *ad = adapter_load(&src, path, err, sizeof err);
    if (ad) adapter_free(ad);
    assert_null(ad);
    if (!strstr(err, frag1) || (frag2 && !strstr(err, frag2))) {
        print_error("error '%s' lacks '%s' / '%s'\n", err, frag1, frag2 ? frag2 : "");
        fail();
    }
}

static void test_declaration_errors(void **state) {
    (void)state;
    expect_load_error("return {\n streams = {\n  s = {\n   kind = 'payment', conn = 'db', key = 'k',\n"
                      "   sql = 'x', mapp = {},\n  },\n },\n}\n",
                      "bad.lua:5:", "unknown key 'mapp'");
    expect_load_error("return { streams = { s = {\n kind = 'pension', conn = 'db', key = 'k', sql = 'x', map = {} } } }\n",
                      "bad.lua:1:", "kind 'pension' is not a fact kind");
    expect_load_error("return { streams = { s = {\n kind = 'death',\n conn = 'warehouse', key = 'k', sql = 'x', map = {} } } }\n",
                      "bad.lua:3:", "connection 'warehouse' is not configured");
    expect_load_error("return { streams = { s = { kind = 'payment', conn = 'db', key = 'k', sql = 'x',\n"
                      " map = { id_no = 'a', program = const 'pension', period = month 'p' } } } }\n",
                      "map lacks the required payment field 'amount'", NULL);
    expect_load_error("return { streams = { s = { kind = 'death', conn = 'db', key = 'k', sql = 'x',\n"
                      " map = { name = 'a', death_date = yuan 'd', basis = const 'cremation' } } } }\n",
                      "map.death_date is not a money field", NULL);
    expect_load_error("return { streams = { s = { kind = 'death', conn = 'db', key = 'k', sql = 'x',\n"
                      " map = { name = 'a', death_date = 'd', basis = const 'burial' } } } }\n",
                      "map.basis", NULL);
    expect_load_error("return { streams = { s = { kind = 'death', conn = 'db', sql = 'x',\n"
                      " map = { name = 'a', death_date = 'd', basis = const 'cremation' } } } }\n",
                      "missing 'key'", NULL);
    expect_load_error("local x = \nreturn {}\n", "bad.lua:2:", NULL);
    expect_load_error("return 42\n", "must return a table", NULL);
    expect_load_error("return { streams = {}, pushh = function() end }\n", "unknown top-level key 'pushh'", NULL);
    expect_load_error("io.open('/etc/passwd')\nreturn {}\n", "bad.lua:1:", NULL);
}

/* push gets the alert as a table and writes it through the connection. */
static void test_push(void **state) {
    (void)state;
    gg_conn_conf cc;
    char spec[256], err[1024];
    gg_source_conf src = make_src("UTF-8", &cc, spec, sizeof spec);
    const char *path = write_adapter("push.lua",
                                     "return { push = function(alert, conns)\n"
                                     "  conns.db:exec('CREATE TABLE IF NOT EXISTS inbox (id TEXT PRIMARY KEY, amt TEXT, p1 TEXT, p2 TEXT, s TEXT)', {})\n"
                                     "  if alert.amount < 0 then error('negative amount refused') end\n"
                                     "  return conns.db:exec('INSERT OR REPLACE INTO inbox VALUES (?, ?, ?, ?, ?)',\n"
                                     "    { alert.id, alert.amount_yuan, alert.first_period, alert.last_period, alert.summary })\n"
                                     "end }\n");
    adapter *ad = adapter_load(&src, path, err, sizeof err);
    assert_non_null(ad);
    assert_true(adapter_can_push(ad));
    alert a;
    alert_init(&a, RULE_PENSION_AFTER_DEATH, "person:110105194912310021");
    snprintf(a.id_no, sizeof a.id_no, "110105194912310021");
    a.amount = 1860000;
    alert_add_period(&a, 202409);
    alert_add_period(&a, 202404);
    assert_int_equal(adapter_push(ad, &a, "第一行\n第二行", err, sizeof err), 0);
    a.amount = -1;
    assert_int_equal(adapter_push(ad, &a, "x", err, sizeof err), -1);
    assert_non_null(strstr(err, "push.lua:3: negative amount refused"));
    assert_non_null(strstr(err, a.id));
    alert_free(&a);
    adapter_free(ad);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT amt, p1, p2, s FROM inbox", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "18600.00");
    assert_string_equal((const char *)sqlite3_column_text(st, 1), "2024-04");
    assert_string_equal((const char *)sqlite3_column_text(st, 2), "2024-09");
    assert_string_equal((const char *)sqlite3_column_text(st, 3), "第一行");
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);

    /* A GBK source gets its text back in GBK: 第一行 = B5DA D2BB D0D0. */
    src = make_src("GBK", &cc, spec, sizeof spec);
    ad = adapter_load(&src, path, err, sizeof err);
    assert_non_null(ad);
    alert_init(&a, RULE_PENSION_AFTER_DEATH, "person:110105194912310021");
    a.amount = 100;
    assert_int_equal(adapter_push(ad, &a, "第一行", err, sizeof err), 0);
    alert_free(&a);
    adapter_free(ad);
    assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT hex(s) FROM inbox WHERE amt = '1.00'", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "B5DAD2BBD0D0");
    sqlite3_finalize(st);
    sqlite3_close(db);
}


/* Column mistakes found at the first row name the source and the line inside
 * the stream (not a comment that mentions the column); to_fen converts yuan. */
static void test_missing_column_and_to_fen(void **state) {
    (void)state;
    gg_conn_conf cc;
    char spec[256], err[1024];
    gg_source_conf src = make_src("UTF-8", &cc, spec, sizeof spec);
    const char *path = write_adapter("col.lua",
                                     "-- ffje is the amount column\n"
                                     "return { streams = { pay = {\n"
                                     "  kind = 'payment', conn = 'db', key = 'lsh',\n"
                                     "  sql = [[SELECT lsh, sfzhm, ffny FROM ffmx]],\n"
                                     "  map = { id_no = 'sfzhm', program = const 'pension', period = month 'ffny',\n"
                                     "          amount = yuan 'ffje' },\n"
                                     "} } }\n");
    adapter *ad = adapter_load(&src, path, err, sizeof err);
    assert_non_null(ad);
    collected c;
    memset(&c, 0, sizeof c);
    adapter_sink sink = {on_fact, on_reject, &c};
    assert_int_equal(adapter_pull(ad, 0, &sink, 0, NULL, NULL, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "source dept, stream 'pay': "));
    assert_non_null(strstr(err, "col.lua:6:"));
    assert_non_null(strstr(err, "map.amount reads column 'ffje', which the query does not return (it returns: lsh, sfzhm, ffny)"));
    adapter_free(ad);
    collected_free(&c);

    path = write_adapter("fen.lua",
                         "return { streams = { pay = {\n"
                         "  kind = 'payment', conn = 'db', key = 'lsh',\n"
                         "  sql = [[SELECT lsh, sfzhm, ffny, ffje FROM ffmx WHERE lsh IN ('1', '4')]],\n"
                         "  map = { id_no = 'sfzhm', program = const 'pension', period = month 'ffny' },\n"
                         "  row = function(r)\n"
                         "    local fen, why = to_fen(r.ffje)\n"
                         "    if not fen then return false, why end\n"
                         "    return { amount = fen * 2 }\n"
                         "  end,\n"
                         "} } }\n");
    ad = adapter_load(&src, path, err, sizeof err);
    assert_non_null(ad);
    assert_int_equal(adapter_pull(ad, 0, &sink, 0, NULL, NULL, NULL, err, sizeof err), 0);
    assert_int_equal(c.nfacts, 1);
    assert_int_equal(c.facts[0].f[FF_AMOUNT].i, 246900);
    assert_non_null(strstr(reject_reason(&c, "4"), "not an amount in yuan: '12.345'"));
    collected_free(&c);
    adapter_free(ad);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_declarative_mapping_and_rejects),
        cmocka_unit_test(test_gbk_boundary),
        cmocka_unit_test(test_row_function),
        cmocka_unit_test(test_custom_pull_and_runtime_errors),
        cmocka_unit_test(test_declaration_errors),
        cmocka_unit_test(test_push),
        cmocka_unit_test(test_missing_column_and_to_fen),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
