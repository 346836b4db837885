// A synthetic guest memory-manager state written straight into a guest-RAM
// image (GPA 0 = image[0]) the way the guest kernel lays it out
// (abi/gmm/abi/mmstate.h, frames.h): roots, page tables with descriptors and
// child arrays, extents or VMAs, the free-range treap, per-CPU free chunks,
// locks, the safepoint block and the frame metadata array. Everything is
// consistent, so check_mm over it reports no violation and counts exactly
// `BuiltGuest::expected`. The fuzz target corrupts such images; the checker
// speed benchmark builds a 1 GiB one.
#pragma once

#include <cstdint>
#include <vector>

#include "checker.h"
#include "gmm/abi/boot.h"
#include "gmm/abi/mmstate.h"

namespace gmm::check::synth {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kRootsGpa = 0x1000;
constexpr uint64_t kUserStart = 0x10000;
constexpr uint64_t kUserEnd = 0x7ffffffff000;
// Per-CPU free chunks (freecache=percpu) sit at the top of the user range.
constexpr uint64_t kChunkBytes = 1ull << 20;
constexpr uint64_t kMappableEnd = kUserEnd - GMM_MAX_VCPUS * kChunkBytes;

struct MappingSpec {
    uint64_t start = 0, length = 0;  // page-aligned, inside [kUserStart, kMappableEnd)
    uint32_t prot = 3;               // PROT_READ 1 | PROT_WRITE 2 | PROT_EXEC 4; 0 = PROT_NONE
    bool shared = false;
    uint32_t file = 0;               // 0 = anonymous; else a file id (file pages may be mapped twice)
    uint64_t page_index = 0;         // file page at `start`
    uint32_t fault_stride = 1;       // a PTE on every n-th page (0: none)
};

struct GuestSpec {
    uint32_t policy = GMM_MM_POLICY_EXTENTS;
    uint32_t placement = GMM_MM_PLACEMENT_LEAF;
    uint32_t freecache = GMM_MM_FREECACHE_NONE;
    uint32_t cpus = 1;           // 1..64
    bool kernel_window = false;  // metadata pointers via the kernel-image window (below 1 GiB), not the direct map
    std::vector<MappingSpec> mappings;  // sorted by start, non-overlapping
};

struct Region {  // one structure the builder wrote
    uint64_t gpa = 0;
    uint64_t bytes = 0;
};

struct BuiltGuest {
    uint64_t roots_gpa = kRootsGpa;
    size_t mappings_built = 0;     // how many spec mappings were built
    uint64_t root_table_gpa = 0;   // the PML4 page
    CheckStats expected;           // what check_mm counts on this state
    std::vector<Region> objects;   // every structure written (targets for fuzz corruption)
};

// `image` holds `pages` (>= 16) zero pages at GPA 0. Mappings that do not fit
// in the image are dropped from the end; invalid ones are skipped.
BuiltGuest build_guest(uint8_t* image, uint64_t pages, const GuestSpec& spec);

}  // namespace gmm::check::synth
