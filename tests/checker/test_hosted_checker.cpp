// The host checker against hosted guestmm address spaces: clean spaces pass
// in both modes, and each planted corruption is reported under exactly the
// invariant it breaks. No KVM needed.
#include <random>

#include "hosted_fixture.h"

using namespace gmm;
using namespace gmm::check;
using namespace gmm::check::test;
using mm::Access;
using mm::MapFlags;
using mm::Prot;

namespace {

constexpr uint64_t kPage = 4096;

// A space with a few mappings, faults, a partial unmap and a protect.
uint64_t populate(Hosted& h) {
    auto& as = h.env.as;
    auto a = as.map(Gva(0), 4 * MiB, Prot::Read | Prot::Write, MapFlags::Private);
    REQUIRE(a.ok());
    const uint64_t base = a->value();
    for (uint64_t off = 0; off < 4 * MiB; off += 64 * kPage) REQUIRE(as.fault(Gva(base + off), Access::Write).kind == mm::FaultKind::Installed);
    REQUIRE(as.unmap(Gva(base + MiB), 256 * kPage).ok());
    REQUIRE(as.protect(Gva(base + 2 * MiB), 64 * kPage, Prot::Read).ok());
    auto b = as.map(Gva(0), 64 * kPage, Prot::Read, MapFlags::Private);
    REQUIRE(b.ok());
    REQUIRE(as.fault(*b, Access::Read).kind == mm::FaultKind::Installed);
    return base;
}

}  // namespace

TEST_CASE("a clean hosted address space has no violations in either mode", "[checker]") {
    for (const std::string& spec : mm::test::all_configs()) {
        INFO(spec);
        Hosted h(spec);
        populate(h);
        mm::test::require_consistent(h.env.as);
        for (CheckMode m : {CheckMode::Safepoint, CheckMode::Async}) {
            CheckResult r = h.check(m);
            INFO(dump(r));
            CHECK(r.violations.empty());
            CHECK(r.stats.tables >= 4);
            CHECK(r.stats.ptes > 0);
            CHECK(r.stats.mappings > 0);
            CHECK(r.stats.free_ranges > 0);
        }
    }
}

TEST_CASE("a PTE left behind after munmap is I1", "[checker]") {
    for (const std::string& spec : mm::test::all_configs()) {
        INFO(spec);
        Hosted h(spec);
        const uint64_t base = populate(h);
        h.refresh_roots();
        gmm_ptdesc* leaf = h.leaf_for(base);
        const uint64_t old = h.pte(leaf, base);
        REQUIRE(old != 0);
        REQUIRE(h.env.as.unmap(Gva(base), kPage).ok());
        h.pte(leaf, base) = old;  // the bug: the entry survives
        ++leaf->used;
        CheckResult r = h.check();
        INFO(dump(r));
        CHECK(ids(r) == std::set<std::string>{"I1"});
        REQUIRE(!r.violations.empty());
        CHECK(r.violations[0].gva == base);
        CHECK(r.violations[0].pte == old);
        h.pte(leaf, base) = 0;
        --leaf->used;
    }
}

TEST_CASE("a PTE more permissive than its mapping is I1", "[checker]") {
    for (const std::string& spec : mm::test::all_configs()) {
        INFO(spec);
        Hosted h(spec);
        const uint64_t base = populate(h);
        h.refresh_roots();
        const uint64_t ro = base + 2 * MiB;  // protected read-only by populate()
        gmm_ptdesc* leaf = h.leaf_for(ro);
        uint64_t& e = h.pte(leaf, ro);
        REQUIRE((e & 1) != 0);
        e |= 2;  // writable
        CheckResult r = h.check(CheckMode::Async);
        INFO(dump(r));
        CHECK(ids(r) == std::set<std::string>{"I1"});
        CHECK(r.violations.at(0).mapping.find("r--") != std::string::npos);
        e &= ~uint64_t(2);
    }
}

