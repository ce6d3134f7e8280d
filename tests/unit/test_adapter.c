/* test_adapter.c - the adapter runtime against a real SQLite database read
 * through unixODBC's SQLite3 driver: declarative mapping in C, conversions
 * and rejects, GBK at the boundary, row functions, custom pulls, push,
 * declaration errors that name file and line, incremental pulls with a
 * (column, key) watermark and targeted lookups; batches of pushes in a
 * sandboxed worker (worker_push.h), with failing, hanging and killed items. */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

#include "adapter/adapter.h"
#include "adapter/rowjson.h"
#include "app/config.h"
#include "worker/worker_push.h"

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
            "CREATE TABLE hh (hhbh TEXT, xm TEXT, swrq TEXT);"
            /* grid death reports with birth dates as grid workers type them */
            "CREATE TABLE swbg (bh TEXT, xm TEXT, csrq TEXT, swrq TEXT);"
            "INSERT INTO swbg VALUES ('B1', '王五', '1948-03-05', '2024-01-02');"
            "INSERT INTO swbg VALUES ('B2', '王五', '1948年3月5日', '2024-01-02');"
            "INSERT INTO swbg VALUES ('B3', '王五', '19480305', '2024-01-02');"
            "INSERT INTO swbg VALUES ('B4', '王五', '1948.3.5', '2024-01-02');"
            "INSERT INTO swbg VALUES ('B5', '王五', '1948/3/5', '2024-01-02');"
            "INSERT INTO swbg VALUES ('B6', '王五', '约1948年', '2024-01-02');"
            "INSERT INTO swbg VALUES ('B7', '王五', '1948-03-05', '约2024年');");
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
    adapter_sink sink = {.on_fact = on_fact, .on_reject = on_reject, .ud = &c};
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
    adapter_sink sink = {.on_fact = on_fact, .on_reject = on_reject, .ud = &c};
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
    adapter_sink sink = {.on_fact = on_fact, .on_reject = on_reject, .ud = &c};
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
    adapter_sink sink = {.on_fact = on_fact, .on_reject = on_reject, .ud = &c};
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

/* push gets what a department task needs: the verdict deadline, the first
 * sighting and the version's time as China time (+08:00), region and grid;
 * no deadline field when none is given. */
static void test_push_task_fields(void **state) {
    (void)state;
    gg_conn_conf cc;
    char spec[256], err[1024];
    gg_source_conf src = make_src("UTF-8", &cc, spec, sizeof spec);
    const char *path = write_adapter("push_task.lua",
                                     "return { push = function(alert, conns)\n"
                                     "  conns.db:exec('CREATE TABLE IF NOT EXISTS task (id TEXT PRIMARY KEY, due TEXT, due_d TEXT,"
                                     " first TEXT, upd TEXT, region TEXT, grid TEXT)', {})\n"
                                     "  return conns.db:exec('INSERT OR REPLACE INTO task VALUES (?, ?, ?, ?, ?, ?, ?)',\n"
                                     "    { alert.id, alert.deadline or 'none', alert.deadline_date or 'none', alert.first_seen,\n"
                                     "      alert.updated_at, alert.region or '', alert.grid or '' })\n"
                                     "end }\n");
    adapter *ad = adapter_load(&src, path, err, sizeof err);
    assert_non_null(ad);
    alert a;
    alert_init(&a, RULE_PENSION_AFTER_DEATH, "person:110105194912310021");
    a.region = strdup("110105");
    a.grid = strdup("WG-0101");
    a.first_seen = 1735660800;        /* 2024-12-31T16:00:00Z = 2025-01-01 00:00 in China */
    a.updated_at = 1735660800 + 3661; /* a later version: 01:01:01 */
    long long due = a.updated_at + 7 * 86400LL;
    assert_int_equal(adapter_push_due(ad, &a, "x", due, err, sizeof err), 0);
    alert b;
    alert_init(&b, RULE_PENSION_IN_CUSTODY, "person:110105194912310021");
    b.first_seen = b.updated_at = 1735660800 - 1; /* 2024-12-31T23:59:59+08:00 */
    assert_int_equal(adapter_push(ad, &b, "x", err, sizeof err), 0);
    adapter_free(ad);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT due, due_d, first, upd, region, grid FROM task WHERE id = ?1", -1,
                                        &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, a.id, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "2025-01-08T01:01:01+08:00");
    assert_string_equal((const char *)sqlite3_column_text(st, 1), "2025-01-08");
    assert_string_equal((const char *)sqlite3_column_text(st, 2), "2025-01-01T00:00:00+08:00");
    assert_string_equal((const char *)sqlite3_column_text(st, 3), "2025-01-01T01:01:01+08:00");
    assert_string_equal((const char *)sqlite3_column_text(st, 4), "110105");
    assert_string_equal((const char *)sqlite3_column_text(st, 5), "WG-0101");
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, b.id, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "none");
    assert_string_equal((const char *)sqlite3_column_text(st, 2), "2024-12-31T23:59:59+08:00");
    assert_string_equal((const char *)sqlite3_column_text(st, 5), "");
    sqlite3_finalize(st);
    sqlite3_close(db);
    alert_free(&a);
    alert_free(&b);
}

