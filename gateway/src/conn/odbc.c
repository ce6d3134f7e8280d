/* conn/odbc.c - ODBC connector (unixODBC driver manager).
 *
 * SQLDriverConnect with the connection string after "odbc:"; statements are
 * prepared, parameters bound as SQL_C_CHAR text, rows fetched one at a time
 * with SQLFetch and every value read with SQLGetData(SQL_C_CHAR) in chunks, so
 * values of any length arrive whole. Bytes are passed through as the driver
 * hands them over (see conn.h for what the tested drivers do with non-UTF-8
 * text).
 *
 * Timeouts: SQL_ATTR_LOGIN_TIMEOUT for connecting, and for every statement
 * SQL_ATTR_QUERY_TIMEOUT (seconds, rounded up), with its return checked and
 * the value read back. A driver that refuses it, or accepts it and then reads
 * back another value (the SQLite3 driver answers SQL_SUCCESS and ignores it,
 * which is why a 30 s timeout was never applied there), gets a warning once
 * per connection, and the connector enforces timeout_ms itself: a watchdog
 * thread, armed around each SQLExecute/SQLFetch, calls SQLCancel when a call
 * runs longer (the SQLite3 driver then interrupts the statement with
 * sqlite3_interrupt). SQLCancel is made while holding the watchdog's lock, and
 * disarming takes that lock, so a cancel never races the statement's free.
 *
 * SQLite: when the driver reports DBMS "SQLite", every statement first passes
 * conn_sqlite_guard() (conn/sqlguard.h): ATTACH/DETACH, VACUUM,
 * load_extension() and PRAGMA writes are refused before reaching the driver,
 * since the driver has no option that disables them. A connection
 * failure (SQLSTATE class 08, or SQL_ATTR_CONNECTION_DEAD) reconnects and
 * retries with backoff, for a query only while no row was delivered and for an
 * exec only when the statement was not executed yet. */
#include <errno.h>
#include <pthread.h>
#include <sql.h>
#include <sqlext.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conn/conn_internal.h"
#include "conn/sqlguard.h"
#include "core/log.h"

/* How statement timeouts are applied on this connection. */
enum { TIMEOUT_UNKNOWN = 0, TIMEOUT_DRIVER, TIMEOUT_WATCHDOG };

typedef struct odbc_conn {
    SQLHENV env;     /* owned */
    SQLHDBC dbc;     /* owned */
    int connected;   /* SQLDriverConnect succeeded and no SQLDisconnect since */
    int sqlite;      /* the driver's DBMS is SQLite: statements pass conn_sqlite_guard */
    int timeout_mode; /* TIMEOUT_*; learned at the first statement */
    char *connstr;   /* owned copy of the connection string (may hold PWD; wiped on close) */
} odbc_conn;

/* The per-statement watchdog for drivers that ignore SQL_ATTR_QUERY_TIMEOUT. */
typedef struct odbc_watchdog {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;   /* signalled on arm, disarm and stop */
    SQLHSTMT st;         /* the statement to cancel (not owned) */
    int64_t deadline;    /* conn_now_ms() value; 0 = disarmed */
    int stop;
    int fired;           /* SQLCancel was called */
    int running;         /* the thread was started */
} odbc_watchdog;

