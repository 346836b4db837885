// The storm runner (docs/storms.md "Runner"): executes the programs the host
// compiled (abi/gmm/abi/storm.h) at native speed in ring 3, one thread per
// vCPU, and fills in the results area the host reads.
#pragma once

#include <stdint.h>

#include "gmm/abi/storm.h"
#include "storm_validate.h"
#include "user_abi.h"

namespace gmm::user {

// Mode::Storm: the main thread (vCPU 0). Validates the blob, pre-maps the
// regions, starts the pinned threads, runs the one on vCPU 0 (if any), joins,
// and EXITs with 0 (no failure), 1 (failures), 3 (invalid blob) or 4 (setup failed).
[[noreturn]] void storm_main(uint64_t params_gva);

// Shared by storm_runner.cpp and storm_exec.cpp.
struct StormRun {
    StormView view;
    gmm_storm_results* results = nullptr;
    const MmParams* params = nullptr;
    uint64_t tsc_per_us = 1;
    bool stop_on_failure = false;
    uint64_t fd[GMM_STORM_MAX_FILES] = {};  // files[i] opened: its fd (= its index in the disk's table)
};
extern StormRun g_storm;

// Runs thread `index`'s program once (its status and stats in the results area).
void storm_run_thread(uint32_t index);
// The current base of region `index` (fixed address, or where its last map landed).
uint64_t storm_region_base(uint32_t index);
void storm_set_region_base(uint32_t index, uint64_t base);

// What a file region's last map put where (for VERIFY reads). A writer
// brackets each map/unmap of a file region with storm_file_change_begin/end;
// a reader trusts a page's expected identity only if no change was running
// or happened around its read (storm_exec.cpp).
uint64_t storm_file_change_begin(uint32_t region);  // returns the token for _end
// mapped: the mmap succeeded and [offset, offset + length) of the region now
// shows file `file` from file offset `file_offset`; !mapped (unmap, failure):
// nothing is known. Also nothing when another change overlapped this one.
void storm_file_change_end(uint32_t region, uint64_t token, bool mapped, uint64_t offset, uint64_t length,
                           uint32_t file, uint64_t file_offset);
// mmap flags of a region (private/shared, anonymous unless a file region).
uint64_t storm_region_map_flags(uint32_t region);

// Thread entry for THREAD_CREATE (arg = thread index): registers SEGV recovery, runs, exits.
[[noreturn]] void storm_thread_entry(uint64_t index, uint64_t);

}  // namespace gmm::user
