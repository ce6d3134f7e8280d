/* conn/pg.c - PostgreSQL connector (libpq).
 *
 * Rows are streamed in text format, so memory does not grow with the table: a
 * SELECT (or WITH) without parameters as COPY (<query>) TO STDOUT, one line
 * a row (see "queries through COPY" below); a SELECT with parameters, or one
 * COPY refuses, through a cursor, 1000 rows a result (see "queries through a
 * cursor"); every other statement, or one the cursor refuses too, in
 * single-row mode (PQsendQueryParams + PQsetSingleRowMode). Each way hands
 * the callback the same names and the same text values. The client encoding is
 * left as the server/conninfo sets it: values reach the callback as the server
 * sends them.
 *
 * Timeouts: the session's statement_timeout is set to timeout_ms right after
 * every connect and reset (SET, checked), so the server itself cancels a
 * statement that runs longer, including a long streamed pull. On top, the
 * client waits at most timeout_ms for the server without any progress; then
 * the statement is cancelled; if even the cancel goes unanswered the
 * connection is dropped and re-established on the next call. A callback
 * that stops early cancels what is still running (COPY, single-row mode)
 * and the rest is read and dropped, so the connection stays usable.
 *
 * Broken connections: before each statement an idle connection is probed, and
 * a dead one is reset (PQreset) before anything is sent. A query that fails
 * because the connection was lost is retried (with backoff, after a reset) only
 * when no row was delivered yet, so the callback never sees a row twice. An
 * exec that lost its connection after the statement was sent is not retried:
 * whether it was applied is unknown, and the error says so.
 *
 * Statements sent (conn_send) inside a transaction are queued in pipeline
 * mode and their results read together (see "statements sent"). */
#include <errno.h>
#include <limits.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conn/conn_internal.h"
#include "core/log.h"

#define PG_STR_(x) #x
#define PG_STR(x) PG_STR_(x)

typedef struct pg_conn {
    PGconn *pg;  /* owned; never NULL after a successful open */
    int broken;  /* 1 when the socket state is unknown and a reset is needed */
    int reading; /* a query is being read through a cursor (pipeline mode) */
    int piped;   /* statements sent by pg_send whose results are not read yet (pipeline mode) */
    char pipe_err[1024]; /* the first of them that failed in this transaction, or "" */
} pg_conn;

/* Server notices go to the debug log (first line only, secrets masked). */
static void pg_notice(void *arg, const char *message) {
    conn *c = arg;
    char line[512];
    conn_first_line(message, line, sizeof line);
    conn_scrub(c, line, sizeof line);
    gg_debug(c->log_tag, "server notice: %s", line);
}

/* Connection failures that another attempt will not fix. */
static int pg_connect_error_is_permanent(PGconn *pg, const char *msg) {
    if (PQconnectionNeedsPassword(pg)) return 1;
    return strstr(msg, "authentication failed") || strstr(msg, "does not exist") ||
           strstr(msg, "no pg_hba.conf entry") || strstr(msg, "invalid ");
}

/* Session settings after a connect or reset: statement_timeout = timeout_ms.
 * 0, or -1 with msg set. */
static int pg_session_setup(conn *c, pg_conn *p, char *msg, size_t msgsz) {
    char sql[64];
    snprintf(sql, sizeof sql, "SET statement_timeout = %ld", c->opts.timeout_ms);
    PGresult *r = PQexec(p->pg, sql);
    int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) {
        char line[400];
        conn_first_line(r ? PQresultErrorMessage(r) : PQerrorMessage(p->pg), line, sizeof line);
        snprintf(msg, msgsz, "cannot set statement_timeout: %s", line);
    }
    PQclear(r);
    return ok ? 0 : -1;
}

static int pg_open(conn *c, const char *target, char *err, size_t errsz) {
    /* Learn the password (if any) so it can be masked in every message. The
     * parser's own message may quote parts of the conninfo, so it is not shown. */
    char *perr = NULL;
    PQconninfoOption *info = PQconninfoParse(target, &perr);
    if (!info) {
        PQfreemem(perr);
        return conn_fail(c, err, errsz, "invalid libpq connection string after \"pg:\"");
    }
    for (PQconninfoOption *o = info; o->keyword; o++)
        if (strcmp(o->keyword, "password") == 0 && o->val) conn_add_secret(c, o->val);
    PQconninfoFree(info);

    pg_conn *p = calloc(1, sizeof *p);
    if (!p) return conn_fail(c, err, errsz, "out of memory");
    c->impl = p;

    /* Our defaults come first: whatever the conninfo says overrides them. */
    char connect_timeout[24];
    long secs = (c->opts.timeout_ms + 999) / 1000;
    snprintf(connect_timeout, sizeof connect_timeout, "%ld", secs < 2 ? 2L : secs);
    const char *keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *vals[] = {connect_timeout, "gridgate", target, NULL};

    for (int attempt = 0;; attempt++) {
        p->pg = PQconnectdbParams(keys, vals, 1);
        if (!p->pg) return conn_fail(c, err, errsz, "connect failed: out of memory");
        if (PQstatus(p->pg) == CONNECTION_OK) break;
        char msg[512];
        conn_first_line(PQerrorMessage(p->pg), msg, sizeof msg);
        int permanent = pg_connect_error_is_permanent(p->pg, msg);
        PQfinish(p->pg);
        p->pg = NULL;
        if (permanent || attempt >= c->opts.retries)
            return conn_fail(c, err, errsz, "connect failed: %s", msg);
        conn_retry_pause(c, "connect", attempt, msg, sizeof msg);
    }
    PQsetNoticeProcessor(p->pg, pg_notice, c);
    char msg[512];
    if (pg_session_setup(c, p, msg, sizeof msg) != 0) return conn_fail(c, err, errsz, "%s", msg);
    return 0;
}

static void pg_close(conn *c) {
    pg_conn *p = c->impl;
    if (!p) return;
    if (p->pg) PQfinish(p->pg);
    free(p);
    c->impl = NULL;
}

/* 1 when the connection looks usable: status OK and, if the socket has
 * something to read while idle (e.g. the server said goodbye), reading it
 * leaves the connection intact. */
static int pg_alive(pg_conn *p) {
    if (p->broken || PQstatus(p->pg) != CONNECTION_OK) return 0;
    int fd = PQsocket(p->pg);
    if (fd < 0) return 0;
    /* A server that shut down sends a goodbye message and then closes: the
     * first read takes the message, a later one sees the end of the stream.
     * Read while there is something to read (bounded). */
    for (int i = 0; i < 8; i++) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 0) <= 0) break;
        if (!PQconsumeInput(p->pg)) return 0;
        PGnotify *n;
        while ((n = PQnotifies(p->pg)) != NULL) PQfreemem(n);
        if (PQstatus(p->pg) != CONNECTION_OK) return 0;
    }
    return PQstatus(p->pg) == CONNECTION_OK;
}

