/* adapter.c - the adapter runtime: loads a source's Lua adapter into its
 * sandbox, compiles its declarative streams into C mapping programs, runs
 * pulls (SQL rows or HTTP JSON pages -> facts) and pushes alerts back.
 *
 * Data path per row (declarative stream): connector row (text) -> encoding
 * conversion into a per-row arena -> mapping program applied in C -> fact ->
 * sink. No Lua table is built per row; a stream's `row` function, when present,
 * sees a lazy userdata row whose fields are fetched on access.
 *
 * Lua discipline: every call into Lua goes through lua_rt_pcall (or lua_pcall
 * when nested inside one); C code called from Lua frees what it owns before it
 * raises; connector callbacks never let a Lua error longjmp through libpq,
 * ODBC or libcurl frames - they catch it and re-raise after the connector
 * returns. */
#include "adapter/adapter.h"

#include <ctype.h>
#include <errno.h>
#include <iconv.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "conn/conn.h"
#include "model/ident.h"
#include "core/log.h"
#include "adapter/lua_rt.h"

#define SPEC_MT "gridgate.spec"
#define ROW_MT "gridgate.row"
#define CONN_MT "gridgate.conn"
#define MAX_CONSECUTIVE_ROW_ERRORS 100
#define MAX_HTTP_PAGES 1000000

typedef enum { SPEC_COL = 0, SPEC_CONST, SPEC_YUAN, SPEC_FEN, SPEC_DATE, SPEC_MONTH, SPEC_CODE,
               SPEC_BOOL, SPEC_INT } spec_op;
static const char *const spec_names[] = {"col", "const", "yuan", "fen", "date", "month", "code",
                                         "bool", "int", NULL};

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
    int stop;            /* sink asked to stop */
    int incremental;     /* track the (column, key) watermark of rows read */
    char *wm_ts, *wm_key; /* last row read (owned, reused buffers) */
    size_t wm_ts_cap, wm_key_cap;
    int wm_set;          /* a row moved the watermark */
    long lenient_dropped; /* values lenient date entries dropped in this pull */
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

/* ---------------------------------------------------------------- helpers */

static char *xstrdup(const char *s) {
    if (!s) return NULL;
    char *d = strdup(s);
    if (!d) abort();
    return d;
}

static void add_warning(adapter *ad, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_warning(adapter *ad, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char **grown = realloc(ad->warnings, (ad->nwarnings + 2) * sizeof *grown);
    if (!grown) abort();
    ad->warnings = grown;
    ad->warnings[ad->nwarnings++] = xstrdup(buf);
    ad->warnings[ad->nwarnings] = NULL;
    gg_warn(ad->source, "%s", buf);
}

/* Line of `word` (as a whole word) in the adapter text, searching from the
 * first occurrence of `anchor` when given (a stream's name), for messages
 * about declarations: Lua tables keep no line numbers. 0 when not found. */
static int find_line_after(const adapter *ad, const char *anchor, const char *word) {
    if (!ad->text || !word) return 0;
    const char *start = ad->text;
    for (int pass = 0; pass < 2; pass++) {
        const char *from = ad->text;
        if (pass == 0 && anchor) {
            const char *a = strstr(ad->text, anchor);
            if (!a) continue;
            from = a;
        } else if (pass == 0) {
            continue;
        }
        size_t wl = strlen(word);
        for (const char *p = from; *p; p++) {
            if (p[0] == '-' && p[1] == '-') { /* skip a Lua comment to the end of its line */
                while (p[1] && p[1] != '\n') p++;
                continue;
            }
            if (!strncmp(p, word, wl) && (p == ad->text || !(isalnum((unsigned char)p[-1]) || p[-1] == '_')) &&
                !(isalnum((unsigned char)p[wl]) || p[wl] == '_')) {
                int line = 1;
                for (const char *q = start; q < p; q++) line += *q == '\n';
                return line;
            }
        }
    }
    return 0;
}

static int set_err_at(const adapter *ad, const char *word, char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int set_err_at(const adapter *ad, const char *word, char *err, size_t errsz, const char *fmt, ...) {
    char msg[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line = find_line_after(ad, ad->compiling, word);
    if (line > 0)
        snprintf(err, errsz, "%s:%d: %s", ad->path, line, msg);
    else
        snprintf(err, errsz, "%s: %s", ad->path, msg);
    return -1;
}

static int strcaseeq(const char *a, const char *b) { return strcasecmp(a, b) == 0; }

/* Looks a dotted path up in a JSON object. Borrowed reference or NULL. */
static json_t *json_path(json_t *j, const char *path) {
    char seg[128];
    const char *p = path;
    while (j && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n >= sizeof seg) return NULL;
        memcpy(seg, p, n);
        seg[n] = '\0';
        if (json_is_object(j))
            j = json_object_get(j, seg);
        else if (json_is_array(j) && isdigit((unsigned char)seg[0]))
            j = json_array_get(j, strtoul(seg, NULL, 10));
        else
            return NULL;
        p = dot ? dot + 1 : p + n;
    }
    return j;
}

/* ------------------------------------------------- spec constructors (Lua) */

/* Creates a spec table {op=, col=, line=} with the spec metatable. [-0, +1] */
static void spec_push(lua_State *L, spec_op op) {
    lua_createtable(L, 0, 4);
    lua_pushstring(L, spec_names[op]);
    lua_setfield(L, -2, "op");
    luaL_where(L, 1);
    lua_setfield(L, -2, "where");
    luaL_setmetatable(L, SPEC_MT);
}

static int spec_col_fn(lua_State *L, spec_op op) {
    const char *col = luaL_checkstring(L, 1);
    spec_push(L, op);
    lua_pushstring(L, col);
    lua_setfield(L, -2, "col");
    return 1;
}
static int l_yuan(lua_State *L) { return spec_col_fn(L, SPEC_YUAN); }
static int l_fen(lua_State *L) { return spec_col_fn(L, SPEC_FEN); }
/* date "col", or date { "col", lenient = true }: the table form keeps its
 * `lenient` flag in the spec for compile_entry(). [-0, +1] */
static int l_date(lua_State *L) {
    if (lua_type(L, 1) != LUA_TTABLE) return spec_col_fn(L, SPEC_DATE);
    lua_geti(L, 1, 1);
    if (lua_type(L, -1) != LUA_TSTRING) return luaL_argerror(L, 1, "date { \"column\", lenient = true } names a column first");
    spec_push(L, SPEC_DATE);
    lua_insert(L, -2);
    lua_setfield(L, -2, "col");
    lua_getfield(L, 1, "lenient");
    lua_setfield(L, -2, "lenient");
    return 1;
}
static int l_month(lua_State *L) { return spec_col_fn(L, SPEC_MONTH); }
static int l_int(lua_State *L) { return spec_col_fn(L, SPEC_INT); }
static int l_text(lua_State *L) { return spec_col_fn(L, SPEC_COL); }

static int l_const(lua_State *L) {
    luaL_argcheck(L, lua_type(L, 1) == LUA_TSTRING || lua_type(L, 1) == LUA_TNUMBER ||
                         lua_type(L, 1) == LUA_TBOOLEAN,
                  1, "const() takes a string, number or boolean");
    spec_push(L, SPEC_CONST);
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "value");
    return 1;
}

static int l_code(lua_State *L) {
    luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    spec_push(L, SPEC_CODE);
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "col");
    lua_pushvalue(L, 2);
    lua_setfield(L, -2, "codes");
    return 1;
}

static int l_bool(lua_State *L) {
    luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    spec_push(L, SPEC_BOOL);
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "col");
    lua_pushvalue(L, 2);
    lua_setfield(L, -2, "truthy");
    return 1;
}

/* to_fen("1,234.50") -> 123450: yuan text to integer fen, exactly; nil and a
 * message for text that is not an amount. For row functions and custom pulls. */
static int l_to_fen(lua_State *L) {
    const char *s = luaL_checkstring(L, 1);
    int64_t fen;
    if (conv_yuan_to_fen(s, &fen)) {
        lua_pushnil(L);
        lua_pushfstring(L, "not an amount in yuan: '%s'", s);
        return 2;
    }
    lua_pushinteger(L, (lua_Integer)fen);
    return 1;
}

static int l_mask_id(lua_State *L) {
    char out[64];
    ident_mask(luaL_optstring(L, 1, ""), out, sizeof out);
    lua_pushstring(L, out);
    return 1;
}

static int l_log(lua_State *L, gg_log_level lv) {
    adapter *ad = lua_touserdata(L, lua_upvalueindex(1));
    const char *msg = luaL_checkstring(L, 1);
    gg_log(lv, ad->source, "adapter: %s", msg);
    return 0;
}
static int l_log_info(lua_State *L) { return l_log(L, GG_LOG_INFO); }
static int l_log_warn(lua_State *L) { return l_log(L, GG_LOG_WARN); }

/* ------------------------------------------------------------ compile map */

static void map_entry_free(map_entry *e) {
    free(e->col);
    free(e->cval);
    for (size_t i = 0; i < e->ncodes; i++) {
        free(e->code_from[i]);
        free(e->code_to[i]);
    }
    free(e->code_from);
    free(e->code_to);
    free(e->code_default);
    for (size_t i = 0; i < e->ntruthy; i++) free(e->truthy[i]);
    free(e->truthy);
}

/* Text of a Lua scalar at idx into a malloc'd string (integers as integers). */
static char *scalar_text(lua_State *L, int idx) {
    char buf[64];
    switch (lua_type(L, idx)) {
    case LUA_TSTRING: return xstrdup(lua_tostring(L, idx));
    case LUA_TBOOLEAN: return xstrdup(lua_toboolean(L, idx) ? "true" : "false");
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx))
            snprintf(buf, sizeof buf, "%lld", (long long)lua_tointeger(L, idx));
        else
            snprintf(buf, sizeof buf, "%.15g", lua_tonumber(L, idx));
        return xstrdup(buf);
    default: return NULL;
    }
}

/* 1 when the value at idx is a spec table made by a constructor. [-0, +0] */
static int is_spec(lua_State *L, int idx) {
    if (!lua_istable(L, idx) || !lua_getmetatable(L, idx)) return 0;
    luaL_getmetatable(L, SPEC_MT);
    int same = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return same;
}

/* Compiles the map entry for `field` from the value at the top of the stack
 * (a column name string or a spec table). Does not pop. */
