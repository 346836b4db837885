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
};
extern StormRun g_storm;

// Runs thread `index`'s program once (its status and stats in the results area).
void storm_run_thread(uint32_t index);
// The current base of region `index` (fixed address, or where its last map landed).
uint64_t storm_region_base(uint32_t index);
void storm_set_region_base(uint32_t index, uint64_t base);

// Thread entry for THREAD_CREATE (arg = thread index): registers SEGV recovery, runs, exits.
[[noreturn]] void storm_thread_entry(uint64_t index, uint64_t);

}  // namespace gmm::user
