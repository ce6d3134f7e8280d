/* lua_rt.c - the sandboxed Lua 5.4 runtime that adapters run in.
 *
 * One lua_rt owns one lua_State, a watchdog thread and the bookkeeping for
 * the memory cap and the per-call deadline (see lua_rt.h for the sandbox
 * recipe). Layout inside the state:
 *
 *   STORE  (hidden, registry)   safe standard globals + lua_rt_register values
 *   VIEW   (hidden, registry)   empty read-only proxy whose __index is STORE
 *   env    (one per file)       _ENV of an adapter file; metatable
 *                               {__index = VIEW, __metatable = "locked"};
 *                               the adapter's own globals land here.
 *
 * Library tables (string, table, ...) and registered plain tables are exposed
 * through read-only proxies: an empty table whose metatable forwards reads
 * and raises "attempt to modify runtime table" on writes; the sandbox rawset
 * refuses them too, so one file cannot change what another file sees.
 *
 * Deadline: lua_rt_pcall records the deadline; the watchdog thread sleeps on a
 * CLOCK_MONOTONIC condition variable and, only when the deadline passes while
 * the call still runs, installs a count hook on the running threads (the main
 * thread and every coroutine currently being resumed). The hook stays
 * installed until the call returns, so a pcall inside the adapter cannot
 * swallow the timeout: every further Lua instruction raises it again. The
 * coroutine functions resume/wrap/close are replaced so that the runtime knows
 * which coroutines are running (also while close and wrap's error path run
 * their __close handlers) and can clear stale hooks on resumption. The
 * pattern functions of string are replaced by a copy of Lua's matcher that
 * checks the deadline itself, since a match runs inside one C call.
 *
 * Metatables made here or with luaL_newmetatable by the adapter layer are
 * locked (__metatable); setmetatable refuses __gc. C memory held for the
 * state (JSON trees, file text) is charged to the same cap as the Lua heap.
 * print and warn log one escaped line per call through a token bucket.
 *
 * Nothing longjmps out of this module: every entry point that can raise runs
 * its Lua work inside lua_pcall. */
#include "adapter/lua_rt.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lualib.h>

#include "core/log.h"
#include "core/mask.h"
#include "core/util.h"

#define RT_DEFAULT_CAP ((size_t)256 * 1024 * 1024)
#define RT_DEFAULT_DEADLINE_MS 60000L
#define RT_CO_MAX 200            /* coroutines resumed inside each other */
#define RT_JSON_MAX_DEPTH 64     /* Lua -> JSON nesting limit */
#define RT_JSON_PUSH_MAX_DEPTH 4096 /* JSON -> Lua guard (jansson stops at 2048) */
#define RT_LOCKED "locked"       /* what getmetatable() shows for protected tables */
#define RT_JSONBOX "gg.jsonbox"  /* lua_rt_box: userdata owning C memory during a call */
#define RT_LOG_BURST 100          /* log lines an adapter may write at once */
#define RT_LOG_RATE 10.0          /* ... and per second after that */
#define RT_LOG_MAX_LINE 2000      /* bytes of one log line kept (escaped) */
#define RT_ENCODE_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS)

/* Registry keys: addresses of these constants are unique light userdata. */
static const char roset_key = 'r';  /* weak-keyed set of read-only proxies */
static const char json_null_key = 'n'; /* json.null is &json_null_key */

struct lua_rt {
    lua_State *L; /* owned; closed by lua_rt_free */

    /* Allocator accounting; touched only by the thread running Lua. */
    size_t cap;
    size_t used;
    int mem_refused; /* an allocation was refused during the current call */

    int store_ref; /* registry refs */
    int view_ref;

    /* Call state of the thread running Lua. */
    int depth;     /* nesting of lua_rt_pcall */
    int timed_out; /* the timeout hook fired during the current outer call */
    char timeout_msg[320];
    char warnbuf[1024]; /* pieces of a lua_warning message */
    size_t warnlen;

    /* Shared with the watchdog thread, guarded by mu. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t watchdog;
    int watchdog_started;
    int stop;
    long deadline_ms;        /* limit for calls started from now on */
    int running;             /* an outer call is in progress */
    long call_limit_ms;      /* limit of the running call */
    struct timespec call_deadline;
    int armed;               /* the timeout hook is installed */
    int wd_idle;             /* watchdog waits without a timeout */
    int wd_timed;            /* watchdog waits until wd_target */
    struct timespec wd_target;
    lua_State *co_stack[RT_CO_MAX]; /* coroutines being resumed, innermost last */
    int co_depth;

    /* Log rate limit (token bucket) for print, warn and lua_rt_log; touched
     * only by the thread running Lua. */
    double log_tokens;
    struct timespec log_last;
    unsigned long log_suppressed;
    char log_component[64]; /* component of the last suppressed line */
};

static lua_rt *rt_of(lua_State *L) { return *(lua_rt **)lua_getextraspace(L); }

/* Raw t[k] for a C string key k (t absolute or relative). [-0, +1] */
static int rawget_str(lua_State *L, int t, const char *k) {
    t = lua_absindex(L, t);
    lua_pushstring(L, k);
    return lua_rawget(L, t);
}

/* Raw t[k] = value on top (popped). [-1, +0] */
static void rawset_str(lua_State *L, int t, const char *k) {
    t = lua_absindex(L, t);
    lua_pushstring(L, k);
    lua_insert(L, -2);
    lua_rawset(L, t);
}

/* "16 MiB", or "1.50 MiB" when the cap is not a whole number of MiB. */
static void format_cap(size_t cap, char *out, size_t outsz) {
    const size_t mib = 1024 * 1024;
    if (cap % mib == 0)
        snprintf(out, outsz, "%zu MiB", cap / mib);
    else
        snprintf(out, outsz, "%.2f MiB", (double)cap / (double)mib);
}

/* ---------------------------------------------------------------- memory */

/* lua_Alloc with a cap. Frees and shrinks never fail; a growth past the cap
 * returns NULL, which Lua turns into an emergency collection and then a memory
 * error. When ptr is NULL, osize is a type tag, not a size. */
static void *rt_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    lua_rt *rt = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        rt->used -= old;
        return NULL;
    }
    if (nsize > old && nsize - old > rt->cap - (rt->used < rt->cap ? rt->used : rt->cap)) {
        rt->mem_refused = 1;
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (!p) {
        if (nsize <= old) return ptr; /* a failed shrink keeps the old block */
        rt->mem_refused = 1;
        return NULL;
    }
    rt->used = rt->used - old + nsize;
    return p;
}

int lua_rt_charge(lua_State *L, size_t bytes) {
    lua_rt *rt = rt_of(L);
    if (bytes > rt->cap - (rt->used < rt->cap ? rt->used : rt->cap)) {
        rt->mem_refused = 1;
        return -1;
    }
    rt->used += bytes;
    return 0;
}

void lua_rt_release(lua_State *L, size_t bytes) {
    lua_rt *rt = rt_of(L);
    rt->used -= bytes < rt->used ? bytes : rt->used;
}

void *lua_rt_realloc(lua_State *L, void *ptr, size_t osize, size_t nsize) {
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        lua_rt_release(L, old);
        return NULL;
    }
    if (nsize > old && lua_rt_charge(L, nsize - old) != 0) return NULL;
    void *p = realloc(ptr, nsize);
    if (!p) {
        if (nsize > old) lua_rt_release(L, nsize - old);
        rt_of(L)->mem_refused = 1;
        return NULL;
    }
    if (nsize < old) lua_rt_release(L, old - nsize);
    return p;
}

int lua_rt_memerror(lua_State *L, const char *what) {
    rt_of(L)->mem_refused = 1;
    return luaL_error(L, "%s: not enough memory", what);
}

static int rt_panic(lua_State *L) {
    const char *msg = lua_tostring(L, -1);
    gg_error("lua", "unprotected error in the Lua runtime: %s", msg ? msg : "(not a string)");
    return 0; /* Lua aborts the process */
}

/* ----------------------------------------------------------------- logging */

/* Token bucket: 1 when a line may be written now. */
static int log_admit(lua_rt *rt) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (rt->log_last.tv_sec == 0 && rt->log_last.tv_nsec == 0) {
        rt->log_tokens = RT_LOG_BURST;
    } else {
        double dt = (double)(now.tv_sec - rt->log_last.tv_sec) + (double)(now.tv_nsec - rt->log_last.tv_nsec) / 1e9;
        if (dt > 0) rt->log_tokens += dt * RT_LOG_RATE;
        if (rt->log_tokens > RT_LOG_BURST) rt->log_tokens = RT_LOG_BURST;
    }
    rt->log_last = now;
    if (rt->log_tokens < 1.0) return 0;
    rt->log_tokens -= 1.0;
    return 1;
}

/* Writes the "N lines suppressed" line if lines were dropped. */
static void log_flush_suppressed(lua_rt *rt) {
    if (!rt->log_suppressed) return;
    gg_warn(rt->log_component, "%lu adapter log lines suppressed (limit %d at once, then %.0f a second)",
            rt->log_suppressed, RT_LOG_BURST, RT_LOG_RATE);
    rt->log_suppressed = 0;
}

static void rt_log(lua_rt *rt, int level, const char *component, const char *msg, size_t len) {
    if (!log_admit(rt)) {
        if (rt->log_suppressed++ == 0) snprintf(rt->log_component, sizeof rt->log_component, "%s", component);
        return;
    }
    log_flush_suppressed(rt);
    /* One adapter log call is one line: control characters escaped (and id
     * runs masked) by the one masker; cut at RT_LOG_MAX_LINE with "...". */
    char line[RT_LOG_MAX_LINE];
    if (mask_text_nbuf(msg, len, MASK_ESCAPE, line, sizeof line)) memcpy(line + sizeof line - 4, "...", 4);
    gg_log((gg_log_level)level, component, "%s", line);
}

void lua_rt_log(lua_State *L, int level, const char *component, const char *msg, size_t len) {
    rt_log(rt_of(L), level, component, msg, len);
}

/* lua_WarnFunction: collects the pieces of a warning and logs it whole.
 * Control messages ("@on", "@off") are ignored: warnings are always logged. */
static void rt_warnf(void *ud, const char *msg, int tocont) {
    lua_rt *rt = ud;
    if (rt->warnlen == 0 && !tocont && msg[0] == '@') return;
    size_t len = strlen(msg);
    size_t room = sizeof rt->warnbuf - 1 - rt->warnlen;
    if (len > room) len = room;
    memcpy(rt->warnbuf + rt->warnlen, msg, len);
    rt->warnlen += len;
    rt->warnbuf[rt->warnlen] = '\0';
    if (!tocont) {
        rt_log(rt, GG_LOG_WARN, "lua", rt->warnbuf, rt->warnlen);
        rt->warnlen = 0;
        rt->warnbuf[0] = '\0';
    }
}

/* -------------------------------------------------------------- deadline */

static void ts_now(struct timespec *ts) { clock_gettime(CLOCK_MONOTONIC, ts); }

/* The start of a call reads the coarse clock (same timeline as
 * CLOCK_MONOTONIC, a tick behind at most, several times cheaper): a deadline
 * may come one tick early, which is far below any useful limit. */
static void ts_now_coarse(struct timespec *ts) {
#ifdef CLOCK_MONOTONIC_COARSE
    if (clock_gettime(CLOCK_MONOTONIC_COARSE, ts) == 0) return;
#endif
    clock_gettime(CLOCK_MONOTONIC, ts);
}