static void *watchdog_main(void *arg) {
    odbc_watchdog *w = arg;
    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        if (w->deadline == 0) {
            pthread_cond_wait(&w->cv, &w->mu);
            continue;
        }
        int64_t now = conn_now_ms();
        if (now >= w->deadline) {
            w->fired = 1;
            w->deadline = 0;
            SQLCancel(w->st); /* under the lock: the statement cannot be freed meanwhile */
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t wait = w->deadline - now;
        ts.tv_sec += (time_t)(wait / 1000);
        ts.tv_nsec += (long)(wait % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&w->cv, &w->mu, &ts);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Starts the watchdog for st; 0 ok, -1 when a thread could not be made. */
static int watchdog_start(odbc_watchdog *w, SQLHSTMT st) {
    memset(w, 0, sizeof *w);
    w->st = st;
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0) return -1;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int ok = pthread_mutex_init(&w->mu, NULL) == 0;
    if (ok && pthread_cond_init(&w->cv, &ca) != 0) {
        pthread_mutex_destroy(&w->mu);
        ok = 0;
    }
    pthread_condattr_destroy(&ca);
    if (!ok) return -1;
    if (pthread_create(&w->th, NULL, watchdog_main, w) != 0) {
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        return -1;
    }
    w->running = 1;
    return 0;
}

static void watchdog_arm(odbc_watchdog *w, long ms) {
    if (!w->running) return;
    pthread_mutex_lock(&w->mu);
    w->deadline = conn_now_ms() + ms;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Disarms; returns 1 when the watchdog cancelled the call just made. */
static int watchdog_disarm(odbc_watchdog *w) {
    if (!w->running) return 0;
    pthread_mutex_lock(&w->mu);
    w->deadline = 0;
    int fired = w->fired;
    pthread_mutex_unlock(&w->mu);
    return fired;
}

static void watchdog_stop(odbc_watchdog *w) {
    if (!w->running) return;
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->th, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    w->running = 0;
}

/* A growable text buffer for one column's value. */
typedef struct odbc_buf {
    char *data;
    size_t cap;
} odbc_buf;

/* "[STATE] message" of the first diagnostic record (and the state alone in
 * state6, "" when none). */
static void odbc_diag(SQLSMALLINT type, SQLHANDLE h, char *state6, char *msg, size_t msgsz) {
    SQLCHAR state[6] = {0};
    SQLCHAR text[1024] = {0};
    SQLINTEGER native = 0;
    SQLSMALLINT len = 0;
    state6[0] = '\0';
    SQLRETURN r = SQLGetDiagRec(type, h, 1, state, &native, text, (SQLSMALLINT)sizeof text, &len);
    if (!SQL_SUCCEEDED(r)) {
        snprintf(msg, msgsz, "no diagnostic available");
        return;
    }
    memcpy(state6, state, 6);
    char line[960]; /* leaves room for the "[STATE] " prefix in a 1 KiB message */
    conn_first_line((const char *)text, line, sizeof line);
    snprintf(msg, msgsz, "[%s] %s", (const char *)state, line);
}

/* Finds the value of key PWD/Password in an ODBC connection string and
 * registers it as a secret. Handles {braced} values. */
static void odbc_register_password(conn *c, const char *cs) {
    const char *p = cs;
    while (*p) {
        while (*p == ';' || *p == ' ') p++;
        const char *key = p;
        const char *eq = strchr(p, '=');
        if (!eq) break;
        size_t klen = (size_t)(eq - key);
        while (klen > 0 && key[klen - 1] == ' ') klen--;
        const char *v = eq + 1;
        const char *vend;
        if (*v == '{') {
            v++;
            vend = strchr(v, '}');
            if (!vend) vend = v + strlen(v);
            p = *vend ? vend + 1 : vend;
        } else {
            vend = v + strcspn(v, ";");
            p = vend;
        }
        if ((klen == 3 && strncasecmp(key, "PWD", 3) == 0) ||
            (klen == 8 && strncasecmp(key, "Password", 8) == 0)) {
            size_t vlen = (size_t)(vend - v);
            char *val = malloc(vlen + 1);
            if (val) {
                memcpy(val, v, vlen);
                val[vlen] = '\0';
                conn_add_secret(c, val);
                memset(val, 0, vlen);
                free(val);
            }
        }
    }
}

static long timeout_secs(const conn *c) {
    long s = (c->opts.timeout_ms + 999) / 1000;
    return s < 1 ? 1 : s;
}

/* 1 for SQLSTATEs that mean the connection is gone or could not be made. */
static int odbc_state_is_connection(const char *state) {
    return strncmp(state, "08", 2) == 0 || strcmp(state, "HYT01") == 0;
}

/* Connects once; -1 with msg/state set on failure. */
static int odbc_connect_once(conn *c, odbc_conn *o, char *state, char *msg, size_t msgsz) {
    SQLSetConnectAttr(o->dbc, SQL_ATTR_LOGIN_TIMEOUT, (SQLPOINTER)(SQLULEN)timeout_secs(c), 0);
    SQLRETURN r = SQLDriverConnect(o->dbc, NULL, (SQLCHAR *)o->connstr, SQL_NTS, NULL, 0, NULL,
                                   SQL_DRIVER_NOPROMPT);
    if (!SQL_SUCCEEDED(r)) {
        odbc_diag(SQL_HANDLE_DBC, o->dbc, state, msg, msgsz);
        return -1;
    }
    o->connected = 1;
    SQLCHAR dbms[64] = {0};
    SQLSMALLINT dlen = 0;
    o->sqlite = SQL_SUCCEEDED(SQLGetInfo(o->dbc, SQL_DBMS_NAME, dbms, (SQLSMALLINT)sizeof dbms, &dlen)) &&
                strncasecmp((const char *)dbms, "SQLite", 6) == 0;
    return 0;
}

static int odbc_open(conn *c, const char *target, char *err, size_t errsz) {
    odbc_register_password(c, target);
    odbc_conn *o = calloc(1, sizeof *o);
    if (!o) return conn_fail(c, err, errsz, "out of memory");
    c->impl = o;
    o->connstr = strdup(target);
    if (!o->connstr) return conn_fail(c, err, errsz, "out of memory");
    if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_ENV, SQL_NULL_HANDLE, &o->env))) {
        o->env = SQL_NULL_HENV;
        return conn_fail(c, err, errsz, "cannot allocate an ODBC environment handle");
    }
    if (!SQL_SUCCEEDED(SQLSetEnvAttr(o->env, SQL_ATTR_ODBC_VERSION, (SQLPOINTER)SQL_OV_ODBC3, 0)))
        return conn_fail(c, err, errsz, "cannot select ODBC version 3");
    if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_DBC, o->env, &o->dbc))) {
        o->dbc = SQL_NULL_HDBC;
        return conn_fail(c, err, errsz, "cannot allocate an ODBC connection handle");
    }
    char state[6], msg[1024];
    for (int attempt = 0;; attempt++) {
        if (odbc_connect_once(c, o, state, msg, sizeof msg) == 0) return 0;
        if (!odbc_state_is_connection(state) || attempt >= c->opts.retries)
            return conn_fail(c, err, errsz, "connect failed: %s", msg);
        conn_retry_pause(c, "connect", attempt, msg, sizeof msg);
    }
}

