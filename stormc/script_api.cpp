// The functions a storm script calls: storm, param, region, thread and the
// operation constructors (map, unmap, protect, touch, expect_segv, barrier,
// loop, sleep, spawn, join). Arguments are checked here, so a bad one is
// reported at the line that wrote it. docs/storms.md is the reference.
#include <lua.hpp>

#include <cerrno>
#include <cstdint>
#include <cstdlib>

#include "script_values.h"

namespace gmm::storm {

namespace {

constexpr const char* kOpMeta = "gmm.storm.op";
constexpr const char* kRegionMeta = "gmm.storm.region";
constexpr int kMaxNesting = 16;
constexpr uint64_t kMaxLoopCount = 1ull << 40;
constexpr size_t kMaxOpValues = 1u << 20;  // op values a script may create (the host's memory, not the guest's)

struct OpUd {
    uint32_t node;
};
struct RegionUd {
    uint32_t region;
};

uint32_t caller_line(lua_State* L) {
    lua_Debug ar;
    if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "l", &ar) && ar.currentline > 0) return uint32_t(ar.currentline);
    return 0;
}

// Runs an API function; its error (if any) becomes a Lua error "FILE:LINE: message"
// raised only after every C++ object of the call is gone.
template <ApiResult (*Fn)(lua_State*, BuildState&)>
int api(lua_State* L) {
    BuildState& s = build_state(L);
    bool failed = false;
    int pushed = 0;
    s.memory_limited = false;
    {
        ApiResult r = s.nodes.size() < kMaxOpValues
                          ? Fn(L, s)
                          : ApiResult(Err{ApiError{ErrorKind::Limit, "the script created more than " +
                                                                         std::to_string(kMaxOpValues) + " op values"}});
        if (r) {
            pushed = *r;
        } else {
            failed = true;
            s.pending_kind = r.error().kind;
            const std::string text = s.at(caller_line(L)) + r.error().message;
            lua_pushlstring(L, text.data(), text.size());
        }
    }
    s.memory_limited = true;
    if (failed) return lua_error(L);
    return pushed;
}

const RegionDecl* region_arg(lua_State* L, BuildState& s, int idx) {
    auto* ud = static_cast<RegionUd*>(luaL_testudata(L, idx, kRegionMeta));
    return ud && ud->region < s.regions.size() ? &s.regions[ud->region] : nullptr;
}

void push_op(lua_State* L, BuildState& s, OpNode node) {
    node.op.line = caller_line(L);
    s.nodes.push_back(std::move(node));
    auto* ud = static_cast<OpUd*>(lua_newuserdatauv(L, sizeof(OpUd), 0));
    ud->node = uint32_t(s.nodes.size() - 1);
    luaL_setmetatable(L, kOpMeta);
}

// Appends the ops of the table at idx (nested tables flattened) to `out`.
Status<ApiError> collect_ops(lua_State* L, BuildState& s, int idx, const std::string& what, std::vector<uint32_t>& out,
                             int depth = 0) {
    if (depth > kMaxNesting) return bad(what + ": op lists nested deeper than " + std::to_string(kMaxNesting));
    const int abs = lua_absindex(L, idx);
    const lua_Unsigned n = lua_rawlen(L, abs);
    for (lua_Unsigned i = 1; i <= n; ++i) {
        lua_rawgeti(L, abs, lua_Integer(i));
        if (auto* op = static_cast<OpUd*>(luaL_testudata(L, -1, kOpMeta))) {
            out.push_back(op->node);
        } else if (lua_type(L, -1) == LUA_TTABLE) {
            if (auto st = collect_ops(L, s, -1, what, out, depth + 1); !st) {
                lua_pop(L, 1);
                return st;
            }
        } else {
            const std::string type = lua_type_name(L, -1);
            lua_pop(L, 1);
            return bad(what + ": element " + std::to_string(i) + " is a " + type +
                       ", not an operation (map, unmap, protect, touch, barrier, loop, sleep, spawn, join)");
        }
        lua_pop(L, 1);
    }
    return Ok{};
}

