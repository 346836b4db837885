// --mm POLICY for the memory-manager workloads and storms: the canonical text
// and the guest's bootargs. Shared by gmm run and gmm storm.
#pragma once

#include <string>

#include "gmm/result.h"

namespace gmm::cli {

struct MmPolicy {
    std::string canonical;  // "extents,placement=leaf,freecache=global"
    std::string bootargs;   // "mm=extents placement=leaf freecache=none" (guestmm's names)
};

// global | extents[,placement=leaf|hier][,freecache=global|percpu]; knobs are extents-only.
// The error names the bad text and what is accepted.
gmm::Result<MmPolicy, std::string> parse_mm_policy(const std::string& text);

}  // namespace gmm::cli
