/* adapter_internal.h - what the adapter modules share and nobody else sees:
 * the compiled stream and map entry, the pull in progress, struct adapter,
 * and the functions one module calls in another.
 *
 *   load.c     adapter file -> sandbox, streams; shared message helpers
 *   compile.c  stream declaration -> compiled stream and map entries
 *   map.c      the C mapping program: row -> fact, row functions, reject
 *   pull.c     encoding boundary, SQL/HTTP/custom pulls, watermark, lookup
 *   conns.c    connections seen by Lua (c:query, c:exec, c:get...), connect
 *   push.c     alert -> the adapter's push function
 *
 * Data path per row (declarative stream): connector row (text) -> encoding
 * conversion into a per-row arena -> mapping program applied in C -> fact ->
 * sink. No Lua table is built per row; a stream's `row` function, when present,
 * sees a lazy userdata row whose fields are fetched on access.
 *
 * Lua discipline (all modules): every call into Lua goes through lua_rt_pcall
 * (or lua_pcall when nested inside one); C code called from Lua frees what it
 * owns before it raises; connector callbacks never let a Lua error longjmp
 * through libpq, ODBC or libcurl frames - they catch it and re-raise after
 * the connector returns. */
#ifndef GG_ADAPTER_INTERNAL_H
#define GG_ADAPTER_INTERNAL_H

#include <iconv.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <lauxlib.h>
#include <lua.h>

#include "adapter/adapter.h"
#include "adapter/lua_rt.h"
#include "conn/conn.h"
#include "core/log.h"
#include "core/util.h"
#include "model/ident.h"

#define SPEC_MT "gridgate.spec"
#define ROW_MT "gridgate.row"
#define CONN_MT "gridgate.conn"
#define MAX_CONSECUTIVE_ROW_ERRORS 100

typedef enum { SPEC_COL = 0, SPEC_CONST, SPEC_YUAN, SPEC_FEN, SPEC_DATE, SPEC_MONTH, SPEC_CODE,
               SPEC_BOOL, SPEC_INT } spec_op;

/* One compiled `field = spec` of a map. */
typedef struct map_entry {
    fact_field field;
    spec_op op;
    char *col;        /* column name / JSON path; NULL for const */
    int colidx;       /* index into the row, resolved at the first row */
    char *cval;       /* const value as text */
    int cint_set;     /* const is an integer (or boolean) */
    int64_t cint;
    char **code_from, **code_to; /* code table */
    size_t ncodes;
    char *code_default;
    char **truthy;    /* bool true codes */
    size_t ntruthy;
    int lenient;      /* date { "col", lenient = true }: a bad value drops the field, with a warning */
    /* A text or enum constant as fact_set_text_borrowed left it in the first
     * row (the same in every row): the field's value, and whether the fact
     * borrows it (else the value is an enum's static spelling); NULL until then. */
    const char *cset;
    int cset_borrowed;
} map_entry;

typedef struct stream {
    char *name;
    fact_kind kind;
    char *conn;        /* connection name */
    int conn_idx;      /* index into ad->conns */
    char *sql;
    char **params;
    int nparams;
    char *get;         /* HTTP path */
    char *items;       /* dotted path of the items array */
    char *page_param, *size_param;
    long page_start, page_size;
    char *key;         /* record key column */
    int keyidx;
    char *inc_col;     /* incremental = { column = ... }: the watermark column, or NULL */
    int incidx;
    char *lookup;      /* targeted lookup SQL, or NULL */
    map_entry *map;
    size_t nmap;
    const char **http_cols; /* HTTP: the JSON paths the map reads (borrowed from map/key) */
    int nhttp_cols;
    int row_ref, pull_ref;  /* Lua registry refs or LUA_NOREF */
    char **warned;          /* unknown fields already warned about */
    size_t nwarned;
    adapter_stream_info info;
} stream;

/* A row as the mapping sees it: names and UTF-8 values (NULL = SQL NULL). */
typedef struct row_view {
    int ncols;
    const char *const *names;
    const char **vals;
} row_view;

typedef struct pull_ctx {
    adapter *ad;
    stream *st;
    const adapter_sink *sink;
    long limit, nrows, consecutive_errors;
    long rows_seen;      /* records read from the source, for "(row N)" refs */
    fact f;
    row_view row;
    json_t *item;        /* HTTP: current item */
    char *arena;         /* per-row converted values */
    size_t arena_len, arena_cap;
    size_t *offs;        /* per column: offset into arena, or SIZE_MAX for NULL */
    const char **vals;
    int vals_cap;
    int resolved;
    /* The current result's column names as JSON keys (adapter_raw_json), made
     * at its first row built and forgotten at each query (ad_row_keys_forget):
     * a names array lives as long as its query. rj_names: the names they were
     * made of (NULL: none yet); rj_keys NULL then too when the names need the
     * slow way. */
    struct row_json_keys *rj_keys;
    const char *const *rj_names;
    int rj_ncols;
    int stop;            /* sink asked to stop */
    int incremental;     /* track the (column, key) watermark of rows read */
    char *wm_ts, *wm_key; /* last row read (owned, reused buffers) */
    size_t wm_ts_cap, wm_key_cap;
    int wm_set;          /* a row moved the watermark */
    long lenient_dropped; /* values lenient date entries dropped in this pull */
    size_t arena_charged; /* bytes of arena counted against the adapter's memory cap */
    /* Limits on input (ad_pull_limits_init; max_field 0 = none, for c:query rows). */
    long max_field, max_record;
    fact_limits lim;
    int over_col;        /* ad_convert_row: first column over max_field, or -1 */
    size_t over_len, rec_len; /* its length; the row's total */
    int raw_suppressed;  /* the record is over a size limit: no raw text is kept */
    int row_hashable;    /* on_fact of a mapped row (not an item, not an emitted table) */
    uint64_t row_hash;   /* adapter_row_hash of the current row, 0: none */
    uint64_t row_seed;   /* the columns' names' hash (first row), seeds row_hash */
    char err[1024];      /* fatal error of the stream */
} pull_ctx;

