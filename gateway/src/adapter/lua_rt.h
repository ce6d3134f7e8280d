/* lua_rt.h - a sandboxed Lua 5.4 state for one adapter.
 *
 * The sandbox (findings.md, after Redis script_lua.c and lua_sandbox):
 *  - libraries opened one by one: base, table, string, math, utf8, coroutine;
 *    removed: dofile, loadfile, load of binary chunks, string.dump, collectgarbage
 *    options other than "count"; os is reduced to time, date, clock; no io,
 *    require/package, debug.
 *  - adapter code runs in its own _ENV whose __index is a read-only table of the
 *    runtime's functions (lua_rt_register): an adapter cannot replace them.
 *  - a memory cap enforced by the allocator (allocation fails past it);
 *  - a time limit per call: a watchdog thread arms an instruction hook only when
 *    the deadline passes, so normal runs pay nothing for it;
 *    coroutines and the __close handlers that coroutine.close and a failing
 *    coroutine.wrap run are hooked too; string.find/match/gmatch/gsub are the
 *    runtime's own (Lua's matcher counting its steps) and check the deadline
 *    every 16384 steps, so a backtracking pattern cannot outlast it;
 *  - setmetatable refuses __gc (finalizers run with hooks off); every
 *    runtime-made metatable is locked (getmetatable shows "locked");
 *  - C memory held for the state is charged against the cap (lua_rt_charge);
 *  - print/warn/lua_rt_log: one escaped line per call, rate-limited per state;
 *  - files are loaded text-only (luaL_loadbufferx mode "t"), chunk name "@<path>".
 * Errors come back as strings "<file>:<line>: <message>" in err; nothing longjmps
 * out of this module. */
#ifndef GG_LUA_RT_H
#define GG_LUA_RT_H

#include <stddef.h>

#include <jansson.h>
#include <lua.h>

typedef struct lua_rt lua_rt;

/* cap_bytes: memory cap (0 = 256 MiB); deadline_ms: per-call limit (0 = 60000). */
lua_rt *lua_rt_new(size_t cap_bytes, long deadline_ms, char *err, size_t errsz);
void lua_rt_free(lua_rt *rt);
/* In a child after fork(): restarts the watchdog thread (threads are not
 * inherited), so deadlines hold in a worker. 0, or -1 with err. */
int lua_rt_after_fork(lua_rt *rt, char *err, size_t errsz);
lua_State *lua_rt_state(lua_rt *rt);

/* Registers the value on top of the stack as a runtime global `name` visible to
 * adapters (read-only). Pops it. Call before lua_rt_load_file. */
void lua_rt_register(lua_rt *rt, const char *name);

/* Loads and runs the file in a fresh adapter environment. On success pushes
 * its first return value (or nil) and returns 0; on error pushes nothing,
 * returns -1 and fills err ("adapters/x.lua:12: ..."). */
int lua_rt_load_file(lua_rt *rt, const char *path, char *err, size_t errsz);

/* Protected call with the message handler and the deadline armed. Stack:
 * [function, args...] -> [results...] on success (returns 0); on failure the
 * function and args are popped, nothing is pushed, returns -1 with err filled.
 * Timeouts say "exceeded its time limit of N ms"; memory "exceeded its memory
 * limit of N MiB". */
int lua_rt_pcall(lua_rt *rt, int nargs, int nresults, char *err, size_t errsz);

/* Metatables. Every metatable the runtime makes is locked: getmetatable()
 * shows "locked" and setmetatable() refuses to replace it, so adapter code
 * can neither read nor change it (no __gc, __index or __newindex planted in
 * the adapter layer's own types). Metatables made with luaL_newmetatable are
 * locked automatically (registry sweep before each file load and register,
 * and on first sight by the sandbox getmetatable/setmetatable); this sets
 * __metatable = "locked" on the table at idx explicitly, e.g. for a metatable
 * made without luaL_newmetatable. [-0, +0], may raise (memory). */
void lua_rt_lock_metatable(lua_State *L, int idx);

