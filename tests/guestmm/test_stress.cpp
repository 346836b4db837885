// Multi-threaded stress: host threads doing random map/unmap/protect/fault on
// a shared range and on their own ranges; consistency checked at the end.
// Suite 'stress' (also run under ThreadSanitizer).
#include <random>
#include <thread>

#include "test_support.h"

using namespace gmm;
using namespace gmm::mm;
using namespace gmm::mm::test;

TEST_CASE("concurrent random operations keep every policy consistent", "[stress]") {
    auto spec = GENERATE(from_range(all_configs()));
    INFO(spec);
    Env env(spec);
    AddressSpace& as = env.as;
    TestFile file(env.platform, 1024);
    for (uint64_t p = 0; p < 1024; ++p) file.make_resident(p);
    constexpr int kThreads = 3;
    constexpr uint64_t kShared = 1 * GiB - 4 * MiB;  // shared 8 MiB straddling 1 GiB
    std::vector<std::thread> threads;
    std::atomic<int> data_errors{0};
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            std::mt19937_64 rng(1000 + t);
            auto rnd = [&](uint64_t n) { return rng() % n; };
            const uint64_t own = 8 * GiB + uint64_t(t) * 64 * MiB;  // disjoint per thread
            uint8_t stamp = uint8_t(t + 1);
            for (int i = 0; i < 5000; ++i) {
                bool shared = rnd(2);
                uint64_t base = shared ? kShared : own;
                uint64_t span = shared ? 8 * MiB : 6 * MiB;
                uint64_t s = base + rnd(span / kPageSize) * kPageSize;
                uint64_t len = (1 + rnd(std::min<uint64_t>((base + span - s) / kPageSize, 700))) * kPageSize;
                switch (rnd(8)) {
                case 0: {
                    bool file_backed = shared && rnd(3) == 0;
                    (void)as.map(Gva(s), len, Prot::Read | Prot::Write,
                                 (file_backed ? MapFlags::Shared : MapFlags::Private) | MapFlags::Fixed,
                                 file_backed ? &file : nullptr, 0);
                    break;
                }
                case 1: (void)as.unmap(Gva(s), len); break;
                case 2: (void)as.protect(Gva(s), len, rnd(2) ? Prot::Read : Prot::Read | Prot::Write); break;
                case 3: {
                    auto r = as.map(Gva(0), len, Prot::Read | Prot::Write, MapFlags::Private);
                    if (r.ok()) {
                        (void)as.fault(*r, Access::Write);
                        (void)as.unmap(*r, len);
                    }
                    break;
                }
                default:
                    for (int k = 0; k < 16; ++k) {
                        uint64_t va = base + rnd(span / kPageSize) * kPageSize;
                        FaultResult f = as.fault(Gva(va), rnd(2) ? Access::Write : Access::Read);
                        // Only this thread changes its own range, so its data must stick.
                        if (!shared && f.kind == FaultKind::Installed && pte::permits(as.pte_at(Gva(va)), Access::Write)) {
                            uint8_t* p = page_of(as, Gva(va));
                            p[1] = stamp;
                            if (page_of(as, Gva(va))[1] != stamp) data_errors.fetch_add(1);
                        }
                    }
                }
            }
        });
    }
    for (auto& th : threads) th.join();
    CHECK(data_errors.load() == 0);
    require_consistent(as);
    CHECK(file.refs.load() == int64_t(as.references_to(&file)));
    as.destroy();
    CHECK(file.refs.load() == 0);
}
