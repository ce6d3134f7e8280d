/* pull.c - running a stream: the encoding boundary (source text -> UTF-8 in a
 * per-row arena), SQL pulls (with the incremental watermark wrapping of the
 * stream's query), HTTP pulls with paging, custom Lua pulls (ctx.emit and
 * ctx.reject), adapter_pull and the targeted adapter_lookup. */
#include "adapter/adapter_internal.h"

#include <ctype.h>
#include <iconv.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn/registry.h"
#include "core/hash.h"
#include "core/util.h"

/* ------------------------------------------------------ encoding boundary */

/* 1 when v[0..len) is all ASCII (eight bytes at a time: most values are). */
static int all_ascii(const char *v, size_t len) {
    uint64_t acc = 0;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, v + i, sizeof w);
        acc |= w;
    }
    for (; i < len; i++) acc |= (unsigned char)v[i];
    return !(acc & UINT64_C(0x8080808080808080));
}

/* Makes the arena hold need bytes; 0, or -1 when the adapter's memory cap
 * refuses it. */
static int arena_grow(pull_ctx *pc, size_t need) {
    if (need > pc->arena_cap) {
        size_t cap = pc->arena_cap ? pc->arena_cap : 4096;
        while (cap < need) cap *= 2;
        /* A row's size is the source's to decide: counted against the cap. */
        char *grown = lua_rt_realloc(lua_rt_state(pc->ad->rt), pc->arena, pc->arena_charged, cap);
        if (!grown) return -1;
        pc->arena = grown;
        pc->arena_cap = pc->arena_charged = cap;
    }
    return 0;
}

/* What a value of len bytes after the arena's current end needs, converted
 * (GBK -> UTF-8 grows at most 1.5x; keep margin). */
static size_t arena_need(const pull_ctx *pc, size_t len) { return pc->arena_len + len * 3 + 1; }

/* Makes room in the arena for a value of len bytes (converted); 0, or -1
 * when the adapter's memory cap refuses it. */
static int arena_reserve(pull_ctx *pc, size_t len) { return arena_grow(pc, arena_need(pc, len)); }

/* Appends `len` bytes converted to UTF-8 into the pull arena; returns the
 * offset, SIZE_MAX when the bytes are not valid in the source encoding, or
 * SIZE_MAX - 1 when the adapter's memory cap refuses the room. */