/* Reset the connection; 0 when it is usable again, else -1 with msg set. */
static int pg_reset(conn *c, pg_conn *p, char *msg, size_t msgsz) {
    PQreset(p->pg);
    if (PQstatus(p->pg) != CONNECTION_OK) {
        conn_first_line(PQerrorMessage(p->pg), msg, msgsz);
        return -1;
    }
    p->broken = 0;
    if (PQpipelineStatus(p->pg) != PQ_PIPELINE_OFF && !PQexitPipelineMode(p->pg)) {
        conn_first_line(PQerrorMessage(p->pg), msg, msgsz);
        return -1;
    }
    PQsetNoticeProcessor(p->pg, pg_notice, c);
    return pg_session_setup(c, p, msg, msgsz);
}

/* Ask the server to cancel the running statement (best effort). */
static void pg_cancel(conn *c, pg_conn *p) {
    PGcancel *cancel = PQgetCancel(p->pg);
    if (!cancel) return;
    char buf[256];
    if (!PQcancel(cancel, buf, sizeof buf)) {
        char line[256];
        conn_first_line(buf, line, sizeof line);
        gg_debug(c->log_tag, "cancel request failed: %s", line);
    }
    PQfreeCancel(cancel);
}

enum { WAIT_READY = 0, WAIT_TIMED_OUT_CANCELLED = 1, WAIT_DEAD = -1 };

/* Waits until PQgetResult will not block. Without progress for timeout_ms the
 * statement is cancelled once (*cancelled set) and we wait another timeout_ms;
 * returns WAIT_DEAD when even that passes or the socket fails. */
static int pg_wait(conn *c, pg_conn *p, int *cancelled) {
    int64_t deadline = 0; /* set when a wait begins: most rows are buffered already */
    while (PQisBusy(p->pg)) {
        if (!deadline) deadline = conn_now_ms() + c->opts.timeout_ms;
        int fd = PQsocket(p->pg);
        if (fd < 0) return WAIT_READY; /* PQgetResult reports the failure */
        int64_t left = deadline - conn_now_ms();
        if (left <= 0) {
            if (*cancelled) return WAIT_DEAD;
            pg_cancel(c, p);
            *cancelled = 1;
            deadline = conn_now_ms() + c->opts.timeout_ms;
            continue;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (r < 0) {
            if (errno == EINTR) continue;
            return WAIT_DEAD;
        }
        if (r == 0) continue;
        if (!PQconsumeInput(p->pg)) return WAIT_READY; /* error result follows */
        deadline = conn_now_ms() + c->opts.timeout_ms;   /* progress */
    }
    return WAIT_READY;
}

/* Row delivery shared by both ways of reading rows. */
typedef struct pg_rows {
    conn_row_fn fn;
    void *ud;
    const char **names, **values; /* per column, for the callback; reused */
    size_t *lens;                 /* strlen of each value (0 for NULL) */
    int ncols;
} pg_rows;

/* Sizes rw's arrays for n columns. -1 when out of memory (out->failed set). */
static int pg_rows_size(pg_rows *rw, int n, conn_run_result *out) {
    if (!rw->names || n != rw->ncols) {
        free(rw->names);
        free(rw->values);
        free(rw->lens);
        rw->ncols = n;
        rw->names = malloc(sizeof *rw->names * (size_t)(n > 0 ? n : 1));
        rw->values = malloc(sizeof *rw->values * (size_t)(n > 0 ? n : 1));
        rw->lens = malloc(sizeof *rw->lens * (size_t)(n > 0 ? n : 1));
        if (!rw->names || !rw->values || !rw->lens) {
            free(rw->names);
            free(rw->values);
            free(rw->lens);
            rw->names = rw->values = NULL;
            rw->lens = NULL;
            snprintf(out->msg, sizeof out->msg, "out of memory");
            out->failed = 1;
            return -1;
        }
    }
    return 0;
}

/* Hands r's rows to the callback until it stops (out->stopped, out->rc).
 * -1 when out of memory (out->failed set). */
static int pg_deliver(pg_rows *rw, PGresult *r, conn_run_result *out) {
    int n = PQnfields(r);
    if (pg_rows_size(rw, n, out)) return -1;
    for (int i = 0; i < n; i++) rw->names[i] = PQfname(r, i);
    int ntup = PQntuples(r);
    for (int t = 0; t < ntup && !out->stopped && !out->failed; t++) {
        for (int i = 0; i < n; i++) {
            const char *v = PQgetvalue(r, t, i); /* "" for a NULL: only then is it asked */
            rw->values[i] = !*v && PQgetisnull(r, t, i) ? NULL : v;
            rw->lens[i] = rw->values[i] ? (size_t)PQgetlength(r, t, i) : 0; /* text format: strlen's value */
        }
        int rc = rw->fn(rw->ud, n, rw->names, rw->values, rw->lens);
        out->delivered++;
        if (rc != 0) {
            out->stopped = 1;
            out->rc = rc;
        }
    }
    return 0;
}

/* An error result: out->msg and out->failed from it (the first error only);
 * *server_timeout when the server cancelled it (statement_timeout), not we. */
static void pg_take_error(PGresult *r, ExecStatusType st, int cancelled, int *server_timeout,
                          conn_run_result *out) {
    if (out->stopped || out->failed) return;
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    if (state && strcmp(state, "57014") == 0 && !cancelled)
        *server_timeout = 1; /* query_canceled, not by us: statement_timeout */
    conn_first_line(PQresultErrorMessage(r), out->msg, sizeof out->msg);
    if (!out->msg[0]) snprintf(out->msg, sizeof out->msg, "%s", PQresStatus(st));
    out->failed = 1;
}

/* The message of a failed statement, as its way of failing words it. */
static void pg_finish(conn *c, pg_conn *p, int server_timeout, int timed_out, conn_run_result *out) {
    if (out->stopped) {
        out->failed = 0; /* the cancel's own error is expected */
        return;
    }
    if (server_timeout && out->failed && !timed_out)
        snprintf(out->msg, sizeof out->msg,
                 "timed out: the statement ran longer than %ld ms (statement_timeout; cancelled by the server)",
                 c->opts.timeout_ms);
    else if (timed_out && out->failed && !p->broken)
        snprintf(out->msg, sizeof out->msg,
                 "timed out: no answer from the server within %ld ms (statement cancelled)",
                 c->opts.timeout_ms);
    if (out->failed && (p->broken || PQstatus(p->pg) != CONNECTION_OK)) out->lost = 1;
}

/* Single-row mode: every statement other than a query read through a cursor. */
static void pg_run_rows(conn *c, pg_conn *p, const char *sql, int nparams, const char *const *params,
                        pg_rows *rw, conn_run_result *out) {
    memset(out, 0, sizeof *out);
    if (!PQsendQueryParams(p->pg, sql, nparams, NULL, params, NULL, NULL, 0)) {
        conn_first_line(PQerrorMessage(p->pg), out->msg, sizeof out->msg);
        out->failed = 1;
        out->lost = PQstatus(p->pg) != CONNECTION_OK;
        return;
    }
    out->sent = 1;
    if (rw && !PQsetSingleRowMode(p->pg))
        gg_debug(c->log_tag, "single-row mode refused; rows arrive in one result");

    int cancelled = 0, timed_out = 0, server_timeout = 0;
    for (;;) {
        int w = pg_wait(c, p, &cancelled);
        if (cancelled && !out->stopped) timed_out = 1;
        if (w == WAIT_DEAD) {
            /* The server does not answer even a cancel: drop the connection. */
            p->broken = 1;
            if (!out->failed) {
                snprintf(out->msg, sizeof out->msg,
                         "no answer from the server within %ld ms, even after a cancel",
                         c->opts.timeout_ms);
                out->failed = 1;
            }
            break;
        }
        PGresult *r = PQgetResult(p->pg);
        if (!r) break;
        ExecStatusType st = PQresultStatus(r);
        if (rw && (st == PGRES_SINGLE_TUPLE || (st == PGRES_TUPLES_OK && PQntuples(r) > 0))) {
            if (!out->stopped && !out->failed) {
                if (pg_deliver(rw, r, out)) pg_cancel(c, p); /* drain the rest without delivering it */
                else if (out->stopped) pg_cancel(c, p);      /* the remaining rows are not wanted */
            }
        } else if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
            const char *t = PQcmdTuples(r);
            out->affected = (t && *t) ? strtol(t, NULL, 10) : 0;
        } else if (st == PGRES_EMPTY_QUERY) {
            /* nothing to do */
        } else {
            pg_take_error(r, st, cancelled, &server_timeout, out);
        }
        PQclear(r);
    }
    pg_finish(c, p, server_timeout, timed_out, out);
}