static void odbc_close(conn *c) {
    odbc_conn *o = c->impl;
    if (!o) return;
    if (o->connected) SQLDisconnect(o->dbc);
    if (o->dbc != SQL_NULL_HDBC) SQLFreeHandle(SQL_HANDLE_DBC, o->dbc);
    if (o->env != SQL_NULL_HENV) SQLFreeHandle(SQL_HANDLE_ENV, o->env);
    if (o->connstr) {
        memset(o->connstr, 0, strlen(o->connstr));
        free(o->connstr);
    }
    free(o);
    c->impl = NULL;
}

static int odbc_dead(odbc_conn *o) {
    if (!o->connected) return 1;
    SQLUINTEGER dead = SQL_CD_FALSE;
    SQLRETURN r = SQLGetConnectAttr(o->dbc, SQL_ATTR_CONNECTION_DEAD, &dead, 0, NULL);
    return SQL_SUCCEEDED(r) && dead == SQL_CD_TRUE;
}

static int odbc_reconnect(conn *c, odbc_conn *o, char *msg, size_t msgsz) {
    char state[6];
    if (o->connected) SQLDisconnect(o->dbc);
    o->connected = 0;
    return odbc_connect_once(c, o, state, msg, msgsz);
}

/* Reads column `col` of the current row into b. *isnull set for SQL NULL.
 * 0 on success, -1 with msg/state set. */
