#include "script_values.h"

#include <lua.hpp>

#include <cmath>
#include <cstdio>

namespace gmm::storm {

std::string hex(uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
    return buf;
}

std::string lua_type_name(lua_State* L, int idx) { return lua_typename(L, lua_type(L, idx)); }

Result<uint64_t, ApiError> to_u64(lua_State* L, int idx, const std::string& what) {
    if (lua_type(L, idx) != LUA_TNUMBER)
        return bad(what + " must be an integer, got " + (lua_isnoneornil(L, idx) ? "nothing" : lua_type_name(L, idx)));
    if (lua_isinteger(L, idx)) {
        const lua_Integer v = lua_tointeger(L, idx);
        if (v < 0) return bad(what + " must not be negative, got " + std::to_string(v));
        return static_cast<uint64_t>(v);
    }
    const double d = lua_tonumber(L, idx);
    if (!std::isfinite(d) || d != std::floor(d)) return bad(what + " must be an integer, got " + std::to_string(d));
    if (d < 0) return bad(what + " must not be negative, got " + std::to_string(d));
    if (d >= 18446744073709551616.0) return bad(what + " does not fit in 64 bits");
    return static_cast<uint64_t>(d);
}

Result<std::string, ApiError> to_str(lua_State* L, int idx, const std::string& what) {
    if (lua_type(L, idx) != LUA_TSTRING)
        return bad(what + " must be a string, got " + (lua_isnoneornil(L, idx) ? "nothing" : lua_type_name(L, idx)));
    size_t len = 0;
    const char* p = lua_tolstring(L, idx, &len);
    return std::string(p, len);
}

Result<bool, ApiError> to_bool(lua_State* L, int idx, const std::string& what) {
    if (lua_type(L, idx) != LUA_TBOOLEAN) return bad(what + " must be true or false, got " + lua_type_name(L, idx));
    return lua_toboolean(L, idx) != 0;
}

Result<uint32_t, ApiError> parse_prot(const std::string& text, const std::string& what) {
    const std::string accepted = " (accepted: \"none\" or a combination of r, w, x such as \"rw\")";
    if (text == "none") return uint32_t{GMM_PROT_NONE};
    if (text.empty()) return bad(what + " is empty" + accepted);
    uint32_t prot = 0;
    for (char c : text) {
        const uint32_t bit = c == 'r' ? GMM_PROT_READ : c == 'w' ? GMM_PROT_WRITE : c == 'x' ? GMM_PROT_EXEC : 0;
        if (!bit || (prot & bit)) return bad(what + " \"" + text + "\" is not a protection" + accepted);
        prot |= bit;
    }
    return prot;
}

Result<Options, ApiError> Options::at(lua_State* L, int idx, const std::string& fn,
                                      std::initializer_list<const char*> accepted, bool array_ok) {
    if (lua_isnoneornil(L, idx)) return Options(L, 0, fn);
    if (lua_type(L, idx) != LUA_TTABLE) return bad(fn + ": options must be a table, got " + lua_type_name(L, idx));
    const int abs = lua_absindex(L, idx);
    std::string list;
    for (const char* a : accepted) list += std::string(list.empty() ? "" : ", ") + a;
    lua_pushnil(L);
    while (lua_next(L, abs) != 0) {
        lua_pop(L, 1);  // value
        if (lua_type(L, -1) == LUA_TSTRING) {
            const std::string key = lua_tostring(L, -1);
            bool known = false;
            for (const char* a : accepted) known |= key == a;
            if (!known) {
                lua_pop(L, 1);
                return bad(fn + ": unknown option '" + key + "' (accepted: " + list + ")");
            }
        } else if (!(array_ok && lua_isinteger(L, -1))) {
            const std::string type = lua_type_name(L, -1);
            lua_pop(L, 1);
            return bad(fn + ": option keys must be names, got a " + type + " key (accepted: " + list + ")");
        }
    }
    return Options(L, abs, fn);
}

int Options::push(const char* key) const {
    if (!idx_) {
        lua_pushnil(L_);
        return LUA_TNIL;
    }
    lua_pushstring(L_, key);
    return lua_rawget(L_, idx_);
}

bool Options::has(const char* key) const {
    const bool present = push(key) != LUA_TNIL;
    lua_pop(L_, 1);
    return present;
}

Result<FileRef, ApiError> Options::file(const char* key) const {
    FileRef f;
    const int type = push(key);
    if (type == LUA_TSTRING) {
        f.name = lua_tostring(L_, -1);
        lua_pop(L_, 1);
        bool chars_ok = !f.name.empty() && f.name.size() <= 31;
        for (char c : f.name)
            chars_ok &= (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                        c == '.' || c == '-';
        if (!chars_ok)
            return bad(fn_ + ": " + key + " \"" + f.name +
                       "\" is not a disk file name (accepted: 1 to 31 characters of A-Z a-z 0-9 _ . -, or an index)");
        return f;
    }
    if (type == LUA_TNUMBER) {
        auto v = to_u64(L_, -1, fn_ + ": " + key);
        lua_pop(L_, 1);
        if (!v) return Err{v.error()};
        if (*v >= GMM_STORM_MAX_FILES)
            return bad(fn_ + ": " + key + " " + std::to_string(*v) + " is not a file index (accepted: 0 to " +
                       std::to_string(GMM_STORM_MAX_FILES - 1) + ")");
        f.index = uint32_t(*v);
        return f;
    }
    const std::string tn = lua_type_name(L_, -1);
    lua_pop(L_, 1);
    return bad(fn_ + ": " + key + " must be a file name or index, got " + tn);
}

Result<uint64_t, ApiError> Options::u64(const char* key, uint64_t fallback) const {
    if (push(key) == LUA_TNIL) {
        lua_pop(L_, 1);
        return fallback;
    }
    auto v = to_u64(L_, -1, fn_ + ": " + key);
    lua_pop(L_, 1);
    return v;
}

Result<std::string, ApiError> Options::str(const char* key, const std::string& fallback) const {
    if (push(key) == LUA_TNIL) {
        lua_pop(L_, 1);
        return fallback;
    }
    auto v = to_str(L_, -1, fn_ + ": " + key);
    lua_pop(L_, 1);
    return v;
}

Result<bool, ApiError> Options::boolean(const char* key, bool fallback) const {
    if (push(key) == LUA_TNIL) {
        lua_pop(L_, 1);
        return fallback;
    }
    auto v = to_bool(L_, -1, fn_ + ": " + key);
    lua_pop(L_, 1);
    return v;
}

Result<std::string, ApiError> Options::choice(const char* key, const std::string& fallback,
                                              std::initializer_list<const char*> choices) const {
    auto v = str(key, fallback);
    if (!v) return v;
    std::string list;
    for (const char* c : choices) {
        if (*v == c) return v;
        list += std::string(list.empty() ? "" : ", ") + "\"" + c + "\"";
    }
    return bad(fn_ + ": " + key + " \"" + *v + "\" is not accepted (accepted: " + list + ")");
}

}  // namespace gmm::storm