/* ---- queries through a cursor ------------------------------------------------
 * In single-row mode libpq makes a result per row (allocated, the column
 * descriptions copied into it, freed), most of the cost of a row at scale.
 * A query that is a SELECT, run while no transaction is open, and not read
 * through COPY (it has parameters, or COPY refused it) is read instead
 * through a cursor in a transaction of its own, PG_FETCH_ROWS rows a result:
 * BEGIN, SET LOCAL cursor_tuple_fraction = 1 (the plain query's plan),
 * DECLARE ... CURSOR FOR <query> (with its parameters) and the first
 * FETCH go out together (pipeline mode: one round trip); each full batch sends
 * the next FETCH before its rows are handed over, so the server reads ahead
 * while the callback works; COMMIT at the end (ROLLBACK when the callback
 * stopped or anything failed). Same rows, order and text values.
 *  - Timeouts: the first statements run under the session's statement_timeout;
 *    every further FETCH under what is left of timeout_ms since the query was
 *    sent (SET LOCAL), and none is sent once it is spent: the read as a whole
 *    is bounded as the single statement was, with the same message. A
 *    statement without progress for timeout_ms is cancelled as before.
 *  - A query the cursor refuses (its DECLARE fails: e.g. not a plain SELECT)
 *    is rolled back and run again in single-row mode, so that its error, or
 *    its rows, are what they were; nothing was delivered by then.
 *  - The callback stopping: the rows read ahead are dropped, no cancel is
 *    needed (the cursor has nothing running but at most one FETCH). */
#define PG_FETCH_ROWS 1000
#define PG_CURSOR "gg_rows"

enum { PQ_Q_BEGIN, PQ_Q_DECLARE, PQ_Q_SET, PQ_Q_FETCH, PQ_Q_END, PQ_Q_SYNC };

/* 1 when sql's first word (past blanks and comments) is `word` (lower case). */
static int pg_first_word_is(const char *sql, const char *word) {
    const char *q = sql;
    for (;;) {
        while (*q == ' ' || (*q >= '\t' && *q <= '\r')) q++;
        if (q[0] == '-' && q[1] == '-') {
            while (*q && *q != '\n') q++;
        } else if (q[0] == '/' && q[1] == '*') {
            const char *e = strstr(q + 2, "*/");
            if (!e) return 0;
            q = e + 2;
        } else
            break;
    }
    size_t wl = strlen(word);
    if (strncasecmp(q, word, wl) != 0) return 0;
    char n = q[wl];
    return !((n >= 'a' && n <= 'z') || (n >= 'A' && n <= 'Z') || (n >= '0' && n <= '9') || n == '_' || n == '$' ||
             (unsigned char)n >= 0x80);
}

static int pg_is_select(const char *sql) { return pg_first_word_is(sql, "select"); }

typedef struct pg_cursor {
    int q[16];         /* kinds of the statements sent, awaiting their results (a ring) */
    unsigned head, tail;
    int64_t t0;        /* when the query was sent */
    int at_end;        /* a FETCH returned fewer rows than asked: the cursor is read */
    int ahead;         /* a FETCH is queued beyond the batch being delivered */
    int error_kind;    /* the statement whose error is in out->msg, or -1 */
    int cancelled, timed_out, server_timeout;
} pg_cursor;

static int pg_cur_send(pg_conn *p, pg_cursor *k, int kind, const char *sql, int nparams,
                       const char *const *params) {
    int ok = kind == PQ_Q_SYNC ? PQpipelineSync(p->pg)
                               : PQsendQueryParams(p->pg, sql, nparams, NULL, params, NULL, NULL, 0);
    if (!ok) return -1;
    k->q[k->tail++ % 16] = kind;
    return 0;
}

/* Queues the next FETCH (and its statement_timeout) when time is left;
 * else the read has run out of time, as a statement_timeout would say. */
static int pg_cur_fetch_next(conn *c, pg_conn *p, pg_cursor *k, conn_run_result *out) {
    long left = c->opts.timeout_ms - (long)(conn_now_ms() - k->t0);
    if (left <= 0) {
        if (!out->failed) {
            snprintf(out->msg, sizeof out->msg, "canceling statement due to statement timeout");
            out->failed = 1;
            k->server_timeout = 1;
        }
        return 0;
    }
    char set[64];
    snprintf(set, sizeof set, "SET LOCAL statement_timeout = %ld", left);
    if (pg_cur_send(p, k, PQ_Q_SET, set, 0, NULL) ||
        pg_cur_send(p, k, PQ_Q_FETCH, "FETCH " PG_STR(PG_FETCH_ROWS) " FROM " PG_CURSOR, 0, NULL) ||
        pg_cur_send(p, k, PQ_Q_SYNC, NULL, 0, NULL))
        return -1;
    k->ahead = 1;
    return 0;
}

/* Reads the results of everything queued. -1 when the connection failed
 * (out->failed set). */
