/* test_audit.c - the audit log in the state store: pulls, pushes and
 * accesses are recorded with who and when, listed newest first and by kind,
 * and the table refuses UPDATE and DELETE (append-only). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store/audit.h"

typedef struct seen {
    audit_row r[8];
    char kind[8][8], actor[8][64], result[8][64];
    int n;
} seen;

static int collect(void *ud, const audit_row *r) {
    seen *s = ud;
    if (s->n == 8) return 0;
    s->r[s->n] = *r;
    snprintf(s->kind[s->n], sizeof s->kind[0], "%s", r->kind);
    snprintf(s->actor[s->n], sizeof s->actor[0], "%s", r->actor);
    snprintf(s->result[s->n], sizeof s->result[0], "%s", r->result ? r->result : "");
    s->n++;
    return 0;
}

static void test_audit(void **state) {
    (void)state;
    char path[] = "/tmp/gg-audit-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    unlink(path);
    char err[512];
    struct state *st = state_open(path, err, sizeof err);
    if (!st) fail_msg("%s", err);
    time_t t0 = time(NULL);
    assert_int_equal(audit_pull(st, "hr", "pension_payments", 120, "fnv1a64:0123456789abcdef", "ok"), 0);
    assert_int_equal(audit_push(st, "PAD-0011223344556677", "grid", 2, "delivered"), 0);
    assert_int_equal(audit_access(st, "alerts export (unmasked)"), 0);

    seen s = {0};
    assert_int_equal(audit_each(st, NULL, 0, collect, &s), 0);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.kind[0], "access"); /* newest first */
    assert_string_equal(s.kind[2], "pull");
    assert_int_equal(s.r[2].rows, 120);
    assert_true(s.r[0].at >= t0 && s.r[0].at <= time(NULL) + 1);
    char uid[32];
    snprintf(uid, sizeof uid, "uid=%ld(", (long)getuid());
    assert_non_null(strstr(s.actor[0], uid));
    assert_int_equal(s.r[1].version, 2);
    assert_string_equal(s.result[1], "delivered");

    memset(&s, 0, sizeof s);
    assert_int_equal(audit_each(st, "push", 0, collect, &s), 0);
    assert_int_equal(s.n, 1);
    memset(&s, 0, sizeof s);
    assert_int_equal(audit_each(st, NULL, 2, collect, &s), 0);
    assert_int_equal(s.n, 2);
    state_close(st);

    /* append-only, also against a writer that bypasses gridgate */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    assert_int_not_equal(sqlite3_exec(db, "UPDATE audit SET rows = 0", NULL, NULL, &msg), SQLITE_OK);
    assert_non_null(strstr(msg, "append-only"));
    sqlite3_free(msg);
    msg = NULL;
    assert_int_not_equal(sqlite3_exec(db, "DELETE FROM audit", NULL, NULL, &msg), SQLITE_OK);
    sqlite3_free(msg);
    sqlite3_close(db);

    /* reopening keeps the rows (schema 5 is idempotent) */
    st = state_open(path, err, sizeof err);
    assert_non_null(st);
    memset(&s, 0, sizeof s);
    assert_int_equal(audit_each(st, NULL, 0, collect, &s), 0);
    assert_int_equal(s.n, 3);
    state_close(st);
    char side[600];
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_audit)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
