/* map.c - the C mapping program: applies a stream's compiled map entries
 * (column, const, yuan, fen, date, month, code, bool, int) to one row, calls
 * the stream's optional row function with a lazy row userdata, fills facts
 * from Lua tables (row function results and ctx.emit), and hands each fact to
 * the sink or rejects the record with a reason that never holds an id number
 * or a name. */
#include "adapter/adapter_internal.h"
#include "adapter/rowjson.h"
#include "core/util.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------ mapping rows */

static int is_identity_field(fact_field f) { return f == FF_ID_NO || f == FF_NAME; }

/* Applies one entry. 0 ok, -1 with a reason (never containing id/name values). */
static int apply_entry(fact *f, map_entry *e, const char *v, const fact_limits *lim, char *reason,
                       size_t rsz) {
    char e2[300];
    /* the field's and the column's names, for a reason only (not per row) */
#define FNAME fact_field_name(e->field)
#define COL (e->col ? e->col : "const")
    int64_t x;
    int d;
    switch (e->op) {
    case SPEC_CONST: {
        if (e->cset) {
            /* the constant's value as the first row got it (set_text on a
             * field not yet set: nothing to free, no folded name to keep) */
            unsigned bit = (unsigned)e->field;
            f->f[bit].s = (char *)e->cset;
            if (e->cset_borrowed) f->borrowed |= 1u << bit;
            FACT_MARK(f, bit);
            return 0;
        }
        field_type ft = fact_field_type(e->field);
        if (e->cint_set && ft != FT_TEXT && ft != FT_ENUM) {
            if (fact_set_int(f, e->field, e->cint, e2, sizeof e2)) goto fset;
        } else {
            int was_set = FACT_HAS(f, e->field);
            if (fact_set_text_borrowed(f, e->field, e->cval, e2, sizeof e2)) /* the compiled constant */
                goto fset;
            /* kept for the next rows when it took the constant itself or an
             * enum's static spelling, into a field no other entry had set */
            uint32_t bit = 1u << (unsigned)e->field;
            if (!was_set && FACT_HAS(f, e->field) &&
                (((f->borrowed & bit) && f->f[e->field].s == e->cval) || (ft == FT_ENUM && !(f->borrowed & bit)))) {
                e->cset = f->f[e->field].s;
                e->cset_borrowed = (f->borrowed & bit) != 0;
            }
        }
        return 0;
    }
    case SPEC_COL:
        if (fact_set_text_borrowed(f, e->field, v, e2, sizeof e2)) goto fset;
        return 0;
    case SPEC_YUAN:
        if (conv_yuan_to_fen(v, &x)) {
            snprintf(reason, rsz, "field %s (column %s): not an amount in yuan: '%.40s'", FNAME, COL, v);
            return -1;
        }
        if (fact_set_int(f, e->field, x, e2, sizeof e2)) goto fset;
        return 0;
    case SPEC_FEN:
    case SPEC_INT:
        if (conv_int(v, &x)) {
            snprintf(reason, rsz, "field %s (column %s): not an integer: '%.40s'", FNAME, COL, v);
            return -1;
        }
        if (fact_set_int(f, e->field, x, e2, sizeof e2)) goto fset;
        return 0;
    case SPEC_DATE:
        if (conv_date(v, &d)) {
            snprintf(reason, rsz, "field %s (column %s): not a date: '%.40s'", FNAME, COL, v);
            return -1;
        }
        if (!fact_date_plausible(lim, d)) {
            snprintf(reason, rsz, "field %s (column %s): implausible date %d (outside %d..%d)", FNAME, COL, d,
                     lim->min_date, lim->max_date);
            return -1;
        }
        if (fact_field_type(e->field) == FT_TEXT) {
            char buf[16];
            date_text(d, buf, sizeof buf);
            if (fact_set_text(f, e->field, buf, e2, sizeof e2)) goto fset;
        } else if (fact_set_int(f, e->field, d, e2, sizeof e2))
            goto fset;
        return 0;
    case SPEC_MONTH:
        if (conv_month(v, &d)) {
            snprintf(reason, rsz, "field %s (column %s): not a month: '%.40s'", FNAME, COL, v);
            return -1;
        }
        if (d < lim->min_date / 100 || d > lim->max_date / 100) {
            snprintf(reason, rsz, "field %s (column %s): implausible month %d (outside %d..%d)", FNAME, COL, d,
                     lim->min_date / 100, lim->max_date / 100);
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
            snprintf(reason, rsz, "field %s (column %s): code '%.*s' is not in the code table", FNAME, COL,
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
        snprintf(reason, rsz, "field %s (column %s): bad value", FNAME, COL);
    else
        snprintf(reason, rsz, "field %s (column %s): %s", FNAME, COL, e2);
    return -1;
#undef FNAME
#undef COL
}

/* Resolves map columns against the first row's column names. */
static int resolve_columns_in(pull_ctx *pc, char *err, size_t errsz);

/* Resolves map columns against the first row; messages name the source and
 * point at the line inside the stream's declaration. */
int ad_resolve_columns(pull_ctx *pc, char *err, size_t errsz) {
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
        if (gg_strcaseeq(r->names[i], st->key)) st->keyidx = i;
    if (st->keyidx < 0) goto missing_key;
    if (pc->incremental) {
        st->incidx = -1;
        for (int i = 0; i < r->ncols; i++)
            if (gg_strcaseeq(r->names[i], st->inc_col)) st->incidx = i;
        if (st->incidx < 0)
            return ad_err_at(pc->ad, "incremental", err, errsz, "incremental column '%s' is not in the query result",
                              st->inc_col);
    }
    for (size_t k = 0; k < st->nmap; k++) {
        map_entry *e = &st->map[k];
        e->colidx = -1;
        if (!e->col) continue;
        for (int i = 0; i < r->ncols; i++)
            if (gg_strcaseeq(r->names[i], e->col)) e->colidx = i;
        if (e->colidx < 0) {
            char cols[400] = "";
            size_t n = 0;
            for (int i = 0; i < r->ncols && n < sizeof cols - 40; i++)
                n += (size_t)snprintf(cols + n, sizeof cols - n, "%s%s", i ? ", " : "", r->names[i]);
            return ad_err_at(pc->ad, e->col, err, errsz,
                              "map.%s reads column '%s', which the query does not return (it returns: %s)",
                              fact_field_name(e->field), e->col, cols);
        }
    }
    pc->resolved = 1;
    return 0;
missing_key:
    return ad_err_at(pc->ad, "key", err, errsz, "key column '%s' is not in the query result", st->key);
}

int ad_reject(pull_ctx *pc, const char *ref, const char *reason) {
    char *raw = adapter_raw_json(pc->ad); /* NULL when the record is over a size limit */
    pc->raw_suppressed = 0;
    int rc = pc->sink->on_reject ? pc->sink->on_reject(pc->sink->ud, pc->st->name, ref, reason, raw) : 0;
    free(raw);
    if (rc) pc->stop = 1;
    return rc;
}

int ad_reject_oversize(pull_ctx *pc, const char *ref, const char *reason) {
    pc->raw_suppressed = 1;
    return ad_reject(pc, ref, reason);
}

/* ------------------------------------------------------------ input limits */

void ad_pull_limits_init(pull_ctx *pc) {
    const gg_source_conf *s = pc->ad->src;
    pc->max_field = s->max_field > 0 ? s->max_field : FACT_DEFAULT_MAX_FIELD;
    pc->max_record = s->max_record > 0 ? s->max_record : FACT_DEFAULT_MAX_RECORD;
    fact_limits_init(&pc->lim, s->max_amount > 0 ? (int64_t)s->max_amount * 100 : 0, 0);
    pc->over_col = -1;
}

/* Size of a JSON record as its text would hold it (strings and keys by their
 * bytes, other scalars a few bytes), and its first string over max_field. */
typedef struct item_size {
    size_t total;
    size_t over_len;       /* 0: none */
    char over_path[72];
} item_size;

static void item_walk(json_t *j, const char *key, size_t max_field, item_size *w, int depth) {
    if (key) w->total += strlen(key) + 4;
    if (json_is_string(j)) {
        size_t n = json_string_length(j);
        w->total += n + 2;
        if (n > max_field && !w->over_len) {
            w->over_len = n;
            snprintf(w->over_path, sizeof w->over_path, "%.60s", key ? key : "(array element)");
        }
    } else if (json_is_object(j) && depth < 64) {
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v) item_walk(v, k, max_field, w, depth + 1);
    } else if (json_is_array(j) && depth < 64) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) item_walk(v, key, max_field, w, depth + 1);
    } else {
        w->total += 8;
    }
}

