// RadixVM's mapbench patterns in the guest (local, pipeline, global); run by
// the mm runner's measured section (mm_runner.cpp) for MmKind::Mapbench*.
#pragma once

#include <stdint.h>

#include "user_abi.h"

namespace gmm::user {

constexpr bool is_mapbench(MmKind k) {
    return k == MmKind::MapbenchLocal || k == MmKind::MapbenchPipeline || k == MmKind::MapbenchGlobal;
}

// This thread's part of the pattern; returns its ops (pages touched). Counts
// failed system calls in `errors`.
uint64_t mapbench_run(const MmParams& p, uint64_t index, uint64_t& errors);

}  // namespace gmm::user