static int ts_cmp(const struct timespec *a, const struct timespec *b) {
    if (a->tv_sec != b->tv_sec) return a->tv_sec < b->tv_sec ? -1 : 1;
    if (a->tv_nsec != b->tv_nsec) return a->tv_nsec < b->tv_nsec ? -1 : 1;
    return 0;
}

static void ts_add_ms(struct timespec *ts, long ms) {
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void rt_raise_timeout(lua_State *L, lua_Debug *ar);

/* Count hook installed by the watchdog once the deadline has passed. It stays
 * installed until lua_rt_pcall disarms it, so the error is raised again on
 * the next instruction if the adapter catches it with pcall. */
static void rt_timeout_hook(lua_State *L, lua_Debug *ar) { rt_raise_timeout(L, ar); }

/* Raises the timeout error, naming the position of ar, or with ar NULL (a C
 * function noticed the deadline) of the innermost Lua function calling. */
static void rt_raise_timeout(lua_State *L, lua_Debug *ar) {
    lua_rt *rt = rt_of(L);
    if (!rt->timed_out) {
        rt->timed_out = 1;
        lua_Debug caller;
        if (!ar) {
            for (int level = 1; lua_getstack(L, level, &caller); level++) {
                if (lua_getinfo(L, "Sl", &caller) && caller.currentline > 0) {
                    ar = &caller;
                    break;
                }
            }
        }
        if (ar && lua_getinfo(L, "Sl", ar) && ar->currentline > 0)
            snprintf(rt->timeout_msg, sizeof rt->timeout_msg, "%s:%d: exceeded its time limit of %ld ms",
                     ar->short_src, ar->currentline, rt->call_limit_ms);
        else
            snprintf(rt->timeout_msg, sizeof rt->timeout_msg, "exceeded its time limit of %ld ms",
                     rt->call_limit_ms);
    }
    lua_pushstring(L, rt->timeout_msg);
    lua_error(L);
}

/* Called with mu held: installs the hook on every thread running Lua now. */
static void arm_locked(lua_rt *rt) {
    rt->armed = 1;
    lua_sethook(rt->L, rt_timeout_hook, LUA_MASKCOUNT, 1);
    for (int i = 0; i < rt->co_depth; i++) lua_sethook(rt->co_stack[i], rt_timeout_hook, LUA_MASKCOUNT, 1);
}

/* The watchdog sleeps until the deadline of the running call, or after a
 * call until that call's deadline (so that a run of short calls with the same
 * limit never needs to wake it), and without a timeout when nothing is
 * pending. */
static void *watchdog_main(void *arg) {
    lua_rt *rt = arg;
    pthread_mutex_lock(&rt->mu);
    while (!rt->stop) {
        struct timespec now;
        ts_now(&now);
        int pending = ts_cmp(&now, &rt->call_deadline) < 0;
        if (rt->running && !rt->armed && !pending) {
            arm_locked(rt);
            continue;
        }
        if (rt->armed || !pending) {
            rt->wd_idle = 1;
            pthread_cond_wait(&rt->cv, &rt->mu);
            rt->wd_idle = 0;
            continue;
        }
        rt->wd_target = rt->call_deadline;
        rt->wd_timed = 1;
        pthread_cond_timedwait(&rt->cv, &rt->mu, &rt->wd_target);
        rt->wd_timed = 0;
    }
    pthread_mutex_unlock(&rt->mu);
    return NULL;
}

/* Starts the deadline of an outer call. The watchdog is woken only when it
 * would otherwise sleep past the new deadline, so back-to-back calls cost two
 * uncontended mutex operations and a clock read. */
static void deadline_begin(lua_rt *rt) {
    rt->timed_out = 0;
    rt->timeout_msg[0] = '\0';
    rt->mem_refused = 0;
    struct timespec dl;
    ts_now_coarse(&dl);
    pthread_mutex_lock(&rt->mu);
    ts_add_ms(&dl, rt->deadline_ms);
    rt->call_limit_ms = rt->deadline_ms;
    rt->call_deadline = dl;
    rt->running = 1;
    rt->armed = 0;
    if (rt->wd_idle || (rt->wd_timed && ts_cmp(&dl, &rt->wd_target) < 0)) pthread_cond_signal(&rt->cv);
    pthread_mutex_unlock(&rt->mu);
}

/* Ends the call; after this the watchdog cannot install the hook any more
 * (it checks `running` under the same mutex), and an installed hook is gone. */
static void deadline_end(lua_rt *rt) {
    pthread_mutex_lock(&rt->mu);
    rt->running = 0;
    if (rt->armed) {
        lua_sethook(rt->L, NULL, 0, 0);
        rt->armed = 0;
    }
    pthread_mutex_unlock(&rt->mu);
}

/* ------------------------------------------------------- message handler */

/* Does the first line of msg already carry "<chunk>:<line>:"? */
static int has_position(const char *msg) {
    for (const char *p = msg; *p && *p != '\n'; p++) {
        if (*p != ':') continue;
        const char *q = p + 1;
        while (*q >= '0' && *q <= '9') q++;
        if (q > p + 1 && *q == ':') return 1;
    }
    return 0;
}

/* Message handler for lua_pcall: one line "<file>:<line>: <message>". */
static int rt_msgh(lua_State *L) {
    const char *msg;
    int t = lua_type(L, 1);
    if (t == LUA_TSTRING || t == LUA_TNUMBER)
        msg = lua_tostring(L, 1);
    else if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
        msg = lua_tostring(L, -1);
    else
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    if (!has_position(msg)) {
        lua_Debug ar;
        for (int level = 1; lua_getstack(L, level, &ar); level++) {
            if (lua_getinfo(L, "Sl", &ar) && ar.currentline > 0) {
                lua_pushfstring(L, "%s:%d: %s", ar.short_src, ar.currentline, msg);
                return 1;
            }
        }
    }
    lua_pushstring(L, msg);
    return 1;
}

/* -------------------------------------------------------- protected call */

int lua_rt_pcall(lua_rt *rt, int nargs, int nresults, char *err, size_t errsz) {
    lua_State *L = rt->L;
    int base = lua_gettop(L) - nargs; /* the function */
    if (base < 1) {
        gg_set_err(err, errsz, "lua_rt_pcall: no function on the stack");
        return -1;
    }
    if (!lua_checkstack(L, 4)) {
        lua_settop(L, base - 1);
        gg_set_err(err, errsz, "lua_rt_pcall: Lua stack overflow");
        return -1;
    }
    /* [.., f, args] -> [.., fcopy, msgh, f, args]; fcopy names the function
     * in a memory error, whose message handler does not run. */
    lua_pushvalue(L, base);
    lua_pushcfunction(L, rt_msgh);
    lua_rotate(L, base, 2);

    int outer = rt->depth == 0;
    if (outer) deadline_begin(rt);
    rt->depth++;
    int status = lua_pcall(L, nargs, nresults, base + 1);
    rt->depth--;
    if (outer) {
        deadline_end(rt);
        if (rt->log_suppressed && log_admit(rt)) log_flush_suppressed(rt);
    }

    if (status == LUA_OK) {
        lua_rotate(L, base, -2);
        lua_pop(L, 2);
        return 0;
    }

    const char *msg = lua_tostring(L, -1);
    if (rt->timed_out) {
        gg_set_err(err, errsz, "%s", rt->timeout_msg);
    } else if (status == LUA_ERRMEM ||
               (rt->mem_refused && (status == LUA_ERRERR || (msg && strstr(msg, "not enough memory"))))) {
        char capbuf[32];
        format_cap(rt->cap, capbuf, sizeof capbuf);
        lua_Debug ar;
        lua_pushvalue(L, base);
        int have = lua_getinfo(L, ">S", &ar);
        if (have && ar.what[0] == 'm')
            gg_set_err(err, errsz, "%s: exceeded its memory limit of %s", ar.short_src, capbuf);
        else if (have && ar.what[0] == 'L')
            gg_set_err(err, errsz, "%s: exceeded its memory limit of %s (in function at line %d)", ar.short_src,
                    capbuf, ar.linedefined);
        else
            gg_set_err(err, errsz, "exceeded its memory limit of %s", capbuf);
    } else {
        gg_set_err(err, errsz, "%s", msg ? msg : "(error object is not a string)");
    }
    lua_settop(L, base - 1);
    if (status == LUA_ERRMEM || rt->mem_refused) lua_gc(L, LUA_GCCOLLECT, 0);
    return -1;
}

/* ------------------------------------------------- read-only proxy tables */

static int ro_newindex(lua_State *L) {
    if (lua_type(L, 2) == LUA_TSTRING)
        return luaL_error(L, "attempt to modify runtime table (field '%s')", lua_tostring(L, 2));
    return luaL_error(L, "attempt to modify runtime table");
}

/* Iterator over the proxied table, which is only an upvalue: the adapter
 * gets the proxy as the loop state, never the table behind it. */
static int ro_next(lua_State *L) {
    lua_settop(L, 2);
    if (lua_next(L, lua_upvalueindex(1))) return 2;
    lua_pushnil(L);
    return 1;
}

/* The proxied table: the __index of the proxy's (raw) metatable. */
static void push_proxied(lua_State *L, int idx) {
    if (!lua_getmetatable(L, idx)) {
        lua_pushnil(L);
        return;
    }
    lua_getfield(L, -1, "__index");
    lua_remove(L, -2);
}

static int ro_pairs(lua_State *L) {
    push_proxied(L, 1);
    if (!lua_istable(L, -1)) return luaL_error(L, "pairs: not a runtime table");
    lua_pushcclosure(L, ro_next, 1);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

static int ro_len(lua_State *L) {
    push_proxied(L, 1);
    lua_pushinteger(L, lua_istable(L, -1) ? (lua_Integer)lua_rawlen(L, -1) : 0);
    return 1;
}

/* Pushes a read-only proxy of the table at idx and records it in the set of
 * proxies (which the sandbox rawset consults). May raise (memory). */
static void push_ro_proxy(lua_State *L, int idx) {
    idx = lua_absindex(L, idx);
    lua_createtable(L, 0, 0);
    lua_createtable(L, 0, 5);
    lua_pushvalue(L, idx);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, ro_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushcfunction(L, ro_pairs);
    lua_setfield(L, -2, "__pairs");
    lua_pushcfunction(L, ro_len);
    lua_setfield(L, -2, "__len");
    lua_pushliteral(L, RT_LOCKED);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &roset_key);
    lua_pushvalue(L, -2);
    lua_pushboolean(L, 1);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

static int is_ro_proxy(lua_State *L, int idx) {
    idx = lua_absindex(L, idx);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &roset_key);
    lua_pushvalue(L, idx);
    lua_rawget(L, -2);
    int yes = lua_toboolean(L, -1);
    lua_pop(L, 2);
    return yes;
}

/* ------------------------------------------------- sandboxed base library */

static int sb_print(lua_State *L) {
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        if (i > 1) luaL_addchar(&b, '\t');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    size_t len;
    const char *line = lua_tolstring(L, -1, &len);
    rt_log(rt_of(L), GG_LOG_INFO, "lua", line, len);
    return 0;
}

static int sb_collectgarbage(lua_State *L) {
    const char *opt = luaL_optstring(L, 1, "collect");
    if (strcmp(opt, "count") != 0)
        return luaL_error(L, "collectgarbage('%s') is not allowed in the sandbox (only 'count')", opt);
    int kb = lua_gc(L, LUA_GCCOUNT, 0);
    int b = lua_gc(L, LUA_GCCOUNTB, 0);
    lua_pushnumber(L, (lua_Number)kb + ((lua_Number)b / 1024));
    return 1;
}

static int sb_rawset(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checkany(L, 2);
    luaL_checkany(L, 3);
    if (is_ro_proxy(L, 1)) return luaL_error(L, "attempt to modify runtime table");
    lua_settop(L, 3);
    lua_rawset(L, 1);
    return 1;
}

/* Is the table at mtidx a metatable the runtime or the adapter layer made
 * with luaL_newmetatable (registry[mt.__name] == mt)? Adapter code cannot
 * put anything in the registry, so a match is never the adapter's own. */
static int mt_is_runtime(lua_State *L, int mtidx) {
    mtidx = lua_absindex(L, mtidx);
    if (rawget_str(L, mtidx, "__name") != LUA_TSTRING) {
        lua_pop(L, 1);
        return 0;
    }
    lua_rawget(L, LUA_REGISTRYINDEX); /* name -> registry[name] */
    int same = lua_rawequal(L, -1, mtidx);
    lua_pop(L, 1);
    return same;
}

/* Locks the metatable of the value at idx when the runtime made it: sets
 * __metatable = "locked" unless a __metatable is there already. Every
 * userdata metatable counts (adapter code cannot make userdata). Returns 1
 * when the value's metatable is protected afterwards. May raise (memory). */
static int lock_if_runtime(lua_State *L, int idx) {
    idx = lua_absindex(L, idx);
    if (!lua_getmetatable(L, idx)) return 0;
    int mt = lua_gettop(L);
    if (rawget_str(L, mt, "__metatable") != LUA_TNIL) {
        lua_settop(L, mt - 1);
        return 1;
    }
    lua_pop(L, 1);
    int locked = lua_type(L, idx) == LUA_TUSERDATA || mt_is_runtime(L, mt);
    if (locked) {
        lua_pushliteral(L, RT_LOCKED);
        rawset_str(L, mt, "__metatable");
    }
    lua_settop(L, mt - 1);
    return locked;
}

void lua_rt_lock_metatable(lua_State *L, int idx) {
    idx = lua_absindex(L, idx);
    if (rawget_str(L, idx, "__metatable") == LUA_TNIL) {
        lua_pushliteral(L, RT_LOCKED);
        rawset_str(L, idx, "__metatable");
    }
    lua_pop(L, 1);
}

/* Locks every luaL_newmetatable metatable in the registry (string key equal
 * to the table's __name). Runs protected; called before adapter code runs
 * (file load, registering) so that metatables the adapter layer made carry a
 * real __metatable field; the sandbox getmetatable/setmetatable also lock
 * late-made ones on first sight. */
static int lock_registry_protected(lua_State *L) {
    lua_pushnil(L);
    while (lua_next(L, LUA_REGISTRYINDEX)) {
        if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TTABLE) {
            lua_pushvalue(L, -2);
            if (rawget_str(L, -2, "__name") == LUA_TSTRING && lua_rawequal(L, -1, -2))
                lua_rt_lock_metatable(L, -3);
            lua_pop(L, 2);
        }
        lua_pop(L, 1);
    }
    return 0;
}

