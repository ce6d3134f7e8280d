/* push.c - delivering one alert through the adapter's push function: the
 * alert as a Lua table (masked summary, periods, detail, the verdict deadline
 * and the times as China Standard Time) and the source's connections, in a
 * protected call. The fields are documented in adapters/README.md (push). */
#include "adapter/adapter_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* -------------------------------------------------------------------- push */

static void set_str(lua_State *L, const char *k, const char *v) {
    if (!v) return;
    lua_pushstring(L, v);
    lua_setfield(L, -2, k);
}

/* Sets t[k] to unix time t as China Standard Time (UTC+8, no daylight
 * saving), "YYYY-MM-DDTHH:MM:SS+08:00", and t[k_date] to "YYYY-MM-DD" when
 * k_date is given. Nothing for t <= 0. */
static void set_cst(lua_State *L, const char *k, const char *k_date, long long t) {
    if (t <= 0) return;
    time_t cst = (time_t)(t + 8 * 3600);
    struct tm tm;
    if (!gmtime_r(&cst, &tm)) return;
    char buf[40];
    if (strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S+08:00", &tm) == 0) return;
    set_str(L, k, buf);
    if (k_date) {
        buf[10] = '\0';
        set_str(L, k_date, buf);
    }
}

/* Protected: (push_fn, alert*, explanation, conns, summary, deadline) ->
 * push_fn(alert_table, conns). */
static int l_push_call(lua_State *L) {
    const alert *a = lua_touserdata(L, 2);
    long long deadline = (long long)lua_tointeger(L, 6);
    lua_settop(L, 5);
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
        month_text(a->periods[i], m, sizeof m);
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
    set_cst(L, "first_seen", NULL, a->first_seen);
    set_cst(L, "updated_at", NULL, a->updated_at);
    set_cst(L, "deadline", "deadline_date", deadline);
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
    return adapter_push_due(ad, a, explanation, 0, err, errsz);
}

int adapter_push_due(adapter *ad, const alert *a, const char *explanation, long long deadline, char *err,
                     size_t errsz) {
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
    lua_pushinteger(L, (lua_Integer)deadline);
    char e2[1024];
    if (lua_rt_pcall(ad->rt, 6, 0, e2, sizeof e2)) {
        snprintf(err, errsz, "source %s: push of alert %s failed: %s", ad->source, a->id, e2);
        return -1;
    }
    return 0;
}

/* ----------------------------------------------------- pushes in a transaction */

int adapter_push_begin(adapter *ad, char *err, size_t errsz) {
    if (!ad->nconns && ad->src->nconns && adapter_connect(ad, err, errsz)) return -1;
    int opened = 0;
    for (int i = 0; i < ad->nconns; i++) {
        if (!ad->conns[i] || conn_get_type(ad->conns[i]) == CONN_HTTP) continue;
        char e2[1024];
        if (conn_begin(ad->conns[i], e2, sizeof e2) != 0) {
            adapter_push_rollback(ad);
            snprintf(err, errsz, "source %s: %s", ad->source, e2);
            return -1;
        }
        opened++;
    }
    return opened;
}

int adapter_push_commit(adapter *ad, char *err, size_t errsz) {
    for (int i = 0; i < ad->nconns; i++) {
        if (!ad->conns[i] || !conn_in_transaction(ad->conns[i])) continue;
        char e2[1024];
        if (conn_commit(ad->conns[i], e2, sizeof e2) != 0) {
            adapter_push_rollback(ad);
            snprintf(err, errsz, "source %s: %s", ad->source, e2);
            return -1;
        }
    }
    return 0;
}

void adapter_push_rollback(adapter *ad) {
    for (int i = 0; i < ad->nconns; i++)
        if (ad->conns[i]) conn_rollback(ad->conns[i]);
}