struct adapter {
    char *source;
    char *path;
    char *label;
    const gg_source_conf *src;
    lua_rt *rt;
    iconv_t cd;          /* source encoding -> UTF-8, (iconv_t)-1 for UTF-8 */
    iconv_t cd_out;      /* UTF-8 -> source encoding for SQL text and parameters written back */
    stream *streams;
    size_t nstreams;
    int push_ref;
    conn *conns[GG_MAX_CONNS];
    int nconns;
    int conns_ref;       /* Lua table name -> conn userdata */
    char *text;          /* adapter file text, for locating keys in messages */
    char **warnings;
    size_t nwarnings;
    const char **warn_view;
    pull_ctx *cur;       /* the pull in progress (for adapter_raw_json and Lua callbacks) */
    const char *compiling; /* name of the stream being compiled, for error lines */
};

typedef struct conn_ud {
    adapter *ad;
    int idx;
} conn_ud;

/* ---------------------------------------------------------------- load.c */

/* Records a load/pull warning (adapter_warnings) and logs it. */
void ad_warn(adapter *ad, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Formats "path:line: msg" into err (line of `word` in the stream being
 * compiled, ad->compiling); returns -1. */
int ad_err_at(const adapter *ad, const char *word, char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* t[name] = fn as a C closure with the adapter as its upvalue, t the table
 * at the top of the stack. [-0, +0] */
void ad_set_closure(lua_State *L, adapter *ad, lua_CFunction fn, const char *name);
/* Looks a dotted path up in a JSON object. Borrowed reference or NULL. */
json_t *ad_json_path(json_t *j, const char *path);

/* ------------------------------------------------------------- compile.c */

extern const char *const ad_spec_names[];
void ad_map_entry_free(map_entry *e);
/* Text of a Lua scalar at idx into a malloc'd string (integers as integers),
 * NULL for other types. [-0, +0] */
char *ad_scalar_text(lua_State *L, int idx);
/* Compiles the stream table at the top of the stack. Does not pop it. */
int ad_compile_stream(adapter *ad, stream *st, char *err, size_t errsz);

/* ----------------------------------------------------------------- map.c */

/* Forgets the result's keys (pc->rj_keys): before a query, and at the end
 * of a pull. */
void ad_row_keys_forget(pull_ctx *pc);
/* Resolves map columns against the first row (pc->row); sets pc->resolved. */
int ad_resolve_columns(pull_ctx *pc, char *err, size_t errsz);
/* Hands a rejected record to the sink; nonzero (and pc->stop) to stop. */
int ad_reject(pull_ctx *pc, const char *ref, const char *reason);
/* Fills pc->f from the Lua table at idx (raw reads: never raises but for
 * Lua running out of memory). 0 ok, -1 reject with reason. */
int ad_fact_from_table(pull_ctx *pc, lua_State *L, int idx, char *reason, size_t rsz);
/* __index of the lazy row userdata (ROW_MT). */
int ad_row_index(lua_State *L);
/* Maps pc->row into pc->f and hands it to the sink; nonzero to stop. */
int ad_map_and_emit(pull_ctx *pc);
/* Fills pc's limits from the source's configuration (defaults for 0). */
void ad_pull_limits_init(pull_ctx *pc);
/* 0 when the JSON record (HTTP item, emitted table) is within max_field and
 * max_record; -1 with the reason (field, length, limit). */
int ad_item_over_limits(const pull_ctx *pc, json_t *item, char *reason, size_t rsz);
/* ad_reject() without the record's raw text (it is over a size limit). */
int ad_reject_oversize(pull_ctx *pc, const char *ref, const char *reason);

/* ---------------------------------------------------------------- pull.c */

#define CONVERT_NOMEM (-2)
/* Converts a row's raw values into pc->vals (UTF-8); the index of an
 * undecodable column, -1 when all converted, CONVERT_NOMEM when the row's
 * arena would pass the adapter's memory cap (it counts against it). Never
 * raises (called from connector callbacks). */
int ad_convert_row(pull_ctx *pc, int ncols, const char *const *raw, const size_t *lens);
/* Frees pc's arena and releases what it was charged. */
void ad_arena_free(pull_ctx *pc);

/* --------------------------------------------------------------- conns.c */

void ad_params_free(char **p, int n);
/* Converts sql and params in place for a non-UTF-8 source; 0 ok, -1 err. */
int ad_params_to_source(adapter *ad, char **sql, char **params, int n, char *err, size_t errsz);

#endif
