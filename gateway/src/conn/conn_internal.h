/* conn_internal.h - private parts shared by the connector files: the
 * connection struct, the per-type vtable and helpers for messages, secrets
 * and backoff. Only the files of conn/ include it.
 *
 * A connection is used by one thread at a time; it holds no process-wide
 * state, so different connections may be used from different threads. */
#ifndef GG_CONN_INTERNAL_H
#define GG_CONN_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "conn/conn.h"
#include "conn/registry.h"

/* Defaults for zero-valued conn_opts fields (see conn.h). */
#define CONN_DEFAULT_TIMEOUT_MS 30000L
#define CONN_DEFAULT_RETRIES 3
#define CONN_DEFAULT_BACKOFF_BASE_MS 200L
#define CONN_DEFAULT_BACKOFF_MAX_MS 5000L
#define CONN_DEFAULT_MAX_BODY ((size_t)16 << 20)
#define CONN_MAX_SECRETS 4

/* What each connection type implements. A type leaves the functions it does
 * not support NULL; conn.c answers those with an error. */
typedef struct conn_ops {
    /* Opens the type's handle from `target` (the spec after "<type>:"). On
     * failure returns -1 with err set; conn.c then calls close(). */
    int (*open)(conn *c, const char *target, char *err, size_t errsz);
    void (*close)(conn *c);
    int (*query)(conn *c, const char *sql, int nparams, const char *const *params,
                 conn_row_fn fn, void *ud, char *err, size_t errsz);
    int (*exec)(conn *c, const char *sql, int nparams, const char *const *params,
                long *affected, char *err, size_t errsz);
    /* conn_send inside a transaction; NULL: conn.c runs it as exec. */
    int (*send)(conn *c, const char *sql, int nparams, const char *const *params, char *err, size_t errsz);
    int (*http)(conn *c, const char *method, const char *path, const char *const *headers,
                const char *body, size_t bodylen, http_response *resp, char *err,
                size_t errsz);
    /* Transactions (conn_begin/commit/rollback); NULL: none. `op` is
     * CONN_TX_*; rollback's errors are not reported. */
    int (*tx)(conn *c, int op, char *err, size_t errsz);
} conn_ops;

enum { CONN_TX_BEGIN = 0, CONN_TX_COMMIT, CONN_TX_ROLLBACK };

struct conn {
    conn_type type;
    const conn_kind *kind; /* registry entry (static) */
    const conn_ops *ops;
    char *source;          /* owned copy */
    char *name;            /* owned copy */
    char *log_tag;         /* "source hr, connection db", owned */
    conn_opts opts;        /* defaults applied; bearer_token is an owned copy */
    uint64_t rng;          /* per-connection PRNG state for backoff jitter */
    char *secrets[CONN_MAX_SECRETS]; /* owned; scrubbed from every message */
    int nsecrets;
    void *impl;            /* type-specific state, owned by the type's close() */
    int in_tx;             /* between conn_begin and its commit or rollback */
    int tx_lost;           /* the connection was lost inside it: nothing to commit */
};

extern const conn_ops conn_pg_ops;
extern const conn_ops conn_odbc_ops;
extern const conn_ops conn_http_ops;

/* The registry entries, defined at the end of each connector's file. */
extern const conn_kind conn_pg_kind;
extern const conn_kind conn_odbc_kind;
extern const conn_kind conn_http_kind;

/* Writes "source S, connection C: <fmt...>" into err, with every registered
 * secret replaced by "***". Always returns -1 so callers can `return conn_fail(..)`. */
int conn_fail(conn *c, char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Registers a secret (password, token) to be masked in messages. The string is
 * copied; empty strings and more than CONN_MAX_SECRETS are ignored. */
void conn_add_secret(conn *c, const char *secret);

/* Replaces every occurrence of a registered secret in `buf` (NUL-terminated,
 * capacity `bufsz`) by "***". */
void conn_scrub(const conn *c, char *buf, size_t bufsz);

/* Copies the first line of `msg` (without trailing whitespace) into out. */
void conn_first_line(const char *msg, char *out, size_t outsz);

/* Backoff for `attempt` drawn from the connection's own PRNG, and sleeping it. */
long conn_next_backoff(conn *c, int attempt);
void conn_sleep_ms(long ms);
/* Between two tries of `what` ("connect", "reconnect"): scrubs msg of secrets,
 * warns "<what> failed (msg); retry N of M in D ms" and sleeps the backoff. */
void conn_retry_pause(conn *c, const char *what, int attempt, char *msg, size_t msgsz);

/* Monotonic clock in milliseconds. */
int64_t conn_now_ms(void);

/* --- the SQL statement retry policy, shared by PostgreSQL and ODBC ---------- */

/* What one attempt at a statement did. */
typedef struct conn_run_result {
    int rc;           /* the callback's stop value when `stopped` */
    int stopped;      /* the callback returned nonzero */
    int failed;       /* error; msg set */
    int lost;         /* the connection was lost (a retry may help) */
    int sent;         /* the statement reached the server (an exec may have applied) */
    long delivered;   /* rows handed to the callback */
    long affected;    /* rows affected (exec) */
    char msg[1024];
} conn_run_result;

/* One SQL driver's side of the policy. */
typedef struct conn_sql_driver {
    int (*alive)(conn *c);                                 /* 1 when usable */
    int (*reconnect)(conn *c, char *msg, size_t msgsz);    /* 0 ok */
    void (*run)(conn *c, const char *sql, int nparams, const char *const *params, conn_row_fn fn,
                void *ud, conn_run_result *out);
    void (*mark_broken)(conn *c);                          /* reconnect before the next try */
    const char *lost_after_send;                           /* how the driver words that case */
} conn_sql_driver;

/* Runs a statement: reconnects a broken connection, retries a lost one with
 * backoff up to opts.retries, but never after rows were delivered (no rows
 * twice) nor after an exec reached the server (it may have applied). `what`
 * is "query" or "exec". Returns 0, the callback's stop value, or -1 (err set). */
int conn_sql_statement(conn *c, const conn_sql_driver *d, const char *what, const char *sql, int nparams,
                       const char *const *params, conn_row_fn fn, void *ud, long *affected, char *err,
                       size_t errsz);

#endif