static size_t arena_put(pull_ctx *pc, const char *v, size_t len) {
    if (arena_reserve(pc, len)) return SIZE_MAX - 1;
    size_t off = pc->arena_len;
    adapter *ad = pc->ad;
    int ascii = all_ascii(v, len);
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

/* offs[i] of a value used where it is (a UTF-8 source's: no conversion) */
#define OFF_RAW (SIZE_MAX - 2)

/* Converts a row's raw values into pc->vals (UTF-8); lens (or NULL: measured
 * here) their lengths as the connector gave them. On an undecodable value
 * returns the column index (>= 0); -1 when all converted. A UTF-8 source's
 * values are checked and used in place (valid while the row is), not copied;
 * the arena is still sized for them as for a copy, so that a row over the
 * adapter's memory cap fails the same way whatever the source's encoding. */
int ad_convert_row(pull_ctx *pc, int ncols, const char *const *raw, const size_t *lens) {
    if (ncols > pc->vals_cap) {
        pc->vals = realloc(pc->vals, (size_t)ncols * sizeof *pc->vals);
        pc->offs = realloc(pc->offs, (size_t)ncols * sizeof *pc->offs);
        if (!pc->vals || !pc->offs) gg_oom();
        pc->vals_cap = ncols;
    }
    pc->arena_len = 0;
    int in_place = pc->ad->cd == (iconv_t)-1;
    pc->over_col = -1;
    pc->over_len = pc->rec_len = 0;
    int bad = -1;
    size_t need = 0; /* in place: the arena a copy would take, reserved once for the row */
    for (int i = 0; i < ncols; i++) {
        if (!raw[i]) {
            pc->offs[i] = SIZE_MAX;
            continue;
        }
        size_t len = lens ? lens[i] : strlen(raw[i]);
        pc->rec_len += len;
        if (pc->max_field > 0 && (len > (size_t)pc->max_field || pc->rec_len > (size_t)pc->max_record)) {
            /* over a limit: neither converted nor kept (the row is rejected) */
            if (pc->over_col < 0 && len > (size_t)pc->max_field) pc->over_col = i, pc->over_len = len;
            pc->offs[i] = SIZE_MAX;
            continue;
        }
        if (in_place) {
            size_t n = arena_need(pc, len);
            if (n > need) need = n;
            pc->arena_len += len + 1;
            pc->offs[i] = all_ascii(raw[i], len) || utf8_valid(raw[i], len) ? OFF_RAW : SIZE_MAX;
        } else {
            pc->offs[i] = arena_put(pc, raw[i], len);
            if (pc->offs[i] == SIZE_MAX - 1) return CONVERT_NOMEM;
        }
        if (pc->offs[i] == SIZE_MAX && bad < 0) bad = i;
    }
    if (in_place && arena_grow(pc, need)) return CONVERT_NOMEM;
    for (int i = 0; i < ncols; i++)
        pc->vals[i] = pc->offs[i] == SIZE_MAX ? NULL : pc->offs[i] == OFF_RAW ? raw[i] : pc->arena + pc->offs[i];
    return bad;
}

void ad_arena_free(pull_ctx *pc) {
    if (pc->arena) lua_rt_realloc(lua_rt_state(pc->ad->rt), pc->arena, pc->arena_charged, 0);
    pc->arena = NULL;
    pc->arena_cap = pc->arena_charged = 0;
}

/* ------------------------------------------------------------- SQL streams */


/* Copies s into the reusable buffer *buf (capacity *cap). */
static void buf_set(char **buf, size_t *cap, const char *s) {
    size_t n = strlen(s) + 1;
    if (n > *cap) {
        char *grown = realloc(*buf, n);
        if (!grown) gg_oom();
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
        *stop = ad_reject(pc, key && *key ? key : refbuf, reason) ? 1 : 0;
        return 1;
    }
    if (!key || !*key) return 0; /* rejected by the mapping; no tie-breaker to resume from */
    buf_set(&pc->wm_ts, &pc->wm_ts_cap, ts);
    buf_set(&pc->wm_key, &pc->wm_key_cap, key);
    pc->wm_set = 1;
    return 0;
}

/* The row's hash as the source sent it (adapter_row_hash): each value's
 * length (~0 for NULL) and bytes, seeded with the columns' names. lens: the
 * values' lengths from the connector, or NULL. */
static uint64_t source_row_hash(pull_ctx *pc, int ncols, const char *const *names, const char *const *vals,
                                const size_t *lens) {
    if (!pc->row_seed) {
        uint64_t h = gg_hash64_update(GG_HASH64_SEED, &ncols, sizeof ncols);
        for (int i = 0; i < ncols; i++) h = gg_hash64_update(h, names[i], strlen(names[i]));
        pc->row_seed = h | 1; /* never 0: 0 is "not computed" */
    }
    unsigned char buf[2048];
    size_t n = 0;
    uint64_t h = pc->row_seed;
    for (int i = 0; i < ncols; i++) {
        size_t len = !vals[i] ? 0 : lens ? lens[i] : strlen(vals[i]);
        uint32_t tag = vals[i] ? (uint32_t)len : UINT32_MAX;
        if (n + sizeof tag + len > sizeof buf) { /* a long row: hashed in parts */
            h = gg_hash64_update(h, buf, n);
            n = 0;
            if (sizeof tag + len > sizeof buf) {
                h = gg_hash64_update(h, &tag, sizeof tag);
                h = gg_hash64_update(h, vals[i], len);
                continue;
            }
        }
        memcpy(buf + n, &tag, sizeof tag);
        n += sizeof tag;
        if (len) memcpy(buf + n, vals[i], len);
        n += len;
    }
    h = gg_hash64_update(h, buf, n);
    return h ? h : 1;
}

static int sql_row_cb(void *ud, int ncols, const char *const *names, const char *const *vals, const size_t *lens) {
    pull_ctx *pc = ud;
    pc->row_hash = 0;
    if (pc->sink->row_passed && !pc->incremental && pc->st->info.pure) {
        /* Asked before anything else: a row passed over is neither converted
         * nor mapped (it is counted read, as a row the sink dropped). */
        pc->row_hash = source_row_hash(pc, ncols, names, vals, lens);
        int taken = pc->sink->row_passed(pc->sink->ud, pc->st->name, pc->row_hash);
        if (taken < 0) return pc->stop = 1;
        if (taken) {
            pc->rows_seen++;
            pc->nrows++;
            if (pc->limit > 0 && pc->nrows >= pc->limit) pc->stop = 1;
            return pc->stop;
        }
    }
    int bad = ad_convert_row(pc, ncols, vals, lens);
    if (bad == CONVERT_NOMEM) {
        snprintf(pc->err, sizeof pc->err,
                 "source %s, stream '%s': a row needs more memory than the adapter's limit allows", pc->ad->source,
                 pc->st->name);
        return 1;
    }
    pc->row.ncols = ncols;
    pc->row.names = names;
    pc->row.vals = pc->vals;
    if (!pc->resolved && ad_resolve_columns(pc, pc->err, sizeof pc->err)) return 1;
    if (bad >= 0) pc->vals[bad] = NULL; /* keep raw_json printable */
    if (pc->incremental) {
        int stop;
        if (track_watermark(pc, &stop)) return stop;
    }
    if (pc->max_field > 0 && (pc->over_col >= 0 || pc->rec_len > (size_t)pc->max_record)) {
        const char *key = pc->vals[pc->st->keyidx];
        char reason[300], refbuf[64];
        if (!key || !*key) snprintf(refbuf, sizeof refbuf, "(row %ld)", pc->rows_seen + 1), key = refbuf;
        if (pc->over_col >= 0)
            snprintf(reason, sizeof reason, "column %.80s: value of %zu bytes is over max_field (%ld bytes)",
                     names[pc->over_col], pc->over_len, pc->max_field);
        else
            snprintf(reason, sizeof reason, "record of %zu bytes is over max_record (%ld bytes)", pc->rec_len,
                     pc->max_record);
        pc->rows_seen++;
        return ad_reject_oversize(pc, key, reason) ? 1 : 0;
    }
    if (bad >= 0) {
        const char *key = pc->vals[pc->st->keyidx] ? pc->vals[pc->st->keyidx] : "(unknown key)";
        char reason[300];
        snprintf(reason, sizeof reason, "column %s: not valid %s text", names[bad],
                 pc->ad->cd == (iconv_t)-1 ? "UTF-8 (set encoding = GBK in the source if it is a legacy system)"
                                           : pc->ad->src->encoding);
        return ad_reject(pc, key, reason) ? 1 : 0;
    }
    return ad_map_and_emit(pc);
}

/* The stream's SQL with trailing blanks and semicolons removed, so that it
 * can be wrapped as a subquery. malloc'd. */
static char *sql_trimmed(const char *sql) {
    size_t n = strlen(sql);
    while (n && (isspace((unsigned char)sql[n - 1]) || sql[n - 1] == ';')) n--;
    char *s = malloc(n + 1);
    if (!s) gg_oom();
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
    if (!out) gg_oom();
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
        base = incremental_sql(st, conn_get_kind(c)->params == CONN_PARAMS_DOLLAR, wm_ts != NULL);
        if (wm_ts) nparams += 3;
        pc->incremental = 1;
    }
    char *sql = base;
    char **params = calloc((size_t)nparams + 1, sizeof *params);
    if (!params) gg_oom();
    for (int i = 0; i < st->nparams; i++) params[i] = st->params[i] ? xstrdup(st->params[i]) : NULL;
    if (wm_ts) {
        params[st->nparams] = xstrdup(wm_ts);
        params[st->nparams + 1] = wm_ts;
        params[st->nparams + 2] = wm_key;
    }
    int rc = -1;
    if (ad_params_to_source(pc->ad, &sql, params, nparams, e2, sizeof e2) == 0)
        rc = conn_query(c, sql, nparams, (const char *const *)params, sql_row_cb, pc, e2, sizeof e2);
    ad_row_keys_forget(pc); /* the result's names are gone with it */
    if (sql != base) free(sql);
    if (base != st->sql) free(base);
    ad_params_free(params, nparams);
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
    if (!vals || !num) gg_oom();
    for (int i = 0; i < n; i++) {
        json_t *v = ad_json_path(item, st->http_cols[i]);
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
    char reason[300];
    if (ad_item_over_limits(pc, item, reason, sizeof reason)) {
        /* the key as ref when it is a short value, else the item's position */
        const char *key = pc->resolved && st->keyidx >= 0 && st->keyidx < n ? vals[st->keyidx] : NULL;
        char refbuf[64];
        pc->rows_seen++;
        if (!key || !*key || strlen(key) > 64) snprintf(refbuf, sizeof refbuf, "(item %ld)", pc->rows_seen), key = refbuf;
        rc = ad_reject_oversize(pc, key, reason);
    } else if (pc->resolved || ad_resolve_columns(pc, pc->err, sizeof pc->err) == 0) rc = ad_map_and_emit(pc);
    pc->item = NULL;
    pc->row.vals = NULL;
    free(vals);
    free(num);
    return rc;
}

/* Paging guards: a stream stops with an error after max_pages pages, or when
 * a page repeats the previous one (same body, or same first and last record
 * keys): a source that ignores the page parameter would be paged forever. */
#define DEFAULT_MAX_PAGES 10000L
#define PAGE_LOG_EVERY 500L

/* The key of items[i] as text into buf ("" when absent or not a scalar). */
static void item_key_text(const stream *st, json_t *items, size_t i, char *buf, size_t sz) {
    json_t *v = ad_json_path(json_array_get(items, i), st->key);
    buf[0] = '\0';
    if (json_is_string(v)) snprintf(buf, sz, "s%s", json_string_value(v));
    else if (json_is_integer(v)) snprintf(buf, sz, "i%" JSON_INTEGER_FORMAT, json_integer_value(v));
}

static int pull_http(pull_ctx *pc, char *err, size_t errsz) {
    stream *st = pc->st;
    conn *c = pc->ad->conns[st->conn_idx];
    long page = st->page_start;
    long max_pages = pc->ad->src->max_pages > 0 ? pc->ad->src->max_pages : DEFAULT_MAX_PAGES;
    uint64_t prev_hash = 0;
    size_t prev_len = 0;
    char prev_first[80] = "", prev_last[80] = "";
    for (long pages = 0;; pages++, page++) {
        if (pages >= max_pages) {
            snprintf(err, errsz, "source %s, stream '%s': stopped before page %ld: more than %ld pages (max_pages); "
                     "is the paging parameter right?", pc->ad->source, st->name, page, max_pages);
            return -1;
        }
        if (pages > 0 && pages % PAGE_LOG_EVERY == 0)
            gg_info(pc->ad->source, "stream %s: paging: %ld pages, %ld records so far (page %ld next)", st->name, pages,
                    pc->nrows, page);
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
        /* The body counts against the adapter's memory cap while parsed. */
        lua_State *L = lua_rt_state(pc->ad->rt);
        size_t blen = resp.len;
        if (lua_rt_charge(L, blen) != 0) {
            snprintf(err, errsz, "source %s, stream '%s': GET %s: a body of %zu bytes passes the adapter's memory limit",
                     pc->ad->source, st->name, path, blen);
            http_response_free(&resp);
            return -1;
        }
        uint64_t hash = fnv1a64_update(GG_FNV_OFFSET, resp.body, resp.len);
        int same_body = pages > 0 && hash == prev_hash && resp.len == prev_len;
        prev_hash = hash;
        prev_len = resp.len;
        json_error_t je;
        json_t *doc = same_body ? NULL : json_loadb(resp.body, resp.len, 0, &je);
        http_response_free(&resp);
        lua_rt_release(L, blen);
        if (same_body) {
            snprintf(err, errsz, "source %s, stream '%s': page %ld repeats page %ld (same body): the source does not "
                     "page with '%s'; stopped", pc->ad->source, st->name, page, page - 1,
                     st->page_param ? st->page_param : "?");
            return -1;
        }
        if (!doc) {
            char why[200];
            lua_rt_json_error(&je, why, sizeof why);
            snprintf(err, errsz, "source %s, stream '%s': GET %s: response is not JSON (%s)", pc->ad->source,
                     st->name, path, why);
            return -1;
        }
        json_t *items = st->items ? ad_json_path(doc, st->items) : doc;
        if (!json_is_array(items)) {
            snprintf(err, errsz, "source %s, stream '%s': GET %s: no array at '%s' in the response", pc->ad->source,
                     st->name, path, st->items ? st->items : "(top level)");
            json_decref(doc);
            return -1;
        }
        size_t n = json_array_size(items);
        if (n > 0 && st->page_param) {
            char first[80], last[80];
            item_key_text(st, items, 0, first, sizeof first);
            item_key_text(st, items, n - 1, last, sizeof last);
            if (pages > 0 && first[0] && !strcmp(first, prev_first) && !strcmp(last, prev_last)) {
                snprintf(err, errsz, "source %s, stream '%s': page %ld repeats page %ld (same first and last record "
                         "keys): the source does not page with '%s'; stopped", pc->ad->source, st->name, page,
                         page - 1, st->page_param);
                json_decref(doc);
                return -1;
            }
            memcpy(prev_first, first, sizeof first);
            memcpy(prev_last, last, sizeof last);
        }
        for (size_t i = 0; i < n && !pc->stop; i++) {
            json_t *it = json_array_get(items, i);
            if (!json_is_object(it)) {
                char ref[64];
                snprintf(ref, sizeof ref, "(page %ld item %zu)", page, i);
                pc->item = NULL;
                if (ad_reject(pc, ref, "item is not a JSON object")) break;
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
    /* ad_fact_from_table first: it reads the table raw and never raises, and
     * nothing C-allocated is held yet if it did. */
    int bad = ad_fact_from_table(pc, L, 1, reason, sizeof reason);
    /* raw_json for evidence: the emitted table itself; nothing below raises */
    char e2[256];
    json_t *raw = lua_rt_to_json(L, 1, e2, sizeof e2);
    pc->item = raw;
    /* The whole record (raw text included) within the size limits; its reason
     * stands before a field's, but for an oversized ref (checked first). */
    char big[300];
    int ref_too_big = bad && !pc->f.ref && !strncmp(reason, "field ref:", 10);
    if (!ref_too_big && ad_item_over_limits(pc, raw, big, sizeof big)) {
        snprintf(reason, sizeof reason, "%s", big);
        pc->raw_suppressed = 1;
        bad = 1;
    }
    int rc;
    if (bad) {
        rc = ad_reject(pc, pc->f.ref ? pc->f.ref : "(no ref)", reason);
    } else if (!pc->f.ref) {
        rc = ad_reject(pc, "(no ref)", "emitted record has no ref (the department's record key)");
    } else if (fact_check(&pc->f, reason, sizeof reason)) {
        rc = ad_reject(pc, pc->f.ref, reason);
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
    const char *why = luaL_optstring(L, 2, "rejected by the adapter"); /* may raise: before ref */
    char *ref = ad_scalar_text(L, 1);
    char reason[600];
    snprintf(reason, sizeof reason, "rejected by the adapter: %s", why);
    ad_reject(pc, ref ? ref : "(no ref)", reason);
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
    ad_set_closure(L, ad, l_emit, "emit");
    ad_set_closure(L, ad, l_reject, "reject");
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
    ad_pull_limits_init(&pc);
    fact_init(&pc.f, st->kind);
    ad->cur = &pc;
    int rc;
    if (st->pull_ref != LUA_NOREF)
        rc = pull_lua(&pc, err, errsz);
    else if (conn_kind_serves(conn_get_kind(ad->conns[st->conn_idx]), CONN_SERVES_HTTP))
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
    ad_row_keys_forget(&pc);
    ad_arena_free(&pc);
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
    ad_pull_limits_init(&pc);
    fact_init(&pc.f, st->kind);
    ad->cur = &pc;
    char e2[1024];
    char *sql = st->lookup;
    int rc = -1;
    if (ad_params_to_source(ad, &sql, params, 2, e2, sizeof e2) == 0)
        rc = conn_query(ad->conns[st->conn_idx], sql, 2, (const char *const *)params, sql_row_cb, &pc, e2, sizeof e2);
    ad_row_keys_forget(&pc);
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
    ad_arena_free(&pc);
    free(pc.vals);
    free(pc.offs);
    if (nrows) *nrows = pc.nrows;
    return rc;
}
