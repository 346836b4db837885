// Reading script values for the storm API without raising Lua errors (the
// API functions report through ApiResult, so no C++ object is skipped by
// Lua's longjmp). Tables are read raw: metamethods in the script's option
// tables are never called.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>

#include "build_state.h"

struct lua_State;

namespace gmm::storm {

struct ApiError {
    ErrorKind kind;
    std::string message;  // without FILE:LINE (the wrapper adds the calling line)
};
using ApiResult = Result<int, ApiError>;  // number of values pushed

inline Err<ApiError> bad(std::string message) { return Err{ApiError{ErrorKind::InvalidArgument, std::move(message)}}; }

std::string hex(uint64_t v);
std::string lua_type_name(lua_State* L, int idx);

// A nonnegative integer (an integral float such as 2^20 is accepted).
Result<uint64_t, ApiError> to_u64(lua_State* L, int idx, const std::string& what);
Result<std::string, ApiError> to_str(lua_State* L, int idx, const std::string& what);
Result<bool, ApiError> to_bool(lua_State* L, int idx, const std::string& what);

// "none" or a combination of r, w, x (each at most once): GMM_PROT_* bits.
Result<uint32_t, ApiError> parse_prot(const std::string& text, const std::string& what);

// An options table at `idx` (absent or nil: empty). Every string key must be
// one of `accepted`; integer keys (an array part) only when `array_ok`.
class Options {
public:
    static Result<Options, ApiError> at(lua_State* L, int idx, const std::string& fn,
                                        std::initializer_list<const char*> accepted, bool array_ok = false);
    bool has(const char* key) const;
    // A disk file: a name (1..31 of [A-Za-z0-9_.-]) or an index (< GMM_STORM_MAX_FILES).
    Result<FileRef, ApiError> file(const char* key) const;
    Result<uint64_t, ApiError> u64(const char* key, uint64_t fallback) const;
    Result<std::string, ApiError> str(const char* key, const std::string& fallback) const;
    Result<bool, ApiError> boolean(const char* key, bool fallback) const;
    // One of `choices`; the error lists them.
    Result<std::string, ApiError> choice(const char* key, const std::string& fallback,
                                         std::initializer_list<const char*> choices) const;
    int index() const { return idx_; }

private:
    Options(lua_State* L, int idx, std::string fn) : L_(L), idx_(idx), fn_(std::move(fn)) {}
    int push(const char* key) const;  // pushes the raw value (nil if absent), returns its type
    lua_State* L_;
    int idx_;  // 0: no table
    std::string fn_;
};

}  // namespace gmm::storm
