/* conn.h - connections to department systems: PostgreSQL (libpq), ODBC
 * (unixODBC) and HTTP (libcurl).
 *
 * A connection spec is "<type>:<target>":
 *   pg:host=/tmp/x port=5433 dbname=hr      (libpq conninfo; PGPASSFILE works)
 *   odbc:Driver=SQLite3;Database=/path/civil.db
 *   http:http://127.0.0.1:18080/            (base URL)
 * Secrets never sit in the spec committed to the repo: config.c resolves them
 * from the environment or a 0600 file before conn_open() is called.
 *
 * SQL rows are streamed: the callback sees one row at a time (libpq: COPY, a cursor
 * fetched 1000 rows at a time, or single-row mode; ODBC SQLFetch), so memory
 * does not grow with the table. Values are
 * NUL-terminated text exactly as the server returns it (bytes in the source's
 * encoding; the adapter runtime converts to UTF-8), NULL for SQL NULL.
 *
 * Transient failures (connection lost, HTTP 5xx/429, timeouts) are retried with
 * capped exponential backoff and full jitter up to conn_opts.retries; a broken
 * database connection is re-established before the retry. Errors name the
 * source, the connection and the cause, never credentials.
 *
 * Encoding pass-through (measured with the Debian drivers, unixODBC 2.3.11):
 *  - SQLite3 ODBC driver (libsqlite3odbc 0.9998): a TEXT column holding GBK
 *    bytes (inserted as CAST(X'..' AS TEXT)) comes back through SQL_C_CHAR
 *    byte for byte, in the "C" and "POSIX" locales alike; no driver option is
 *    needed (OEMCP, the only translating option, is Win32-only).
 *  - psqlODBC "PostgreSQL Unicode" (13.02) and libpq: UTF-8 text of a UTF-8
 *    database arrives unchanged through SQL_C_CHAR / text results.
 * The connectors never convert; the adapter runtime converts from the
 * source's declared encoding.
 *
 * Retries and timeouts in detail:
 *  - retries 0 means the default (3); a negative value means no retries.
 *  - SQL: a lost connection is reset and the statement retried, a query only
 *    while no row has been delivered (never a duplicate row), an exec only when
 *    the connection was found dead before the statement was sent (an exec lost
 *    in flight may or may not have been applied: reported, not retried).
 *    timeout_ms is the statement timeout. PostgreSQL: the session's
 *    statement_timeout (the server cancels a statement running longer, a long
 *    streamed pull included), and the client also cancels after timeout_ms
 *    without any answer. ODBC: SQL_ATTR_QUERY_TIMEOUT (rounded up to
 *    seconds) when the driver keeps it, else (SQLite3 driver) the connector
 *    cancels an execute or fetch call running longer than timeout_ms. The
 *    error starts "timed out" / says "statement timed out after N ms". SQL
 *    statement timeouts are not retried. conn_open retries refused/failed connects too
 *    (not authentication failures).
 *  - HTTP: timeout_ms bounds the whole call, retries and redirects included
 *    (each attempt gets CURLOPT_TIMEOUT_MS = the time left); transport
 *    errors, timeouts, 5xx and 429 are retried while time is left; Retry-After (seconds) replaces
 *    the backoff, capped by backoff_max_ms. Redirects are followed only within
 *    the base URL's origin; a body over max_body (default 16 MiB) fails
 *    while it is being received, with a clear error.
 *  - SQLite through ODBC: ATTACH/DETACH, VACUUM, load_extension() and PRAGMA
 *    writes are refused before they reach the driver (conn/sqlguard.h).
 *  - A connection is used by one thread at a time. */
#ifndef GG_CONN_H
#define GG_CONN_H

#include <stddef.h>

typedef enum { CONN_PG = 0, CONN_ODBC, CONN_HTTP } conn_type;

typedef struct conn_opts {
    const char *bearer_token; /* HTTP: Authorization: Bearer <token>; NULL = none */
    long timeout_ms;          /* per request/query; 0 = default 30000 */
    int retries;              /* transient-failure retries; default 3 */
    long backoff_base_ms;     /* first backoff; default 200 */
    long backoff_max_ms;      /* cap; default 5000 */
    size_t max_body;          /* HTTP: response body limit per call in bytes; 0 = default 16 MiB */
} conn_opts;

