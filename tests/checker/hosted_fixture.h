// A hosted guestmm address space seen through the host checker: the roots
// block, the safepoint block and the platform's frame arenas form the
// "guest RAM" the checker may read (HostedView identity-maps them).
#pragma once

#include <set>
#include <string>

#include "checker.h"
#include "gmm/abi/mmstate.h"
#include "guestmm/test_support.h"

namespace gmm::check::test {

using mm::test::Env;
using mm::test::MiB;

struct Hosted {
    Env env;
    gmm_mm_roots roots{};
    gmm_safepoint safepoint{};
    static constexpr uint32_t kVcpus = 2;

    explicit Hosted(const std::string& spec) : env(spec) {}

    std::vector<RamRegion> regions() {
        refresh_roots();
        std::vector<RamRegion> r;
        for (auto [base, size] : env.platform.arenas()) r.push_back({uint64_t(base), size, base});
        auto add = [&](const void* p, uint64_t n) {
            r.push_back({uint64_t(p), n, static_cast<const uint8_t*>(p)});
        };
        add(&env.as, sizeof env.as);
        add(&roots, sizeof roots);
        add(&safepoint, sizeof safepoint);
        return r;
    }
    void refresh_roots() {
        env.as.describe(roots);
        roots.magic = GMM_MM_ROOTS_MAGIC;
        roots.version = GMM_MMSTATE_ABI_VERSION;
        roots.size_bytes = sizeof roots;
        roots.cpu_count = kVcpus;
        roots.safepoint_gpa = uint64_t(&safepoint);
    }
    CheckResult check(CheckMode mode = CheckMode::Safepoint) {
        HostedView view(regions());
        CheckInput in{&view, uint64_t(&roots), mode, kVcpus};
        auto r = check_mm(in);
        INFO((r.ok() ? std::string() : r.error()));
        REQUIRE(r.ok());
        return *r;
    }
    // Root to leaf through the ABI mirror (hosted pointers are host addresses).
    gmm_ptdesc* leaf_for(uint64_t va) {
        auto* d = reinterpret_cast<gmm_ptdesc*>(roots.root_desc_gva);
        while (d && d->level > 1) {
            const unsigned i = unsigned(va >> (12 + 9 * (d->level - 1))) & 511u;
            d = reinterpret_cast<gmm_ptdesc*>(reinterpret_cast<uint64_t*>(d->children)[i]);
        }
        return d;
    }
    uint64_t& pte(gmm_ptdesc* leaf, uint64_t va) {
        return reinterpret_cast<uint64_t*>(leaf->table)[(va >> 12) & 511u];
    }
};

inline std::set<std::string> ids(const CheckResult& r) {
    std::set<std::string> s;
    for (const Violation& v : r.violations) s.insert(v.invariant);
    return s;
}

inline std::string dump(const CheckResult& r) {
    std::string s;
    for (const Violation& v : r.violations) s += v.invariant + ": " + v.detail + " [" + v.mapping + "]\n";
    for (const std::string& k : r.skipped) s += "skipped: " + k + "\n";
    return s;
}

}  // namespace gmm::check::test
