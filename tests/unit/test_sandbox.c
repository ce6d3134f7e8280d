/* test_sandbox.c - unit tests for lua_rt.c, the Lua sandbox adapters run in:
 * forbidden functions fail with clear errors, the runtime table is read-only,
 * environments are isolated, the deadline stops endless loops (also inside
 * pcall and coroutines) and is disarmed afterwards, the memory cap stops a
 * bomb and leaves the state usable, errors name file and line, binary chunks
 * are refused, JSON converts both ways. Also prints (does not assert) the
 * per-call overhead of lua_rt_pcall. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <lauxlib.h>
#include <lualib.h>

#include "adapter/lua_rt.h"

/* ---- helpers ------------------------------------------------------------- */

typedef struct {
    char dir[256];
} fixture;

static int setup(void **state) {
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/gg_sandbox_XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    *state = fx;
    return 0;
}

static int teardown(void **state) {
    fixture *fx = *state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", fx->dir);
    free(fx);
    return 0;
}

/* Writes name into the fixture dir; returns the path (static per call site
 * is not enough, so the caller passes a buffer). */
static const char *write_file(fixture *fx, const char *name, const char *text, char *path, size_t pathsz) {
    snprintf(path, pathsz, "%s/%s", fx->dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
    return path;
}

static lua_rt *new_rt(size_t cap, long deadline_ms) {
    char err[512] = "";
    lua_rt *rt = lua_rt_new(cap, deadline_ms, err, sizeof err);
    if (!rt) fail_msg("lua_rt_new: %s", err);
    lua_rt_open_json(rt);
    return rt;
}

/* Loads code as file `name`; expects failure with `want` in the message and
 * "<name>:<line>:" when line > 0. Checks the stack is unchanged. */
static void expect_load_error(fixture *fx, lua_rt *rt, const char *name, const char *code, int line,
                              const char *want) {
    char path[512], err[512] = "";
    write_file(fx, name, code, path, sizeof path);
    lua_State *L = lua_rt_state(rt);
    int top = lua_gettop(L);
    int rc = lua_rt_load_file(rt, path, err, sizeof err);
    if (rc != -1) fail_msg("%s: expected an error containing \"%s\", it loaded", name, want);
    assert_int_equal(lua_gettop(L), top);
    if (!strstr(err, want)) fail_msg("%s: error \"%s\" lacks \"%s\"", name, err, want);
    if (line > 0) {
        char pos[300];
        snprintf(pos, sizeof pos, "%s:%d:", name, line);
        if (!strstr(err, pos)) fail_msg("%s: error \"%s\" lacks position \"%s\"", name, err, pos);
    }
}

/* Loads code and expects success; leaves the returned value on the stack. */
static void load_ok(fixture *fx, lua_rt *rt, const char *name, const char *code) {
    char path[512], err[512] = "";
    write_file(fx, name, code, path, sizeof path);
    if (lua_rt_load_file(rt, path, err, sizeof err) != 0) fail_msg("%s: %s", name, err);
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

/* Calls field `fn` of the table on top (left there) with no args. */
static int call_field(lua_rt *rt, const char *fn, int nres, char *err, size_t errsz) {
    lua_State *L = lua_rt_state(rt);
    lua_getfield(L, -1, fn);
    assert_int_equal(lua_type(L, -1), LUA_TFUNCTION);
    return lua_rt_pcall(rt, 0, nres, err, errsz);
}

/* ---- forbidden things ---------------------------------------------------- */

static void test_forbidden(void **state) {
    fixture *fx = *state;
    lua_rt *rt = new_rt(0, 0);
    expect_load_error(fx, rt, "io.lua", "local x = 1\nlocal f = io.open('/etc/passwd')\n", 2,
                      "attempt to index a nil value (global 'io')");
    expect_load_error(fx, rt, "exec.lua", "os.execute('touch /tmp/gg_pwned')\n", 1,
                      "attempt to call a nil value (field 'execute')");
    expect_load_error(fx, rt, "exit.lua", "os.exit(3)\n", 1, "attempt to call a nil value (field 'exit')");
    expect_load_error(fx, rt, "getenv.lua", "return os.getenv('HOME')\n", 1, "(field 'getenv')");
    expect_load_error(fx, rt, "remove.lua", "return os.remove('/tmp/x')\n", 1, "(field 'remove')");
    expect_load_error(fx, rt, "require.lua", "local m = require('os')\n", 1,
                      "attempt to call a nil value (global 'require')");
    expect_load_error(fx, rt, "package.lua", "return package.loaded\n", 1, "(global 'package')");
    expect_load_error(fx, rt, "dofile.lua", "\ndofile('/etc/passwd')\n", 2,
                      "attempt to call a nil value (global 'dofile')");
    expect_load_error(fx, rt, "loadfile.lua", "loadfile('/etc/passwd')\n", 1, "(global 'loadfile')");
    expect_load_error(fx, rt, "debug.lua", "return debug.getinfo(1)\n", 1,
                      "attempt to index a nil value (global 'debug')");
    expect_load_error(fx, rt, "dump.lua", "return string.dump(function() end)\n", 1,
                      "attempt to call a nil value (field 'dump')");
    expect_load_error(fx, rt, "dump2.lua", "return ('x').dump(print)\n", 1, "(field 'dump')");
    expect_load_error(fx, rt, "gcstop.lua", "collectgarbage('stop')\n", 1, "collectgarbage('stop') is not allowed");
    expect_load_error(fx, rt, "gcdefault.lua", "collectgarbage()\n", 1, "is not allowed");
    expect_load_error(fx, rt, "gcmeta.lua", "setmetatable({}, {__gc = function() end})\n", 1,
                      "__gc metamethods are not allowed");
    /* The string metatable is locked: its __index (the real string table)
     * cannot be reached. */
    expect_load_error(fx, rt, "strmeta.lua", "getmetatable('').__index.upper = nil\n", 1,
                      "attempt to index a nil value");
    expect_load_error(fx, rt, "envmeta.lua", "setmetatable(_ENV, nil)\n", 1, "cannot change a protected metatable");

    /* Harmless uses still work. */
    load_ok(fx, rt, "ok.lua",
            "assert(io == nil and debug == nil and package == nil and require == nil)\n"
            "assert(string.dump == nil and dofile == nil and loadfile == nil)\n"
            "assert(type(os.time()) == 'number' and type(os.clock()) == 'number')\n"
            "assert(os.date('!%Y-%m-%d', 0) == '1970-01-01')\n"
            "assert(type(collectgarbage('count')) == 'number')\n"
            "assert(getmetatable('') == 'locked' and getmetatable(_ENV) == 'locked')\n"
            "assert(_G == _ENV)\n"
            "return ('abc'):upper() .. string.format('%d', 42) .. math.tointeger(3.0)\n");
    lua_State *L = lua_rt_state(rt);
    assert_string_equal(lua_tostring(L, -1), "ABC423");
    lua_pop(L, 1);
    assert_int_equal(lua_gettop(L), 0);
    lua_rt_free(rt);
}

/* load() inside an adapter: text only, the adapter's env by default. */
static void test_load_in_adapter(void **state) {
    fixture *fx = *state;
    lua_rt *rt = new_rt(0, 0);
    load_ok(fx, rt, "load.lua",
            "x = 5\n"
            "local f = assert(load('return x * 2'))\n"
            "local g = assert(load('return y', 'chunk', 't', {y = 7}))\n"
            "local bin, msg = load('\\27Lua\\84\\0 junk', 'bin', 'b')\n"
            "assert(bin == nil)\n"
            "return f() + g(), msg\n");
    lua_State *L = lua_rt_state(rt);
    assert_int_equal(lua_tointeger(L, -1), 17);
    lua_pop(L, 1);
    /* Only the first result is kept; ask again for the message. */
    load_ok(fx, rt, "load2.lua",
            "local bin, msg = load('\\27Lua\\84\\0 junk', 'bin', 'b')\n"
            "return msg\n");
    const char *msg = lua_tostring(L, -1);
    assert_non_null(msg);
    if (!strstr(msg, "attempt to load a binary chunk")) fail_msg("load of a binary chunk: %s", msg);
    lua_pop(L, 1);
    lua_rt_free(rt);
}

static int writer(lua_State *L, const void *p, size_t sz, void *ud) {
    (void)L;
    return fwrite(p, 1, sz, (FILE *)ud) == sz ? 0 : 1;
}

/* A precompiled chunk (made with lua_dump in a normal state) is refused. */
static void test_binary_chunk_file(void **state) {
    fixture *fx = *state;
    char path[512], err[512] = "";
    snprintf(path, sizeof path, "%s/bin.lua", fx->dir);
    lua_State *plain = luaL_newstate();
    assert_non_null(plain);
    assert_int_equal(luaL_loadstring(plain, "return 42"), LUA_OK);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(lua_dump(plain, writer, f, 0), 0);
    assert_int_equal(fclose(f), 0);
    lua_close(plain);

    lua_rt *rt = new_rt(0, 0);
    lua_State *L = lua_rt_state(rt);
    assert_int_equal(lua_rt_load_file(rt, path, err, sizeof err), -1);
    assert_int_equal(lua_gettop(L), 0);
    if (!strstr(err, "attempt to load a binary chunk")) fail_msg("binary chunk: %s", err);
    if (!strstr(err, "bin.lua")) fail_msg("binary chunk error does not name the file: %s", err);
    lua_rt_free(rt);
}

static void test_missing_file(void **state) {
    fixture *fx = *state;
    char path[512], err[512] = "";
    snprintf(path, sizeof path, "%s/nope.lua", fx->dir);
    lua_rt *rt = new_rt(0, 0);
    assert_int_equal(lua_rt_load_file(rt, path, err, sizeof err), -1);
    if (!strstr(err, path) || !strstr(err, "No such file")) fail_msg("missing file: %s", err);
    /* A directory cannot be read either. */
    assert_int_equal(lua_rt_load_file(rt, fx->dir, err, sizeof err), -1);
    if (!strstr(err, fx->dir)) fail_msg("directory: %s", err);
    assert_int_equal(lua_gettop(lua_rt_state(rt)), 0);
    lua_rt_free(rt);
}

/* ---- runtime table and isolation ----------------------------------------- */

static int probe_hookmask(lua_State *L) {
    lua_pushinteger(L, lua_gethookmask(L));
    return 1;
}

static void test_runtime_readonly(void **state) {
    fixture *fx = *state;
    lua_rt *rt = new_rt(0, 0);
    lua_State *L = lua_rt_state(rt);
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, 1);
    lua_setfield(L, -2, "a");
    lua_pushstring(L, "two");
    lua_setfield(L, -2, "b");
    lua_rt_register(rt, "cfg");
    lua_pushstring(L, "v1");
    lua_rt_register(rt, "gg_version");
    assert_int_equal(lua_gettop(L), 0);

    expect_load_error(fx, rt, "m1.lua", "cfg.a = 2\n", 1, "attempt to modify runtime table");
    expect_load_error(fx, rt, "m2.lua", "cfg.new = 2\n", 1, "attempt to modify runtime table");
    expect_load_error(fx, rt, "m3.lua", "string.upper = nil\n", 1, "attempt to modify runtime table");
    expect_load_error(fx, rt, "m4.lua", "json.encode = print\n", 1, "attempt to modify runtime table");
    expect_load_error(fx, rt, "m5.lua", "rawset(string, 'upper', print)\n", 1, "attempt to modify runtime table");
    expect_load_error(fx, rt, "m6.lua", "table.insert(math, 1)\n", 1, "attempt to modify runtime table");
    expect_load_error(fx, rt, "m7.lua", "setmetatable(cfg, {})\n", 1, "cannot change a protected metatable");
    expect_load_error(fx, rt, "m8.lua", "os.execute = print\n", 1, "attempt to modify runtime table");
    /* pairs() must not hand out the table behind a proxy. */
    expect_load_error(fx, rt, "m9.lua", "local f, t = pairs(string)\nt.upper = nil\n", 2,
                      "attempt to modify runtime table");

    /* Reads, iteration and the adapter's own globals work; shadowing a
     * runtime name stays private to the file. */
    load_ok(fx, rt, "r.lua",
            "assert(cfg.a == 1 and cfg.b == 'two' and gg_version == 'v1')\n"
            "local n = 0 for k, v in pairs(cfg) do n = n + 1 end\n"
            "assert(n == 2)\n"
            "local m = 0 for k in pairs(string) do m = m + 1 end\n"
            "assert(m > 10)\n"
            "json = nil\n"
            "print = 'mine'\n"
            "secret = 'a1'\n"
            "rawset(_ENV, 'raw_secret', 1)\n"
            "return secret\n");
    assert_string_equal(lua_tostring(L, -1), "a1");
    lua_pop(L, 1);

    load_ok(fx, rt, "other.lua",
            "assert(secret == nil and raw_secret == nil, 'globals leaked between files')\n"
            "assert(type(json) == 'table' and type(json.encode) == 'function')\n"
            "assert(type(print) == 'function')\n"
            "assert(type(string.upper) == 'function')\n"
            "return true\n");
    assert_true(lua_toboolean(L, -1));
    lua_pop(L, 1);
    /* Nor to C code reading globals of the state. */
    lua_getglobal(L, "secret");
    assert_true(lua_isnil(L, -1));
    lua_pop(L, 1);

    /* Nor into another runtime. */
    lua_rt *rt2 = new_rt(0, 0);
    load_ok(fx, rt2, "third.lua", "return secret == nil and cfg == nil and gg_version == nil\n");
    assert_true(lua_toboolean(lua_rt_state(rt2), -1));
    lua_rt_free(rt2);

    /* No hook during normal execution. */
    lua_pushcfunction(L, probe_hookmask);
    lua_rt_register(rt, "probe");
    load_ok(fx, rt, "probe.lua", "local s = 0 for i = 1, 1000 do s = s + i end return probe()\n");
    assert_int_equal(lua_tointeger(L, -1), 0);
    lua_pop(L, 1);
    lua_rt_free(rt);
}

/* ---- errors name file and line -------------------------------------------- */

static void test_error_positions(void **state) {
    fixture *fx = *state;
    lua_rt *rt = new_rt(0, 0);
    expect_load_error(fx, rt, "x.lua", "local a = 1\nlocal b = 2\nerror('boom')\n", 3, "boom");
    expect_load_error(fx, rt, "lvl0.lua", "local a = 1\nerror('plain', 0)\n", 2, "plain");
    expect_load_error(fx, rt, "tbl.lua", "\n\nerror({code = 1})\n", 3, "(error object is a table value)");
    expect_load_error(fx, rt, "arith.lua", "local t = {}\nreturn t.x + 1\n", 2,
                      "attempt to perform arithmetic on a nil value (field 'x')");
    expect_load_error(fx, rt, "syntax.lua", "local a = 1\nlocal = 2\n", 2, "near");
    expect_load_error(fx, rt, "syntax2.lua", "return {\n", 2, "expected");
    expect_load_error(fx, rt, "tostr.lua",
                      "error(setmetatable({}, {__tostring = function() return 'custom' end}))\n", 1, "custom");

    /* An error in a function called later names its line. */
    load_ok(fx, rt, "later.lua",
            "local M = {}\n"
            "function M.run()\n"
            "  local n = nil\n"
            "  return n.field\n"
            "end\n"
            "return M\n");
    char err[512] = "";
    lua_State *L = lua_rt_state(rt);
    assert_int_equal(call_field(rt, "run", 0, err, sizeof err), -1);
    if (!strstr(err, "later.lua:4: attempt to index a nil value (local 'n')")) fail_msg("later: %s", err);
    assert_null(strchr(err, '\n')); /* one line, no traceback */
    assert_int_equal(lua_gettop(L), 1);
    lua_pop(L, 1);
    lua_rt_free(rt);
}

/* ---- deadline ------------------------------------------------------------- */

static void test_deadline(void **state) {
    fixture *fx = *state;
    const long limit = 200;
    lua_rt *rt = new_rt(0, limit);
    lua_State *L = lua_rt_state(rt);
    lua_pushcfunction(L, probe_hookmask);
    lua_rt_register(rt, "probe");
    load_ok(fx, rt, "loop.lua",
            "local M = {}\n"
            "function M.spin()\n"
            "  while true do end\n"
            "end\n"
            "function M.swallow()\n"
            "  while true do pcall(function() while true do end end) end\n"
            "end\n"
            "function M.co()\n"
            "  coroutine.wrap(function() while true do end end)()\n"
            "end\n"
            "function M.co_yield()\n"
            "  local co = coroutine.create(function() while true do coroutine.yield() end end)\n"
            "  while true do coroutine.resume(co) end\n"
            "end\n"
            "function M.work()\n"
            "  local s = 0 for i = 1, 1000000 do s = s + i end\n"
            "  return probe(), s\n"
            "end\n"
            "function M.quick() return 7 end\n"
            "return M\n");
    assert_int_equal(lua_gettop(L), 1);

    const char *loops[] = {"spin", "swallow", "co", "co_yield"};
    char err[512];
    for (size_t i = 0; i < sizeof loops / sizeof loops[0]; i++) {
        err[0] = '\0';
        double t0 = now_ms();
        int rc = call_field(rt, loops[i], 0, err, sizeof err);
        double dt = now_ms() - t0;
        printf("# %s: stopped after %.1f ms: %s\n", loops[i], dt, err);
        assert_int_equal(rc, -1);
        if (!strstr(err, "exceeded its time limit of 200 ms")) fail_msg("%s: %s", loops[i], err);
        if (!strstr(err, "loop.lua:")) fail_msg("%s: no position: %s", loops[i], err);
        assert_true(dt >= limit - 10); /* the call start reads a coarse clock */
        assert_true(dt <= limit + 2000); /* generous: CI machines are loaded; the point is that it stops */
        assert_int_equal(lua_gettop(L), 1);
        assert_null(lua_gethook(L));
        assert_int_equal(lua_gethookmask(L), 0);

        /* The next call is not armed: it runs to the end, no hook inside. */
        assert_int_equal(call_field(rt, "work", 2, err, sizeof err), 0);
        assert_int_equal(lua_tointeger(L, -2), 0);
        assert_int_equal(lua_tointeger(L, -1), (lua_Integer)1000000 * 1000001 / 2);
        lua_pop(L, 2);
        assert_int_equal(call_field(rt, "quick", 1, err, sizeof err), 0);
        assert_int_equal(lua_tointeger(L, -1), 7);
        lua_pop(L, 1);
    }

    /* Many calls that each stay under the limit but together exceed it. */
    double t0 = now_ms();
    int n = 0;
    while (now_ms() - t0 < 3 * limit) {
        assert_int_equal(call_field(rt, "work", 2, err, sizeof err), 0);
        lua_pop(L, 2);
        n++;
    }
    printf("# %d calls of 'work' in %.0f ms, none timed out\n", n, now_ms() - t0);

    /* A shorter deadline set later takes effect at the next call. */
    lua_rt_set_deadline(rt, 50);
    t0 = now_ms();
    assert_int_equal(call_field(rt, "spin", 0, err, sizeof err), -1);
    double dt = now_ms() - t0;
    if (!strstr(err, "exceeded its time limit of 50 ms")) fail_msg("50 ms: %s", err);
    assert_true(dt <= 50 + 2000);
    lua_pop(L, 1);
    lua_rt_free(rt);
}

/* Runs field fn of the table on top, expecting a stop within limit_ms (plus
 * slack for a loaded machine) with "want" in the message. alarm() turns a
 * hang into a test failure instead of a stuck ctest. */
static void expect_stopped(lua_rt *rt, const char *fn, long limit_ms, const char *want) {
    char err[512] = "";
    alarm(20);
    double t0 = now_ms();
    int rc = call_field(rt, fn, 0, err, sizeof err);
    double dt = now_ms() - t0;
    alarm(0);
    printf("# %s: stopped after %.1f ms: %s\n", fn, dt, err);
    if (rc != -1) fail_msg("%s: was not stopped", fn);
    if (!strstr(err, want)) fail_msg("%s: \"%s\" lacks \"%s\"", fn, err, want);
    if (dt > limit_ms + 2000) fail_msg("%s: took %.0f ms for a limit of %ld ms", fn, dt, limit_ms);
    lua_State *L = lua_rt_state(rt);
    assert_null(lua_gethook(L));
}

/* Hostile-review bypasses of the deadline: a __close handler that loops
 * while coroutine.wrap unwinds an error, or while coroutine.close closes a
 * suspended coroutine (the coroutine is not being resumed then, so it was
 * not among the threads the watchdog hooks). */
static void test_deadline_close_handlers(void **state) {
    fixture *fx = *state;
    const long limit = 150;
    lua_rt *rt = new_rt(0, limit);
    lua_State *L = lua_rt_state(rt);
    load_ok(fx, rt, "closers.lua",
            "local M = {}\n"
            "local spin = setmetatable({}, {__close = function() while true do end end})\n"
            "function M.wrap_error()\n"
            "  coroutine.wrap(function()\n"
            "    local x <close> = spin\n"
            "    error('boom')\n"
            "  end)()\n"
            "end\n"
            "function M.close_suspended()\n"
            "  local co = coroutine.create(function()\n"
            "    local x <close> = spin\n"
            "    coroutine.yield()\n"
            "  end)\n"
            "  coroutine.resume(co)\n"
            "  coroutine.close(co)\n"
            "end\n"
            "function M.close_swallowed()\n"
            "  while true do\n"
            "    local co = coroutine.create(function()\n"
            "      local x <close> = spin\n"
            "      coroutine.yield()\n"
            "    end)\n"
            "    coroutine.resume(co)\n"
            "    pcall(coroutine.close, co)\n"
            "  end\n"
            "end\n"
            "function M.close_states()\n"
            "  local co = coroutine.create(function() coroutine.yield() end)\n"
            "  assert(coroutine.close(co) == true)\n"
            "  local bad = coroutine.create(function() local x <close> = setmetatable({}, {__close = function() error('c') end}) coroutine.yield() end)\n"
            "  coroutine.resume(bad)\n"
            "  local ok, e = coroutine.close(bad)\n"
            "  assert(ok == false and tostring(e):find('c'))\n"
            "  local ok2, e2 = pcall(coroutine.close, coroutine.running())\n"
            "  assert(not ok2 and e2:find('cannot close a running coroutine'), e2)\n"
            "  return 1\n"
            "end\n"
            "return M\n");
    expect_stopped(rt, "wrap_error", limit, "exceeded its time limit of 150 ms");
    expect_stopped(rt, "close_suspended", limit, "exceeded its time limit of 150 ms");
    expect_stopped(rt, "close_swallowed", limit, "exceeded its time limit of 150 ms");
    char err[512] = "";
    if (call_field(rt, "close_states", 1, err, sizeof err) != 0) fail_msg("close_states: %s", err);
    lua_pop(L, 2);
    lua_rt_free(rt);
}

/* Stand-ins for the adapter layer's own types: a spec-like table with a
 * luaL_newmetatable metatable made before the file loads, and a userdata
 * whose metatable is made lazily during a call (like the row and connection
 * handles). */
static int mk_spec(lua_State *L) {
    lua_createtable(L, 0, 1);
    lua_pushstring(L, luaL_optstring(L, 1, "x"));
    lua_setfield(L, -2, "col");
    luaL_setmetatable(L, "test.spec");
    return 1;
}

static int mk_handle(lua_State *L) {
    lua_newuserdatauv(L, 8, 0);
    if (luaL_newmetatable(L, "test.handle")) {
        lua_pushliteral(L, "handle");
        lua_setfield(L, -2, "kind");
        lua_pushvalue(L, -1);
        lua_setfield(L, -2, "__index");
    }
    lua_setmetatable(L, -2);
    return 1;
}

/* getmetatable on runtime-made values shows "locked"; they cannot be
 * re-metatabled or given a __gc; adapter tables cannot get a __gc either. */
static void test_metatables_locked(void **state) {
    fixture *fx = *state;
    lua_rt *rt = new_rt(0, 1000);
    lua_State *L = lua_rt_state(rt);
    luaL_newmetatable(L, "test.spec");
    lua_pushliteral(L, "spec");
    lua_setfield(L, -2, "kind");
    lua_pushvalue(L, -1);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    lua_pushcfunction(L, mk_spec);
    lua_rt_register(rt, "yuan");
    lua_pushcfunction(L, mk_handle);
    lua_rt_register(rt, "handle");
    load_ok(fx, rt, "mt.lua",
            "local M = {}\n"
            "function M.spec_mt() return getmetatable(yuan 'x') end\n"
            "function M.handle_mt() return getmetatable(handle()) end\n"
            "function M.string_mt() return getmetatable('') end\n"
            "function M.strip() setmetatable(yuan 'x', nil) end\n"
            "function M.replace() setmetatable(yuan 'x', {__gc = function() while true do end end}) end\n"
            "function M.own_gc() setmetatable({}, {__gc = function() while true do end end}) end\n"
            "function M.own_ok() local t = setmetatable({}, {__index = {a = 1}}) return t.a + yuan('x').kind:len() + handle().kind:len() end\n"
            "return M\n");
    /* The metatable made before the load carries a real __metatable now. */
    luaL_getmetatable(L, "test.spec");
    assert_int_equal(lua_getfield(L, -1, "__metatable"), LUA_TSTRING);
    lua_pop(L, 2);

    const char *locked[] = {"spec_mt", "handle_mt", "string_mt"};
    char err[512];
    for (size_t i = 0; i < sizeof locked / sizeof locked[0]; i++) {
        err[0] = '\0';
        if (call_field(rt, locked[i], 1, err, sizeof err) != 0) fail_msg("%s: %s", locked[i], err);
        if (lua_type(L, -1) != LUA_TSTRING || strcmp(lua_tostring(L, -1), "locked") != 0)
            fail_msg("%s: getmetatable gave a %s", locked[i], luaL_typename(L, -1));
        lua_pop(L, 1);
    }
    /* The lazily made handle metatable got the field on first sight. */
    luaL_getmetatable(L, "test.handle");
    assert_int_equal(lua_getfield(L, -1, "__metatable"), LUA_TSTRING);
    lua_pop(L, 2);

    struct {
        const char *fn, *want;
    } refused[] = {{"strip", "cannot change a protected metatable"},
                   {"replace", "cannot change a protected metatable"},
                   {"own_gc", "__gc metamethods are not allowed in the sandbox"}};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        err[0] = '\0';
        assert_int_equal(call_field(rt, refused[i].fn, 0, err, sizeof err), -1);
        printf("# %s: %s\n", refused[i].fn, err);
        if (!strstr(err, refused[i].want)) fail_msg("%s: %s", refused[i].fn, err);
        if (!strstr(err, "mt.lua:")) fail_msg("%s: no position: %s", refused[i].fn, err);
    }
    if (call_field(rt, "own_ok", 1, err, sizeof err) != 0) fail_msg("own_ok: %s", err);
    assert_int_equal(lua_tointeger(L, -1), 1 + 4 + 6);
    lua_pop(L, 2);
    lua_rt_free(rt);
}