TEST_CASE("overlapping extents and an extent outside its window are I2", "[checker]") {
    Hosted h("extents");
    auto& as = h.env.as;
    // Two neighbouring mappings that straddle a 2 MiB window boundary.
    auto a = as.map(Gva(64 * MiB - 2 * kPage), 2 * kPage, Prot::Read, MapFlags::Private | MapFlags::Fixed);
    auto b = as.map(Gva(64 * MiB), 2 * kPage, Prot::Read | Prot::Write, MapFlags::Private | MapFlags::Fixed);
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    h.refresh_roots();
    CHECK(h.check().violations.empty());
    SECTION("overlap") {
        REQUIRE(as.map(Gva(64 * MiB + 2 * kPage), 2 * kPage, Prot::Read, MapFlags::Private | MapFlags::Fixed).ok());
        auto* x = reinterpret_cast<gmm_extent*>(h.leaf_for(64 * MiB)->extents);
        REQUIRE(x);
        REQUIRE(x->start == 64 * MiB);
        REQUIRE(x->end == 64 * MiB + 2 * kPage);
        x->end += kPage;  // now overlaps its neighbour's first page
        CheckResult r = h.check();
        INFO(dump(r));
        CHECK(ids(r) == std::set<std::string>{"I2"});
        x->end -= kPage;
    }
    SECTION("outside its window") {
        gmm_ptdesc* right = h.leaf_for(64 * MiB);
        auto* y = reinterpret_cast<gmm_extent*>(right->extents);
        auto* x = reinterpret_cast<gmm_extent*>(h.leaf_for(64 * MiB - kPage)->extents);
        REQUIRE(x);
        REQUIRE(y);
        // Same attributes, then one fragment swallows the other across the boundary.
        y->prot = x->prot;
        y->generation = x->generation;
        const uint64_t saved_list = right->extents;
        right->extents = 0;
        const uint64_t saved_end = x->end;
        x->end = y->end;
        CheckResult r = h.check();
        INFO(dump(r));
        CHECK(ids(r) == std::set<std::string>{"I2"});
        x->end = saved_end;
        right->extents = saved_list;
        y->prot = 3;
    }
}

TEST_CASE("a leaked free range is I3", "[checker]") {
    for (const std::string& spec : mm::test::all_configs()) {
        INFO(spec);
        Hosted h(spec);
        populate(h);
        h.refresh_roots();
        auto* root = *reinterpret_cast<gmm_free_node**>(h.roots.free_root_slot_gva);
        REQUIRE(root);
        REQUIRE(root->end - root->start > kPage);
        root->end -= kPage;  // a page that is neither mapped nor free
        CheckResult r = h.check();
        INFO(dump(r));
        CHECK(ids(r) == std::set<std::string>{"I3"});
        root->end += kPage;
    }
}

TEST_CASE("a lock held at a safepoint is I8; async mode skips what it protects", "[checker]") {
    for (const std::string& spec : mm::test::all_configs()) {
        INFO(spec);
        Hosted h(spec);
        const uint64_t base = populate(h);
        h.refresh_roots();
        gmm_ptdesc* leaf = h.leaf_for(base);
        leaf->ptl.word += 1u << 16;  // taken, never released
        leaf->ptl.last_cpu = 1;
        CheckResult sp = h.check(CheckMode::Safepoint);
        INFO(dump(sp));
        CHECK(ids(sp) == std::set<std::string>{"I8"});
        CHECK(sp.violations.at(0).cpu == 1);
        CheckResult as = h.check(CheckMode::Async);
        INFO(dump(as));
        CHECK(as.violations.empty());
        CHECK(!as.skipped.empty());
        leaf->ptl.last_cpu = 9;  // not a live vCPU: I8 in both modes
        CHECK(ids(h.check(CheckMode::Async)) == std::set<std::string>{"I8"});
        leaf->ptl.word -= 1u << 16;
    }
}

