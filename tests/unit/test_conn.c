/* test_conn.c - unit tests for the connectors that need no server: backoff
 * bounds and jitter, spec parsing, secret masking in messages, URL escaping,
 * the error paths of refused connections (a closed local port) for
 * PostgreSQL, ODBC and HTTP, the connector registry and the SQLite statement
 * guard's tokenizer. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "conn/conn.h"
#include "conn/conn_internal.h"
#include "conn/registry.h"
#include "conn/sqlguard.h"

/* A TCP port on 127.0.0.1 that nothing listens on: bind to port 0, read the
 * port the kernel chose, close the socket. */
static int closed_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* ---- backoff --------------------------------------------------------------- */

static void test_backoff_bounds(void **state) {
    (void)state;
    conn_opts o = {.backoff_base_ms = 100, .backoff_max_ms = 1000};
    long caps[] = {100, 200, 400, 800, 1000, 1000, 1000};
    for (int attempt = 0; attempt < 7; attempt++) {
        long seen_max = 0;
        for (int i = 0; i < 2000; i++) {
            long d = conn_backoff_ms(&o, attempt);
            assert_true(d >= 0);
            assert_true(d <= caps[attempt]);
            if (d > seen_max) seen_max = d;
        }
        /* Full jitter spans the range: with 2000 draws the top quarter is hit. */
        assert_true(seen_max > caps[attempt] * 3 / 4);
    }
    /* Huge attempt numbers must not overflow past the cap. */
    for (int i = 0; i < 200; i++) {
        long d = conn_backoff_ms(&o, 1000000);
        assert_true(d >= 0 && d <= 1000);
    }
    /* Negative attempt counts as the first. */
    for (int i = 0; i < 200; i++) assert_true(conn_backoff_ms(&o, -3) <= 100);
}

static void test_backoff_defaults_and_jitter(void **state) {
    (void)state;
    conn_opts zero = {0};
    long lo = 1L << 30, hi = -1;
    for (int i = 0; i < 2000; i++) {
        long d = conn_backoff_ms(&zero, 0); /* default base 200 */
        assert_true(d >= 0 && d <= 200);
        if (d < lo) lo = d;
        if (d > hi) hi = d;
    }
    assert_true(lo < 50 && hi > 150); /* random, not a constant */
    for (int i = 0; i < 200; i++) {
        long d = conn_backoff_ms(NULL, 20); /* default max 5000 */
        assert_true(d >= 0 && d <= 5000);
    }
    /* base above max: the cap wins from the first attempt. */
    conn_opts inv = {.backoff_base_ms = 9000, .backoff_max_ms = 300};
    for (int i = 0; i < 200; i++) assert_true(conn_backoff_ms(&inv, 0) <= 300);
}

static void test_backoff_per_connection_prng(void **state) {
    (void)state;
    char err[256];
    conn_opts o = {.backoff_base_ms = 1000, .backoff_max_ms = 1000};
    conn *a = conn_open("hr", "api", "http:http://127.0.0.1:9/", &o, err, sizeof err);
    conn *b = conn_open("hr", "api2", "http:http://127.0.0.1:9/", &o, err, sizeof err);
    assert_non_null(a);
    assert_non_null(b);
    /* Two connections draw different sequences (seeded apart). */
    int same = 0;
    for (int i = 0; i < 20; i++)
        if (conn_next_backoff(a, 0) == conn_next_backoff(b, 0)) same++;
    assert_true(same < 5);
    conn_close(a);
    conn_close(b);
}

/* ---- spec parsing ---------------------------------------------------------- */

