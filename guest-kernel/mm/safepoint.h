// Safepoints for the host-side checker (abi/gmm/abi/mmstate.h, docs/checker.md):
// the host asks every vCPU to park where it holds no memory-manager lock, checks
// the address space exactly, then releases them.
//
// A CPU parks when the host's request interrupt (Vector::Safepoint) finds it
// in user mode or in a kernel wait outside any memory-manager operation; an
// interrupt that lands inside an operation (a lock or shootdown wait) leaves a
// pending flag that the return to user mode honours. Parked CPUs wait in HLT
// with interrupts on, so they still acknowledge TLB shootdowns.
#pragma once

#include <stdint.h>

#include "gmm/abi/mmstate.h"
#include "percpu.h"

namespace gmm::kernel {

extern gmm_safepoint g_safepoint;
extern uint32_t g_safepoint_pending[GMM_MAX_VCPUS];

// Marks this CPU as inside a memory-manager operation for its lifetime.
class MmOpScope {
public:
    MmOpScope() : cpu_(this_cpu_index()) { ++g_safepoint.in_mm_op[cpu_]; }
    ~MmOpScope() { --g_safepoint.in_mm_op[cpu_]; }
    MmOpScope(const MmOpScope&) = delete;
    MmOpScope& operator=(const MmOpScope&) = delete;

private:
    uint32_t cpu_;
};

// The request interrupt; `from_user` tells where it landed.
void safepoint_on_interrupt(bool from_user);
// On the way back to user mode: park if a request arrived meanwhile.
inline void safepoint_before_user_return() {
    if (__builtin_expect(g_safepoint_pending[this_cpu_index()] != 0, 0)) safepoint_on_interrupt(true);
}
uint64_t safepoint_gpa();

}  // namespace gmm::kernel