static int compile_entry(adapter *ad, stream *st, fact_field field, map_entry *e, char *err, size_t errsz) {
    lua_State *L = lua_rt_state(ad->rt);
    memset(e, 0, sizeof *e);
    e->field = field;
    e->colidx = -1;
    const char *fname = fact_field_name(field);
    if (lua_type(L, -1) == LUA_TSTRING) {
        e->op = SPEC_COL;
        e->col = xstrdup(lua_tostring(L, -1));
        return 0;
    }
    if (!is_spec(L, -1))
        return set_err_at(ad, fname, err, errsz,
                          "stream '%s': map.%s must be a column name or a spec such as yuan \"col\"", st->name, fname);
    lua_getfield(L, -1, "op");
    const char *op = lua_tostring(L, -1);
    for (int i = 0; spec_names[i]; i++)
        if (op && !strcmp(op, spec_names[i])) e->op = (spec_op)i;
    lua_pop(L, 1);
    lua_getfield(L, -1, "col");
    if (lua_type(L, -1) == LUA_TSTRING) e->col = xstrdup(lua_tostring(L, -1));
    lua_pop(L, 1);
    lua_getfield(L, -1, "lenient");
    e->lenient = e->op == SPEC_DATE && lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (e->op == SPEC_CONST) {
        lua_getfield(L, -1, "value");
        e->cval = scalar_text(L, -1);
        if (lua_isinteger(L, -1)) {
            e->cint_set = 1;
            e->cint = lua_tointeger(L, -1);
        } else if (lua_isboolean(L, -1)) {
            e->cint_set = 1;
            e->cint = lua_toboolean(L, -1);
        }
        lua_pop(L, 1);
        /* validate the constant now: a bad constant is a load error */
        fact probe;
        fact_init(&probe, st->kind);
        char e2[300];
        int rc = e->cint_set && fact_field_type(field) != FT_TEXT && fact_field_type(field) != FT_ENUM
                     ? fact_set_int(&probe, field, e->cint, e2, sizeof e2)
                     : fact_set_text(&probe, field, e->cval, e2, sizeof e2);
        fact_clear(&probe);
        if (rc) return set_err_at(ad, fname, err, errsz, "stream '%s': map.%s: %s", st->name, fname, e2);
    } else if (e->op == SPEC_CODE) {
        lua_getfield(L, -1, "codes");
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            /* key -2, value -1 */
            char *from = scalar_text(L, -2);
            char *to = scalar_text(L, -1);
            if (!from || !to) {
                free(from);
                free(to);
                lua_pop(L, 3);
                return set_err_at(ad, "code", err, errsz, "stream '%s': map.%s: code table keys and values must be strings or numbers", st->name, fname);
            }
            if (!strcmp(from, "default")) {
                free(e->code_default);
                e->code_default = to;
                free(from);
            } else {
                e->code_from = realloc(e->code_from, (e->ncodes + 1) * sizeof(char *));
                e->code_to = realloc(e->code_to, (e->ncodes + 1) * sizeof(char *));
                if (!e->code_from || !e->code_to) abort();
                e->code_from[e->ncodes] = from;
                e->code_to[e->ncodes++] = to;
            }
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    } else if (e->op == SPEC_BOOL) {
        lua_getfield(L, -1, "truthy");
        lua_Integer n = luaL_len(L, -1);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_geti(L, -1, i);
            char *t = scalar_text(L, -1);
            lua_pop(L, 1);
            if (!t) continue;
            e->truthy = realloc(e->truthy, (e->ntruthy + 1) * sizeof(char *));
            if (!e->truthy) abort();
            e->truthy[e->ntruthy++] = t;
        }
        lua_pop(L, 1);
    }
    if (e->op != SPEC_CONST && !e->col)
        return set_err_at(ad, fname, err, errsz, "stream '%s': map.%s: the spec names no column", st->name, fname);
    field_type ft = fact_field_type(field);
    if ((e->op == SPEC_YUAN || e->op == SPEC_FEN) && ft != FT_MONEY)
        return set_err_at(ad, fname, err, errsz, "stream '%s': map.%s is not a money field; %s() applies to amount/value",
                          st->name, fname, spec_names[e->op]);
    if (e->op == SPEC_MONTH && ft != FT_MONTH)
        return set_err_at(ad, fname, err, errsz, "stream '%s': map.%s is not a month field", st->name, fname);
    if (e->op == SPEC_DATE && ft != FT_DATE && ft != FT_TEXT)
        return set_err_at(ad, fname, err, errsz, "stream '%s': map.%s is not a date field", st->name, fname);
    return 0;
}

static const char *const stream_keys[] = {"kind", "conn", "sql", "params", "key", "map", "row", "pull",
                                          "get", "items", "page", "incremental", "lookup", NULL};

static char *opt_string_field(lua_State *L, int idx, const char *key);

/* A plain SQL identifier (letters, digits, _; not starting with a digit):
 * the incremental column and the key are spliced into the wrapped query. */
static int is_sql_identifier(const char *s) {
    if (!s || !*s || isdigit((unsigned char)*s)) return 0;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_')) return 0;
    return 1;
}

/* Reads `incremental` and `lookup` of the stream table at t (SQL streams). */
static int compile_incremental(adapter *ad, stream *st, int t, int ctype, char *err, size_t errsz) {
    lua_State *L = lua_rt_state(ad->rt);
    lua_getfield(L, t, "incremental");
    int has_inc = !lua_isnil(L, -1);
    if (has_inc) {
        if (st->pull_ref != LUA_NOREF || ctype == CONN_HTTP) {
            lua_pop(L, 1);
            return set_err_at(ad, "incremental", err, errsz,
                              "stream '%s': incremental applies to declarative SQL streams only (not to %s)", st->name,
                              st->pull_ref != LUA_NOREF ? "a pull function" : "HTTP streams");
        }
        if (!lua_istable(L, -1)) {
            lua_pop(L, 1);
            return set_err_at(ad, "incremental", err, errsz,
                              "stream '%s': incremental must be a table: incremental = { column = \"gxsj\" }", st->name);
        }
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            lua_pop(L, 1);
            const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?";
            if (strcmp(k, "column")) {
                char kk[64];
                snprintf(kk, sizeof kk, "%s", k);
                lua_pop(L, 2);
                return set_err_at(ad, "incremental", err, errsz,
                                  "stream '%s': incremental: unknown key '%s' (known: column; a lag window is not implemented)",
                                  st->name, kk);
            }
        }
        st->inc_col = opt_string_field(L, -1, "column");
        lua_pop(L, 1);
        if (!is_sql_identifier(st->inc_col))
            return set_err_at(ad, "incremental", err, errsz,
                              "stream '%s': incremental.column must name a column (letters, digits, _), got '%s'",
                              st->name, st->inc_col ? st->inc_col : "(missing)");
        if (!is_sql_identifier(st->key))
            return set_err_at(ad, "key", err, errsz,
                              "stream '%s': an incremental stream's key must be a plain column name (it breaks ties), got '%s'",
                              st->name, st->key ? st->key : "(missing)");
    } else {
        lua_pop(L, 1);
    }
    lua_getfield(L, t, "lookup");
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING) {
            lua_pop(L, 1);
            return set_err_at(ad, "lookup", err, errsz, "stream '%s': lookup must be SQL text: lookup = [[SELECT ...]]", st->name);
        }
        st->lookup = xstrdup(lua_tostring(L, -1));
        if (st->pull_ref != LUA_NOREF || ctype == CONN_HTTP) {
            lua_pop(L, 1);
            return set_err_at(ad, "lookup", err, errsz, "stream '%s': lookup applies to declarative SQL streams only", st->name);
        }
        if (!fact_kind_is_stream(st->kind)) {
            lua_pop(L, 1);
            return set_err_at(ad, "lookup", err, errsz,
                              "stream '%s': lookup applies to payment and income streams (the big side), not %s",
                              st->name, fact_kind_name(st->kind));
        }
    }
    lua_pop(L, 1);
    st->info.incremental = st->inc_col != NULL;
    st->info.lookup = st->lookup;
    return 0;
}

static int conn_index(const adapter *ad, const char *name) {
    for (int i = 0; i < ad->src->nconns; i++)
        if (!strcmp(ad->src->conns[i].name, name)) return i;
    return -1;
}

static int conn_spec_type(const adapter *ad, int idx) {
    const char *spec = ad->src->conns[idx].spec;
    if (!strncmp(spec, "pg:", 3)) return CONN_PG;
    if (!strncmp(spec, "odbc:", 5)) return CONN_ODBC;
    return CONN_HTTP;
}

static char *opt_string_field(lua_State *L, int idx, const char *key) {
    lua_getfield(L, idx, key);
    char *s = lua_type(L, -1) == LUA_TSTRING ? xstrdup(lua_tostring(L, -1)) : NULL;
    lua_pop(L, 1);
    return s;
}

