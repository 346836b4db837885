// Unit tests per operation and per edge, run against every policy/knob set.
#include "test_support.h"

using namespace gmm;
using namespace gmm::mm;
using namespace gmm::mm::test;

namespace {
const MapFlags kAnon = MapFlags::Private;
const Prot kRW = Prot::Read | Prot::Write;

Gva map_fixed(AddressSpace& as, uint64_t at, uint64_t len, Prot prot = kRW) {
    auto r = as.map(Gva(at), len, prot, MapFlags::Private | MapFlags::Fixed);
    REQUIRE(r.ok());
    REQUIRE(r->value() == at);
    return *r;
}
FaultKind touch(AddressSpace& as, uint64_t va, Access a = Access::Write) { return as.fault(Gva(va), a).kind; }
}  // namespace

TEST_CASE("anonymous map, first-touch fault installs a zeroed writable page, unmap frees it", "[ops]") {
    auto spec = GENERATE(from_range(all_configs()));
    INFO(spec);
    Env env(spec);
    AddressSpace& as = env.as;
    auto r = as.map(Gva(0), 3 * MiB, kRW, kAnon);
    REQUIRE(r.ok());
    Gva base = *r;
    CHECK(base.is_aligned(2 * MiB));  // large anonymous maps are 2 MiB aligned
    require_consistent(as);
    CHECK(as.pte_at(base) == 0);  // nothing is populated eagerly
    REQUIRE(touch(as, base.value() + 5000) == FaultKind::Installed);
    uint8_t* page = page_of(as, base.plus(4096));
    REQUIRE(page);
    for (int i = 0; i < 4096; ++i) REQUIRE(page[i] == 0);
    uint64_t e = as.pte_at(base.plus(4096));
    CHECK((e & pte::kWrite));
    CHECK((e & pte::kNoExec));
    CHECK((e & pte::kUser));
    CHECK(touch(as, base.value() + 5000) == FaultKind::Installed);  // spurious: already there
    require_consistent(as);
    REQUIRE(as.unmap(base, 3 * MiB).ok());
    CHECK(as.pte_at(base.plus(4096)) == 0);
    CHECK(as.counter(Counter::FramesFreed) == 1);
    CHECK(env.platform.tlb_flushes() >= 1);
    CHECK(mappings(as).empty());
    require_consistent(as);
}

TEST_CASE("faults outside mappings or against protection report the SEGV reason", "[ops]") {
    auto spec = GENERATE(from_range(all_configs()));
    INFO(spec);
    Env env(spec);
    AddressSpace& as = env.as;
    map_fixed(as, 1 * GiB, 2 * MiB, Prot::Read);
    auto f = as.fault(Gva(1 * GiB + 4 * MiB), Access::Read);
    CHECK(f.kind == FaultKind::Segv);
    CHECK(f.segv == SegvReason::NotMapped);
    f = as.fault(Gva(1 * GiB), Access::Write);
    CHECK(f.kind == FaultKind::Segv);
    CHECK(f.segv == SegvReason::AccessDenied);
    f = as.fault(Gva(1 * GiB), Access::Exec);
    CHECK(f.segv == SegvReason::AccessDenied);
    CHECK(as.fault(Gva(1 * GiB), Access::Read).kind == FaultKind::Installed);
    CHECK(!(as.pte_at(Gva(1 * GiB)) & pte::kWrite));
    f = as.fault(Gva(kDefaultUserEnd), Access::Read);
    CHECK(f.segv == SegvReason::OutOfRange);
    require_consistent(as);
}

