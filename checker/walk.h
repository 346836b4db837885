// The guest's first-stage walk of one address, from a root table GPA, read
// through a GuestView (the host-side half of `gmm check --walk`).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "guest_view.h"

namespace gmm::check {

struct WalkStep {
    int level = 0;          // 4 = PML4 .. 1 = PT
    unsigned index = 0;     // slot in that table
    uint64_t table_gpa = 0;
    uint64_t entry = 0;
};

struct WalkResult {
    std::vector<WalkStep> steps;
    bool mapped = false;    // a present leaf was reached
    uint64_t gpa = 0;       // the byte's guest-physical address when mapped
    std::string stopped;    // why the walk ended early, if it did
};

WalkResult walk_gva(const GuestView& view, uint64_t root_table_gpa, uint64_t gva);
// "P W U A D NX ..." for an entry.
std::string entry_flags(uint64_t entry);

}  // namespace gmm::check