static int odbc_get_text(SQLHSTMT st, SQLUSMALLINT col, odbc_buf *b, int *isnull, char *state,
                         char *msg, size_t msgsz) {
    size_t used = 0;
    *isnull = 0;
    for (;;) {
        if (b->cap - used < 2 || !b->data) {
            size_t ncap = b->cap ? b->cap * 2 : 256;
            char *nd = realloc(b->data, ncap);
            if (!nd) {
                snprintf(msg, msgsz, "out of memory reading column %u", (unsigned)col);
                state[0] = '\0';
                return -1;
            }
            b->data = nd;
            b->cap = ncap;
        }
        size_t avail = b->cap - used;
        SQLLEN ind = 0;
        b->data[used] = '\0';
        SQLRETURN r = SQLGetData(st, col, SQL_C_CHAR, b->data + used, (SQLLEN)avail, &ind);
        if (r == SQL_NO_DATA) break; /* the previous chunk was the last */
        if (!SQL_SUCCEEDED(r)) {
            odbc_diag(SQL_HANDLE_STMT, st, state, msg, msgsz);
            return -1;
        }
        if (ind == SQL_NULL_DATA) {
            *isnull = 1;
            return 0;
        }
        /* The chunk is NUL-terminated; a driver may stop short of avail-1 at a
         * character boundary, so measure it rather than trusting avail. */
        size_t got = strnlen(b->data + used, avail);
        int truncated = r == SQL_SUCCESS_WITH_INFO &&
                        (ind == SQL_NO_TOTAL || (ind >= 0 && (size_t)ind >= avail));
        used += got;
        if (!truncated) break;
        if (ind != SQL_NO_TOTAL && (size_t)ind > got) {
            /* Grow to fit all that remains in one go. */
            size_t need = used + ((size_t)ind - got) + 1;
            if (need > b->cap) {
                char *nd = realloc(b->data, need);
                if (!nd) {
                    snprintf(msg, msgsz, "out of memory reading column %u", (unsigned)col);
                    state[0] = '\0';
                    return -1;
                }
                b->data = nd;
                b->cap = need;
            }
        }
    }
    b->data[used] = '\0';
    return 0;
}

/* Outcome of one attempt. */

static void odbc_fail_stmt(conn_run_result *out, SQLHSTMT st, const char *where) {
    char state[6], msg[900];
    odbc_diag(SQL_HANDLE_STMT, st, state, msg, sizeof msg);
    snprintf(out->msg, sizeof out->msg, "%s: %s", where, msg);
    out->failed = 1;
    out->lost = odbc_state_is_connection(state);
}

/* A failure of a call the timeout cut short: HYT00 (the driver's query
 * timeout), HY008 (cancelled), 57014 (psqlODBC passes PostgreSQL's
 * query_canceled through) or our watchdog's SQLCancel. 1 when it was one. */
static int odbc_fail_timeout(conn *c, conn_run_result *out, SQLHSTMT st, const char *where, int fired) {
    char state[6], msg[900];
    odbc_diag(SQL_HANDLE_STMT, st, state, msg, sizeof msg);
    if (!fired && strcmp(state, "HYT00") != 0 && strcmp(state, "HY008") != 0 && strcmp(state, "57014") != 0)
        return 0;
    snprintf(out->msg, sizeof out->msg, "%s: statement timed out after %ld ms (timeout_ms; cancelled%s): %s", where,
             c->opts.timeout_ms, fired ? " by the connector" : "", msg);
    out->failed = 1;
    out->lost = 0;
    return 1;
}

/* Applies timeout_ms to st: SQL_ATTR_QUERY_TIMEOUT when the driver honours it,
 * else the watchdog (started into *wd). 0 ok, -1 with out set. */
static int odbc_set_timeout(conn *c, odbc_conn *o, SQLHSTMT st, odbc_watchdog *wd, conn_run_result *out) {
    long secs = timeout_secs(c);
    if (o->timeout_mode != TIMEOUT_WATCHDOG) {
        SQLRETURN r = SQLSetStmtAttr(st, SQL_ATTR_QUERY_TIMEOUT, (SQLPOINTER)(SQLULEN)secs, 0);
        if (!SQL_SUCCEEDED(r)) {
            char state[6], msg[900];
            odbc_diag(SQL_HANDLE_STMT, st, state, msg, sizeof msg);
            gg_warn(c->log_tag,
                    "the ODBC driver refuses SQL_ATTR_QUERY_TIMEOUT (%s); the connector cancels statements "
                    "itself after %ld ms",
                    msg, c->opts.timeout_ms);
            o->timeout_mode = TIMEOUT_WATCHDOG;
        } else if (o->timeout_mode == TIMEOUT_UNKNOWN) {
            SQLULEN back = 0;
            if (!SQL_SUCCEEDED(SQLGetStmtAttr(st, SQL_ATTR_QUERY_TIMEOUT, &back, 0, NULL)) ||
                back != (SQLULEN)secs) {
                gg_warn(c->log_tag,
                        "the ODBC driver accepts SQL_ATTR_QUERY_TIMEOUT but does not keep it (reads back %lu, "
                        "not %ld); the connector cancels statements itself after %ld ms",
                        (unsigned long)back, secs, c->opts.timeout_ms);
                o->timeout_mode = TIMEOUT_WATCHDOG;
            } else {
                o->timeout_mode = TIMEOUT_DRIVER;
            }
        }
    }
    if (o->timeout_mode == TIMEOUT_WATCHDOG && watchdog_start(wd, st) != 0) {
        snprintf(out->msg, sizeof out->msg, "cannot start the statement timeout watchdog: %s", strerror(errno));
        out->failed = 1;
        return -1;
    }
    return 0;
}

