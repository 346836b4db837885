// The host-side invariant checker (issue 6; docs/checker.md): decodes the
// guest memory manager's state from guest RAM through a GuestView and checks
// invariants I1-I5 and I8 (I6 second stage: second_stage.h; I7 dirty frames:
// dirty_frames.h). Corrupt guest state yields violations, never a crash.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gmm/abi/frames.h"
#include "gmm/result.h"
#include "guest_view.h"

namespace gmm::check {

enum class CheckMode {
    Safepoint,  // every vCPU parked outside the memory manager: everything is checked exactly
    Async,      // vCPUs stopped anywhere: only state whose lock is free is checked
};
const char* check_mode_name(CheckMode m);

struct Violation {
    std::string invariant;  // "I1" .. "I8"
    uint64_t gva = 0;
    uint64_t gpa = 0;
    uint64_t pte = 0;       // entry bits, when an entry is involved
    int level = 0;          // page-table level of that entry (1 = PT), 0 = none
    std::string mapping;    // the extent or VMA involved, if any
    int cpu = -1;           // the CPU involved, if any
    std::string detail;
};

struct CheckStats {
    uint64_t tables = 0;
    uint64_t ptes = 0;         // non-zero leaf entries examined
    uint64_t mappings = 0;     // extents (extents policy) or VMAs (global)
    uint64_t free_ranges = 0;  // tree nodes plus per-CPU chunks
    uint64_t frames = 0;       // frame metadata records examined
    // I6 (filled by the host tool that can read the VMM's pagemap).
    uint64_t host_pages_populated = 0;    // present or swapped
    uint64_t host_pages_unpopulated = 0;  // not touched since zeroed (not a violation)
};

struct CheckResult {
    std::vector<Violation> violations;
    uint64_t violations_dropped = 0;   // beyond kMaxViolations
    std::vector<std::string> skipped;  // what could not be checked, and why
    CheckStats stats;
    // For the second-stage (I6) and dirty-frame (I7) checks.
    std::vector<uint64_t> mapped_frames;  // distinct GPAs of present user PTEs
    std::vector<gmm_frame_meta> frames;   // the frame metadata array as read
    uint64_t safepoint_gpa = 0;
    uint32_t checks_done = 0;             // the guest-visible check counter as read
    uint64_t inject = 0;                  // planted bug of a test boot (0 = none)
};
constexpr size_t kMaxViolations = 1000;

struct CheckInput {
    const GuestView* view = nullptr;
    uint64_t roots_gpa = 0;   // where the guest published struct gmm_mm_roots
    CheckMode mode = CheckMode::Safepoint;
    uint32_t vcpus = 0;       // live vCPUs, as the host knows them
};

// Errors only when there is nothing to check (no valid roots block);
// everything wrong beyond the roots is a violation.
Result<CheckResult, std::string> check_mm(const CheckInput& in);

// Adds a violation unless the cap is reached.
void add_violation(CheckResult& r, Violation v);

}  // namespace gmm::check