/* A pathological pattern runs long inside one C call, where the hook
 * cannot reach; the sandbox pattern functions check the deadline as they
 * work. They still match like Lua's own. */
static void test_pattern_deadline(void **state) {
    fixture *fx = *state;
    const long limit = 150;
    lua_rt *rt = new_rt(0, limit);
    lua_State *L = lua_rt_state(rt);
    load_ok(fx, rt, "pat.lua",
            "local M = {}\n"
            "local s = string.rep('a', 30000)\n"
            "local p = ('a*'):rep(30) .. 'b'\n"
            "function M.find() return string.find(s, p) end\n"
            "function M.method() return s:match(p) end\n"
            "function M.gmatch() for x in s:gmatch(p) do end end\n"
            "function M.gsub() return (s:gsub(p, 'x')) end\n"
            "function M.lazy() return (s .. s):find('.-.-.-b') end\n"
            "function M.plain()\n"
            "  local big = string.rep('a', 2000000)\n"
            "  local needle = string.rep('a', 1000000) .. 'b'\n"
            "  for i = 1, 1000 do big:find(needle, 1, true) end\n"
            "end\n"
            "function M.swallowed() while true do pcall(string.find, s, p) end end\n"
            "function M.same()\n"
            "  local t = {}\n"
            "  assert(('hello world'):find('o w') == 5)\n"
            "  local a, b, c = ('key = value'):find('(%w+)%s*=%s*(%w+)')\n"
            "  assert(a == 1 and b == 11 and c == 'key')\n"
            "  assert(('f(a(b)c)d'):match('%b()') == '(a(b)c)')\n"
            "  assert(('THE (quick) fox'):find('%f[%a]%a+', 5) == 6)\n"
            "  assert(('abc'):match('()b()') == 2)\n"
            "  assert(('hello'):gsub('l', {l = 'L'}) == 'heLLo')\n"
            "  assert(('abc'):gsub('%w', '%0%0') == 'aabbcc')\n"
            "  assert(('x=1, y=2'):gsub('(%w+)=(%w+)', '%2=%1') == '1=x, 2=y')\n"
            "  assert(('abc'):gsub('', '-') == '-a-b-c-')\n"
            "  for k, v in ('a=1, b=2'):gmatch('(%w+)=(%w+)') do t[#t + 1] = k .. v end\n"
            "  assert(table.concat(t, ',') == 'a1,b2')\n"
            "  local n = 0 for w in ('one two three'):gmatch('%a+', 5) do n = n + 1 end\n"
            "  assert(n == 2)\n"
            "  assert(('^x'):find('^', 1, true) == 1 and ('a.b'):find('.', 1, true) == 2)\n"
            "  assert(not pcall(string.find, 'a', '%'))\n"
            "  local ok, e = pcall(string.find, 'a', ('a?'):rep(300))\n"
            "  assert(ok or e:find('pattern too complex'), e)\n"
            "  local body = string.rep('k v\\t', 250000)\n"
            "  local out, cnt = body:gsub('%s+', '')\n"
            "  assert(#out == 500000 and cnt == 500000)\n"
            "  return 1\n"
            "end\n"
            "return M\n");
    const char *fns[] = {"find", "method", "gmatch", "gsub", "lazy", "plain", "swallowed"};
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
        expect_stopped(rt, fns[i], limit, "exceeded its time limit of 150 ms");
    lua_rt_set_deadline(rt, 10000);
    char err[512] = "";
    double t0 = now_ms();
    if (call_field(rt, "same", 1, err, sizeof err) != 0) fail_msg("same: %s", err);
    printf("# pattern behaviour checks incl. gsub over 1 MB: %.1f ms\n", now_ms() - t0);
    lua_pop(L, 2);
    lua_rt_free(rt);

    /* Cost of the counting matcher against Lua's own (printed, not asserted). */
    static const char *bench =
        "local body = string.rep('k v\\t', 250000)\n"
        "for i = 1, 5 do body:gsub('%s+', '') end\n"
        "local n = 0\n"
        "for i = 1, 200000 do if ('2024-05-06'):match('^(%d+)-(%d+)-(%d+)$') then n = n + 1 end end\n"
        "for w in body:gmatch('%a+') do n = n + 1 end\n"
        "return n\n";
    lua_State *S = luaL_newstate();
    luaL_openlibs(S);
    t0 = now_ms();
    assert_int_equal(luaL_dostring(S, bench), 0);
    double stock = now_ms() - t0;
    lua_close(S);
    rt = new_rt(0, 60000);
    L = lua_rt_state(rt);
    load_ok(fx, rt, "bench.lua", "return function(src) local f = assert(load(src)) return f() end\n");
    lua_pushstring(L, bench);
    t0 = now_ms();
    char e3[512] = "";
    if (lua_rt_pcall(rt, 1, 1, e3, sizeof e3) != 0) fail_msg("bench: %s", e3);
    double ours = now_ms() - t0;
    printf("# pattern workload: Lua's string library %.1f ms, sandbox %.1f ms\n", stock, ours);
    lua_pop(L, 1);
    lua_rt_free(rt);
}