static void lock_registry(lua_State *L) {
    if (!lua_checkstack(L, 6)) return;
    lua_pushcfunction(L, lock_registry_protected);
    if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
        gg_error("lua", "cannot lock the runtime metatables: %s", lua_tostring(L, -1));
        lua_pop(L, 1);
    }
}

/* getmetatable that shows "locked" for every runtime-made metatable, also
 * ones made with luaL_newmetatable after the last registry sweep. */
static int sb_getmetatable(lua_State *L) {
    luaL_checkany(L, 1);
    lua_settop(L, 1);
    lock_if_runtime(L, 1);
    if (!lua_getmetatable(L, 1)) {
        lua_pushnil(L);
        return 1;
    }
    luaL_getmetafield(L, 1, "__metatable");
    return 1;
}

/* setmetatable refusing __gc: finalizers run with hooks disabled (Lua sets
 * allowhook off around them), so the deadline could not stop one. Refusing
 * the field at setmetatable time is sound: Lua marks an object for
 * finalization only if its metatable has __gc when it is set, so adding the
 * field later has no effect. A deadline check after collections instead would
 * be unsound (the finalizer never returns to be checked). It also refuses to
 * replace a runtime-made metatable. Upvalue 1: the original setmetatable. */
static int sb_setmetatable(lua_State *L) {
    if (lua_type(L, 1) == LUA_TTABLE && lock_if_runtime(L, 1))
        return luaL_error(L, "cannot change a protected metatable");
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        int t = lua_rawget(L, 2);
        lua_pop(L, 1);
        if (t != LUA_TNIL) return luaL_error(L, "__gc metamethods are not allowed in the sandbox");
    }
    int n = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, n, 1);
    return 1;
}

/* load forcing text mode and, unless an env is passed, the adapter's env.
 * Upvalues: 1 the original load, 2 the env of the file this load belongs to. */
static int sb_load(lua_State *L) {
    int has_env = !lua_isnone(L, 4);
    lua_settop(L, 4);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushvalue(L, 1);
    lua_pushvalue(L, 2);
    lua_pushliteral(L, "t");
    if (has_env)
        lua_pushvalue(L, 4);
    else
        lua_pushvalue(L, lua_upvalueindex(2));
    lua_call(L, 4, LUA_MULTRET);
    return lua_gettop(L) - 4;
}

/* ------------------------------------------------------------- coroutines */

/* Makes the hook state of co match the call: installed when the deadline has
 * passed, absent otherwise (clears a hook left from an earlier timed-out
 * call). Pushes co on the running stack when push is set. */
static int co_enter(lua_rt *rt, lua_State *co, int push) {
    int ok = 1;
    pthread_mutex_lock(&rt->mu);
    if (push) {
        if (rt->co_depth >= RT_CO_MAX)
            ok = 0;
        else
            rt->co_stack[rt->co_depth++] = co;
    }
    if (ok) {
        if (rt->armed)
            lua_sethook(co, rt_timeout_hook, LUA_MASKCOUNT, 1);
        else
            lua_sethook(co, NULL, 0, 0);
    }
    pthread_mutex_unlock(&rt->mu);
    return ok;
}

static void co_leave(lua_rt *rt) {
    pthread_mutex_lock(&rt->mu);
    rt->co_depth--;
    pthread_mutex_unlock(&rt->mu);
}

/* Resumes co with narg values from L's top. Returns the number of results
 * moved to L, or -1 with an error value pushed on L. Never raises. */
static int co_resume(lua_State *L, lua_State *co, int narg) {
    lua_rt *rt = rt_of(L);
    if (!lua_checkstack(co, narg)) {
        lua_pop(L, narg);
        lua_pushliteral(L, "too many arguments to resume");
        return -1;
    }
    if (co == L) {
        lua_pop(L, narg);
        lua_pushliteral(L, "cannot resume non-suspended coroutine");
        return -1;
    }
    if (!co_enter(rt, co, 1)) {
        lua_pop(L, narg);
        lua_pushliteral(L, "coroutines nested too deeply");
        return -1;
    }
    lua_xmove(L, co, narg);
    int nres = 0;
    int status = lua_resume(co, L, narg, &nres);
    co_leave(rt);
    if (status == LUA_OK || status == LUA_YIELD) {
        if (!lua_checkstack(L, nres + 1)) {
            lua_pop(co, nres);
            lua_pushliteral(L, "too many results to resume");
            return -1;
        }
        lua_xmove(co, L, nres);
        return nres;
    }
    lua_xmove(co, L, 1);
    return -1;
}

static int sb_co_resume(lua_State *L) {
    lua_State *co = lua_tothread(L, 1);
    luaL_argexpected(L, co, 1, "coroutine");
    int r = co_resume(L, co, lua_gettop(L) - 1);
    if (r < 0) {
        lua_pushboolean(L, 0);
        lua_insert(L, -2);
        return 2;
    }
    lua_pushboolean(L, 1);
    lua_insert(L, -(r + 1));
    return r + 1;
}

/* Closes co's pending to-be-closed variables (lua_resetthread) with co on the
 * running stack, so that a __close handler that loops there is reached by the
 * deadline hook like any resumed coroutine. Returns the status of the close
 * (LUA_OK, or the error status with the error object on co's top). Never
 * raises on L. */
static int co_reset(lua_State *L, lua_State *co) {
    lua_rt *rt = rt_of(L);
    if (!co_enter(rt, co, 1)) {
        lua_pushliteral(co, "coroutines nested too deeply");
        return LUA_ERRRUN;
    }
    int st = lua_resetthread(co);
    co_leave(rt);
    return st;
}

static int sb_co_wrap_call(lua_State *L) {
    lua_State *co = lua_tothread(L, lua_upvalueindex(1));
    int r = co_resume(L, co, lua_gettop(L));
    if (r >= 0) return r;
    int st = lua_status(co);
    if (st != LUA_OK && st != LUA_YIELD) { /* error in the coroutine: close its variables */
        st = co_reset(L, co);
        lua_xmove(co, L, 1);
    }
    if (st != LUA_ERRMEM && lua_type(L, -1) == LUA_TSTRING && !has_position(lua_tostring(L, -1))) {
        luaL_where(L, 1);
        lua_insert(L, -2);
        lua_concat(L, 2);
    }
    return lua_error(L);
}

static int sb_co_wrap(lua_State *L) {
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_State *co = lua_newthread(L);
    lua_pushvalue(L, 1);
    lua_xmove(L, co, 1);
    lua_pushcclosure(L, sb_co_wrap_call, 1);
    return 1;
}

/* coroutine.close, reimplemented (lcorolib.c luaB_close) so that the
 * __close handlers run with co on the running stack: the watchdog hooks it
 * when the deadline passes during them. Only suspended or dead coroutines
 * can be closed. Returns true, or false and the error object. */
static int sb_co_close(lua_State *L) {
    lua_State *co = lua_tothread(L, 1);
    luaL_argexpected(L, co, 1, "coroutine");
    int st = lua_status(co);
    int closable = 0;
    if (co != L) {
        if (st == LUA_YIELD) {
            closable = 1;
        } else if (st == LUA_OK) {
            lua_Debug ar;
            /* running inside another coroutine ("normal") when it has frames
             * and nothing on the stack to start: only dead or fresh ones close */
            closable = !(lua_getstack(co, 0, &ar) > 0);
        } else {
            closable = 1; /* dead with an error */
        }
    }
    if (!closable) {
        const char *what = co == L ? "running" : "normal";
        return luaL_error(L, "cannot close a %s coroutine", what);
    }
    st = co_reset(L, co);
    if (st == LUA_OK) {
        lua_pushboolean(L, 1);
        return 1;
    }
    lua_pushboolean(L, 0);
    lua_xmove(co, L, 1);
    return 2;
}

/* ------------------------------------------------------ pattern matching */