// [offset, offset + length) inside the region; page-aligned unless `any_length`.
Status<ApiError> resolve_range(const RegionDecl& r, const Options& o, const std::string& fn, bool any_length,
                               gmm_storm_op& op) {
    auto offset = o.u64("offset", 0);
    if (!offset) return Err{offset.error()};
    if (*offset % kPageBytes) return bad(fn + ": offset " + hex(*offset) + " is not a multiple of 4 KiB");
    if (*offset >= r.size_bytes)
        return bad(fn + ": offset " + hex(*offset) + " is beyond region '" + r.name + "' of " + hex(r.size_bytes) +
                   " bytes");
    auto length = o.u64("length", r.size_bytes - *offset);
    if (!length) return Err{length.error()};
    if (*length == 0) return bad(fn + ": length 0 (an operation covers at least one byte)");
    if (!any_length && *length % kPageBytes)
        return bad(fn + ": length " + hex(*length) + " is not a multiple of 4 KiB");
    if (*offset + *length < *offset) return bad(fn + ": offset + length overflows 64 bits");
    if (*offset + *length > r.size_bytes)
        return bad(fn + ": offset + length = " + hex(*offset + *length) + " exceeds region '" + r.name + "' of " +
                   hex(r.size_bytes) + " bytes");
    op.offset_bytes = *offset;
    op.length_bytes = *length;
    return Ok{};
}

// map/unmap/protect: "ok" | "any" | "error" | "ENOMEM" | "EINVAL".
Status<ApiError> resolve_expect(const Options& o, gmm_storm_op& op) {
    auto e = o.choice("expect", "ok", {"ok", "any", "error", "ENOMEM", "EINVAL"});
    if (!e) return Err{e.error()};
    op.expect = *e == "ok" ? GMM_STORM_EXPECT_OK : *e == "any" ? GMM_STORM_EXPECT_ANY : GMM_STORM_EXPECT_FAIL;
    op.arg2 = *e == "ENOMEM" ? GMM_ENOMEM : *e == "EINVAL" ? GMM_EINVAL : 0;
    return Ok{};
}

template <typename T>
Status<ApiError> take(Result<T, ApiError> r, T& out) {
    if (!r) return Err{r.error()};
    out = std::move(*r);
    return Ok{};
}

#define STORM_TRY(expr)              \
    do {                             \
        auto st_ = (expr);           \
        if (!st_) return Err{st_.error()}; \
    } while (0)

// ---- operations -------------------------------------------------------------

ApiResult l_map(lua_State* L, BuildState& s) {
    const RegionDecl* r = region_arg(L, s, 1);
    if (!r) return bad("map: argument 1 must be a region (from region{...}), got " + lua_type_name(L, 1));
    auto o = Options::at(L, 2, "map", {"offset", "length", "prot", "expect", "file", "file_offset"});
    if (!o) return Err{o.error()};
    OpNode n;
    n.op.kind = GMM_STORM_OP_MAP;
    n.op.target = uint32_t(r - s.regions.data());
    STORM_TRY(resolve_range(*r, *o, "map", false, n.op));
    if (r->hint && (n.op.offset_bytes != 0 || n.op.length_bytes != r->size_bytes))
        return bad("map: region '" + r->name + "' is placed by the kernel (place=\"hint\"), so a map covers all of it "
                   "(no offset or length)");
    std::string prot;
    STORM_TRY(take(o->str("prot", ""), prot));
    n.op.arg = r->prot;
    if (!prot.empty()) {
        auto p = parse_prot(prot, "map: prot");
        if (!p) return Err{p.error()};
        n.op.arg = *p;
    }
    STORM_TRY(resolve_expect(*o, n.op));
    // A file region maps file a at file offset b: the region's own unless the op
    // names another file or offset (an ABA storm re-maps the range with other pages).
    if (!r->file && (o->has("file") || o->has("file_offset")))
        return bad("map: region '" + r->name + "' is anonymous; file and file_offset need a kind = \"file\" region");
    if (r->file) {
        uint32_t slot = r->file_slot;
        if (o->has("file")) {
            FileRef f;
            STORM_TRY(take(o->file("file"), f));
            auto sl = s.file_slot(f, caller_line(L));
            if (!sl) return bad("map: " + sl.error());
            slot = *sl;
        }
        uint64_t base = r->file_offset;
        STORM_TRY(take(o->u64("file_offset", r->file_offset), base));
        if (base % kPageBytes) return bad("map: file_offset " + hex(base) + " is not a multiple of 4 KiB");
        if (base + n.op.offset_bytes < base || base + n.op.offset_bytes + n.op.length_bytes < base + n.op.offset_bytes)
            return bad("map: file_offset + offset + length overflows 64 bits");
        n.op.a = slot;
        n.op.b = base + n.op.offset_bytes;
    }
    push_op(L, s, std::move(n));
    return 1;
}

