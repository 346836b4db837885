// Physical frames: every frame handed out reads as zero, and the kernel never
// clears one (clearing a page in emulated ring 0 costs 150 us to 2.5 ms).
//  - Fresh frames come from a bump pointer over never-written RAM.
//  - Freed frames are batched per CPU; a full batch goes to the VMM in one
//    FREE_FRAMES ucall, which punches holes in the RAM memfd (the frames read
//    as zero again), and only then are they reusable (per-CPU clean cache,
//    overflow to a shared pool).
// Metadata (abi/gmm/abi/frames.h) lives in an array at the start of free RAM;
// all-zero = free and zero, so it needs no initialisation pass.
#pragma once

#include <stdint.h>

#include "gmm/abi/frames.h"
#include "gmm/addr.h"

namespace gmm::kernel {

void frame_alloc_init(Gpa free_start, Gpa free_end);
// A zero-filled 4 KiB frame; asserts when RAM is exhausted.
Gpa frame_alloc_zeroed();
// Same, but false instead of asserting.
bool frame_try_alloc_zeroed(Gpa& out);
// Returns a frame whose contents may be dirty; it is reused only after the VMM zeroed it.
void frame_free(Gpa frame);
// Checker bookkeeping (abi/gmm/abi/frames.h): GMM_FRAME_F_* flags of an
// allocated frame, and its count of user PTEs. The mapcount is atomic: a file
// page may be mapped through two page tables under different locks.
void frame_set_flags(Gpa frame, uint8_t flags);
void frame_mapcount_add(Gpa frame, int32_t delta);
// GMM_FRAME_F_DIRTY of a page-cache frame (atomic; set under a PTL, taken by writeback).
void frame_mark_dirty(Gpa frame);
bool frame_take_dirty(Gpa frame);  // clears it; true if it was set
// Where the shared pool's lock word lives (for the checker's I8).
uint64_t frame_pool_lock_gva();
// Sends this CPU's pending dirty batch to the VMM now.
void frame_flush_dirty();

struct FrameStats {
    uint64_t meta_gpa, meta_count, first_managed_gpa;
    uint64_t recycled_allocs;  // allocations served by frames freed before (zeroed by the VMM)
    uint64_t free_frames_calls, frames_released;
};
FrameStats frame_stats();

}  // namespace gmm::kernel
