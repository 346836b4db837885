// The sandboxed Lua state storm scripts run in: base (without dofile,
// loadfile, load, collectgarbage, next), table, string (without dump) and
// math, with math.random drawn from the seeded generator and pairs iterating
// in sorted key order (Lua's own order depends on a per-process hash seed).
// io, os, package, debug, require, dofile, loadfile and load fail with a
// message that names the sandbox. An instruction-count hook and a counting
// allocator stop scripts that loop forever or grow without bound.
#include <lua.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "build_state.h"

namespace gmm::storm {

namespace {

constexpr int kHookEveryInstructions = 10000;

void* counting_alloc(void* ud, void* ptr, size_t osize, size_t nsize) {
    auto* s = static_cast<BuildState*>(ud);
    const size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        std::free(ptr);
        s->memory_bytes -= old;
        return nullptr;
    }
    if (s->memory_limited && nsize > old && s->memory_bytes - old + nsize > s->options.max_memory_bytes) {
        s->pending_kind = ErrorKind::Limit;
        s->fatal = true;
        return nullptr;
    }
    void* p = std::realloc(ptr, nsize);
    if (p) s->memory_bytes = s->memory_bytes - old + nsize;
    return p;
}

void count_hook(lua_State* L, lua_Debug* ar) {
    BuildState& s = build_state(L);
    s.instructions += kHookEveryInstructions;
    if (s.instructions <= s.options.max_instructions) {
        if (lua_getinfo(L, "l", ar) && ar->currentline > 0) s.last_line = uint32_t(ar->currentline);
        return;
    }
    s.pending_kind = ErrorKind::Limit;
    s.fatal = true;
    lua_getinfo(L, "Sl", ar);
    lua_pushfstring(L, "%s:%d: instruction limit exceeded (%I Lua VM instructions): does the script loop forever?",
                    s.chunk.c_str(), ar->currentline, static_cast<lua_Integer>(s.options.max_instructions));
    lua_error(L);
}

constexpr const char* kSandboxRule =
    "storm scripts run in a sandbox: only the base functions, string, table and math are available "
    "(no files, io, os, package, debug or loading code)";

// A blocked library: any use raises the sandbox message.
int blocked_library_use(lua_State* L) {
    BuildState& s = build_state(L);
    s.pending_kind = ErrorKind::Sandbox;
    s.fatal = true;
    const char* lib = lua_tostring(L, lua_upvalueindex(1));
    const char* member = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : nullptr;
    luaL_where(L, 1);
    if (member) lua_pushfstring(L, "'%s.%s' is not available: %s", lib, member, kSandboxRule);
    else lua_pushfstring(L, "'%s' is not available: %s", lib, kSandboxRule);
    lua_concat(L, 2);
    return lua_error(L);
}

int blocked_function(lua_State* L) {
    BuildState& s = build_state(L);
    s.pending_kind = ErrorKind::Sandbox;
    s.fatal = true;
    luaL_where(L, 1);
    lua_pushfstring(L, "'%s' is not available: %s", lua_tostring(L, lua_upvalueindex(1)), kSandboxRule);
    lua_concat(L, 2);
    return lua_error(L);
}

void block_library(lua_State* L, const char* name) {
    lua_newtable(L);                 // the stand-in
    lua_newtable(L);                 // its metatable
    for (const char* event : {"__index", "__newindex", "__call"}) {
        lua_pushstring(L, name);
        lua_pushcclosure(L, blocked_library_use, 1);
        lua_setfield(L, -2, event);
    }
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");  // getmetatable() cannot take it apart
    lua_setmetatable(L, -2);
    lua_setglobal(L, name);
}

void block_function(lua_State* L, const char* name) {
    lua_pushstring(L, name);
    lua_pushcclosure(L, blocked_function, 1);
    lua_setglobal(L, name);
}

// pcall and xpcall that cannot swallow a limit or a sandbox escape (otherwise
// `while true do pcall(function() while true do end end) end` never ends).
int finish_protected_call(lua_State* L, int status, int base) {
    BuildState& s = build_state(L);
    if (status != LUA_OK && s.fatal) return lua_error(L);
    if (status != LUA_OK) s.pending_kind.reset();  // caught by the script: not the compile's error
    lua_pushboolean(L, status == LUA_OK);
    lua_insert(L, base);
    return lua_gettop(L) - base + 1;
}

int safe_pcall(lua_State* L) {
    luaL_checkany(L, 1);
    const int status = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
    return finish_protected_call(L, status, 1);
}

int safe_xpcall(lua_State* L) {
    const int n = lua_gettop(L);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_pushvalue(L, 1);  // f
    lua_copy(L, 2, 1);    // handler at 1
    lua_replace(L, 2);    // f at 2
    const int status = lua_pcall(L, n - 2, LUA_MULTRET, 1);
    return finish_protected_call(L, status, 2);
}

// print: tab-separated to stdout, as Lua's own but without reaching for io.
int sandbox_print(lua_State* L) {
    const int n = lua_gettop(L);
    for (int i = 1; i <= n; ++i) {
        size_t len = 0;
        const char* text = luaL_tolstring(L, i, &len);
        if (i > 1) std::fputc('\t', stdout);
        std::fwrite(text, 1, len, stdout);
        lua_pop(L, 1);
    }
    std::fputc('\n', stdout);
    std::fflush(stdout);
    return 0;
}

// math.random with Lua 5.4's signatures, from the seeded generator.
int seeded_random(lua_State* L) {
    Rng& rng = build_state(L).rng;
    lua_Integer low, up;
    switch (lua_gettop(L)) {
    case 0:
        lua_pushnumber(L, rng.unit());
        return 1;
    case 1:
        low = 1;
        up = luaL_checkinteger(L, 1);
        if (up == 0) {  // math.random(0): a whole random integer
            lua_pushinteger(L, static_cast<lua_Integer>(rng.next()));
            return 1;
        }
        break;
    case 2:
        low = luaL_checkinteger(L, 1);
        up = luaL_checkinteger(L, 2);
        break;
    default:
        return luaL_error(L, "wrong number of arguments to 'random'");
    }
    luaL_argcheck(L, low <= up, lua_gettop(L), "interval is empty");
    const uint64_t span = static_cast<uint64_t>(up) - static_cast<uint64_t>(low);
    lua_pushinteger(L, static_cast<lua_Integer>(static_cast<uint64_t>(low) + rng.below_or_equal(span)));
    return 1;
}

int seeded_randomseed(lua_State* L) {
    BuildState& s = build_state(L);
    const uint64_t seed = lua_gettop(L) == 0 ? s.options.seed : static_cast<uint64_t>(luaL_checkinteger(L, 1));
    s.rng.reseed(seed);
    return 0;
}

// Deterministic pairs (sorted keys: booleans, numbers, strings; other key types
// are refused) and a next() that points at it. Runs before load is removed.
constexpr const char* kPrelude = R"lua(
local rawnext, sort, type, error, select = next, table.sort, type, error, select
local rank = { boolean = 1, number = 2, string = 3 }
local function before(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then
    if not rank[ta] or not rank[tb] then error("pairs: a table keyed by " .. (rank[ta] and tb or ta) ..
      " values has no deterministic order (storm scripts iterate keys in sorted order)", 0) end
    return rank[ta] < rank[tb]
  end
  if ta == "boolean" then return (not a) and b end
  if not rank[ta] then
    error("pairs: a table keyed by " .. ta .. " values has no deterministic order (storm scripts iterate keys in sorted order)", 0)
  end
  return a < b
end
function pairs(t)
  if type(t) ~= "table" then error("bad argument #1 to 'pairs' (table expected, got " .. type(t) .. ")", 2) end
  local keys, n = {}, 0
  for k in rawnext, t do n = n + 1; keys[n] = k end
  sort(keys, before)
  local i = 0
  return function()
    i = i + 1
    local k = keys[i]
    if k ~= nil then return k, t[k] end
  end, t, nil
end
function next()
  error("next() iterates in a per-process order; storm scripts use pairs(), which is sorted", 2)
end
)lua";

}  // namespace