ApiResult l_unmap(lua_State* L, BuildState& s) {
    const RegionDecl* r = region_arg(L, s, 1);
    if (!r) return bad("unmap: argument 1 must be a region, got " + lua_type_name(L, 1));
    auto o = Options::at(L, 2, "unmap", {"offset", "length", "expect"});
    if (!o) return Err{o.error()};
    OpNode n;
    n.op.kind = GMM_STORM_OP_UNMAP;
    n.op.target = uint32_t(r - s.regions.data());
    STORM_TRY(resolve_range(*r, *o, "unmap", false, n.op));
    STORM_TRY(resolve_expect(*o, n.op));
    push_op(L, s, std::move(n));
    return 1;
}

ApiResult l_protect(lua_State* L, BuildState& s) {
    const RegionDecl* r = region_arg(L, s, 1);
    if (!r) return bad("protect: argument 1 must be a region, got " + lua_type_name(L, 1));
    auto text = to_str(L, 2, "protect: argument 2 (the protection)");
    if (!text) return Err{text.error()};
    auto prot = parse_prot(*text, "protect: protection");
    if (!prot) return Err{prot.error()};
    auto o = Options::at(L, 3, "protect", {"offset", "length", "expect"});
    if (!o) return Err{o.error()};
    OpNode n;
    n.op.kind = GMM_STORM_OP_PROTECT;
    n.op.target = uint32_t(r - s.regions.data());
    n.op.arg = *prot;
    STORM_TRY(resolve_range(*r, *o, "protect", false, n.op));
    STORM_TRY(resolve_expect(*o, n.op));
    push_op(L, s, std::move(n));
    return 1;
}

ApiResult make_touch(lua_State* L, BuildState& s, const char* fn, bool expect_segv) {
    const RegionDecl* r = region_arg(L, s, 1);
    if (!r) return bad(std::string(fn) + ": argument 1 must be a region, got " + lua_type_name(L, 1));
    auto o = expect_segv ? Options::at(L, 2, fn, {"offset", "length", "access", "stride", "order"})
                         : Options::at(L, 2, fn, {"offset", "length", "access", "stride", "order", "expect", "verify"});
    if (!o) return Err{o.error()};
    OpNode n;
    n.op.kind = GMM_STORM_OP_TOUCH;
    n.op.target = uint32_t(r - s.regions.data());
    STORM_TRY(resolve_range(*r, *o, fn, true, n.op));
    std::string access, order, expect = "segv";
    STORM_TRY(take(o->choice("access", "write", {"read", "write"}), access));
    STORM_TRY(take(o->choice("order", "seq", {"seq", "random"}), order));
    if (!expect_segv) STORM_TRY(take(o->choice("expect", "ok", {"ok", "any", "segv"}), expect));
    uint64_t stride = 0;
    STORM_TRY(take(o->u64("stride", kPageBytes), stride));
    if (stride == 0) return bad(std::string(fn) + ": stride 0 (accepted: 1 byte or more)");
    n.op.a = stride;
    n.op.flags = uint16_t((access == "write" ? GMM_STORM_OPF_WRITE : 0) | (order == "random" ? GMM_STORM_OPF_RANDOM : 0));
    n.op.expect = expect == "ok" ? GMM_STORM_EXPECT_OK : expect == "any" ? GMM_STORM_EXPECT_ANY : GMM_STORM_EXPECT_FAIL;
    bool verify = false;
    if (!expect_segv) STORM_TRY(take(o->boolean("verify", false), verify));
    if (verify) {
        // Only a private mapping's pages must stay the file's: shared ones take
        // every write, and a written private page is an anonymous copy.
        if (!r->file || r->shared)
            return bad(std::string(fn) + ": verify = true needs a private file region; '" + r->name + "' is " +
                       (r->file ? "shared" : "anonymous"));
        if (access == "write")
            return bad(std::string(fn) + ": verify = true checks what a read sees; use access = \"read\"");
        n.op.flags |= GMM_STORM_OPF_VERIFY;
    }
    push_op(L, s, std::move(n));
    return 1;
}