static void test_spec_errors(void **state) {
    (void)state;
    char err[512];
    struct {
        const char *spec;
        const char *expect;
    } cases[] = {
        {"mysql:host=x password=hunter2", "must start with \"pg:\""},
        {"no colon here password=hunter2", "must start with"},
        {"pg:", "empty target"},
        {"odbc:   ", "empty target"},
        {"http:ftp://example.org/", "must start with http:// or https://"},
        {"http:http://[::1/", "does not parse"},
        {"pg:host=x port password=hunter2", "invalid libpq connection string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        conn_opts o = {.retries = -1};
        err[0] = '\0';
        conn *c = conn_open("hr", "db", cases[i].spec, &o, err, sizeof err);
        assert_null(c);
        if (strncmp(err, "source hr, connection db: ", 26) != 0 || !strstr(err, cases[i].expect))
            fail_msg("spec case %zu: unexpected error \"%s\"", i, err);
        assert_null(strstr(err, "hunter2"));
    }
    assert_null(conn_open(NULL, "db", "pg:x", NULL, err, sizeof err));
}

static void test_open_http_and_accessors(void **state) {
    (void)state;
    char err[256];
    conn *c = conn_open("civil", "api", "http:http://127.0.0.1:9/base/", NULL, err, sizeof err);
    assert_non_null(c);
    assert_int_equal(conn_get_type(c), CONN_HTTP);
    assert_string_equal(conn_get_name(c), "api");
    /* Defaults applied to zero options. */
    assert_int_equal(c->opts.timeout_ms, 30000);
    assert_int_equal(c->opts.retries, 3);
    assert_int_equal(c->opts.backoff_base_ms, 200);
    assert_int_equal(c->opts.backoff_max_ms, 5000);
    /* SQL calls on an HTTP connection fail cleanly. */
    long affected = 99;
    assert_int_equal(conn_exec(c, "delete from x", 0, NULL, &affected, err, sizeof err), -1);
    assert_int_equal(affected, 0);
    assert_non_null(strstr(err, "source civil, connection api: exec on an HTTP connection"));
    conn_close(c);

    conn_opts o = {.retries = -1};
    c = conn_open("civil", "api", "http:https://example.org", &o, err, sizeof err);
    assert_non_null(c);
    assert_int_equal(c->opts.retries, 0); /* negative = no retries */
    conn_close(c);
    conn_close(NULL);
}

/* ---- messages -------------------------------------------------------------- */

static void test_secret_scrubbing(void **state) {
    (void)state;
    char err[512];
    conn_opts o = {.bearer_token = "tok-SECRET-123"};
    conn *c = conn_open("tax", "api", "http:http://user:pw-XYZZY@127.0.0.1:9/", &o, err, sizeof err);
    assert_non_null(c);
    conn_fail(c, err, sizeof err, "server said tok-SECRET-123 and pw-XYZZY, tok-SECRET-123");
    assert_string_equal(err, "source tax, connection api: server said *** and ***, ***");
    /* A tiny buffer truncates but never shows part of the secret's tail. */
    char small[40];
    conn_fail(c, small, sizeof small, "xx tok-SECRET-123");
    assert_null(strstr(small, "SECRET"));
    char line[16];
    conn_first_line("  ERROR:  boom\nDETAIL: x", line, sizeof line);
    assert_string_equal(line, "ERROR:  boom");
    conn_close(c);
}

static void test_url_escape(void **state) {
    (void)state;
    char *e = conn_url_escape("a b&c=d/张");
    assert_non_null(e);
    assert_string_equal(e, "a%20b%26c%3Dd%2F%E5%BC%A0");
    free(e);
    e = conn_url_escape("AZaz09-._~");
    assert_string_equal(e, "AZaz09-._~");
    free(e);
    e = conn_url_escape("");
    assert_string_equal(e, "");
    free(e);
    assert_null(conn_url_escape(NULL));
    http_response r = {0};
    http_response_free(&r);
    http_response_free(NULL);
}

/* ---- refused connections ----------------------------------------------------- */

static void test_pg_refused(void **state) {
    (void)state;
    char spec[256], err[1024];
    int port = closed_port();
    snprintf(spec, sizeof spec,
             "pg:host=127.0.0.1 port=%d user=postgres password=hunter2secret dbname=hr", port);
    conn_opts o = {.retries = 1, .backoff_base_ms = 5, .backoff_max_ms = 10};
    conn *c = conn_open("hr", "db", spec, &o, err, sizeof err);
    assert_null(c);
    if (strncmp(err, "source hr, connection db: connect failed: ", 42) != 0 ||
        !strstr(err, "refused"))
        fail_msg("unexpected pg error: %s", err);
    assert_null(strstr(err, "hunter2secret"));
    assert_null(strstr(err, "password"));
}

static void test_odbc_refused_and_bad_driver(void **state) {
    (void)state;
    char spec[256], err[1024];
    int port = closed_port();
    snprintf(spec, sizeof spec,
             "odbc:Driver=PostgreSQL Unicode;Server=127.0.0.1;Port=%d;Database=hr;Uid=postgres;"
             "Pwd={hunter2secret}",
             port);
    conn_opts o = {.retries = -1, .timeout_ms = 3000};
    conn *c = conn_open("hr", "odbc", spec, &o, err, sizeof err);
    assert_null(c);
    if (strncmp(err, "source hr, connection odbc: connect failed: [08", 47) != 0)
        fail_msg("unexpected odbc error: %s", err);
    assert_null(strstr(err, "hunter2secret"));

    c = conn_open("hr", "odbc", "odbc:Driver=NoSuchDriverAnywhere;Database=x", &o, err, sizeof err);
    assert_null(c);
    /* unixODBC reports a Driver= it cannot load as 01000 "Can't open lib". */
    if (!strstr(err, "source hr, connection odbc: connect failed: [01000]") ||
        !strstr(err, "NoSuchDriverAnywhere"))
        fail_msg("unexpected odbc error: %s", err);
}

static void test_http_refused(void **state) {
    (void)state;
    char spec[256], err[1024];
    int port = closed_port();
    snprintf(spec, sizeof spec, "http:http://127.0.0.1:%d/api/", port);
    conn_opts o = {.bearer_token = "tok-hunter2", .retries = 2, .backoff_base_ms = 5,
                   .backoff_max_ms = 10, .timeout_ms = 2000};
    conn *c = conn_open("tax", "api", spec, &o, err, sizeof err);
    assert_non_null(c); /* HTTP does not connect at open */
    http_response r;
    int rc = conn_http(c, "GET", "/items?key=querysecret", NULL, NULL, 0, &r, err, sizeof err);
    assert_int_equal(rc, -1);
    if (strncmp(err, "source tax, connection api: GET /items failed after 3 attempts: ", 64) != 0)
        fail_msg("unexpected http error: %s", err);
    assert_null(strstr(err, "querysecret"));
    assert_null(strstr(err, "hunter2"));
    assert_null(r.body);
    /* A SQL call on it is refused with a message, not a crash. */
    assert_int_equal(conn_query(c, "select 1", 0, NULL, NULL, NULL, err, sizeof err), -1);
    conn_close(c);
}

/* ---- registry ------------------------------------------------------------------ */

static void test_registry(void **state) {
    (void)state;
    assert_int_equal(conn_registry_count(), 3);
    assert_null(conn_registry_at(3));
    const char *target = NULL;
    const conn_kind *k = conn_registry_for_spec("odbc:  Driver=SQLite3", &target);
    assert_non_null(k);
    assert_string_equal(k->prefix, "odbc");
    assert_string_equal(target, "Driver=SQLite3");
    assert_true(conn_kind_serves(k, CONN_SERVES_SQL) && !conn_kind_serves(k, CONN_SERVES_HTTP));
    assert_int_equal(k->params, CONN_PARAMS_QMARK);
    assert_true(k->takes_password && !k->takes_token);
    k = conn_registry_find("http");
    assert_non_null(k);
    assert_true(conn_kind_serves(k, CONN_SERVES_HTTP) && !conn_kind_serves(k, CONN_SERVES_SQL));
    assert_true(k->takes_token && !k->takes_password && !k->with_password);
    assert_int_equal(conn_registry_find("pg")->params, CONN_PARAMS_DOLLAR);
    assert_null(conn_registry_find("mysql"));
    assert_null(conn_registry_for_spec("pgx:host=a", NULL));
    assert_null(conn_registry_for_spec("pg", NULL));
    assert_null(conn_registry_for_spec(NULL, NULL));
    for (size_t i = 0; i < conn_registry_count(); i++) {
        const conn_kind *ki = conn_registry_at(i);
        assert_non_null(ki->ops);
        assert_non_null(ki->skeleton);
        assert_non_null(ki->stanza);
        assert_non_null(ki->help);
        assert_true(!ki->takes_password || ki->with_password);
    }
    char buf[128];
    assert_string_equal(conn_registry_list(buf, sizeof buf, "\"", ":\"", ", ", " or "),
                        "\"pg:\", \"odbc:\" or \"http:\"");
    assert_string_equal(conn_registry_list(buf, 8, "", ":", ", ", " or "), "pg:, od");

    /* Passwords in the form each driver reads. */
    char *sp = conn_registry_find("pg")->with_password("pg:host=a", "p'w\\x");
    assert_string_equal(sp, "pg:host=a password='p\\'w\\\\x'");
    free(sp);
    sp = conn_registry_find("odbc")->with_password("odbc:DSN=x;", "a}b");
    assert_string_equal(sp, "odbc:DSN=x;PWD={a}}b}");
    free(sp);
    sp = conn_registry_find("odbc")->with_password("odbc:DSN=x", "s");
    assert_string_equal(sp, "odbc:DSN=x;PWD={s}");
    free(sp);

    /* An open connection knows its kind. */
    char err[256];
    conn *c = conn_open("civil", "api", "http:https://example.org", NULL, err, sizeof err);
    assert_non_null(c);
    assert_ptr_equal(conn_get_kind(c), conn_registry_find("http"));
    assert_int_equal(c->opts.max_body, (size_t)16 << 20); /* the default */
    conn_close(c);
}

/* ---- SQLite guard ---------------------------------------------------------------- */

static void refused(const char *sql, const char *word) {
    char why[256];
    if (conn_sqlite_guard(sql, why, sizeof why) != -1) fail_msg("not refused: %s", sql);
    if (!strstr(why, word)) fail_msg("reason for %s lacks %s: %s", sql, word, why);
}

static void allowed(const char *sql) {
    char why[256];
    if (conn_sqlite_guard(sql, why, sizeof why) != 0) fail_msg("refused: %s (%s)", sql ? sql : "(null)", why);
}

static void test_sqlite_guard(void **state) {
    (void)state;
    refused("ATTACH DATABASE '/tmp/x.db' AS x", "ATTACH");
    refused("attach '/tmp/x.db' as x", "ATTACH");
    refused("  AtTaCh\n'/tmp/x.db' as x", "ATTACH");
    refused("/* c */attach/**/'x'as x", "ATTACH");
    refused("select 1;--\nattach 'x' as y", "ATTACH");
    refused("select 1 /* unterminated comment hides nothing */; detach x", "DETACH");
    refused("VACUUM", "VACUUM");
    refused("vacuum into '/tmp/copy.db'", "VACUUM");
    refused("VACUUM main INTO 'x'", "VACUUM");
    refused("select load_extension('libc.so.6','exit')", "load_extension");
    refused("select LOAD_EXTENSION\t('libc.so.6')", "load_extension");
    refused("select \"load_extension\"('x')", "load_extension");
    refused("select [load_extension]('x')", "load_extension");
    refused("select `load_extension`('x')", "load_extension");
    refused("select fts3_tokenizer('simple')", "fts3_tokenizer");
    refused("PRAGMA writable_schema=1", "PRAGMA");
    refused("pragma journal_mode ( off )", "PRAGMA");
    refused("PRAGMA user_version; PRAGMA main.user_version = 7", "PRAGMA");
    refused("/*x*/PrAgMa--y\n synchronous\n=\n0", "PRAGMA");

    allowed("select 'ATTACH ''x'' as y; VACUUM; load_extension(1)' from t");
    allowed("select 1 -- attach 'x' as y");
    allowed("select 1 /* VACUUM INTO 'x' */");
    allowed("select attachment, vacuumed, load_extensions from t"); /* whole words only */
    allowed("PRAGMA user_version");
    allowed("pragma table_list; select a = 1 from t where b = (1)");
    allowed("select x'41' as blob, \"col\" from \"people\" where [id] = ?");
    allowed("");
    allowed(NULL);
    /* An unterminated literal runs to the end, as SQLite reads it. */
    allowed("select 'attach");
    /* A doubled quote is a quote character of the name: "load_""extension" is
     * the name load_"extension, not the function. */
    allowed("select \"load_\"\"extension\"('x')");
    /* Names longer than the buffer are not cut into a match. */
    char longname[200];
    memset(longname, 'a', sizeof longname - 15);
    strcpy(longname + sizeof longname - 15, "load_extension");
    allowed(longname);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_bounds),
        cmocka_unit_test(test_backoff_defaults_and_jitter),
        cmocka_unit_test(test_backoff_per_connection_prng),
        cmocka_unit_test(test_spec_errors),
        cmocka_unit_test(test_open_http_and_accessors),
        cmocka_unit_test(test_secret_scrubbing),
        cmocka_unit_test(test_url_escape),
        cmocka_unit_test(test_pg_refused),
        cmocka_unit_test(test_odbc_refused_and_bad_driver),
        cmocka_unit_test(test_http_refused),
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_sqlite_guard),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