static int pg_cur_read(conn *c, pg_conn *p, pg_cursor *k, pg_rows *rw, conn_run_result *out) {
    while (k->head != k->tail) {
        int w = pg_wait(c, p, &k->cancelled);
        if (k->cancelled && !out->stopped) k->timed_out = 1;
        if (w == WAIT_DEAD) {
            p->broken = 1;
            if (!out->failed) {
                snprintf(out->msg, sizeof out->msg,
                         "no answer from the server within %ld ms, even after a cancel", c->opts.timeout_ms);
                out->failed = 1;
            }
            return -1;
        }
        int kind = k->q[k->head % 16];
        PGresult *r = PQgetResult(p->pg);
        if (!r) {
            if (kind == PQ_Q_SYNC || PQstatus(p->pg) != CONNECTION_OK) {
                /* no sync to come: the connection failed */
                p->broken = 1;
                if (!out->failed) {
                    conn_first_line(PQerrorMessage(p->pg), out->msg, sizeof out->msg);
                    if (!out->msg[0]) snprintf(out->msg, sizeof out->msg, "connection lost");
                    out->failed = 1;
                }
                return -1;
            }
            k->head++; /* this statement's results are complete */
            continue;
        }
        ExecStatusType st = PQresultStatus(r);
        if (kind == PQ_Q_SYNC) {
            if (st == PGRES_PIPELINE_SYNC) k->head++;
        } else if (st == PGRES_PIPELINE_ABORTED) {
            /* skipped after an earlier error */
        } else if (st == PGRES_TUPLES_OK && kind == PQ_Q_FETCH) {
            k->ahead = 0;
            int n = PQntuples(r);
            if (n < PG_FETCH_ROWS) k->at_end = 1;
            else if (!out->stopped && !out->failed && pg_cur_fetch_next(c, p, k, out)) {
                PQclear(r);
                goto send_failed;
            }
            if (!out->stopped && !out->failed && n > 0) pg_deliver(rw, r, out);
        } else if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
            if (!out->stopped && !out->failed) k->error_kind = kind;
            pg_take_error(r, st, k->cancelled, &k->server_timeout, out);
        }
        PQclear(r);
    }
    return 0;
send_failed:
    if (!out->failed) {
        conn_first_line(PQerrorMessage(p->pg), out->msg, sizeof out->msg);
        out->failed = 1;
    }
    p->broken = 1;
    return -1;
}

/* 0 when the query was read through a cursor (out says how it went), 1 when
 * it is to run in single-row mode instead (nothing delivered, out cleared). */
static int pg_run_cursor(conn *c, pg_conn *p, const char *sql, int nparams, const char *const *params,
                         pg_rows *rw, conn_run_result *out) {
    memset(out, 0, sizeof *out);
    if (PQtransactionStatus(p->pg) != PQTRANS_IDLE || !pg_is_select(sql)) return 1;
    size_t dn = strlen(sql) + sizeof "DECLARE " PG_CURSOR " NO SCROLL CURSOR FOR ";
    char *decl = malloc(dn);
    if (!decl) return 1;
    snprintf(decl, dn, "DECLARE " PG_CURSOR " NO SCROLL CURSOR FOR %s", sql);
    if (!PQenterPipelineMode(p->pg)) {
        free(decl);
        return 1;
    }
    pg_cursor k = {.t0 = conn_now_ms(), .error_kind = -1};
    /* cursor_tuple_fraction = 1: the planner costs the cursor's query for
     * all its rows, as it does the plain query, not for the first tenth (the
     * default makes it favour fast-start plans, e.g. an index walk instead of
     * a scan and a sort: an incremental read of 10k rows in 1M walked the
     * whole (gxsj, key) index, 600 ms against 18 ms) */
    int sent = !pg_cur_send(p, &k, PQ_Q_BEGIN, "BEGIN", 0, NULL) &&
               !pg_cur_send(p, &k, PQ_Q_SET, "SET LOCAL cursor_tuple_fraction = 1", 0, NULL) &&
               !pg_cur_send(p, &k, PQ_Q_DECLARE, decl, nparams, params) &&
               !pg_cur_send(p, &k, PQ_Q_FETCH, "FETCH " PG_STR(PG_FETCH_ROWS) " FROM " PG_CURSOR, 0, NULL) &&
               !pg_cur_send(p, &k, PQ_Q_SYNC, NULL, 0, NULL);
    free(decl);
    if (!sent) {
        conn_first_line(PQerrorMessage(p->pg), out->msg, sizeof out->msg);
        out->failed = 1;
        out->lost = PQstatus(p->pg) != CONNECTION_OK;
        p->broken = 1; /* the pipeline's state is unknown: reset before the next statement */
        return 0;
    }
    out->sent = 1;
    int rc = pg_cur_read(c, p, &k, rw, out);
    /* the DECLARE refused the query (no cancel, no timeout): single-row mode
     * says what it says of it */
    int fallback = rc == 0 && out->failed && k.error_kind == PQ_Q_DECLARE && !k.cancelled &&
                   !k.server_timeout && out->delivered == 0;
    if (rc == 0) {
        int commit = !out->failed && !out->stopped && k.at_end;
        conn_run_result end = {0};
        pg_cursor ke = {.t0 = k.t0, .error_kind = -1};
        if (pg_cur_send(p, &ke, PQ_Q_END, commit ? "COMMIT" : "ROLLBACK", 0, NULL) ||
            pg_cur_send(p, &ke, PQ_Q_SYNC, NULL, 0, NULL) || pg_cur_read(c, p, &ke, NULL, &end)) {
            p->broken = 1;
            fallback = 0;
            if (!out->failed && !out->stopped) {
                snprintf(out->msg, sizeof out->msg, "%s", end.msg[0] ? end.msg : "connection lost");
                out->failed = 1;
            }
        } else if (end.failed && !out->failed && !out->stopped) {
            /* COMMIT failed: the statement did not succeed */
            memcpy(out->msg, end.msg, sizeof out->msg);
            out->failed = 1;
        }
        if (ke.timed_out) k.timed_out = 1;
    }
    if (!PQexitPipelineMode(p->pg)) p->broken = 1;
    if (fallback && !p->broken) {
        memset(out, 0, sizeof *out);
        return 1;
    }
    pg_finish(c, p, k.server_timeout, k.timed_out, out);
    return 0;
}

/* ---- queries through COPY ----------------------------------------------------
 * A query without parameters that is a SELECT (or WITH), run while no
 * transaction is open, is read as COPY (<query>) TO STDOUT in text format:
 * the server sends every row as one line, with no per-row result for libpq
 * to build and no FETCH round trips; it is the floor
 * the pulls are measured against. Its column names come first, without
 * running it: the query is parsed as the unnamed statement and described
 * (two short round trips; nothing is planned). The COPY itself goes out with
 * PQsendQueryParams (extended protocol: one statement only, whatever the
 * text holds). Each line is split at its tabs in the buffer PQgetCopyData
 * returned and decoded there (a decoded field is never longer than its
 * text): \N is NULL, backslash escapes are undone; most fields have none and
 * are only cut off. COPY prints each value with its type's output function,
 * so the callback sees the very bytes the text-format SELECT gives, with the
 * same column names.
 *  - Timeouts: the COPY is one statement, under the session's
 *    statement_timeout; without progress for timeout_ms it is cancelled
 *    once, then the connection is given up (same messages as the cursor).
 *  - The callback stopping: the COPY is cancelled and the rest of its lines
 *    read and dropped, so the connection stays usable.
 *  - A query that COPY refuses before sending a row (the parse or the
 *    describe fails, or the COPY does: SELECT INTO; a text ending in a
 *    semicolon and a comment, which ends the query inside "COPY (...)";
 *    FOR UPDATE is taken, as of PostgreSQL 15) is read through the cursor
 *    instead, which itself falls back to single-row mode: its rows, or its
 *    error, are what they were (nothing has run: a refusal rolls back). A query
 *    with parameters (an incremental read, a lookup) goes to the cursor
 *    directly. */