typedef struct conn conn;

/* One row: values[i] is column i's text (NUL-terminated) or NULL for SQL
 * NULL; lens, when not NULL, holds strlen(values[i]) (0 for NULL), so that a
 * callback need not measure what the connector already knows (PostgreSQL's
 * COPY and results give it; ODBC passes NULL). Return 0 to continue; any
 * other value stops the query, which then returns it. */
typedef int (*conn_row_fn)(void *ud, int ncols, const char *const *colnames,
                           const char *const *values, const size_t *lens);

/* Opens (and for SQL connects) a connection. `source` and `name` are used in
 * error messages ("source hr, connection db: ..."). NULL on failure with err set. */
conn *conn_open(const char *source, const char *name, const char *spec,
                const conn_opts *opts, char *err, size_t errsz);
void conn_close(conn *c);
conn_type conn_get_type(const conn *c);
const char *conn_get_name(const conn *c);

/* SQL (pg/odbc). Placeholders are the database's own: $1.. for PostgreSQL, ? for
 * ODBC. params are text (NULL = SQL NULL). Returns 0 when all rows were read,
 * the callback's nonzero value when it stopped early, -1 on error (err set). */
int conn_query(conn *c, const char *sql, int nparams, const char *const *params,
               conn_row_fn fn, void *ud, char *err, size_t errsz);
/* Statement without rows; *affected receives the row count (may be NULL). */
int conn_exec(conn *c, const char *sql, int nparams, const char *const *params,
              long *affected, char *err, size_t errsz);
/* A statement without rows whose row count is not needed. Inside a
 * transaction PostgreSQL queues it (libpq's pipeline mode) and returns at
 * once: a group of them costs about one round trip instead of one each. Its
 * error then comes later: from a send after PG_PIPE_MAX of them, from the
 * next query or exec of the connection, or from conn_commit, which is
 * refused, naming the first statement's error ("a statement sent in the
 * transaction failed: ..."); the server has rolled the transaction back.
 * Outside a transaction, and on ODBC, it runs as conn_exec. 0, or -1 with
 * err. */
int conn_send(conn *c, const char *sql, int nparams, const char *const *params, char *err, size_t errsz);

/* Transactions (pg/odbc): conn_begin opens one (a broken connection is
 * re-established first), conn_commit ends it, conn_rollback drops it (best
 * effort: a connection lost meanwhile has dropped it already). Between begin
 * and the end a lost connection is never re-established nor a statement
 * retried (what the transaction held is gone: the statement fails, saying
 * so), and conn_commit fails when the transaction cannot be committed whole
 * (PostgreSQL: a statement in it failed; ODBC: SQLEndTran refused); it is
 * then rolled back. An HTTP connection has none: -1. 0 ok, -1 with err. */
int conn_begin(conn *c, char *err, size_t errsz);
int conn_commit(conn *c, char *err, size_t errsz);
void conn_rollback(conn *c);
int conn_in_transaction(const conn *c);

/* HTTP. `path` is appended to the base URL (may include a query string).
 * headers: NULL-terminated "Name: value" list or NULL. The response body is
 * malloc'd and NUL-terminated (caller frees). Returns 0 when a response arrived
 * (any status, after retrying 5xx/429), -1 on transport failure. */
typedef struct http_response {
    long status;
    char *body;
    size_t len;
    char *content_type; /* malloc'd or NULL */
} http_response;
int conn_http(conn *c, const char *method, const char *path, const char *const *headers,
              const char *body, size_t bodylen, http_response *resp, char *err,
              size_t errsz);
void http_response_free(http_response *r);

/* URL-encode a query value into a malloc'd string. */
char *conn_url_escape(const char *s);

/* Backoff delay for attempt n (0-based): random in [0, min(max, base*2^n)]. */
long conn_backoff_ms(const conn_opts *o, int attempt);

#endif
