/* conns.c - the connections an adapter's Lua code sees (ctx.conns and the
 * push function's conns): c:query, c:exec, c:send, c:get/post/put; the UTF-8 ->
 * source encoding conversion of SQL text and parameters written back; and
 * adapter_connect, which opens the source's connections. Connector callbacks
 * never let a Lua error longjmp through libpq, ODBC or libcurl frames. */
#include "adapter/adapter_internal.h"
#include "core/util.h"

#include <ctype.h>
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
    /* Raw length and raw reads: no metamethod can raise while p is held. */
    lua_Unsigned len = lua_rawlen(L, idx);
    if (len > 1000) luaL_error(L, "too many parameters (%d)", (int)len);
    char **p = calloc((size_t)len + 1, sizeof *p);
    if (!p) lua_rt_memerror(L, "query parameters");
    for (lua_Integer i = 1; i <= (lua_Integer)len; i++) {
        lua_rawgeti(L, idx, i);
        p[i - 1] = ad_scalar_text(L, -1); /* nil -> NULL (SQL NULL) */
        lua_pop(L, 1);
    }
    *n = (int)len;
    return p;
}

void ad_params_free(char **p, int n) {
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
    if (!out) gg_oom();
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
int ad_params_to_source(adapter *ad, char **sql, char **params, int n, char *err, size_t errsz) {
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

static int lua_query_row(void *ud, int ncols, const char *const *names, const char *const *vals,
                         const size_t *lens) {
    lua_query *q = ud;
    lua_State *L = q->L;
    pull_ctx *pc = q->pc;
    int bad = ad_convert_row(pc, ncols, vals, lens);
    if (bad == CONVERT_NOMEM) {
        snprintf(q->err, sizeof q->err, "a row of the query needs more memory than the adapter's limit allows");
        q->failed = 1;
        return 1;
    }
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

/* 1 when sql starts a statement that opens or ends a transaction (BEGIN,
 * START, COMMIT, END, ABORT, ROLLBACK but not ROLLBACK TO a savepoint). */
static int sql_is_tx_control(const char *sql) {
    static const char *const words[] = {"begin", "start", "commit", "end", "abort", "rollback"};
    while (*sql == ' ' || *sql == '\t' || *sql == '\n' || *sql == '\r' || *sql == '(') sql++;
    for (size_t i = 0; i < sizeof words / sizeof *words; i++) {
        size_t n = strlen(words[i]);
        if (strncasecmp(sql, words[i], n) != 0 || isalnum((unsigned char)sql[n]) || sql[n] == '_') continue;
        if (i == 5) { /* ROLLBACK [WORK|TRANSACTION] TO ... is a savepoint's */
            const char *p = sql + n;
            while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
            if (!strncasecmp(p, "to", 2) && !isalnum((unsigned char)p[2])) return 0;
            if (!strncasecmp(p, "work", 4) || !strncasecmp(p, "transaction", 11)) {
                p += p[0] == 'w' || p[0] == 'W' ? 4 : 11;
                while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
                if (!strncasecmp(p, "to", 2) && !isalnum((unsigned char)p[2])) return 0;
            }
        }
        return 1;
    }
    return 0;
}

/* Inside a transaction of the runtime's (adapter_push_begin), the adapter's
 * own BEGIN/COMMIT/ROLLBACK would end it early: raised before anything is
 * held. */
static void refuse_tx_control(lua_State *L, conn *c, const char *sql) {
    if (conn_in_transaction(c) && sql_is_tx_control(sql))
        luaL_error(L, "connection %s: a push runs inside the runtime's transaction (push_batch); it may not "
                      "begin, commit or roll back one itself",
                   conn_get_name(c));
}

/* c:query(sql, params [, fn]) -> rows table, or count when fn is given. */
static int l_conn_query(lua_State *L) {
    conn *c = conn_check(L, 1);
    conn_ud *cu = lua_touserdata(L, 1);
    const char *sql = luaL_checkstring(L, 2);
    refuse_tx_control(L, c, sql);
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
    if (ad_params_to_source(cu->ad, &sqlc, params, n, e2, sizeof e2) == 0)
        rc = conn_query(c, sqlc, n, (const char *const *)params, lua_query_row, &q, e2, sizeof e2);
    ad_row_keys_forget(&local); /* the result's names are gone with it */
    if (sqlc != sql) free(sqlc);
    ad_params_free(params, n);
    ad_arena_free(&local);
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
    refuse_tx_control(L, c, sql);
    int n;
    char **params = params_from_lua(L, 3, &n);
    long affected = 0;
    char e2[1024];
    char *sqlc = (char *)sql;
    int rc = -1;
    if (ad_params_to_source(cu->ad, &sqlc, params, n, e2, sizeof e2) == 0)
        rc = conn_exec(c, sqlc, n, (const char *const *)params, &affected, e2, sizeof e2);
    if (sqlc != sql) free(sqlc);
    ad_params_free(params, n);
    if (rc < 0) return luaL_error(L, "%s", e2);
    lua_pushinteger(L, affected);
    return 1;
}

/* c:send(sql, params) -> nothing: an exec whose row count is not needed,
 * queued inside the runtime's transaction (conn_send); its error may come
 * with a later statement or the commit. */
static int l_conn_send(lua_State *L) {
    conn *c = conn_check(L, 1);
    conn_ud *cu = lua_touserdata(L, 1);
    const char *sql = luaL_checkstring(L, 2);
    refuse_tx_control(L, c, sql);
    int n;
    char **params = params_from_lua(L, 3, &n);
    char e2[1024];
    char *sqlc = (char *)sql;
    int rc = -1;
    if (ad_params_to_source(cu->ad, &sqlc, params, n, e2, sizeof e2) == 0)
        rc = conn_send(c, sqlc, n, (const char *const *)params, e2, sizeof e2);
    if (sqlc != sql) free(sqlc);
    ad_params_free(params, n);
    if (rc < 0) return luaL_error(L, "%s", e2);
    return 0;
}

/* Shared by get/post/put: method, path, optional body table. Returns status,
 * decoded body (table for JSON, string otherwise). */
static int http_call(lua_State *L, const char *method) {
    conn *c = conn_check(L, 1);
    const char *path = luaL_checkstring(L, 2);
    char e2[1024];
    char pathbuf[4096];
    /* Owns the request body, then the response body, then its JSON tree,
     * whatever raises in between. */
    lua_settop(L, 3);
    lua_rt_box *box = lua_rt_push_box(L);
    if (!strcmp(method, "GET") && lua_istable(L, 3)) {
        /* query table -> ?k=v&... */
        size_t n = (size_t)snprintf(pathbuf, sizeof pathbuf, "%s", path);
        char sep = strchr(path, '?') ? '&' : '?';
        lua_pushnil(L);
        while (lua_next(L, 3)) {
            char *k = ad_scalar_text(L, -2), *v = ad_scalar_text(L, -1);
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
        box->mem = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        if (!box->mem) return luaL_error(L, "request body: cannot encode JSON");
    }
    const char *body = box->mem;
    const char *hdrs[] = {"Content-Type: application/json; charset=utf-8", "Accept: application/json", NULL};
    http_response resp = {0};
    int rc = conn_http(c, method, path, hdrs, body, body ? strlen(body) : 0, &resp, e2, sizeof e2);
    lua_rt_box_clear(L, box);
    if (rc) return luaL_error(L, "%s %s: %s", method, path, e2);
    /* The body counts against the adapter's memory cap while it is held. */
    long status = resp.status;
    size_t blen = resp.len;
    box->mem = resp.body;
    resp.body = NULL;
    http_response_free(&resp);
    if (lua_rt_charge(L, blen) != 0) return lua_rt_memerror(L, "HTTP response body");
    box->charged = blen;
    lua_pushinteger(L, status);
    json_error_t je;
    json_t *doc = blen ? json_loadb(box->mem, blen, 0, &je) : NULL;
    if (doc) {
        free(box->mem);
        box->mem = NULL;
        box->j = doc; /* still charged as the body's size until pushed */
        lua_rt_push_json(L, doc);
    } else {
        lua_pushlstring(L, box->mem ? box->mem : "", blen);
    }
    lua_rt_box_clear(L, box);
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
                       .max_body = (size_t)cc->max_body,
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
        static const luaL_Reg m[] = {{"query", l_conn_query}, {"exec", l_conn_exec}, {"send", l_conn_send},
                                     {"get", l_conn_get},     {"post", l_conn_post}, {"put", l_conn_put},
                                     {NULL, NULL}};
        luaL_newlib(L, m);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, l_conn_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
    if (luaL_newmetatable(L, ROW_MT)) {
        lua_pushcfunction(L, ad_row_index);
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