typedef struct pg_copy {
    int cancelled, timed_out, server_timeout;
    int started; /* the server began sending rows (PGRES_COPY_OUT) */
} pg_copy;

/* Splits a COPY text line without a backslash (no escapes, no \N): each
 * field ends at its tab, found with memchr. As pg_copy_split. */
static int pg_copy_split_plain(char *r, char *end, int ncols, const char **values, size_t *lens) {
    for (int i = 0; i < ncols; i++) {
        char *t = memchr(r, '\t', (size_t)(end - r));
        int last = i == ncols - 1;
        if (last ? t != NULL : t == NULL) return -1; /* fewer or more fields than columns */
        if (!t) t = end;
        *t = '\0';
        values[i] = r;
        lens[i] = (size_t)(t - r);
        r = t + 1;
    }
    return ncols == 0 && r != end ? -1 : 0;
}

/* Splits one COPY text line (len bytes, the last a newline; libpq puts a
 * NUL after them) into ncols fields in place: each is NUL-terminated where
 * its tab or the newline was, and decoded; values[i] is NULL for \N, and
 * lens[i] its strlen (0 for NULL: a decoded \000 ends the value there). 0,
 * or -1 when the line does not hold ncols fields. Most lines have no
 * backslash at all: they are split by pg_copy_split_plain. */
static int pg_copy_split(char *buf, size_t len, int ncols, const char **values, size_t *lens) {
    char *r = buf, *end = buf + len;
    if (r < end && end[-1] == '\n') end--;
    if (ncols > 0 && !memchr(r, '\\', (size_t)(end - r))) return pg_copy_split_plain(r, end, ncols, values, lens);
    for (int i = 0; i < ncols; i++) {
        char *s = r;
        while (r < end && *r != '\t' && *r != '\\') r++;
        char *w = r; /* where the decoded field ends */
        if (r < end && *r == '\\') {
            if (r == s && r + 1 < end && r[1] == 'N' && (r + 2 == end || r[2] == '\t')) {
                s = NULL; /* \N alone: SQL NULL */
                r += 2;
            } else {
                while (r < end && *r != '\t') {
                    unsigned char ch = (unsigned char)*r++;
                    if (ch == '\\' && r < end) {
                        ch = (unsigned char)*r++;
                        switch (ch) {
                        case 'b': ch = '\b'; break;
                        case 'f': ch = '\f'; break;
                        case 'n': ch = '\n'; break;
                        case 'r': ch = '\r'; break;
                        case 't': ch = '\t'; break;
                        case 'v': ch = '\v'; break;
                        case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7': {
                            unsigned v = ch - '0'; /* up to three octal digits */
                            for (int d = 1; d < 3 && r < end && *r >= '0' && *r <= '7'; d++)
                                v = (v << 3) + (unsigned)(*r++ - '0');
                            ch = (unsigned char)(v & 0xff);
                            break;
                        }
                        case 'x': { /* up to two hex digits; \x alone is x */
                            unsigned v = 0;
                            int d = 0;
                            for (; d < 2 && r < end; d++) {
                                char h = *r;
                                if (h >= '0' && h <= '9') v = (v << 4) + (unsigned)(h - '0');
                                else if (h >= 'a' && h <= 'f') v = (v << 4) + (unsigned)(h - 'a' + 10);
                                else if (h >= 'A' && h <= 'F') v = (v << 4) + (unsigned)(h - 'A' + 10);
                                else break;
                                r++;
                            }
                            if (d) ch = (unsigned char)v;
                            break;
                        }
                        default: break; /* \\ and any other: the character itself */
                        }
                    }
                    *w++ = (char)ch;
                }
            }
        }
        int more = r < end; /* stopped at a tab */
        if (s) *w = '\0';   /* w <= r: never past the tab still to be looked at */
        values[i] = s;
        lens[i] = s ? strlen(s) : 0;
        if (more != (i < ncols - 1)) return -1;
        r += more;
    }
    return ncols == 0 && r != end ? -1 : 0;
}

/* The connection is given up (marked broken; -1 returned): the server did
 * not answer even a cancel (silent), or libpq says why. The first failure's
 * message stays. */
static int pg_copy_give_up(conn *c, pg_conn *p, int silent, conn_run_result *out) {
    if (!out->failed && !out->stopped) {
        if (silent) {
            snprintf(out->msg, sizeof out->msg, "no answer from the server within %ld ms, even after a cancel",
                     c->opts.timeout_ms);
        } else {
            conn_first_line(PQerrorMessage(p->pg), out->msg, sizeof out->msg);
            if (!out->msg[0]) snprintf(out->msg, sizeof out->msg, "connection lost");
        }
        out->failed = 1;
    }
    p->broken = 1;
    return -1;
}

/* Reads the results of the statement sent until libpq has none left, or up
 * to a COPY_OUT one (k->started, 1 returned: the rows follow). The first
 * successful result is kept in *keep when keep is given (the caller clears
 * it); errors go to out. 0, or -1 when the server did not answer even a
 * cancel (connection marked broken). */
static int pg_copy_results(conn *c, pg_conn *p, pg_copy *k, PGresult **keep, conn_run_result *out) {
    for (;;) {
        int w = pg_wait(c, p, &k->cancelled);
        if (k->cancelled && !out->stopped) k->timed_out = 1;
        if (w == WAIT_DEAD) return pg_copy_give_up(c, p, 1, out);
        PGresult *r = PQgetResult(p->pg);
        if (!r) return 0;
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_COPY_OUT) {
            PQclear(r);
            k->started = 1;
            return 1;
        }
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
            if (keep && !*keep) {
                *keep = r;
                continue;
            }
        } else {
            pg_take_error(r, st, k->cancelled, &k->server_timeout, out);
        }
        PQclear(r);
    }
}

/* Reads the COPY's lines and hands each to the callback as a row, until the
 * COPY ends; after a stop (or a bad line) the COPY is cancelled and the
 * rest dropped. Waits at most timeout_ms without progress, cancels once,
 * then gives up (-1, connection marked broken); -1 too when the connection
 * failed. */