/* C memory held for the state counts against its cap: the charge API, and
 * the jansson trees of json.encode/decode. */
static void test_c_memory_charged(void **state) {
    fixture *fx = *state;
    const size_t cap = 16u << 20;
    lua_rt *rt = new_rt(cap, 5000);
    lua_State *L = lua_rt_state(rt);
    size_t base = lua_rt_mem_used(rt);
    assert_int_equal(lua_rt_charge(L, cap), -1);
    assert_int_equal(lua_rt_mem_used(rt), base);
    assert_int_equal(lua_rt_charge(L, 1000), 0);
    assert_int_equal(lua_rt_mem_used(rt), base + 1000);
    lua_rt_release(L, 1000);
    assert_int_equal(lua_rt_mem_used(rt), base);
    char *p = lua_rt_realloc(L, NULL, 0, 4096);
    assert_non_null(p);
    assert_int_equal(lua_rt_mem_used(rt), base + 4096);
    assert_null(lua_rt_realloc(L, p, 4096, cap)); /* refused, p still valid */
    p = lua_rt_realloc(L, p, 4096, 100);
    assert_non_null(p);
    assert_int_equal(lua_rt_mem_used(rt), base + 100);
    assert_null(lua_rt_realloc(L, p, 100, 0));
    assert_int_equal(lua_rt_mem_used(rt), base);

    load_ok(fx, rt, "cmem.lua",
            "local M = {}\n"
            "local t = {}\n"
            "for i = 1, 100000 do t[i] = string.format('%040d', i) end\n"
            "local text = '[' .. ('1,'):rep(300000) .. '1]'\n"
            "function M.encode() return #json.encode(t) end\n"
            "function M.decode() return #json.decode(text) end\n"
            "function M.small() return json.encode({a = {1, 2, 'x'}}) .. #json.decode('[1,2,3]') end\n"
            "return M\n");
    const char *fns[] = {"encode", "decode"};
    char err[512];
    for (size_t i = 0; i < 2; i++) {
        err[0] = '\0';
        assert_int_equal(call_field(rt, fns[i], 1, err, sizeof err), -1);
        printf("# %s: %s\n", fns[i], err);
        if (!strstr(err, "exceeded its memory limit of 16 MiB")) fail_msg("%s: %s", fns[i], err);
    }
    size_t after = lua_rt_mem_used(rt);
    assert_int_equal(call_field(rt, "small", 1, err, sizeof err), 0);
    assert_string_equal(lua_tostring(L, -1), "{\"a\":[1,2,\"x\"]}3");
    lua_pop(L, 1);
    /* Nothing stays charged: the heap is back near where it was. */
    lua_gc(L, LUA_GCCOLLECT, 0);
    printf("# used: %zu after the refusals, %zu now (cap %zu)\n", after, lua_rt_mem_used(rt), cap);
    assert_true(lua_rt_mem_used(rt) <= after + 4096);
    lua_pop(L, 1);
    lua_rt_free(rt);
}

