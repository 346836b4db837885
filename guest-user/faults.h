#pragma once

#include <stdint.h>

namespace gmm::user {

// vector ∈ {0, 6, 13, 14}; reports expected_rip, then faults (no return).
// Exits the thread with status 1 for any other vector.
void raise_fault(uint64_t vector);

}  // namespace gmm::user
