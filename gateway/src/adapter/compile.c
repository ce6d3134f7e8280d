/* compile.c - a stream declaration (the Lua table under streams.NAME) into a
 * compiled stream: kind, connection, SQL or HTTP source, paging, incremental
 * and lookup options, and the `map` compiled into map entries that map.c
 * applies in C. Every mistake is a load error naming file and line. */
#include "adapter/adapter_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn/registry.h"
#include "core/util.h"

/* Spec names by spec_op, as the constructors write them into spec tables. */
const char *const ad_spec_names[] = {"col", "const", "yuan", "fen", "date", "month", "code",
                                  "bool", "int", NULL};

/* ------------------------------------------------------------ compile map */

void ad_map_entry_free(map_entry *e) {
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
char *ad_scalar_text(lua_State *L, int idx) {
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
        return ad_err_at(ad, fname, err, errsz,
                          "stream '%s': map.%s must be a column name or a spec such as yuan \"col\"", st->name, fname);
    lua_getfield(L, -1, "op");
    const char *op = lua_tostring(L, -1);
    for (int i = 0; ad_spec_names[i]; i++)
        if (op && !strcmp(op, ad_spec_names[i])) e->op = (spec_op)i;
    lua_pop(L, 1);
    lua_getfield(L, -1, "col");
    if (lua_type(L, -1) == LUA_TSTRING) e->col = xstrdup(lua_tostring(L, -1));
    lua_pop(L, 1);
    lua_getfield(L, -1, "lenient");
    e->lenient = e->op == SPEC_DATE && lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (e->op == SPEC_CONST) {
        lua_getfield(L, -1, "value");
        e->cval = ad_scalar_text(L, -1);
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
        if (rc) return ad_err_at(ad, fname, err, errsz, "stream '%s': map.%s: %s", st->name, fname, e2);
    } else if (e->op == SPEC_CODE) {
        lua_getfield(L, -1, "codes");
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            /* key -2, value -1 */
            char *from = ad_scalar_text(L, -2);
            char *to = ad_scalar_text(L, -1);
            if (!from || !to) {
                free(from);
                free(to);
                lua_pop(L, 3);
                return ad_err_at(ad, "code", err, errsz, "stream '%s': map.%s: code table keys and values must be strings or numbers", st->name, fname);
            }
            if (!strcmp(from, "default")) {
                free(e->code_default);
                e->code_default = to;
                free(from);
            } else {
                e->code_from = realloc(e->code_from, (e->ncodes + 1) * sizeof(char *));
                e->code_to = realloc(e->code_to, (e->ncodes + 1) * sizeof(char *));
                if (!e->code_from || !e->code_to) gg_oom();
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
            char *t = ad_scalar_text(L, -1);
            lua_pop(L, 1);
            if (!t) continue;
            e->truthy = realloc(e->truthy, (e->ntruthy + 1) * sizeof(char *));
            if (!e->truthy) gg_oom();
            e->truthy[e->ntruthy++] = t;
        }
        lua_pop(L, 1);
    }
    if (e->op != SPEC_CONST && !e->col)
        return ad_err_at(ad, fname, err, errsz, "stream '%s': map.%s: the spec names no column", st->name, fname);
    field_type ft = fact_field_type(field);
    if ((e->op == SPEC_YUAN || e->op == SPEC_FEN) && ft != FT_MONEY)
        return ad_err_at(ad, fname, err, errsz, "stream '%s': map.%s is not a money field; %s() applies to amount/value",
                          st->name, fname, ad_spec_names[e->op]);
    if (e->op == SPEC_MONTH && ft != FT_MONTH)
        return ad_err_at(ad, fname, err, errsz, "stream '%s': map.%s is not a month field", st->name, fname);
    if (e->op == SPEC_DATE && ft != FT_DATE && ft != FT_TEXT)
        return ad_err_at(ad, fname, err, errsz, "stream '%s': map.%s is not a date field", st->name, fname);
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
static int compile_incremental(adapter *ad, stream *st, int t, int http, char *err, size_t errsz) {
    lua_State *L = lua_rt_state(ad->rt);
    lua_getfield(L, t, "incremental");
    int has_inc = !lua_isnil(L, -1);
    if (has_inc) {
        if (st->pull_ref != LUA_NOREF || http == 1) {
            lua_pop(L, 1);
            return ad_err_at(ad, "incremental", err, errsz,
                              "stream '%s': incremental applies to declarative SQL streams only (not to %s)", st->name,
                              st->pull_ref != LUA_NOREF ? "a pull function" : "HTTP streams");
        }
        if (!lua_istable(L, -1)) {
            lua_pop(L, 1);
            return ad_err_at(ad, "incremental", err, errsz,
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
                return ad_err_at(ad, "incremental", err, errsz,
                                  "stream '%s': incremental: unknown key '%s' (known: column; a lag window is not implemented)",
                                  st->name, kk);
            }
        }
        st->inc_col = opt_string_field(L, -1, "column");
        lua_pop(L, 1);
        if (!is_sql_identifier(st->inc_col))
            return ad_err_at(ad, "incremental", err, errsz,
                              "stream '%s': incremental.column must name a column (letters, digits, _), got '%s'",
                              st->name, st->inc_col ? st->inc_col : "(missing)");
        if (!is_sql_identifier(st->key))
            return ad_err_at(ad, "key", err, errsz,
                              "stream '%s': an incremental stream's key must be a plain column name (it breaks ties), got '%s'",
                              st->name, st->key ? st->key : "(missing)");
    } else {
        lua_pop(L, 1);
    }
    lua_getfield(L, t, "lookup");
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING) {
            lua_pop(L, 1);
            return ad_err_at(ad, "lookup", err, errsz, "stream '%s': lookup must be SQL text: lookup = [[SELECT ...]]", st->name);
        }
        st->lookup = xstrdup(lua_tostring(L, -1));
        if (st->pull_ref != LUA_NOREF || http == 1) {
            lua_pop(L, 1);
            return ad_err_at(ad, "lookup", err, errsz, "stream '%s': lookup applies to declarative SQL streams only", st->name);
        }
        if (!fact_kind_is_stream(st->kind)) {
            lua_pop(L, 1);
            return ad_err_at(ad, "lookup", err, errsz,
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

/* 1 when the connection's kind (conn/registry.h) serves get = "/path" streams
 * rather than sql = [[...]] ones. */
static int conn_spec_http(const adapter *ad, int idx) {
    const conn_kind *k = conn_registry_for_spec(ad->src->conns[idx].spec, NULL);
    return k && conn_kind_serves(k, CONN_SERVES_HTTP) && !conn_kind_serves(k, CONN_SERVES_SQL);
}

static char *opt_string_field(lua_State *L, int idx, const char *key) {
    lua_getfield(L, idx, key);
    char *s = lua_type(L, -1) == LUA_TSTRING ? xstrdup(lua_tostring(L, -1)) : NULL;
    lua_pop(L, 1);
    return s;
}

/* Rejects a key of the stream table at t that is not in stream_keys. [-0, +0] */
static int check_stream_keys(adapter *ad, stream *st, int t, char *err, size_t errsz) {
    lua_State *L = lua_rt_state(ad->rt);
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) {
            lua_pop(L, 1);
            return ad_err_at(ad, st->name, err, errsz, "stream '%s': keys must be names", st->name);
        }
        const char *k = lua_tostring(L, -1);
        int known = 0;
        for (int i = 0; stream_keys[i]; i++) known |= !strcmp(k, stream_keys[i]);
        if (!known) {
            char kk[64];
            snprintf(kk, sizeof kk, "%s", k);
            lua_pop(L, 1);
            return ad_err_at(ad, kk, err, errsz, "stream '%s': unknown key '%s' (known: kind, conn, sql, params, key, map, row, pull, get, items, page, incremental, lookup)",
                              st->name, kk);
        }
    }
    return 0;
}

/* Reads what every stream may have: kind, conn, sql, get, items, key and the
 * pull/row functions (registry refs), and fills st->info. [-0, +0] */
static int compile_common(adapter *ad, stream *st, int t, char *err, size_t errsz) {
    lua_State *L = lua_rt_state(ad->rt);
    char *kind = opt_string_field(L, t, "kind");
    if (!kind || fact_kind_parse(kind, &st->kind)) {
        int rc = ad_err_at(ad, st->name, err, errsz,
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
            return ad_err_at(ad, "conn", err, errsz, "stream '%s': connection '%s' is not configured; add conn.%s = ... to [source %s]",
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
    st->info.pure = st->info.declarative && st->row_ref == LUA_NOREF;
    return 0;
}

/* HTTP source: get = "/path" and the optional page = { param, size_param,
 * start, size } of the stream table at t. [-0, +0] */
static int compile_http_source(adapter *ad, stream *st, int t, char *err, size_t errsz) {
    lua_State *L = lua_rt_state(ad->rt);
    if (!st->get)
        return ad_err_at(ad, st->name, err, errsz, "stream '%s': connection '%s' is HTTP: give get = \"/path\" and items = \"data.items\"", st->name, st->conn);
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
            return ad_err_at(ad, "page", err, errsz, "stream '%s': page needs param = \"page\"", st->name);
        }
    }
    lua_pop(L, 1);
    return 0;
}

/* SQL source: sql = [[SELECT ...]] and the optional params list of the stream
 * table at t. [-0, +0] */
static int compile_sql_source(adapter *ad, stream *st, int t, char *err, size_t errsz) {
    lua_State *L = lua_rt_state(ad->rt);
    if (!st->sql)
        return ad_err_at(ad, st->name, err, errsz, "stream '%s': connection '%s' is SQL: give sql = [[SELECT ...]]", st->name, st->conn);
    lua_getfield(L, t, "params");
    if (lua_istable(L, -1)) {
        lua_Integer n = luaL_len(L, -1);
        st->params = calloc((size_t)n + 1, sizeof(char *));
        if (!st->params) gg_oom();
        for (lua_Integer i = 1; i <= n; i++) {
            lua_geti(L, -1, i);
            st->params[i - 1] = ad_scalar_text(L, -1);
            lua_pop(L, 1);
        }
        st->nparams = (int)n;
    }
    lua_pop(L, 1);
    return 0;
}

/* Compiles `map` of the stream table at t into st->map. Field names that are
 * not fields of the stream's kind warn and are skipped. [-0, +0] */
static int cmp_map_entry_field(const void *a, const void *b) {
    const map_entry *x = a, *y = b;
    return (x->field > y->field) - (x->field < y->field);
}

static int compile_map(adapter *ad, stream *st, int t, char *err, size_t errsz) {
    lua_State *L = lua_rt_state(ad->rt);
    lua_getfield(L, t, "map");
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        return ad_err_at(ad, st->name, err, errsz, "stream '%s': missing 'map' (fact field = column)", st->name);
    }
    int m = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, m)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            lua_pop(L, 3);
            return ad_err_at(ad, "map", err, errsz, "stream '%s': map keys must be fact field names", st->name);
        }
        const char *fname = lua_tostring(L, -2);
        fact_field f;
        if (fact_field_parse(fname, &f) || !fact_field_allowed(st->kind, f)) {
            /* Not fatal: the record model may grow, and a data officer sees it
             * in `check` and `adapter test`. Required fields are checked below. */
            char where[700];
            ad_err_at(ad, fname, where, sizeof where, "stream '%s': '%s' is not a field of %s facts; it is ignored (see docs/record-model.md)",
                       st->name, fname, fact_kind_name(st->kind));
            ad_warn(ad, "%s", where);
            lua_pop(L, 1);
            continue;
        }
        st->map = realloc(st->map, (st->nmap + 1) * sizeof *st->map);
        if (!st->map) gg_oom();
        if (compile_entry(ad, st, f, &st->map[st->nmap], err, errsz)) {
            st->nmap++;
            lua_pop(L, 3);
            return -1;
        }
        st->nmap++;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    /* lua_next's order changes with Lua's per-state hash seed: run the entries
     * in field order, so the first bad value named in a reject is the same on
     * every run. */
    if (st->nmap > 1) qsort(st->map, st->nmap, sizeof *st->map, cmp_map_entry_field);
    return 0;
}