/* string.find, match, gmatch and gsub with a deadline. The stock functions
 * run a backtracking matcher inside one C call, where the instruction hook
 * cannot reach: ("a*"):rep(30).."b" against a long run of "a" takes
 * centuries. A size or complexity limit on patterns would be unsound (even
 * one ".-" over a long subject is quadratic) or would refuse legitimate
 * patterns over large HTTP bodies, so instead the matcher below counts its
 * work (one step per pattern item tried, per character expanded, per
 * character a %b or plain search scans) and every PM_CHECK_EVERY steps
 * compares the clock with the running call's deadline, raising the same
 * timeout as the hook. Overhead: one clock read per 16384 steps. The
 * recursion limit of 200 nested items ("pattern too complex") is Lua's.
 *
 * The matcher is Lua 5.4.4's lstrlib.c pattern-matching section, unchanged
 * except for the step counting (PM_STEP), lmemfind taking the state, and
 * l_unlikely/lua_assert (Lua-internal macros) dropped.
 * Copyright (C) 1994-2022 Lua.org, PUC-Rio; MIT licence (see lua.h). */

#define PM_CHECK_EVERY 16384UL

static void rt_raise_timeout(lua_State *L, lua_Debug *ar);

#define PM_STEP(ms, n)                                                                                              \
    do {                                                                                                            \
        unsigned long pm_before_ = (ms)->steps;                                                                     \
        (ms)->steps += (n);                                                                                         \
        if ((ms)->steps / PM_CHECK_EVERY != pm_before_ / PM_CHECK_EVERY) pm_check_deadline(ms);                     \
    } while (0)

struct MatchState;
static void pm_check_deadline(struct MatchState *ms);

#define uchar(c) ((unsigned char)(c))
#ifndef LUA_MAXCAPTURES
#define LUA_MAXCAPTURES 32
#endif

/* translate a relative initial string position (lstrlib.c posrelatI) */
/*
** translate a relative initial string position
** (negative means back from end): clip result to [1, inf).
** The length of any string in Lua must fit in a lua_Integer,
** so there are no overflows in the casts.
** The inverted comparison avoids a possible overflow
** computing '-pos'.
*/
static size_t posrelatI (lua_Integer pos, size_t len) {
  if (pos > 0)
    return (size_t)pos;
  else if (pos == 0)
    return 1;
  else if (pos < -(lua_Integer)len)  /* inverted comparison */
    return 1;  /* clip to 1 */
  else return len + (size_t)pos + 1;
}


#define CAP_UNFINISHED	(-1)
#define CAP_POSITION	(-2)


typedef struct MatchState {
  const char *src_init;  /* init of source string */
  const char *src_end;  /* end ('\0') of source string */
  const char *p_end;  /* end ('\0') of pattern */
  lua_State *L;
  lua_rt *rt;  /* gridgate: whose deadline bounds the match */
  unsigned long steps;  /* gridgate: work done, checked every PM_CHECK_EVERY */
  int matchdepth;  /* control for recursive depth (to avoid C stack overflow) */
  unsigned char level;  /* total number of captures (finished or unfinished) */
  struct {
    const char *init;
    ptrdiff_t len;
  } capture[LUA_MAXCAPTURES];
} MatchState;


/* recursive function */
static const char *match (MatchState *ms, const char *s, const char *p);


/* maximum recursion depth for 'match' */
#if !defined(MAXCCALLS)
#define MAXCCALLS	200
#endif


#define L_ESC		'%'
#define SPECIALS	"^$*+?.([%-"


static int check_capture (MatchState *ms, int l) {
  l -= '1';
  if ((l < 0 || l >= ms->level ||
                 ms->capture[l].len == CAP_UNFINISHED))
    return luaL_error(ms->L, "invalid capture index %%%d", l + 1);
  return l;
}


static int capture_to_close (MatchState *ms) {
  int level = ms->level;
  for (level--; level>=0; level--)
    if (ms->capture[level].len == CAP_UNFINISHED) return level;
  return luaL_error(ms->L, "invalid pattern capture");
}


static const char *classend (MatchState *ms, const char *p) {
  switch (*p++) {
    case L_ESC: {
      if (p == ms->p_end)
        luaL_error(ms->L, "malformed pattern (ends with '%%')");
      return p+1;
    }
    case '[': {
      if (*p == '^') p++;
      do {  /* look for a ']' */
        if (p == ms->p_end)
          luaL_error(ms->L, "malformed pattern (missing ']')");
        if (*(p++) == L_ESC && p < ms->p_end)
          p++;  /* skip escapes (e.g. '%]') */
      } while (*p != ']');
      return p+1;
    }
    default: {
      return p;
    }
  }
}


static int match_class (int c, int cl) {
  int res;
  switch (tolower(cl)) {
    case 'a' : res = isalpha(c); break;
    case 'c' : res = iscntrl(c); break;
    case 'd' : res = isdigit(c); break;
    case 'g' : res = isgraph(c); break;
    case 'l' : res = islower(c); break;
    case 'p' : res = ispunct(c); break;
    case 's' : res = isspace(c); break;
    case 'u' : res = isupper(c); break;
    case 'w' : res = isalnum(c); break;
    case 'x' : res = isxdigit(c); break;
    case 'z' : res = (c == 0); break;  /* deprecated option */
    default: return (cl == c);
  }
  return (islower(cl) ? res : !res);
}


static int matchbracketclass (int c, const char *p, const char *ec) {
  int sig = 1;
  if (*(p+1) == '^') {
    sig = 0;
    p++;  /* skip the '^' */
  }
  while (++p < ec) {
    if (*p == L_ESC) {
      p++;
      if (match_class(c, uchar(*p)))
        return sig;
    }
    else if ((*(p+1) == '-') && (p+2 < ec)) {
      p+=2;
      if (uchar(*(p-2)) <= c && c <= uchar(*p))
        return sig;
    }
    else if (uchar(*p) == c) return sig;
  }
  return !sig;
}


static int singlematch (MatchState *ms, const char *s, const char *p,
                        const char *ep) {
  if (s >= ms->src_end)
    return 0;
  else {
    int c = uchar(*s);
    switch (*p) {
      case '.': return 1;  /* matches any char */
      case L_ESC: return match_class(c, uchar(*(p+1)));
      case '[': return matchbracketclass(c, p, ep-1);
      default:  return (uchar(*p) == c);
    }
  }
}


static const char *matchbalance (MatchState *ms, const char *s,
                                   const char *p) {
  if ((p >= ms->p_end - 1))
    luaL_error(ms->L, "malformed pattern (missing arguments to '%%b')");
  if (*s != *p) return NULL;
  else {
    int b = *p;
    int e = *(p+1);
    int cont = 1;
    while (++s < ms->src_end) {
      PM_STEP(ms, 1);
      if (*s == e) {
        if (--cont == 0) return s+1;
      }
      else if (*s == b) cont++;
    }
  }
  return NULL;  /* string ends out of balance */
}


static const char *max_expand (MatchState *ms, const char *s,
                                 const char *p, const char *ep) {
  ptrdiff_t i = 0;  /* counts maximum expand for item */
  while (singlematch(ms, s + i, p, ep)) {
    i++;
    PM_STEP(ms, 1);
  }
  /* keeps trying to match with the maximum repetitions */
  while (i>=0) {
    const char *res = match(ms, (s+i), ep+1);
    if (res) return res;
    i--;  /* else didn't match; reduce 1 repetition to try again */
  }
  return NULL;
}


static const char *min_expand (MatchState *ms, const char *s,
                                 const char *p, const char *ep) {
  for (;;) {
    const char *res = match(ms, s, ep+1);
    if (res != NULL)
      return res;
    else if (singlematch(ms, s, p, ep))
      s++;  /* try with one more repetition */
    else return NULL;
  }
}


static const char *start_capture (MatchState *ms, const char *s,
                                    const char *p, int what) {
  const char *res;
  int level = ms->level;
  if (level >= LUA_MAXCAPTURES) luaL_error(ms->L, "too many captures");
  ms->capture[level].init = s;
  ms->capture[level].len = what;
  ms->level = level+1;
  if ((res=match(ms, s, p)) == NULL)  /* match failed? */
    ms->level--;  /* undo capture */
  return res;
}


static const char *end_capture (MatchState *ms, const char *s,
                                  const char *p) {
  int l = capture_to_close(ms);
  const char *res;
  ms->capture[l].len = s - ms->capture[l].init;  /* close capture */
  if ((res = match(ms, s, p)) == NULL)  /* match failed? */
    ms->capture[l].len = CAP_UNFINISHED;  /* undo capture */
  return res;
}


static const char *match_capture (MatchState *ms, const char *s, int l) {
  size_t len;
  l = check_capture(ms, l);
  len = ms->capture[l].len;
  if ((size_t)(ms->src_end-s) >= len &&
      memcmp(ms->capture[l].init, s, len) == 0)
    return s+len;
  else return NULL;
}


static const char *match (MatchState *ms, const char *s, const char *p) {
  if (ms->matchdepth-- == 0)
    luaL_error(ms->L, "pattern too complex");
  init: /* using goto's to optimize tail recursion */
  PM_STEP(ms, 1);
  if (p != ms->p_end) {  /* end of pattern? */
    switch (*p) {
      case '(': {  /* start capture */
        if (*(p + 1) == ')')  /* position capture? */
          s = start_capture(ms, s, p + 2, CAP_POSITION);
        else
          s = start_capture(ms, s, p + 1, CAP_UNFINISHED);
        break;
      }
      case ')': {  /* end capture */
        s = end_capture(ms, s, p + 1);
        break;
      }
      case '$': {
        if ((p + 1) != ms->p_end)  /* is the '$' the last char in pattern? */
          goto dflt;  /* no; go to default */
        s = (s == ms->src_end) ? s : NULL;  /* check end of string */
        break;
      }
      case L_ESC: {  /* escaped sequences not in the format class[*+?-]? */
        switch (*(p + 1)) {
          case 'b': {  /* balanced string? */
            s = matchbalance(ms, s, p + 2);
            if (s != NULL) {
              p += 4; goto init;  /* return match(ms, s, p + 4); */
            }  /* else fail (s == NULL) */
            break;
          }
          case 'f': {  /* frontier? */
            const char *ep; char previous;
            p += 2;
            if ((*p != '['))
              luaL_error(ms->L, "missing '[' after '%%f' in pattern");
            ep = classend(ms, p);  /* points to what is next */
            previous = (s == ms->src_init) ? '\0' : *(s - 1);
            if (!matchbracketclass(uchar(previous), p, ep - 1) &&
               matchbracketclass(uchar(*s), p, ep - 1)) {
              p = ep; goto init;  /* return match(ms, s, ep); */
            }
            s = NULL;  /* match failed */
            break;
          }
          case '0': case '1': case '2': case '3':
          case '4': case '5': case '6': case '7':
          case '8': case '9': {  /* capture results (%0-%9)? */
            s = match_capture(ms, s, uchar(*(p + 1)));
            if (s != NULL) {
              p += 2; goto init;  /* return match(ms, s, p + 2) */
            }
            break;
          }
          default: goto dflt;
        }
        break;
      }
      default: dflt: {  /* pattern class plus optional suffix */
        const char *ep = classend(ms, p);  /* points to optional suffix */
        /* does not match at least once? */
        if (!singlematch(ms, s, p, ep)) {
          if (*ep == '*' || *ep == '?' || *ep == '-') {  /* accept empty? */
            p = ep + 1; goto init;  /* return match(ms, s, ep + 1); */
          }
          else  /* '+' or no suffix */
            s = NULL;  /* fail */
        }
        else {  /* matched once */
          switch (*ep) {  /* handle optional suffix */
            case '?': {  /* optional */
              const char *res;
              if ((res = match(ms, s + 1, ep + 1)) != NULL)
                s = res;
              else {
                p = ep + 1; goto init;  /* else return match(ms, s, ep + 1); */
              }
              break;
            }
            case '+':  /* 1 or more repetitions */
              s++;  /* 1 match already done */
              /* FALLTHROUGH */
            case '*':  /* 0 or more repetitions */
              s = max_expand(ms, s, p, ep);
              break;
            case '-':  /* 0 or more repetitions (minimum) */
              s = min_expand(ms, s, p, ep);
              break;
            default:  /* no suffix */
              s++; p = ep; goto init;  /* return match(ms, s + 1, ep); */
          }
        }
        break;
      }
    }
  }
  ms->matchdepth++;
  return s;
}