/* An endless main chunk is stopped too, and lua_rt_free joins the watchdog
 * promptly even right after creation. */
static void test_deadline_in_file_and_free(void **state) {
    fixture *fx = *state;
    lua_rt *rt = new_rt(0, 100);
    expect_load_error(fx, rt, "main_loop.lua", "local x = 0\nwhile true do x = x + 1 end\n", 2,
                      "exceeded its time limit of 100 ms");
    lua_rt_free(rt);
    double t0 = now_ms();
    for (int i = 0; i < 50; i++) lua_rt_free(new_rt(0, 0));
    printf("# 50 lua_rt_new/free: %.1f ms\n", now_ms() - t0);
}

/* ---- memory ---------------------------------------------------------------- */

static void test_memory_cap(void **state) {
    fixture *fx = *state;
    const size_t cap = 32u * 1024 * 1024;
    lua_rt *rt = new_rt(cap, 10000);
    lua_State *L = lua_rt_state(rt);
    load_ok(fx, rt, "bomb.lua",
            "local M = {}\n"
            "function M.concat()\n"
            "  local s = 'x'\n"
            "  while true do s = s .. s end\n"
            "end\n"
            "function M.tables()\n"
            "  local t = {}\n"
            "  for i = 1, 1e9 do t[i] = {i} end\n"
            "end\n"
            "function M.rep() return string.rep('x', 1 << 30) end\n"
            "function M.caught()\n"
            "  local ok, e = pcall(M.concat)\n"
            "  return ok, e\n"
            "end\n"
            "function M.small() return #string.rep('y', 1 << 20) end\n"
            "return M\n");
    size_t base = lua_rt_mem_used(rt);
    assert_true(base > 0 && base < cap);
    char err[512];
    const char *bombs[] = {"concat", "tables", "rep"};
    for (size_t i = 0; i < sizeof bombs / sizeof bombs[0]; i++) {
        err[0] = '\0';
        assert_int_equal(call_field(rt, bombs[i], 0, err, sizeof err), -1);
        printf("# %s: %s\n", bombs[i], err);
        if (!strstr(err, "exceeded its memory limit of 32 MiB")) fail_msg("%s: %s", bombs[i], err);
        if (!strstr(err, "bomb.lua")) fail_msg("%s: no file: %s", bombs[i], err);
        assert_true(lua_rt_mem_used(rt) <= cap);
        assert_true(lua_rt_mem_used(rt) < base + cap / 4); /* garbage was collected */
        assert_int_equal(call_field(rt, "small", 1, err, sizeof err), 0);
        assert_int_equal(lua_tointeger(L, -1), 1 << 20);
        lua_pop(L, 1);
        assert_int_equal(lua_gettop(L), 1);
    }
    /* Caught inside the adapter: the adapter sees the error and goes on. */
    assert_int_equal(call_field(rt, "caught", 2, err, sizeof err), 0);
    assert_false(lua_toboolean(L, -2));
    assert_non_null(strstr(lua_tostring(L, -1), "not enough memory"));
    lua_pop(L, 2);
    lua_pop(L, 1);
    lua_rt_free(rt);

    /* A cap too small for the sandbox itself is reported, not crashed on. */
    err[0] = '\0';
    lua_rt *tiny = lua_rt_new(4096, 0, err, sizeof err);
    assert_null(tiny);
    if (!strstr(err, "MiB")) fail_msg("tiny cap: %s", err);
}