/* Required fields must be mapped (or come from the row function). */
static int check_required(adapter *ad, stream *st, char *err, size_t errsz) {
    if (st->row_ref == LUA_NOREF) {
        for (int f = 0; f < FF__COUNT; f++) {
            if (!fact_field_required(st->kind, (fact_field)f)) continue;
            int have = 0;
            fact_field alt = fact_field_alternative(st->kind, (fact_field)f); /* payment: case for id_no */
            for (size_t i = 0; i < st->nmap; i++) have |= st->map[i].field == (fact_field)f || st->map[i].field == alt;
            if (!have)
                return ad_err_at(ad, "map", err, errsz, "stream '%s': map lacks the required %s field '%s'", st->name,
                                  fact_kind_name(st->kind), fact_field_name((fact_field)f));
        }
    }
    return 0;
}

/* HTTP streams: the distinct JSON paths the key and the map read, which
 * become the columns of each item's row (borrowed from st->key and st->map). */
static void collect_http_cols(stream *st) {
    st->http_cols = calloc(st->nmap + 1, sizeof(char *));
    if (!st->http_cols) gg_oom();
    st->http_cols[st->nhttp_cols++] = st->key;
    for (size_t i = 0; i < st->nmap; i++) {
        if (!st->map[i].col) continue;
        int dup = 0;
        for (int k = 0; k < st->nhttp_cols; k++) dup |= !strcmp(st->http_cols[k], st->map[i].col);
        if (!dup) st->http_cols[st->nhttp_cols++] = st->map[i].col;
    }
}