static const char *lmemfind (MatchState *ms, const char *s1, size_t l1,
                               const char *s2, size_t l2) {
  if (l2 == 0) return s1;  /* empty strings are everywhere */
  else if (l2 > l1) return NULL;  /* avoids a negative 'l1' */
  else {
    const char *init;  /* to search for a '*s2' inside 's1' */
    l2--;  /* 1st char will be checked by 'memchr' */
    l1 = l1-l2;  /* 's2' cannot be found after that */
    while (l1 > 0 && (init = (const char *)memchr(s1, *s2, l1)) != NULL) {
      init++;   /* 1st char is already checked */
      PM_STEP(ms, (unsigned long)(init - s1) / 64 + l2 / 16 + 1);
      if (memcmp(init, s2+1, l2) == 0)
        return init-1;
      else {  /* correct 'l1' and 's1' to try again */
        l1 -= init-s1;
        s1 = init;
      }
    }
    return NULL;  /* not found */
  }
}


/*
** get information about the i-th capture. If there are no captures
** and 'i==0', return information about the whole match, which
** is the range 's'..'e'. If the capture is a string, return
** its length and put its address in '*cap'. If it is an integer
** (a position), push it on the stack and return CAP_POSITION.
*/
static size_t get_onecapture (MatchState *ms, int i, const char *s,
                              const char *e, const char **cap) {
  if (i >= ms->level) {
    if ((i != 0))
      luaL_error(ms->L, "invalid capture index %%%d", i + 1);
    *cap = s;
    return e - s;
  }
  else {
    ptrdiff_t capl = ms->capture[i].len;
    *cap = ms->capture[i].init;
    if (capl == CAP_UNFINISHED)
      luaL_error(ms->L, "unfinished capture");
    else if (capl == CAP_POSITION)
      lua_pushinteger(ms->L, (ms->capture[i].init - ms->src_init) + 1);
    return capl;
  }
}


/*
** Push the i-th capture on the stack.
*/
static void push_onecapture (MatchState *ms, int i, const char *s,
                                                    const char *e) {
  const char *cap;
  ptrdiff_t l = get_onecapture(ms, i, s, e, &cap);
  if (l != CAP_POSITION)
    lua_pushlstring(ms->L, cap, l);
  /* else position was already pushed */
}


static int push_captures (MatchState *ms, const char *s, const char *e) {
  int i;
  int nlevels = (ms->level == 0 && s) ? 1 : ms->level;
  luaL_checkstack(ms->L, nlevels, "too many captures");
  for (i = 0; i < nlevels; i++)
    push_onecapture(ms, i, s, e);
  return nlevels;  /* number of strings pushed */
}


/* check whether pattern has no special characters */
static int nospecials (const char *p, size_t l) {
  size_t upto = 0;
  do {
    if (strpbrk(p + upto, SPECIALS))
      return 0;  /* pattern has a special character */
    upto += strlen(p + upto) + 1;  /* may have more after \0 */
  } while (upto <= l);
  return 1;  /* no special chars found */
}


static void prepstate (MatchState *ms, lua_State *L,
                       const char *s, size_t ls, const char *p, size_t lp) {
  ms->L = L;
  ms->rt = rt_of(L);
  ms->steps = 0;
  ms->matchdepth = MAXCCALLS;
  ms->src_init = s;
  ms->src_end = s + ls;
  ms->p_end = p + lp;
}


static void reprepstate (MatchState *ms) {
  ms->level = 0;
}


static int str_find_aux (lua_State *L, int find) {
  size_t ls, lp;
  const char *s = luaL_checklstring(L, 1, &ls);
  const char *p = luaL_checklstring(L, 2, &lp);
  size_t init = posrelatI(luaL_optinteger(L, 3, 1), ls) - 1;
  if (init > ls) {  /* start after string's end? */
    luaL_pushfail(L);  /* cannot find anything */
    return 1;
  }
  /* explicit request or no special characters? */
  if (find && (lua_toboolean(L, 4) || nospecials(p, lp))) {
    /* do a plain search */
    MatchState ms;
    prepstate(&ms, L, s, ls, p, lp);
    const char *s2 = lmemfind(&ms, s + init, ls - init, p, lp);
    if (s2) {
      lua_pushinteger(L, (s2 - s) + 1);
      lua_pushinteger(L, (s2 - s) + lp);
      return 2;
    }
  }
  else {
    MatchState ms;
    const char *s1 = s + init;
    int anchor = (*p == '^');
    if (anchor) {
      p++; lp--;  /* skip anchor character */
    }
    prepstate(&ms, L, s, ls, p, lp);
    do {
      const char *res;
      reprepstate(&ms);
      if ((res=match(&ms, s1, p)) != NULL) {
        if (find) {
          lua_pushinteger(L, (s1 - s) + 1);  /* start */
          lua_pushinteger(L, res - s);   /* end */
          return push_captures(&ms, NULL, 0) + 2;
        }
        else
          return push_captures(&ms, s1, res);
      }
    } while (s1++ < ms.src_end && !anchor);
  }
  luaL_pushfail(L);  /* not found */
  return 1;
}


static int str_find (lua_State *L) {
  return str_find_aux(L, 1);
}


static int str_match (lua_State *L) {
  return str_find_aux(L, 0);
}


/* state for 'gmatch' */
typedef struct GMatchState {
  const char *src;  /* current position */
  const char *p;  /* pattern */
  const char *lastmatch;  /* end of last match */
  MatchState ms;  /* match state */
} GMatchState;


static int gmatch_aux (lua_State *L) {
  GMatchState *gm = (GMatchState *)lua_touserdata(L, lua_upvalueindex(3));
  const char *src;
  gm->ms.L = L;
  for (src = gm->src; src <= gm->ms.src_end; src++) {
    const char *e;
    reprepstate(&gm->ms);
    if ((e = match(&gm->ms, src, gm->p)) != NULL && e != gm->lastmatch) {
      gm->src = gm->lastmatch = e;
      return push_captures(&gm->ms, src, e);
    }
  }
  return 0;  /* not found */
}


static int gmatch (lua_State *L) {
  size_t ls, lp;
  const char *s = luaL_checklstring(L, 1, &ls);
  const char *p = luaL_checklstring(L, 2, &lp);
  size_t init = posrelatI(luaL_optinteger(L, 3, 1), ls) - 1;
  GMatchState *gm;
  lua_settop(L, 2);  /* keep strings on closure to avoid being collected */
  gm = (GMatchState *)lua_newuserdatauv(L, sizeof(GMatchState), 0);
  if (init > ls)  /* start after string's end? */
    init = ls + 1;  /* avoid overflows in 's + init' */
  prepstate(&gm->ms, L, s, ls, p, lp);
  gm->src = s + init; gm->p = p; gm->lastmatch = NULL;
  lua_pushcclosure(L, gmatch_aux, 3);
  return 1;
}


static void add_s (MatchState *ms, luaL_Buffer *b, const char *s,
                                                   const char *e) {
  size_t l;
  lua_State *L = ms->L;
  const char *news = lua_tolstring(L, 3, &l);
  const char *p;
  while ((p = (char *)memchr(news, L_ESC, l)) != NULL) {
    luaL_addlstring(b, news, p - news);
    p++;  /* skip ESC */
    if (*p == L_ESC)  /* '%%' */
      luaL_addchar(b, *p);
    else if (*p == '0')  /* '%0' */
        luaL_addlstring(b, s, e - s);
    else if (isdigit(uchar(*p))) {  /* '%n' */
      const char *cap;
      ptrdiff_t resl = get_onecapture(ms, *p - '1', s, e, &cap);
      if (resl == CAP_POSITION)
        luaL_addvalue(b);  /* add position to accumulated result */
      else
        luaL_addlstring(b, cap, resl);
    }
    else
      luaL_error(L, "invalid use of '%c' in replacement string", L_ESC);
    l -= p + 1 - news;
    news = p + 1;
  }
  luaL_addlstring(b, news, l);
}


/*
** Add the replacement value to the string buffer 'b'.
** Return true if the original string was changed. (Function calls and
** table indexing resulting in nil or false do not change the subject.)
*/
static int add_value (MatchState *ms, luaL_Buffer *b, const char *s,
                                      const char *e, int tr) {
  lua_State *L = ms->L;
  switch (tr) {
    case LUA_TFUNCTION: {  /* call the function */
      int n;
      lua_pushvalue(L, 3);  /* push the function */
      n = push_captures(ms, s, e);  /* all captures as arguments */
      lua_call(L, n, 1);  /* call it */
      break;
    }
    case LUA_TTABLE: {  /* index the table */
      push_onecapture(ms, 0, s, e);  /* first capture is the index */
      lua_gettable(L, 3);
      break;
    }
    default: {  /* LUA_TNUMBER or LUA_TSTRING */
      add_s(ms, b, s, e);  /* add value to the buffer */
      return 1;  /* something changed */
    }
  }
  if (!lua_toboolean(L, -1)) {  /* nil or false? */
    lua_pop(L, 1);  /* remove value */
    luaL_addlstring(b, s, e - s);  /* keep original text */
    return 0;  /* no changes */
  }
  else if ((!lua_isstring(L, -1)))
    return luaL_error(L, "invalid replacement value (a %s)",
                         luaL_typename(L, -1));
  else {
    luaL_addvalue(b);  /* add result to accumulator */
    return 1;  /* something changed */
  }
}


static int str_gsub (lua_State *L) {
  size_t srcl, lp;
  const char *src = luaL_checklstring(L, 1, &srcl);  /* subject */
  const char *p = luaL_checklstring(L, 2, &lp);  /* pattern */
  const char *lastmatch = NULL;  /* end of last match */
  int tr = lua_type(L, 3);  /* replacement type */
  lua_Integer max_s = luaL_optinteger(L, 4, srcl + 1);  /* max replacements */
  int anchor = (*p == '^');
  lua_Integer n = 0;  /* replacement count */
  int changed = 0;  /* change flag */
  MatchState ms;
  luaL_Buffer b;
  luaL_argexpected(L, tr == LUA_TNUMBER || tr == LUA_TSTRING ||
                   tr == LUA_TFUNCTION || tr == LUA_TTABLE, 3,
                      "string/function/table");
  luaL_buffinit(L, &b);
  if (anchor) {
    p++; lp--;  /* skip anchor character */
  }
  prepstate(&ms, L, src, srcl, p, lp);
  while (n < max_s) {
    const char *e;
    reprepstate(&ms);  /* (re)prepare state for new match */
    if ((e = match(&ms, src, p)) != NULL && e != lastmatch) {  /* match? */
      n++;
      changed = add_value(&ms, &b, src, e, tr) | changed;
      src = lastmatch = e;
    }
    else if (src < ms.src_end)  /* otherwise, skip one character */
      luaL_addchar(&b, *src++);
    else break;  /* end of subject */
    if (anchor) break;
  }
  if (!changed)  /* no changes? */
    lua_pushvalue(L, 1);  /* return original string */
  else {  /* something changed */
    luaL_addlstring(&b, src, ms.src_end-src);
    luaL_pushresult(&b);  /* create and return new string */
  }
  lua_pushinteger(L, n);  /* number of substitutions */
  return 2;
}

