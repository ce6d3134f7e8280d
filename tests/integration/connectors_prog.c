/* connectors_prog.c - integration checks for the connectors against real
 * servers started by tests/integration/connectors.sh: a PostgreSQL cluster
 * (libpq and the psqlODBC driver), a SQLite file (SQLite3 ODBC driver) and the
 * HTTP fixture. Everything it needs comes from the environment:
 *
 *   GG_PG_CONNINFO     libpq conninfo of the test database
 *   GG_PG_RESTART_CMD  shell command restarting the cluster (same port)
 *   GG_PG_STOP_CMD     shell command stopping it
 *   GG_PG_START_BG_CMD shell command starting it again after a delay, in the background
 *   GG_ODBC_SQLITE     ODBC connection string of the SQLite file
 *   GG_ODBC_PG         ODBC connection string of the PostgreSQL database
 *   GG_HTTP_BASE       base URL of the fixture; GG_HTTP_TOKEN its bearer token
 *
 * Both databases hold table people(id, name, note, big) with these rows:
 *   1 '张三'  'first' repeat('长', 100000)
 *   2 '李四'  NULL    'x'
 *   3 '阿卜杜·热合曼' 'third' ''
 *   4 NULL    NULL    NULL
 * and the SQLite one has a column gbk holding the GBK bytes of the name
 * (inserted as CAST(X'..' AS TEXT)).
 *
 * Exits nonzero at the first failed check, naming it; prints "N passed, 0
 * failed" at the end. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "conn/conn.h"

static int g_passed;

#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "FAIL %s:%d: %s\n  ", __FILE__, __LINE__, #cond);   \
            fprintf(stderr, __VA_ARGS__);                                       \
            fputc('\n', stderr);                                                \
            printf("%d passed, 1 failed\n", g_passed);                          \
            exit(1);                                                            \
        }                                                                       \
        g_passed++;                                                             \
    } while (0)

static const char *need_env(const char *name) {
    const char *v = getenv(name);
    if (!v || !*v) {
        fprintf(stderr, "connectors_prog: environment variable %s is not set\n", name);
        exit(2);
    }
    return v;
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int closed_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        perror("connectors_prog: closed_port");
        exit(2);
    }
    close(fd);
    return ntohs(a.sin_port);
}

/* ---- a row collector --------------------------------------------------------- */

#define MAX_ROWS 16
#define MAX_COLS 16

typedef struct rows {
    int n;                 /* rows seen (also beyond MAX_ROWS) */
    int ncols;
    char *names[MAX_COLS];
    char *v[MAX_ROWS][MAX_COLS]; /* NULL = SQL NULL */
    int stop_after;        /* return stop_value once n reaches it (0 = never) */
    int stop_value;
    conn *killer;          /* when set: terminate backend `victim_pid` after the first row */
    const char *victim_pid;
    int with_lens;         /* rows that came with their values' lengths */
    int bad_lens;          /* of those, rows where a length is not the value's strlen (0 for NULL) */
} rows;

static int collect(void *ud, int ncols, const char *const *names, const char *const *values, const size_t *lens) {
    rows *r = ud;
    if (r->n == 0) {
        r->ncols = ncols < MAX_COLS ? ncols : MAX_COLS;
        for (int i = 0; i < r->ncols; i++) r->names[i] = strdup(names[i]);
    }
    if (r->n < MAX_ROWS)
        for (int i = 0; i < r->ncols; i++) r->v[r->n][i] = values[i] ? strdup(values[i]) : NULL;
    if (lens) {
        r->with_lens++;
        for (int i = 0; i < ncols; i++)
            if (lens[i] != (values[i] ? strlen(values[i]) : 0)) {
                r->bad_lens++;
                break;
            }
    }
    r->n++;
    if (r->killer && r->n == 1) {
        char err[512];
        const char *p[] = {r->victim_pid};
        long aff = 0;
        if (conn_exec(r->killer, "select pg_terminate_backend($1::int)", 1, p, &aff, err,
                      sizeof err) != 0)
            fprintf(stderr, "terminate failed: %s\n", err);
        sleep(1); /* let the backend go away while rows are still in flight */
    }
    if (r->stop_after && r->n >= r->stop_after) return r->stop_value;
    return 0;
}

/* Counts rows whose one column is 1, 2, 3, ... */
typedef struct seq {
    int n, out_of_order;
} seq;

static int seq_row(void *ud, int ncols, const char *const *names, const char *const *values, const size_t *lens) {
    (void)names, (void)lens;
    seq *s = ud;
    s->n++;
    if (ncols != 1 || !values[0] || atoi(values[0]) != s->n) s->out_of_order = 1;
    return 0;
}

/* A callback that runs a query on the connection it is reading from. */
typedef struct nested {
    conn *c;
    int n, rc;
    char err[1024];
} nested;

static int ignore_row(void *ud, int ncols, const char *const *names, const char *const *values, const size_t *lens) {
    (void)ud, (void)ncols, (void)names, (void)values, (void)lens;
    return 0;
}

static int nested_row(void *ud, int ncols, const char *const *names, const char *const *values, const size_t *lens) {
    (void)ncols, (void)names, (void)values, (void)lens;
    nested *s = ud;
    if (s->n++ == 0) s->rc = conn_query(s->c, "select 1", 0, NULL, ignore_row, NULL, s->err, sizeof s->err);
    return 0;
}

static void rows_free(rows *r) {
    for (int i = 0; i < MAX_COLS; i++) free(r->names[i]);
    for (int j = 0; j < MAX_ROWS; j++)
        for (int i = 0; i < MAX_COLS; i++) free(r->v[j][i]);
    memset(r, 0, sizeof *r);
}

static int all_chars_are(const char *s, const char *ch, int count) {
    size_t cl = strlen(ch);
    if (strlen(s) != cl * (size_t)count) return 0;
    for (int i = 0; i < count; i++)
        if (memcmp(s + cl * (size_t)i, ch, cl) != 0) return 0;
    return 1;
}