/* push gets the alert as a table and writes it through the connection. */
static void test_push(void **state) {
    (void)state;
    gg_conn_conf cc;
    char spec[256], err[1024];
    gg_source_conf src = make_src("UTF-8", &cc, spec, sizeof spec);
    const char *path = write_adapter("push.lua",
                                     "return { push = function(alert, conns)\n"
                                     "  conns.db:exec('CREATE TABLE IF NOT EXISTS inbox (id TEXT PRIMARY KEY, amt TEXT, p1 TEXT, p2 TEXT, s TEXT, sm TEXT)', {})\n"
                                     "  if alert.amount < 0 then error('negative amount refused') end\n"
                                     "  return conns.db:exec('INSERT OR REPLACE INTO inbox VALUES (?, ?, ?, ?, ?, ?)',\n"
                                     "    { alert.id, alert.amount_yuan, alert.first_period, alert.last_period, alert.explanation,\n"
                                     "      alert.summary })\n"
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
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT amt, p1, p2, s, sm FROM inbox", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "18600.00");
    assert_string_equal((const char *)sqlite3_column_text(st, 1), "2024-04");
    assert_string_equal((const char *)sqlite3_column_text(st, 2), "2024-09");
    assert_string_equal((const char *)sqlite3_column_text(st, 3), "第一行\n第二行");
    /* summary: alert_summary_zh's one masked line */
    const char *sm = (const char *)sqlite3_column_text(st, 4);
    assert_non_null(strstr(sm, "死亡后仍发放养老金"));
    assert_non_null(strstr(sm, "18,600.00"));
    assert_null(strstr(sm, "110105194912310021"));
    assert_null(strchr(sm, '\n'));
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
    adapter_sink sink = {.on_fact = on_fact, .on_reject = on_reject, .ud = &c};
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

/* ---- incremental pulls and lookups -------------------------------------- */

#define ID_X "110105194912310021"
#define ID_X15 "110105491231002"
#define ID_Y "110105198001010017"

static void inc_setup_table(void) {
    sqlite3 *db;
    assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
    sql(db, "DROP TABLE IF EXISTS inc;"
            "CREATE TABLE inc (lsh TEXT, sfzhm TEXT, ffny TEXT, ffje TEXT, gxsj TEXT);"
            /* inserted out of order: the runtime orders by (gxsj, lsh) */
            "INSERT INTO inc VALUES ('a3', '" ID_Y "', '202403', '3.00', '2024-01-02 08:00:00');"
            "INSERT INTO inc VALUES ('a2', '" ID_X15 "', '202402', '2.00', '2024-01-01 10:00:00');"
            "INSERT INTO inc VALUES ('a4', '" ID_Y "', '202404', '4.00', NULL);"
            "INSERT INTO inc VALUES ('a1', '" ID_X "', '202401', '1.00', '2024-01-01 10:00:00');"
            "INSERT INTO inc VALUES ('z9', '" ID_Y "', '202312', '9.00', '2023-12-31 09:00:00');");
    sqlite3_close(db);
}

static void inc_exec(const char *q) {
    sqlite3 *db;
    assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
    sql(db, q);
    sqlite3_close(db);
}

static const char inc_adapter[] =
    "return { streams = { pay = {\n"
    "  kind = 'payment', conn = 'db', key = 'lsh',\n"
    "  sql = [[SELECT lsh, sfzhm, ffny, ffje, gxsj FROM inc ;]],\n"
    "  incremental = { column = 'gxsj' },\n"
    "  lookup = [[SELECT lsh, sfzhm, ffny, ffje, gxsj FROM inc WHERE sfzhm IN (?, ?)]],\n"
    "  map = { id_no = 'sfzhm', program = const 'pension', period = month 'ffny', amount = yuan 'ffje' },\n"
    "} } }\n";

static void test_incremental_watermark(void **state) {
    (void)state;
    inc_setup_table();
    gg_conn_conf cc;
    char spec[256], err[1024];
    gg_source_conf src = make_src("UTF-8", &cc, spec, sizeof spec);
    adapter *ad = adapter_load(&src, write_adapter("inc.lua", inc_adapter), err, sizeof err);
    if (!ad) print_error("%s\n", err);
    assert_non_null(ad);
    assert_true(adapter_stream(ad, 0)->incremental);
    assert_non_null(adapter_stream(ad, 0)->lookup);
    collected c;
    memset(&c, 0, sizeof c);
    adapter_sink sink = {.on_fact = on_fact, .on_reject = on_reject, .ud = &c};
    long n = -1;
    char *wm = NULL;

    /* first pull: everything, ordered by (gxsj, lsh); NULL gxsj quarantined */
    assert_int_equal(adapter_pull(ad, 0, &sink, 0, NULL, &n, &wm, err, sizeof err), 0);
    assert_int_equal(n, 4);
    assert_int_equal(c.nfacts, 4);
    assert_string_equal(c.facts[0].ref, "z9");
    assert_string_equal(c.facts[1].ref, "a1");
    assert_string_equal(c.facts[2].ref, "a2");
    assert_string_equal(c.facts[3].ref, "a3");
    assert_int_equal(c.nrejects, 1);
    assert_string_equal(c.refs[0], "a4");
    assert_string_equal(c.reasons[0], "incremental column gxsj is empty");
    assert_non_null(wm);
    assert_string_equal(wm, "{\"ts\":\"2024-01-02 08:00:00\",\"key\":\"a3\"}");
    collected_free(&c);

    /* new rows: one with the SAME timestamp and a greater key (must come),
     * one later; the row equal to the watermark (a3) must not come again */
    inc_exec("INSERT INTO inc VALUES ('a5', '" ID_X "', '202405', '5.00', '2024-01-02 08:00:00');"
             "INSERT INTO inc VALUES ('a6', '" ID_Y "', '202406', '6.00', '2024-01-03 00:00:00');"
             "INSERT INTO inc VALUES ('a0', '" ID_Y "', '202406', '6.00', '2024-01-01 23:00:00');");
    char *wm2 = NULL;
    assert_int_equal(adapter_pull(ad, 0, &sink, 0, wm, &n, &wm2, err, sizeof err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(c.nfacts, 2);
    assert_string_equal(c.facts[0].ref, "a5");
    assert_string_equal(c.facts[1].ref, "a6");
    assert_int_equal(c.nrejects, 0); /* the NULL row is not re-read */
    assert_non_null(wm2);
    assert_string_equal(wm2, "{\"ts\":\"2024-01-03 00:00:00\",\"key\":\"a6\"}");
    collected_free(&c);

    /* nothing new: no rows, no watermark out */
    char *wm3 = (char *)"sentinel";
    assert_int_equal(adapter_pull(ad, 0, &sink, 0, wm2, &n, &wm3, err, sizeof err), 0);
    assert_int_equal(n, 0);
    assert_null(wm3);

    /* a damaged stored watermark fails the stream, naming it */
    wm3 = (char *)"sentinel";
    assert_int_equal(adapter_pull(ad, 0, &sink, 0, "12:00", &n, &wm3, err, sizeof err), -1);
    assert_null(wm3);
    assert_non_null(strstr(err, "stream 'pay': stored watermark is not"));

    /* the source failing mid-stream gives no watermark */
    inc_exec("ALTER TABLE inc RENAME COLUMN gxsj TO gxsj_old;");
    wm3 = (char *)"sentinel";
    assert_int_equal(adapter_pull(ad, 0, &sink, 0, wm2, &n, &wm3, err, sizeof err), -1);
    assert_null(wm3);
    inc_exec("ALTER TABLE inc RENAME COLUMN gxsj_old TO gxsj;");
    collected_free(&c);

    /* targeted lookup: the id's rows in both stored forms, nothing else */
    assert_int_equal(adapter_lookup(ad, 0, ID_X, &sink, &n, err, sizeof err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(c.nfacts, 3);
    assert_non_null(fact_by_ref(&c, "a1"));
    assert_non_null(fact_by_ref(&c, "a2")); /* stored as the 15-digit form */
    assert_non_null(fact_by_ref(&c, "a5"));
    assert_int_equal(fact_by_ref(&c, "a2")->f[FF_AMOUNT].i, 200);
    collected_free(&c);
    assert_int_equal(adapter_lookup(ad, 0, "110105200001010011", &sink, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
    free(wm);
    free(wm2);
    adapter_free(ad);

    char id15[16];
    assert_int_equal(adapter_id15(ID_X, id15), 0);
    assert_string_equal(id15, ID_X15);
    assert_int_equal(adapter_id15("110105200001010011", id15), -1); /* born 2000: no 15-digit form */
    assert_int_equal(adapter_id15("11010519491231", id15), -1);

    /* a stream without lookup cannot be looked up */
    ad = adapter_load(&src,
                      write_adapter("nolookup.lua", "return { streams = { pay = {\n"
                                                    "  kind = 'payment', conn = 'db', key = 'lsh',\n"
                                                    "  sql = [[SELECT lsh, sfzhm, ffny, ffje FROM inc]],\n"
                                                    "  map = { id_no = 'sfzhm', program = const 'pension',\n"
                                                    "          period = month 'ffny', amount = yuan 'ffje' },\n"
                                                    "} } }\n"),
                      err, sizeof err);
    assert_non_null(ad);
    assert_false(adapter_stream(ad, 0)->incremental);
    assert_null(adapter_stream(ad, 0)->lookup);
    assert_int_equal(adapter_lookup(ad, 0, ID_X, &sink, &n, err, sizeof err), -1);
    assert_non_null(strstr(err, "declares no lookup"));
    adapter_free(ad);
}

static void test_incremental_declaration_errors(void **state) {
    (void)state;
    gg_conn_conf cc;
    char spec[256], err[1024];
    gg_source_conf src = make_src("UTF-8", &cc, spec, sizeof spec);
    const char *path = write_adapter("bad_inc1.lua", "return { streams = { s = {\n"
                                                     "  kind = 'payment',\n"
                                                     "  incremental = { column = 'gxsj' },\n"
                                                     "  pull = function(ctx) end,\n"
                                                     "} } }\n");
    assert_null(adapter_load(&src, path, err, sizeof err));
    assert_non_null(strstr(err, "bad_inc1.lua:3: stream 's': incremental applies to declarative SQL streams only"));
    path = write_adapter("bad_inc2.lua", "return { streams = { s = {\n"
                                         "  kind = 'payment', conn = 'db', key = 'lsh', sql = 'SELECT 1',\n"
                                         "  map = { id_no = 'a', program = 'b', period = 'c', amount = 'd' },\n"
                                         "  incremental = { column = 'gxsj', lag = 100 },\n"
                                         "} } }\n");
    assert_null(adapter_load(&src, path, err, sizeof err));
    assert_non_null(strstr(err, "bad_inc2.lua:4: stream 's': incremental: unknown key 'lag'"));
    path = write_adapter("bad_inc3.lua", "return { streams = { s = {\n"
                                         "  kind = 'payment', conn = 'db', key = 'lsh', sql = 'SELECT 1',\n"
                                         "  map = { id_no = 'a', program = 'b', period = 'c', amount = 'd' },\n"
                                         "  incremental = { column = 'gx sj; DROP' },\n"
                                         "} } }\n");
    assert_null(adapter_load(&src, path, err, sizeof err));
    assert_non_null(strstr(err, "incremental.column must name a column"));
    path = write_adapter("bad_inc4.lua", "return { streams = { s = {\n"
                                         "  kind = 'death', conn = 'db', key = 'lsh', sql = 'SELECT 1',\n"
                                         "  map = { id_no = 'a', death_date = date 'b' },\n"
                                         "  lookup = 'SELECT 1',\n"
                                         "} } }\n");
    assert_null(adapter_load(&src, path, err, sizeof err));
    assert_non_null(strstr(err, "bad_inc4.lua:4: stream 's': lookup applies to payment and income streams"));
    /* the incremental column must be in the query result */
    inc_setup_table();
    path = write_adapter("bad_inc5.lua", "return { streams = { s = {\n"
                                         "  kind = 'payment', conn = 'db', key = 'lsh',\n"
                                         "  sql = 'SELECT lsh, sfzhm, ffny, ffje FROM inc',\n"
                                         "  map = { id_no = 'sfzhm', program = const 'p', period = month 'ffny', amount = yuan 'ffje' },\n"
                                         "  incremental = { column = 'gxsj' },\n"
                                         "} } }\n");
    adapter *ad = adapter_load(&src, path, err, sizeof err);
    assert_non_null(ad);
    collected c;
    memset(&c, 0, sizeof c);
    adapter_sink sink = {.on_fact = on_fact, .on_reject = on_reject, .ud = &c};
    assert_int_equal(adapter_pull(ad, 0, &sink, 0, NULL, NULL, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "stream 's'"));
    collected_free(&c);
    adapter_free(ad);
}

/* date { "col", lenient = true }: the four spellings parse; an unparseable
 * value drops the field with a warning naming source, stream, record, field
 * and reason, and the record is kept. Without lenient it is rejected. Lenient
 * applies only to its own field: a bad death_date still rejects. */

/* Pulls stream 0 with the log (stderr) written to logpath, so that a test can
 * read what the runtime logged; stderr is restored before returning. */
static int pull_logging_to(adapter *ad, const adapter_sink *sink, const char *logpath, char *err, size_t errsz) {
    fflush(stderr);
    int saved = dup(2);
    assert_non_null(freopen(logpath, "w", stderr));
    int rc = adapter_pull(ad, 0, sink, 0, NULL, NULL, NULL, err, errsz);
    fflush(stderr);
    assert_int_equal(dup2(saved, 2), 2);
    close(saved);
    return rc;
}

static void test_lenient_date(void **state) {
    (void)state;
    gg_conn_conf cc;
    char spec[256], err[1024];
    gg_source_conf src = make_src("UTF-8", &cc, spec, sizeof spec);
    const char *path = write_adapter("grid_deaths.lua",
                                     "return { streams = { reports = {\n"
                                     "  kind = 'death', conn = 'db', key = 'bh',\n"
                                     "  sql = 'SELECT bh, xm, csrq, swrq FROM swbg ORDER BY bh',\n"
                                     "  map = { name = 'xm', birth_date = date { 'csrq', lenient = true },\n"
                                     "          death_date = date 'swrq', basis = const 'grid_report' },\n"
                                     "} } }\n");
    adapter *ad = adapter_load(&src, path, err, sizeof err);
    if (!ad) fail_msg("%s", err);
    collected c;
    memset(&c, 0, sizeof c);
    adapter_sink sink = {.on_fact = on_fact, .on_reject = on_reject, .ud = &c};
    /* the log goes to stderr: capture it in a file for the warning */
    char logpath[160];
    snprintf(logpath, sizeof logpath, "%s/lenient.log", tmpdir);
    int rc = pull_logging_to(ad, &sink, logpath, err, sizeof err);
    assert_int_equal(rc, 0);
    assert_int_equal(c.nfacts, 6);
    const char *refs[] = {"B1", "B2", "B3", "B4", "B5"};
    for (size_t i = 0; i < 5; i++) {
        const fact *f = fact_by_ref(&c, refs[i]);
        assert_non_null(f);
        assert_true(FACT_HAS(f, FF_BIRTH_DATE));
        assert_int_equal(f->f[FF_BIRTH_DATE].i, 19480305);
    }
    const fact *f6 = fact_by_ref(&c, "B6");
    assert_non_null(f6);
    assert_false(FACT_HAS(f6, FF_BIRTH_DATE));
    assert_int_equal(f6->f[FF_DEATH_DATE].i, 20240102);
    assert_int_equal(c.nrejects, 1);
    assert_non_null(strstr(reject_reason(&c, "B7"), "field death_date (column swrq): not a date"));
    FILE *lf = fopen(logpath, "r");
    assert_non_null(lf);
    char log[4096];
    size_t nl = fread(log, 1, sizeof log - 1, lf);
    log[nl] = '\0';
    fclose(lf);
    assert_non_null(strstr(log, "dept"));
    assert_non_null(strstr(log, "stream reports, record B6: field birth_date (column csrq): not a date: "
                                "'约1948年'; field dropped (lenient)"));
    assert_null(strstr(log, "record B1"));
    collected_free(&c);
    adapter_free(ad);

    /* without lenient the same value rejects the record */
    path = write_adapter("grid_deaths_strict.lua",
                         "return { streams = { reports = {\n"
                         "  kind = 'death', conn = 'db', key = 'bh',\n"
                         "  sql = 'SELECT bh, xm, csrq, swrq FROM swbg ORDER BY bh',\n"
                         "  map = { name = 'xm', birth_date = date 'csrq',\n"
                         "          death_date = date 'swrq', basis = const 'grid_report' },\n"
                         "} } }\n");
    ad = adapter_load(&src, path, err, sizeof err);
    if (!ad) fail_msg("%s", err);
    assert_int_equal(adapter_pull(ad, 0, &sink, 0, NULL, NULL, NULL, err, sizeof err), 0);
    assert_int_equal(c.nfacts, 5);
    assert_int_equal(c.nrejects, 2);
    assert_non_null(strstr(reject_reason(&c, "B6"), "field birth_date (column csrq): not a date"));
    collected_free(&c);
    adapter_free(ad);

    /* a date spec table must name its column first */
    path = write_adapter("bad_lenient.lua",
                         "return { streams = { reports = {\n"
                         "  kind = 'death', conn = 'db', key = 'bh', sql = 'x',\n"
                         "  map = { name = 'xm', birth_date = date { lenient = true },\n"
                         "          death_date = date 'swrq', basis = const 'grid_report' },\n"
                         "} } }\n");
    assert_null(adapter_load(&src, path, err, sizeof err));
    assert_non_null(strstr(err, "names a column first"));
}

/* income/asset/custody rows may map name and birth_date (no warning), and a
 * payment stream may map case instead of id_no. */
static void test_person_fields_and_case_payments(void **state) {
    (void)state;
    gg_conn_conf cc;
    char spec[256], err[1024];
    gg_source_conf src = make_src("UTF-8", &cc, spec, sizeof spec);
    const char *path = write_adapter("inc.lua",
                                     "return { streams = { inc = {\n"
                                     "  kind = 'income', conn = 'db', key = 'lsh',\n"
                                     "  sql = 'SELECT lsh, sfzhm, xm, ffny, ffje FROM ffmx',\n"
                                     "  map = { id_no = 'sfzhm', name = 'xm', birth_date = date { 'ffny', lenient = true },\n"
                                     "          period = month 'ffny', amount = yuan 'ffje' },\n"
                                     "} } }\n");
    adapter *ad = adapter_load(&src, path, err, sizeof err);
    if (!ad) fail_msg("%s", err);
    const char *const *w = adapter_warnings(ad);
    assert_true(w == NULL || w[0] == NULL);
    adapter_free(ad);
    /* case payments: case without id_no loads; neither loads with an error */
    path = write_adapter("case_pay.lua",
                         "return { streams = { pay = {\n"
                         "  kind = 'payment', conn = 'db', key = 'lsh',\n"
                         "  sql = [[SELECT lsh, sfzhm AS hh, ffny, ffje FROM ffmx WHERE lsh IN ('1','2','7')]],\n"
                         "  map = { case = 'hh', program = const 'dibao', period = month 'ffny', amount = yuan 'ffje' },\n"
                         "} } }\n");
    ad = adapter_load(&src, path, err, sizeof err);
    if (!ad) fail_msg("%s", err);
    collected c;
    memset(&c, 0, sizeof c);
    adapter_sink sink = {.on_fact = on_fact, .on_reject = on_reject, .ud = &c};
    assert_int_equal(adapter_pull(ad, 0, &sink, 0, NULL, NULL, NULL, err, sizeof err), 0);
    assert_int_equal(c.nfacts, 2);
    assert_int_equal(c.nrejects, 1);
    assert_non_null(strstr(reject_reason(&c, "7"), "missing required field 'id_no' or 'case'"));
    const fact *f1 = fact_by_ref(&c, "1");
    assert_non_null(f1);
    assert_false(FACT_HAS(f1, FF_ID_NO));
    assert_string_equal(f1->f[FF_CASE].s, "110105194912310021");
    collected_free(&c);
    adapter_free(ad);
    expect_load_error("return { streams = { s = { kind = 'payment', conn = 'db', key = 'k', sql = 'x',\n"
                      " map = { program = const 'dibao', period = month 'p', amount = yuan 'a' } } } }\n",
                      "map lacks the required payment field 'id_no'", NULL);
}

/* Error paths of the C functions an adapter calls, run under the ASan build
 * with leak detection (ASAN_OPTIONS=detect_leaks=1): a metamethod or a bad
 * argument that raises while C memory is held must not leak it. */
static void test_error_paths_free_c_memory(void **state) {
    (void)state;
    gg_conn_conf cc;
    char spec[256], err[1024];
    gg_source_conf src = make_src("UTF-8", &cc, spec, sizeof spec);
    const char *path = write_adapter(
        "errpaths.lua",
        "local boom = { __index = function() error('boom') end, __len = function() return 3 end }\n"
        "return { streams = {\n"
        "  custom = { kind = 'death', pull = function(ctx)\n"
        "    local db = ctx.conns.db\n"
        /* params: a proxy table raising in __index/__len is read raw (no params) */
        "    local ok, e = pcall(db.query, db, 'SELECT hhbh FROM hh WHERE hhbh = ?', setmetatable({}, boom))\n"
        "    assert(not ok, 'query with no parameter bound should fail')\n"
        "    ok = pcall(db.exec, db, 'UPDATE hh SET xm = xm WHERE hhbh = ?', setmetatable({}, boom))\n"
        "    assert(not ok)\n"
        /* emit: a table whose __index raises is read raw: no ref, rejected */
        "    assert(pcall(ctx.emit, setmetatable({ name = 'x' }, boom)))\n"
        /* reject: a bad reason raises before the key is copied */
        "    ok = pcall(ctx.reject, 'R1', {})\n"
        "    assert(not ok)\n"
        "    ctx.emit{ ref = 'ok1', name = 'x', death_date = '2024-01-01', basis = 'cremation' }\n"
        "  end },\n"
        "} }\n");
    adapter *ad = adapter_load(&src, path, err, sizeof err);
    if (!ad) fail_msg("%s", err);
    collected c;
    memset(&c, 0, sizeof c);
    adapter_sink sink = {.on_fact = on_fact, .on_reject = on_reject, .ud = &c};
    if (adapter_pull(ad, 0, &sink, 0, NULL, NULL, NULL, err, sizeof err) != 0) fail_msg("%s", err);
    assert_int_equal(c.nfacts, 1);
    assert_int_equal(c.nrejects, 1); /* the record with no ref */
    assert_null(reject_reason(&c, "R1"));
    collected_free(&c);
    adapter_free(ad);
}

/* A row bigger than the adapter's memory cap fails the stream with a clear
 * message: the per-row arena counts against the cap. */
static void test_row_arena_counts_against_cap(void **state) {
    (void)state;
    gg_conn_conf cc;
    char spec[256], err[1024];
    gg_source_conf src = make_src("UTF-8", &cc, spec, sizeof spec);
    src.memory_mb = 4;
    src.max_field = src.max_record = 64L << 20; /* the size limits above the cap */
    const char *path = write_adapter("bigrow.lua",
                                     "return { streams = { big = {\n"
                                     "  kind = 'death', conn = 'db', key = 'bh',\n"
                                     "  sql = [[SELECT 'B1' AS bh, hex(zeroblob(3000000)) AS xm, '2024-01-02' AS swrq]],\n"
                                     "  map = { name = 'xm', death_date = date 'swrq', basis = const 'cremation' },\n"
                                     "} } }\n");
    adapter *ad = adapter_load(&src, path, err, sizeof err);
    if (!ad) fail_msg("%s", err);
    collected c;
    memset(&c, 0, sizeof c);
    adapter_sink sink = {.on_fact = on_fact, .on_reject = on_reject, .ud = &c};
    assert_int_equal(adapter_pull(ad, 0, &sink, 0, NULL, NULL, NULL, err, sizeof err), -1);
    if (!strstr(err, "memory")) fail_msg("%s", err);
    assert_non_null(strstr(err, "stream 'big'"));
    assert_int_equal(c.nfacts, 0);
    collected_free(&c);
    adapter_free(ad);
}

/* log.info/log.warn go through the runtime's logger: one call is one line
 * (control characters escaped) and id numbers are masked. */
static void test_adapter_log_is_escaped_and_masked(void **state) {
    (void)state;
    gg_conn_conf cc;
    char spec[256], err[1024];
    gg_source_conf src = make_src("UTF-8", &cc, spec, sizeof spec);
    const char *path = write_adapter(
        "logs.lua",
        "return { streams = {\n"
        "  custom = { kind = 'death', pull = function(ctx)\n"
        "    log.info('a\\n2026-01-01T00:00:00Z [error] dept: forged 420501 19500312 1233')\n"
        "    log.warn('b\\r\\27[2J')\n"
        "  end },\n"
        "} }\n");
    adapter *ad = adapter_load(&src, path, err, sizeof err);
    if (!ad) fail_msg("%s", err);
    collected c;
    memset(&c, 0, sizeof c);
    adapter_sink sink = {.on_fact = on_fact, .on_reject = on_reject, .ud = &c};
    char logpath[160];
    snprintf(logpath, sizeof logpath, "%s/adlog.log", tmpdir);
    int rc = pull_logging_to(ad, &sink, logpath, err, sizeof err);
    assert_int_equal(rc, 0);
    FILE *lf = fopen(logpath, "r");
    assert_non_null(lf);
    char line[4096];
    int lines = 0, info = 0, warn = 0;
    while (fgets(line, sizeof line, lf)) {
        lines++;
        if (strstr(line, "[info] dept: adapter: a\\n2026-01-01T00:00:00Z [error] dept: forged 4205**********1233\n"))
            info++;
        if (strstr(line, "[warn] dept: adapter: b\\r\\x1b[2J\n")) warn++;
        assert_null(strstr(line, "19500312"));
        assert_null(strstr(line, "\033"));
    }
    fclose(lf);
    assert_int_equal(lines, 2);
    assert_int_equal(info, 1);
    assert_int_equal(warn, 1);
    collected_free(&c);
    adapter_free(ad);
}

/* Hostile values from a source or an adapter's emit: fields and records over
 * the size limits (raw text not kept), numbers a cast would not survive
 * (1e308, NaN, 2^63), implausible dates and amounts. Each record is rejected
 * with an accurate reason; the good records still pass. */
typedef struct raw_seen {
    collected c;
    int raw_null[64];
    size_t raw_len[64];
} raw_seen;

static int on_reject_raw(void *ud, const char *stream, const char *ref, const char *reason, const char *raw) {
    raw_seen *r = ud;
    int i = r->c.nrejects;
    if (i < 64) {
        r->raw_null[i] = raw == NULL;
        r->raw_len[i] = raw ? strlen(raw) : 0;
    }
    return on_reject(&r->c, stream, ref, reason, raw);
}

static void test_input_limits(void **state) {
    (void)state;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
    sql(db, "CREATE TABLE big (bh TEXT, xm TEXT, swrq TEXT, note TEXT);"
            "INSERT INTO big VALUES ('G1', '王五', '2024-01-02', 'ok');"
            "INSERT INTO big VALUES ('G2', '王五', '2024-01-02', replace(hex(zeroblob(3000)), '0', 'a'));"
            "INSERT INTO big VALUES (replace(hex(zeroblob(3000)), '0', 'k'), '王五', '2024-01-02', 'x');"
            "INSERT INTO big VALUES ('G4', '王五', '1850-01-02', 'x');"
            "INSERT INTO big VALUES ('G5', replace(hex(zeroblob(450)), '0', 'c'), '2024-01-02',"
            " replace(hex(zeroblob(450)), '0', 'b'));");
    sqlite3_close(db);
    gg_conn_conf cc;
    char spec[256], err[1024];
    gg_source_conf src = make_src("UTF-8", &cc, spec, sizeof spec);
    src.max_field = 1000;   /* [source] max_field = 1000 */
    src.max_record = 1500;  /* and max_record */
    src.max_amount = 5000;  /* yuan */
    const char *path = write_adapter("limits.lua",
        "return { streams = {\n"
        "  a_sql = { kind = 'death', conn = 'db', sql = 'SELECT bh, xm, swrq, note FROM big', key = 'bh',\n"
        "            map = { name = 'xm', death_date = date 'swrq', basis = const 'cremation' } },\n"
        "  b_emit = { kind = 'death', pull = function(ctx)\n"
        "    local d = { ref = 'E1', name = 'x', death_date = 20240102, basis = 'cremation' }\n"
        "    ctx.emit(d)\n"
        "    ctx.emit{ ref = 'E2', name = 'x', death_date = 1e308, basis = 'cremation' }\n"
        "    ctx.emit{ ref = 'E3', name = 'x', death_date = 0/0, basis = 'cremation' }\n"
        "    ctx.emit{ ref = 'E4', name = 'x', death_date = 2^63, basis = 'cremation' }\n"
        "    ctx.emit{ ref = 'E5', name = 'x', death_date = -1e300, basis = 'cremation' }\n"
        "    ctx.emit{ ref = 'E6', name = 'x', death_date = '1e308', basis = 'cremation' }\n"
        "    ctx.emit{ ref = 'E7', name = string.rep('n', 2000), death_date = 20240102, basis = 'cremation' }\n"
        "    ctx.emit{ ref = 'E8', name = 'x', death_date = 20240102, basis = 'cremation', extra = string.rep('e', 5000) }\n"
        "    ctx.emit{ ref = string.rep('r', 5000), name = 'x', death_date = 20240102, basis = 'cremation' }\n"
        "    ctx.emit{ ref = 'E10', name = 'x', death_date = 18991231, basis = 'cremation' }\n"
        "    ctx.emit{ ref = 'E11', name = 'x', death_date = 20240102.5, basis = 'cremation' }\n"
        "    ctx.emit{ ref = 'E12', name = 'x', death_date = 20240102.0, basis = 'cremation' }\n"
        "    ctx.emit{ ref = 'E13', name = 'x', death_date = 20240102, basis = 'cremation',\n"
        "              a = string.rep('1', 900), b = string.rep('2', 900) }\n"
        "  end },\n"
        "  c_pay = { kind = 'payment', pull = function(ctx)\n"
        "    ctx.emit{ ref = 'P1', id_no = '110105194912310021', program = 'pension', period = 202403, amount = 312050 }\n"
        "    ctx.emit{ ref = 'P2', id_no = '110105194912310021', program = 'pension', period = 202403, amount = -300 }\n"
        "    ctx.emit{ ref = 'P3', id_no = '110105194912310021', program = 'pension', period = 202403, amount = 100000000000000000 }\n"
        "    ctx.emit{ ref = 'P4', id_no = '110105194912310021', program = 'pension', period = 202403, amount = 1e19 }\n"
        "    ctx.emit{ ref = 'P5', id_no = '110105194912310021', program = 'pension', period = 202403, amount = 500001 }\n"
        "    ctx.emit{ ref = 'P6', id_no = '110105194912310021', program = 'pension', period = 1e308, amount = 1 }\n"
        "  end },\n"
        "} }\n");
    adapter *ad = adapter_load(&src, path, err, sizeof err);
    if (!ad) print_error("%s\n", err);
    assert_non_null(ad);
    raw_seen r;
    memset(&r, 0, sizeof r);
    adapter_sink sink = {.on_fact = on_fact, .on_reject = on_reject_raw, .ud = &r};
    /* SQL rows */
    sink.ud = &r;
    assert_int_equal(adapter_pull(ad, 0, &sink, 0, NULL, NULL, NULL, err, sizeof err), 0);
    assert_int_equal(r.c.nfacts, 1);
    assert_non_null(fact_by_ref(&r.c, "G1"));
    assert_string_equal(reject_reason(&r.c, "G2"), "column note: value of 6000 bytes is over max_field (1000 bytes)");
    assert_int_equal(r.raw_null[0], 1); /* the oversized record's text is not kept */
    /* an oversized key: the row is named by its position, never by the value */
    assert_string_equal(reject_reason(&r.c, "(row 3)"), "column bh: value of 6000 bytes is over max_field (1000 bytes)");
    assert_non_null(strstr(reject_reason(&r.c, "G4"), "implausible date 18500102 (outside 19000101.."));
    assert_string_equal(reject_reason(&r.c, "G5"), "record of 1812 bytes is over max_record (1500 bytes)");
    collected_free(&r.c);
    memset(&r, 0, sizeof r);
    /* emitted tables */
    assert_int_equal(adapter_pull(ad, 1, &sink, 0, NULL, NULL, NULL, err, sizeof err), 0);
    assert_int_equal(r.c.nfacts, 2);
    assert_non_null(fact_by_ref(&r.c, "E1"));
    assert_int_equal(fact_by_ref(&r.c, "E12")->f[FF_DEATH_DATE].i, 20240102);
    assert_string_equal(reject_reason(&r.c, "E2"), "field death_date: number 1e+308 is out of range for a date (yyyymmdd)");
    assert_non_null(strstr(reject_reason(&r.c, "E3"), "is out of range for a date"));
    assert_string_equal(reject_reason(&r.c, "E4"), "field death_date: number 9.22337e+18 is out of range for a date (yyyymmdd)");
    assert_non_null(strstr(reject_reason(&r.c, "E5"), "is out of range for a date"));
    assert_string_equal(reject_reason(&r.c, "E6"), "field 'death_date': not a date: '1e308'");
    assert_string_equal(reject_reason(&r.c, "E7"), "field name: value of 2000 bytes is over max_field (1000 bytes)");
    assert_string_equal(reject_reason(&r.c, "E8"), "field extra: value of 5000 bytes is over max_field (1000 bytes)");
    assert_string_equal(reject_reason(&r.c, "(no ref)"), "field ref: value of 5000 bytes is over max_field (1000 bytes)");
    assert_string_equal(reject_reason(&r.c, "E10"), "field 'death_date': implausible date 18991231 (before 19000101)");
    assert_string_equal(reject_reason(&r.c, "E11"), "field death_date: fractional number 2.02401e+07 (an integer is needed)");
    assert_non_null(strstr(reject_reason(&r.c, "E13"), "is over max_record (1500 bytes)"));
    for (int i = 0; i < r.c.nrejects; i++)
        if (strstr(r.c.reasons[i], "max_field") || strstr(r.c.reasons[i], "max_record")) assert_int_equal(r.raw_null[i], 1);
        else assert_true(r.raw_len[i] < 1000);
    collected_free(&r.c);
    memset(&r, 0, sizeof r);
    /* amounts */
    assert_int_equal(adapter_pull(ad, 2, &sink, 0, NULL, NULL, NULL, err, sizeof err), 0);
    assert_int_equal(r.c.nfacts, 1);
    assert_non_null(fact_by_ref(&r.c, "P1"));
    assert_string_equal(reject_reason(&r.c, "P2"), "field 'amount': negative amount -3.00 yuan is not accepted");
    assert_non_null(strstr(reject_reason(&r.c, "P3"), "amount 1000000000000000.00 yuan is over the ceiling of 5000.00 yuan"));
    assert_string_equal(reject_reason(&r.c, "P4"), "field amount: number 1e+19 is out of range for an amount in fen");
    assert_non_null(strstr(reject_reason(&r.c, "P5"), "is over the ceiling"));
    assert_string_equal(reject_reason(&r.c, "P6"), "field period: number 1e+308 is out of range for a month (yyyymm)");
    collected_free(&r.c);
    adapter_free(ad);
}

/* ---- batches of pushes in a worker (worker/push.c) ---------------------- */

/* The batch sink: amount 1 is written (with the number of pushes this
 * process made so far: one worker for the whole batch), 2 is refused, 3
 * writes a 'started' mark and spins (a hang: the Lua deadline of the item, or
 * a kill from outside). */
static const char *batch_adapter(const char *table) {
    static char text[1024];
    snprintf(text, sizeof text,
             "local calls = 0\n"
             "return { push = function(alert, conns)\n"
             "  calls = calls + 1\n"
             "  conns.db:exec('CREATE TABLE IF NOT EXISTS %s (id TEXT PRIMARY KEY, seq TEXT)', {})\n"
             "  if alert.amount == 2 then error('refused ' .. alert.id) end\n"
             "  if alert.amount == 3 then\n"
             "    conns.db:exec(\"INSERT INTO %s VALUES ('started', ?)\", { tostring(calls) })\n"
             "    while true do end\n"
             "  end\n"
             "  return conns.db:exec('INSERT INTO %s VALUES (?, ?)', { alert.id, tostring(calls) })\n"
             "end }\n",
             table, table, table);
    char name[64];
    snprintf(name, sizeof name, "batch_%s.lua", table);
    return write_adapter(name, text);
}

#define BATCH_MAX 8
typedef struct batch_seen {
    int ok[2][BATCH_MAX];
    char err[2][BATCH_MAX][600];
    size_t next[2]; /* outcomes come in item order */
    int calls;
} batch_seen;

static void batch_outcome(void *ud, size_t batch, size_t item, int ok, const char *err) {
    batch_seen *bs = ud;
    assert_true(batch < 2 && item < BATCH_MAX);
    assert_int_equal(item, bs->next[batch]);
    bs->next[batch]++;
    bs->calls++;
    bs->ok[batch][item] = ok;
    snprintf(bs->err[batch][item], sizeof bs->err[0][0], "%s", ok ? "" : (err ? err : "(null)"));
}

/* Alerts with amounts amt[0..n-1], each its own subject (and id). */
static void batch_alerts(alert *a, push_item *it, const long *amt, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char subject[64];
        snprintf(subject, sizeof subject, "person:1101051949123100%02zu", i + 10 * (size_t)amt[i]);
        alert_init(&a[i], RULE_PENSION_AFTER_DEATH, subject);
        a[i].amount = amt[i];
        it[i] = (push_item){.a = &a[i], .expl = "说明", .deadline = 0};
    }
}

/* The seq column of row id in table, or NULL (static buffer). */
static const char *row_seq(const char *table, const char *id) {
    static char out[32];
    sqlite3 *db;
    assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
    char q[128];
    snprintf(q, sizeof q, "SELECT seq FROM %s WHERE id = ?1", table);
    sqlite3_stmt *st;
    const char *r = NULL;
    if (sqlite3_prepare_v2(db, q, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
            snprintf(out, sizeof out, "%s", (const char *)sqlite3_column_text(st, 0));
            r = out;
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return r;
}

/* The 2nd of 3 items is refused by the sink: the 1st and 3rd are pushed by
 * the same worker (its 1st and 3rd push), the 2nd reports the adapter's
 * message. A hang in an item ends at the Lua deadline of that item and the
 * next one is still pushed. */
static void test_push_batch_item_fails(void **state) {
    (void)state;
    gg_conn_conf cc;
    char spec[256], err[1024];
    gg_source_conf src = make_src("UTF-8", &cc, spec, sizeof spec);
    adapter *ad = adapter_load(&src, batch_adapter("b1"), err, sizeof err);
    assert_non_null(ad);
    alert a[4];
    push_item it[4];
    batch_alerts(a, it, (const long[]){1, 2, 1}, 3);
    batch_seen bs;
    memset(&bs, 0, sizeof bs);
    assert_int_equal(worker_push_batch(ad, &src, it, 3, batch_outcome, &bs, err, sizeof err), 0);
    assert_int_equal(bs.calls, 3);
    assert_true(bs.ok[0][0] && !bs.ok[0][1] && bs.ok[0][2]);
    assert_non_null(strstr(bs.err[0][1], "source dept: push of alert "));
    assert_non_null(strstr(bs.err[0][1], a[1].id));
    assert_non_null(strstr(bs.err[0][1], "refused"));
    assert_string_equal(row_seq("b1", a[0].id), "1");
    assert_null(row_seq("b1", a[1].id));
    assert_string_equal(row_seq("b1", a[2].id), "3");
    for (int i = 0; i < 3; i++) alert_free(&a[i]);

    /* a hang: the item's Lua deadline (1 s) ends it, the next is pushed */
    batch_alerts(a, it, (const long[]){3, 1}, 2);
    memset(&bs, 0, sizeof bs);
    assert_int_equal(worker_push_batch(ad, &src, it, 2, batch_outcome, &bs, err, sizeof err), 0);
    assert_int_equal(bs.calls, 2);
    assert_false(bs.ok[0][0]);
    assert_non_null(strstr(bs.err[0][0], a[0].id));
    assert_true(bs.ok[0][1]);
    assert_string_equal(row_seq("b1", a[1].id), "2");
    for (int i = 0; i < 2; i++) alert_free(&a[i]);

    /* a batch of one */
    batch_alerts(a, it, (const long[]){2}, 1);
    memset(&bs, 0, sizeof bs);
    assert_int_equal(worker_push_batch(ad, &src, it, 1, batch_outcome, &bs, err, sizeof err), 0);
    assert_int_equal(bs.calls, 1);
    assert_false(bs.ok[0][0]);
    assert_non_null(strstr(bs.err[0][0], "refused"));
    alert_free(&a[0]);
    adapter_free(ad);
}

/* The pids of the children of process `parent` other than the caller (at
 * most max), from /proc; their count. */
static int child_pids(pid_t parent, pid_t *out, int max) {
    char path[128], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)parent, (int)parent);
    ssize_t n = 0;
    int fd = open(path, O_RDONLY);
    if (fd >= 0) {
        n = read(fd, buf, sizeof buf - 1);
        close(fd);
    }
    buf[n > 0 ? n : 0] = '\0';
    int k = 0;
    for (char *q = buf, *e; *q && k < max; q = e) {
        long v = strtol(q, &e, 10);
        if (e == q) break;
        if (v > 0 && v != (long)getpid()) out[k++] = (pid_t)v;
    }
    return k;
}

/* Kills the first child of this process with SIGSEGV once the 'started'
 * mark is in table b2 (the worker is then inside item 2). */
/* The killer is a process of its own, not a thread: a thread that
 * allocates while the worker is forked leaves the allocator's lock held in
 * the child (ASan's allocator has no fork handler), which then hangs in its
 * first malloc. It finds the worker among the test's children (not itself)
 * and sends it SIGSEGV once the worker has started its second item. */
static pid_t start_killer(void) {
    pid_t test = getpid(), k = fork();
    if (k != 0) return k;
    for (int i = 0; i < 1500; i++) {
        usleep(20000);
        pid_t kids[16];
        int nk = child_pids(test, kids, 16);
        if (nk > 0 && row_seq("b2", "started")) {
            kill(kids[nk - 1], SIGSEGV);
            _exit(0);
        }
    }
    _exit(1);
}

/* A worker killed in the middle of its batch: the item before stands, the one
 * it was on and the one it never reached fail with how it ended; nothing the
 * worker did not report is delivered. */
static void test_push_batch_worker_killed(void **state) {
    (void)state;
    gg_conn_conf cc;
    char spec[256], err[1024];
    gg_source_conf src = make_src("UTF-8", &cc, spec, sizeof spec);
    src.deadline_ms = 20000; /* the kill comes first */
    adapter *ad = adapter_load(&src, batch_adapter("b2"), err, sizeof err);
    assert_non_null(ad);
    alert a[3];
    push_item it[3];
    batch_alerts(a, it, (const long[]){1, 3, 1}, 3);
    batch_seen bs;
    memset(&bs, 0, sizeof bs);
    pid_t kp = start_killer();
    assert_true(kp > 0);
    assert_int_equal(worker_push_batch(ad, &src, it, 3, batch_outcome, &bs, err, sizeof err), 0);
    int kst = 0;
    assert_int_equal(waitpid(kp, &kst, 0), kp);
    assert_true(WIFEXITED(kst) && WEXITSTATUS(kst) == 0); /* it found the worker and killed it */
    assert_int_equal(bs.calls, 3);
    assert_true(bs.ok[0][0]);
    assert_false(bs.ok[0][1]);
    assert_false(bs.ok[0][2]);
    assert_string_equal(bs.err[0][1], "source dept: killed by SEGV: segmentation fault");
    assert_string_equal(bs.err[0][2], bs.err[0][1]);
    assert_string_equal(row_seq("b2", a[0].id), "1");
    assert_string_equal(row_seq("b2", "started"), "2");
    assert_null(row_seq("b2", a[2].id));
    for (int i = 0; i < 3; i++) alert_free(&a[i]);
    adapter_free(ad);
}

/* Two sinks in one call, side by side: each batch in its own worker, every
 * item reported to its own batch. */
static void test_push_batch_two_sinks(void **state) {
    (void)state;
    gg_conn_conf cc1, cc2;
    char spec1[256], spec2[256], err[1024];
    gg_source_conf s1 = make_src("UTF-8", &cc1, spec1, sizeof spec1);
    gg_source_conf s2 = make_src("UTF-8", &cc2, spec2, sizeof spec2);
    s2.name = "dept2";
    adapter *ad1 = adapter_load(&s1, batch_adapter("b3"), err, sizeof err);
    assert_non_null(ad1);
    adapter *ad2 = adapter_load(&s2, batch_adapter("b4"), err, sizeof err);
    assert_non_null(ad2);
    alert a1[2], a2[3];
    push_item it1[2], it2[3];
    batch_alerts(a1, it1, (const long[]){1, 1}, 2);
    batch_alerts(a2, it2, (const long[]){1, 2, 1}, 3);
    push_batch b[2] = {{.ad = ad1, .src = &s1, .items = it1, .n = 2}, {.ad = ad2, .src = &s2, .items = it2, .n = 3}};
    batch_seen bs;
    memset(&bs, 0, sizeof bs);
    assert_int_equal(worker_push_batches(b, 2, 2, batch_outcome, &bs, err, sizeof err), 0);
    assert_int_equal(bs.calls, 5);
    assert_true(bs.ok[0][0] && bs.ok[0][1]);
    assert_true(bs.ok[1][0] && !bs.ok[1][1] && bs.ok[1][2]);
    assert_non_null(strstr(bs.err[1][1], "source dept2: push of alert "));
    assert_string_equal(row_seq("b3", a1[1].id), "2");
    assert_string_equal(row_seq("b4", a2[2].id), "3");
    assert_null(row_seq("b4", a2[1].id));
    for (int i = 0; i < 2; i++) alert_free(&a1[i]);
    for (int i = 0; i < 3; i++) alert_free(&a2[i]);
    adapter_free(ad1);
    adapter_free(ad2);
}

/* ---- pushes grouped in transactions (push_batch) -------------------------- */

/* A group of pushes is one transaction: the 2nd of 4 is refused, so the group
 * is rolled back; the 1st is pushed again (alone: a group of one), the 2nd
 * alone reports its own failure, the 3rd and 4th go as a group. The seq column
 * shows each row's push: 1st pushed by call 3 (its call 1 rolled back), 3rd
 * and 4th by calls 5 and 6. */
static void test_push_group_item_fails(void **state) {
    (void)state;
    gg_conn_conf cc;
    char spec[256], err[1024];
    gg_source_conf src = make_src("UTF-8", &cc, spec, sizeof spec);
    src.push_batch = 10;
    adapter *ad = adapter_load(&src, batch_adapter("g1"), err, sizeof err);
    assert_non_null(ad);
    alert a[4];
    push_item it[4];
    batch_alerts(a, it, (const long[]){1, 2, 1, 1}, 4);
    batch_seen bs;
    memset(&bs, 0, sizeof bs);
    assert_int_equal(worker_push_batch(ad, &src, it, 4, batch_outcome, &bs, err, sizeof err), 0);
    assert_int_equal(bs.calls, 4);
    assert_true(bs.ok[0][0] && !bs.ok[0][1] && bs.ok[0][2] && bs.ok[0][3]);
    assert_non_null(strstr(bs.err[0][1], a[1].id));
    assert_non_null(strstr(bs.err[0][1], "refused"));
    assert_string_equal(row_seq("g1", a[0].id), "3");
    assert_null(row_seq("g1", a[1].id));
    assert_string_equal(row_seq("g1", a[2].id), "5");
    assert_string_equal(row_seq("g1", a[3].id), "6");
    for (int i = 0; i < 4; i++) alert_free(&a[i]);

    /* all pushed: one group, one call each */
    batch_alerts(a, it, (const long[]){5, 6, 7}, 3);
    memset(&bs, 0, sizeof bs);
    assert_int_equal(worker_push_batch(ad, &src, it, 3, batch_outcome, &bs, err, sizeof err), 0);
    assert_true(bs.calls == 3 && bs.ok[0][0] && bs.ok[0][1] && bs.ok[0][2]);
    assert_string_equal(row_seq("g1", a[0].id), "1");
    assert_string_equal(row_seq("g1", a[2].id), "3");
    for (int i = 0; i < 3; i++) alert_free(&a[i]);
    adapter_free(ad);
}

/* Kills the worker child of this process with SIGKILL once it has used 0.3 s
 * of CPU (it is then spinning in the item with amount 3); a process of its
 * own, as start_killer. */
static pid_t start_cpu_killer(void) {
    pid_t test = getpid(), k = fork();
    if (k != 0) return k;
    long tck = sysconf(_SC_CLK_TCK);
    for (int i = 0; i < 1500; i++) {
        usleep(20000);
        pid_t kids[16];
        int nk = child_pids(test, kids, 16);
        for (int c = 0; c < nk; c++) {
            char sp[64], st[1024];
            snprintf(sp, sizeof sp, "/proc/%d/stat", (int)kids[c]);
            int sfd = open(sp, O_RDONLY);
            if (sfd < 0) continue;
            ssize_t m = read(sfd, st, sizeof st - 1);
            close(sfd);
            st[m > 0 ? m : 0] = '\0';
            char *rp = strrchr(st, ')');
            unsigned long utime = 0;
            /* after ") ": state, then fields 4..13, utime is field 14 */
            if (rp && sscanf(rp + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu", &utime) == 1 &&
                (long)utime * 10 >= tck * 3) {
                kill(kids[c], SIGKILL);
                _exit(0);
            }
        }
    }
    _exit(1);
}

/* A worker killed inside a group: nothing of the group is committed (the
 * pushed 1st alert is not in the sink) and every item fails with how the
 * worker ended, to be retried. */
static void test_push_group_worker_killed(void **state) {
    (void)state;
    gg_conn_conf cc;
    char spec[256], err[1024];
    gg_source_conf src = make_src("UTF-8", &cc, spec, sizeof spec);
    src.deadline_ms = 20000; /* the kill comes first */
    src.push_batch = 10;
    adapter *ad = adapter_load(&src, batch_adapter("g2"), err, sizeof err);
    assert_non_null(ad);
    alert a[3];
    push_item it[3];
    batch_alerts(a, it, (const long[]){1, 3, 1}, 3);
    batch_seen bs;
    memset(&bs, 0, sizeof bs);
    pid_t kp = start_cpu_killer();
    assert_true(kp > 0);
    assert_int_equal(worker_push_batch(ad, &src, it, 3, batch_outcome, &bs, err, sizeof err), 0);
    int kst = 0;
    assert_int_equal(waitpid(kp, &kst, 0), kp);
    assert_true(WIFEXITED(kst) && WEXITSTATUS(kst) == 0);
    assert_int_equal(bs.calls, 3);
    for (int i = 0; i < 3; i++) {
        assert_false(bs.ok[0][i]);
        assert_non_null(strstr(bs.err[0][i], "source dept: killed by KILL"));
    }
    assert_null(row_seq("g2", a[0].id));
    assert_null(row_seq("g2", "started"));
    for (int i = 0; i < 3; i++) alert_free(&a[i]);
    adapter_free(ad);
}

/* Inside the runtime's transaction a push may not end it itself; alone (no
 * transaction) the same statement reaches the database as before. */
static void test_push_group_refuses_tx_control(void **state) {
    (void)state;
    gg_conn_conf cc;
    char spec[256], err[1024];
    gg_source_conf src = make_src("UTF-8", &cc, spec, sizeof spec);
    const char *path = write_adapter("txctl.lua", "return { push = function(alert, conns)\n"
                                                  "  conns.db:exec('  commit', {})\n"
                                                  "end }\n");
    adapter *ad = adapter_load(&src, path, err, sizeof err);
    assert_non_null(ad);
    alert a;
    alert_init(&a, RULE_PENSION_AFTER_DEATH, "person:110105194912310021");
    assert_int_equal(adapter_push_begin(ad, err, sizeof err), 1);
    assert_int_equal(adapter_push(ad, &a, "x", err, sizeof err), -1);
    assert_non_null(strstr(err, "connection db: a push runs inside the runtime's transaction"));
    adapter_push_rollback(ad);
    assert_int_equal(adapter_push(ad, &a, "x", err, sizeof err), -1);
    assert_null(strstr(err, "runtime's transaction")); /* SQLite: no transaction is active */
    alert_free(&a);
    adapter_free(ad);
}

/* ---- the raw values' JSON (adapter/rowjson.c) ------------------------------- */

/* jansson's text for the object of the row, built as adapter_raw_json did. */
static char *jansson_row(int n, const char *const *names, const char *const *vals) {
    json_t *o = json_object();
    for (int i = 0; i < n; i++) json_object_set_new(o, names[i], vals[i] ? json_string(vals[i]) : json_null());
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

static void assert_row_json_same(int n, const char *const *names, const char *const *vals) {
    char *want = jansson_row(n, names, vals), *got = row_json_dumps(n, names, vals);
    assert_non_null(want);
    assert_non_null(got);
    assert_string_equal(got, want);
    /* the same with the result's keys written once, where they can be */
    row_json_keys *k = row_json_keys_new(n, names);
    if (k) {
        char *again = row_json_dumps_keys(k, vals);
        assert_non_null(again);
        assert_string_equal(again, want);
        free(again);
        row_json_keys_free(k);
    }
    free(want);
    free(got);
}

static void test_row_json_matches_jansson(void **state) {
    (void)state;
    /* every byte 0x01..0x7F alone, and inside text, as a value and as a name */
    for (int c = 1; c < 0x80; c++) {
        char one[2] = {(char)c, 0}, mid[8] = {'a', (char)c, 'b', 0};
        const char *names[] = {"k", one, mid};
        const char *vals[] = {one, mid, NULL};
        assert_row_json_same(3, names, vals);
    }
    static const char *const hostile[] = {
        "", "张三", "\"quoted\" \\back\\slash/", "a/b</script>", "\x7f\x1f\x01\x0b\x0e",
        "tab\there\r\nline\fform\bback", "\xe2\x80\xa8\xe2\x80\xa9 line separators",
        "\xf0\x9f\x98\x80 astral", "\xef\xbf\xbf", "\xc2\x80\xdf\xbf",
        "\xc3\x28",          /* invalid: bad continuation */
        "\xed\xa0\x80",      /* invalid: a surrogate */
        "\xc0\xaf",          /* invalid: overlong */
        "\xf4\x90\x80\x80",  /* invalid: above U+10FFFF */
        "\xe5\xbc\xa0",      /* valid 张 */
        "\xe5\xbc",          /* invalid: cut short */
        NULL,
    };
    for (int i = 0; hostile[i]; i++)
        for (int j = 0; hostile[j]; j++) {
            const char *names[] = {"xm", hostile[i], "csrq", hostile[j]};
            const char *vals[] = {hostile[j], "v", NULL, hostile[i]};
            assert_row_json_same(4, names, vals);
            assert_row_json_same(2, names + 2, vals + 2);
        }
    /* keys written once for plain names, not for a repeated or invalid one
     * (those rows go through jansson) */
    const char *plain[] = {"jmbh", "sfzhm", "xm"}, *rep[] = {"a", "b", "a"}, *bad[] = {"a", "\xc3\x28"};
    row_json_keys *pk = row_json_keys_new(3, plain);
    assert_non_null(pk);
    const char *pv[] = {"JM1", NULL, "\xe5\xbc\xa0\"x"};
    char *pj = row_json_dumps_keys(pk, pv);
    assert_string_equal(pj, "{\"jmbh\":\"JM1\",\"sfzhm\":null,\"xm\":\"\xe5\xbc\xa0\\\"x\"}");
    free(pj);
    row_json_keys_free(pk);
    assert_null(row_json_keys_new(3, rep));
    assert_null(row_json_keys_new(2, bad));
    assert_null(row_json_keys_new(0, plain));
    /* a repeated column (first place, last value), all NULL, no columns */
    const char *dn[] = {"a", "b", "a", "c", "b"}, *dv[] = {"1", "2", "3", NULL, "\"5\""};
    assert_row_json_same(5, dn, dv);
    const char *nv[] = {NULL, NULL, NULL, NULL, NULL};
    assert_row_json_same(5, dn, nv);
    assert_row_json_same(4, dn + 1, nv);
    assert_row_json_same(0, dn, dv);
    /* long values (the buffer is sized by measuring) */
    char big[5000];
    for (size_t i = 0; i < sizeof big - 1; i++) big[i] = (char)("a\"\\\x01/\n\xe5\xbc\xa0"[i % 9]);
    big[sizeof big - 1] = 0;
    /* a cut UTF-8 sequence at the end is invalid: jansson drops it, so does the writer */
    const char *bn[] = {"big", "x"}, *bv[] = {big, "y"};
    assert_row_json_same(2, bn, bv);
    big[sizeof big - 2] = 'z';
    assert_row_json_same(2, bn, bv);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_row_json_matches_jansson),
        cmocka_unit_test(test_incremental_watermark),
        cmocka_unit_test(test_incremental_declaration_errors),
        cmocka_unit_test(test_declarative_mapping_and_rejects),
        cmocka_unit_test(test_gbk_boundary),
        cmocka_unit_test(test_row_function),
        cmocka_unit_test(test_custom_pull_and_runtime_errors),
        cmocka_unit_test(test_declaration_errors),
        cmocka_unit_test(test_push),
        cmocka_unit_test(test_push_task_fields),
        cmocka_unit_test(test_missing_column_and_to_fen),
        cmocka_unit_test(test_lenient_date),
        cmocka_unit_test(test_person_fields_and_case_payments),
        cmocka_unit_test(test_error_paths_free_c_memory),
        cmocka_unit_test(test_row_arena_counts_against_cap),
        cmocka_unit_test(test_adapter_log_is_escaped_and_masked),
        cmocka_unit_test(test_input_limits),
        cmocka_unit_test(test_push_batch_item_fails),
        cmocka_unit_test(test_push_batch_worker_killed),
        cmocka_unit_test(test_push_batch_two_sinks),
        cmocka_unit_test(test_push_group_item_fails),
        cmocka_unit_test(test_push_group_worker_killed),
        cmocka_unit_test(test_push_group_refuses_tx_control),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