/* The running call's deadline has passed: raise the timeout. Only the
 * thread running Lua writes running and call_deadline, so reading them here
 * needs no lock. Outside lua_rt_pcall there is no deadline. */
static void pm_check_deadline(MatchState *ms) {
    lua_rt *rt = ms->rt;
    if (!rt->running) return;
    struct timespec now;
    ts_now(&now);
    if (ts_cmp(&now, &rt->call_deadline) < 0) return;
    rt_raise_timeout(ms->L, NULL);
}


/* ------------------------------------------------------------------ setup */

/* Copies t1[name] to t2[name] (both absolute indices). */
static void copy_field(lua_State *L, int from, int to, const char *name) {
    lua_getfield(L, from, name);
    lua_setfield(L, to, name);
}

static int jsonbox_gc(lua_State *L);

/* Builds STORE and VIEW. Runs protected (lua_rt_new). */
static int rt_setup(lua_State *L) {
    lua_rt *rt = rt_of(L);

    /* Set of read-only proxies, weak keys. */
    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &roset_key);

    if (luaL_newmetatable(L, RT_JSONBOX)) {
        lua_pushcfunction(L, jsonbox_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, jsonbox_gc);
        lua_setfield(L, -2, "__close");
        lua_pushliteral(L, RT_LOCKED);
        lua_setfield(L, -2, "__metatable");
    }
    lua_pop(L, 1);

    static const struct {
        const char *name;
        lua_CFunction open;
    } libs[] = {{LUA_GNAME, luaopen_base},         {LUA_TABLIBNAME, luaopen_table},
                {LUA_STRLIBNAME, luaopen_string},  {LUA_MATHLIBNAME, luaopen_math},
                {LUA_UTF8LIBNAME, luaopen_utf8},   {LUA_COLIBNAME, luaopen_coroutine}};
    for (size_t i = 0; i < sizeof libs / sizeof libs[0]; i++) {
        luaL_requiref(L, libs[i].name, libs[i].open, 1);
        lua_pop(L, 1);
    }

    lua_pushglobaltable(L);
    int g = lua_gettop(L);
    lua_newtable(L);
    int store = lua_gettop(L);

    static const char *const base_keep[] = {"assert", "error",    "ipairs",       "next",
                                            "pairs",  "pcall",    "rawequal",     "rawget", "rawlen",
                                            "select", "tonumber", "tostring",     "type",   "xpcall",
                                            "warn",   "_VERSION"};
    for (size_t i = 0; i < sizeof base_keep / sizeof base_keep[0]; i++) copy_field(L, g, store, base_keep[i]);
    lua_pushcfunction(L, sb_print);
    lua_setfield(L, store, "print");
    lua_pushcfunction(L, sb_collectgarbage);
    lua_setfield(L, store, "collectgarbage");
    lua_pushcfunction(L, sb_rawset);
    lua_setfield(L, store, "rawset");
    lua_pushcfunction(L, sb_getmetatable);
    lua_setfield(L, store, "getmetatable");
    lua_getfield(L, g, "setmetatable");
    lua_pushcclosure(L, sb_setmetatable, 1);
    lua_setfield(L, store, "setmetatable");

    /* string: no dump; the shared string metatable is locked. */
    lua_getfield(L, g, LUA_STRLIBNAME);
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    static const luaL_Reg pm_funcs[] = {
        {"find", str_find}, {"match", str_match}, {"gmatch", gmatch}, {"gsub", str_gsub}, {NULL, NULL}};
    luaL_setfuncs(L, pm_funcs, 0); /* the real table: also what s:find() reaches */
    push_ro_proxy(L, -1);
    lua_setfield(L, store, LUA_STRLIBNAME);
    lua_pop(L, 1);
    lua_pushliteral(L, "");
    if (lua_getmetatable(L, -1)) {
        lua_pushliteral(L, RT_LOCKED);
        lua_setfield(L, -2, "__metatable");
        lua_pop(L, 1);
    }
    lua_pop(L, 1);

    static const char *const plain_libs[] = {LUA_TABLIBNAME, LUA_MATHLIBNAME, LUA_UTF8LIBNAME};
    for (size_t i = 0; i < sizeof plain_libs / sizeof plain_libs[0]; i++) {
        lua_getfield(L, g, plain_libs[i]);
        push_ro_proxy(L, -1);
        lua_setfield(L, store, plain_libs[i]);
        lua_pop(L, 1);
    }

    /* coroutine: resume/wrap/close go through the runtime. */
    lua_getfield(L, g, LUA_COLIBNAME);
    int co = lua_gettop(L);
    lua_newtable(L);
    int nco = lua_gettop(L);
    static const char *const co_keep[] = {"create", "yield", "status", "running", "isyieldable"};
    for (size_t i = 0; i < sizeof co_keep / sizeof co_keep[0]; i++) copy_field(L, co, nco, co_keep[i]);
    lua_pushcfunction(L, sb_co_resume);
    lua_setfield(L, nco, "resume");
    lua_pushcfunction(L, sb_co_wrap);
    lua_setfield(L, nco, "wrap");
    lua_pushcfunction(L, sb_co_close);
    lua_setfield(L, nco, "close");
    push_ro_proxy(L, nco);
    lua_setfield(L, store, LUA_COLIBNAME);
    lua_settop(L, store);

    /* os: time, date, clock only. The full library is never reachable. */
    lua_pushcfunction(L, luaopen_os);
    lua_call(L, 0, 1);
    int os = lua_gettop(L);
    lua_createtable(L, 0, 3);
    copy_field(L, os, os + 1, "time");
    copy_field(L, os, os + 1, "date");
    copy_field(L, os, os + 1, "clock");
    push_ro_proxy(L, -1);
    lua_setfield(L, store, LUA_OSLIBNAME);
    lua_settop(L, store);

    /* The original load stays only as an upvalue of the per-file loads. */
    lua_getfield(L, g, "load");
    lua_setfield(L, LUA_REGISTRYINDEX, "gg.lua_rt.load");

    /* VIEW: read-only proxy of STORE. */
    push_ro_proxy(L, store);
    int view = lua_gettop(L);

    /* The real global table (used by C code through lua_getglobal) becomes
     * an empty table reading through VIEW as well. */
    lua_pushnil(L);
    while (lua_next(L, g)) {
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        lua_pushnil(L);
        lua_rawset(L, g);
    }
    lua_createtable(L, 0, 2);
    lua_pushvalue(L, view);
    lua_setfield(L, -2, "__index");
    lua_pushliteral(L, RT_LOCKED);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, g);

    lua_pushvalue(L, store);
    rt->store_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushvalue(L, view);
    rt->view_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

lua_rt *lua_rt_new(size_t cap_bytes, long deadline_ms, char *err, size_t errsz) {
    lua_rt *rt = calloc(1, sizeof *rt);
    if (!rt) {
        gg_set_err(err, errsz, "lua_rt_new: out of memory");
        return NULL;
    }
    rt->cap = cap_bytes ? cap_bytes : RT_DEFAULT_CAP;
    rt->deadline_ms = deadline_ms > 0 ? deadline_ms : RT_DEFAULT_DEADLINE_MS;
    rt->store_ref = rt->view_ref = LUA_NOREF;

    int rc = pthread_mutex_init(&rt->mu, NULL);
    if (rc != 0) {
        gg_set_err(err, errsz, "lua_rt_new: pthread_mutex_init: %s", strerror(rc));
        free(rt);
        return NULL;
    }
    pthread_condattr_t ca;
    rc = pthread_condattr_init(&ca);
    if (rc == 0) rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (rc == 0) {
        rc = pthread_cond_init(&rt->cv, &ca);
        pthread_condattr_destroy(&ca);
    }
    if (rc != 0) {
        gg_set_err(err, errsz, "lua_rt_new: monotonic condition variable: %s", strerror(rc));
        pthread_mutex_destroy(&rt->mu);
        free(rt);
        return NULL;
    }

    rt->L = lua_newstate(rt_alloc, rt);
    if (!rt->L) {
        char capbuf[32];
        format_cap(rt->cap, capbuf, sizeof capbuf);
        gg_set_err(err, errsz, "lua_rt_new: cannot create a Lua state within %s", capbuf);
        lua_rt_free(rt);
        return NULL;
    }
    *(lua_rt **)lua_getextraspace(rt->L) = rt;
    lua_atpanic(rt->L, rt_panic);
    lua_setwarnf(rt->L, rt_warnf, rt);

    lua_pushcfunction(rt->L, rt_setup);
    if (lua_pcall(rt->L, 0, 0, 0) != LUA_OK) {
        const char *msg = lua_tostring(rt->L, -1);
        char capbuf[32];
        format_cap(rt->cap, capbuf, sizeof capbuf);
        gg_set_err(err, errsz, "lua_rt_new: cannot set up the sandbox (memory limit %s): %s", capbuf,
                msg ? msg : "?");
        lua_rt_free(rt);
        return NULL;
    }

    rc = pthread_create(&rt->watchdog, NULL, watchdog_main, rt);
    if (rc != 0) {
        gg_set_err(err, errsz, "lua_rt_new: cannot start the watchdog thread: %s", strerror(rc));
        lua_rt_free(rt);
        return NULL;
    }
    rt->watchdog_started = 1;
    return rt;
}

void lua_rt_free(lua_rt *rt) {
    if (!rt) return;
    if (rt->watchdog_started) {
        pthread_mutex_lock(&rt->mu);
        rt->stop = 1;
        pthread_cond_signal(&rt->cv);
        pthread_mutex_unlock(&rt->mu);
        int rc = pthread_join(rt->watchdog, NULL);
        if (rc != 0) gg_error("lua", "lua_rt_free: cannot join the watchdog thread: %s", strerror(rc));
    }
    log_flush_suppressed(rt);
    if (rt->L) lua_close(rt->L);
    pthread_cond_destroy(&rt->cv);
    pthread_mutex_destroy(&rt->mu);
    free(rt);
}