/* ---- print ------------------------------------------------------------------ */

static void test_print_logs(void **state) {
    fixture *fx = *state;
    char logpath[512];
    snprintf(logpath, sizeof logpath, "%s/stderr.log", fx->dir);
    fflush(stderr);
    int saved = dup(2);
    assert_true(saved >= 0);
    FILE *lf = fopen(logpath, "w");
    assert_non_null(lf);
    assert_true(dup2(fileno(lf), 2) >= 0);
    lua_rt *rt = new_rt(0, 0);
    load_ok(fx, rt, "print.lua", "print('hello', 42, nil, true) return 1\n");
    lua_rt_free(rt);
    fflush(stderr);
    assert_true(dup2(saved, 2) >= 0);
    close(saved);
    fclose(lf);
    char buf[4096] = "";
    FILE *rf = fopen(logpath, "r");
    assert_non_null(rf);
    size_t n = fread(buf, 1, sizeof buf - 1, rf);
    buf[n] = '\0';
    fclose(rf);
    if (!strstr(buf, "[info] lua: hello\t42\tnil\ttrue")) fail_msg("print went to: \"%s\"", buf);
}

/* print/warn cannot forge log lines (control characters escaped) nor flood
 * the log (token bucket, one "suppressed" line). */
static void test_log_hardening(void **state) {
    fixture *fx = *state;
    char logpath[512];
    snprintf(logpath, sizeof logpath, "%s/stderr2.log", fx->dir);
    fflush(stderr);
    int saved = dup(2);
    assert_true(saved >= 0);
    FILE *lf = fopen(logpath, "w");
    assert_non_null(lf);
    assert_true(dup2(fileno(lf), 2) >= 0);
    lua_rt *rt = new_rt(0, 0);
    load_ok(fx, rt, "logs.lua",
            "print('ok\\n[error] source hr: forged\\r\\27[2J')\n"
            "warn('w1\\nw2')\n"
            "for i = 1, 1000 do print('flood ' .. i) end\n"
            "return 1\n");
    lua_State *L = lua_rt_state(rt);
    lua_pop(L, 1);
    lua_rt_log(L, 2, "source hr", "adapter: x\ny", 12);
    lua_rt_free(rt);
    fflush(stderr);
    assert_true(dup2(saved, 2) >= 0);
    close(saved);
    fclose(lf);
    FILE *rf = fopen(logpath, "r");
    assert_non_null(rf);
    char line[4096];
    int flood = 0, forged = 0, escaped = 0, warned = 0, suppressed = 0;
    while (fgets(line, sizeof line, rf)) {
        if (strncmp(line, "[error] source hr: forged", 25) == 0 || strstr(line, "\033")) forged++;
        if (strstr(line, "lua: ok\\n[error] source hr: forged\\r\\x1b[2J")) escaped++;
        if (strstr(line, "w1\\nw2")) warned++;
        if (strstr(line, "lua: flood ")) flood++;
        if (strstr(line, "adapter log lines suppressed")) {
            suppressed++;
            printf("# %s", line);
        }
    }
    fclose(rf);
    printf("# flood: %d of 1000 lines written\n", flood);
    assert_int_equal(forged, 0);
    assert_int_equal(escaped, 1);
    assert_int_equal(warned, 1);
    assert_true(flood >= 90 && flood <= 110);
    assert_int_equal(suppressed, 1);
}