TEST_CASE("unmap of an inner sub-range splits the mapping and keeps the outer pages", "[ops]") {
    auto spec = GENERATE(from_range(all_configs()));
    INFO(spec);
    Env env(spec);
    AddressSpace& as = env.as;
    // Straddles a 1 GiB boundary and several 2 MiB windows.
    const uint64_t base = 1 * GiB - 6 * MiB;
    map_fixed(as, base, 12 * MiB);
    for (uint64_t off = 0; off < 12 * MiB; off += 1 * MiB) REQUIRE(touch(as, base + off) == FaultKind::Installed);
    REQUIRE(as.unmap(Gva(base + 3 * MiB), 6 * MiB).ok());
    require_consistent(as);
    auto m = mappings(as);
    REQUIRE(m.size() == 2);
    CHECK(m[0].start.value() == base);
    CHECK(m[0].end.value() == base + 3 * MiB);
    CHECK(m[1].start.value() == base + 9 * MiB);
    CHECK(m[1].end.value() == base + 12 * MiB);
    CHECK(pte::present(as.pte_at(Gva(base + 2 * MiB))));
    CHECK(as.pte_at(Gva(base + 4 * MiB)) == 0);
    CHECK(pte::present(as.pte_at(Gva(base + 9 * MiB))));
    CHECK(touch(as, base + 5 * MiB) == FaultKind::Segv);
    // Unmapping a range that is partly unmapped already is fine.
    REQUIRE(as.unmap(Gva(base), 12 * MiB).ok());
    CHECK(mappings(as).empty());
    require_consistent(as);
}

TEST_CASE("protect splits a mapping and merges it back when protections match again", "[ops]") {
    auto spec = GENERATE(from_range(all_configs()));
    INFO(spec);
    Env env(spec);
    AddressSpace& as = env.as;
    const uint64_t base = 2 * GiB - 2 * MiB - 8 * KiB;  // straddles 2 MiB and 1 GiB boundaries
    map_fixed(as, base, 4 * MiB + 16 * KiB);
    REQUIRE(touch(as, base + 2 * MiB + 8 * KiB) == FaultKind::Installed);
    REQUIRE(as.protect(Gva(base + 1 * MiB), 2 * MiB, Prot::Read).ok());
    require_consistent(as);
    auto m = mappings(as);
    REQUIRE(m.size() == 3);
    CHECK(m[1].prot == Prot::Read);
    CHECK(m[1].start.value() == base + 1 * MiB);
    CHECK(!(as.pte_at(Gva(base + 2 * MiB + 8 * KiB)) & pte::kWrite));  // downgraded in place
    CHECK(as.fault(Gva(base + 2 * MiB + 8 * KiB), Access::Write).segv == SegvReason::AccessDenied);
    REQUIRE(as.protect(Gva(base + 1 * MiB), 2 * MiB, kRW).ok());
    require_consistent(as);
    CHECK(mappings(as).size() == 1);  // merged again
    // The data survived; the write permission comes back lazily on the next fault.
    CHECK(touch(as, base + 2 * MiB + 8 * KiB) == FaultKind::Installed);
    CHECK((as.pte_at(Gva(base + 2 * MiB + 8 * KiB)) & pte::kWrite));
    CHECK(as.counter(Counter::FramesAllocated) == 1);
    require_consistent(as);
}

TEST_CASE("PROT_NONE parks pages and restoring the protection brings back their data", "[ops]") {
    auto spec = GENERATE(from_range(all_configs()));
    INFO(spec);
    Env env(spec);
    AddressSpace& as = env.as;
    map_fixed(as, 64 * MiB, 1 * MiB);
    REQUIRE(touch(as, 64 * MiB) == FaultKind::Installed);
    page_of(as, Gva(64 * MiB))[7] = 42;
    REQUIRE(as.protect(Gva(64 * MiB), 1 * MiB, Prot::None).ok());
    CHECK(!pte::present(as.pte_at(Gva(64 * MiB))));
    CHECK(as.fault(Gva(64 * MiB), Access::Read).segv == SegvReason::AccessDenied);
    require_consistent(as);
    REQUIRE(as.protect(Gva(64 * MiB), 1 * MiB, Prot::Read).ok());
    REQUIRE(touch(as, 64 * MiB, Access::Read) == FaultKind::Installed);
    CHECK(page_of(as, Gva(64 * MiB))[7] == 42);
    require_consistent(as);
}

TEST_CASE("protect over a hole fails with NoMem and changes nothing", "[ops]") {
    auto spec = GENERATE(from_range(all_configs()));
    INFO(spec);
    Env env(spec);
    AddressSpace& as = env.as;
    map_fixed(as, 8 * MiB, 1 * MiB);
    map_fixed(as, 10 * MiB, 1 * MiB);
    auto st = as.protect(Gva(8 * MiB), 3 * MiB, Prot::Read);
    REQUIRE(!st.ok());
    CHECK(st.error() == Errno::NoMem);
    for (auto& m : mappings(as)) CHECK(m.prot == kRW);
    require_consistent(as);
}