static int pg_copy_read(conn *c, pg_conn *p, pg_copy *k, pg_rows *rw, conn_run_result *out) {
    int64_t deadline = 0; /* set when a wait begins */
    for (;;) {
        char *buf = NULL;
        int n = PQgetCopyData(p->pg, &buf, 1);
        if (n > 0) {
            deadline = 0;
            if (!out->stopped && !out->failed) {
                if (pg_copy_split(buf, (size_t)n, rw->ncols, rw->values, rw->lens) != 0) {
                    snprintf(out->msg, sizeof out->msg, "a COPY line without its %d fields", rw->ncols);
                    out->failed = 1;
                    pg_cancel(c, p);
                } else {
                    int rc = rw->fn(rw->ud, rw->ncols, rw->names, rw->values, rw->lens);
                    out->delivered++;
                    if (rc != 0) {
                        out->stopped = 1;
                        out->rc = rc;
                        pg_cancel(c, p); /* the remaining rows are not wanted */
                    }
                }
            }
            PQfreemem(buf);
            continue;
        }
        if (n == -1) return 0; /* the COPY ended: its result follows */
        if (n < -1) return pg_copy_give_up(c, p, 0, out);
        /* nothing buffered: wait for the server */
        if (!deadline) deadline = conn_now_ms() + c->opts.timeout_ms;
        int fd = PQsocket(p->pg);
        int64_t left = deadline - conn_now_ms();
        if (fd >= 0 && left <= 0) {
            if (k->cancelled) return pg_copy_give_up(c, p, 1, out);
            pg_cancel(c, p);
            k->cancelled = 1;
            if (!out->stopped) k->timed_out = 1;
            deadline = conn_now_ms() + c->opts.timeout_ms;
            continue;
        }
        if (fd >= 0) {
            struct pollfd pfd = {.fd = fd, .events = POLLIN};
            int r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
            if (r < 0 && errno != EINTR) fd = -1;
            if (r <= 0 && fd >= 0) continue;
        }
        if (fd < 0 || !PQconsumeInput(p->pg)) return pg_copy_give_up(c, p, 0, out);
        deadline = conn_now_ms() + c->opts.timeout_ms; /* progress */
    }
}

/* A statement could not be sent: out says why; the connection is reset
 * before the next statement. */
static void pg_copy_send_failed(pg_conn *p, conn_run_result *out) {
    if (!out->failed) {
        conn_first_line(PQerrorMessage(p->pg), out->msg, sizeof out->msg);
        out->failed = 1;
    }
    p->broken = 1;
}

/* 0 when the query was read through COPY (out says how it went), 1 when it
 * is to be read through the cursor instead (nothing delivered, out cleared). */
static int pg_run_copy(conn *c, pg_conn *p, const char *sql, pg_rows *rw, conn_run_result *out) {
    memset(out, 0, sizeof *out);
    if (PQtransactionStatus(p->pg) != PQTRANS_IDLE ||
        !(pg_is_select(sql) || pg_first_word_is(sql, "with")))
        return 1;
    /* COPY (<query>\n) TO STDOUT: the query without its trailing blanks and
     * semicolons; the newline ends a trailing -- comment */
    size_t len = strlen(sql);
    while (len > 0 && (sql[len - 1] == ';' || sql[len - 1] == ' ' || (sql[len - 1] >= '\t' && sql[len - 1] <= '\r')))
        len--;
    static const char head[] = "COPY (", tail[] = "\n) TO STDOUT";
    char *copy = malloc(sizeof head - 1 + len + sizeof tail);
    if (!copy) return 1;
    memcpy(copy, head, sizeof head - 1);
    memcpy(copy + sizeof head - 1, sql, len);
    memcpy(copy + sizeof head - 1 + len, tail, sizeof tail);

    pg_copy k = {0};
    PGresult *desc = NULL;
    int rc = -1;
    if (!PQsendPrepare(p->pg, "", sql, 0, NULL)) {
        pg_copy_send_failed(p, out);
        goto done;
    }
    out->sent = 1;
    rc = pg_copy_results(c, p, &k, NULL, out);
    if (rc != 0 || out->failed) goto done;
    if (!PQsendDescribePrepared(p->pg, "")) {
        pg_copy_send_failed(p, out);
        rc = -1;
        goto done;
    }
    rc = pg_copy_results(c, p, &k, &desc, out);
    if (rc != 0 || out->failed) goto done;
    if (!desc || pg_rows_size(rw, PQnfields(desc), out)) {
        if (!out->failed) {
            snprintf(out->msg, sizeof out->msg, "no description of the query's columns");
            out->failed = 1;
        }
        goto done;
    }
    for (int i = 0; i < rw->ncols; i++) rw->names[i] = PQfname(desc, i);
    if (!PQsendQueryParams(p->pg, copy, 0, NULL, NULL, NULL, NULL, 0)) {
        pg_copy_send_failed(p, out);
        rc = -1;
        goto done;
    }
    rc = pg_copy_results(c, p, &k, NULL, out);
    if (rc == 1) {
        rc = pg_copy_read(c, p, &k, rw, out);
        if (rc == 0) rc = pg_copy_results(c, p, &k, NULL, out);
    }
done:;
    /* refused before any row (no cancel, no timeout, the connection fine):
     * the cursor says what it says of it */
    int fallback = rc == 0 && out->failed && !k.started && !k.cancelled && !k.server_timeout &&
                   out->delivered == 0 && !p->broken && PQstatus(p->pg) == CONNECTION_OK &&
                   PQtransactionStatus(p->pg) == PQTRANS_IDLE;
    PQclear(desc);
    free(copy);
    if (fallback) {
        memset(out, 0, sizeof *out);
        return 1;
    }
    pg_finish(c, p, k.server_timeout, k.timed_out, out);
    return 0;
}

static void pg_run(conn *c, pg_conn *p, const char *sql, int nparams, const char *const *params,
                   conn_row_fn fn, void *ud, conn_run_result *out) {
    pg_rows rw = {.fn = fn, .ud = ud};
    if (p->reading) {
        /* a statement from inside the callback: the connection is busy, as
         * libpq says of it in single-row mode */
        memset(out, 0, sizeof *out);
        snprintf(out->msg, sizeof out->msg, "another command is already in progress");
        out->failed = 1;
        return;
    }
    p->reading = 1;
    int rows = !fn || ((nparams > 0 || pg_run_copy(c, p, sql, &rw, out)) &&
                       pg_run_cursor(c, p, sql, nparams, params, &rw, out));
    p->reading = 0;
    if (rows)
        pg_run_rows(c, p, sql, nparams, params, fn ? &rw : NULL, out);
    free(rw.names);
    free(rw.values);
    free(rw.lens);
}

/* ---- statements sent -----------------------------------------------------------
 * conn_send inside a transaction: the statement goes out in pipeline mode
 * without waiting for its answer, so a push group of N upserts costs about
 * one round trip instead of N (libpq buffers them and sends as its buffer
 * fills). The answers are read (pg_pipe_drain: a sync, then every result)
 * after PG_PIPE_MAX statements, before any other statement of the
 * connection, at commit and at rollback. The first error is kept for the
 * transaction (pipe_err): the server has aborted it, the statements after
 * it were skipped (PGRES_PIPELINE_ABORTED), and the commit is refused with
 * that error. Each answer is waited for as a single statement's is
 * (timeout_ms without progress, then a cancel). */
#define PG_PIPE_MAX 64