/* ---- JSON ---------------------------------------------------------------- */

static void test_json_roundtrip_c(void **state) {
    (void)state;
    const char *text = "{\"a\":[1,2.5,\"\xe4\xb8\xad\xe6\x96\x87\",null,true,false,{\"b\":{}}],"
                       "\"n\":-9007199254740993,\"f\":3.0,\"s\":\"x\\u0000y\",\"e\":[]}";
    json_error_t je;
    json_t *in = json_loads(text, JSON_ALLOW_NUL, &je);
    assert_non_null(in);
    lua_rt *rt = new_rt(0, 0);
    lua_State *L = lua_rt_state(rt);
    lua_rt_push_json(L, in);
    assert_int_equal(lua_gettop(L), 1);
    assert_int_equal(lua_type(L, 1), LUA_TTABLE);
    lua_getfield(L, 1, "n");
    assert_true(lua_isinteger(L, -1));
    assert_true(lua_tointeger(L, -1) == INT64_C(-9007199254740993));
    lua_pop(L, 1);
    lua_getfield(L, 1, "f");
    assert_false(lua_isinteger(L, -1));
    assert_true(lua_tonumber(L, -1) == 3.0);
    lua_pop(L, 1);
    lua_getfield(L, 1, "s");
    size_t len;
    lua_tolstring(L, -1, &len);
    assert_int_equal(len, 3);
    lua_pop(L, 1);

    char err[256] = "";
    json_t *out = lua_rt_to_json(L, 1, err, sizeof err);
    if (!out) fail_msg("to_json: %s", err);
    assert_int_equal(lua_gettop(L), 1);
    /* The empty array comes back as {}: an empty table is an object. */
    json_t *e = json_object_get(out, "e");
    assert_true(json_is_object(e));
    json_object_set_new(out, "e", json_array());
    if (!json_equal(in, out)) {
        char *a = json_dumps(in, JSON_SORT_KEYS), *b = json_dumps(out, JSON_SORT_KEYS);
        fail_msg("round trip differs:\n%s\n%s", a, b);
    }
    assert_true(json_is_integer(json_object_get(out, "n")));
    assert_true(json_is_real(json_object_get(out, "f")));
    json_decref(in);
    json_decref(out);
    lua_pop(L, 1);
    lua_rt_free(rt);
}