/* Compiles the stream table at the top of the stack. Does not pop it. */
static int compile_stream(adapter *ad, stream *st, char *err, size_t errsz) {
    lua_State *L = lua_rt_state(ad->rt);
    int t = lua_gettop(L);
    st->row_ref = st->pull_ref = LUA_NOREF;
    st->conn_idx = -1;
    st->keyidx = -1;
    st->incidx = -1;
    if (!lua_istable(L, t))
        return set_err_at(ad, st->name, err, errsz, "stream '%s' must be a table", st->name);
    /* unknown keys */
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) {
            lua_pop(L, 1);
            return set_err_at(ad, st->name, err, errsz, "stream '%s': keys must be names", st->name);
        }
        const char *k = lua_tostring(L, -1);
        int known = 0;
        for (int i = 0; stream_keys[i]; i++) known |= !strcmp(k, stream_keys[i]);
        if (!known) {
            char kk[64];
            snprintf(kk, sizeof kk, "%s", k);
            lua_pop(L, 1);
            return set_err_at(ad, kk, err, errsz, "stream '%s': unknown key '%s' (known: kind, conn, sql, params, key, map, row, pull, get, items, page, incremental, lookup)",
                              st->name, kk);
        }
    }
    char *kind = opt_string_field(L, t, "kind");
    if (!kind || fact_kind_parse(kind, &st->kind)) {
        int rc = set_err_at(ad, st->name, err, errsz,
                            "stream '%s': kind '%s' is not a fact kind (person, death, payment, assistance_member, income, asset, custody, verdict)",
                            st->name, kind ? kind : "(missing)");
        free(kind);
        return rc;
    }
    free(kind);
    st->conn = opt_string_field(L, t, "conn");
    if (st->conn) {
        st->conn_idx = conn_index(ad, st->conn);
        if (st->conn_idx < 0)
            return set_err_at(ad, "conn", err, errsz, "stream '%s': connection '%s' is not configured; add conn.%s = ... to [source %s]",
                              st->name, st->conn, st->conn, ad->source);
    }
    st->sql = opt_string_field(L, t, "sql");
    st->get = opt_string_field(L, t, "get");
    st->items = opt_string_field(L, t, "items");
    st->key = opt_string_field(L, t, "key");
    lua_getfield(L, t, "pull");
    if (lua_isfunction(L, -1))
        st->pull_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    else
        lua_pop(L, 1);
    lua_getfield(L, t, "row");
    if (lua_isfunction(L, -1))
        st->row_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    else
        lua_pop(L, 1);
    st->info.name = st->name;
    st->info.kind = st->kind;
    st->info.conn = st->conn;
    st->info.declarative = st->pull_ref == LUA_NOREF;

    if (st->pull_ref != LUA_NOREF) {
        if (st->sql || st->get)
            return set_err_at(ad, "pull", err, errsz, "stream '%s': give either pull = function or sql/get with map, not both", st->name);
        return compile_incremental(ad, st, t, -1, err, errsz);
    }
    if (!st->conn)
        return set_err_at(ad, st->name, err, errsz, "stream '%s': missing 'conn' (the connection to read from)", st->name);
    int ctype = conn_spec_type(ad, st->conn_idx);
    if (ctype == CONN_HTTP) {
        if (!st->get)
            return set_err_at(ad, st->name, err, errsz, "stream '%s': connection '%s' is HTTP: give get = \"/path\" and items = \"data.items\"", st->name, st->conn);
        lua_getfield(L, t, "page");
        if (lua_istable(L, -1)) {
            st->page_param = opt_string_field(L, -1, "param");
            st->size_param = opt_string_field(L, -1, "size_param");
            lua_getfield(L, -1, "start");
            st->page_start = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : 1;
            lua_pop(L, 1);
            lua_getfield(L, -1, "size");
            st->page_size = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : 100;
            lua_pop(L, 1);
            if (!st->page_param) {
                lua_pop(L, 1);
                return set_err_at(ad, "page", err, errsz, "stream '%s': page needs param = \"page\"", st->name);
            }
        }
        lua_pop(L, 1);
    } else {
        if (!st->sql)
            return set_err_at(ad, st->name, err, errsz, "stream '%s': connection '%s' is SQL: give sql = [[SELECT ...]]", st->name, st->conn);
        lua_getfield(L, t, "params");
        if (lua_istable(L, -1)) {
            lua_Integer n = luaL_len(L, -1);
            st->params = calloc((size_t)n + 1, sizeof(char *));
            if (!st->params) abort();
            for (lua_Integer i = 1; i <= n; i++) {
                lua_geti(L, -1, i);
                st->params[i - 1] = scalar_text(L, -1);
                lua_pop(L, 1);
            }
            st->nparams = (int)n;
        }
        lua_pop(L, 1);
    }
    if (!st->key)
        return set_err_at(ad, st->name, err, errsz, "stream '%s': missing 'key' (the column with the department's record key)", st->name);
    if (compile_incremental(ad, st, t, ctype, err, errsz)) return -1;
    lua_getfield(L, t, "map");
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        return set_err_at(ad, st->name, err, errsz, "stream '%s': missing 'map' (fact field = column)", st->name);
    }
    int m = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, m)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            lua_pop(L, 3);
            return set_err_at(ad, "map", err, errsz, "stream '%s': map keys must be fact field names", st->name);
        }
        const char *fname = lua_tostring(L, -2);
        fact_field f;
        if (fact_field_parse(fname, &f) || !fact_field_allowed(st->kind, f)) {
            /* Not fatal: the record model may grow, and a data officer sees it
             * in `check` and `adapter test`. Required fields are checked below. */
            char where[700];
            set_err_at(ad, fname, where, sizeof where, "stream '%s': '%s' is not a field of %s facts; it is ignored (see docs/record-model.md)",
                       st->name, fname, fact_kind_name(st->kind));
            add_warning(ad, "%s", where);
            lua_pop(L, 1);
            continue;
        }
        st->map = realloc(st->map, (st->nmap + 1) * sizeof *st->map);
        if (!st->map) abort();
        if (compile_entry(ad, st, f, &st->map[st->nmap], err, errsz)) {
            st->nmap++;
            lua_pop(L, 3);
            return -1;
        }
        st->nmap++;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    /* required fields must be mapped (or come from the row function) */
    if (st->row_ref == LUA_NOREF) {
        for (int f = 0; f < FF__COUNT; f++) {
            if (!fact_field_required(st->kind, (fact_field)f)) continue;
            int have = 0;
            fact_field alt = fact_field_alternative(st->kind, (fact_field)f); /* payment: case for id_no */
            for (size_t i = 0; i < st->nmap; i++) have |= st->map[i].field == (fact_field)f || st->map[i].field == alt;
            if (!have)
                return set_err_at(ad, "map", err, errsz, "stream '%s': map lacks the required %s field '%s'", st->name,
                                  fact_kind_name(st->kind), fact_field_name((fact_field)f));
        }
    }
    if (ctype == CONN_HTTP) {
        st->http_cols = calloc(st->nmap + 1, sizeof(char *));
        if (!st->http_cols) abort();
        st->http_cols[st->nhttp_cols++] = st->key;
        for (size_t i = 0; i < st->nmap; i++) {
            if (!st->map[i].col) continue;
            int dup = 0;
            for (int k = 0; k < st->nhttp_cols; k++) dup |= !strcmp(st->http_cols[k], st->map[i].col);
            if (!dup) st->http_cols[st->nhttp_cols++] = st->map[i].col;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- loading */

static char *read_text(const char *path, char *err, size_t errsz) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errsz, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 8192, n = 0;
    char *buf = malloc(cap);
    if (!buf) abort();
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            cap *= 2;
            buf = realloc(buf, cap);
            if (!buf) abort();
        }
    }
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static void register_api(adapter *ad) {
    lua_State *L = lua_rt_state(ad->rt);
    static const luaL_Reg specs[] = {{"yuan", l_yuan}, {"fen", l_fen},     {"date", l_date},
                                     {"month", l_month}, {"int", l_int},   {"text", l_text},
                                     {"const", l_const}, {"code", l_code}, {"bool", l_bool},
                                     {"mask_id", l_mask_id}, {"to_fen", l_to_fen}, {NULL, NULL}};
    luaL_newmetatable(L, SPEC_MT);
    lua_pushliteral(L, "gridgate mapping spec");
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);
    for (const luaL_Reg *r = specs; r->name; r++) {
        lua_pushcfunction(L, r->func);
        lua_rt_register(ad->rt, r->name);
    }
    lua_createtable(L, 0, 2);
    lua_pushlightuserdata(L, ad);
    lua_pushcclosure(L, l_log_info, 1);
    lua_setfield(L, -2, "info");
    lua_pushlightuserdata(L, ad);
    lua_pushcclosure(L, l_log_warn, 1);
    lua_setfield(L, -2, "warn");
    lua_rt_register(ad->rt, "log");
    lua_rt_open_json(ad->rt);
}

static int stream_name_cmp(const void *a, const void *b) {
    return strcmp(((const stream *)a)->name, ((const stream *)b)->name);
}

adapter *adapter_load(const gg_source_conf *src, const char *adapter_path, char *err, size_t errsz) {
    adapter *ad = calloc(1, sizeof *ad);
    if (!ad) abort();
    ad->source = xstrdup(src->name);
    ad->label = xstrdup(src->label ? src->label : src->name);
    ad->path = xstrdup(adapter_path ? adapter_path : src->adapter);
    ad->src = src;
    ad->cd = (iconv_t)-1;
    ad->cd_out = (iconv_t)-1;
    ad->push_ref = LUA_NOREF;
    ad->conns_ref = LUA_NOREF;
    ad->warnings = calloc(1, sizeof(char *));
    if (!ad->warnings) abort();

    const char *enc = src->encoding ? src->encoding : "UTF-8";
    if (strcasecmp(enc, "UTF-8") && strcasecmp(enc, "UTF8")) {
        ad->cd = iconv_open("UTF-8", enc);
        ad->cd_out = iconv_open(enc, "UTF-8");
        if (ad->cd == (iconv_t)-1 || ad->cd_out == (iconv_t)-1) {
            snprintf(err, errsz, "source %s: unknown encoding '%s' (use UTF-8, GBK or GB18030)", src->name, enc);
            adapter_free(ad);
            return NULL;
        }
    }
    ad->text = read_text(ad->path, err, errsz);
    if (!ad->text) {
        adapter_free(ad);
        return NULL;
    }
    char e2[800];
    ad->rt = lua_rt_new((size_t)src->memory_mb << 20, src->deadline_ms, e2, sizeof e2);
    if (!ad->rt) {
        snprintf(err, errsz, "source %s: cannot create the Lua sandbox: %s", src->name, e2);
        adapter_free(ad);
        return NULL;
    }
    register_api(ad);
    lua_State *L = lua_rt_state(ad->rt);
    if (lua_rt_load_file(ad->rt, ad->path, e2, sizeof e2)) {
        snprintf(err, errsz, "%s", e2);
        adapter_free(ad);
        return NULL;
    }
    int top = lua_gettop(L);
    if (!lua_istable(L, top)) {
        snprintf(err, errsz, "%s: the adapter must return a table { streams = {...}, push = function }", ad->path);
        goto fail;
    }
    lua_pushnil(L);
    while (lua_next(L, top)) {
        lua_pop(L, 1);
        const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?";
        if (strcmp(k, "streams") && strcmp(k, "push") && strcmp(k, "name") && strcmp(k, "description")) {
            char kk[64];
            snprintf(kk, sizeof kk, "%s", k);
            lua_pop(L, 1);
            set_err_at(ad, kk, err, errsz, "unknown top-level key '%s' (known: streams, push, name, description)", kk);
            goto fail;
        }
    }
    lua_getfield(L, top, "push");
    if (lua_isfunction(L, -1))
        ad->push_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    else if (!lua_isnil(L, -1)) {
        lua_pop(L, 1);
        set_err_at(ad, "push", err, errsz, "push must be a function(alert, conns)");
        goto fail;
    } else
        lua_pop(L, 1);
    lua_getfield(L, top, "streams");
    if (!lua_istable(L, -1) && !lua_isnil(L, -1)) {
        set_err_at(ad, "streams", err, errsz, "streams must be a table of name = { kind = ..., ... }");
        goto fail;
    }
    if (lua_istable(L, -1)) {
        int s = lua_gettop(L);
        size_t n = 0;
        lua_pushnil(L);
        while (lua_next(L, s)) {
            lua_pop(L, 1);
            n++;
        }
        ad->streams = calloc(n ? n : 1, sizeof *ad->streams);
        if (!ad->streams) abort();
        lua_pushnil(L);
        while (lua_next(L, s)) {
            if (lua_type(L, -2) != LUA_TSTRING) {
                lua_pop(L, 2);
                set_err_at(ad, "streams", err, errsz, "streams must be named: streams = { deaths = { ... } }");
                goto fail;
            }
            stream *st = &ad->streams[ad->nstreams++];
            st->name = xstrdup(lua_tostring(L, -2));
            ad->compiling = st->name;
            int crc = compile_stream(ad, st, err, errsz);
            ad->compiling = NULL;
            if (crc) {
                lua_settop(L, top);
                goto fail;
            }
            lua_pop(L, 1);
        }
        qsort(ad->streams, ad->nstreams, sizeof *ad->streams, stream_name_cmp);
        for (size_t i = 0; i < ad->nstreams; i++) ad->streams[i].info.name = ad->streams[i].name;
    }
    lua_settop(L, top - 1);
    if (ad->nstreams == 0 && ad->push_ref == LUA_NOREF) {
        snprintf(err, errsz, "%s: the adapter has neither streams nor push", ad->path);
        goto fail;
    }
    return ad;
fail:
    adapter_free(ad);
    return NULL;
}