/* Compiles the stream table at the top of the stack. Does not pop it. */
int ad_compile_stream(adapter *ad, stream *st, char *err, size_t errsz) {
    lua_State *L = lua_rt_state(ad->rt);
    int t = lua_gettop(L);
    st->row_ref = st->pull_ref = LUA_NOREF;
    st->conn_idx = -1;
    st->keyidx = -1;
    st->incidx = -1;
    if (!lua_istable(L, t))
        return ad_err_at(ad, st->name, err, errsz, "stream '%s' must be a table", st->name);
    if (check_stream_keys(ad, st, t, err, errsz)) return -1;
    if (compile_common(ad, st, t, err, errsz)) return -1;

    if (st->pull_ref != LUA_NOREF) {
        if (st->sql || st->get)
            return ad_err_at(ad, "pull", err, errsz, "stream '%s': give either pull = function or sql/get with map, not both", st->name);
        return compile_incremental(ad, st, t, -1, err, errsz);
    }
    if (!st->conn)
        return ad_err_at(ad, st->name, err, errsz, "stream '%s': missing 'conn' (the connection to read from)", st->name);
    int http = conn_spec_http(ad, st->conn_idx);
    if (http ? compile_http_source(ad, st, t, err, errsz) : compile_sql_source(ad, st, t, err, errsz))
        return -1;
    if (!st->key)
        return ad_err_at(ad, st->name, err, errsz, "stream '%s': missing 'key' (the column with the department's record key)", st->name);
    if (compile_incremental(ad, st, t, http, err, errsz)) return -1;
    if (compile_map(ad, st, t, err, errsz)) return -1;
    if (check_required(ad, st, err, errsz)) return -1;
    if (http) collect_http_cols(st);
    return 0;
}