static int streq(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }
static int has_prefix(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

/* The people table, as any SQL connector must deliver it (columns id, name, note, big). */
static void check_people(const char *what, rows *r) {
    CHECK(r->n == 4, "%s: expected 4 rows, got %d", what, r->n);
    CHECK(r->ncols >= 4, "%s: expected >= 4 columns, got %d", what, r->ncols);
    CHECK(streq(r->names[0], "id") && streq(r->names[1], "name") && streq(r->names[2], "note") &&
              streq(r->names[3], "big"),
          "%s: column names %s,%s,%s,%s", what, r->names[0], r->names[1], r->names[2], r->names[3]);
    CHECK(streq(r->v[0][0], "1") && streq(r->v[0][1], "张三") && streq(r->v[0][2], "first"),
          "%s: row 1 is %s|%s|%s", what, r->v[0][0], r->v[0][1], r->v[0][2]);
    CHECK(r->v[0][3] && all_chars_are(r->v[0][3], "长", 100000),
          "%s: the 100000-character value arrived with %zu bytes", what,
          r->v[0][3] ? strlen(r->v[0][3]) : 0);
    CHECK(streq(r->v[1][1], "李四") && r->v[1][2] == NULL && streq(r->v[1][3], "x"),
          "%s: row 2 (NULL note) is %s|%s|%s", what, r->v[1][1],
          r->v[1][2] ? r->v[1][2] : "(null)", r->v[1][3]);
    CHECK(streq(r->v[2][1], "阿卜杜·热合曼") && streq(r->v[2][3], ""),
          "%s: row 3 (middle dot, empty string) is %s|%s", what, r->v[2][1], r->v[2][3]);
    CHECK(streq(r->v[3][0], "4") && !r->v[3][1] && !r->v[3][2] && !r->v[3][3],
          "%s: row 4 should be all NULL but id", what);
}

/* ---- PostgreSQL (libpq) -------------------------------------------------------- */

/* Two reads of the same rows: same count, column names, NULLs and bytes. */
static int same_rows(const rows *a, const rows *b, char *why, size_t whysz) {
    if (a->n != b->n || a->ncols != b->ncols) {
        snprintf(why, whysz, "%d rows of %d columns against %d of %d", a->n, a->ncols, b->n, b->ncols);
        return 0;
    }
    for (int i = 0; i < a->ncols; i++)
        if (!streq(a->names[i], b->names[i])) {
            snprintf(why, whysz, "column %d named %s against %s", i, a->names[i], b->names[i]);
            return 0;
        }
    for (int j = 0; j < a->n && j < MAX_ROWS; j++)
        for (int i = 0; i < a->ncols; i++) {
            const char *x = a->v[j][i], *y = b->v[j][i];
            if ((!x != !y) || (x && strcmp(x, y) != 0)) {
                snprintf(why, whysz, "row %d column %s: [%s] against [%s]", j, a->names[i], x ? x : "(null)",
                         y ? y : "(null)");
                return 0;
            }
        }
    return 1;
}

/* How the server ran the statement that asks: the first word of its own
 * text in pg_stat_activity ("COPY", or "FETCH" for a cursor). */
#define PG_HOW_SQL "select split_part(query, ' ', 1) as how from pg_stat_activity where pid = pg_backend_pid()"

/* Queries without parameters are read through COPY (<query>) TO STDOUT:
 * the same rows, names and bytes as through the cursor (a parameter sends
 * the same query there); what COPY refuses goes to the cursor. */
static void test_pg_copy(conn *c, const char *spec) {
    char err[1024], why[512];
    rows r = {0}, q = {0};
    const char *one[] = {"1"};

    /* The way each query ran, as the server saw it. */
    int rc = conn_query(c, PG_HOW_SQL, 0, NULL, collect, &r, err, sizeof err);
    CHECK(rc == 0 && r.n == 1 && streq(r.v[0][0], "COPY"), "pg a query without parameters runs as COPY: rc %d, [%s] %s",
          rc, r.n ? r.v[0][0] : "(no row)", err);
    rows_free(&r);
    rc = conn_query(c, PG_HOW_SQL " and $1::int = 1", 1, one, collect, &r, err, sizeof err);
    CHECK(rc == 0 && r.n == 1 && streq(r.v[0][0], "FETCH"), "pg a query with parameters runs through the cursor: rc %d, [%s] %s",
          rc, r.n ? r.v[0][0] : "(no row)", err);
    rows_free(&r);
    rc = conn_query(c, "with w as (" PG_HOW_SQL ") select how from w -- a trailing comment", 0, NULL, collect, &r, err,
                    sizeof err);
    CHECK(rc == 0 && r.n == 1 && streq(r.v[0][0], "COPY"),
          "pg a WITH query with a trailing comment runs as COPY: rc %d, [%s] %s", rc, r.n ? r.v[0][0] : "(no row)", err);
    rows_free(&r);
    rc = conn_query(c, PG_HOW_SQL " ;\n ", 0, NULL, collect, &r, err, sizeof err);
    CHECK(rc == 0 && r.n == 1 && streq(r.v[0][0], "COPY"), "pg a query with a trailing semicolon runs as COPY: rc %d, [%s] %s",
          rc, r.n ? r.v[0][0] : "(no row)", err);
    rows_free(&r);
    /* a semicolon before a comment ends the query inside COPY ( ): COPY
     * refuses it, the cursor reads it */
    rc = conn_query(c, PG_HOW_SQL "; -- comment", 0, NULL, collect, &r, err, sizeof err);
    CHECK(rc == 0 && r.n == 1 && streq(r.v[0][0], "FETCH"), "pg a semicolon then a comment: rc %d, [%s] %s", rc,
          r.n ? r.v[0][0] : "(no row)", err);
    rows_free(&r);

    /* Hostile text and typed values, both ways, byte for byte. */
    long aff = 0;
    rc = conn_exec(c,
                   "create temp table t_copy(id int, t text, u text, n numeric, d date, ts timestamp, tz timestamptz, "
                   "f float8, b bytea, a text[], j jsonb, bo boolean, iv interval)",
                   0, NULL, &aff, err, sizeof err);
    CHECK(rc == 0, "pg create t_copy: %s", err);
    rc = conn_exec(c,
                   "insert into t_copy values "
                   "(1, E'tab\\there\\nline\\rcr\\\\back\\bbs\\fff' || chr(11) || 'vt', E'\\t', 12345.6700, '2024-03-12', "
                   "'2024-03-12 08:09:10.123456', '2024-03-12 08:09:10+08', 0.1, E'\\\\x00ff5c0a09', "
                   "ARRAY[E'a\"b', E'c\\\\d', NULL, E'e\\tf'], '{\"k\": \"v\\tw\\\\x\"}', true, '1 day 02:03:04'), "
                   "(2, '张三 养老金发放明细 阿卜杜·热合曼', '', -0.5, '1970-01-01', '2000-02-29 00:00:00', "
                   "'1999-12-31 23:59:59.5+00', 1e300, '', '{}', '[]', false, '-3 mons'), "
                   "(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL), "
                   "(4, E'\\\\N', 'N', 0, 'infinity', '-infinity', 'infinity', 'NaN', E'\\\\x5c4e', ARRAY['']::text[], "
                   "'null', NULL, '0'), "
                   "(5, E'\\\\101 \\\\x41 \\\\', E'\\\\', 1e-20, '0044-03-15 BC', '2024-01-01', '2024-01-01', "
                   "-0, E'\\\\x', NULL, '\"\"', true, NULL), "
                   "(6, E'\\n', E'\\t\\t', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
                   0, NULL, &aff, err, sizeof err);
    CHECK(rc == 0 && aff == 6, "pg fill t_copy: rc %d %s", rc, err);
#define PG_COPY_COLS "select id, t, u, n, d, ts, tz, f, b, a, j, bo, iv from t_copy"
    rc = conn_query(c, PG_COPY_COLS " order by id", 0, NULL, collect, &r, err, sizeof err);
    CHECK(rc == 0 && r.n == 6 && r.ncols == 13, "pg t_copy through COPY: rc %d, %d rows %s", rc, r.n, err);
    rc = conn_query(c, PG_COPY_COLS " where id >= $1 order by id", 1, one, collect, &q, err, sizeof err);
    CHECK(rc == 0 && q.n == 6, "pg t_copy through the cursor: rc %d, %d rows %s", rc, q.n, err);
    CHECK(same_rows(&r, &q, why, sizeof why), "pg COPY and cursor deliver the same rows: %s", why);
    CHECK(same_rows(&q, &r, why, sizeof why), "pg cursor and COPY deliver the same rows: %s", why);
    CHECK(r.with_lens == 6 && r.bad_lens == 0 && q.with_lens == 6 && q.bad_lens == 0,
          "pg COPY and cursor give every value's length: COPY %d rows with lengths, %d wrong; cursor %d, %d wrong",
          r.with_lens, r.bad_lens, q.with_lens, q.bad_lens);
    /* lines without a backslash (every row above has one: a \N, an escape or
     * bytea's \x) take the plain split: empty values, CJK, one column */
    {
        rows pr = {0}, pq = {0};
        const char *plain_sql = "select g, repeat('张', g % 3) as t, '' as e, g::text || 'x' as s"
                                " from generate_series(1, 12) g";
        rc = conn_query(c, plain_sql, 0, NULL, collect, &pr, err, sizeof err);
        CHECK(rc == 0 && pr.n == 12 && pr.ncols == 4, "pg plain COPY lines: rc %d, %d rows %s", rc, pr.n, err);
        rc = conn_query(c, "select * from (select g, repeat('张', g % 3) as t, '' as e, g::text || 'x' as s"
                           " from generate_series(1, 12) g) q where $1::int = 1",
                        1, one, collect, &pq, err, sizeof err);
        CHECK(rc == 0 && pq.n == 12, "pg plain rows through the cursor: rc %d, %d rows %s", rc, pq.n, err);
        CHECK(same_rows(&pr, &pq, why, sizeof why), "pg plain COPY lines and cursor rows agree: %s", why);
        CHECK(pr.with_lens == 12 && pr.bad_lens == 0, "pg plain COPY lines' lengths: %d rows, %d wrong", pr.with_lens,
              pr.bad_lens);
        CHECK(streq(pr.v[4][1], "张张") && streq(pr.v[4][2], "") && streq(pr.v[4][3], "5x"),
              "pg plain COPY values: [%s] [%s] [%s]", pr.v[4][1], pr.v[4][2], pr.v[4][3]);
        rows one_col = {0};
        rc = conn_query(c, "select ''::text as e from generate_series(1, 3)", 0, NULL, collect, &one_col, err,
                        sizeof err);
        CHECK(rc == 0 && one_col.n == 3 && one_col.bad_lens == 0 && streq(one_col.v[2][0], ""),
              "pg plain COPY of one empty column: rc %d, %d rows %s", rc, one_col.n, err);
        rows_free(&pr);
        rows_free(&pq);
        rows_free(&one_col);
    }
    CHECK(streq(r.v[0][1], "tab\there\nline\rcr\\back\bbs\fff\vvt") && streq(r.v[0][2], "\t"),
          "pg COPY escapes undone: [%s] [%s]", r.v[0][1], r.v[0][2]);
    CHECK(streq(r.v[0][3], "12345.6700") && streq(r.v[0][4], "2024-03-12") &&
              streq(r.v[0][5], "2024-03-12 08:09:10.123456") && streq(r.v[0][8], "\\x00ff5c0a09") &&
              streq(r.v[0][9], "{\"a\\\"b\",\"c\\\\d\",NULL,\"e\tf\"}"),
          "pg COPY typed values: %s %s %s %s %s", r.v[0][3], r.v[0][4], r.v[0][5], r.v[0][8], r.v[0][9]);
    CHECK(streq(r.v[1][1], "张三 养老金发放明细 阿卜杜·热合曼") && streq(r.v[1][2], "") && streq(r.v[1][8], "\\x"),
          "pg COPY CJK and empty strings: [%s] [%s] [%s]", r.v[1][1], r.v[1][2], r.v[1][8]);
    int nulls = 0;
    for (int i = 1; i < 13; i++) nulls += r.v[2][i] == NULL;
    CHECK(streq(r.v[2][0], "3") && nulls == 12, "pg COPY NULLs: %d of 12", nulls);
    CHECK(streq(r.v[3][1], "\\N") && streq(r.v[3][2], "N") && r.v[3][11] == NULL && streq(r.v[3][9], "{\"\"}"),
          "pg COPY a backslash-N text is not NULL: [%s] [%s]", r.v[3][1] ? r.v[3][1] : "(null)", r.v[3][2]);
    CHECK(streq(r.v[4][1], "\\101 \\x41 \\") && streq(r.v[4][2], "\\"), "pg COPY backslashes kept: [%s] [%s]", r.v[4][1],
          r.v[4][2]);
    CHECK(streq(r.v[5][1], "\n") && streq(r.v[5][2], "\t\t") && !r.v[5][3], "pg COPY lone newline and tabs");
    rows_free(&r);
    rows_free(&q);

    /* Many rows, every one once and in order. */
    seq s = {0};
    rc = conn_query(c, "select g::text as v from generate_series(1, 2500) g order by g", 0, NULL, seq_row, &s, err,
                    sizeof err);
    CHECK(rc == 0 && s.n == 2500 && !s.out_of_order, "pg 2500 rows through COPY: rc %d, %d rows%s %s", rc, s.n,
          s.out_of_order ? " out of order" : "", err);

    /* A stop: the COPY is cancelled and drained, the same session goes on. */
    rc = conn_query(c, "select pg_backend_pid()::text", 0, NULL, collect, &r, err, sizeof err);
    CHECK(rc == 0 && r.n == 1, "pg backend pid: %s", err);
    char pid[32];
    snprintf(pid, sizeof pid, "%s", r.v[0][0]);
    rows_free(&r);
    r.stop_after = 2;
    r.stop_value = 9;
    rc = conn_query(c, "select g, repeat('x', 100) from generate_series(1, 3000000) g", 0, NULL, collect, &r, err,
                    sizeof err);
    CHECK(rc == 9 && r.n == 2, "pg COPY early stop: rc %d after %d rows", rc, r.n);
    rows_free(&r);
    rc = conn_query(c, "select pg_backend_pid()::text, 'after copy stop'", 0, NULL, collect, &r, err, sizeof err);
    CHECK(rc == 0 && r.n == 1 && streq(r.v[0][0], pid) && streq(r.v[0][1], "after copy stop"),
          "pg the same session is usable after a COPY stop: rc %d, pid %s (was %s) %s", rc, r.n ? r.v[0][0] : "-", pid,
          err);
    rows_free(&r);

    /* An error before the first row (planning) and after rows. */
    rc = conn_query(c, "select 1/(g - 1500) from generate_series(1, 3000) g", 0, NULL, collect, &r, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "query failed: ERROR:  division by zero") && r.n < 1500,
          "pg COPY error after rows: rc %d %s", rc, err);
    rows_free(&r);
    rc = conn_query(c, "select no_such_column from people", 0, NULL, collect, &r, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "query failed: ERROR:  column \"no_such_column\" does not exist") && r.n == 0,
          "pg COPY refused query keeps its error: rc %d %s", rc, err);
    rows_free(&r);

    /* FOR UPDATE: PostgreSQL 15 takes it in COPY (the rows are locked for
     * the COPY's own transaction, as they were for the cursor's). */
    rc = conn_query(c,
                    "select p.id, split_part(a.query, ' ', 1) as how from people p, pg_stat_activity a "
                    "where a.pid = pg_backend_pid() and p.id <= 2 order by p.id for update of p",
                    0, NULL, collect, &r, err, sizeof err);
    CHECK(rc == 0 && r.n == 2 && streq(r.v[0][0], "1") && streq(r.v[1][0], "2") && streq(r.v[0][1], "COPY"),
          "pg FOR UPDATE: rc %d, %d rows, [%s] %s", rc, r.n, r.n ? r.v[0][1] : "-", err);
    rows_free(&r);
    rc = conn_query(c, PG_HOW_SQL, 0, NULL, collect, &r, err, sizeof err);
    CHECK(rc == 0 && r.n == 1 && streq(r.v[0][0], "COPY"), "pg COPY again after a refused one: %s", err);
    rows_free(&r);

    /* Timeouts, the cursor's messages: the server's statement_timeout, and
     * (the session's statement_timeout off) the client's silence timer. */
    conn_opts ot = {.timeout_ms = 500, .retries = 1, .backoff_base_ms = 10};
    conn *ct = conn_open("hr", "slow", spec, &ot, err, sizeof err);
    CHECK(ct != NULL, "pg open (copy timeout): %s", err);
    int64_t t0 = now_ms();
    rc = conn_query(ct, "select 1 as a, pg_sleep(10) as b", 0, NULL, collect, &r, err, sizeof err);
    int64_t took = now_ms() - t0;
    CHECK(rc == -1 && strstr(err, "source hr, connection slow: query failed: timed out: ") && strstr(err, "500 ms") &&
              took < 3000,
          "pg COPY statement_timeout: rc %d after %lld ms: %s", rc, (long long)took, err);
    rows_free(&r);
    rc = conn_exec(ct, "set statement_timeout = 0", 0, NULL, &aff, err, sizeof err);
    CHECK(rc == 0, "pg statement_timeout off: %s", err);
    t0 = now_ms();
    rc = conn_query(ct, "select g, pg_sleep(case when g = 3 then 10 else 0 end) from generate_series(1, 5) g", 0, NULL,
                    collect, &r, err, sizeof err);
    took = now_ms() - t0;
    CHECK(rc == -1 &&
              strstr(err, "query failed: timed out: no answer from the server within 500 ms (statement cancelled)") &&
              took >= 450 && took < 3000,
          "pg COPY silence timer: rc %d after %lld ms, %d rows: %s", rc, (long long)took, r.n, err);
    rows_free(&r);
    rc = conn_query(ct, "select 'after timeout'", 0, NULL, collect, &r, err, sizeof err);
    CHECK(rc == 0 && r.n == 1 && streq(r.v[0][0], "after timeout"), "pg usable after a COPY timeout: %s", err);
    rows_free(&r);
    const char *ten[] = {"10"};
    t0 = now_ms();
    rc = conn_query(ct, "select pg_sleep($1::float8)", 1, ten, collect, &r, err, sizeof err);
    took = now_ms() - t0;
    CHECK(rc == -1 &&
              strstr(err, "query failed: timed out: no answer from the server within 500 ms (statement cancelled)") &&
              took < 3000,
          "pg cursor silence timer: rc %d after %lld ms: %s", rc, (long long)took, err);
    rows_free(&r);
    conn_close(ct);
}

