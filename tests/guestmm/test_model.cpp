// Model-based randomized test: random operation sequences from fixed seeds,
// compared after every step with a page-by-page reference model, with the
// consistency check after every step.
#include <random>

#include "test_support.h"

using namespace gmm;
using namespace gmm::mm;
using namespace gmm::mm::test;

namespace {

constexpr uint64_t kLo = 1 * GiB - 8 * MiB;  // straddles 2 MiB windows and a 1 GiB boundary
constexpr uint64_t kHi = 1 * GiB + 8 * MiB;
constexpr uint64_t kPages = (kHi - kLo) / kPageSize;

struct PageModel {
    bool mapped = false;
    Prot prot = Prot::None;
    bool shared = false;
    int object = -1;  // -1 anonymous, else file index
    uint64_t page_index = 0;
    uint8_t value = 0;  // first byte of an anonymous page (0 until written)
};

struct Model {
    std::vector<PageModel> pages = std::vector<PageModel>(kPages);
    PageModel& at(uint64_t va) { return pages[(va - kLo) / kPageSize]; }
};

struct Rig {
    Env env;
    std::vector<std::unique_ptr<TestFile>> files;
    Model model;
    std::mt19937_64 rng;

    Rig(const std::string& spec, uint64_t seed) : env(spec, make_range(), false), rng(seed) {
        for (int i = 0; i < 2; ++i) {
            files.push_back(std::make_unique<TestFile>(env.platform, 8192));
            for (uint64_t p = 0; p < 8192; ++p) files.back()->make_resident(p);
        }
    }
    ~Rig() {
        env.as.destroy();  // before the files go
    }
    static Options make_range() {
        Options o;
        o.user_start = Gva(kLo);
        o.user_end = Gva(kHi);
        return o;
    }
    uint64_t rnd(uint64_t n) { return rng() % n; }
    // Random page-aligned sub-range; biased towards window boundaries.
    std::pair<uint64_t, uint64_t> range() {
        uint64_t s, len;
        if (rnd(3) == 0) {
            uint64_t w = kLo + rnd((kHi - kLo) / (2 * MiB)) * 2 * MiB;
            s = w + (rnd(2) ? 0 : (rnd(8) * kPageSize)) - (rnd(2) ? 0 : rnd(8) * kPageSize);
            if (s < kLo) s = kLo;
        } else {
            s = kLo + rnd(kPages) * kPageSize;
        }
        uint64_t max = (kHi - s) / kPageSize;
        len = (1 + rnd(rnd(4) == 0 ? max : std::min<uint64_t>(max, 1024))) * kPageSize;
        return {s, len};
    }
    Prot prot() { return Prot(rnd(8)); }

    void apply_map(uint64_t s, uint64_t len, Prot p, bool shared, int obj, uint64_t pi) {
        for (uint64_t off = 0; off < len; off += kPageSize) {
            PageModel& m = model.at(s + off);
            m = PageModel{true, p, shared, obj, obj >= 0 ? pi + off / kPageSize : 0, 0};
        }
    }

    void compare() {
        require_consistent(env.as);
        std::vector<MappingInfo> want;
        for (uint64_t i = 0; i < kPages; ++i) {
            const PageModel& m = model.pages[i];
            if (!m.mapped) continue;
            uint64_t va = kLo + i * kPageSize;
            BackingObject* o = m.object >= 0 ? files[m.object].get() : nullptr;
            if (!want.empty()) {
                MappingInfo& w = want.back();
                uint64_t pages = (w.end.value() - w.start.value()) / kPageSize;
                if (w.end.value() == va && w.prot == m.prot && w.shared == m.shared && w.object == o &&
                    (!o || w.page_index + pages == m.page_index)) {
                    w.end = Gva(va + kPageSize);
                    continue;
                }
            }
            want.push_back(MappingInfo{Gva(va), Gva(va + kPageSize), m.prot, m.shared, o, m.page_index});
        }
        auto got = mappings(env.as, Gva(kLo), Gva(kHi));
        REQUIRE(got.size() == want.size());
        for (size_t i = 0; i < got.size(); ++i) {
            INFO("mapping " << i << " at " << std::hex << want[i].start.value());
            REQUIRE(got[i].start == want[i].start);
            REQUIRE(got[i].end == want[i].end);
            REQUIRE(got[i].prot == want[i].prot);
            REQUIRE(got[i].shared == want[i].shared);
            REQUIRE(got[i].object == want[i].object);
            REQUIRE(got[i].page_index == want[i].page_index);
        }
        for (auto& f : files) REQUIRE(f->refs.load() == int64_t(env.as.references_to(f.get())));
    }

