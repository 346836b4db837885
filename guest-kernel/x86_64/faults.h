// Deliberate kernel-mode exceptions for the `exception` workload. Each trigger
// faults at a global label whose address the workload reports first as
// `expected_rip`.
#pragma once

#include <stdint.h>

namespace gmm::kernel::x86 {

struct FaultTrigger {
    uint64_t expected_rip;      // address of the faulting instruction
    void (*trigger)();          // never returns (the exception stops the CPU)
};

// vector ∈ {0 #DE, 6 #UD, 13 #GP, 14 #PF}; false for others.
bool kernel_fault_trigger(uint64_t vector, FaultTrigger& out);

}  // namespace gmm::kernel::x86