TEST_CASE("a fixed map replaces the mappings and pages it covers", "[ops]") {
    auto spec = GENERATE(from_range(all_configs()));
    INFO(spec);
    Env env(spec);
    AddressSpace& as = env.as;
    map_fixed(as, 4 * GiB, 8 * MiB);
    for (uint64_t off = 0; off < 8 * MiB; off += 512 * KiB) REQUIRE(touch(as, 4 * GiB + off) == FaultKind::Installed);
    map_fixed(as, 4 * GiB + 1 * MiB, 4 * MiB, Prot::Read);
    require_consistent(as);
    auto m = mappings(as);
    REQUIRE(m.size() == 3);
    CHECK(m[1].prot == Prot::Read);
    CHECK(as.pte_at(Gva(4 * GiB + 2 * MiB)) == 0);  // old pages are gone
    REQUIRE(touch(as, 4 * GiB + 2 * MiB, Access::Read) == FaultKind::Installed);
    CHECK(page_of(as, Gva(4 * GiB + 2 * MiB))[0] == 0);
    CHECK(pte::present(as.pte_at(Gva(4 * GiB))));
    require_consistent(as);
}

TEST_CASE("hint maps take free space at or above the hint and never overlap", "[ops]") {
    auto spec = GENERATE(from_range(all_configs()));
    INFO(spec);
    Env env(spec);
    AddressSpace& as = env.as;
    map_fixed(as, 1 * GiB, 4 * MiB);
    auto r = as.map(Gva(1 * GiB), 4 * MiB, kRW, kAnon);  // hint is taken: go above
    REQUIRE(r.ok());
    CHECK(r->value() >= 1 * GiB + 4 * MiB);
    std::vector<Gva> got;
    for (int i = 0; i < 20; ++i) {
        auto q = as.map(Gva(0), 12 * KiB, Prot::Read, kAnon);
        REQUIRE(q.ok());
        got.push_back(*q);
    }
    require_consistent(as);
    for (size_t i = 0; i < got.size(); i += 2) REQUIRE(as.unmap(got[i], 12 * KiB).ok());
    require_consistent(as);
}

TEST_CASE("mappings at the top of the user range and large mappings work", "[ops]") {
    auto spec = GENERATE(from_range(all_configs()));
    INFO(spec);
    Env env(spec);
    AddressSpace& as = env.as;
    const uint64_t top = kDefaultUserEnd;
    map_fixed(as, top - 3 * MiB, 3 * MiB);
    REQUIRE(touch(as, top - kPageSize) == FaultKind::Installed);
    auto r = as.map(Gva(top - 2 * MiB), 4 * MiB, kRW, MapFlags::Private | MapFlags::Fixed);
    CHECK(r.error() == Errno::NoMem);  // would cross the top
    // 2 GiB spanning a 1 GiB-aligned middle: hier stores it at upper levels.
    map_fixed(as, 3 * GiB - 6 * MiB, 2 * GiB);
    REQUIRE(touch(as, 4 * GiB) == FaultKind::Installed);
    REQUIRE(touch(as, 3 * GiB - 6 * MiB) == FaultKind::Installed);
    REQUIRE(touch(as, 5 * GiB - 6 * MiB - 4096) == FaultKind::Installed);
    require_consistent(as);
    REQUIRE(as.unmap(Gva(3 * GiB), 1 * GiB).ok());
    require_consistent(as);
    CHECK(touch(as, 3 * GiB + 5 * MiB) == FaultKind::Segv);
    REQUIRE(as.unmap(Gva(top - 3 * MiB), 3 * MiB).ok());
    require_consistent(as);
    as.trim_quiescent();
    require_consistent(as);
}