ApiResult l_touch(lua_State* L, BuildState& s) { return make_touch(L, s, "touch", false); }
ApiResult l_expect_segv(lua_State* L, BuildState& s) { return make_touch(L, s, "expect_segv", true); }

Result<std::string, ApiError> name_arg(lua_State* L, int idx, const std::string& what) {
    auto n = to_str(L, idx, what);
    if (!n) return n;
    if (n->empty() || n->size() > 64) return bad(what + " must have 1 to 64 characters");
    return n;
}

ApiResult l_barrier(lua_State* L, BuildState& s) {
    OpNode n;
    STORM_TRY(take(name_arg(L, 1, "barrier: the name"), n.name));
    n.op.kind = GMM_STORM_OP_BARRIER;
    push_op(L, s, std::move(n));
    return 1;
}

ApiResult l_spawn_join(lua_State* L, BuildState& s, uint8_t kind, const char* fn) {
    OpNode n;
    STORM_TRY(take(name_arg(L, 1, std::string(fn) + ": the thread name"), n.name));
    n.op.kind = kind;
    push_op(L, s, std::move(n));
    return 1;
}
ApiResult l_spawn(lua_State* L, BuildState& s) { return l_spawn_join(L, s, GMM_STORM_OP_SPAWN, "spawn"); }
ApiResult l_join(lua_State* L, BuildState& s) { return l_spawn_join(L, s, GMM_STORM_OP_JOIN, "join"); }

ApiResult l_sleep(lua_State* L, BuildState& s) {
    auto us = to_u64(L, 1, "sleep: microseconds");
    if (!us) return Err{us.error()};
    if (*us == 0 || *us > GMM_STORM_MAX_SLEEP_US)
        return bad("sleep: " + std::to_string(*us) + " microseconds (accepted: 1 to " +
                   std::to_string(GMM_STORM_MAX_SLEEP_US) + ")");
    OpNode n;
    n.op.kind = GMM_STORM_OP_SLEEP;
    n.op.a = *us;
    push_op(L, s, std::move(n));
    return 1;
}

ApiResult l_loop(lua_State* L, BuildState& s) {
    auto count = to_u64(L, 1, "loop: argument 1 (the count)");
    if (!count) return Err{count.error()};
    if (*count == 0 || *count > kMaxLoopCount)
        return bad("loop: count " + std::to_string(*count) + " (accepted: 1 to 2^40)");
    if (lua_type(L, 2) != LUA_TTABLE) return bad("loop: argument 2 must be a table of operations, got " + lua_type_name(L, 2));
    OpNode n;
    n.op.kind = GMM_STORM_OP_LOOP;
    n.op.a = *count;
    STORM_TRY(collect_ops(L, s, 2, "loop", n.body));
    if (n.body.empty()) return bad("loop: the body has no operations");
    push_op(L, s, std::move(n));
    return 1;
}

// ---- declarations -------------------------------------------------------------