static void test_pg(void) {
    const char *ci = need_env("GG_PG_CONNINFO");
    char spec[1024], err[1024];
    snprintf(spec, sizeof spec, "pg:%s", ci);
    conn_opts o = {.timeout_ms = 5000, .retries = 3, .backoff_base_ms = 50, .backoff_max_ms = 500};
    conn *c = conn_open("hr", "db", spec, &o, err, sizeof err);
    CHECK(c != NULL, "pg open: %s", err);
    CHECK(conn_get_type(c) == CONN_PG, "pg type");

    rows r = {0};
    const char *p1[] = {"1"};
    int rc = conn_query(c, "select id, name, note, big from people where id >= $1 order by id", 1,
                        p1, collect, &r, err, sizeof err);
    CHECK(rc == 0, "pg query: rc %d %s", rc, err);
    check_people("pg", &r);
    rows_free(&r);

    /* A NULL parameter is SQL NULL; text parameters keep their bytes. */
    const char *pn[] = {NULL, "阿卜杜·热合曼"};
    rc = conn_query(c, "select $1::text is null as n, (select id from people where name = $2) as id",
                    2, pn, collect, &r, err, sizeof err);
    CHECK(rc == 0 && r.n == 1 && streq(r.v[0][0], "t") && streq(r.v[0][1], "3"),
          "pg NULL/UTF-8 params: rc %d n %d %s", rc, r.n, err);
    rows_free(&r);

    /* Early stop by the callback: its value comes back, the rest is dropped,
     * and the connection is usable right after. */
    r.stop_after = 3;
    r.stop_value = 42;
    rc = conn_query(c, "select g from generate_series(1, 2000000) g", 0, NULL, collect, &r, err,
                    sizeof err);
    CHECK(rc == 42 && r.n == 3, "pg early stop: rc %d after %d rows", rc, r.n);
    rows_free(&r);
    rc = conn_query(c, "select 'after stop'", 0, NULL, collect, &r, err, sizeof err);
    CHECK(rc == 0 && r.n == 1 && streq(r.v[0][0], "after stop"), "pg after early stop: %s", err);
    rows_free(&r);

    /* exec: affected rows. */
    long aff = -1;
    rc = conn_exec(c, "create temp table t_exec(id int, v text)", 0, NULL, &aff, err, sizeof err);
    CHECK(rc == 0 && aff == 0, "pg exec create: rc %d aff %ld %s", rc, aff, err);
    rc = conn_exec(c, "insert into t_exec select g, 'v' || g from generate_series(1, 5) g", 0, NULL,
                   &aff, err, sizeof err);
    CHECK(rc == 0 && aff == 5, "pg exec insert: rc %d aff %ld %s", rc, aff, err);
    const char *pu[] = {"changed", "3"};
    rc = conn_exec(c, "update t_exec set v = $1 where id <= $2", 2, pu, &aff, err, sizeof err);
    CHECK(rc == 0 && aff == 3, "pg exec update: rc %d aff %ld %s", rc, aff, err);
    rc = conn_exec(c, "delete from t_exec where id > 100", 0, NULL, &aff, err, sizeof err);
    CHECK(rc == 0 && aff == 0, "pg exec delete none: rc %d aff %ld", rc, aff);

    /* Queries with parameters are read through a cursor, PG_FETCH_ROWS
     * (1000) rows at a time: every row once and in order across batch
     * boundaries; a stop inside a later batch; an error in a later batch;
     * a SELECT that COPY and the cursor refuse (SELECT INTO) runs as
     * before; a query inside the caller's own transaction leaves it open. */
    static const char *const counts[] = {"0", "999", "1000", "1001", "2500"};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        const char *pc[] = {counts[i]};
        seq s = {0};
        rc = conn_query(c, "select g::text as v from generate_series(1, $1::int) g order by g", 1, pc, seq_row, &s, err,
                        sizeof err);
        CHECK(rc == 0 && s.n == atoi(counts[i]) && !s.out_of_order, "pg %s rows through the cursor: rc %d, %d rows%s %s",
              counts[i], rc, s.n, s.out_of_order ? " out of order" : "", err);
    }
    r.stop_after = 1500;
    r.stop_value = 7;
    const char *p5000[] = {"5000"}, *p3000[] = {"3000"};
    rc = conn_query(c, "select g from generate_series(1, $1::int) g", 1, p5000, collect, &r, err, sizeof err);
    CHECK(rc == 7 && r.n == 1500, "pg stop in a later batch: rc %d after %d rows", rc, r.n);
    rows_free(&r);
    rc = conn_query(c, "select 1/(g - 1500) from generate_series(1, $1::int) g", 1, p3000, collect, &r, err,
                    sizeof err);
    CHECK(rc == -1 && strstr(err, "division by zero") && r.n < 1500, "pg error in a later batch: rc %d %s", rc,
          err);
    rows_free(&r);
    rc = conn_query(c, "select 'after error'", 0, NULL, collect, &r, err, sizeof err);
    CHECK(rc == 0 && r.n == 1 && streq(r.v[0][0], "after error"), "pg after an error in a batch: %s", err);
    rows_free(&r);
    /* The cursor's query is planned as the plain query is, for all its rows
     * (cursor_tuple_fraction 1, not the default 0.1 that favours fast-start
     * plans), and only inside the cursor's own transaction. */
    const char *pf[] = {"cursor_tuple_fraction"};
    rc = conn_query(c, "select current_setting($1)", 1, pf, collect, &r, err, sizeof err);
    CHECK(rc == 0 && r.n == 1 && streq(r.v[0][0], "1"), "pg cursor planned for all its rows: rc %d, %s %s", rc,
          r.n ? r.v[0][0] : "(no row)", err);
    rows_free(&r);
    rc = conn_query(c, "show cursor_tuple_fraction", 0, NULL, collect, &r, err, sizeof err);
    CHECK(rc == 0 && r.n == 1 && streq(r.v[0][0], "0.1"), "pg the session keeps its cursor_tuple_fraction: rc %d, %s %s",
          rc, r.n ? r.v[0][0] : "(no row)", err);
    rows_free(&r);
    rc = conn_query(c, "select 5 as x into temp t_into", 0, NULL, collect, &r, err, sizeof err);
    CHECK(rc == 0 && r.n == 0, "pg select into: rc %d %s", rc, err);
    rc = conn_query(c, "select x from t_into", 0, NULL, collect, &r, err, sizeof err);
    CHECK(rc == 0 && r.n == 1 && streq(r.v[0][0], "5"), "pg select into made its table: rc %d %s", rc, err);
    rows_free(&r);
    nested ns = {.c = c};
    rc = conn_query(c, "select g from generate_series(1, 1500) g", 0, NULL, nested_row, &ns, err, sizeof err);
    CHECK(rc == 0 && ns.n == 1500 && ns.rc == -1 && strstr(ns.err, "another command is already in progress"),
          "pg a query from inside the callback fails, the outer one goes on: rc %d, %d rows, inner rc %d %s", rc, ns.n,
          ns.rc, ns.err);
    rc = conn_exec(c, "begin", 0, NULL, &aff, err, sizeof err);
    CHECK(rc == 0, "pg begin: %s", err);
    rc = conn_exec(c, "create temp table t_tx as select 1 as y", 0, NULL, &aff, err, sizeof err);
    CHECK(rc == 0, "pg create in a transaction: %s", err);
    rc = conn_query(c, "select y from t_tx", 0, NULL, collect, &r, err, sizeof err);
    CHECK(rc == 0 && r.n == 1, "pg query in the caller's transaction: rc %d %s", rc, err);
    rows_free(&r);
    rc = conn_exec(c, "rollback", 0, NULL, &aff, err, sizeof err);
    CHECK(rc == 0, "pg rollback: %s", err);
    rc = conn_query(c, "select count(*) from pg_tables where tablename = 't_tx'", 0, NULL, collect, &r, err,
                    sizeof err);
    CHECK(rc == 0 && r.n == 1 && streq(r.v[0][0], "0"), "pg the caller's transaction was rolled back: %s", err);
    rows_free(&r);

    test_pg_copy(c, spec);

    /* Syntax error: message names source and connection and quotes the server. */
    rc = conn_query(c, "selec id from people", 0, NULL, collect, &r, err, sizeof err);
    CHECK(rc == -1, "pg syntax error returns -1");
    CHECK(has_prefix(err, "source hr, connection db: query failed: ERROR:  syntax error at or near \"selec\""),
          "pg syntax error message: %s", err);
    CHECK(!strchr(err, '\n'), "pg error is one line: %s", err);
    rc = conn_exec(c, "insert into no_such_table values (1)", 0, NULL, &aff, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "source hr, connection db: exec failed: ERROR:") &&
              strstr(err, "no_such_table"),
          "pg exec error: %s", err);

    /* Timeout: no answer within timeout_ms cancels the statement; the
     * connection stays usable. */
    conn_opts ot = {.timeout_ms = 500, .retries = 1, .backoff_base_ms = 10};
    conn *ct = conn_open("hr", "slow", spec, &ot, err, sizeof err);
    CHECK(ct != NULL, "pg open (timeout): %s", err);
    int64_t t0 = now_ms();
    rc = conn_query(ct, "select pg_sleep(10)", 0, NULL, collect, &r, err, sizeof err);
    int64_t took = now_ms() - t0;
    CHECK(rc == -1 && strstr(err, "source hr, connection slow: query failed: timed out"),
          "pg timeout: rc %d %s", rc, err);
    CHECK(took < 8000, "pg timeout took %lld ms", (long long)took); /* pg_sleep(10) was cancelled */
    rows_free(&r);
    rc = conn_query(ct, "select 1", 0, NULL, collect, &r, err, sizeof err);
    CHECK(rc == 0 && r.n == 1, "pg usable after timeout: %s", err);
    rows_free(&r);
    /* The session's statement_timeout is timeout_ms. The server does not
     * flush each row, so the client's silence timer and the server's
     * statement_timeout both come due near 500 ms; either cancel is fine. */
    rc = conn_query(ct, "show statement_timeout", 0, NULL, collect, &r, err, sizeof err);
    CHECK(rc == 0 && r.n == 1 && streq(r.v[0][0], "500ms"), "pg statement_timeout set: %s",
          r.n ? r.v[0][0] : err);
    rows_free(&r);
    t0 = now_ms();
    rc = conn_query(ct, "select g, pg_sleep(0.2) from generate_series(1, 10) g", 0, NULL, collect, &r, err,
                    sizeof err);
    took = now_ms() - t0;
    CHECK(rc == -1 && strstr(err, "source hr, connection slow: query failed: timed out: ") &&
              strstr(err, "500 ms"),
          "pg statement_timeout: rc %d %s", rc, err);
    CHECK(took >= 450 && took < 3000, "pg statement_timeout took %lld ms", (long long)took);
    printf("# pg: statement_timeout 500 ms stopped a steadily streaming query after %lld ms (%d rows)\n",
           (long long)took, r.n);
    rows_free(&r);
    conn_close(ct);

    /* Connection refused: names source/connection, never the password. */
    char bad[512];
    snprintf(bad, sizeof bad,
             "pg:host=127.0.0.1 port=%d user=postgres password=pw-Never-Shown dbname=hr",
             closed_port());
    conn_opts or = {.retries = 1, .backoff_base_ms = 10, .backoff_max_ms = 20};
    conn *cr = conn_open("hr", "db", bad, &or, err, sizeof err);
    CHECK(cr == NULL, "pg refused connection must fail");
    CHECK(has_prefix(err, "source hr, connection db: connect failed: ") &&
              strstr(err, "refused"),
          "pg refused message: %s", err);
    CHECK(!strstr(err, "pw-Never-Shown") && !strstr(err, "password"),
          "pg refused message leaks the password: %s", err);

    /* Connection lost mid-stream after rows were delivered: not retried (no
     * duplicate rows), a clear error; the next query reconnects. */
    rc = conn_query(c, "select pg_backend_pid()::text", 0, NULL, collect, &r, err, sizeof err);
    CHECK(rc == 0 && r.n == 1, "pg backend pid: %s", err);
    char victim[32];
    snprintf(victim, sizeof victim, "%s", r.v[0][0]);
    rows_free(&r);
    conn *killer = conn_open("hr", "killer", spec, &o, err, sizeof err);
    CHECK(killer != NULL, "pg open (killer): %s", err);
    r.killer = killer;
    r.victim_pid = victim;
    /* generate_series in the select list streams its rows; in FROM it would
     * build all 20 million first and meet the 5 s statement_timeout. */
    rc = conn_query(c, "select generate_series(1, 20000000) as g", 0, NULL, collect, &r, err,
                    sizeof err);
    CHECK(rc == -1 && strstr(err, "not retried, to avoid delivering rows twice"),
          "pg lost mid-stream: rc %d after %d rows: %s", rc, r.n, err);
    rows_free(&r);
    rc = conn_query(c, "select pg_backend_pid()::text", 0, NULL, collect, &r, err, sizeof err);
    CHECK(rc == 0 && r.n == 1 && !streq(r.v[0][0], victim), "pg reconnect after loss: %s", err);
    rows_free(&r);
    conn_close(killer);

    /* Server restarted between two queries: the next query resets the
     * connection and succeeds (new backend). */
    rc = conn_query(c, "select pg_backend_pid()::text", 0, NULL, collect, &r, err, sizeof err);
    CHECK(rc == 0 && r.n == 1, "pg before restart: %s", err);
    snprintf(victim, sizeof victim, "%s", r.v[0][0]);
    rows_free(&r);
    CHECK(system(need_env("GG_PG_RESTART_CMD")) == 0, "restart command failed");
    rc = conn_query(c, "select pg_backend_pid()::text, count(*) from people", 0, NULL, collect, &r,
                    err, sizeof err);
    CHECK(rc == 0 && r.n == 1 && streq(r.v[0][1], "4") && !streq(r.v[0][0], victim),
          "pg query after restart: rc %d %s", rc, err);
    rows_free(&r);
    rc = conn_query(c, "show statement_timeout", 0, NULL, collect, &r, err, sizeof err);
    CHECK(rc == 0 && r.n == 1 && streq(r.v[0][0], "5s"), "pg statement_timeout after reset: %s",
          r.n ? r.v[0][0] : err);
    rows_free(&r);

    conn_close(c);

    /* Server down when the query comes, back a moment later: the connection
     * keeps resetting with backoff until the server answers. */
    conn_opts ol = {.timeout_ms = 5000, .retries = 40, .backoff_base_ms = 100, .backoff_max_ms = 400};
    conn *cl = conn_open("hr", "db", spec, &ol, err, sizeof err);
    CHECK(cl != NULL, "pg open (patient): %s", err);
    CHECK(system(need_env("GG_PG_STOP_CMD")) == 0, "stop command failed");
    CHECK(system(need_env("GG_PG_START_BG_CMD")) == 0, "background start command failed");
    rc = conn_query(cl, "select count(*) from people", 0, NULL, collect, &r, err, sizeof err);
    CHECK(rc == 0 && r.n == 1 && streq(r.v[0][0], "4"), "pg query while the server comes back: %s",
          err);
    rows_free(&r);
    conn_close(cl);

    /* Opening while the server is down retries the same way. */
    CHECK(system(need_env("GG_PG_STOP_CMD")) == 0, "stop command failed");
    CHECK(system(need_env("GG_PG_START_BG_CMD")) == 0, "background start command failed");
    cl = conn_open("hr", "db", spec, &ol, err, sizeof err);
    CHECK(cl != NULL, "pg open while the server comes back: %s", err);

    /* exec after a restart: the dead connection is found before sending. */
    CHECK(system(need_env("GG_PG_RESTART_CMD")) == 0, "restart command failed");
    rc = conn_exec(cl, "update people set note = note where id = 1", 0, NULL, &aff, err, sizeof err);
    CHECK(rc == 0 && aff == 1, "pg exec after restart: rc %d aff %ld %s", rc, aff, err);
    conn_close(cl);
}