/* Reads the answers of the statements sent. 0, or -1 when one of them
 * failed or the connection did (pipe_err says which; a lost connection is
 * marked broken and the transaction lost). */
static int pg_pipe_drain(conn *c, pg_conn *p) {
    if (!p->piped) return 0;
    int queued = p->piped, nulls = 0, cancelled = 0, server_timeout = 0;
    p->piped = 0;
    conn_run_result out;
    memset(&out, 0, sizeof out);
    if (!PQpipelineSync(p->pg)) {
        conn_first_line(PQerrorMessage(p->pg), out.msg, sizeof out.msg);
        out.failed = 1;
        p->broken = 1;
    }
    while (!out.failed || !p->broken) {
        if (pg_wait(c, p, &cancelled) == WAIT_DEAD) {
            p->broken = 1;
            snprintf(out.msg, sizeof out.msg, "no answer from the server within %ld ms, even after a cancel",
                     c->opts.timeout_ms);
            out.failed = 1;
            break;
        }
        PGresult *r = PQgetResult(p->pg);
        if (!r) { /* the end of one statement's answers, or of the connection */
            if (PQstatus(p->pg) != CONNECTION_OK || ++nulls > queued) {
                if (!out.failed) conn_first_line(PQerrorMessage(p->pg), out.msg, sizeof out.msg);
                if (!out.msg[0]) snprintf(out.msg, sizeof out.msg, "the answers to the statements sent ended early");
                out.failed = 1;
                p->broken = 1;
                break;
            }
            continue;
        }
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            break;
        }
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY &&
            st != PGRES_PIPELINE_ABORTED)
            pg_take_error(r, st, cancelled, &server_timeout, &out);
        PQclear(r);
    }
    if (!p->broken && !PQexitPipelineMode(p->pg)) {
        if (!out.failed) conn_first_line(PQerrorMessage(p->pg), out.msg, sizeof out.msg);
        out.failed = 1;
        p->broken = 1;
    }
    pg_finish(c, p, server_timeout, cancelled, &out);
    if (p->broken && c->in_tx) c->tx_lost = 1;
    if (out.failed && !p->pipe_err[0]) {
        conn_scrub(c, out.msg, sizeof out.msg);
        snprintf(p->pipe_err, sizeof p->pipe_err, "%s", out.msg);
    }
    return out.failed ? -1 : 0;
}

/* Reads what was sent before another statement runs; -1 (err set, naming
 * what failed) when something sent failed. */
static int pg_pipe_settle(conn *c, pg_conn *p, const char *what, char *err, size_t errsz) {
    if (!p->piped) return 0;
    if (pg_pipe_drain(c, p) == 0) return 0;
    return conn_fail(c, err, errsz, "%s refused: a statement sent earlier in the transaction failed: %s", what,
                     p->pipe_err);
}

/* The PostgreSQL side of the shared retry policy (conn_sql_statement). */
static int pg_drv_alive(conn *c) { return pg_alive(c->impl); }
static int pg_drv_reconnect(conn *c, char *msg, size_t msgsz) { return pg_reset(c, c->impl, msg, msgsz); }
static void pg_drv_run(conn *c, const char *sql, int nparams, const char *const *params, conn_row_fn fn,
                       void *ud, conn_run_result *out) {
    pg_run(c, c->impl, sql, nparams, params, fn, ud, out);
}
static void pg_drv_mark_broken(conn *c) { ((pg_conn *)c->impl)->broken = 1; }

static const conn_sql_driver pg_driver = {
    .alive = pg_drv_alive,
    .reconnect = pg_drv_reconnect,
    .run = pg_drv_run,
    .mark_broken = pg_drv_mark_broken,
    .lost_after_send = "connection lost after the statement was sent",
};

static int pg_statement(conn *c, const char *what, const char *sql, int nparams,
                        const char *const *params, conn_row_fn fn, void *ud, long *affected,
                        char *err, size_t errsz) {
    return conn_sql_statement(c, &pg_driver, what, sql, nparams, params, fn, ud, affected, err, errsz);
}

static int pg_query(conn *c, const char *sql, int nparams, const char *const *params,
                    conn_row_fn fn, void *ud, char *err, size_t errsz) {
    if (pg_pipe_settle(c, c->impl, "query", err, errsz)) return -1;
    return pg_statement(c, "query", sql, nparams, params, fn, ud, NULL, err, errsz);
}

static int pg_exec(conn *c, const char *sql, int nparams, const char *const *params,
                   long *affected, char *err, size_t errsz) {
    if (pg_pipe_settle(c, c->impl, "exec", err, errsz)) return -1;
    return pg_statement(c, "exec", sql, nparams, params, NULL, NULL, affected, err, errsz);
}

/* conn_send inside a transaction (conn.c runs it as an exec otherwise):
 * queued, see "statements sent". A connection not usable for it (broken,
 * lost, or refusing pipeline mode) runs it as an exec, which reports that. */
static int pg_send(conn *c, const char *sql, int nparams, const char *const *params, char *err, size_t errsz) {
    pg_conn *p = c->impl;
    if (p->pipe_err[0])
        return conn_fail(c, err, errsz, "send refused: a statement sent earlier in the transaction failed: %s",
                         p->pipe_err);
    if (c->tx_lost || p->broken || p->reading || PQstatus(p->pg) != CONNECTION_OK ||
        (PQpipelineStatus(p->pg) == PQ_PIPELINE_OFF && !PQenterPipelineMode(p->pg)))
        return pg_exec(c, sql, nparams, params, NULL, err, errsz);
    if (!PQsendQueryParams(p->pg, sql, nparams, NULL, params, NULL, NULL, 0)) {
        char msg[1024];
        conn_first_line(PQerrorMessage(p->pg), msg, sizeof msg);
        p->broken = 1;
        c->tx_lost = 1;
        return conn_fail(c, err, errsz, "send failed: the connection was lost inside a transaction: %s", msg);
    }
    if (++p->piped >= PG_PIPE_MAX && pg_pipe_drain(c, p))
        return conn_fail(c, err, errsz, "send failed: a statement sent in the transaction failed: %s", p->pipe_err);
    return 0;
}

/* Transactions: BEGIN and COMMIT as statements (conn_sql_statement: no
 * retry inside one). A commit is refused unless the server holds an open,
 * unfailed transaction: COMMIT of a failed one would answer "ROLLBACK"
 * without an error, and one on a reset connection only a warning. */