int lua_rt_after_fork(lua_rt *rt, char *err, size_t errsz) {
    /* Only the forking thread exists in the child: the watchdog is gone and
     * its mutex may have been copied locked. Both are made anew. */
    pthread_condattr_t ca;
    int rc = pthread_mutex_init(&rt->mu, NULL);
    if (rc == 0) rc = pthread_condattr_init(&ca);
    if (rc == 0) {
        rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        if (rc == 0) rc = pthread_cond_init(&rt->cv, &ca);
        pthread_condattr_destroy(&ca);
    }
    rt->stop = rt->running = rt->armed = rt->wd_idle = rt->wd_timed = 0;
    rt->co_depth = 0;
    rt->watchdog_started = 0;
    if (rc == 0) rc = pthread_create(&rt->watchdog, NULL, watchdog_main, rt);
    if (rc != 0) {
        gg_set_err(err, errsz, "lua_rt_after_fork: cannot restart the watchdog: %s", strerror(rc));
        return -1;
    }
    rt->watchdog_started = 1;
    return 0;
}

lua_State *lua_rt_state(lua_rt *rt) { return rt->L; }

size_t lua_rt_mem_used(const lua_rt *rt) { return rt->used; }

void lua_rt_set_deadline(lua_rt *rt, long deadline_ms) {
    pthread_mutex_lock(&rt->mu);
    rt->deadline_ms = deadline_ms > 0 ? deadline_ms : RT_DEFAULT_DEADLINE_MS;
    pthread_mutex_unlock(&rt->mu);
}

/* ------------------------------------------------------------- registering */

/* Args: name (light userdata, a C string), value. */
static int register_protected(lua_State *L) {
    lua_rt *rt = rt_of(L);
    const char *name = lua_touserdata(L, 1);
    if (lua_type(L, 2) == LUA_TTABLE && !lua_getmetatable(L, 2)) {
        push_ro_proxy(L, 2);
        lua_replace(L, 2);
    } else {
        lua_settop(L, 2);
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->store_ref);
    lua_pushstring(L, name);
    lua_pushvalue(L, 2);
    lua_rawset(L, -3);
    return 0;
}

void lua_rt_register(lua_rt *rt, const char *name) {
    lua_State *L = rt->L;
    if (!lua_checkstack(L, 3)) {
        lua_pop(L, 1);
        gg_error("lua", "cannot register runtime global '%s': Lua stack overflow", name);
        return;
    }
    lua_pushcfunction(L, register_protected);
    lua_pushlightuserdata(L, (void *)name);
    lua_rotate(L, -3, 2); /* [value, f, name] -> [f, name, value] */
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
        gg_error("lua", "cannot register runtime global '%s': %s", name, lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    lock_registry(L);
}

/* ----------------------------------------------------------------- files */

typedef struct {
    const char *buf;
    size_t len;
    const char *path;
} load_args;

/* Compiles the file text and gives it a fresh env. Runs protected; arg 1 is
 * a load_args light userdata. Leaves the chunk. */
static int load_chunk_protected(lua_State *L) {
    lua_rt *rt = rt_of(L);
    const load_args *a = lua_touserdata(L, 1);
    lua_pushfstring(L, "@%s", a->path);
    int status = luaL_loadbufferx(L, a->buf, a->len, lua_tostring(L, -1), "t");
    if (status != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        if (msg && !has_position(msg)) {
            lua_pushfstring(L, "%s: %s", a->path, msg);
        }
        return lua_error(L);
    }
    int chunk = lua_gettop(L);

    lua_createtable(L, 0, 4); /* env */
    int env = lua_gettop(L);
    lua_createtable(L, 0, 2);
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->view_ref);
    lua_setfield(L, -2, "__index");
    lua_pushliteral(L, RT_LOCKED);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, env);
    lua_pushvalue(L, env);
    lua_setfield(L, env, LUA_GNAME);
    lua_getfield(L, LUA_REGISTRYINDEX, "gg.lua_rt.load");
    lua_pushvalue(L, env);
    lua_pushcclosure(L, sb_load, 2);
    lua_setfield(L, env, "load");

    lua_pushvalue(L, env);
    if (!lua_setupvalue(L, chunk, 1)) {
        lua_pop(L, 1);
        return luaL_error(L, "%s: compiled chunk has no _ENV upvalue", a->path);
    }
    lua_settop(L, chunk);
    return 1;
}

/* Reads a whole file into a malloc'd buffer (*out, owned by the caller). */
static int read_file(const char *path, char **out, size_t *outlen, char *err, size_t errsz) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        gg_set_err(err, errsz, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 8192, len = 0;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        gg_set_err(err, errsz, "cannot read %s: out of memory", path);
        return -1;
    }
    for (;;) {
        if (len == cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                fclose(f);
                gg_set_err(err, errsz, "cannot read %s: out of memory", path);
                return -1;
            }
            buf = nb;
            cap *= 2;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) break;
    }
    if (ferror(f)) {
        int e = errno;
        free(buf);
        fclose(f);
        gg_set_err(err, errsz, "cannot read %s: %s", path, strerror(e));
        return -1;
    }
    fclose(f);
    *out = buf;
    *outlen = len;
    return 0;
}

int lua_rt_load_file(lua_rt *rt, const char *path, char *err, size_t errsz) {
    lua_State *L = rt->L;
    char *buf = NULL;
    size_t len = 0;
    lock_registry(L);
    if (read_file(path, &buf, &len, err, errsz) != 0) return -1;
    /* The file text is held while it compiles: count it against the cap. */
    rt->mem_refused = 0;
    if (lua_rt_charge(L, len) != 0) {
        free(buf);
        char capbuf[32];
        format_cap(rt->cap, capbuf, sizeof capbuf);
        gg_set_err(err, errsz, "%s: exceeded its memory limit of %s (file of %zu bytes)", path, capbuf, len);
        return -1;
    }
    if (!lua_checkstack(L, 4)) {
        free(buf);
        lua_rt_release(L, len);
        gg_set_err(err, errsz, "%s: Lua stack overflow", path);
        return -1;
    }
    load_args a = {buf, len, path};
    lua_pushcfunction(L, load_chunk_protected);
    lua_pushlightuserdata(L, &a);
    int status = lua_pcall(L, 1, 1, 0);
    free(buf);
    lua_rt_release(L, len);
    if (status != LUA_OK) {
        if (status == LUA_ERRMEM || rt->mem_refused) {
            char capbuf[32];
            format_cap(rt->cap, capbuf, sizeof capbuf);
            gg_set_err(err, errsz, "%s: exceeded its memory limit of %s while compiling", path, capbuf);
        } else {
            const char *msg = lua_tostring(L, -1);
            gg_set_err(err, errsz, "%s", msg ? msg : "(error object is not a string)");
        }
        lua_pop(L, 1);
        return -1;
    }
    return lua_rt_pcall(rt, 0, 1, err, errsz);
}

/* ------------------------------------------------------------------- JSON */

static void push_null(lua_State *L) { lua_pushlightuserdata(L, (void *)&json_null_key); }

/* Pushes j as a Lua value; may raise (memory, depth). */
static void push_json_raw(lua_State *L, const json_t *j, int depth) {
    if (depth > RT_JSON_PUSH_MAX_DEPTH) luaL_error(L, "JSON nested deeper than %d levels", RT_JSON_PUSH_MAX_DEPTH);
    luaL_checkstack(L, 3, "JSON nested too deeply");
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        const char *key;
        size_t klen;
        json_t *v;
        size_t n = json_object_size(j);
        lua_createtable(L, 0, n > INT_MAX ? INT_MAX : (int)n);
        json_object_keylen_foreach((json_t *)j, key, klen, v) {
            lua_pushlstring(L, key, klen);
            push_json_raw(L, v, depth + 1);
            lua_rawset(L, -3);
        }
        break;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(j);
        lua_createtable(L, n > INT_MAX ? INT_MAX : (int)n, 0);
        for (size_t i = 0; i < n; i++) {
            push_json_raw(L, json_array_get(j, i), depth + 1);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        break;
    }
    case JSON_STRING:
        lua_pushlstring(L, json_string_value(j), json_string_length(j));
        break;
    case JSON_INTEGER:
        lua_pushinteger(L, (lua_Integer)json_integer_value(j));
        break;
    case JSON_REAL:
        lua_pushnumber(L, (lua_Number)json_real_value(j));
        break;
    case JSON_TRUE:
        lua_pushboolean(L, 1);
        break;
    case JSON_FALSE:
        lua_pushboolean(L, 0);
        break;
    case JSON_NULL:
    default:
        push_null(L);
        break;
    }
}

static int push_json_protected(lua_State *L) {
    const json_t *j = lua_touserdata(L, 1);
    push_json_raw(L, j, 0);
    return 1;
}

void lua_rt_push_json(lua_State *L, const json_t *j) {
    if (!j) {
        push_null(L);
        return;
    }
    if (!lua_checkstack(L, 3)) {
        gg_error("lua", "lua_rt_push_json: Lua stack overflow");
        if (lua_checkstack(L, 1)) lua_pushnil(L);
        return;
    }
    lua_pushcfunction(L, push_json_protected);
    lua_pushlightuserdata(L, (void *)j);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        gg_warn("lua", "cannot convert JSON to a Lua value: %s", lua_tostring(L, -1));
        lua_pop(L, 1);
        lua_pushnil(L);
    }
}

typedef struct {
    lua_State *L;
    char *err;
    size_t errsz;
    char path[256]; /* "$.a[3].b", truncated when long */
    size_t plen;
    const void *open[RT_JSON_MAX_DEPTH + 1]; /* tables on the current path */
    int nopen;
    int real_digits; /* significant digits the reals need to read back exactly */
    size_t charged;  /* bytes of the jansson tree counted against the cap */
} enc_ctx;

/* Estimated C memory of jansson nodes (struct, malloc overhead, payload);
 * what json.encode/decode charge against the state's memory cap. */
#define RT_JSON_NODE 64
#define RT_JSON_CONTAINER 96
#define RT_JSON_SLOT 8

/* Charges n bytes for the tree being built; -1 when over the cap. */
static int enc_charge(enc_ctx *c, size_t n) {
    if (lua_rt_charge(c->L, n) != 0) return -1;
    c->charged += n;
    return 0;
}

/* Fewest significant digits (15..17) that print d so it reads back exactly. */
static int real_digits_needed(double d) {
    char buf[40];
    for (int p = 15; p < 17; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, d);
        if (strtod(buf, NULL) == d) return p;
    }
    return 17;
}

/* Appends ".key" (key != NULL) or "[i]" to the path; *saved restores it. */
static void enc_path_push(enc_ctx *c, const char *key, size_t klen, lua_Integer i, size_t *saved) {
    *saved = c->plen;
    size_t room = sizeof c->path - c->plen;
    int n;
    if (key)
        n = snprintf(c->path + c->plen, room, ".%.*s", (int)(klen > 64 ? 64 : klen), key);
    else
        n = snprintf(c->path + c->plen, room, "[%lld]", (long long)i);
    if (n > 0) c->plen += (size_t)n < room ? (size_t)n : room - 1;
}

static void enc_path_pop(enc_ctx *c, size_t saved) {
    c->plen = saved;
    c->path[saved] = '\0';
}

static json_t *enc_value(enc_ctx *c, int idx, int depth);

static json_t *enc_fail(enc_ctx *c, json_t *partial, const char *what) {
    gg_set_err(c->err, c->errsz, "%s at %s", what, c->path);
    json_decref(partial);
    return NULL;
}

/* A table: an array when its keys are exactly 1..n (n > 0), else an object
 * with string keys (integer keys written in decimal). */
