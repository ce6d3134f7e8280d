/* adapter.h - the Lua adapter runtime: one sandboxed lua_State per source.
 *
 * An adapter file returns a table { streams = {...}, push = function } (see
 * adapters/README.md). The runtime compiles each declarative stream's `map`
 * into a C mapping program, so rows become facts without a Lua table per row;
 * a stream's optional `row` function or a whole `pull` function covers what
 * the declarative form cannot say.
 *
 * Errors never escape as longjmps: every call into Lua is a protected call with
 * a message handler that adds file:line, and the error message names the
 * source, the stream and (for a row) the record key. */
#ifndef GG_ADAPTER_H
#define GG_ADAPTER_H

#include <stddef.h>

#include "adapter/source.h"
#include "alerts/alert.h"
#include "model/fact.h"

typedef struct adapter adapter;

/* What a pull produces. on_fact gets a fact it may move out of (fact_clear'd
 * by the runtime afterwards otherwise); on_reject a record that could not become
 * a fact. Return nonzero from either to abort the pull. */
typedef struct adapter_sink {
    int (*on_fact)(void *ud, const char *stream, fact *f);
    int (*on_reject)(void *ud, const char *stream, const char *ref, const char *reason,
                     const char *raw_json);
    void *ud;
    /* 1: on_fact uses the fact only during the call (the worker encodes it),
     * so a mapped row's fact may borrow the row's strings (fact.borrowed);
     * 0: the fact owns every string when on_fact sees it. */
    int borrows;
    /* Optional, SQL and ODBC rows of a full read only: asked with each row's
     * hash (adapter_row_hash) before the row is converted or mapped; 1: the
     * sink took the row by its hash (counted read, never mapped, no fact, no
     * reject), 0: it is mapped as usual, -1: the pull stops (as when on_fact
     * stops it). NULL: every row is mapped. */
    int (*row_passed)(void *ud, const char *stream, uint64_t row_hash);
} adapter_sink;

typedef struct adapter_stream_info {
    const char *name;
    fact_kind kind;
    const char *conn;       /* connection name or NULL */
    int declarative;        /* 1 = map in C, 0 = Lua pull function */
    int pure;               /* 1 = map in C alone (no row function): a row's
                               fact is a function of its values, the stream's
                               declaration and the day */
    int incremental;        /* 1 = `incremental = { column = ... }`: pulls resume
                               after a (column, key) watermark */
    const char *lookup;     /* the stream's `lookup` SQL (borrowed), or NULL */
} adapter_stream_info;

/* Loads the adapter file of `src` into a fresh sandbox and validates its
 * declaration (unknown keys, unknown fields, bad mapping specs are errors naming
 * file and line). Connections are not opened yet. */
adapter *adapter_load(const gg_source_conf *src, const char *adapter_path, char *err, size_t errsz);
void adapter_free(adapter *ad);
/* In a worker process forked with this adapter loaded: makes its runtime
 * whole again (the deadline watchdog thread). 0, or -1 with err. */
int adapter_after_fork(adapter *ad, char *err, size_t errsz);
const char *adapter_source(const adapter *ad);
size_t adapter_stream_count(const adapter *ad);
const adapter_stream_info *adapter_stream(const adapter *ad, size_t i);
int adapter_can_push(const adapter *ad);
/* Whether stream i's declaration reads the result column (SQL) or top-level
 * item key (HTTP) `col`, case-insensitively: through its map, key or
 * incremental column (a JSON path "a.b" reads key "a"). 1 yes, 0 no, -1 when
 * the stream has a `row` or `pull` function, whose reads cannot be known.
 * For `adapter test`'s list of unmapped columns. */
int adapter_stream_reads(const adapter *ad, size_t i, const char *col);
/* Warnings found while loading (unknown field names etc.), NULL-terminated. */
const char *const *adapter_warnings(const adapter *ad);