static void odbc_run(conn *c, odbc_conn *o, const char *sql, int nparams,
                     const char *const *params, conn_row_fn fn, void *ud, conn_run_result *out) {
    memset(out, 0, sizeof *out);
    if (o->sqlite) {
        char why[256];
        if (conn_sqlite_guard(sql, why, sizeof why) != 0) {
            snprintf(out->msg, sizeof out->msg, "refused: %s", why);
            out->failed = 1;
            return;
        }
    }
    odbc_watchdog wd = {0};
    SQLHSTMT st = SQL_NULL_HSTMT;
    SQLLEN *ind = NULL;
    SQLSMALLINT ncols = 0;
    char **names = NULL;
    const char **values = NULL;
    odbc_buf *bufs = NULL;

    if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_STMT, o->dbc, &st))) {
        char state[6], msg[900];
        odbc_diag(SQL_HANDLE_DBC, o->dbc, state, msg, sizeof msg);
        snprintf(out->msg, sizeof out->msg, "cannot allocate a statement: %s", msg);
        out->failed = 1;
        out->lost = odbc_state_is_connection(state) || odbc_dead(o);
        return;
    }
    if (odbc_set_timeout(c, o, st, &wd, out) != 0) goto done;
    if (!SQL_SUCCEEDED(SQLPrepare(st, (SQLCHAR *)sql, SQL_NTS))) {
        odbc_fail_stmt(out, st, "prepare");
        goto done;
    }
    if (nparams > 0) {
        ind = calloc((size_t)nparams, sizeof *ind);
        if (!ind) {
            snprintf(out->msg, sizeof out->msg, "out of memory");
            out->failed = 1;
            goto done;
        }
    }
    for (int i = 0; i < nparams; i++) {
        SQLULEN len = params[i] ? strlen(params[i]) : 0;
        ind[i] = params[i] ? (SQLLEN)len : SQL_NULL_DATA;
        SQLRETURN r = SQLBindParameter(st, (SQLUSMALLINT)(i + 1), SQL_PARAM_INPUT, SQL_C_CHAR,
                                       SQL_VARCHAR, len > 0 ? len : 1, 0, (SQLPOINTER)params[i],
                                       (SQLLEN)len, &ind[i]);
        if (!SQL_SUCCEEDED(r)) {
            char where[48];
            snprintf(where, sizeof where, "bind parameter %d", i + 1);
            odbc_fail_stmt(out, st, where);
            goto done;
        }
    }
    out->sent = 1;
    watchdog_arm(&wd, c->opts.timeout_ms);
    SQLRETURN r = SQLExecute(st);
    int fired = watchdog_disarm(&wd);
    if (r == SQL_NO_DATA && !fired) goto done; /* a searched UPDATE/DELETE that touched no row */
    if (!SQL_SUCCEEDED(r) || fired) {
        if (!odbc_fail_timeout(c, out, st, "execute", fired)) odbc_fail_stmt(out, st, "execute");
        goto done;
    }
    if (!fn) {
        SQLLEN count = 0;
        if (SQL_SUCCEEDED(SQLRowCount(st, &count)) && count > 0) out->affected = (long)count;
        goto done;
    }
    if (!SQL_SUCCEEDED(SQLNumResultCols(st, &ncols))) {
        odbc_fail_stmt(out, st, "count result columns");
        goto done;
    }
    if (ncols <= 0) goto done;
    names = calloc((size_t)ncols, sizeof *names);
    values = calloc((size_t)ncols, sizeof *values);
    bufs = calloc((size_t)ncols, sizeof *bufs);
    if (!names || !values || !bufs) {
        snprintf(out->msg, sizeof out->msg, "out of memory");
        out->failed = 1;
        goto done;
    }
    for (SQLSMALLINT i = 0; i < ncols; i++) {
        SQLCHAR name[256];
        SQLSMALLINT namelen = 0;
        if (!SQL_SUCCEEDED(SQLDescribeCol(st, (SQLUSMALLINT)(i + 1), name, (SQLSMALLINT)sizeof name,
                                          &namelen, NULL, NULL, NULL, NULL))) {
            odbc_fail_stmt(out, st, "describe column");
            goto done;
        }
        if ((size_t)namelen >= sizeof name) namelen = (SQLSMALLINT)(sizeof name - 1);
        names[i] = strndup((const char *)name, (size_t)namelen);
        if (!names[i]) {
            snprintf(out->msg, sizeof out->msg, "out of memory");
            out->failed = 1;
            goto done;
        }
    }
    for (;;) {
        /* The watchdog covers the fetch and the reads, not the callback. */
        watchdog_arm(&wd, c->opts.timeout_ms);
        r = SQLFetch(st);
        if (watchdog_disarm(&wd)) {
            odbc_fail_timeout(c, out, st, "fetch", 1);
            goto done;
        }
        if (r == SQL_NO_DATA) break;
        if (!SQL_SUCCEEDED(r)) {
            if (!odbc_fail_timeout(c, out, st, "fetch", 0)) odbc_fail_stmt(out, st, "fetch");
            goto done;
        }
        for (SQLSMALLINT i = 0; i < ncols; i++) {
            int isnull = 0;
            char state[6], msg[900];
            if (odbc_get_text(st, (SQLUSMALLINT)(i + 1), &bufs[i], &isnull, state, msg,
                              sizeof msg) != 0) {
                snprintf(out->msg, sizeof out->msg, "read column %s: %s", names[i], msg);
                out->failed = 1;
                out->lost = odbc_state_is_connection(state);
                goto done;
            }
            values[i] = isnull ? NULL : bufs[i].data;
        }
        int rc = fn(ud, ncols, (const char *const *)names, values, NULL); /* lengths: measured by whoever needs them */
        out->delivered++;
        if (rc != 0) {
            out->stopped = 1;
            out->rc = rc;
            break;
        }
    }