static int pg_tx(conn *c, int op, char *err, size_t errsz) {
    pg_conn *p = c->impl;
    switch (op) {
    case CONN_TX_BEGIN:
        p->pipe_err[0] = '\0';
        return pg_statement(c, "begin", "BEGIN", 0, NULL, NULL, NULL, NULL, err, errsz);
    case CONN_TX_COMMIT: {
        (void)pg_pipe_drain(c, p);
        if (p->pipe_err[0])
            return conn_fail(c, err, errsz, "commit refused: a statement sent in the transaction failed: %s",
                             p->pipe_err);
        if (c->tx_lost)
            return conn_fail(c, err, errsz, "commit failed: the connection was lost inside the transaction");
        PGTransactionStatusType ts = PQtransactionStatus(p->pg);
        if (p->broken || ts == PQTRANS_INERROR)
            return conn_fail(c, err, errsz, "commit refused: %s",
                             p->broken ? "the connection broke inside the transaction"
                                       : "a statement of the transaction failed");
        if (ts != PQTRANS_INTRANS) return conn_fail(c, err, errsz, "commit refused: no transaction is open");
        if (pg_statement(c, "commit", "COMMIT", 0, NULL, NULL, NULL, NULL, err, errsz) != 0) return -1;
        if (PQtransactionStatus(p->pg) != PQTRANS_IDLE)
            return conn_fail(c, err, errsz, "commit failed: the transaction is still open after COMMIT");
        return 0;
    }
    default: {
        (void)pg_pipe_drain(c, p); /* its answers, before the ROLLBACK's */
        p->pipe_err[0] = '\0';
        /* best effort: a broken connection has lost the transaction already */
        if (!p->broken && PQstatus(p->pg) == CONNECTION_OK && PQtransactionStatus(p->pg) != PQTRANS_IDLE) {
            PGresult *r = PQexec(p->pg, "ROLLBACK");
            if (PQresultStatus(r) != PGRES_COMMAND_OK) p->broken = 1;
            PQclear(r);
        }
        return 0;
    }
    }
}

const conn_ops conn_pg_ops = {
    .open = pg_open,
    .close = pg_close,
    .query = pg_query,
    .exec = pg_exec,
    .send = pg_send,
    .http = NULL,
    .tx = pg_tx,
};

/* ---- registry entry: `adapter new --kind pg` texts and the kind ---------- */

/* libpq conninfo: " password='...'" appended, with ' and \\ escaped. */
static char *pg_with_password(const char *spec, const char *password) {
    size_t need = strlen(spec) + 2 * strlen(password) + 16;
    char *out = malloc(need);
    if (!out) return NULL;
    size_t n = (size_t)snprintf(out, need, "%s password='", spec);
    for (const char *q = password; *q; q++) {
        if (*q == '\'' || *q == '\\') out[n++] = '\\';
        out[n++] = *q;
    }
    out[n++] = '\'';
    out[n] = '\0';
    return out;
}

/* Passes `gridgate check` unchanged with its stanza (tests/integration/adapter_authoring.sh). */
static const char pg_skeleton[] =
    "-- @NAME@.lua - gridgate adapter for <the department system> (PostgreSQL).\n"
    "--\n"
    "-- Written by `gridgate adapter new @NAME@ --kind pg`. Replace the example\n"
    "-- table yl_ffmx (pension payments, 养老金发放明细) and its columns with yours,\n"
    "-- then look at the facts it makes, without touching any state:\n"
    "--   gridgate adapter test adapters/@NAME@.lua --source @NAME@ --limit 20\n"
    "-- The full reference (every field, spec and error) is adapters/README.md.\n"
    "return {\n"
    "  streams = {\n"
    "    -- One stream per query; the name is yours and appears in messages.\n"
    "    pension_payments = {\n"
    "      -- fact kind: person, death, payment, assistance_member, income, asset,\n"
    "      -- custody or verdict (README.md lists the fields of each)\n"
    "      kind = \"payment\",\n"
    "      conn = \"db\",                 -- conn.db in the [source @NAME@] section\n"
    "      -- PostgreSQL placeholders are $1, $2 ...; give their values in params = { ... }\n"
    "      sql  = [[SELECT lsh, sfzhm, xm, ffny, ffje, ffrq FROM yl_ffmx]],\n"
    "      key  = \"lsh\",                -- the column with your record key (流水号)\n"
    "      map  = {                     -- fact field = column, or a spec around it\n"
    "        id_no   = \"sfzhm\",         -- 身份证号码, as text (gridgate validates it)\n"
    "        name    = \"xm\",            -- 姓名\n"
    "        program = const \"pension\", -- the same value for every row\n"
    "        period  = month \"ffny\",    -- 发放年月: 202403, 2024-03, 2024/3, 2024年3月\n"
    "        amount  = yuan \"ffje\",     -- 发放金额 in yuan: 1234.50 becomes 123450 fen\n"
    "        paid_on = date \"ffrq\",     -- 发放日期: 20240312, 2024-03-12, 2024/3/12\n"
    "      },\n"
    "      -- For what a map cannot say, a row function sees each row (r.col is the\n"
    "      -- column's text) after the map. Return a table of fields to add or\n"
    "      -- override, nil to skip the row, or false, \"reason\" to reject it.\n"
    "      -- row = function(r)\n"
    "      --   if r.zt == \"9\" then return false, \"payment voided (zt=9)\" end\n"
    "      --   return { payer = r.jbjg }\n"
    "      -- end,\n"
    "    },\n"
    "  },\n"
    "\n"
    "  -- push writes one alert back into this system (only if the system is routed\n"
    "  -- alerts in [route]). It must be idempotent on alert.id: the same alert may\n"
    "  -- be delivered again, and a new version of it updates the row.\n"
    "  -- push = function(alert, conns)\n"
    "  --   conns.db:send([[INSERT INTO yl_ycyj (yjbh, sfzhm, yjlx, je, qsny, zzny, sm)\n"
    "  --                   VALUES ($1, $2, $3, $4, $5, $6, $7)\n"
    "  --                   ON CONFLICT (yjbh) DO UPDATE SET je = EXCLUDED.je,\n"
    "  --                     zzny = EXCLUDED.zzny, sm = EXCLUDED.sm]],\n"
    "  --                 { alert.id, alert.id_no, alert.rule, alert.amount_yuan,\n"
    "  --                   alert.first_period, alert.last_period, alert.summary })\n"
    "  -- end,\n"
    "}\n";

static const char pg_stanza[] =
    "[source @NAME@]\n"
    "; the adapter file, relative to this config file's directory\n"
    "adapter = @PATH@\n"
    "; the department's name in alert explanations, e.g. 人社养老保险\n"
    "label = @NAME@\n"
    "conn.db = pg:host=127.0.0.1 port=5432 dbname=CHANGE_ME user=gridgate\n"
    "; the password from a 0600 file or an environment variable, never in this file:\n"
    "; conn.db.password_file = secrets/@NAME@.pw\n"
    "; conn.db.password_env = @UNAME@_DB_PASSWORD\n";

const conn_kind conn_pg_kind = {
    .prefix = "pg",
    .type = CONN_PG,
    .ops = &conn_pg_ops,
    .takes_password = 1,
    .takes_token = 0,
    .streams = CONN_SERVES_SQL,
    .params = CONN_PARAMS_DOLLAR,
    .with_password = pg_with_password,
    .skeleton = pg_skeleton,
    .stanza = pg_stanza,
    .help = "pg:<libpq conninfo>          PostgreSQL (libpq); placeholders $1, $2, ...",
};