/* ---- ODBC ------------------------------------------------------------------------ */

static int file_exists(const char *path) { return access(path, F_OK) == 0; }

/* SQLite through ODBC: statements that reach outside the source's database
 * are refused before the driver sees them, whatever the comments, case,
 * whitespace or quoting; no file is created; the process survives. */
static void test_sqlite_guard(const char *label, const char *spec) {
    char err[1024], dir[512], evil[600], copy[600], sql[1400];
    const char *db = strstr(spec, "Database=");
    CHECK(db != NULL, "sqlite spec has Database=");
    snprintf(dir, sizeof dir, "%s", db + 9);
    dir[strcspn(dir, ";")] = '\0';
    char *slash = strrchr(dir, '/');
    CHECK(slash != NULL, "sqlite database path has a directory: %s", dir);
    *slash = '\0';
    snprintf(evil, sizeof evil, "%s/evil.db", dir);
    snprintf(copy, sizeof copy, "%s/copy.db", dir);
    conn_opts o = {.timeout_ms = 5000, .retries = 1};
    conn *c = conn_open("civil", label, spec, &o, err, sizeof err);
    CHECK(c != NULL, "sqlite guard open: %s", err);
    rows r = {0};
    long aff = 0;

    /* Each attack, as query and as exec. */
    struct {
        const char *fmt; /* %s = the target file where one is used */
        const char *word;
    } attacks[] = {
        {"ATTACH DATABASE '%s' AS e", "ATTACH"},
        {"/* harmless */ aTtAcH\n\t'%s' as e", "ATTACH"},
        {"select 1; attach '%s' as e", "ATTACH"},
        {"DETACH DATABASE main", "DETACH"},
        {"VACUUM INTO '%s'", "VACUUM"},
        {"vacuum/**/into '%s'", "VACUUM"},
        {"VACUUM", "VACUUM"},
        {"select load_extension('libc.so.6', 'exit')", "load_extension"},
        {"select LOAD_EXTENSION -- comment\n ('libc.so.6', 'abort')", "load_extension"},
        {"select \"load_extension\"('libc.so.6', 'exit')", "load_extension"},
        {"select [load_extension]('libc.so.6', 'exit')", "load_extension"},
        {"select `Load_Extension`('libc.so.6', 'exit')", "load_extension"},
        {"PRAGMA writable_schema = 1", "PRAGMA"},
        {"pragma journal_mode(OFF)", "PRAGMA"},
        {"PRAGMA main.synchronous=0", "PRAGMA"},
    };
    for (size_t i = 0; i < sizeof attacks / sizeof attacks[0]; i++) {
        const char *target = strstr(attacks[i].fmt, "INTO") || strstr(attacks[i].fmt, "into") ? copy : evil;
        snprintf(sql, sizeof sql, attacks[i].fmt, target);
        int rc = conn_query(c, sql, 0, NULL, collect, &r, err, sizeof err);
        CHECK(rc == -1 && strstr(err, "query failed: refused: ") && strstr(err, attacks[i].word) &&
                  strstr(err, "not allowed on a SQLite connection"),
              "sqlite guard query %zu (%s): rc %d %s", i, sql, rc, err);
        rows_free(&r);
        rc = conn_exec(c, sql, 0, NULL, &aff, err, sizeof err);
        CHECK(rc == -1 && strstr(err, "exec failed: refused: "), "sqlite guard exec %zu (%s): rc %d %s", i, sql,
              rc, err);
    }
    CHECK(!file_exists(evil) && !file_exists(copy), "sqlite guard: a file was created");

    /* The words inside literals and comments, and PRAGMA reads, still run. */
    int rc = conn_query(c, "select 'ATTACH ''x'' AS e; VACUUM' as s -- load_extension\n", 0, NULL, collect, &r,
                        err, sizeof err);
    CHECK(rc == 0 && r.n == 1 && streq(r.v[0][0], "ATTACH 'x' AS e; VACUUM"), "sqlite guard literal: rc %d %s", rc,
          err);
    rows_free(&r);
    rc = conn_query(c, "PRAGMA user_version", 0, NULL, collect, &r, err, sizeof err);
    CHECK(rc == 0 && r.n == 1, "sqlite guard PRAGMA read: rc %d %s", rc, err);
    rows_free(&r);
    rc = conn_query(c, "select count(*) from people", 0, NULL, collect, &r, err, sizeof err);
    CHECK(rc == 0 && r.n == 1 && streq(r.v[0][0], "4"), "sqlite guard: connection still usable: %s", err);
    rows_free(&r);
    conn_close(c);
}