ApiResult l_thread(lua_State* L, BuildState& s) {
    auto o = Options::at(L, 1, "thread", {"name", "vcpu", "spawned"}, true);
    if (!o) return Err{o.error()};
    if (!o->index()) return bad("thread: needs a table: thread{vcpu = N, op, op, ...}");
    if (s.threads.size() >= GMM_STORM_MAX_THREADS)
        return bad("thread: more than " + std::to_string(GMM_STORM_MAX_THREADS) + " threads");
    ThreadDecl t;
    STORM_TRY(take(o->str("name", "t" + std::to_string(s.threads.size())), t.name));
    if (t.name.empty() || t.name.size() > 64) return bad("thread: name must have 1 to 64 characters");
    for (const ThreadDecl& other : s.threads)
        if (other.name == t.name)
            return bad("thread: name '" + t.name + "' is already used (line " + std::to_string(other.line) + ")");
    if (!o->has("vcpu")) return bad("thread '" + t.name + "': vcpu = N is required");
    uint64_t vcpu = 0;
    STORM_TRY(take(o->u64("vcpu", 0), vcpu));
    if (vcpu >= s.options.vcpus)
        return bad("thread '" + t.name + "': vcpu " + std::to_string(vcpu) + " but the storm runs on " +
                   std::to_string(s.options.vcpus) + " vCPU(s) (--vcpus; scripts can scale with VCPUS)");
    t.vcpu = uint32_t(vcpu);
    STORM_TRY(take(o->boolean("spawned", false), t.spawned));
    STORM_TRY(collect_ops(L, s, 1, "thread '" + t.name + "'", t.ops));
    if (t.ops.empty()) return bad("thread '" + t.name + "' has no operations");
    t.line = caller_line(L);
    s.threads.push_back(std::move(t));
    return 0;
}

ApiResult l_storm(lua_State* L, BuildState& s) {
    auto o = Options::at(L, 1, "storm", {"name", "stop_on_failure"});
    if (!o) return Err{o.error()};
    if (s.storm_declared) return bad("storm{...} may be called once");
    s.storm_declared = true;
    STORM_TRY(take(o->str("name", s.storm_name), s.storm_name));
    STORM_TRY(take(o->boolean("stop_on_failure", false), s.stop_on_failure));
    return 0;
}

// param(key, default): the --param value, typed like the default.
ApiResult l_param(lua_State* L, BuildState& s) {
    std::string key;
    STORM_TRY(take(name_arg(L, 1, "param: the name"), key));
    const int type = lua_type(L, 2);
    if (type != LUA_TNUMBER && type != LUA_TSTRING && type != LUA_TBOOLEAN)
        return bad("param '" + key + "': the default must be a number, string or boolean, got " + lua_type_name(L, 2));
    auto given = s.options.params.find(key);
    if (given == s.options.params.end()) {
        lua_pushvalue(L, 2);  // a copy for the text form: lua_tolstring converts numbers in place
        s.params_read[key] = type == LUA_TBOOLEAN ? (lua_toboolean(L, 2) ? "true" : "false") : lua_tostring(L, -1);
        lua_pop(L, 1);
        lua_pushvalue(L, 2);
        return 1;
    }
    const std::string& v = given->second;
    s.params_read[key] = v;
    if (type == LUA_TSTRING) {
        lua_pushlstring(L, v.data(), v.size());
        return 1;
    }
    if (type == LUA_TBOOLEAN) {
        if (v == "true" || v == "1" || v == "yes") lua_pushboolean(L, 1);
        else if (v == "false" || v == "0" || v == "no") lua_pushboolean(L, 0);
        else return Err{ApiError{ErrorKind::Param, "--param " + key + "=" + v + ": not a boolean (accepted: true, false, 1, 0)"}};
        return 1;
    }
    // Integer with an optional K/M/G/T suffix (binary), decimal or 0x hex.
    char* end = nullptr;
    errno = 0;
    unsigned long long n = std::strtoull(v.c_str(), &end, 0);
    uint64_t scale = 1;
    if (end && *end) {
        const char c = *end;
        scale = c == 'K' || c == 'k' ? 1ull << 10 : c == 'M' || c == 'm' ? 1ull << 20 : c == 'G' || c == 'g' ? 1ull << 30
              : c == 'T' || c == 't' ? 1ull << 40 : 0;
        if (scale) ++end;
    }
    if (v.empty() || v[0] == '-' || errno || !end || *end || !scale || (n && scale > ~0ull / n) ||
        n * scale > uint64_t(INT64_MAX))
        return Err{ApiError{ErrorKind::Param, "--param " + key + "=" + v +
                                                  ": not an integer (accepted: decimal or 0x hex, optional K/M/G/T suffix)"}};
    lua_pushinteger(L, lua_Integer(n * scale));
    return 1;
}