TEST_CASE("bad arguments return EINVAL or ENOMEM and change nothing", "[ops][errors]") {
    auto spec = GENERATE(from_range(all_configs()));
    INFO(spec);
    Env env(spec);
    AddressSpace& as = env.as;
    map_fixed(as, 1 * GiB, 1 * MiB);
    auto before = mappings(as);
    const auto fixed = MapFlags::Private | MapFlags::Fixed;
    CHECK(as.map(Gva(1 * GiB + 1), 4096, kRW, fixed).error() == Errno::Inval);           // misaligned
    CHECK(as.map(Gva(2 * GiB), 0, kRW, fixed).error() == Errno::Inval);                 // zero length
    CHECK(as.map(Gva(2 * GiB), 4096, Prot(8), fixed).error() == Errno::Inval);           // unknown prot
    CHECK(as.map(Gva(2 * GiB), 4096, kRW, MapFlags(0x10)).error() == Errno::Inval);      // neither private nor shared
    CHECK(as.map(Gva(2 * GiB), 4096, kRW, MapFlags(0x3)).error() == Errno::Inval);       // both
    CHECK(as.map(Gva(2 * GiB), 4096, kRW, MapFlags(0x101)).error() == Errno::Inval);     // unknown flag
    CHECK(as.map(Gva(~0ull << 12), 8192, kRW, fixed).error() == Errno::Inval);           // wraps
    CHECK(as.map(Gva(0xffff800000000000ull), 4096, kRW, fixed).error() == Errno::NoMem); // kernel range
    CHECK(as.map(Gva(kDefaultUserEnd), 4096, kRW, fixed).error() == Errno::NoMem);       // above the top
    CHECK(as.map(Gva(0), 4096, kRW, fixed).error() == Errno::Inval);                     // below mmap_min_addr
    CHECK(as.map(Gva(0), ~0ull - 10, kRW, MapFlags::Private).error() == Errno::Inval);   // length wraps
    CHECK(as.map(Gva(0), 1ull << 50, kRW, MapFlags::Private).error() == Errno::NoMem);   // larger than the space
    CHECK(as.unmap(Gva(1 * GiB + 4), 4096).error() == Errno::Inval);
    CHECK(as.unmap(Gva(1 * GiB), 0).error() == Errno::Inval);
    CHECK(as.unmap(Gva(0xffff800000000000ull), 4096).error() == Errno::Inval);
    CHECK(as.protect(Gva(1 * GiB), 4096, Prot(0x80)).error() == Errno::Inval);
    CHECK(as.protect(Gva(1 * GiB + 8), 4096, Prot::Read).error() == Errno::Inval);
    CHECK(as.protect(Gva(~0ull << 12), 8192, Prot::Read).error() == Errno::Inval);
    auto after = mappings(as);
    REQUIRE(after.size() == before.size());
    CHECK(after[0].start == before[0].start);
    CHECK(after[0].end == before[0].end);
    CHECK(after[0].prot == before[0].prot);
    require_consistent(as);
}

TEST_CASE("running out of frames fails operations cleanly and leaves the space consistent", "[ops][oom]") {
    auto spec = GENERATE(from_range(all_configs()));
    INFO(spec);
    // Sweep the failure point so that every allocation site fails once.
    for (int64_t budget = 0; budget < 40; ++budget) {
        INFO("budget " << budget);
        Env env(spec);
        AddressSpace& as = env.as;
        map_fixed(as, 1 * GiB, 8 * MiB);
        REQUIRE(touch(as, 1 * GiB) == FaultKind::Installed);
        env.platform.fail_frames_after(budget);
        // Each operation either succeeds or fails with NoMem; never anything else.
        auto r1 = as.map(Gva(1 * GiB + 8 * MiB - 4096), 2 * GiB, kRW, MapFlags::Private | MapFlags::Fixed);
        if (!r1.ok()) CHECK(r1.error() == Errno::NoMem);
        require_consistent(as);
        auto st = as.unmap(Gva(1 * GiB + 1 * MiB), 4096);
        if (!st.ok()) CHECK(st.error() == Errno::NoMem);
        require_consistent(as);
        st = as.protect(Gva(1 * GiB + 2 * MiB), 6 * MiB, Prot::Read);
        if (!st.ok()) CHECK(st.error() == Errno::NoMem);
        require_consistent(as);
        for (uint64_t off = 0; off < 8 * MiB; off += 1 * MiB) {
            auto f = as.fault(Gva(1 * GiB + off), Access::Read);
            CHECK((f.kind == FaultKind::Installed || f.kind == FaultKind::NoMem || f.kind == FaultKind::Segv));
        }
        require_consistent(as);
        auto r2 = as.map(Gva(0), 64 * MiB, kRW, MapFlags::Private);
        if (!r2.ok()) CHECK(r2.error() == Errno::NoMem);
        require_consistent(as);
        env.platform.fail_frames_after(-1);
        // Still fully usable afterwards.
        auto r3 = as.map(Gva(0), 4 * MiB, kRW, MapFlags::Private);
        REQUIRE(r3.ok());
        REQUIRE(touch(as, r3->value()) == FaultKind::Installed);
        require_consistent(as);
    }
}