static void test_odbc(const char *label, const char *connstr, int sqlite) {
    char spec[1024], err[1024];
    snprintf(spec, sizeof spec, "odbc:%s", connstr);
    conn_opts o = {.timeout_ms = 5000, .retries = 2, .backoff_base_ms = 50};
    conn *c = conn_open("civil", label, spec, &o, err, sizeof err);
    CHECK(c != NULL, "odbc %s open: %s", label, err);
    CHECK(conn_get_type(c) == CONN_ODBC && streq(conn_get_name(c), label), "odbc accessors");

    rows r = {0};
    const char *p1[] = {"1"};
    const char *sql = sqlite ? "select id, name, note, big, gbk from people where id >= ? order by id"
                             : "select id, name, note, big from people where id >= ? order by id";
    int rc = conn_query(c, sql, 1, p1, collect, &r, err, sizeof err);
    CHECK(rc == 0, "odbc %s query: rc %d %s", label, rc, err);
    check_people(label, &r);
    if (sqlite) {
        /* GBK bytes in a TEXT column come through SQL_C_CHAR unchanged. */
        CHECK(streq(r.v[0][4], "\xd5\xc5\xc8\xfd"), "odbc %s GBK bytes of 张三 changed", label);
        CHECK(streq(r.v[2][4], "\xb0\xa2\xb2\xb7\xb6\xc5\xa1\xa4\xc8\xc8\xba\xcf\xc2\xfc"),
              "odbc %s GBK bytes of the middle-dot name changed", label);
        CHECK(r.v[3][4] == NULL, "odbc %s GBK NULL", label);
    }
    rows_free(&r);

    const char *pn[] = {NULL, "李四"};
    rc = conn_query(c, sqlite ? "select count(*) from people where ? is null and name = ?"
                              : "select count(*) from people where ?::text is null and name = ?",
                    2, pn, collect, &r, err, sizeof err);
    CHECK(rc == 0 && r.n == 1 && streq(r.v[0][0], "1"), "odbc %s NULL/UTF-8 params: rc %d %s", label,
          rc, err);
    rows_free(&r);

    r.stop_after = 2;
    r.stop_value = -7;
    rc = conn_query(c, "select id from people order by id", 0, NULL, collect, &r, err, sizeof err);
    CHECK(rc == -7 && r.n == 2, "odbc %s early stop: rc %d n %d", label, rc, r.n);
    rows_free(&r);

    long aff = -1;
    rc = conn_exec(c, "create temp table t_exec(id int, v text)", 0, NULL, &aff, err, sizeof err);
    CHECK(rc == 0, "odbc %s exec create: %s", label, err);
    rc = conn_exec(c, "insert into t_exec(id, v) values (1, 'a'), (2, 'b'), (3, 'c')", 0, NULL, &aff,
                   err, sizeof err);
    CHECK(rc == 0 && aff == 3, "odbc %s exec insert: rc %d aff %ld %s", label, rc, aff, err);
    const char *pu[] = {"z", "2"};
    rc = conn_exec(c, "update t_exec set v = ? where id <= ?", 2, pu, &aff, err, sizeof err);
    CHECK(rc == 0 && aff == 2, "odbc %s exec update: rc %d aff %ld %s", label, rc, aff, err);
    rc = conn_exec(c, "delete from t_exec where id > 100", 0, NULL, &aff, err, sizeof err);
    CHECK(rc == 0 && aff == 0, "odbc %s exec delete none: rc %d aff %ld %s", label, rc, aff, err);
    rc = conn_query(c, "select v from t_exec where id = 1", 0, NULL, collect, &r, err, sizeof err);
    CHECK(rc == 0 && r.n == 1 && streq(r.v[0][0], "z"), "odbc %s read back: %s", label, err);
    rows_free(&r);

    rc = conn_query(c, "selec id from people", 0, NULL, collect, &r, err, sizeof err);
    char want[128];
    snprintf(want, sizeof want, "source civil, connection %s: query failed: ", label);
    CHECK(rc == -1 && strncmp(err, want, strlen(want)) == 0 &&
              strstr(err, sqlite ? "[HY000]" : "[42601]") && strstr(err, "selec"),
          "odbc %s syntax error message: %s", label, err);
    conn_close(c);

    /* Statement timeout: really applied (SQL_ATTR_QUERY_TIMEOUT where the
     * driver keeps it, else the connector's own cancel), near the limit, with
     * a clear error; the connection stays usable. */
    conn_opts ot = {.timeout_ms = 1000, .retries = 2, .backoff_base_ms = 10};
    conn *ct = conn_open("civil", label, spec, &ot, err, sizeof err);
    CHECK(ct != NULL, "odbc %s open (timeout): %s", label, err);
    const char *slow = sqlite ? "with recursive c(x) as (select 1 union all select x + 1 from c) "
                                "select count(*) from c"
                              : "select 1 from pg_sleep(10)";
    int64_t t0 = now_ms();
    rc = conn_query(ct, slow, 0, NULL, collect, &r, err, sizeof err);
    int64_t took = now_ms() - t0;
    CHECK(rc == -1 && strstr(err, "statement timed out after 1000 ms"), "odbc %s timeout: rc %d %s", label, rc, err);
    snprintf(want, sizeof want, "source civil, connection %s: query failed: ", label);
    CHECK(has_prefix(err, want), "odbc %s timeout names source and connection: %s", label, err);
    CHECK(took >= 900 && took < 3000, "odbc %s timeout took %lld ms", label, (long long)took);
    printf("# odbc %s: a 1000 ms timeout cancelled the slow query after %lld ms\n", label, (long long)took);
    rows_free(&r);
    rc = conn_exec(ct, slow, 0, NULL, &aff, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "statement timed out"), "odbc %s exec timeout: rc %d %s", label, rc, err);
    rc = conn_query(ct, "select count(*) from people", 0, NULL, collect, &r, err, sizeof err);
    CHECK(rc == 0 && r.n == 1 && streq(r.v[0][0], "4"), "odbc %s usable after timeout: %s", label, err);
    rows_free(&r);
    conn_close(ct);

    if (sqlite) test_sqlite_guard(label, spec);
}