static void test_json_in_lua(void **state) {
    fixture *fx = *state;
    lua_rt *rt = new_rt(0, 0);
    lua_State *L = lua_rt_state(rt);
    load_ok(fx, rt, "json1.lua",
            "local t = json.decode('{\"a\":[1,2.5,\"\xe4\xb8\xad\xe6\x96\x87\",null,{\"b\":[]}],\"n\":12,\"f\":1.0}')\n"
            "assert(math.type(t.n) == 'integer' and math.type(t.f) == 'float')\n"
            "assert(#t.a == 5 and t.a[4] == json.null and utf8.len(t.a[3]) == 2)\n"
            "assert(math.type(t.a[1]) == 'integer' and t.a[2] == 2.5)\n"
            "local s = json.encode(t)\n"
            "local u = json.decode(s)\n"
            "assert(json.encode(u) == s)\n"
            "assert(json.encode({}) == '{}')\n"
            "assert(json.encode({1, 2, 3}) == '[1,2,3]')\n"
            "assert(json.encode({[1] = 'a', [3] = 'c'}) == '{\"1\":\"a\",\"3\":\"c\"}')\n"
            "assert(json.encode({x = json.null, y = false}) == '{\"x\":null,\"y\":false}')\n"
            "assert(json.encode(5) == '5' and json.encode(0.5) == '0.5' and json.encode('q') == '\"q\"')\n"
            "assert(json.decode('7') == 7 and math.type(json.decode('7')) == 'integer')\n"
            "assert(json.encode({0.1, 2.5e-7}) == '[0.1,2.5e-7]', json.encode({0.1, 2.5e-7}))\n"
            "for _, x in ipairs({0.1, 1/3, 2^53 + 0.0, 1e300, -123.456, 5e-324}) do\n"
            "  local y = json.decode(json.encode(x))\n"
            "  assert(y == x and math.type(y) == 'float', json.encode(x))\n"
            "end\n"
            "return s\n");
    const char *s = lua_tostring(L, -1);
    assert_non_null(s);
    assert_string_equal(s, "{\"a\":[1,2.5,\"\xe4\xb8\xad\xe6\x96\x87\",null,{\"b\":{}}],\"f\":1.0,\"n\":12}");
    lua_pop(L, 1);

    expect_load_error(fx, rt, "jdec.lua", "local x = 1\nreturn json.decode('{\"a\": }')\n", 2, "json.decode:");
    expect_load_error(fx, rt, "jdec2.lua", "return json.decode('[1,\\n2,\\n]')\n", 1, "at line 3 column");
    expect_load_error(fx, rt, "jfun.lua", "return json.encode({f = print})\n", 1, "cannot encode a function value at $.f");
    expect_load_error(fx, rt, "jcyc.lua", "local t = {}\nt.self = t\nreturn json.encode(t)\n", 3, "cycle");
    expect_load_error(fx, rt, "jkey.lua", "return json.encode({[1.5] = 1})\n", 1, "table key of type number");
    expect_load_error(fx, rt, "jbool.lua", "return json.encode({[true] = 1})\n", 1, "table key of type boolean");
    expect_load_error(fx, rt, "jnan.lua", "return json.encode({0/0})\n", 1, "NaN");
    expect_load_error(fx, rt, "jutf.lua", "return json.encode({s = '\\xff'})\n", 1, "not valid UTF-8 at $.s");
    expect_load_error(fx, rt, "jdup.lua", "return json.encode({[1] = 1, ['1'] = 2, x = 3})\n", 1,
                      "both as a string and as an integer");
    /* Depth: 64 nested tables encode, 65 do not. */
    load_ok(fx, rt, "jdeep.lua",
            "local function nest(n) local t = {} local c = t for i = 2, n do c[1] = {} c = c[1] end return t end\n"
            "local ok64 = pcall(json.encode, nest(64))\n"
            "local ok65, e = pcall(json.encode, nest(65))\n"
            "assert(ok64, 'depth 64 must encode')\n"
            "assert(not ok65 and e:find('deeper than 64'), e)\n"
            "local shared = {1}\n"
            "return json.encode({shared, shared})\n");
    assert_string_equal(lua_tostring(L, -1), "[[1],[1]]");
    lua_pop(L, 1);

    /* From C: errors leave the stack alone. */
    char err[256] = "";
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, -2, "loop");
    assert_null(lua_rt_to_json(L, -1, err, sizeof err));
    if (!strstr(err, "cycle") || !strstr(err, "$.loop")) fail_msg("cycle: %s", err);
    assert_int_equal(lua_gettop(L), 1);
    lua_pop(L, 1);
    lua_pushcfunction(L, probe_hookmask);
    assert_null(lua_rt_to_json(L, -1, err, sizeof err));
    assert_non_null(strstr(err, "cannot encode a function"));
    lua_pop(L, 1);
    lua_rt_free(rt);
}