done:
    watchdog_stop(&wd);
    if (st != SQL_NULL_HSTMT) {
        SQLFreeStmt(st, SQL_CLOSE);
        SQLFreeHandle(SQL_HANDLE_STMT, st);
    }
    if (out->failed && !out->lost && odbc_dead(o)) out->lost = 1;
    for (SQLSMALLINT i = 0; names && i < ncols; i++) free(names[i]);
    for (SQLSMALLINT i = 0; bufs && i < ncols; i++) free(bufs[i].data);
    free(names);
    free(values);
    free(bufs);
    free(ind);
}

/* The ODBC side of the shared retry policy (conn_sql_statement). */
static int odbc_drv_alive(conn *c) { return !odbc_dead(c->impl); }
static int odbc_drv_reconnect(conn *c, char *msg, size_t msgsz) { return odbc_reconnect(c, c->impl, msg, msgsz); }
static void odbc_drv_run(conn *c, const char *sql, int nparams, const char *const *params, conn_row_fn fn,
                         void *ud, conn_run_result *out) {
    odbc_run(c, c->impl, sql, nparams, params, fn, ud, out);
}
static void odbc_drv_mark_broken(conn *c) {
    odbc_conn *o = c->impl;
    if (o->connected) SQLDisconnect(o->dbc);
    o->connected = 0; /* odbc_dead() now reports it: reconnect before the next try */
}

static const conn_sql_driver odbc_driver = {
    .alive = odbc_drv_alive,
    .reconnect = odbc_drv_reconnect,
    .run = odbc_drv_run,
    .mark_broken = odbc_drv_mark_broken,
    .lost_after_send = "connection lost while executing",
};