/* ---- transactions (pg, psqlODBC, SQLite through ODBC) ----------------------------- */

/* The count of rows of table t, read on connection c (-1 on error). */
static long tx_count(conn *c, const char *t) {
    char q[128], err[1024];
    rows r = {0};
    snprintf(q, sizeof q, "select count(*) from %s", t);
    long n = -1;
    if (conn_query(c, q, 0, NULL, collect, &r, err, sizeof err) == 0 && r.n == 1 && r.v[0][0]) n = atol(r.v[0][0]);
    else fprintf(stderr, "tx_count %s: %s\n", t, err);
    rows_free(&r);
    return n;
}

static int tx_insert(conn *c, const char *t, int id, char *err, size_t errsz) {
    char q[128];
    snprintf(q, sizeof q, "insert into %s(id) values (%d)", t, id);
    long aff = 0;
    return conn_exec(c, q, 0, NULL, &aff, err, errsz);
}

/* What a rollback drops is gone and what a commit keeps is seen from a second
 * connection; a commit after a failed statement fails and keeps nothing on
 * libpq (SQLite, and psqlODBC with its default statement-level rollback, drop
 * the failed statement only: the push worker never commits after a failure); a connection lost inside a transaction fails its
 * statements and the commit instead of running them on a new connection, and
 * the next transaction reconnects; an HTTP connection has none. */
static void test_tx(const char *label, const char *spec, int pg) {
    char err[1024], t[32];
    snprintf(t, sizeof t, "t_tx_%s", label);
    conn_opts o = {.timeout_ms = 5000, .retries = 2, .backoff_base_ms = 10};
    conn *c = conn_open("civil", label, spec, &o, err, sizeof err);
    conn *c2 = c ? conn_open("civil", "second", spec, &o, err, sizeof err) : NULL;
    CHECK(c && c2, "tx %s open: %s", label, err);
    char q[128];
    long aff;
    snprintf(q, sizeof q, "drop table if exists %s", t);
    CHECK(conn_exec(c, q, 0, NULL, &aff, err, sizeof err) == 0, "tx %s drop: %s", label, err);
    snprintf(q, sizeof q, "create table %s(id integer primary key)", t);
    CHECK(conn_exec(c, q, 0, NULL, &aff, err, sizeof err) == 0, "tx %s create: %s", label, err);

    CHECK(conn_begin(c, err, sizeof err) == 0 && conn_in_transaction(c), "tx %s begin: %s", label, err);
    CHECK(conn_begin(c, err, sizeof err) == -1 && strstr(err, "already open"), "tx %s begin twice: %s", label, err);
    CHECK(tx_insert(c, t, 1, err, sizeof err) == 0, "tx %s insert: %s", label, err);
    conn_rollback(c);
    CHECK(!conn_in_transaction(c) && tx_count(c2, t) == 0, "tx %s: a rolled back row is gone", label);

    CHECK(conn_begin(c, err, sizeof err) == 0, "tx %s begin 2: %s", label, err);
    CHECK(tx_insert(c, t, 1, err, sizeof err) == 0 && tx_insert(c, t, 2, err, sizeof err) == 0, "tx %s inserts: %s",
          label, err);
    if (pg) CHECK(tx_count(c2, t) == 0, "tx %s: uncommitted rows are not seen from another connection", label);
    CHECK(conn_commit(c, err, sizeof err) == 0 && !conn_in_transaction(c), "tx %s commit: %s", label, err);
    CHECK(tx_count(c2, t) == 2, "tx %s: committed rows are seen from another connection", label);
    CHECK(conn_commit(c, err, sizeof err) == -1 && strstr(err, "commit without a transaction"),
          "tx %s commit without begin: %s", label, err);

    CHECK(conn_begin(c, err, sizeof err) == 0, "tx %s begin 3: %s", label, err);
    CHECK(tx_insert(c, t, 3, err, sizeof err) == 0, "tx %s insert 3: %s", label, err);
    CHECK(tx_insert(c, t, 1, err, sizeof err) == -1, "tx %s: a duplicate key fails", label);
    if (pg == 2) {
        CHECK(conn_commit(c, err, sizeof err) == -1 && strstr(err, "a statement of the transaction failed"),
              "tx %s commit after a failure: %s", label, err);
    } else {
        conn_rollback(c);
    }
    CHECK(!conn_in_transaction(c) && tx_count(c2, t) == 2, "tx %s: nothing of the failed transaction kept", label);
    CHECK(tx_insert(c, t, 4, err, sizeof err) == 0 && tx_count(c2, t) == 3, "tx %s: autocommit again after: %s",
          label, err);

    if (pg == 2) {
        /* libpq: the server ends the backend inside the transaction */
        CHECK(conn_begin(c, err, sizeof err) == 0, "tx %s begin 4: %s", label, err);
        CHECK(tx_insert(c, t, 5, err, sizeof err) == 0, "tx %s insert 5: %s", label, err);
        rows r = {0};
        CHECK(conn_query(c, "select pg_backend_pid()::text", 0, NULL, collect, &r, err, sizeof err) == 0 && r.n == 1,
              "tx %s pid: %s", label, err);
        const char *pid[] = {r.v[0][0]};
        CHECK(conn_exec(c2, "select pg_terminate_backend($1::int)", 1, pid, &aff, err, sizeof err) == 0,
              "tx %s terminate: %s", label, err);
        rows_free(&r);
        usleep(200000);
        CHECK(tx_insert(c, t, 6, err, sizeof err) == -1 && strstr(err, "inside a transaction"),
              "tx %s: a statement after the loss fails, not retried on a new connection: %s", label, err);
        CHECK(tx_insert(c, t, 7, err, sizeof err) == -1 && strstr(err, "lost inside the transaction"),
              "tx %s: and the next one too: %s", label, err);
        CHECK(conn_commit(c, err, sizeof err) == -1 && strstr(err, "lost inside the transaction"),
              "tx %s: commit after the loss fails: %s", label, err);
        CHECK(tx_count(c2, t) == 3, "tx %s: nothing of the lost transaction kept", label);
        CHECK(conn_begin(c, err, sizeof err) == 0 && tx_insert(c, t, 8, err, sizeof err) == 0 &&
                  conn_commit(c, err, sizeof err) == 0,
              "tx %s: the next transaction reconnects: %s", label, err);
        CHECK(tx_count(c2, t) == 4, "tx %s: and commits", label);
    }
    snprintf(q, sizeof q, "drop table %s", t);
    CHECK(conn_exec(c, q, 0, NULL, &aff, err, sizeof err) == 0, "tx %s drop: %s", label, err);
    conn_close(c);
    conn_close(c2);
}