int ad_item_over_limits(const pull_ctx *pc, json_t *item, char *reason, size_t rsz) {
    if (!item || pc->max_field <= 0) return 0;
    item_size w = {0};
    item_walk(item, NULL, (size_t)pc->max_field, &w, 0);
    if (w.over_len) {
        snprintf(reason, rsz, "field %s: value of %zu bytes is over max_field (%ld bytes)", w.over_path, w.over_len,
                 pc->max_field);
        return -1;
    }
    if (w.total > (size_t)pc->max_record) {
        snprintf(reason, rsz, "record of %zu bytes is over max_record (%ld bytes)", w.total, pc->max_record);
        return -1;
    }
    return 0;
}

/* Fills fields from the Lua table at idx (row function result or emit).
 * Unknown fields warn once per stream. 0 ok, -1 reject with reason. */
int ad_fact_from_table(pull_ctx *pc, lua_State *L, int idx, char *reason, size_t rsz) {
    stream *st = pc->st;
    fact *f = &pc->f;
    char e2[300];
    idx = lua_absindex(L, idx);
    /* ref first, so that a reject of this record carries its key whatever
     * order lua_next visits the fields in */
    lua_pushliteral(L, "ref"); /* raw: no metamethod can raise (l_emit relies on it) */
    lua_rawget(L, idx);
    char *ref = ad_scalar_text(L, -1);
    lua_pop(L, 1);
    if (ref && pc->max_field > 0 && strlen(ref) > (size_t)pc->max_field) {
        snprintf(reason, rsz, "field ref: value of %zu bytes is over max_field (%ld bytes)", strlen(ref),
                 pc->max_field);
        free(ref);
        pc->raw_suppressed = 1;
        return -1;
    }
    if (ref) {
        if (!(f->borrowed & FACT_REF_BORROWED)) free(f->ref); /* else the row's key */
        f->ref = ref;
        f->borrowed &= ~FACT_REF_BORROWED;
    }
    /* an emitted table's size as a whole: l_emit checks it (ad_item_over_limits) */
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
                if (!st->warned) gg_oom();
                st->warned[st->nwarned++] = xstrdup(k);
                ad_warn(pc->ad, "stream '%s': unknown field '%s' for %s facts is ignored", st->name, k,
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
                /* A float: only an integral value inside int64 converts (the
                 * cast of anything else, 1e308 or NaN, is undefined). */
                lua_Number n = lua_tonumber(L, -1);
                if (!(n >= -9223372036854775808.0 && n < 9223372036854775808.0)) {
                    snprintf(reason, rsz, "field %s: number %.6g is out of range for %s", k, n,
                             ft == FT_DATE ? "a date (yyyymmdd)" : ft == FT_MONTH ? "a month (yyyymm)"
                             : ft == FT_MONEY ? "an amount in fen" : "a 64-bit integer");
                    lua_pop(L, 2);
                    return -1;
                }
                if (n != (lua_Number)(int64_t)n) {
                    snprintf(reason, rsz, "field %s: fractional number %.6g (%s)", k, n,
                             ft == FT_MONEY ? "money is integer fen; use yuan()" : "an integer is needed");
                    lua_pop(L, 2);
                    return -1;
                }
                rc = fact_set_int(f, ff, (int64_t)n, e2, sizeof e2);
            }
        } else if (t == LUA_TSTRING && pc->max_field > 0 && lua_rawlen(L, -1) > (size_t)pc->max_field) {
            snprintf(reason, rsz, "field %s: value of %zu bytes is over max_field (%ld bytes)", k,
                     (size_t)lua_rawlen(L, -1), pc->max_field);
            pc->raw_suppressed = 1;
            lua_pop(L, 2);
            return -1;
        } else if (t == LUA_TSTRING || t == LUA_TNUMBER) {
            char *txt = ad_scalar_text(L, -1);
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
    return fact_plausible(f, &pc->lim, reason, rsz);
}

