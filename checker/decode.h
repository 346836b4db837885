// The guest memory manager's state, decoded from guest RAM with every pointer,
// index and count checked (internal to the checker). Structural problems met
// while decoding are recorded as violations right away.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "checker.h"
#include "gmm/abi/mmstate.h"

namespace gmm::check {

struct LockInfo {
    std::string name;
    bool held = false;
    uint8_t last_cpu = 0xff;
};

struct Table {
    uint64_t desc_gva = 0;
    uint64_t table_gpa = 0;
    uint64_t children_gpa = 0;  // 0 for leaves
    int level = 0;
    uint64_t base = 0;
    uint16_t used = 0;
    bool ptl_held = false;
    uint8_t ptl_last_cpu = 0xff;
    int parent = -1;  // index in Snapshot::tables
    std::vector<uint64_t> entries;  // the hardware page (512)
};

struct Mapping {  // an extent fragment or a VMA
    uint64_t start = 0, end = 0, object = 0, page_index = 0, generation = 0;
    uint32_t prot = 0;
    bool shared = false;
    uint64_t node_gva = 0;
    int table = -1;  // owning table (extents policy); -1 for VMAs
};
std::string describe(const Mapping& m, const std::vector<Table>& tables);

struct LeafEntry {
    uint64_t gva = 0;
    uint64_t pte = 0;
    int table = -1;
};

struct Snapshot {
    gmm_mm_roots roots{};
    gmm_safepoint safepoint{};
    bool have_safepoint = false;
    std::vector<Table> tables;
    std::vector<LeafEntry> leaves;
    std::vector<Mapping> mappings;  // extents policy: all fragments; global: VMAs in order
    bool vmas_complete = true;      // global: the tree decoded without error
    std::vector<std::pair<uint64_t, uint64_t>> free_ranges;
    bool free_complete = true;
    std::vector<LockInfo> locks;    // everything but PTLs (those are on Table)
    bool mm_lock_write_held = false;
    bool mm_lock_read_held = false;
    bool free_locks_held = false;
    uint32_t busy_count = 0;
    std::vector<gmm_frame_meta> frames;
};

// Limits that bound the decoder's work on corrupt state.
constexpr uint64_t kMaxTables = 1u << 20;
constexpr uint64_t kMaxNodes = 1u << 22;

// Fills `s` from the roots at in.roots_gpa; errors only when the roots block is unusable.
Result<bool, std::string> decode(const CheckInput& in, Snapshot& s, CheckResult& r);

}  // namespace gmm::check