// ---- metatables -----------------------------------------------------------------

int op_tostring(lua_State* L) {
    BuildState& s = build_state(L);
    auto* ud = static_cast<OpUd*>(luaL_checkudata(L, 1, kOpMeta));
    const OpNode& n = s.nodes.at(ud->node);
    lua_pushfstring(L, "storm op %s (line %d)", op_kind_name(n.op.kind), int(n.op.line));
    return 1;
}

int region_index(lua_State* L) {
    BuildState& s = build_state(L);
    auto* ud = static_cast<RegionUd*>(luaL_checkudata(L, 1, kRegionMeta));
    const RegionDecl& r = s.regions.at(ud->region);
    const char* key = luaL_checkstring(L, 2);
    const std::string k = key;
    if (k == "name") lua_pushlstring(L, r.name.data(), r.name.size());
    else if (k == "size") lua_pushinteger(L, lua_Integer(r.size_bytes));
    else if (k == "gva") lua_pushinteger(L, lua_Integer(r.gva));
    else lua_pushnil(L);
    return 1;
}

int region_tostring(lua_State* L) {
    BuildState& s = build_state(L);
    auto* ud = static_cast<RegionUd*>(luaL_checkudata(L, 1, kRegionMeta));
    const RegionDecl& r = s.regions.at(ud->region);
    lua_pushfstring(L, "storm region %s", r.name.c_str());
    return 1;
}

}  // namespace

// Also used by script_region.cpp.
void push_region_handle(lua_State* L, uint32_t index) {
    auto* ud = static_cast<RegionUd*>(lua_newuserdatauv(L, sizeof(RegionUd), 0));
    ud->region = index;
    luaL_setmetatable(L, kRegionMeta);
}

ApiResult region_declare(lua_State* L, BuildState& s);  // script_region.cpp

void install_script_api(lua_State* L) {
    BuildState& s = build_state(L);
    const bool limited = s.memory_limited;
    s.memory_limited = false;
    luaL_newmetatable(L, kOpMeta);
    lua_pushcfunction(L, op_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
    luaL_newmetatable(L, kRegionMeta);
    lua_pushcfunction(L, region_index);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, region_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);

    const luaL_Reg functions[] = {
        {"storm", api<l_storm>},     {"param", api<l_param>},       {"region", api<region_declare>},
        {"thread", api<l_thread>},   {"map", api<l_map>},           {"unmap", api<l_unmap>},
        {"protect", api<l_protect>}, {"touch", api<l_touch>},       {"expect_segv", api<l_expect_segv>},
        {"barrier", api<l_barrier>}, {"loop", api<l_loop>},         {"sleep", api<l_sleep>},
        {"spawn", api<l_spawn>},     {"join", api<l_join>},         {nullptr, nullptr},
    };
    lua_pushglobaltable(L);
    luaL_setfuncs(L, functions, 0);
    lua_pop(L, 1);
    const struct {
        const char* name;
        lua_Integer value;
    } constants[] = {
        {"KiB", 1ll << 10}, {"MiB", 1ll << 20}, {"GiB", 1ll << 30}, {"TiB", 1ll << 40}, {"PAGE", 4096},
        {"VCPUS", lua_Integer(s.options.vcpus)}, {"SEED", lua_Integer(s.options.seed)},
    };
    for (const auto& c : constants) {
        lua_pushinteger(L, c.value);
        lua_setglobal(L, c.name);
    }
    lua_pushlstring(L, s.options.mm.data(), s.options.mm.size());
    lua_setglobal(L, "MM");
    s.memory_limited = limited;
}

}  // namespace gmm::storm
