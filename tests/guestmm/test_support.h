// Shared helpers for the guestmm hosted tests.
#pragma once

#include <atomic>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "guestmm/address_space.h"
#include "guestmm/host/host_platform.h"
#include "guestmm/pte.h"

namespace gmm::mm::test {

constexpr uint64_t KiB = 1024, MiB = 1024 * KiB, GiB = 1024 * MiB;

// Every policy/knob combination the tests run against.
inline const std::vector<std::string>& all_configs() {
    static const std::vector<std::string> v = {"global", "extents", "extents,placement=hier",
                                               "extents,freecache=percpu",
                                               "extents,placement=hier,freecache=percpu"};
    return v;
}

inline Options parse(const std::string& spec) {
    Options o;
    ParseError e{};
    REQUIRE(parse_options(spec.c_str(), &o, &e));
    return o;
}

struct Env {
    HostPlatform platform;
    AddressSpace as;
    explicit Env(const std::string& spec, Options o = {}, bool use_spec_only = true) {
        Options parsed = parse(spec);
        if (!use_spec_only) {
            parsed.user_start = o.user_start;
            parsed.user_end = o.user_end;
        }
        REQUIRE(as.init(platform, parsed).ok());
    }
    ~Env() {
        as.destroy();
        // Every frame the address space took came back.
        CHECK(platform.frames_in_use() == 0);
    }
};

inline void require_consistent(AddressSpace& as) {
    CheckReport r = as.check();
    INFO(invariant_name(r.broken) << ": " << r.message);
    REQUIRE(r.ok());
}

inline std::vector<MappingInfo> mappings(AddressSpace& as, Gva s = Gva(0), Gva e = Gva(kDefaultUserEnd)) {
    std::vector<MappingInfo> v;
    as.query(s, e, [](const MappingInfo& m, void* ctx) { static_cast<std::vector<MappingInfo>*>(ctx)->push_back(m); },
             &v);
    return v;
}

// The bytes of the page mapped at va, as user code would see them.
inline uint8_t* page_of(AddressSpace& as, Gva va) {
    uint64_t e = as.pte_at(va.align_down(kPageSize));
    if (!pte::present(e)) return nullptr;
    return static_cast<uint8_t*>(as.platform().phys_to_virt(pte::frame_of(e)));
}

// A file whose pages become resident only when the test says so.
struct TestFile : BackingObject {
    HostPlatform* platform;
    std::mutex lock;
    std::map<uint64_t, uint64_t> resident;  // page index -> frame
    std::atomic<int64_t> refs{0};

    static bool lookup_fn(BackingObject* o, uint64_t idx, uint64_t* phys) {
        auto* f = static_cast<TestFile*>(o);
        std::lock_guard<std::mutex> g(f->lock);
        auto it = f->resident.find(idx);
        if (it == f->resident.end()) return false;
        *phys = it->second;
        return true;
    }
    static void get_fn(BackingObject* o) { static_cast<TestFile*>(o)->refs.fetch_add(1); }
    static void put_fn(BackingObject* o) { static_cast<TestFile*>(o)->refs.fetch_sub(1); }
    static constexpr BackingOps kOps{&lookup_fn, &get_fn, &put_fn};

    TestFile(HostPlatform& p, uint64_t pages) : platform(&p) {
        ops = &kOps;
        size_pages = pages;
    }
    ~TestFile() {
        for (auto& [i, f] : resident) platform->free_frame(f);
    }
    // Reads page `idx` "from disk": fills it with a recognisable byte.
    void make_resident(uint64_t idx) {
        std::lock_guard<std::mutex> g(lock);
        if (resident.count(idx)) return;
        uint64_t f = 0;
        REQUIRE(platform->alloc_zeroed_frame(&f));
        std::memset(platform->phys_to_virt(f), int(0x40 + idx % 64), 4096);
        resident[idx] = f;
    }
    void evict(uint64_t idx) {
        std::lock_guard<std::mutex> g(lock);
        auto it = resident.find(idx);
        if (it == resident.end()) return;
        platform->free_frame(it->second);
        resident.erase(it);
    }
};

}  // namespace gmm::mm::test
