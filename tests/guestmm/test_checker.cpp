// The page tables are real x86-64 tables, and the checker notices corruption.
#include "test_support.h"

using namespace gmm;
using namespace gmm::mm;
using namespace gmm::mm::test;

namespace {
// Walks the hardware tables from the root the way the MMU would; returns the
// address of the leaf entry (nullptr if an upper entry is not present).
uint64_t* hw_walk(AddressSpace& as, uint64_t va) {
    uint64_t table = as.root_table_phys();
    for (int level = 4; level >= 1; --level) {
        auto* entries = static_cast<uint64_t*>(as.platform().phys_to_virt(table));
        uint64_t* e = &entries[(va >> (12 + 9 * (level - 1))) & 511];
        if (level == 1) return e;
        if (!(*e & pte::kPresent) || !(*e & pte::kUser) || !(*e & pte::kWrite)) return nullptr;
        table = *e & pte::kAddrMask;
    }
    return nullptr;
}
}  // namespace

TEST_CASE("the MMU's walk from the root reaches the frames the faults installed", "[ops][checker]") {
    auto spec = GENERATE(from_range(all_configs()));
    INFO(spec);
    Env env(spec);
    AddressSpace& as = env.as;
    REQUIRE(as.map(Gva(3 * GiB - 4096), 8192, Prot::Read | Prot::Write, MapFlags::Private | MapFlags::Fixed).ok());
    for (uint64_t va : {3 * GiB - 4096, 3 * GiB}) {
        REQUIRE(as.fault(Gva(va), Access::Write).kind == FaultKind::Installed);
        uint64_t* e = hw_walk(as, va);
        REQUIRE(e);
        CHECK(*e == as.pte_at(Gva(va)));
        CHECK((*e & pte::kAddrMask) != 0);
        CHECK((*e & ~pte::kAddrMask & ~(pte::kNoExec | 0xfffull)) == 0);  // only architectural bits
    }
}

TEST_CASE("the checker reports a present PTE outside every extent (I1)", "[ops][checker]") {
    auto spec = GENERATE(from_range(all_configs()));
    INFO(spec);
    Env env(spec);
    AddressSpace& as = env.as;
    REQUIRE(as.map(Gva(1 * GiB), 8192, Prot::Read, MapFlags::Private | MapFlags::Fixed).ok());
    REQUIRE(as.fault(Gva(1 * GiB), Access::Read).kind == FaultKind::Installed);
    require_consistent(as);
    uint64_t* e = hw_walk(as, 1 * GiB);
    REQUIRE(e);
    uint64_t saved = *e;
    *e |= pte::kWrite;  // writable PTE in a read-only extent
    CHECK(as.check().broken == Invariant::I1_PteInsideExtent);
    *e = saved;
    require_consistent(as);
    e[2] = saved;  // a stray PTE two pages further, where nothing is mapped
    CHECK(as.check().broken == Invariant::I1_PteInsideExtent);
    e[2] = 0;
    require_consistent(as);
}

TEST_CASE("the checker reports an upper-level entry that disagrees with its descriptor (I4)", "[ops][checker]") {
    auto spec = GENERATE(from_range(all_configs()));
    INFO(spec);
    Env env(spec);
    AddressSpace& as = env.as;
    REQUIRE(as.map(Gva(1 * GiB), 8192, Prot::Read, MapFlags::Private | MapFlags::Fixed).ok());
    REQUIRE(as.fault(Gva(1 * GiB), Access::Read).kind == FaultKind::Installed);
    auto* root = static_cast<uint64_t*>(as.platform().phys_to_virt(as.root_table_phys()));
    uint64_t saved = root[0];
    root[0] ^= 1ull << 12;  // points at the wrong frame
    CHECK(as.check().broken == Invariant::I4_TableStructure);
    root[0] = saved;
    root[3] = saved;  // an entry with no descriptor behind it
    CHECK(as.check().broken == Invariant::I4_TableStructure);
    root[3] = 0;
    require_consistent(as);
}