/* Lazy row userdata: r.col reads the current row's value (UTF-8 text or nil). */
typedef struct row_ud {
    pull_ctx *pc; /* NULL once the row function returned */
} row_ud;

int ad_row_index(lua_State *L) {
    row_ud *ru = luaL_checkudata(L, 1, ROW_MT);
    const char *k = luaL_checkstring(L, 2);
    if (!ru->pc) return luaL_error(L, "row used after its row function returned");
    pull_ctx *pc = ru->pc;
    if (pc->item) {
        json_t *v = ad_json_path(pc->item, k);
        if (!v || json_is_null(v)) {
            lua_pushnil(L);
            return 1;
        }
        lua_rt_push_json(L, v);
        return 1;
    }
    for (int i = 0; i < pc->row.ncols; i++)
        if (gg_strcaseeq(pc->row.names[i], k)) {
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
int ad_map_and_emit(pull_ctx *pc) {
    stream *st = pc->st;
    adapter *ad = pc->ad;
    char reason[600];
    fact *f = &pc->f;
    fact_clear(f); /* fact_init of the same kind, at the cost of the fields set */
    f->kind = st->kind;
    const char *key = pc->row.vals[st->keyidx];
    char refbuf[64];
    pc->rows_seen++;
    if (!key || !*key) {
        snprintf(refbuf, sizeof refbuf, "(row %ld)", pc->rows_seen);
        snprintf(reason, sizeof reason, "record has no key (column %s is empty)", st->key);
        return ad_reject(pc, refbuf, reason);
    }
    /* The fact borrows the source's name, the key and (fact_set_text_borrowed)
     * the row's text values: the row outlives the sink's call; a sink that
     * keeps facts gets them owned (fact_own below). */
    f->source = ad->source;
    f->ref = (char *)key;
    f->borrowed = FACT_SOURCE_BORROWED | FACT_REF_BORROWED;
    for (size_t k = 0; k < st->nmap; k++) {
        map_entry *e = &st->map[k];
        const char *v = e->op == SPEC_CONST ? e->cval : pc->row.vals[e->colidx];
        if (!v || !*v) continue;
        if (apply_entry(f, e, v, &pc->lim, reason, sizeof reason)) {
            if (!e->lenient) return ad_reject(pc, key, reason);
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
                ad_reject(pc, key, reason);
                return 1;
            }
            return ad_reject(pc, key, reason);
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
            return ad_reject(pc, key, reason);
        }
        if (lua_istable(L, -2)) {
            if (ad_fact_from_table(pc, L, -2, reason, sizeof reason)) {
                lua_pop(L, 2);
                return ad_reject(pc, f->ref ? f->ref : key, reason);
            }
        } else if (!(lua_isboolean(L, -2) && lua_toboolean(L, -2))) {
            lua_pop(L, 2);
            snprintf(reason, sizeof reason, "row function must return a table of fields, nil (skip) or false, reason");
            return ad_reject(pc, key, reason);
        }
        lua_pop(L, 2);
    }
    if (fact_plausible(f, &pc->lim, reason, sizeof reason)) return ad_reject(pc, f->ref, reason);
    if (fact_check(f, reason, sizeof reason)) return ad_reject(pc, f->ref, reason);
    /* A row's hash stands for its raw values (model/fact.h): the sink asks
     * for it (adapter_raw_hash) once it keeps the record, and builds the raw
     * JSON only for a record it sends or writes. An item (HTTP) has none:
     * its raw JSON's text is hashed. */
    pc->nrows++;
    pc->row_hashable = !pc->item && pc->row.names;
    if (!pc->sink->borrows) fact_own(f);
    int rc = pc->sink->on_fact ? pc->sink->on_fact(pc->sink->ud, st->name, f) : 0;
    pc->row_hashable = 0;
    if (rc) pc->stop = 1;
    if (pc->limit > 0 && pc->nrows >= pc->limit) pc->stop = 1;
    return pc->stop;
}

uint64_t adapter_raw_hash(adapter *ad) {
    pull_ctx *pc = ad->cur;
    if (!pc || !pc->row_hashable) return 0;
    return fact_raw_hash_row(pc->row.ncols, pc->row.names, (const char *const *)pc->row.vals);
}

uint64_t adapter_row_hash(adapter *ad) { return ad->cur ? ad->cur->row_hash : 0; }

char *adapter_raw_json(adapter *ad) {
    pull_ctx *pc = ad->cur;
    if (!pc || !pc->st || pc->raw_suppressed) return NULL;
    if (pc->item) return json_dumps(pc->item, JSON_COMPACT | JSON_SORT_KEYS);
    if (!pc->row.names) return NULL;
    /* jansson's text for the row's object, written directly (adapter/rowjson.c),
     * the result's keys written once */
    if (pc->rj_names != pc->row.names || pc->rj_ncols != pc->row.ncols) {
        ad_row_keys_forget(pc);
        pc->rj_keys = row_json_keys_new(pc->row.ncols, pc->row.names);
        pc->rj_names = pc->row.names;
        pc->rj_ncols = pc->row.ncols;
    }
    if (pc->rj_keys) return row_json_dumps_keys(pc->rj_keys, (const char *const *)pc->row.vals);
    return row_json_dumps(pc->row.ncols, pc->row.names, (const char *const *)pc->row.vals);
}

void ad_row_keys_forget(pull_ctx *pc) {
    row_json_keys_free(pc->rj_keys);
    pc->rj_keys = NULL;
    pc->rj_names = NULL;
    pc->rj_ncols = 0;
}

/* Whether a path read by the declaration ("a" or "a.b.c") reads the column or
 * top-level item key `col` (case-insensitive, like the column resolution). */
static int path_reads(const char *path, const char *col) {
    if (!path) return 0;
    size_t n = strcspn(path, ".");
    return strlen(col) == n && strncasecmp(path, col, n) == 0;
}

int adapter_stream_reads(const adapter *ad, size_t k, const char *col) {
    if (k >= ad->nstreams || !col) return 0;
    const stream *st = &ad->streams[k];
    if (st->row_ref != LUA_NOREF || st->pull_ref != LUA_NOREF) return -1;
    if (path_reads(st->key, col) || path_reads(st->inc_col, col)) return 1;
    for (size_t i = 0; i < st->nmap; i++)
        if (path_reads(st->map[i].col, col)) return 1;
    return 0;
}