TEST_CASE("corrupt pointers and cycles are violations, not crashes or hangs", "[checker]") {
    Hosted h("extents");
    const uint64_t base = populate(h);
    h.refresh_roots();
    gmm_ptdesc* leaf = h.leaf_for(base);
    auto* x = reinterpret_cast<gmm_extent*>(leaf->extents);
    REQUIRE(x);
    SECTION("extent list cycle") {
        const uint64_t next = x->next;
        x->next = uint64_t(x);
        CHECK(ids(h.check()).count("I2"));
        x->next = next;
    }
    SECTION("wild extent pointer") {
        const uint64_t next = x->next;
        x->next = 0xdead0000beef0000ull;
        CHECK(ids(h.check()).count("I2"));
        x->next = next;
    }
    SECTION("wild child pointer") {
        auto* root = reinterpret_cast<gmm_ptdesc*>(h.roots.root_desc_gva);
        uint64_t* children = reinterpret_cast<uint64_t*>(root->children);
        const unsigned i = unsigned(base >> 39) & 511u;
        const uint64_t saved = children[i];
        children[i] = 0x123456789000ull;
        CHECK(ids(h.check()).count("I5"));
        children[i] = uint64_t(root);  // a cycle back to the root
        CHECK(ids(h.check()).count("I5"));
        children[i] = saved;
    }
    SECTION("bad roots are an error, not a check") {
        h.roots.magic ^= 1;
        HostedView view(h.regions());
        h.roots.magic ^= 1;
        gmm_mm_roots bad = h.roots;
        bad.version = 99;
        CheckInput in{&view, uint64_t(&bad), CheckMode::Safepoint, 2};
        CHECK(!check_mm(in).ok());  // &bad is outside the view's regions anyway
        CheckInput in2{&view, 0x10, CheckMode::Safepoint, 2};
        CHECK(!check_mm(in2).ok());
    }
    CHECK(h.check().violations.empty());
}

TEST_CASE("random corruption of decoded structures never crashes the checker", "[checker]") {
    for (const std::string& spec : {std::string("global"), std::string("extents,placement=hier")}) {
        Hosted h(spec);
        populate(h);
        h.refresh_roots();
        // Bytes the decoder reads: every table descriptor, table page and child array.
        std::vector<std::pair<uint8_t*, size_t>> targets;
        std::vector<gmm_ptdesc*> stack{reinterpret_cast<gmm_ptdesc*>(h.roots.root_desc_gva)};
        while (!stack.empty()) {
            gmm_ptdesc* d = stack.back();
            stack.pop_back();
            targets.push_back({reinterpret_cast<uint8_t*>(d), sizeof *d});
            targets.push_back({reinterpret_cast<uint8_t*>(d->table), 4096});
            if (d->level > 1) {
                auto* c = reinterpret_cast<uint64_t*>(d->children);
                targets.push_back({reinterpret_cast<uint8_t*>(c), 4096});
                for (unsigned i = 0; i < (d->level == 4 ? 256u : 512u); ++i)
                    if (c[i]) stack.push_back(reinterpret_cast<gmm_ptdesc*>(c[i]));
            }
        }
        std::mt19937_64 rng(42);
        uint64_t flagged = 0;
        for (int round = 0; round < 3000; ++round) {
            auto [p, n] = targets[rng() % targets.size()];
            const size_t off = (rng() % n) & ~size_t(7);
            uint64_t saved;
            std::memcpy(&saved, p + off, 8);
            const uint64_t junk = rng() % 3 == 0 ? saved ^ (1ull << (rng() % 64)) : rng();
            std::memcpy(p + off, &junk, 8);
            CheckResult r = h.check(round % 2 ? CheckMode::Async : CheckMode::Safepoint);
            flagged += !r.violations.empty();
            std::memcpy(p + off, &saved, 8);
        }
        INFO(spec << ": " << flagged << " of 3000 corruptions flagged");
        CHECK(flagged > 1000);  // most single-word corruptions of these structures are visible
        CHECK(h.check().violations.empty());
    }
}
