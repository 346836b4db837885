// Validation of the VMM's gmm_boot_info (abi/gmm/abi/boot.h). Anything wrong
// fails a kernel assertion: the host reports file, line and the two values.
#pragma once

#include "gmm/abi/boot.h"
#include "gmm/addr.h"

namespace gmm::kernel {

// Checks magic, ABI version, size and the ranges the kernel relies on; returns
// the structure through the direct map.
const gmm_boot_info& boot_info_validate(Gpa boot_info_gpa, uint32_t cpu_index);

}  // namespace gmm::kernel
