// stormc (issue 8) without KVM: the script API and its encoding, determinism,
// the runner's validator against compiled and corrupted blobs, and every
// error class: syntax, runtime, bad arguments, sandbox escapes, limits,
// storms that cannot finish, bad file regions, unread params.
#include <catch2/catch.hpp>

#include <cstring>
#include <string>

#include "../../guest-user/storm_validate.h"  // the runner's validator, built for the host
#include "stormc.h"

using gmm::storm::compile_source;
using gmm::storm::CompileOptions;
using gmm::storm::ErrorKind;
using gmm::storm::Program;

namespace {

Program compile_ok(const std::string& src, CompileOptions o = {}) {
    auto p = compile_source(src, "t.lua", o);
    if (!p) FAIL("unexpected compile error: " << p.error().message);
    return *p;
}

gmm::storm::CompileError compile_err(const std::string& src, CompileOptions o = {}) {
    auto p = compile_source(src, "t.lua", o);
    if (p) FAIL("compiled, but an error was expected:\n" << gmm::storm::describe(*p));
    return p.error();
}

gmm::user::StormCheck validate(const std::vector<uint8_t>& blob, uint32_t vcpus = 2) {
    gmm::user::StormView v;
    return gmm::user::storm_validate(blob.data(), blob.size(), vcpus, v);
}

constexpr const char* kSmall = R"lua(
local r = region{name = "buf", size = 4 * MiB}
local h = region{name = "h", size = 64 * KiB, place = "hint", mapped = false}
thread{name = "a", vcpu = 0,
  loop(3, { touch(r, {order = "random"}), barrier("b") }),
  map(h), unmap(h),
}
thread{name = "b", vcpu = 1,
  loop(3, { protect(r, "r", {offset = 2 * MiB, length = 2 * MiB}), barrier("b"),
            protect(r, "rw", {offset = 2 * MiB, length = 2 * MiB}) }),
  touch(r, {access = "read", stride = 8192, expect = "any"}),
}
)lua";

}  // namespace

TEST_CASE("stormc: a small storm compiles to the documented layout", "[stormc]") {
    const Program p = compile_ok(kSmall);
    REQUIRE(p.regions.size() == 2);
    CHECK(p.regions[0].gva == GMM_STORM_ARENA_GVA);
    CHECK(p.regions[0].gva % (2u << 20) == 0);
    CHECK(p.regions[0].flags == GMM_STORM_RF_PREMAPPED);
    CHECK(p.regions[1].flags == GMM_STORM_RF_HINT);
    CHECK(p.regions[1].gva == 0);
    REQUIRE(p.threads.size() == 2);
    REQUIRE(p.barriers.size() == 1);
    CHECK(p.barriers[0].parties == 2);
    // Thread a: LOOP, touch, barrier, LOOP_END, map, unmap.
    REQUIRE(p.threads[0].op_count == 6);
    const gmm_storm_op* a = &p.ops[p.threads[0].first_op];
    CHECK(a[0].kind == GMM_STORM_OP_LOOP);
    CHECK(a[0].a == 3);
    CHECK(a[0].arg == 2);
    CHECK(a[1].kind == GMM_STORM_OP_TOUCH);
    CHECK((a[1].flags & GMM_STORM_OPF_RANDOM) != 0);
    CHECK(a[1].b != 0);
    CHECK(a[1].line == 5);
    CHECK(a[3].kind == GMM_STORM_OP_LOOP_END);
    CHECK(a[3].arg == 2);
    const gmm_storm_op* b = &p.ops[p.threads[1].first_op];
    CHECK(b[1].kind == GMM_STORM_OP_PROTECT);
    CHECK(b[1].arg == GMM_PROT_READ);
    CHECK(b[1].offset_bytes == 2u << 20);
    CHECK(p.ops[p.threads[1].first_op + p.threads[1].op_count - 1].expect == GMM_STORM_EXPECT_ANY);
    REQUIRE(p.blob.size() == sizeof(gmm_storm_header) + 2 * sizeof(gmm_storm_region) + 2 * sizeof(gmm_storm_thread) +
                                 sizeof(gmm_storm_barrier) + p.ops.size() * sizeof(gmm_storm_op));
    gmm_storm_header h;
    std::memcpy(&h, p.blob.data(), sizeof h);
    CHECK(h.magic == GMM_STORM_MAGIC);
    CHECK(h.version == GMM_STORM_ABI_VERSION);
    CHECK(h.total_bytes == p.blob.size());
    CHECK(validate(p.blob).ok());
}