static int odbc_statement(conn *c, const char *what, const char *sql, int nparams,
                          const char *const *params, conn_row_fn fn, void *ud, long *affected,
                          char *err, size_t errsz) {
    return conn_sql_statement(c, &odbc_driver, what, sql, nparams, params, fn, ud, affected, err, errsz);
}

static int odbc_query(conn *c, const char *sql, int nparams, const char *const *params,
                      conn_row_fn fn, void *ud, char *err, size_t errsz) {
    return odbc_statement(c, "query", sql, nparams, params, fn, ud, NULL, err, errsz);
}

static int odbc_exec(conn *c, const char *sql, int nparams, const char *const *params,
                     long *affected, char *err, size_t errsz) {
    return odbc_statement(c, "exec", sql, nparams, params, NULL, NULL, affected, err, errsz);
}

/* Transactions: autocommit off from begin to the end (the driver opens the
 * transaction at the next statement), SQLEndTran, autocommit on again. A
 * connection found dead at begin is re-established first. */
static int odbc_tx(conn *c, int op, char *err, size_t errsz) {
    odbc_conn *o = c->impl;
    char state[6], msg[1024];
    if (op == CONN_TX_BEGIN) {
        if (odbc_dead(o)) {
            gg_info(c->log_tag, "connection is broken; reconnecting");
            if (odbc_reconnect(c, o, msg, sizeof msg) != 0) return conn_fail(c, err, errsz, "begin failed: %s", msg);
        }
        SQLRETURN r = SQLSetConnectAttr(o->dbc, SQL_ATTR_AUTOCOMMIT, (SQLPOINTER)(uintptr_t)SQL_AUTOCOMMIT_OFF, 0);
        if (!SQL_SUCCEEDED(r)) {
            odbc_diag(SQL_HANDLE_DBC, o->dbc, state, msg, sizeof msg);
            return conn_fail(c, err, errsz, "begin failed: the driver keeps autocommit on: %s", msg);
        }
        return 0;
    }
    int rc = 0;
    if (!o->connected) {
        if (op == CONN_TX_COMMIT) rc = conn_fail(c, err, errsz, "commit refused: the connection broke inside the transaction");
        return rc;
    }
    SQLRETURN r = SQLEndTran(SQL_HANDLE_DBC, o->dbc, op == CONN_TX_COMMIT ? SQL_COMMIT : SQL_ROLLBACK);
    if (!SQL_SUCCEEDED(r) && op == CONN_TX_COMMIT) {
        odbc_diag(SQL_HANDLE_DBC, o->dbc, state, msg, sizeof msg);
        rc = conn_fail(c, err, errsz, "commit failed: %s", msg);
    }
    r = SQLSetConnectAttr(o->dbc, SQL_ATTR_AUTOCOMMIT, (SQLPOINTER)(uintptr_t)SQL_AUTOCOMMIT_ON, 0);
    if (!SQL_SUCCEEDED(r)) odbc_drv_mark_broken(c); /* a fresh connection autocommits */
    return rc;
}

const conn_ops conn_odbc_ops = {
    .open = odbc_open,
    .close = odbc_close,
    .query = odbc_query,
    .exec = odbc_exec,
    .http = NULL,
    .tx = odbc_tx,
};

/* ---- registry entry: `adapter new --kind odbc` texts and the kind ---------- */

/* ODBC: ";PWD={...}" appended, with } doubled. */
static char *odbc_with_password(const char *spec, const char *password) {
    size_t slen = strlen(spec);
    size_t need = slen + 2 * strlen(password) + 16;
    char *out = malloc(need);
    if (!out) return NULL;
    size_t n = (size_t)snprintf(out, need, "%s%sPWD={", spec, slen && spec[slen - 1] == ';' ? "" : ";");
    for (const char *q = password; *q; q++) {
        if (*q == '}') out[n++] = '}';
        out[n++] = *q;
    }
    out[n++] = '}';
    out[n] = '\0';
    return out;
}

