/* load.c - loading a source's adapter file: the encoding converters, the Lua
 * sandbox with the API an adapter file sees (the mapping spec constructors
 * yuan/fen/date/month/int/text/const/code/bool, to_fen, mask_id, log), the
 * returned table's top-level keys and its streams (compiled by compile.c);
 * adapter_free and the accessors. Also the helpers shared by the adapter
 * modules: messages naming file:line of a declaration, warnings, JSON paths. */
#include "adapter/adapter_internal.h"
#include "core/util.h"

#include <ctype.h>
#include <errno.h>
#include <iconv.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------------- helpers */

void ad_warn(adapter *ad, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ad_warn(adapter *ad, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char **grown = realloc(ad->warnings, (ad->nwarnings + 2) * sizeof *grown);
    if (!grown) gg_oom();
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

int ad_err_at(const adapter *ad, const char *word, char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
int ad_err_at(const adapter *ad, const char *word, char *err, size_t errsz, const char *fmt, ...) {
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

/* Looks a dotted path up in a JSON object. Borrowed reference or NULL. */
json_t *ad_json_path(json_t *j, const char *path) {
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
    lua_pushstring(L, ad_spec_names[op]);
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
    size_t len;
    const char *msg = luaL_checklstring(L, 1, &len);
    /* Through the runtime's logger: escaped (one call, one line), masked and
     * rate-limited per state. Past its line limit nothing more is shown, so
     * the head of the message is enough. */
    char line[4096];
    int n = snprintf(line, sizeof line, "adapter: ");
    size_t take = len < sizeof line - (size_t)n ? len : sizeof line - (size_t)n;
    memcpy(line + n, msg, take);
    lua_rt_log(L, lv, ad->source, line, (size_t)n + take);
    return 0;
}
static int l_log_info(lua_State *L) { return l_log(L, GG_LOG_INFO); }
static int l_log_warn(lua_State *L) { return l_log(L, GG_LOG_WARN); }

void ad_set_closure(lua_State *L, adapter *ad, lua_CFunction fn, const char *name) {
    lua_pushlightuserdata(L, ad);
    lua_pushcclosure(L, fn, 1);
    lua_setfield(L, -2, name);
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
    if (!buf) gg_oom();
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            cap *= 2;
            buf = realloc(buf, cap);
            if (!buf) gg_oom();
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
    ad_set_closure(L, ad, l_log_info, "info");
    ad_set_closure(L, ad, l_log_warn, "warn");
    lua_rt_register(ad->rt, "log");
    lua_rt_open_json(ad->rt);
}

static int stream_name_cmp(const void *a, const void *b) {
    return strcmp(((const stream *)a)->name, ((const stream *)b)->name);
}

adapter *adapter_load(const gg_source_conf *src, const char *adapter_path, char *err, size_t errsz) {
    adapter *ad = calloc(1, sizeof *ad);
    if (!ad) gg_oom();
    ad->source = xstrdup(src->name);
    ad->label = xstrdup(src->label ? src->label : src->name);
    ad->path = xstrdup(adapter_path ? adapter_path : src->adapter);
    ad->src = src;
    ad->cd = (iconv_t)-1;
    ad->cd_out = (iconv_t)-1;
    ad->push_ref = LUA_NOREF;
    ad->conns_ref = LUA_NOREF;
    ad->warnings = calloc(1, sizeof(char *));
    if (!ad->warnings) gg_oom();

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
            ad_err_at(ad, kk, err, errsz, "unknown top-level key '%s' (known: streams, push, name, description)", kk);
            goto fail;
        }
    }
    lua_getfield(L, top, "push");
    if (lua_isfunction(L, -1))
        ad->push_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    else if (!lua_isnil(L, -1)) {
        lua_pop(L, 1);
        ad_err_at(ad, "push", err, errsz, "push must be a function(alert, conns)");
        goto fail;
    } else
        lua_pop(L, 1);
    lua_getfield(L, top, "streams");
    if (!lua_istable(L, -1) && !lua_isnil(L, -1)) {
        ad_err_at(ad, "streams", err, errsz, "streams must be a table of name = { kind = ..., ... }");
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
        if (!ad->streams) gg_oom();
        lua_pushnil(L);
        while (lua_next(L, s)) {
            if (lua_type(L, -2) != LUA_TSTRING) {
                lua_pop(L, 2);
                ad_err_at(ad, "streams", err, errsz, "streams must be named: streams = { deaths = { ... } }");
                goto fail;
            }
            stream *st = &ad->streams[ad->nstreams++];
            st->name = xstrdup(lua_tostring(L, -2));
            ad->compiling = st->name;
            int crc = ad_compile_stream(ad, st, err, errsz);
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

int adapter_after_fork(adapter *ad, char *err, size_t errsz) { return lua_rt_after_fork(ad->rt, err, errsz); }

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
        for (size_t k = 0; k < st->nmap; k++) ad_map_entry_free(&st->map[k]);
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