/* conn_send (libpq): inside a transaction statements are queued and their
 * answers read together, across PG_PIPE_MAX (64) of them; the commit keeps
 * them all. A failing one fails the commit, naming its error, and nothing of
 * the transaction is kept; a query after a failed send names it too.
 * Outside a transaction, and on ODBC, a send is an exec: its error comes at
 * once. A rollback drops what was sent. */
static int tx_send(conn *c, const char *t, int id, char *err, size_t errsz) {
    char q[128], v[16];
    snprintf(q, sizeof q, "insert into %s(id) values ($1::integer)", t);
    snprintf(v, sizeof v, "%d", id);
    const char *params[] = {v};
    return conn_send(c, q, 1, params, err, errsz);
}

static void test_send(const char *label, const char *spec, int pg) {
    char err[1024], t[32], q[160];
    snprintf(t, sizeof t, "t_send_%s", label);
    conn_opts o = {.timeout_ms = 5000, .retries = 2, .backoff_base_ms = 10};
    conn *c = conn_open("grid", label, spec, &o, err, sizeof err);
    conn *c2 = c ? conn_open("grid", "second", spec, &o, err, sizeof err) : NULL;
    CHECK(c && c2, "send %s open: %s", label, err);
    long aff;
    snprintf(q, sizeof q, "drop table if exists %s", t);
    CHECK(conn_exec(c, q, 0, NULL, &aff, err, sizeof err) == 0, "send %s drop: %s", label, err);
    snprintf(q, sizeof q, "create table %s(id integer primary key)", t);
    CHECK(conn_exec(c, q, 0, NULL, &aff, err, sizeof err) == 0, "send %s create: %s", label, err);
    if (pg) snprintf(q, sizeof q, "insert into %s(id) values ($1::integer)", t);
    else snprintf(q, sizeof q, "insert into %s(id) values (?)", t);

    /* 150 sent in one transaction: not seen before the commit, all after */
    CHECK(conn_begin(c, err, sizeof err) == 0, "send %s begin: %s", label, err);
    int ok = 1;
    for (int i = 1; i <= 150 && ok; i++) {
        char v[16];
        snprintf(v, sizeof v, "%d", i);
        const char *params[] = {v};
        ok = conn_send(c, q, 1, params, err, sizeof err) == 0;
    }
    CHECK(ok, "send %s: 150 sends: %s", label, err);
    if (pg) CHECK(tx_count(c2, t) == 0, "send %s: nothing seen before the commit", label);
    CHECK(conn_commit(c, err, sizeof err) == 0, "send %s commit: %s", label, err);
    CHECK(tx_count(c2, t) == 150, "send %s: the 150 rows committed", label);

    /* a duplicate among the sent: the commit fails naming it, nothing kept */
    CHECK(conn_begin(c, err, sizeof err) == 0, "send %s begin 2: %s", label, err);
    const char *dup[] = {"7"}, *fresh[] = {"1000"};
    CHECK(conn_send(c, q, 1, fresh, err, sizeof err) == 0, "send %s fresh: %s", label, err);
    int dup_rc = conn_send(c, q, 1, dup, err, sizeof err);
    if (pg) {
        CHECK(dup_rc == 0, "send %s: a failing statement is queued, not run: %s", label, err);
        CHECK(conn_commit(c, err, sizeof err) == -1 && strstr(err, "a statement sent in the transaction failed") &&
                  strstr(err, "duplicate key"),
              "send %s: the commit is refused with the statement's error: %s", label, err);
    } else {
        CHECK(dup_rc == -1, "send %s: outside libpq a send is an exec: its error at once", label);
        conn_rollback(c);
    }
    CHECK(!conn_in_transaction(c) && tx_count(c2, t) == 150, "send %s: nothing of the failed transaction kept",
          label);

    if (pg) {
        /* a query after a failed send names it; the rollback ends it */
        CHECK(conn_begin(c, err, sizeof err) == 0, "send %s begin 3: %s", label, err);
        CHECK(tx_send(c, t, 7, err, sizeof err) == 0, "send %s dup queued: %s", label, err);
        CHECK(tx_count(c, t) == -1, "send %s: a query after a failed send fails", label);
        CHECK(tx_send(c, t, 2000, err, sizeof err) == -1 && strstr(err, "sent earlier in the transaction failed") &&
                  strstr(err, "duplicate key"),
              "send %s: a send after it is refused, naming the first error: %s", label, err);
        conn_rollback(c);
        /* sent then rolled back: gone */
        CHECK(conn_begin(c, err, sizeof err) == 0 && tx_send(c, t, 3000, err, sizeof err) == 0,
              "send %s begin 4: %s", label, err);
        conn_rollback(c);
        CHECK(tx_count(c2, t) == 150, "send %s: a rolled back send is gone", label);
        /* outside a transaction: at once, its error at once */
        CHECK(tx_send(c, t, 4000, err, sizeof err) == 0 && tx_count(c2, t) == 151,
              "send %s: outside a transaction it runs at once: %s", label, err);
        CHECK(tx_send(c, t, 4000, err, sizeof err) == -1 && strstr(err, "duplicate key"),
              "send %s: and fails at once: %s", label, err);
        /* an exec inside the transaction reads what was sent first */
        CHECK(conn_begin(c, err, sizeof err) == 0 && tx_send(c, t, 5000, err, sizeof err) == 0,
              "send %s begin 5: %s", label, err);
        CHECK(tx_insert(c, t, 5001, err, sizeof err) == 0 && tx_count(c, t) == 153,
              "send %s: an exec and a query after sends see them: %s", label, err);
        CHECK(conn_commit(c, err, sizeof err) == 0 && tx_count(c2, t) == 153, "send %s commit 5: %s", label, err);
    }
    snprintf(q, sizeof q, "drop table %s", t);
    CHECK(conn_exec(c, q, 0, NULL, &aff, err, sizeof err) == 0, "send %s drop: %s", label, err);
    conn_close(c);
    conn_close(c2);
}

/* ---- HTTP ---------------------------------------------------------------------- */