/* C memory against the cap. The memory cap covers the Lua heap and the C
 * memory the runtime and the adapter layer hold on a state's behalf (row
 * buffers, emitted values, JSON trees, parameter arrays, file text), so that
 * an adapter cannot make C code allocate without bound. All run on the
 * thread running Lua; none raises.
 *   lua_rt_charge   counts bytes; 0, or -1 when that would pass the cap
 *                   (nothing counted; the next error is reported by
 *                   lua_rt_pcall as "exceeded its memory limit of N MiB").
 *   lua_rt_release  uncounts bytes charged before (saturates at 0).
 *   lua_rt_realloc  realloc-like with accounting: ptr NULL allocates, nsize
 *                   0 frees (returns NULL); NULL on refusal or malloc
 *                   failure, ptr then still valid and still counted as osize.
 *   lua_rt_memerror raises "<what>: not enough memory", reported as the
 *                   memory limit; free or box (to-be-closed userdata) all C
 *                   memory first, like before any lua_error.
 * Inside lua_rt.c: json.encode charges its jansson tree until it is
 * serialized, json.decode the parsed tree until converted, lua_rt_to_json
 * while building (the caller's tree is not counted after return: charge it
 * with lua_rt_charge(json_dumpb size estimate) if it is kept across Lua
 * calls), lua_rt_load_file the file text while compiling. */
int lua_rt_charge(lua_State *L, size_t bytes);
void lua_rt_release(lua_State *L, size_t bytes);
void *lua_rt_realloc(lua_State *L, void *ptr, size_t osize, size_t nsize);
int lua_rt_memerror(lua_State *L, const char *what);

/* A to-be-closed userdata owning C memory while Lua code may raise, for C
 * functions called from Lua: push it first (it may raise itself, holding
 * nothing yet), then hand it what you allocate. When the function returns or
 * raises (or the box is collected) it decrefs j, frees mem and releases
 * `charged` bytes; lua_rt_box_clear does the same at once. [-0, +1] */
typedef struct lua_rt_box {
    json_t *j;
    void *mem;
    size_t charged;
} lua_rt_box;
lua_rt_box *lua_rt_push_box(lua_State *L);
void lua_rt_box_clear(lua_State *L, lua_rt_box *b);

/* A jansson parse error as "<what> at line L column C", without the quoted
 * token jansson adds (it is record text: a name or an id). */
void lua_rt_json_error(const json_error_t *e, char *out, size_t outsz);

/* Adapter logging. print(), warn() and this write one log line per call:
 * newlines, carriage returns and other control characters (tab excepted)
 * are escaped ("\n", "\x1b"), lines are cut at 2000 bytes, and a token
 * bucket per state (100 lines at once, then 10 a second) drops the excess,
 * reported later as one line "N adapter log lines suppressed". level is a
 * gg_log_level; component as for gg_log (e.g. "source hr"). The adapter
 * layer's log.info/log.warn should call this instead of gg_log. Never raises. */
void lua_rt_log(lua_State *L, int level, const char *component, const char *msg, size_t len);

/* Heap in use: the Lua heap plus charged C memory. */
size_t lua_rt_mem_used(const lua_rt *rt);
void lua_rt_set_deadline(lua_rt *rt, long deadline_ms);

/* JSON <-> Lua. Objects become tables with string keys, arrays become sequences
 * (1-based), null becomes the light userdata json.null (lua_rt_push_null),
 * integers stay integers. [-0, +1] */
void lua_rt_push_json(lua_State *L, const json_t *j);
/* Converts the value at idx to JSON (new reference). A table with only keys
 * 1..n is an array, otherwise an object with string keys. Returns NULL with err
 * on cycles, unsupported types (functions, userdata other than null) or depth
 * over 64. [-0, +0] */
json_t *lua_rt_to_json(lua_State *L, int idx, char *err, size_t errsz);
/* Registers json.encode / json.decode / json.null as runtime global "json". */
void lua_rt_open_json(lua_rt *rt);

#endif