TEST_CASE("stormc: placements: straddle, align, at", "[stormc]") {
    const Program p = compile_ok(R"lua(
local s2 = region{size = 6 * PAGE, straddle = "2M"}
local s1 = region{size = 4 * MiB, straddle = "1G"}
local a1 = region{size = 2 * MiB, align = "1G"}
local at = region{size = PAGE, at = 0x7f0000000000}
thread{vcpu = 0, touch(s2), touch(s1), touch(a1), touch(at)}
)lua");
    const auto straddles = [](const gmm::storm::CompiledRegion& r, uint64_t unit) {
        return r.gva % unit != 0 && (r.gva / unit) != ((r.gva + r.size_bytes - 1) / unit);
    };
    CHECK(straddles(p.regions[0], 2u << 20));
    CHECK(straddles(p.regions[1], 1u << 30));
    CHECK(p.regions[2].gva % (1u << 30) == 0);
    CHECK(p.regions[3].gva == 0x7f0000000000ull);
    CHECK(validate(p.blob).ok());
}

TEST_CASE("stormc: the same seed gives byte-identical programs, another seed other ones", "[stormc][determinism]") {
    const std::string src = R"lua(
local regions = {}
for i = 1, 6 do regions["r" .. i] = region{name = "r" .. i, size = math.random(1, 16) * PAGE} end
local ops = {}
for name, r in pairs(regions) do            -- pairs: sorted keys, not Lua's hash order
  ops[#ops + 1] = touch(r, {order = math.random() < 0.5 and "seq" or "random"})
  ops[#ops + 1] = protect(r, math.random(2) == 1 and "r" or "rw")
end
thread{vcpu = 0, ops}
thread{vcpu = 1, loop(math.random(5, 50), { touch(regions.r1, {expect = "any"}) })}
)lua";
    CompileOptions o;
    o.seed = 42;
    const Program a = compile_ok(src, o);
    for (int i = 0; i < 5; ++i) CHECK(compile_ok(src, o).blob == a.blob);  // a fresh Lua state (new hash seed) each time
    o.seed = 43;
    CHECK(compile_ok(src, o).blob != a.blob);
    o.seed = 42;
    o.vcpus = 3;
    CHECK(compile_ok(src, o).blob != a.blob);  // the header records the vCPU count
}

TEST_CASE("stormc: params are typed by their default; unread ones are refused", "[stormc]") {
    CompileOptions o;
    o.params = {{"pages", "3K"}, {"mode", "read"}, {"flag", "true"}};
    const Program p = compile_ok(R"lua(
local n = param("pages", 1)
assert(param("mode", "write") == "read" and param("flag", false) == true)
local r = region{size = n * PAGE}
thread{vcpu = 0, touch(r)}
)lua", o);
    CHECK(p.regions[0].size_bytes == 3072ull * 4096);
    CHECK(p.params.at("pages") == "3K");

    o.params = {{"pagez", "3"}};
    auto e = compile_err("thread{vcpu = 0, sleep(param('pages', 1))}", o);
    CHECK(e.kind == ErrorKind::Param);
    CHECK(e.message.find("--param pagez=3") != std::string::npos);
    CHECK(e.message.find("reads: pages") != std::string::npos);
    o.params = {{"pages", "lots"}};
    e = compile_err("thread{vcpu = 0, sleep(param('pages', 1))}", o);
    CHECK(e.kind == ErrorKind::Param);
    CHECK(e.message.find("not an integer") != std::string::npos);
}

TEST_CASE("stormc: syntax and runtime errors are FILE:LINE with Lua's message", "[stormc][errors]") {
    auto e = compile_err("local x = \nthread{vcpu = 0,, sleep(1)}\n");
    CHECK(e.kind == ErrorKind::Syntax);
    CHECK(e.message.rfind("t.lua:2:", 0) == 0);
    e = compile_err("local r = region{size = PAGE}\n\nlocal y = nil + 1\n");
    CHECK(e.kind == ErrorKind::Runtime);
    CHECK(e.message.rfind("t.lua:3:", 0) == 0);
    CHECK(e.message.find("arithmetic") != std::string::npos);
    e = compile_err("\nerror('custom failure')\n");
    CHECK(e.kind == ErrorKind::Runtime);
    CHECK(e.message == "t.lua:2: custom failure");
}

TEST_CASE("stormc: invalid operation arguments are rejected naming their line", "[stormc][errors]") {
    struct Case {
        const char* op;
        const char* expect;
    };
    const Case cases[] = {
        {"map(r, {length = 0})", "length 0"},
        {"unmap(r, {offset = 100})", "not a multiple of 4 KiB"},
        {"protect(r, 'r', {length = 6000})", "not a multiple of 4 KiB"},
        {"touch(r, {offset = 8 * MiB})", "beyond region"},
        {"touch(r, {offset = 4 * MiB, length = 8 * MiB})", "exceeds region"},
        {"touch(r, {offset = 2 * PAGE, length = 2^64 - 4096})", "overflows"},
        {"touch(r, {length = -4096})", "must not be negative"},
        {"touch(r, {stride = 0})", "stride 0"},
        {"touch(r, {strid = 8})", "unknown option 'strid'"},
        {"touch(r, {order = 'sideways'})", "\"sideways\" is not accepted"},
        {"protect(r, 'rwz')", "not a protection"},
        {"map(r, {expect = 'EPERM'})", "is not accepted"},
        {"sleep(0)", "sleep: 0 microseconds"},
        {"loop(0, {sleep(1)})", "count 0"},
        {"loop(2, {})", "no operations"},
        {"touch(42)", "must be a region"},
        {"map(h, {offset = PAGE})", "placed by the kernel"},
        {"touch(r, {length = 1.5})", "must be an integer"},
    };
    for (const Case& c : cases) {
        DYNAMIC_SECTION(c.op) {
            const std::string src = std::string("local r = region{size = 8 * MiB}\nlocal h = region{size = 8 * PAGE, place = 'hint'}\n") +
                                    "thread{vcpu = 0,\n  " + c.op + "\n}\n";
            auto e = compile_err(src);
            CHECK(e.kind == ErrorKind::InvalidArgument);
            CHECK(e.message.rfind("t.lua:4:", 0) == 0);
            CHECK(e.message.find(c.expect) != std::string::npos);
        }
    }
}

TEST_CASE("stormc: declarations with bad arguments", "[stormc][errors]") {
    struct Case {
        const char* src;
        const char* expect;
    };
    const Case cases[] = {
        {"region{size = 0}", "size 0"},
        {"region{size = 5000}", "not a multiple of 4 KiB"},
        {"region{size = PAGE, at = 0x1000}", "outside the storm arena"},
        {"region{size = PAGE, at = 0x100000000, straddle = '2M'}", "at most one of"},
        {"region{size = PAGE, straddle = '2M'}", "one-page region"},
        {"region{size = PAGE, share = 'public'}", "not accepted"},
        {"region{name = 'x', size = PAGE}; region{name = 'x', size = PAGE}", "already used"},
        {"thread{vcpu = 2, sleep(1)}", "vcpu 2 but the storm runs on 2 vCPU(s)"},
        {"thread{sleep(1)}", "vcpu = N is required"},
        {"thread{vcpu = 0}", "has no operations"},
        {"thread{vcpu = 0, 7}", "not an operation"},
        {"local r = region{size = PAGE, at = 0x100000000}; region{size = 2 * PAGE, at = 0x100000000 - 0 + 0}", "overlaps"},
        {"thread{vcpu = 1, spawned = true, sleep(1)}", "no thread spawns it"},
        {"thread{vcpu = 0, spawn('w'), join('w')}", "no thread named 'w'"},
        {"thread{vcpu = 0, sleep(1)}", nullptr},
    };
    for (const Case& c : cases) {
        DYNAMIC_SECTION(c.src) {
            auto p = compile_source(c.src, "t.lua", {});
            if (!c.expect) {
                CHECK(p.ok());
                continue;
            }
            REQUIRE_FALSE(p.ok());
            CHECK(p.error().kind == ErrorKind::InvalidArgument);
            CHECK(p.error().message.rfind("t.lua:1:", 0) == 0);
            CHECK(p.error().message.find(c.expect) != std::string::npos);
        }
    }
    auto e = compile_err("-- no threads\n");
    CHECK(e.kind == ErrorKind::InvalidArgument);
    CHECK(e.message.find("declares no thread") != std::string::npos);
}

TEST_CASE("stormc: more threads than vCPUs: several pinned and spawned threads share a vCPU", "[stormc][threads]") {
    const Program p = compile_ok(R"lua(
local r = region{size = 64 * KiB}
for i = 1, 5 do thread{name = "w" .. i, vcpu = i % 2, spawned = true, touch(r)} end
local s, j = {}, {}
for i = 1, 5 do s[#s + 1] = spawn("w" .. i); j[#j + 1] = join("w" .. i) end
thread{name = "boss", vcpu = 0, loop(3, {s, j})}
thread{name = "f0", vcpu = 0, touch(r)}
thread{name = "f1", vcpu = 1, touch(r)}
thread{name = "g1", vcpu = 1, touch(r)}
)lua");
    REQUIRE(p.threads.size() == 9);
    uint32_t on0 = 0;
    for (const auto& t : p.threads) on0 += t.vcpu == 0;
    CHECK(on0 == 4);  // w2, w4, boss, f0
    CHECK(validate(p.blob).ok());
    // The limit is the total: the 65th thread is refused at its line.
    auto e = compile_err("for i = 1, 64 do thread{vcpu = 0, sleep(1)} end\nthread{name = 'x', vcpu = 1, sleep(1)}\n");
    CHECK(e.kind == ErrorKind::InvalidArgument);
    CHECK(e.message == "t.lua:2: thread: more than 64 threads");
    // The library's thread storm oversubscribes: more live threads than vCPUs.
    CompileOptions o;
    o.vcpus = 3;
    auto lib = gmm::storm::compile_file(GMM_TEST_STORMS_DIR "/thread_spawn.lua", o);
    REQUIRE(lib.ok());
    uint32_t spawned = 0, pinned = 0;
    for (const auto& t : lib->threads) (t.spawned ? spawned : pinned) += 1;
    CHECK(spawned == 7);  // 2 * VCPUS + 1 workers per round
    CHECK(pinned == 4);   // the spawner and a faulter per vCPU
    CHECK(validate(lib->blob, 3).ok());
}

TEST_CASE("stormc: file regions: files by name or index, offsets, re-maps with other files, verified reads",
          "[stormc][files]") {
    const Program p = compile_ok(R"lua(
local f = region{name = "f", size = 64 * KiB, kind = "file", file = "file3", offset = 16 * KiB, prot = "r"}
local g = region{name = "g", size = 8 * KiB, kind = "file", file = 5, share = "shared"}
thread{vcpu = 0, touch(f, {access = "read", verify = true}), unmap(f),
  map(f, {file = "file6", file_offset = 32 * KiB, offset = 8 * KiB, length = 8 * KiB}),
  map(f, {file = "file3"}), touch(g)}
)lua");
    REQUIRE(p.files.size() == 3);
    CHECK(p.files[0].name == "file3");
    CHECK(p.files[1].name.empty());
    CHECK(p.files[1].disk_index == 5);
    CHECK(p.files[2].name == "file6");
    CHECK(p.files[2].line == 5);
    REQUIRE(p.regions.size() == 2);
    CHECK(p.regions[0].flags == (GMM_STORM_RF_FILE | GMM_STORM_RF_PREMAPPED));
    CHECK(p.regions[0].file == 0);
    CHECK(p.regions[0].file_offset_bytes == 16 * 1024);
    CHECK(p.regions[1].flags == (GMM_STORM_RF_FILE | GMM_STORM_RF_PREMAPPED | GMM_STORM_RF_SHARED));
    CHECK(p.regions[1].file == 1);
    REQUIRE(p.ops.size() == 5);
    CHECK(p.ops[0].flags == GMM_STORM_OPF_VERIFY);
    CHECK(p.ops[2].a == 2);                       // file6
    CHECK(p.ops[2].b == 32 * 1024 + 8 * 1024);    // file offset of the op's first page
    CHECK(p.ops[3].a == 0);                       // file3 again: the same slot
    CHECK(p.ops[3].b == 16 * 1024);               // the region's own offset
    REQUIRE(validate(p.blob).ok());

    auto header = [](std::vector<uint8_t>& b) { return reinterpret_cast<gmm_storm_header*>(b.data()); };
    auto file = [&](std::vector<uint8_t>& b, uint32_t i) {
        const size_t at = b.size() - p.ops.size() * sizeof(gmm_storm_op) - (p.files.size() - i) * sizeof(gmm_storm_file);
        return reinterpret_cast<gmm_storm_file*>(b.data() + at);
    };
    auto region = [](std::vector<uint8_t>& b, uint32_t i) {
        return reinterpret_cast<gmm_storm_region*>(b.data() + sizeof(gmm_storm_header) + i * sizeof(gmm_storm_region));
    };
    auto op = [&](std::vector<uint8_t>& b, uint32_t i) {
        return reinterpret_cast<gmm_storm_op*>(b.data() + b.size() - (p.ops.size() - i) * sizeof(gmm_storm_op));
    };
    auto corrupt = [&](auto mutate) {
        std::vector<uint8_t> b = p.blob;
        mutate(b);
        return validate(b);
    };
    std::vector<uint8_t> copy = p.blob;
    CHECK(header(copy)->file_count == 3);
    CHECK(corrupt([&](auto& b) { file(b, 0)->name[2] = '/'; }).code == GMM_STORM_INVALID_FILE);
    CHECK(corrupt([&](auto& b) { file(b, 1)->disk_index = 64; }).code == GMM_STORM_INVALID_FILE);
    CHECK(corrupt([&](auto& b) { file(b, 0)->disk_index = 1; }).code == GMM_STORM_INVALID_FILE);  // name and index
    CHECK(corrupt([&](auto& b) { region(b, 0)->file = 3; }).code == GMM_STORM_INVALID_REGION);
    CHECK(corrupt([&](auto& b) { region(b, 0)->file_offset_bytes = 100; }).code == GMM_STORM_INVALID_REGION);
    CHECK(corrupt([&](auto& b) { region(b, 0)->flags &= ~GMM_STORM_RF_FILE; }).code == GMM_STORM_INVALID_REGION);
    CHECK(corrupt([&](auto& b) { op(b, 2)->a = 3; }).code == GMM_STORM_INVALID_OP);
    CHECK(corrupt([&](auto& b) { op(b, 2)->b = 4095; }).code == GMM_STORM_INVALID_OP);
    CHECK(corrupt([&](auto& b) { op(b, 4)->flags |= GMM_STORM_OPF_VERIFY; }).code == GMM_STORM_INVALID_OP);  // shared
    CHECK(corrupt([&](auto& b) { op(b, 0)->flags |= GMM_STORM_OPF_WRITE; }).code == GMM_STORM_INVALID_OP);
}

TEST_CASE("stormc: bad file regions are rejected before boot naming their line", "[stormc][files][errors]") {
    struct Case {
        const char* src;
        const char* expect;
    };
    const Case cases[] = {
        {"region{size = PAGE, kind = 'file'}", "needs file = NAME or index"},
        {"region{size = PAGE, kind = 'file', file = 'a/b'}", "is not a disk file name"},
        {"region{size = PAGE, kind = 'file', file = ''}", "is not a disk file name"},
        {"region{size = PAGE, kind = 'file', file = 64}", "file 64 is not a file index (accepted: 0 to 63)"},
        {"region{size = PAGE, kind = 'file', file = true}", "must be a file name or index, got boolean"},
        {"region{size = PAGE, kind = 'file', file = 'f', offset = 100}", "offset 0x64 is not a multiple of 4 KiB"},
        {"region{size = PAGE, file = 'f'}", "need kind = \"file\""},
        {"region{size = PAGE, kind = 'disk'}", "not accepted"},
        {"local r = region{size = PAGE}; thread{vcpu = 0, map(r, {file = 'f'})}", "is anonymous"},
        {"local r = region{size = PAGE, kind = 'file', file = 'f'}; thread{vcpu = 0, map(r, {file_offset = 1})}",
         "file_offset 0x1 is not a multiple of 4 KiB"},
        {"local r = region{size = PAGE}; thread{vcpu = 0, touch(r, {access = 'read', verify = true})}",
         "needs a private file region; 'r0' is anonymous"},
        {"local r = region{size = PAGE, kind = 'file', file = 'f', share = 'shared'}; "
         "thread{vcpu = 0, touch(r, {access = 'read', verify = true})}",
         "'r0' is shared"},
        {"local r = region{size = PAGE, kind = 'file', file = 'f'}; thread{vcpu = 0, touch(r, {verify = true})}",
         "use access = \"read\""},
        {"local r = region{size = PAGE, kind = 'file', file = 'f'}; thread{vcpu = 0, touch(r, {access = 'read', "
         "verify = true}), touch(r)}",
         "touch writes to region 'r0' whose pages line 1 verifies"},
        {"for i = 0, 64 do region{size = PAGE, kind = 'file', file = i % 64, offset = 0} end; "
         "for i = 0, 64 do region{size = PAGE, kind = 'file', file = 'n' .. i} end",
         "more than 64 distinct files"},
    };
    for (const Case& c : cases) {
        DYNAMIC_SECTION(c.src) {
            auto p = compile_source(c.src, "t.lua", {});
            REQUIRE_FALSE(p.ok());
            CHECK(p.error().kind == ErrorKind::InvalidArgument);
            CHECK(p.error().message.rfind("t.lua:1:", 0) == 0);
            INFO(p.error().message);
            CHECK(p.error().message.find(c.expect) != std::string::npos);
        }
    }
    // The library's ABA storm compiles: one remapper, faulters with verified reads, a new file/offset per round.
    auto aba = gmm::storm::compile_file(GMM_TEST_STORMS_DIR "/file_fault_aba.lua", {});
    REQUIRE(aba.ok());
    CHECK(aba->files.size() >= 2);
    CHECK(validate(aba->blob).ok());
}

TEST_CASE("stormc: the sandbox refuses io, os, package, debug and loading code", "[stormc][sandbox]") {
    const char* escapes[] = {
        "io.open('/etc/passwd')", "os.exit(1)",          "os.execute('true')",    "require('os')",
        "dofile('/etc/passwd')",  "loadfile('x.lua')",   "load('return 1')",      "debug.sethook()",
        "package.loadlib('x', 'y')", "local f = io.write", "pcall(io.open, 'x')",
    };
    for (const char* code : escapes) {
        DYNAMIC_SECTION(code) {
            auto e = compile_err(std::string("\n") + code + "\nthread{vcpu = 0, sleep(1)}\n");
            CHECK(e.kind == ErrorKind::Sandbox);
            CHECK(e.message.rfind("t.lua:2:", 0) == 0);
            CHECK(e.message.find("sandbox") != std::string::npos);
        }
    }
    // What remains is usable: string, table, math, pairs.
    compile_ok("local t = {b = 2, a = 1}; local k = {}; for key in pairs(t) do k[#k+1] = key end\n"
               "assert(table.concat(k) == 'ab' and string.format('%d', math.max(1, 2)) == '2')\n"
               "assert(string.dump == nil and collectgarbage == nil)\n"
               "thread{vcpu = 0, sleep(1)}\n");
    auto e = compile_err("for k in next, {a = 1} do end\n");
    CHECK(e.message.find("use pairs()") != std::string::npos);
}

TEST_CASE("stormc: endless scripts stop at the instruction limit, hungry ones at the memory limit", "[stormc][limits]") {
    CompileOptions o;
    o.max_instructions = 2'000'000;
    auto e = compile_err("local x = 0\nwhile true do x = x + 1 end\n", o);
    CHECK(e.kind == ErrorKind::Limit);
    CHECK(e.message.rfind("t.lua:2:", 0) == 0);
    CHECK(e.message.find("instruction limit") != std::string::npos);
    // pcall cannot swallow the limit.
    e = compile_err("while true do pcall(function() while true do end end) end\n", o);
    CHECK(e.kind == ErrorKind::Limit);
    o.max_instructions = 200'000'000;
    o.max_memory_bytes = 8u << 20;
    e = compile_err("local t = {}\nfor i = 1, 1e9 do t[i] = string.rep('x', 100) .. i end\n", o);
    CHECK(e.kind == ErrorKind::Limit);
    CHECK(e.message.find("memory limit of 8 MiB") != std::string::npos);
    // Op values live on the host outside the Lua heap: capped separately.
    e = compile_err("for i = 1, 2000000 do sleep(1) end\n");
    CHECK(e.kind == ErrorKind::Limit);
    CHECK(e.message.find("more than 1048576 op values") != std::string::npos);
}

TEST_CASE("stormc: storms that cannot finish are refused before boot", "[stormc][errors]") {
    struct Case {
        const char* src;
        const char* expect;
    };
    const Case cases[] = {
        {"thread{vcpu = 0, loop(4, {barrier('b')})}\nthread{vcpu = 1, loop(3, {barrier('b')})}",
         "passes it 3 time(s) but thread 't0' 4 time(s)"},
        {"thread{vcpu = 0, barrier('x'), barrier('y')}\nthread{vcpu = 1, barrier('y'), barrier('x')}",
         "meet the barriers in different orders"},
        {"thread{name = 'w', vcpu = 1, spawned = true, sleep(1)}\nthread{vcpu = 0, spawn('w')}", "never joins it"},
        {"thread{name = 'w', vcpu = 1, spawned = true, sleep(1)}\nthread{vcpu = 0, join('w')}", "has not spawned it"},
        {"thread{name = 'w', vcpu = 1, spawned = true, sleep(1)}\nthread{vcpu = 0, spawn('w'), spawn('w'), join('w')}",
         "while it may still run"},
        {"thread{name = 'w', vcpu = 1, spawned = true, sleep(1)}\nthread{vcpu = 0, loop(2, {spawn('w')}), join('w')}",
         "does not join"},
    };
    for (const Case& c : cases) {
        DYNAMIC_SECTION(c.src) {
            auto e = compile_err(c.src);
            CHECK(e.kind == ErrorKind::CannotFinish);
            CHECK(e.message.rfind("t.lua:", 0) == 0);
            CHECK(e.message.find(c.expect) != std::string::npos);
        }
    }
    // Balanced spawn/join inside a loop, barriers in the same order: fine.
    const Program p = compile_ok(
        "thread{name = 'w', vcpu = 1, spawned = true, sleep(1)}\n"
        "thread{vcpu = 0, loop(5, {spawn('w'), join('w')})}\n");
    CHECK(validate(p.blob).ok());
}

TEST_CASE("storm validator: compiled blobs pass, each corruption is caught", "[stormc][validate]") {
    const Program p = compile_ok(kSmall);
    REQUIRE(validate(p.blob).ok());
    auto corrupt = [&](auto mutate) {
        std::vector<uint8_t> b = p.blob;
        mutate(b);
        return validate(b);
    };
    auto header = [](std::vector<uint8_t>& b) { return reinterpret_cast<gmm_storm_header*>(b.data()); };
    auto op = [&](std::vector<uint8_t>& b, uint32_t i) {
        const size_t at = b.size() - (p.ops.size() - i) * sizeof(gmm_storm_op);
        return reinterpret_cast<gmm_storm_op*>(b.data() + at);
    };
    auto region = [](std::vector<uint8_t>& b, uint32_t i) {
        return reinterpret_cast<gmm_storm_region*>(b.data() + sizeof(gmm_storm_header) + i * sizeof(gmm_storm_region));
    };
    CHECK(corrupt([&](auto& b) { header(b)->magic ^= 1; }).code == GMM_STORM_INVALID_MAGIC);
    CHECK(corrupt([&](auto& b) { header(b)->version = 99; }).code == GMM_STORM_INVALID_VERSION);
    CHECK(corrupt([&](auto& b) { header(b)->op_count += 1; }).code == GMM_STORM_INVALID_LAYOUT);
    CHECK(corrupt([&](auto& b) { header(b)->total_bytes += 8; }).code == GMM_STORM_INVALID_LAYOUT);
    CHECK(corrupt([&](auto& b) { b.resize(b.size() - 8); }).code == GMM_STORM_INVALID_SIZE);
    CHECK(corrupt([&](auto& b) { header(b)->vcpu_count = 3; }).code == GMM_STORM_INVALID_VCPUS);
    CHECK(corrupt([&](auto& b) { region(b, 0)->gva = 0x1000; }).code == GMM_STORM_INVALID_REGION);
    CHECK(corrupt([&](auto& b) { region(b, 0)->size_bytes = 0; }).code == GMM_STORM_INVALID_REGION);
    CHECK(corrupt([&](auto& b) { region(b, 0)->gva = GMM_USER_TOP_GVA - 4096; }).code == GMM_STORM_INVALID_REGION);
    const uint32_t a0 = p.threads[0].first_op;
    CHECK(corrupt([&](auto& b) { op(b, a0 + 1)->kind = 99; }).code == GMM_STORM_INVALID_OP);
    CHECK(corrupt([&](auto& b) { op(b, a0 + 1)->target = 7; }).code == GMM_STORM_INVALID_OP);
    CHECK(corrupt([&](auto& b) { op(b, a0 + 1)->length_bytes = 8u << 20; }).code == GMM_STORM_INVALID_OP);
    CHECK(corrupt([&](auto& b) { op(b, a0 + 1)->offset_bytes = ~0ull - 4095; }).code == GMM_STORM_INVALID_OP);
    CHECK(corrupt([&](auto& b) { op(b, a0 + 2)->target = 1; }).code == GMM_STORM_INVALID_OP);  // no barrier 1
    CHECK(corrupt([&](auto& b) { op(b, a0)->arg = 1; }).code == GMM_STORM_INVALID_LOOP);
    CHECK(corrupt([&](auto& b) { op(b, a0)->a = 0; }).code == GMM_STORM_INVALID_LOOP);
    CHECK(corrupt([&](auto& b) { op(b, a0 + 3)->kind = GMM_STORM_OP_SLEEP; op(b, a0 + 3)->a = 1; }).code ==
          GMM_STORM_INVALID_LOOP);
    CHECK(validate(p.blob, 1).code == GMM_STORM_INVALID_VCPUS);
    gmm::user::StormView v;
    CHECK(gmm::user::storm_validate(p.blob.data(), 10, 2, v).code == GMM_STORM_INVALID_SIZE);
}

TEST_CASE("stormc: a storm that may MAP_FIXED over a reused hole gets a note", "[stormc]") {
    const Program risky = compile_ok(R"lua(
local f = region{size = 4 * PAGE}
local h = region{size = 4 * PAGE, place = "hint", mapped = false}
thread{vcpu = 0, unmap(f), map(f)}
thread{vcpu = 1, map(h), unmap(h, {offset = PAGE, length = PAGE})}
)lua");
    REQUIRE(risky.notes.size() == 2);
    CHECK(risky.notes[0].find("MAP_FIXED then replaces that mapping") != std::string::npos);
    CHECK(risky.notes[1].find("partial unmap of a kernel-placed region") != std::string::npos);
    CHECK(compile_ok("local f = region{size = PAGE}\nthread{vcpu = 0, unmap(f), map(f)}\n").notes.empty());
}