    void step() {
        AddressSpace& as = env.as;
        switch (rnd(10)) {
        case 0:
        case 1: {  // fixed map
            auto [s, len] = range();
            Prot p = prot();
            int obj = rnd(3) == 0 ? int(rnd(2)) : -1;
            bool shared = obj >= 0 && rnd(2);
            uint64_t pi = obj >= 0 ? rnd(64) : 0;
            auto r = as.map(Gva(s), len, p, (shared ? MapFlags::Shared : MapFlags::Private) | MapFlags::Fixed,
                            obj >= 0 ? files[obj].get() : nullptr, pi);
            REQUIRE(r.ok());
            apply_map(s, len, p, shared, obj, pi);
            break;
        }
        case 2: {  // hint map (anonymous)
            uint64_t len = (1 + rnd(rnd(2) ? 16 : 700)) * kPageSize;
            uint64_t hint = rnd(2) ? kLo + rnd(kPages) * kPageSize : 0;
            auto r = as.map(Gva(hint), len, Prot::Read | Prot::Write, MapFlags::Private);
            if (r.ok()) {
                uint64_t s = r->value();
                REQUIRE(s >= kLo);
                REQUIRE(s + len <= kHi);
                for (uint64_t off = 0; off < len; off += kPageSize) REQUIRE(!model.at(s + off).mapped);
                apply_map(s, len, Prot::Read | Prot::Write, false, -1, 0);
            } else {
                REQUIRE(r.error() == Errno::NoMem);
                uint64_t run = 0, best = 0;  // no free run of that size exists
                for (auto& m : model.pages) best = std::max(best, run = m.mapped ? 0 : run + 1);
                REQUIRE(best * kPageSize < len);
            }
            break;
        }
        case 3:
        case 4: {  // unmap
            auto [s, len] = range();
            REQUIRE(as.unmap(Gva(s), len).ok());
            for (uint64_t off = 0; off < len; off += kPageSize) model.at(s + off) = PageModel{};
            break;
        }
        case 5: {  // protect
            auto [s, len] = range();
            Prot p = prot();
            bool all = true;
            for (uint64_t off = 0; off < len; off += kPageSize) all = all && model.at(s + off).mapped;
            auto st = as.protect(Gva(s), len, p);
            REQUIRE(st.ok() == all);
            if (all)
                for (uint64_t off = 0; off < len; off += kPageSize) model.at(s + off).prot = p;
            else
                REQUIRE(st.error() == Errno::NoMem);
            break;
        }
        default: {  // faults, with data checks
            for (int k = 0; k < 8; ++k) {
                uint64_t va = kLo + rnd(kPages) * kPageSize;
                Access a = Access(rnd(3));
                PageModel& m = model.at(va);
                FaultResult f = as.fault(Gva(va), a);
                if (!m.mapped) {
                    REQUIRE(f.kind == FaultKind::Segv);
                    REQUIRE(f.segv == SegvReason::NotMapped);
                    continue;
                }
                if (!pte::prot_allows(m.prot, a)) {
                    REQUIRE(f.kind == FaultKind::Segv);
                    REQUIRE(f.segv == SegvReason::AccessDenied);
                    continue;
                }
                REQUIRE(f.kind == FaultKind::Installed);
                REQUIRE(pte::permits(as.pte_at(Gva(va)), a));
                uint8_t* page = page_of(as, Gva(va));
                REQUIRE(page);
                uint8_t expect = m.object >= 0 ? uint8_t(0x40 + m.page_index % 64) : m.value;
                REQUIRE(page[0] == expect);
                if (a == Access::Write && m.object < 0) {
                    m.value = uint8_t(1 + rnd(250));
                    page[0] = m.value;
                }
            }
        }
        }
    }
};

}  // namespace

TEST_CASE("random operation sequences match the reference model for every policy", "[model]") {
    auto spec = GENERATE(from_range(all_configs()));
    for (uint64_t seed = 1; seed <= 12; ++seed) {
        INFO(spec << " seed " << seed);
        Rig rig(spec, seed * 7919);
        for (int i = 0; i < 250; ++i) {
            INFO("step " << i);
            rig.step();
            rig.compare();
        }
        rig.env.as.trim_quiescent();
        rig.compare();
    }
}
