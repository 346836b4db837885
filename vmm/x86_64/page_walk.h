// Host-side 4-level page-table walk over guest memory, for diagnostics (exit
// reports) and tests. Every table read goes through the bounds-checked
// translator: an entry that points outside RAM is reported, never followed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gmm/addr.h"
#include "guest_memory.h"

namespace gmm::vmm::x86_64 {

struct PteFlags {
    bool p, rw, us, pwt, pcd, a, d, ps, g, nx;
};
PteFlags decode_pte_flags(uint64_t entry);
// "P RW US A D PS G NX": the set flags, in that order.
std::string format_pte_flags(const PteFlags& f);

struct WalkStep {
    int level;            // 4 = PML4, 3 = PDPT, 2 = PD, 1 = PT
    uint32_t index;       // 0..511
    Gpa entry_gpa;        // where the entry lives
    uint64_t entry;       // its raw value
    PteFlags flags;
    bool leaf;            // maps a page (PS at level 3/2, or level 1)
    Gpa next;             // next table, or the page frame for a leaf (valid when flags.p)
};

enum class WalkOutcome {
    Mapped,          // gpa / page_size_bytes are valid
    NotPresent,      // the last step's entry has P = 0
    NonCanonical,    // bits 63:47 are not a sign extension: no step taken
    TableOutsideRam, // a table (CR3 or an entry's target) is not in guest RAM; see bad_table
    ReservedPs,      // PS set in a PML4 entry
};

struct Walk {
    Gva gva;
    Gpa cr3;                      // PML4 GPA as walked (low 12 bits cleared)
    WalkOutcome outcome = WalkOutcome::NotPresent;
    std::vector<WalkStep> steps;  // in walk order, PML4 first
    Gpa bad_table;                // TableOutsideRam: the table's GPA
    // Mapped only:
    Gpa gpa;
    uint64_t page_size_bytes = 0;
    bool frame_in_ram = false;    // false for e.g. MMIO mappings
    bool writable = false;        // RW at every level
    bool user = false;            // US at every level
    bool executable = false;      // NX at no level
};

constexpr bool is_canonical(Gva gva) {
    const uint64_t top = gva.value() >> 47;
    return top == 0 || top == 0x1ffff;
}

// `cr3` may carry PCD/PWT/PCID bits; only bits 51:12 are used.
Walk walk_page_tables(const GuestMemory& mem, Gpa cr3, Gva gva);

// Human-readable, one line per step, each indented 4 spaces, ending in '\n'.
std::string format_walk(const Walk& walk);

}  // namespace gmm::vmm::x86_64