/* ---- overhead ------------------------------------------------------------ */

static void test_call_overhead(void **state) {
    (void)state;
    lua_rt *rt = new_rt(0, 0);
    lua_State *L = lua_rt_state(rt);
    assert_int_equal(luaL_loadstring(L, "return function() end"), LUA_OK);
    assert_int_equal(lua_pcall(L, 0, 1, 0), LUA_OK);
    int ref = luaL_ref(L, LUA_REGISTRYINDEX);
    const int n = 1000000;
    char err[256];

    double t0 = now_ms();
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
        if (lua_rt_pcall(rt, 0, 0, err, sizeof err) != 0) fail_msg("call %d: %s", i, err);
    }
    double rt_ns = (now_ms() - t0) * 1e6 / n;

    t0 = now_ms();
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
        if (lua_pcall(L, 0, 0, 0) != LUA_OK) fail_msg("plain call %d", i);
    }
    double plain_ns = (now_ms() - t0) * 1e6 / n;
    printf("# lua_rt_pcall of an empty function: %.0f ns/call over %d calls (plain lua_pcall: %.0f ns)\n", rt_ns, n,
           plain_ns);
    assert_int_equal(lua_gettop(L), 0);
    lua_rt_free(rt);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_forbidden, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_in_adapter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_binary_chunk_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_runtime_readonly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_positions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deadline_in_file_and_free, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deadline_close_handlers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metatables_locked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pattern_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_c_memory_charged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memory_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_print_logs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_hardening, setup, teardown),
        cmocka_unit_test(test_json_roundtrip_c),
        cmocka_unit_test_setup_teardown(test_json_in_lua, setup, teardown),
        cmocka_unit_test(test_call_overhead),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