/* Passes `gridgate check` unchanged with its stanza (tests/integration/adapter_authoring.sh). */
static const char odbc_skeleton[] =
    "-- @NAME@.lua - gridgate adapter for <the department system> (ODBC).\n"
    "--\n"
    "-- Written by `gridgate adapter new @NAME@ --kind odbc`. Replace the example\n"
    "-- table mz_hhdj (cremation records, 火化登记) and its columns with yours, then\n"
    "--   gridgate adapter test adapters/@NAME@.lua --source @NAME@ --limit 20\n"
    "-- Legacy databases often hold GBK text: set encoding = GBK in the source's\n"
    "-- section: gridgate converts every value to UTF-8, and the SQL text and\n"
    "-- parameters to GBK (write this file in UTF-8).\n"
    "-- The full reference is adapters/README.md.\n"
    "return {\n"
    "  streams = {\n"
    "    cremations = {\n"
    "      kind = \"death\",              -- see README.md for the kinds and their fields\n"
    "      conn = \"db\",                 -- conn.db in the [source @NAME@] section\n"
    "      -- ODBC placeholders are ?; give their values in params = { ... }\n"
    "      sql  = [[SELECT hhbh, sfzhm, xm, csrq, swrq, zt FROM mz_hhdj]],\n"
    "      key  = \"hhbh\",               -- the column with your record key (火化编号)\n"
    "      map  = {\n"
    "        id_no      = \"sfzhm\",                -- 身份证号码\n"
    "        name       = \"xm\",                   -- 姓名\n"
    "        birth_date = date \"csrq\",            -- 出生日期\n"
    "        death_date = date \"swrq\",            -- 死亡日期: 20240312, 2024/3/12, ...\n"
    "        basis      = const \"cremation\",      -- what the death rests on\n"
    "        -- a code table: an unlisted code rejects the record (add default = ...)\n"
    "        revoked    = code(\"zt\", { [\"0\"] = \"false\", [\"1\"] = \"true\" }),\n"
    "      },\n"
    "      -- A row function sees each row (r.col is the column's text, UTF-8) after\n"
    "      -- the map. Return a table of fields to add or override, nil to skip the\n"
    "      -- row, or false, \"reason\" to reject it.\n"
    "      -- row = function(r)\n"
    "      --   if r.hhrq == nil then return false, \"no cremation date (hhrq)\" end\n"
    "      --   return { address = r.hjdz }\n"
    "      -- end,\n"
    "    },\n"
    "  },\n"
    "\n"
    "  -- push writes one alert back (only if [route] sends alerts here); it must\n"
    "  -- be idempotent on alert.id.\n"
    "  -- push = function(alert, conns)\n"
    "  --   conns.db:exec([[INSERT INTO mz_yjxx (yjbh, sfzhm, yjlx, je, sm) VALUES (?, ?, ?, ?, ?)\n"
    "  --                   ON CONFLICT (yjbh) DO UPDATE SET je = excluded.je, sm = excluded.sm]],\n"
    "  --                 { alert.id, alert.id_no, alert.rule, alert.amount_yuan, alert.summary })\n"
    "  -- end,\n"
    "}\n";

static const char odbc_stanza[] =
    "[source @NAME@]\n"
    "; the adapter file, relative to this config file's directory\n"
    "adapter = @PATH@\n"
    "; the department's name in alert explanations, e.g. 民政殡葬\n"
    "label = @NAME@\n"
    "; text encoding of the database (UTF-8 unless set; legacy systems: GBK or GB18030)\n"
    "; encoding = GBK\n"
    "; an ODBC connection string: Driver=...;... or DSN=... from /etc/odbc.ini\n"
    "conn.db = odbc:Driver=SQLite3;Database=/srv/legacy/@NAME@.db\n"
    "; conn.db.password_file = secrets/@NAME@.pw\n";

const conn_kind conn_odbc_kind = {
    .prefix = "odbc",
    .type = CONN_ODBC,
    .ops = &conn_odbc_ops,
    .takes_password = 1,
    .takes_token = 0,
    .streams = CONN_SERVES_SQL,
    .params = CONN_PARAMS_QMARK,
    .with_password = odbc_with_password,
    .skeleton = odbc_skeleton,
    .stanza = odbc_stanza,
    .help = "odbc:<connection string>     ODBC (unixODBC): Driver=...;... or DSN=...; placeholders ?",
};