static json_t *enc_table(enc_ctx *c, int idx, int depth) {
    lua_State *L = c->L;
    if (depth >= RT_JSON_MAX_DEPTH) {
        char what[64];
        snprintf(what, sizeof what, "tables nested deeper than %d levels", RT_JSON_MAX_DEPTH);
        return enc_fail(c, NULL, what);
    }
    const void *self = lua_topointer(L, idx);
    for (int k = 0; k < c->nopen; k++)
        if (c->open[k] == self) return enc_fail(c, NULL, "table contains itself (cycle)");
    if (!lua_checkstack(L, 4)) return enc_fail(c, NULL, "Lua stack overflow");

    lua_Integer count = 0, maxkey = 0;
    int only_pos_ints = 1;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int kt = lua_type(L, -2);
        if (kt == LUA_TNUMBER && lua_isinteger(L, -2)) {
            lua_Integer k = lua_tointeger(L, -2);
            if (k < 1)
                only_pos_ints = 0;
            else if (k > maxkey)
                maxkey = k;
        } else if (kt == LUA_TSTRING) {
            only_pos_ints = 0;
        } else {
            char what[96];
            snprintf(what, sizeof what, "table key of type %s cannot be a JSON key", lua_typename(L, kt));
            lua_pop(L, 2);
            return enc_fail(c, NULL, what);
        }
        count++;
        lua_pop(L, 1);
    }

    if (enc_charge(c, RT_JSON_CONTAINER + (size_t)count * RT_JSON_SLOT) != 0)
        return enc_fail(c, NULL, "not enough memory for the JSON tree");
    c->open[c->nopen++] = self;
    json_t *out;
    if (count > 0 && only_pos_ints && maxkey == count) {
        out = json_array();
        if (!out) {
            c->nopen--;
            return enc_fail(c, NULL, "out of memory");
        }
        for (lua_Integer i = 1; i <= count; i++) {
            size_t saved;
            enc_path_push(c, NULL, 0, i - 1, &saved);
            lua_rawgeti(L, idx, i);
            json_t *v = enc_value(c, lua_gettop(L), depth + 1);
            lua_pop(L, 1);
            if (!v) {
                c->nopen--;
                json_decref(out);
                return NULL;
            }
            enc_path_pop(c, saved);
            if (json_array_append_new(out, v) != 0) {
                c->nopen--;
                return enc_fail(c, out, "out of memory");
            }
        }
    } else {
        out = json_object();
        if (!out) {
            c->nopen--;
            return enc_fail(c, NULL, "out of memory");
        }
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            char numkey[32];
            const char *key;
            size_t klen;
            if (lua_type(L, -2) == LUA_TSTRING) {
                key = lua_tolstring(L, -2, &klen);
            } else {
                snprintf(numkey, sizeof numkey, "%lld", (long long)lua_tointeger(L, -2));
                key = numkey;
                klen = strlen(numkey);
            }
            size_t saved;
            enc_path_push(c, key, klen, 0, &saved);
            if (enc_charge(c, RT_JSON_NODE + klen) != 0) {
                lua_pop(L, 2);
                c->nopen--;
                return enc_fail(c, out, "not enough memory for the JSON tree");
            }
            if (json_object_getn(out, key, klen)) {
                lua_pop(L, 2);
                c->nopen--;
                return enc_fail(c, out, "key appears both as a string and as an integer");
            }
            json_t *v = enc_value(c, lua_gettop(L), depth + 1);
            if (!v) {
                lua_pop(L, 2);
                c->nopen--;
                json_decref(out);
                return NULL;
            }
            if (json_object_setn_new(out, key, klen, v) != 0) {
                lua_pop(L, 2);
                c->nopen--;
                return enc_fail(c, out, "object key is not valid UTF-8");
            }
            enc_path_pop(c, saved);
            lua_pop(L, 1);
        }
    }
    c->nopen--;
    return out;
}

static json_t *enc_value(enc_ctx *c, int idx, int depth) {
    lua_State *L = c->L;
    json_t *j = NULL;
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        j = json_null();
        break;
    case LUA_TBOOLEAN:
        j = json_boolean(lua_toboolean(L, idx));
        break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            j = json_integer((json_int_t)lua_tointeger(L, idx));
        } else {
            lua_Number n = lua_tonumber(L, idx);
            if (!isfinite(n)) return enc_fail(c, NULL, "NaN or infinity cannot be encoded");
            j = json_real((double)n);
            int need = real_digits_needed((double)n);
            if (need > c->real_digits) c->real_digits = need;
        }
        break;
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        j = json_stringn(s, len);
        if (!j) return enc_fail(c, NULL, "string is not valid UTF-8");
        break;
    }
    case LUA_TTABLE:
        return enc_table(c, idx, depth);
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == (void *)&json_null_key) {
            j = json_null();
            break;
        }
        /* fall through */
    default: {
        char what[64];
        snprintf(what, sizeof what, "cannot encode a %s value", luaL_typename(L, idx));
        return enc_fail(c, NULL, what);
    }
    }
    if (!j) return enc_fail(c, NULL, "out of memory");
    size_t slen = json_is_string(j) ? json_string_length(j) : 0;
    if ((json_is_string(j) || json_is_number(j)) && enc_charge(c, RT_JSON_NODE + slen) != 0)
        return enc_fail(c, j, "not enough memory for the JSON tree");
    return j;
}

/* lua_rt_to_json, also telling how many digits the reals need (0: none).
 * The tree is charged against the memory cap while it is built; with
 * charged != NULL the charge is kept and its size stored there (the caller
 * releases it with the tree), else it is released on return. */
static json_t *to_json_digits(lua_State *L, int idx, char *err, size_t errsz, int *real_digits,
                              size_t *charged) {
    enc_ctx c;
    c.L = L;
    c.err = err;
    c.errsz = errsz;
    c.path[0] = '$';
    c.path[1] = '\0';
    c.plen = 1;
    c.nopen = 0;
    c.real_digits = 0;
    c.charged = 0;
    int top = lua_gettop(L);
    json_t *j = enc_value(&c, lua_absindex(L, idx), 0);
    lua_settop(L, top);
    if (real_digits) *real_digits = c.real_digits;
    if (j && charged) {
        *charged = c.charged;
    } else {
        lua_rt_release(L, c.charged);
        if (charged) *charged = 0;
    }
    return j;
}

json_t *lua_rt_to_json(lua_State *L, int idx, char *err, size_t errsz) {
    return to_json_digits(L, idx, err, errsz, NULL, NULL);
}

/* Estimated C memory of a jansson tree (same figures as the encoder). */
static size_t json_estimate(const json_t *j) {
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        size_t n = RT_JSON_CONTAINER;
        const char *key;
        size_t klen;
        json_t *v;
        json_object_keylen_foreach((json_t *)j, key, klen, v) n += RT_JSON_NODE + klen + json_estimate(v);
        return n;
    }
    case JSON_ARRAY: {
        size_t n = RT_JSON_CONTAINER + json_array_size(j) * RT_JSON_SLOT;
        for (size_t i = 0; i < json_array_size(j); i++) n += json_estimate(json_array_get(j, i));
        return n;
    }
    case JSON_STRING:
        return RT_JSON_NODE + json_string_length(j);
    case JSON_INTEGER:
    case JSON_REAL:
        return RT_JSON_NODE;
    default:
        return 0; /* true, false, null are shared singletons */
    }
}

/* The box (lua_rt_box, lua_rt.h) owning C memory while Lua code may raise;
 * __gc and __close release it. */
typedef lua_rt_box jsonbox;

static void jsonbox_clear(lua_State *L, jsonbox *b) {
    json_decref(b->j);
    b->j = NULL;
    free(b->mem);
    b->mem = NULL;
    lua_rt_release(L, b->charged);
    b->charged = 0;
}

void lua_rt_box_clear(lua_State *L, lua_rt_box *b) { jsonbox_clear(L, b); }

void lua_rt_json_error(const json_error_t *e, char *out, size_t outsz) {
    /* jansson's text ends with " near '<token>'": the token is record text
     * (a name, an id), so it is left out. */
    const char *near = strstr(e->text, " near ");
    int n = near ? (int)(near - e->text) : (int)strlen(e->text);
    snprintf(out, outsz, "%.*s at line %d column %d", n, e->text, e->line, e->column);
}

static int jsonbox_gc(lua_State *L) {
    jsonbox_clear(L, luaL_checkudata(L, 1, RT_JSONBOX));
    return 0;
}

static jsonbox *push_jsonbox(lua_State *L) {
    jsonbox *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->j = NULL;
    b->mem = NULL;
    b->charged = 0;
    luaL_setmetatable(L, RT_JSONBOX);
    lua_toclose(L, -1);
    return b;
}

lua_rt_box *lua_rt_push_box(lua_State *L) { return push_jsonbox(L); }

static int json_encode_l(lua_State *L) {
    luaL_checkany(L, 1);
    lua_settop(L, 1);
    jsonbox *box = push_jsonbox(L);
    char err[320];
    int digits = 0;
    box->j = to_json_digits(L, 1, err, sizeof err, &digits, &box->charged);
    if (!box->j) return luaL_error(L, "json.encode: %s", err);
    /* Reals are written with as few digits as read back exactly (0.1, not
     * 0.10000000000000001), the same count for the whole document. */
    size_t flags = RT_ENCODE_FLAGS | (digits ? JSON_REAL_PRECISION(digits) : 0);
    size_t need = json_dumpb(box->j, NULL, 0, flags);
    if (need == 0) return luaL_error(L, "json.encode: jansson could not serialize the value");
    luaL_Buffer b;
    char *p = luaL_buffinitsize(L, &b, need);
    size_t got = json_dumpb(box->j, p, need, flags);
    if (got != need) return luaL_error(L, "json.encode: serialized size changed (%zu, then %zu)", need, got);
    luaL_pushresultsize(&b, need);
    jsonbox_clear(L, box);
    return 1;
}

static int json_decode_l(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    lua_settop(L, 1);
    jsonbox *box = push_jsonbox(L);
    json_error_t e;
    box->j = json_loadb(s, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (!box->j) {
        char why[200];
        lua_rt_json_error(&e, why, sizeof why);
        return luaL_error(L, "json.decode: %s", why);
    }
    /* Counted after parsing (jansson allocates with plain malloc): the peak
     * while parsing is not, but it is bounded by the text, which is. */
    size_t est = json_estimate(box->j);
    if (lua_rt_charge(L, est) != 0) return lua_rt_memerror(L, "json.decode");
    box->charged = est;
    push_json_raw(L, box->j, 0);
    jsonbox_clear(L, box);
    return 1;
}

static int open_json_protected(lua_State *L) {
    lua_createtable(L, 0, 3);
    lua_pushcfunction(L, json_encode_l);
    lua_setfield(L, -2, "encode");
    lua_pushcfunction(L, json_decode_l);
    lua_setfield(L, -2, "decode");
    push_null(L);
    lua_setfield(L, -2, "null");
    return 1;
}

void lua_rt_open_json(lua_rt *rt) {
    lua_State *L = rt->L;
    if (!lua_checkstack(L, 2)) {
        gg_error("lua", "lua_rt_open_json: Lua stack overflow");
        return;
    }
    lua_pushcfunction(L, open_json_protected);
    if (lua_pcall(L, 0, 1, 0) != LUA_OK) {
        gg_error("lua", "lua_rt_open_json: %s", lua_tostring(L, -1));
        lua_pop(L, 1);
        return;
    }
    lua_rt_register(rt, "json");
}
