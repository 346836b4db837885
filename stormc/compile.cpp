// The driver: sandbox, script API, run the chunk, classify errors, link.
#include <lua.hpp>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "build_state.h"

namespace gmm::storm {

namespace {

std::string base_name(const std::string& path) {
    std::string b = path.substr(path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/') + 1);
    if (b.size() > 4 && b.compare(b.size() - 4, 4, ".lua") == 0) b.resize(b.size() - 4);
    return b;
}

CompileError lua_failure(lua_State* L, BuildState& s, int status) {
    if (status == LUA_ERRMEM || (s.pending_kind == ErrorKind::Limit && s.fatal && s.memory_bytes > 0 &&
                                 lua_type(L, -1) == LUA_TSTRING && !std::strcmp(lua_tostring(L, -1), "not enough memory")))
        return {ErrorKind::Limit, s.at(s.last_line) + "memory limit of " +
                                      std::to_string(s.options.max_memory_bytes >> 20) +
                                      " MiB exceeded (the script's Lua heap; the line is approximate)"};
    std::string message;
    if (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER) message = lua_tostring(L, -1);
    else message = s.at(s.last_line) + "error object is a " + std::string(luaL_typename(L, -1)) + " value";
    const ErrorKind kind = status == LUA_ERRSYNTAX ? ErrorKind::Syntax : s.pending_kind.value_or(ErrorKind::Runtime);
    return {kind, message};
}

}  // namespace

Result<Program, CompileError> compile_source(std::string_view source, const std::string& chunk_name,
                                             const CompileOptions& options) {
    BuildState s;
    s.chunk = chunk_name;
    s.options = options;
    s.storm_name = base_name(chunk_name);
    lua_State* L = sandbox_open(s);
    if (!L) return Err{CompileError{ErrorKind::Limit, chunk_name + ": cannot create a Lua state (out of memory)"}};
    install_script_api(L);
    const std::string lua_chunk = "@" + chunk_name;
    int status = luaL_loadbufferx(L, source.data(), source.size(), lua_chunk.c_str(), "t");
    if (status == LUA_OK) status = lua_pcall(L, 0, 0, 0);
    if (status != LUA_OK) {
        CompileError e = lua_failure(L, s, status);
        sandbox_close(L);
        return Err{e};
    }
    sandbox_close(L);
    return link_program(s);
}

Result<Program, CompileError> compile_file(const std::string& path, const CompileOptions& options) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Err{CompileError{ErrorKind::Io, path + ": cannot read the script: " + std::strerror(errno)}};
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) return Err{CompileError{ErrorKind::Io, path + ": read error"}};
    return compile_source(text.str(), path, options);
}

}  // namespace gmm::storm