void adapter_free(adapter *ad) {
    if (!ad) return;
    for (size_t i = 0; i < ad->nstreams; i++) {
        stream *st = &ad->streams[i];
        free(st->name);
        free(st->conn);
        free(st->sql);
        for (int k = 0; k < st->nparams; k++) free(st->params[k]);
        free(st->params);
        free(st->get);
        free(st->items);
        free(st->page_param);
        free(st->size_param);
        free(st->key);
        free(st->inc_col);
        free(st->lookup);
        for (size_t k = 0; k < st->nmap; k++) map_entry_free(&st->map[k]);
        free(st->map);
        free(st->http_cols);
        for (size_t k = 0; k < st->nwarned; k++) free(st->warned[k]);
        free(st->warned);
    }
    free(ad->streams);
    if (ad->rt) lua_rt_free(ad->rt);
    for (int i = 0; i < ad->nconns; i++) conn_close(ad->conns[i]);
    if (ad->cd != (iconv_t)-1) iconv_close(ad->cd);
    if (ad->cd_out != (iconv_t)-1) iconv_close(ad->cd_out);
    for (size_t i = 0; i < ad->nwarnings; i++) free(ad->warnings[i]);
    free(ad->warnings);
    free(ad->text);
    free(ad->source);
    free(ad->label);
    free(ad->path);
    free(ad);
}

const char *adapter_source(const adapter *ad) { return ad->source; }
size_t adapter_stream_count(const adapter *ad) { return ad->nstreams; }
const adapter_stream_info *adapter_stream(const adapter *ad, size_t i) {
    return i < ad->nstreams ? &ad->streams[i].info : NULL;
}
int adapter_can_push(const adapter *ad) { return ad->push_ref != LUA_NOREF; }
const char *const *adapter_warnings(const adapter *ad) { return (const char *const *)ad->warnings; }

/* ------------------------------------------------------ encoding boundary */

/* Appends `len` bytes converted to UTF-8 into the pull arena; returns the
 * offset, or SIZE_MAX when the bytes are not valid in the source encoding. */
static size_t arena_put(pull_ctx *pc, const char *v, size_t len) {
    size_t need = pc->arena_len + len * 3 + 1; /* GBK -> UTF-8 grows at most 1.5x; keep margin */
    if (need > pc->arena_cap) {
        size_t cap = pc->arena_cap ? pc->arena_cap : 4096;
        while (cap < need) cap *= 2;
        char *grown = realloc(pc->arena, cap);
        if (!grown) abort();
        pc->arena = grown;
        pc->arena_cap = cap;
    }
    size_t off = pc->arena_len;
    adapter *ad = pc->ad;
    int ascii = 1;
    for (size_t i = 0; i < len && ascii; i++) ascii = (unsigned char)v[i] < 0x80;
    if (ascii || ad->cd == (iconv_t)-1) {
        if (!ascii && !utf8_valid(v, len)) return SIZE_MAX;
        memcpy(pc->arena + off, v, len);
        pc->arena[off + len] = '\0';
        pc->arena_len += len + 1;
        return off;
    }
    iconv(ad->cd, NULL, NULL, NULL, NULL);
    char *in = (char *)v, *out = pc->arena + off;
    size_t inleft = len, outleft = pc->arena_cap - off - 1;
    if (iconv(ad->cd, &in, &inleft, &out, &outleft) == (size_t)-1 || inleft) return SIZE_MAX;
    *out = '\0';
    pc->arena_len = (size_t)(out - pc->arena) + 1;
    return off;
}

/* Converts a row's raw values into pc->vals (UTF-8). On an undecodable value
 * returns the column index (>= 0); -1 when all converted. */
static int convert_row(pull_ctx *pc, int ncols, const char *const *raw) {
    if (ncols > pc->vals_cap) {
        pc->vals = realloc(pc->vals, (size_t)ncols * sizeof *pc->vals);
        pc->offs = realloc(pc->offs, (size_t)ncols * sizeof *pc->offs);
        if (!pc->vals || !pc->offs) abort();
        pc->vals_cap = ncols;
    }
    pc->arena_len = 0;
    int bad = -1;
    for (int i = 0; i < ncols; i++) {
        if (!raw[i]) {
            pc->offs[i] = SIZE_MAX;
            continue;
        }
        pc->offs[i] = arena_put(pc, raw[i], strlen(raw[i]));
        if (pc->offs[i] == SIZE_MAX && bad < 0) bad = i;
    }
    for (int i = 0; i < ncols; i++) pc->vals[i] = pc->offs[i] == SIZE_MAX ? NULL : pc->arena + pc->offs[i];
    return bad;
}

/* ------------------------------------------------------------ mapping rows */

static int is_identity_field(fact_field f) { return f == FF_ID_NO || f == FF_NAME; }

/* Applies one entry. 0 ok, -1 with a reason (never containing id/name values). */
static int apply_entry(fact *f, const map_entry *e, const char *v, char *reason, size_t rsz) {
    char e2[300];
    const char *fname = fact_field_name(e->field);
    const char *col = e->col ? e->col : "const";
    field_type ft = fact_field_type(e->field);
    int64_t x;
    int d;
    switch (e->op) {
    case SPEC_CONST:
        if (e->cint_set && ft != FT_TEXT && ft != FT_ENUM) {
            if (fact_set_int(f, e->field, e->cint, e2, sizeof e2)) goto fset;
        } else if (fact_set_text(f, e->field, e->cval, e2, sizeof e2))
            goto fset;
        return 0;
    case SPEC_COL:
        if (fact_set_text(f, e->field, v, e2, sizeof e2)) goto fset;
        return 0;
    case SPEC_YUAN:
        if (conv_yuan_to_fen(v, &x)) {
            snprintf(reason, rsz, "field %s (column %s): not an amount in yuan: '%.40s'", fname, col, v);
            return -1;
        }
        if (fact_set_int(f, e->field, x, e2, sizeof e2)) goto fset;
        return 0;
    case SPEC_FEN:
    case SPEC_INT:
        if (conv_int(v, &x)) {
            snprintf(reason, rsz, "field %s (column %s): not an integer: '%.40s'", fname, col, v);
            return -1;
        }
        if (fact_set_int(f, e->field, x, e2, sizeof e2)) goto fset;
        return 0;
    case SPEC_DATE:
        if (conv_date(v, &d)) {
            snprintf(reason, rsz, "field %s (column %s): not a date: '%.40s'", fname, col, v);
            return -1;
        }
        if (ft == FT_TEXT) {
            char buf[16];
            snprintf(buf, sizeof buf, "%04d-%02d-%02d", d / 10000, d / 100 % 100, d % 100);
            if (fact_set_text(f, e->field, buf, e2, sizeof e2)) goto fset;
        } else if (fact_set_int(f, e->field, d, e2, sizeof e2))
            goto fset;
        return 0;
    case SPEC_MONTH:
        if (conv_month(v, &d)) {
            snprintf(reason, rsz, "field %s (column %s): not a month: '%.40s'", fname, col, v);
            return -1;
        }
        if (fact_set_int(f, e->field, d, e2, sizeof e2)) goto fset;
        return 0;
    case SPEC_CODE: {
        const char *to = NULL;
        size_t vl = strlen(v);
        while (vl && isspace((unsigned char)v[vl - 1])) vl--;
        while (vl && isspace((unsigned char)*v)) v++, vl--;
        for (size_t i = 0; i < e->ncodes && !to; i++)
            if (strlen(e->code_from[i]) == vl && !strncmp(e->code_from[i], v, vl)) to = e->code_to[i];
        if (!to) to = e->code_default;
        if (!to) {
            snprintf(reason, rsz, "field %s (column %s): code '%.*s' is not in the code table", fname, col,
                     (int)(vl > 40 ? 40 : vl), v);
            return -1;
        }
        if (fact_set_text(f, e->field, to, e2, sizeof e2)) goto fset;
        return 0;
    }
    case SPEC_BOOL: {
        int t = 0;
        for (size_t i = 0; i < e->ntruthy; i++) t |= !strcmp(e->truthy[i], v);
        if (fact_set_int(f, e->field, t, e2, sizeof e2)) goto fset;
        return 0;
    }
    }
    return 0;
fset:
    if (is_identity_field(e->field))
        snprintf(reason, rsz, "field %s (column %s): bad value", fname, col);
    else
        snprintf(reason, rsz, "field %s (column %s): %s", fname, col, e2);
    return -1;
}

/* Resolves map columns against the first row's column names. */
static int resolve_columns_in(pull_ctx *pc, char *err, size_t errsz);

/* Resolves map columns against the first row; messages name the source and
 * point at the line inside the stream's declaration. */
static int resolve_columns(pull_ctx *pc, char *err, size_t errsz) {
    char e2[900];
    pc->ad->compiling = pc->st->name;
    int rc = resolve_columns_in(pc, e2, sizeof e2);
    pc->ad->compiling = NULL;
    if (rc) snprintf(err, errsz, "source %s, stream '%s': %s", pc->ad->source, pc->st->name, e2);
    return rc;
}

static int resolve_columns_in(pull_ctx *pc, char *err, size_t errsz) {
    stream *st = pc->st;
    const row_view *r = &pc->row;
    st->keyidx = -1;
    for (int i = 0; i < r->ncols; i++)
        if (strcaseeq(r->names[i], st->key)) st->keyidx = i;
    if (st->keyidx < 0) goto missing_key;
    if (pc->incremental) {
        st->incidx = -1;
        for (int i = 0; i < r->ncols; i++)
            if (strcaseeq(r->names[i], st->inc_col)) st->incidx = i;
        if (st->incidx < 0)
            return set_err_at(pc->ad, "incremental", err, errsz, "incremental column '%s' is not in the query result",
                              st->inc_col);
    }
    for (size_t k = 0; k < st->nmap; k++) {
        map_entry *e = &st->map[k];
        e->colidx = -1;
        if (!e->col) continue;
        for (int i = 0; i < r->ncols; i++)
            if (strcaseeq(r->names[i], e->col)) e->colidx = i;
        if (e->colidx < 0) {
            char cols[400] = "";
            size_t n = 0;
            for (int i = 0; i < r->ncols && n < sizeof cols - 40; i++)
                n += (size_t)snprintf(cols + n, sizeof cols - n, "%s%s", i ? ", " : "", r->names[i]);
            return set_err_at(pc->ad, e->col, err, errsz,
                              "map.%s reads column '%s', which the query does not return (it returns: %s)",
                              fact_field_name(e->field), e->col, cols);
        }
    }
    pc->resolved = 1;
    return 0;
missing_key:
    return set_err_at(pc->ad, "key", err, errsz, "key column '%s' is not in the query result", st->key);
}

static int reject(pull_ctx *pc, const char *ref, const char *reason) {
    char *raw = adapter_raw_json(pc->ad);
    int rc = pc->sink->on_reject ? pc->sink->on_reject(pc->sink->ud, pc->st->name, ref, reason, raw) : 0;
    free(raw);
    if (rc) pc->stop = 1;
    return rc;
}

/* Fills fields from the Lua table at idx (row function result or emit).
 * Unknown fields warn once per stream. 0 ok, -1 reject with reason. */