BuildState& build_state(lua_State* L) {
    void* ud = nullptr;
    lua_getallocf(L, &ud);
    return *static_cast<BuildState*>(ud);
}

lua_State* sandbox_open(BuildState& s) {
    s.memory_limited = false;
    lua_State* L = lua_newstate(counting_alloc, &s);
    if (!L) return nullptr;
    luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
    luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
    luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
    luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1);
    lua_settop(L, 0);

    if (luaL_loadbufferx(L, kPrelude, std::strlen(kPrelude), "=stormc-prelude", "t") != LUA_OK ||
        lua_pcall(L, 0, 0, 0) != LUA_OK) {
        std::fprintf(stderr, "stormc: internal prelude failed: %s\n", lua_tostring(L, -1));
        std::abort();
    }
    lua_pushcfunction(L, sandbox_print);
    lua_setglobal(L, "print");
    lua_pushcfunction(L, safe_pcall);
    lua_setglobal(L, "pcall");
    lua_pushcfunction(L, safe_xpcall);
    lua_setglobal(L, "xpcall");
    for (const char* name : {"collectgarbage"}) {
        lua_pushnil(L);
        lua_setglobal(L, name);
    }
    for (const char* name : {"dofile", "loadfile", "load", "loadstring", "require"}) block_function(L, name);
    for (const char* name : {"io", "os", "package", "debug"}) block_library(L, name);

    lua_getglobal(L, LUA_STRLIBNAME);
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    lua_pop(L, 1);
    lua_getglobal(L, LUA_MATHLIBNAME);
    lua_pushcfunction(L, seeded_random);
    lua_setfield(L, -2, "random");
    lua_pushcfunction(L, seeded_randomseed);
    lua_setfield(L, -2, "randomseed");
    lua_pop(L, 1);
    s.rng.reseed(s.options.seed);

    lua_sethook(L, count_hook, LUA_MASKCOUNT, kHookEveryInstructions);
    s.memory_limited = true;
    return L;
}

void sandbox_close(lua_State* L) {
    if (!L) return;
    build_state(L).memory_limited = false;
    lua_close(L);
}

}  // namespace gmm::storm
