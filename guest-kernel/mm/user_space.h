// The user address space under test: one guestmm AddressSpace shared by every
// user thread (threads of one process), with the policy from bootargs
// (`mm=global|extents placement=leaf|hier freecache=none|percpu`).
// Its first mappings: the user runtime image (a shared mapping of a backing
// object whose pages ARE the image's frames: no copy), a parameter page and
// one stack per thread (anonymous, with an unmapped guard page below).
#pragma once

#include <stdint.h>

#include "bootargs.h"
#include "gmm/addr.h"
#include "guestmm/address_space.h"
#include "guestmm/pte.h"

namespace gmm::kernel {

constexpr uint64_t kMmParamsGva = 0x10000000;        // 256 MiB: one page of MmParams
constexpr uint64_t kMmStacksGva = 0x20000000;        // 512 MiB: stacks, kMmStackStride apart
constexpr uint64_t kMmStackBytes = 16 * kPageSize;   // faulted in on first touch
constexpr uint64_t kMmStackStrideBytes = kMmStackBytes + kPageSize;  // + guard

// CPU 0 before release: init the space with the policy from `args`, map the
// image, the parameter page (faulted in, returned for the caller to fill) and
// `threads` stacks. Asserts on failure.
void* mm_space_build(const BootArgs& args, uint32_t threads);
// Maps `bytes` (page-aligned) of reserved guest RAM at `gpa` into the user
// space at `va` as a shared mapping of a backing object whose pages are those
// frames (no copy), read-only or read-write. At most kMaxReservedMappings;
// asserts on failure. CPU 0 before release (storms: the blob and results area).
constexpr uint32_t kMaxReservedMappings = 4;
void mm_map_reserved(Gva va, Gpa gpa, uint64_t bytes, bool writable);
// Records the planted test bug (inject=) in the published roots.
void mm_roots_set_inject(uint64_t which);
// Inline: read on every page fault.
extern mm::AddressSpace* g_mm_space;
inline bool mm_space_ready() { return g_mm_space != nullptr; }
inline mm::AddressSpace& mm_space() { return *g_mm_space; }
uint64_t mm_space_cr3();
Gva mm_stack_top(uint32_t thread);

// Translates a user address of the mm space to a kernel pointer (present, user
// PTE; faults the page in first if it is mapped but not yet present and
// `fault_in`). Null if not accessible.
void* mm_user_ptr(Gva va, bool write, bool fault_in);
// Copies [src, src + len) of the mm space to `out`, a page at a time
// (faulting pages in). False, with `out` partly written, if any byte is not
// readable user memory or the range wraps.
bool mm_copy_from_user(Gva src, uint64_t len, char* out);

// PTL tracking through guestmm's lock hooks (test support): while enabled on a
// CPU, every page-table lock it acquires is recorded (distinct addresses).
void mm_ptl_track_install();
void mm_ptl_track(bool on);
struct PtlTrackResult {
    uint64_t distinct;      // distinct PTLs this CPU took while tracking
    uint64_t shared;        // of those, how many another CPU also took
    uint64_t acquisitions;  // total acquisitions while tracking
    uint64_t overflow;      // addresses not recorded (table full)
};
PtlTrackResult mm_ptl_track_result(uint32_t cpu, uint32_t cpu_count);

}  // namespace gmm::kernel