static int fact_from_table(pull_ctx *pc, lua_State *L, int idx, char *reason, size_t rsz) {
    stream *st = pc->st;
    fact *f = &pc->f;
    char e2[300];
    idx = lua_absindex(L, idx);
    /* ref first, so that a reject of this record carries its key whatever
     * order lua_next visits the fields in */
    lua_getfield(L, idx, "ref");
    char *ref = scalar_text(L, -1);
    lua_pop(L, 1);
    if (ref) {
        free(f->ref);
        f->ref = ref;
    }
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            lua_pop(L, 1);
            continue;
        }
        const char *k = lua_tostring(L, -2);
        int t = lua_type(L, -1);
        if (!strcmp(k, "ref")) {
            lua_pop(L, 1);
            continue;
        }
        fact_field ff;
        if (fact_field_parse(k, &ff) || !fact_field_allowed(st->kind, ff)) {
            int seen = 0;
            for (size_t i = 0; i < st->nwarned; i++) seen |= !strcmp(st->warned[i], k);
            if (!seen) {
                st->warned = realloc(st->warned, (st->nwarned + 1) * sizeof(char *));
                if (!st->warned) abort();
                st->warned[st->nwarned++] = xstrdup(k);
                add_warning(pc->ad, "stream '%s': unknown field '%s' for %s facts is ignored", st->name, k,
                            fact_kind_name(st->kind));
            }
            lua_pop(L, 1);
            continue;
        }
        int rc = 0;
        field_type ft = fact_field_type(ff);
        if (t == LUA_TNIL) {
            rc = 0;
        } else if (t == LUA_TBOOLEAN) {
            rc = fact_set_int(f, ff, lua_toboolean(L, -1), e2, sizeof e2);
        } else if (t == LUA_TNUMBER && ft != FT_TEXT && ft != FT_ENUM) {
            if (lua_isinteger(L, -1))
                rc = fact_set_int(f, ff, lua_tointeger(L, -1), e2, sizeof e2);
            else {
                lua_Number n = lua_tonumber(L, -1);
                if (n != (lua_Number)(int64_t)n) {
                    snprintf(reason, rsz, "field %s: fractional number %.6g (money is integer fen; use yuan())", k, n);
                    lua_pop(L, 2);
                    return -1;
                }
                rc = fact_set_int(f, ff, (int64_t)n, e2, sizeof e2);
            }
        } else if (t == LUA_TSTRING || t == LUA_TNUMBER) {
            char *txt = scalar_text(L, -1);
            rc = fact_set_text(f, ff, txt, e2, sizeof e2);
            free(txt);
        } else {
            snprintf(reason, rsz, "field %s: a %s cannot be a field value", k, lua_typename(L, t));
            lua_pop(L, 2);
            return -1;
        }
        if (rc) {
            if (is_identity_field(ff))
                snprintf(reason, rsz, "field %s: bad value", k);
            else
                snprintf(reason, rsz, "%s", e2);
            lua_pop(L, 2);
            return -1;
        }
        lua_pop(L, 1);
    }
    return 0;
}

/* Lazy row userdata: r.col reads the current row's value (UTF-8 text or nil). */
typedef struct row_ud {
    pull_ctx *pc; /* NULL once the row function returned */
} row_ud;

static int l_row_index(lua_State *L) {
    row_ud *ru = luaL_checkudata(L, 1, ROW_MT);
    const char *k = luaL_checkstring(L, 2);
    if (!ru->pc) return luaL_error(L, "row used after its row function returned");
    pull_ctx *pc = ru->pc;
    if (pc->item) {
        json_t *v = json_path(pc->item, k);
        if (!v || json_is_null(v)) {
            lua_pushnil(L);
            return 1;
        }
        lua_rt_push_json(L, v);
        return 1;
    }
    for (int i = 0; i < pc->row.ncols; i++)
        if (strcaseeq(pc->row.names[i], k)) {
            if (pc->row.vals[i])
                lua_pushstring(L, pc->row.vals[i]);
            else
                lua_pushnil(L);
            return 1;
        }
    lua_pushnil(L);
    return 1;
}

/* Protected trampoline: (row_fn, row_ud) -> calls row_fn(row) and leaves its
 * results for the caller. */
static int l_row_call(lua_State *L) {
    lua_call(L, 1, 2);
    return 2;
}

/* Maps the current row (pc->row) into pc->f and hands it to the sink.
 * Returns nonzero to stop the pull. */
static int map_and_emit(pull_ctx *pc) {
    stream *st = pc->st;
    adapter *ad = pc->ad;
    char reason[600];
    fact *f = &pc->f;
    fact_clear(f);
    fact_init(f, st->kind);
    const char *key = pc->row.vals[st->keyidx];
    char refbuf[64];
    pc->rows_seen++;
    if (!key || !*key) {
        snprintf(refbuf, sizeof refbuf, "(row %ld)", pc->rows_seen);
        snprintf(reason, sizeof reason, "record has no key (column %s is empty)", st->key);
        return reject(pc, refbuf, reason);
    }
    f->source = xstrdup(ad->source);
    f->ref = xstrdup(key);
    for (size_t k = 0; k < st->nmap; k++) {
        const map_entry *e = &st->map[k];
        const char *v = e->op == SPEC_CONST ? e->cval : pc->row.vals[e->colidx];
        if (!v || !*v) continue;
        if (apply_entry(f, e, v, reason, sizeof reason)) {
            if (!e->lenient) return reject(pc, key, reason);
            /* lenient date: the field is left unset and the record kept */
            if (pc->lenient_dropped++ < 20)
                gg_warn(ad->source, "stream %s, record %s: %s; field dropped (lenient)", st->name, key, reason);
            else
                gg_debug(ad->source, "stream %s, record %s: %s; field dropped (lenient)", st->name, key, reason);
        }
    }
    if (st->row_ref != LUA_NOREF) {
        lua_State *L = lua_rt_state(ad->rt);
        lua_pushcfunction(L, l_row_call);
        lua_rawgeti(L, LUA_REGISTRYINDEX, st->row_ref);
        row_ud *ru = lua_newuserdatauv(L, sizeof *ru, 0);
        ru->pc = pc;
        luaL_setmetatable(L, ROW_MT);
        lua_pushvalue(L, -1);
        int ud_ref = luaL_ref(L, LUA_REGISTRYINDEX); /* to invalidate after the call */
        char e2[800];
        int rc = lua_rt_pcall(ad->rt, 2, 2, e2, sizeof e2);
        lua_rawgeti(L, LUA_REGISTRYINDEX, ud_ref);
        ((row_ud *)lua_touserdata(L, -1))->pc = NULL;
        lua_pop(L, 1);
        luaL_unref(L, LUA_REGISTRYINDEX, ud_ref);
        if (rc) {
            snprintf(reason, sizeof reason, "row function failed: %.560s", e2);
            if (++pc->consecutive_errors >= MAX_CONSECUTIVE_ROW_ERRORS) {
                snprintf(pc->err, sizeof pc->err, "source %s, stream '%s': stopped after %d consecutive row errors; last: %s",
                         ad->source, st->name, MAX_CONSECUTIVE_ROW_ERRORS, e2);
                reject(pc, key, reason);
                return 1;
            }
            return reject(pc, key, reason);
        }
        pc->consecutive_errors = 0;
        /* results: [-2] = value, [-1] = reason */
        if (lua_isnil(L, -2)) {
            lua_pop(L, 2);
            return 0; /* skipped on purpose */
        }
        if (lua_isboolean(L, -2) && !lua_toboolean(L, -2)) {
            snprintf(reason, sizeof reason, "rejected by the adapter: %s",
                     lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "(no reason given)");
            lua_pop(L, 2);
            return reject(pc, key, reason);
        }
        if (lua_istable(L, -2)) {
            if (fact_from_table(pc, L, -2, reason, sizeof reason)) {
                lua_pop(L, 2);
                return reject(pc, f->ref ? f->ref : key, reason);
            }
        } else if (!(lua_isboolean(L, -2) && lua_toboolean(L, -2))) {
            lua_pop(L, 2);
            snprintf(reason, sizeof reason, "row function must return a table of fields, nil (skip) or false, reason");
            return reject(pc, key, reason);
        }
        lua_pop(L, 2);
    }
    if (fact_check(f, reason, sizeof reason)) return reject(pc, f->ref, reason);
    pc->nrows++;
    int rc = pc->sink->on_fact ? pc->sink->on_fact(pc->sink->ud, st->name, f) : 0;
    if (rc) pc->stop = 1;
    if (pc->limit > 0 && pc->nrows >= pc->limit) pc->stop = 1;
    return pc->stop;
}