TEST_CASE("option strings parse and bad ones name the offending part", "[options]") {
    Options o;
    ParseError e{};
    REQUIRE(parse_options("extents,placement=hier,freecache=percpu", &o, &e));
    CHECK(o.policy == Policy::Extents);
    CHECK(o.placement == Placement::Hier);
    CHECK(o.free_cache == FreeCache::PerCpu);
    REQUIRE(parse_options("global", &o, &e));
    CHECK(o.policy == Policy::Global);
    CHECK(!parse_options("radix", &o, &e));
    CHECK(std::string(e.what) == "policy");
    CHECK(!parse_options("extents,placement=mid", &o, &e));
    CHECK(std::string(e.what) == "placement");
    CHECK(!parse_options("global,placement=hier", &o, &e));
    CHECK(std::string(e.what) == "knob");
    char buf[80];
    format_options(parse("extents,placement=hier"), buf, sizeof buf);
    CHECK(std::string(buf) == "extents,placement=hier,freecache=none");
}

namespace {
struct HookCounts {
    std::atomic<int64_t> acquire[8]{}, contended[8]{}, acquired[8]{}, release[8]{};
};
HookCounts g_hook_counts;
void on_acquire(LockClass c, LockSide, const void*) { g_hook_counts.acquire[int(c)]++; }
void on_contended(LockClass c, LockSide, const void*) { g_hook_counts.contended[int(c)]++; }
void on_acquired(LockClass c, LockSide, const void*) { g_hook_counts.acquired[int(c)]++; }
void on_release(LockClass c, LockSide, const void*) { g_hook_counts.release[int(c)]++; }
const LockHooks kHooks{&on_acquire, &on_contended, &on_acquired, &on_release};
}  // namespace

TEST_CASE("lock hooks see every acquisition with its lock class", "[ops][locks]") {
    auto spec = GENERATE(std::string("global"), std::string("extents"));
    INFO(spec);
    for (auto& c : g_hook_counts.acquire) c = 0;
    for (auto& c : g_hook_counts.acquired) c = 0;
    for (auto& c : g_hook_counts.release) c = 0;
    {
        Env env(spec);
        set_lock_hooks(&kHooks);
        REQUIRE(env.as.map(Gva(1 * GiB), 1 * MiB, kRW, MapFlags::Private | MapFlags::Fixed).ok());
        REQUIRE(touch(env.as, 1 * GiB) == FaultKind::Installed);  // global builds the tables here
        int64_t before = g_hook_counts.acquired[int(LockClass::PtLock)].load();
        REQUIRE(touch(env.as, 1 * GiB + 4096) == FaultKind::Installed);
        CHECK(g_hook_counts.acquired[int(LockClass::PtLock)].load() == before + 1);  // one PTL per fault
        if (spec == "global") CHECK(g_hook_counts.acquired[int(LockClass::MmLock)].load() >= 2);
        else CHECK(g_hook_counts.acquired[int(LockClass::MmLock)].load() == 0);  // no mm-wide lock
        REQUIRE(env.as.unmap(Gva(1 * GiB), 1 * MiB).ok());
        set_lock_hooks(nullptr);
    }
    for (int c = 0; c < int(LockClass::Count); ++c) {
        INFO(lock_class_name(LockClass(c)));
        CHECK(g_hook_counts.acquire[c].load() == g_hook_counts.acquired[c].load());
        CHECK(g_hook_counts.acquired[c].load() == g_hook_counts.release[c].load());
    }
}