/* Opens the source's connections. */
int adapter_connect(adapter *ad, char *err, size_t errsz);
/* Runs one stream. limit > 0 stops after that many records. Returns 0, or -1
 * with err set when the stream failed as a whole (source down, Lua error).
 *
 * Incremental streams: watermark_in is the text a previous pull gave in
 * *watermark_out (NULL = read from the start). Rows come ordered by
 * (column, key) and only rows after the watermark are read; rows whose
 * column is NULL are rejected and do not move it. *watermark_out (when
 * watermark_out is non-NULL) gets a malloc'd watermark of the last row read,
 * owned by the caller, or NULL when the stream is not incremental, read
 * nothing new, or failed. The caller stores it in the same transaction as the
 * facts so it never runs ahead of them. */
int adapter_pull(adapter *ad, size_t stream, const adapter_sink *sink, long limit,
                 const char *watermark_in, long *nrows, char **watermark_out, char *err, size_t errsz);
/* Targeted lookup: runs the stream's `lookup` SQL with two parameters, the
 * 18-character normalized id and its legacy 15-digit form (the 18-character id
 * again when it has none), and maps the rows like the stream's own rows, into
 * the same sink. Returns 0, or -1 with err set (also when the stream has no
 * lookup). */
int adapter_lookup(adapter *ad, size_t stream, const char *id18, const adapter_sink *sink, long *nrows,
                   char *err, size_t errsz);
/* The legacy 15-digit form of an 18-character id born in 19xx (the century
 * digits and the check character dropped) into out[16]; 0 done, -1 when the id
 * has no 15-digit form. */
int adapter_id15(const char *id18, char out[16]);
/* Inside on_fact: the current record's mapped source values as a JSON object
 * text {"column": "value", ...} (UTF-8), malloc'd; NULL when not available.
 * Built on demand so that rows the cycle drops cost nothing. */
char *adapter_raw_json(adapter *ad);
/* Inside on_fact of a mapped SQL/ODBC row: the row's raw hash
 * (fact_raw_hash_row over every column's name and value), computed on demand
 * so that rows the cycle drops are not hashed; 0 for an HTTP item or a fact
 * emitted by Lua (their raw JSON's text is hashed instead). */
uint64_t adapter_raw_hash(adapter *ad);
/* Inside row_passed or on_fact of an SQL/ODBC row of a full read (a sink
 * with row_passed): the hash of the row as the source sent it (every value's
 * bytes before conversion, NULL distinct from "", seeded with the columns'
 * names), 0 otherwise. Unlike the raw hash it is computed before the row is
 * looked at, so that a row passed over costs its hash. */
uint64_t adapter_row_hash(adapter *ad);

/* Delivers one alert through the adapter's push function (idempotent on
 * alert id by contract). `explanation` is the zh-CN text. */
int adapter_push(adapter *ad, const alert *a, const char *explanation, char *err, size_t errsz);
/* The same with the verdict deadline (unix seconds, 0 = none) handed to the
 * push function as alert.deadline / alert.deadline_date (China time). */
int adapter_push_due(adapter *ad, const alert *a, const char *explanation, long long deadline, char *err,
                     size_t errsz);

/* Pushes grouped in one transaction (worker/push.c). adapter_push_begin
 * connects the source when needed and opens a transaction on each of its SQL
 * connections: the number opened (0: it has none, so each push stands alone)
 * or -1 with err (none left open). Inside, the push function's own BEGIN,
 * COMMIT, END or ROLLBACK is refused. adapter_push_commit commits them in
 * order, -1 with err when one fails (the rest are rolled back; one committed
 * before it stays, and its pushes come again, which a sink's upsert on the
 * alert id absorbs); adapter_push_rollback drops them. */
int adapter_push_begin(adapter *ad, char *err, size_t errsz);
int adapter_push_commit(adapter *ad, char *err, size_t errsz);
void adapter_push_rollback(adapter *ad);

#endif
