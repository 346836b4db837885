// Validation of a storm blob (abi/gmm/abi/storm.h) before the runner executes
// any of it. The host wrote it, but the runner trusts nothing it did not
// check: sizes, magic, version, counts, every file, region, thread, barrier and op,
// loop nesting. Freestanding (no libc, no struct copies); the host unit tests
// compile this file too, against blobs from stormc and corrupted ones.
#pragma once

#include <stdint.h>

#include "gmm/abi/storm.h"

namespace gmm::user {

struct StormView {
    const gmm_storm_header* header = nullptr;
    const gmm_storm_region* regions = nullptr;
    const gmm_storm_thread* threads = nullptr;
    const gmm_storm_barrier* barriers = nullptr;
    const gmm_storm_file* files = nullptr;
    const gmm_storm_op* ops = nullptr;
};

struct StormCheck {
    uint32_t code = GMM_STORM_INVALID_NONE;  // enum gmm_storm_invalid
    uint32_t index = 0;                      // region / thread / barrier / op it concerns
    bool ok() const { return code == GMM_STORM_INVALID_NONE; }
};

// `blob` has `mapped_bytes` readable bytes (8-byte aligned); the guest has
// `vcpus` vCPUs. On success `view` points into the blob.
StormCheck storm_validate(const void* blob, uint64_t mapped_bytes, uint32_t vcpus, StormView& view);

}  // namespace gmm::user