static void test_http(void) {
    const char *base = need_env("GG_HTTP_BASE");
    const char *token = need_env("GG_HTTP_TOKEN");
    char spec[512], err[1024], path[256];
    snprintf(spec, sizeof spec, "http:%s", base);
    conn_opts o = {.bearer_token = token, .timeout_ms = 5000, .retries = 3, .backoff_base_ms = 20,
                   .backoff_max_ms = 100};
    conn *c = conn_open("tax", "api", spec, &o, err, sizeof err);
    CHECK(c != NULL, "http open: %s", err);
    CHECK(conn_begin(c, err, sizeof err) == -1 && strstr(err, "transaction on an HTTP connection") &&
              !conn_in_transaction(c),
          "http has no transactions: %s", err);
    http_response resp;

    int rc = conn_http(c, "GET", "/items?page=1", NULL, NULL, 0, &resp, err, sizeof err);
    CHECK(rc == 0 && resp.status == 200, "http GET items: rc %d status %ld %s", rc, resp.status, err);
    CHECK(resp.content_type && strstr(resp.content_type, "application/json"), "http content type");
    CHECK(resp.body && strstr(resp.body, "\"page\": 1") && strstr(resp.body, "张三") &&
              strlen(resp.body) == resp.len,
          "http body: %s", resp.body ? resp.body : "(null)");
    http_response_free(&resp);
    /* The path without a leading slash joins the same way. */
    rc = conn_http(c, "GET", "items?page=3", NULL, NULL, 0, &resp, err, sizeof err);
    CHECK(rc == 0 && resp.status == 200 && strstr(resp.body, "\"next\": null"), "http last page");
    http_response_free(&resp);

    /* Without the token: 401 comes back as a response (not retried). */
    conn_opts onotok = {.timeout_ms = 5000, .retries = 3, .backoff_base_ms = 20};
    conn *cn = conn_open("tax", "anon", spec, &onotok, err, sizeof err);
    CHECK(cn != NULL, "http open (no token): %s", err);
    rc = conn_http(cn, "GET", "/items?page=1", NULL, NULL, 0, &resp, err, sizeof err);
    CHECK(rc == 0 && resp.status == 401, "http no token: rc %d status %ld", rc, resp.status);
    http_response_free(&resp);
    conn_close(cn);

    /* 503 twice, then 200: retried; the server saw exactly 3 requests. */
    rc = conn_http(c, "GET", "/flaky?key=a", NULL, NULL, 0, &resp, err, sizeof err);
    CHECK(rc == 0 && resp.status == 200 && strstr(resp.body, "\"attempt\": 3"),
          "http 503-then-200: rc %d status %ld %s", rc, resp.status, resp.body ? resp.body : err);
    http_response_free(&resp);
    rc = conn_http(c, "GET", "/count?key=flaky-a", NULL, NULL, 0, &resp, err, sizeof err);
    CHECK(rc == 0 && streq(resp.body, "3"), "http flaky count %s", resp.body);
    http_response_free(&resp);

    /* 429 once, then 200. */
    rc = conn_http(c, "GET", "/ratelimited?key=a", NULL, NULL, 0, &resp, err, sizeof err);
    CHECK(rc == 0 && resp.status == 200, "http 429-then-200: status %ld", resp.status);
    http_response_free(&resp);

    /* Always 500: after retries the final 500 is returned; 1 + retries requests. */
    conn_opts o2 = o;
    o2.retries = 2;
    conn *c2 = conn_open("tax", "api2", spec, &o2, err, sizeof err);
    CHECK(c2 != NULL, "http open: %s", err);
    rc = conn_http(c2, "GET", "/always500?key=b", NULL, NULL, 0, &resp, err, sizeof err);
    CHECK(rc == 0 && resp.status == 500 && strstr(resp.body, "\"attempt\": 3"),
          "http 500 after retries: rc %d status %ld %s", rc, resp.status, err);
    http_response_free(&resp);
    rc = conn_http(c2, "GET", "/count?key=always500-b", NULL, NULL, 0, &resp, err, sizeof err);
    CHECK(rc == 0 && streq(resp.body, "3"), "http always500 count %s", resp.body);
    http_response_free(&resp);
    conn_close(c2);

    /* Retry-After: 1 is honoured (wait >= 1 s although the backoff is tiny)... */
    conn_opts o3 = {.bearer_token = token, .timeout_ms = 5000, .retries = 2, .backoff_base_ms = 1,
                    .backoff_max_ms = 5000};
    conn *c3 = conn_open("tax", "api3", spec, &o3, err, sizeof err);
    CHECK(c3 != NULL, "http open: %s", err);
    int64_t t0 = now_ms();
    rc = conn_http(c3, "GET", "/retry-after?key=c", NULL, NULL, 0, &resp, err, sizeof err);
    int64_t took = now_ms() - t0;
    CHECK(rc == 0 && resp.status == 200 && took >= 950, "http Retry-After honoured: %lld ms",
          (long long)took);
    http_response_free(&resp);
    conn_close(c3);
    /* ... and capped by backoff_max_ms. */
    conn_opts o4 = o3;
    o4.backoff_max_ms = 150;
    conn *c4 = conn_open("tax", "api4", spec, &o4, err, sizeof err);
    CHECK(c4 != NULL, "http open: %s", err);
    t0 = now_ms();
    rc = conn_http(c4, "GET", "/retry-after?key=d", NULL, NULL, 0, &resp, err, sizeof err);
    took = now_ms() - t0;
    CHECK(rc == 0 && resp.status == 200 && took >= 140 && took < 950,
          "http Retry-After capped: %lld ms", (long long)took);
    http_response_free(&resp);
    conn_close(c4);

    /* Timeout: the transport error is retried, then reported. */
    /* timeout_ms bounds the whole call, retries included: a slow endpoint
     * with 3 retries allowed still fails near 400 ms, not after 4 x 400. */
    conn_opts o5 = {.bearer_token = token, .timeout_ms = 400, .retries = 3, .backoff_base_ms = 10};
    conn *c5 = conn_open("tax", "slowapi", spec, &o5, err, sizeof err);
    CHECK(c5 != NULL, "http open: %s", err);
    t0 = now_ms();
    rc = conn_http(c5, "GET", "/slow?ms=3000", NULL, NULL, 0, &resp, err, sizeof err);
    took = now_ms() - t0;
    CHECK(rc == -1 && has_prefix(err, "source tax, connection slowapi: GET /slow ") && strstr(err, "imed out"),
          "http timeout: rc %d %s", rc, err);
    CHECK(took >= 380 && took < 1000, "http timeout took %lld ms", (long long)took);
    printf("# http: a 400 ms timeout (3 retries allowed) ended the call after %lld ms\n", (long long)took);
    CHECK(!strstr(err, token), "http error leaks the token");
    /* A quick endpoint on the same connection still answers. */
    rc = conn_http(c5, "GET", "/slow?ms=10", NULL, NULL, 0, &resp, err, sizeof err);
    CHECK(rc == 0 && resp.status == 200, "http after timeout: rc %d %s", rc, err);
    http_response_free(&resp);
    conn_close(c5);

    /* POST echo: body, headers and status come back. */
    const char *json = "{\"alert\":\"pension_after_death:1\",\"说明\":\"请核实\"}";
    const char *hdrs[] = {"Content-Type: application/json; charset=utf-8", NULL};
    rc = conn_http(c, "POST", "/echo", hdrs, json, strlen(json), &resp, err, sizeof err);
    CHECK(rc == 0 && resp.status == 201 && resp.len == strlen(json) && streq(resp.body, json),
          "http POST echo: rc %d status %ld body %s", rc, resp.status, resp.body ? resp.body : err);
    CHECK(streq(resp.content_type, "application/json; charset=utf-8"), "http echo type %s",
          resp.content_type);
    http_response_free(&resp);

    /* The handle keeps its connection: two requests, one client port. */
    rc = conn_http(c, "GET", "/peer", NULL, NULL, 0, &resp, err, sizeof err);
    CHECK(rc == 0 && resp.status == 200, "http peer 1");
    char port1[16];
    snprintf(port1, sizeof port1, "%s", resp.body);
    http_response_free(&resp);
    rc = conn_http(c, "GET", "/peer", NULL, NULL, 0, &resp, err, sizeof err);
    CHECK(rc == 0 && streq(resp.body, port1), "http connection reuse: port %s then %s", port1,
          resp.body);
    http_response_free(&resp);

    /* Size cap (default 16 MiB): the limit passes, one byte more is refused
     * clearly, with or without a Content-Length. */
    snprintf(path, sizeof path, "/big?n=%d", 16 << 20);
    rc = conn_http(c, "GET", path, NULL, NULL, 0, &resp, err, sizeof err);
    CHECK(rc == 0 && resp.len == (size_t)16 << 20, "http 16 MiB body: rc %d %s", rc, err);
    http_response_free(&resp);
    snprintf(path, sizeof path, "/big?n=%d", (16 << 20) + 1);
    rc = conn_http(c, "GET", path, NULL, NULL, 0, &resp, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "source tax, connection api: GET /big: response body larger than "
                                  "the 16 MiB limit (max_body)"),
          "http too big: rc %d %s", rc, err);
    CHECK(resp.body == NULL, "http too big leaves no body");
    /* A chunked body of 1 GiB (no Content-Length) is cut off while arriving. */
    t0 = now_ms();
    rc = conn_http(c, "GET", "/huge", NULL, NULL, 0, &resp, err, sizeof err);
    took = now_ms() - t0;
    CHECK(rc == -1 && strstr(err, "GET /huge: response body larger than the 16 MiB limit"),
          "http huge chunked: rc %d %s", rc, err);
    CHECK(resp.body == NULL && took < 4000, "http huge chunked took %lld ms", (long long)took);
    printf("# http: a 1 GiB chunked body was cut off at the 16 MiB limit after %lld ms\n", (long long)took);
    /* max_body per connection. */
    conn_opts om = {.bearer_token = token, .timeout_ms = 5000, .max_body = 100000};
    conn *cm = conn_open("tax", "small", spec, &om, err, sizeof err);
    CHECK(cm != NULL, "http open (max_body): %s", err);
    rc = conn_http(cm, "GET", "/big?n=100000", NULL, NULL, 0, &resp, err, sizeof err);
    CHECK(rc == 0 && resp.len == 100000, "http body at max_body: rc %d %s", rc, err);
    http_response_free(&resp);
    rc = conn_http(cm, "GET", "/big?n=100001", NULL, NULL, 0, &resp, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "larger than the 100000 bytes limit (max_body)"), "http over max_body: %s", err);
    rc = conn_http(cm, "GET", "/huge", NULL, NULL, 0, &resp, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "larger than the 100000 bytes limit"), "http chunked over max_body: %s", err);
    conn_close(cm);

    /* Redirects: followed on the same origin (token still sent), not elsewhere. */
    rc = conn_http(c, "GET", "/redirect-local", NULL, NULL, 0, &resp, err, sizeof err);
    CHECK(rc == 0 && resp.status == 200 && strstr(resp.body, "\"page\": 1"),
          "http same-origin redirect: status %ld", resp.status);
    http_response_free(&resp);
    rc = conn_http(c, "GET", "/redirect-foreign", NULL, NULL, 0, &resp, err, sizeof err);
    CHECK(rc == 0 && resp.status == 302, "http cross-host redirect not followed: status %ld",
          resp.status);
    http_response_free(&resp);

    conn_close(c);
}

int main(void) {
    const char *only = getenv("GG_CONNECTORS_ONLY"); /* pg, odbc or http, for debugging */
    if (!only || strcmp(only, "http") == 0) test_http();
    if (!only || strcmp(only, "odbc") == 0) {
        test_odbc("sqlite", need_env("GG_ODBC_SQLITE"), 1);
        test_odbc("pgodbc", need_env("GG_ODBC_PG"), 0);
    }
    if (!only || strcmp(only, "tx") == 0) {
        char spec[1024];
        snprintf(spec, sizeof spec, "odbc:%s", need_env("GG_ODBC_SQLITE"));
        test_tx("sqlite", spec, 0);
        snprintf(spec, sizeof spec, "odbc:%s", need_env("GG_ODBC_PG"));
        test_tx("pgodbc", spec, 1);
        snprintf(spec, sizeof spec, "pg:%s", need_env("GG_PG_CONNINFO"));
        test_tx("libpq", spec, 2);
        test_send("libpq", spec, 1);
        snprintf(spec, sizeof spec, "odbc:%s", need_env("GG_ODBC_SQLITE"));
        test_send("sqlite", spec, 0);
    }
    if (!only || strcmp(only, "pg") == 0) test_pg();
    printf("%d passed, 0 failed\n", g_passed);
    return 0;
}