char *adapter_raw_json(adapter *ad) {
    pull_ctx *pc = ad->cur;
    if (!pc || !pc->st) return NULL;
    if (pc->item) return json_dumps(pc->item, JSON_COMPACT | JSON_SORT_KEYS);
    if (!pc->row.names) return NULL;
    json_t *o = json_object();
    for (int i = 0; i < pc->row.ncols; i++) {
        const char *v = pc->row.vals[i];
        json_object_set_new(o, pc->row.names[i], v ? json_string(v) : json_null());
    }
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

/* ------------------------------------------------------------- SQL streams */

static int params_to_source(adapter *ad, char **sql, char **params, int n, char *err, size_t errsz);
static void params_free(char **p, int n);

/* Copies s into the reusable buffer *buf (capacity *cap). */
static void buf_set(char **buf, size_t *cap, const char *s) {
    size_t n = strlen(s) + 1;
    if (n > *cap) {
        char *grown = realloc(*buf, n);
        if (!grown) abort();
        *buf = grown;
        *cap = n;
    }
    memcpy(*buf, s, n);
}

/* Incremental streams: the row is the newest read so far (rows arrive
 * ordered by (column, key)), unless its column or key is missing. Returns 1
 * when the column is NULL: the row is rejected and moves nothing (such rows
 * sort outside any watermark and would be re-read or lost otherwise). */
static int track_watermark(pull_ctx *pc, int *stop) {
    stream *st = pc->st;
    const char *ts = pc->vals[st->incidx], *key = pc->vals[st->keyidx];
    *stop = 0;
    if (!ts || !*ts) {
        char reason[200], refbuf[64];
        pc->rows_seen++;
        if (!key || !*key) snprintf(refbuf, sizeof refbuf, "(row %ld)", pc->rows_seen);
        snprintf(reason, sizeof reason, "incremental column %s is empty", st->inc_col);
        *stop = reject(pc, key && *key ? key : refbuf, reason) ? 1 : 0;
        return 1;
    }
    if (!key || !*key) return 0; /* rejected by the mapping; no tie-breaker to resume from */
    buf_set(&pc->wm_ts, &pc->wm_ts_cap, ts);
    buf_set(&pc->wm_key, &pc->wm_key_cap, key);
    pc->wm_set = 1;
    return 0;
}

static int sql_row_cb(void *ud, int ncols, const char *const *names, const char *const *vals) {
    pull_ctx *pc = ud;
    int bad = convert_row(pc, ncols, vals);
    pc->row.ncols = ncols;
    pc->row.names = names;
    pc->row.vals = pc->vals;
    if (!pc->resolved && resolve_columns(pc, pc->err, sizeof pc->err)) return 1;
    if (bad >= 0) pc->vals[bad] = NULL; /* keep raw_json printable */
    if (pc->incremental) {
        int stop;
        if (track_watermark(pc, &stop)) return stop;
    }
    if (bad >= 0) {
        const char *key = pc->vals[pc->st->keyidx] ? pc->vals[pc->st->keyidx] : "(unknown key)";
        char reason[300];
        snprintf(reason, sizeof reason, "column %s: not valid %s text", names[bad],
                 pc->ad->cd == (iconv_t)-1 ? "UTF-8 (set encoding = GBK in the source if it is a legacy system)"
                                           : pc->ad->src->encoding);
        return reject(pc, key, reason) ? 1 : 0;
    }
    return map_and_emit(pc);
}

/* The stream's SQL with trailing blanks and semicolons removed, so that it
 * can be wrapped as a subquery. malloc'd. */
static char *sql_trimmed(const char *sql) {
    size_t n = strlen(sql);
    while (n && (isspace((unsigned char)sql[n - 1]) || sql[n - 1] == ';')) n--;
    char *s = malloc(n + 1);
    if (!s) abort();
    memcpy(s, sql, n);
    s[n] = '\0';
    return s;
}

/* Builds the incremental query around the stream's SQL:
 *   SELECT * FROM (<sql>) gg_q [WHERE gg_q.c > P1 OR (gg_q.c = P2 AND gg_q.k > P3)]
 *   ORDER BY gg_q.c, gg_q.k
 * with placeholders numbered after the stream's own ($n for PostgreSQL, ? for
 * ODBC). No row-value constructor, so it runs on every SQL dialect we meet.
 * malloc'd. */
static char *incremental_sql(const stream *st, int pg, int resume) {
    char *inner = sql_trimmed(st->sql);
    const char *c = st->inc_col, *k = st->key;
    char p1[16] = "?", p2[16] = "?", p3[16] = "?";
    if (pg) {
        snprintf(p1, sizeof p1, "$%d", st->nparams + 1);
        snprintf(p2, sizeof p2, "$%d", st->nparams + 2);
        snprintf(p3, sizeof p3, "$%d", st->nparams + 3);
    }
    size_t cap = strlen(inner) + 4 * strlen(c) + 2 * strlen(k) + 200;
    char *out = malloc(cap);
    if (!out) abort();
    if (resume)
        snprintf(out, cap,
                 "SELECT * FROM (%s) gg_q WHERE gg_q.%s > %s OR (gg_q.%s = %s AND gg_q.%s > %s)"
                 " ORDER BY gg_q.%s, gg_q.%s",
                 inner, c, p1, c, p2, k, p3, c, k);
    else
        snprintf(out, cap, "SELECT * FROM (%s) gg_q ORDER BY gg_q.%s, gg_q.%s", inner, c, k);
    free(inner);
    return out;
}

/* Parses a watermark text {"ts": "...", "key": "..."} into malloc'd parts. */
static int watermark_parse(const char *text, char **ts, char **key) {
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    const char *t = j ? json_string_value(json_object_get(j, "ts")) : NULL;
    const char *k = j ? json_string_value(json_object_get(j, "key")) : NULL;
    int rc = -1;
    if (t && k) {
        *ts = xstrdup(t);
        *key = xstrdup(k);
        rc = 0;
    }
    json_decref(j);
    return rc;
}

static char *watermark_text(const char *ts, const char *key) {
    json_t *j = json_pack("{s:s, s:s}", "ts", ts, "key", key);
    if (!j) return NULL;
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

static int pull_sql(pull_ctx *pc, const char *watermark_in, char *err, size_t errsz) {
    stream *st = pc->st;
    conn *c = pc->ad->conns[st->conn_idx];
    char e2[1024];
    char *base = st->sql, *wm_ts = NULL, *wm_key = NULL;
    int nparams = st->nparams;
    if (st->inc_col) {
        if (watermark_in && watermark_parse(watermark_in, &wm_ts, &wm_key)) {
            snprintf(err, errsz, "source %s, stream '%s': stored watermark is not {\"ts\": ..., \"key\": ...}: %.200s",
                     pc->ad->source, st->name, watermark_in);
            return -1;
        }
        base = incremental_sql(st, conn_get_type(c) == CONN_PG, wm_ts != NULL);
        if (wm_ts) nparams += 3;
        pc->incremental = 1;
    }
    char *sql = base;
    char **params = calloc((size_t)nparams + 1, sizeof *params);
    if (!params) abort();
    for (int i = 0; i < st->nparams; i++) params[i] = st->params[i] ? xstrdup(st->params[i]) : NULL;
    if (wm_ts) {
        params[st->nparams] = xstrdup(wm_ts);
        params[st->nparams + 1] = wm_ts;
        params[st->nparams + 2] = wm_key;
    }
    int rc = -1;
    if (params_to_source(pc->ad, &sql, params, nparams, e2, sizeof e2) == 0)
        rc = conn_query(c, sql, nparams, (const char *const *)params, sql_row_cb, pc, e2, sizeof e2);
    if (sql != base) free(sql);
    if (base != st->sql) free(base);
    params_free(params, nparams);
    if (pc->err[0]) {
        snprintf(err, errsz, "%s", pc->err);
        return -1;
    }
    if (rc < 0) {
        snprintf(err, errsz, "source %s, stream '%s': %s", pc->ad->source, st->name, e2);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ HTTP streams */

static int http_item(pull_ctx *pc, json_t *item) {
    stream *st = pc->st;
    int n = st->nhttp_cols;
    /* values point into the item or into num[] (numbers printed as text) */
    const char **vals = calloc((size_t)n + 1, sizeof *vals);
    char(*num)[32] = calloc((size_t)n + 1, sizeof *num);
    if (!vals || !num) abort();
    for (int i = 0; i < n; i++) {
        json_t *v = json_path(item, st->http_cols[i]);
        vals[i] = NULL;
        if (!v || json_is_null(v)) continue;
        if (json_is_string(v))
            vals[i] = json_string_value(v);
        else if (json_is_integer(v)) {
            snprintf(num[i], sizeof num[i], "%" JSON_INTEGER_FORMAT, json_integer_value(v));
            vals[i] = num[i];
        } else if (json_is_real(v)) {
            snprintf(num[i], sizeof num[i], "%.15g", json_real_value(v));
            vals[i] = num[i];
        } else if (json_is_boolean(v)) {
            vals[i] = json_is_true(v) ? "true" : "false";
        }
    }
    pc->item = item;
    pc->row.ncols = n;
    pc->row.names = st->http_cols;
    pc->row.vals = vals;
    int rc = 1;
    if (pc->resolved || resolve_columns(pc, pc->err, sizeof pc->err) == 0) rc = map_and_emit(pc);
    pc->item = NULL;
    pc->row.vals = NULL;
    free(vals);
    free(num);
    return rc;
}

static int pull_http(pull_ctx *pc, char *err, size_t errsz) {
    stream *st = pc->st;
    conn *c = pc->ad->conns[st->conn_idx];
    long page = st->page_start;
    for (long pages = 0; pages < MAX_HTTP_PAGES; pages++, page++) {
        char path[2048];
        if (st->page_param) {
            int n = snprintf(path, sizeof path, "%s%c%s=%ld", st->get, strchr(st->get, '?') ? '&' : '?',
                             st->page_param, page);
            if (st->size_param) snprintf(path + n, sizeof path - (size_t)n, "&%s=%ld", st->size_param, st->page_size);
        } else {
            snprintf(path, sizeof path, "%s", st->get);
        }
        http_response resp = {0};
        char e2[1024];
        if (conn_http(c, "GET", path, NULL, NULL, 0, &resp, e2, sizeof e2)) {
            snprintf(err, errsz, "source %s, stream '%s': GET %s failed: %s", pc->ad->source, st->name, path, e2);
            return -1;
        }
        if (resp.status != 200) {
            snprintf(err, errsz, "source %s, stream '%s': GET %s answered HTTP %ld%s", pc->ad->source, st->name, path,
                     resp.status, resp.status == 401 || resp.status == 403 ? " (check the token)" : "");
            http_response_free(&resp);
            return -1;
        }
        json_error_t je;
        json_t *doc = json_loadb(resp.body, resp.len, 0, &je);
        http_response_free(&resp);
        if (!doc) {
            snprintf(err, errsz, "source %s, stream '%s': GET %s: response is not JSON (line %d: %s)", pc->ad->source,
                     st->name, path, je.line, je.text);
            return -1;
        }
        json_t *items = st->items ? json_path(doc, st->items) : doc;
        if (!json_is_array(items)) {
            snprintf(err, errsz, "source %s, stream '%s': GET %s: no array at '%s' in the response", pc->ad->source,
                     st->name, path, st->items ? st->items : "(top level)");
            json_decref(doc);
            return -1;
        }
        size_t n = json_array_size(items);
        for (size_t i = 0; i < n && !pc->stop; i++) {
            json_t *it = json_array_get(items, i);
            if (!json_is_object(it)) {
                char ref[64];
                snprintf(ref, sizeof ref, "(page %ld item %zu)", page, i);
                pc->item = NULL;
                if (reject(pc, ref, "item is not a JSON object")) break;
                continue;
            }
            if (http_item(pc, it)) pc->stop = 1;
        }
        json_decref(doc);
        if (pc->err[0]) {
            snprintf(err, errsz, "%s", pc->err);
            return -1;
        }
        if (pc->stop || !st->page_param || n == 0 || (st->size_param && (long)n < st->page_size)) return 0;
    }
    snprintf(err, errsz, "source %s, stream '%s': more than %d pages; is the paging parameter right?", pc->ad->source,
             st->name, MAX_HTTP_PAGES);
    return -1;
}

/* ------------------------------------------------- connections seen by Lua */

static conn *conn_check(lua_State *L, int idx) {
    conn_ud *cu = luaL_checkudata(L, idx, CONN_MT);
    if (cu->idx < 0 || cu->idx >= cu->ad->nconns || !cu->ad->conns[cu->idx])
        luaL_error(L, "connection is closed");
    return cu->ad->conns[cu->idx];
}

/* Reads a params table at idx into a malloc'd array of malloc'd strings.
 * Nothing here raises while memory is held except through the cleanup path. */
static char **params_from_lua(lua_State *L, int idx, int *n) {
    *n = 0;
    if (lua_isnoneornil(L, idx)) return NULL;
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_Integer len = luaL_len(L, idx);
    if (len < 0 || len > 1000) luaL_error(L, "too many parameters (%d)", (int)len);
    char **p = calloc((size_t)len + 1, sizeof *p);
    if (!p) luaL_error(L, "out of memory");
    for (lua_Integer i = 1; i <= len; i++) {
        lua_geti(L, idx, i);
        p[i - 1] = scalar_text(L, -1); /* nil -> NULL (SQL NULL) */
        lua_pop(L, 1);
    }
    *n = (int)len;
    return p;
}

static void params_free(char **p, int n) {
    for (int i = 0; i < n; i++) free(p[i]);
    free(p);
}

/* Text going back into a legacy source (SQL and parameters) is converted from
 * UTF-8 to the source's encoding, the mirror of the read boundary. Returns a
 * malloc'd string, or NULL with err naming what cannot be represented. */
static char *to_source_text(adapter *ad, const char *s, const char *what, char *err, size_t errsz) {
    if (!s) return NULL;
    size_t len = strlen(s);
    int ascii = 1;
    for (size_t i = 0; i < len && ascii; i++) ascii = (unsigned char)s[i] < 0x80;
    if (ascii || ad->cd_out == (iconv_t)-1) return xstrdup(s);
    size_t cap = len * 2 + 8;
    char *out = malloc(cap);
    if (!out) abort();
    iconv(ad->cd_out, NULL, NULL, NULL, NULL);
    char *in = (char *)s, *o = out;
    size_t inleft = len, outleft = cap - 1;
    if (iconv(ad->cd_out, &in, &inleft, &o, &outleft) == (size_t)-1 || inleft) {
        snprintf(err, errsz, "%s has a character that %s cannot represent", what, ad->src->encoding);
        free(out);
        return NULL;
    }
    *o = '\0';
    return out;
}

/* Converts sql and params in place for a non-UTF-8 source; 0 ok, -1 err. */
static int params_to_source(adapter *ad, char **sql, char **params, int n, char *err, size_t errsz) {
    if (ad->cd_out == (iconv_t)-1) return 0;
    char *conv = to_source_text(ad, *sql, "the SQL text", err, errsz);
    if (!conv) return -1;
    *sql = conv;
    for (int i = 0; i < n; i++) {
        if (!params[i]) continue;
        char what[32];
        snprintf(what, sizeof what, "parameter %d", i + 1);
        char *p = to_source_text(ad, params[i], what, err, errsz);
        if (!p) return -1;
        free(params[i]);
        params[i] = p;
    }
    return 0;
}

typedef struct lua_query {
    lua_State *L;
    pull_ctx *pc;
    int fn_idx;      /* callback function index, 0 = collect into table */
    int tbl_idx;     /* result table when collecting */
    long n;
    int failed;
    char err[1024];
} lua_query;

/* Builds a row table from pc->row: protected helper. [-0, +1] */
static int l_build_row(lua_State *L) {
    pull_ctx *pc = lua_touserdata(L, 1);
    lua_createtable(L, 0, pc->row.ncols);
    for (int i = 0; i < pc->row.ncols; i++) {
        if (!pc->row.vals[i]) continue;
        lua_pushstring(L, pc->row.vals[i]);
        lua_setfield(L, -2, pc->row.names[i]);
    }
    return 1;
}

static int lua_query_row(void *ud, int ncols, const char *const *names, const char *const *vals) {
    lua_query *q = ud;
    lua_State *L = q->L;
    pull_ctx *pc = q->pc;
    int bad = convert_row(pc, ncols, vals);
    if (bad >= 0) {
        snprintf(q->err, sizeof q->err, "column %s: not valid text in the source encoding", names[bad]);
        q->failed = 1;
        return 1;
    }
    pc->row.ncols = ncols;
    pc->row.names = names;
    pc->row.vals = pc->vals;
    /* Never let a Lua error longjmp through the connector: protected calls only. */
    lua_pushcfunction(L, l_build_row);
    lua_pushlightuserdata(L, pc);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) goto lua_failed;
    if (q->fn_idx) {
        lua_pushvalue(L, q->fn_idx);
        lua_insert(L, -2);
        if (lua_pcall(L, 1, 1, 0) != LUA_OK) goto lua_failed;
        int stop = lua_isboolean(L, -1) && !lua_toboolean(L, -1);
        lua_pop(L, 1);
        q->n++;
        return stop ? 2 : 0;
    }
    lua_rawseti(L, q->tbl_idx, ++q->n);
    return 0;
lua_failed:
    snprintf(q->err, sizeof q->err, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "error in row callback");
    lua_pop(L, 1);
    q->failed = 1;
    return 1;
}

/* c:query(sql, params [, fn]) -> rows table, or count when fn is given. */
static int l_conn_query(lua_State *L) {
    conn *c = conn_check(L, 1);
    conn_ud *cu = lua_touserdata(L, 1);
    const char *sql = luaL_checkstring(L, 2);
    int has_fn = lua_isfunction(L, 4);
    lua_settop(L, 4);
    pull_ctx local = {0};
    local.ad = cu->ad;
    lua_query q = {.L = L, .pc = &local, .fn_idx = has_fn ? 4 : 0};
    if (!has_fn) {
        lua_newtable(L);
        q.tbl_idx = lua_gettop(L);
    }
    int n;
    char **params = params_from_lua(L, 3, &n);
    char e2[1024];
    char *sqlc = (char *)sql;
    int rc = -1;
    if (params_to_source(cu->ad, &sqlc, params, n, e2, sizeof e2) == 0)
        rc = conn_query(c, sqlc, n, (const char *const *)params, lua_query_row, &q, e2, sizeof e2);
    if (sqlc != sql) free(sqlc);
    params_free(params, n);
    free(local.arena);
    free(local.vals);
    free(local.offs);
    if (q.failed) return luaL_error(L, "%s", q.err);
    if (rc < 0) return luaL_error(L, "%s", e2);
    if (has_fn) {
        lua_pushinteger(L, q.n);
        return 1;
    }
    return 1; /* the rows table */
}

/* c:exec(sql, params) -> affected rows */
static int l_conn_exec(lua_State *L) {
    conn *c = conn_check(L, 1);
    conn_ud *cu = lua_touserdata(L, 1);
    const char *sql = luaL_checkstring(L, 2);
    int n;
    char **params = params_from_lua(L, 3, &n);
    long affected = 0;
    char e2[1024];
    char *sqlc = (char *)sql;
    int rc = -1;
    if (params_to_source(cu->ad, &sqlc, params, n, e2, sizeof e2) == 0)
        rc = conn_exec(c, sqlc, n, (const char *const *)params, &affected, e2, sizeof e2);
    if (sqlc != sql) free(sqlc);
    params_free(params, n);
    if (rc < 0) return luaL_error(L, "%s", e2);
    lua_pushinteger(L, affected);
    return 1;
}

/* Shared by get/post/put: method, path, optional body table. Returns status,
 * decoded body (table for JSON, string otherwise). */
static int http_call(lua_State *L, const char *method) {
    conn *c = conn_check(L, 1);
    const char *path = luaL_checkstring(L, 2);
    char *body = NULL;
    char e2[1024];
    char pathbuf[4096];
    if (!strcmp(method, "GET") && lua_istable(L, 3)) {
        /* query table -> ?k=v&... */
        size_t n = (size_t)snprintf(pathbuf, sizeof pathbuf, "%s", path);
        char sep = strchr(path, '?') ? '&' : '?';
        lua_pushnil(L);
        while (lua_next(L, 3)) {
            char *k = scalar_text(L, -2), *v = scalar_text(L, -1);
            char *ek = k ? conn_url_escape(k) : NULL, *ev = v ? conn_url_escape(v) : NULL;
            if (ek && ev && n < sizeof pathbuf)
                n += (size_t)snprintf(pathbuf + n, sizeof pathbuf - n, "%c%s=%s", sep, ek, ev);
            sep = '&';
            free(k);
            free(v);
            free(ek);
            free(ev);
            lua_pop(L, 1);
        }
        if (n >= sizeof pathbuf) return luaL_error(L, "query string too long");
        path = pathbuf;
    } else if (strcmp(method, "GET") && !lua_isnoneornil(L, 3)) {
        json_t *j = lua_rt_to_json(L, 3, e2, sizeof e2);
        if (!j) return luaL_error(L, "request body: %s", e2);
        body = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        if (!body) return luaL_error(L, "request body: cannot encode JSON");
    }
    const char *hdrs[] = {"Content-Type: application/json; charset=utf-8", "Accept: application/json", NULL};
    http_response resp = {0};
    int rc = conn_http(c, method, path, hdrs, body, body ? strlen(body) : 0, &resp, e2, sizeof e2);
    free(body);
    if (rc) return luaL_error(L, "%s %s: %s", method, path, e2);
    lua_pushinteger(L, resp.status);
    json_error_t je;
    json_t *doc = resp.len ? json_loadb(resp.body, resp.len, 0, &je) : NULL;
    if (doc) {
        http_response_free(&resp);
        /* push_json may raise on memory: free doc first via a protected call
         * would be ideal; jansson doc is freed right after, so push a copy. */
        lua_rt_push_json(L, doc);
        json_decref(doc);
    } else {
        lua_pushlstring(L, resp.body ? resp.body : "", resp.len);
        http_response_free(&resp);
    }
    return 2;
}
static int l_conn_get(lua_State *L) { return http_call(L, "GET"); }
static int l_conn_post(lua_State *L) { return http_call(L, "POST"); }
static int l_conn_put(lua_State *L) { return http_call(L, "PUT"); }

static int l_conn_tostring(lua_State *L) {
    conn_ud *cu = luaL_checkudata(L, 1, CONN_MT);
    lua_pushfstring(L, "connection %s of source %s", cu->ad->src->conns[cu->idx].name, cu->ad->source);
    return 1;
}

int adapter_connect(adapter *ad, char *err, size_t errsz) {
    lua_State *L = lua_rt_state(ad->rt);
    if (ad->nconns) return 0;
    for (int i = 0; i < ad->src->nconns; i++) {
        const gg_conn_conf *cc = &ad->src->conns[i];
        /* conn_opts: retries 0 = default, negative = none */
        conn_opts o = {.bearer_token = cc->token,
                       .timeout_ms = cc->timeout_ms,
                       .retries = cc->retries < 0 ? 0 : (cc->retries == 0 ? -1 : cc->retries)};
        char e2[1024];
        conn *c = conn_open(ad->source, cc->name, cc->spec, &o, e2, sizeof e2);
        if (!c) {
            snprintf(err, errsz, "%s", e2);
            for (int k = 0; k < ad->nconns; k++) conn_close(ad->conns[k]);
            ad->nconns = 0;
            return -1;
        }
        ad->conns[ad->nconns++] = c;
    }
    if (luaL_newmetatable(L, CONN_MT)) {
        static const luaL_Reg m[] = {{"query", l_conn_query}, {"exec", l_conn_exec}, {"get", l_conn_get},
                                     {"post", l_conn_post},   {"put", l_conn_put},   {NULL, NULL}};
        luaL_newlib(L, m);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, l_conn_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
    if (luaL_newmetatable(L, ROW_MT)) {
        lua_pushcfunction(L, l_row_index);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    lua_createtable(L, 0, ad->nconns);
    for (int i = 0; i < ad->nconns; i++) {
        conn_ud *cu = lua_newuserdatauv(L, sizeof *cu, 0);
        cu->ad = ad;
        cu->idx = i;
        luaL_setmetatable(L, CONN_MT);
        lua_setfield(L, -2, ad->src->conns[i].name);
    }
    ad->conns_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

/* ------------------------------------------------------ custom Lua pulls */

/* ctx.emit{...}: builds a fact from the table. Conversion problems reject the
 * record (quarantine) rather than fail the pull. */
static int l_emit(lua_State *L) {
    adapter *ad = lua_touserdata(L, lua_upvalueindex(1));
    pull_ctx *pc = ad->cur;
    if (!pc) return luaL_error(L, "emit called outside a pull");
    luaL_checktype(L, 1, LUA_TTABLE);
    fact_clear(&pc->f);
    fact_init(&pc->f, pc->st->kind);
    pc->f.source = xstrdup(ad->source);
    char reason[600];
    /* raw_json for evidence: the emitted table itself */
    char e2[256];
    json_t *raw = lua_rt_to_json(L, 1, e2, sizeof e2);
    pc->item = raw;
    int rc;
    if (fact_from_table(pc, L, 1, reason, sizeof reason)) {
        rc = reject(pc, pc->f.ref ? pc->f.ref : "(no ref)", reason);
    } else if (!pc->f.ref) {
        rc = reject(pc, "(no ref)", "emitted record has no ref (the department's record key)");
    } else if (fact_check(&pc->f, reason, sizeof reason)) {
        rc = reject(pc, pc->f.ref, reason);
    } else {
        pc->nrows++;
        rc = pc->sink->on_fact ? pc->sink->on_fact(pc->sink->ud, pc->st->name, &pc->f) : 0;
        if (pc->limit > 0 && pc->nrows >= pc->limit) rc = 1;
    }
    pc->item = NULL;
    json_decref(raw);
    if (rc) pc->stop = 1;
    lua_pushboolean(L, !pc->stop);
    return 1;
}

static int l_reject(lua_State *L) {
    adapter *ad = lua_touserdata(L, lua_upvalueindex(1));
    pull_ctx *pc = ad->cur;
    if (!pc) return luaL_error(L, "reject called outside a pull");
    char *ref = scalar_text(L, 1);
    const char *why = luaL_optstring(L, 2, "rejected by the adapter");
    char reason[600];
    snprintf(reason, sizeof reason, "rejected by the adapter: %s", why);
    reject(pc, ref ? ref : "(no ref)", reason);
    free(ref);
    return 0;
}

static int pull_lua(pull_ctx *pc, char *err, size_t errsz) {
    adapter *ad = pc->ad;
    lua_State *L = lua_rt_state(ad->rt);
    lua_rawgeti(L, LUA_REGISTRYINDEX, pc->st->pull_ref);
    lua_createtable(L, 0, 4);
    lua_rawgeti(L, LUA_REGISTRYINDEX, ad->conns_ref);
    lua_setfield(L, -2, "conns");
    lua_pushlightuserdata(L, ad);
    lua_pushcclosure(L, l_emit, 1);
    lua_setfield(L, -2, "emit");
    lua_pushlightuserdata(L, ad);
    lua_pushcclosure(L, l_reject, 1);
    lua_setfield(L, -2, "reject");
    lua_pushstring(L, pc->st->name);
    lua_setfield(L, -2, "stream");
    char e2[1024];
    if (lua_rt_pcall(ad->rt, 1, 0, e2, sizeof e2)) {
        snprintf(err, errsz, "source %s, stream '%s': %s", ad->source, pc->st->name, e2);
        return -1;
    }
    return 0;
}

int adapter_pull(adapter *ad, size_t i, const adapter_sink *sink, long limit, const char *watermark_in,
                 long *nrows, char **watermark_out, char *err, size_t errsz) {
    if (watermark_out) *watermark_out = NULL;
    if (i >= ad->nstreams) {
        snprintf(err, errsz, "source %s: no stream %zu", ad->source, i);
        return -1;
    }
    if (!ad->nconns && ad->src->nconns && adapter_connect(ad, err, errsz)) return -1;
    stream *st = &ad->streams[i];
    pull_ctx pc = {.ad = ad, .st = st, .sink = sink, .limit = limit};
    fact_init(&pc.f, st->kind);
    ad->cur = &pc;
    int rc;
    if (st->pull_ref != LUA_NOREF)
        rc = pull_lua(&pc, err, errsz);
    else if (conn_get_type(ad->conns[st->conn_idx]) == CONN_HTTP)
        rc = pull_http(&pc, err, errsz);
    else
        rc = pull_sql(&pc, watermark_in, err, errsz);
    ad->cur = NULL;
    if (rc == 0 && pc.wm_set && watermark_out) {
        *watermark_out = watermark_text(pc.wm_ts, pc.wm_key);
        if (!*watermark_out) {
            snprintf(err, errsz, "source %s, stream '%s': cannot encode the watermark (not UTF-8 text?)", ad->source,
                     st->name);
            rc = -1;
        }
    }
    fact_clear(&pc.f);
    free(pc.arena);
    free(pc.vals);
    free(pc.offs);
    free(pc.wm_ts);
    free(pc.wm_key);
    if (nrows) *nrows = pc.nrows;
    return rc;
}

int adapter_id15(const char *id18, char out[16]) {
    if (!id18 || strlen(id18) != 18 || id18[6] != '1' || id18[7] != '9') return -1;
    for (int i = 0; i < 17; i++)
        if (!isdigit((unsigned char)id18[i])) return -1;
    memcpy(out, id18, 6);
    memcpy(out + 6, id18 + 8, 9);
    out[15] = '\0';
    return 0;
}

int adapter_lookup(adapter *ad, size_t i, const char *id18, const adapter_sink *sink, long *nrows, char *err,
                   size_t errsz) {
    if (nrows) *nrows = 0;
    if (i >= ad->nstreams) {
        snprintf(err, errsz, "source %s: no stream %zu", ad->source, i);
        return -1;
    }
    stream *st = &ad->streams[i];
    if (!st->lookup) {
        snprintf(err, errsz, "source %s, stream '%s': the stream declares no lookup", ad->source, st->name);
        return -1;
    }
    if (!ad->nconns && ad->src->nconns && adapter_connect(ad, err, errsz)) return -1;
    char id15[16];
    char *params[2] = {xstrdup(id18), xstrdup(adapter_id15(id18, id15) == 0 ? id15 : id18)};
    pull_ctx pc = {.ad = ad, .st = st, .sink = sink};
    fact_init(&pc.f, st->kind);
    ad->cur = &pc;
    char e2[1024];
    char *sql = st->lookup;
    int rc = -1;
    if (params_to_source(ad, &sql, params, 2, e2, sizeof e2) == 0)
        rc = conn_query(ad->conns[st->conn_idx], sql, 2, (const char *const *)params, sql_row_cb, &pc, e2, sizeof e2);
    if (sql != st->lookup) free(sql);
    free(params[0]);
    free(params[1]);
    ad->cur = NULL;
    if (pc.err[0]) {
        snprintf(err, errsz, "%s (in the lookup)", pc.err);
        rc = -1;
    } else if (rc < 0) {
        snprintf(err, errsz, "source %s, stream '%s': lookup: %s", ad->source, st->name, e2);
    } else {
        rc = 0;
    }
    fact_clear(&pc.f);
    free(pc.arena);
    free(pc.vals);
    free(pc.offs);
    if (nrows) *nrows = pc.nrows;
    return rc;
}

/* -------------------------------------------------------------------- push */

static void set_str(lua_State *L, const char *k, const char *v) {
    if (!v) return;
    lua_pushstring(L, v);
    lua_setfield(L, -2, k);
}

/* Protected: (push_fn, alert*, explanation, conns, summary) -> push_fn(alert_table, conns). */
static int l_push_call(lua_State *L) {
    const alert *a = lua_touserdata(L, 2);
    const char *expl = lua_tostring(L, 3);
    lua_createtable(L, 0, 24);
    set_str(L, "id", a->id);
    set_str(L, "rule", rule_name(a->rule));
    set_str(L, "rule_title", rule_title_zh(a->rule));
    set_str(L, "subject", a->subject);
    set_str(L, "id_no", a->id_no);
    set_str(L, "name", a->name);
    set_str(L, "case", a->case_key);
    set_str(L, "region", a->region);
    set_str(L, "grid", a->grid);
    lua_pushinteger(L, a->amount);
    lua_setfield(L, -2, "amount");
    char yuan[40];
    snprintf(yuan, sizeof yuan, "%s%lld.%02lld", a->amount < 0 ? "-" : "", (long long)llabs(a->amount) / 100,
             (long long)llabs(a->amount) % 100);
    set_str(L, "amount_yuan", yuan);
    set_str(L, "confidence", confidence_name(a->conf));
    set_str(L, "status", a->status);
    lua_pushinteger(L, a->version);
    lua_setfield(L, -2, "version");
    lua_createtable(L, (int)a->nperiods, 0);
    char first[16] = "", last[16] = "";
    for (size_t i = 0; i < a->nperiods; i++) {
        char m[16];
        snprintf(m, sizeof m, "%04d-%02d", a->periods[i] / 100 % 10000, a->periods[i] % 100);
        lua_pushstring(L, m);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
        if (i == 0) memcpy(first, m, sizeof m);
        memcpy(last, m, sizeof m);
    }
    lua_setfield(L, -2, "periods");
    if (a->nperiods) {
        set_str(L, "first_period", first);
        set_str(L, "last_period", last);
    }
    set_str(L, "explanation", expl);
    set_str(L, "summary", lua_tostring(L, 5));
    if (a->detail_json) {
        json_error_t je;
        json_t *d = json_loads(a->detail_json, 0, &je);
        if (d) {
            lua_rt_push_json(L, d); /* may raise on OOM; d leaks then (bounded, rare) */
            json_decref(d);
            lua_setfield(L, -2, "detail");
        }
    }
    /* stack: fn, alert*, expl, conns, alert_table */
    lua_pushvalue(L, 1);
    lua_insert(L, -2);
    lua_pushvalue(L, 4);
    lua_call(L, 2, 0);
    return 0;
}

int adapter_push(adapter *ad, const alert *a, const char *explanation, char *err, size_t errsz) {
    if (ad->push_ref == LUA_NOREF) {
        snprintf(err, errsz, "source %s: the adapter %s has no push function", ad->source, ad->path);
        return -1;
    }
    if (!ad->nconns && ad->src->nconns && adapter_connect(ad, err, errsz)) return -1;
    lua_State *L = lua_rt_state(ad->rt);
    lua_pushcfunction(L, l_push_call);
    lua_rawgeti(L, LUA_REGISTRYINDEX, ad->push_ref);
    lua_pushlightuserdata(L, (void *)a);
    lua_pushstring(L, explanation ? explanation : "");
    if (ad->conns_ref != LUA_NOREF)
        lua_rawgeti(L, LUA_REGISTRYINDEX, ad->conns_ref);
    else
        lua_newtable(L);
    char *summary = alert_summary_zh(a); /* one masked line, e.g. for a list column */
    lua_pushstring(L, summary ? summary : "");
    free(summary);
    char e2[1024];
    if (lua_rt_pcall(ad->rt, 5, 0, e2, sizeof e2)) {
        snprintf(err, errsz, "source %s: push of alert %s failed: %s", ad->source, a->id, e2);
        return -1;
    }
    return 0;
}
