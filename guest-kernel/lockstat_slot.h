// One CPU's slot of the lockstat block's data area (abi/gmm/abi/lockstat.h):
// the per-CPU counters, then guestmm's LockStatCpu and its (class, side)
// records. It is a member of the CPU's PerCpu (percpu.h), so the block's CPU
// stride is sizeof(PerCpu) and the kernel reaches every counter with one
// GS-relative instruction. lockstat.cpp asserts the layout matches the ABI.
#pragma once

#include <stdint.h>

#include "guestmm/lock_stats.h"
#include "lock_classes.h"

namespace gmm::kernel {

struct alignas(64) LockstatCpu {
    uint64_t faults, fault_atomic_rmw, fault_contentions, fault_retries, revalidation_failures;
    uint64_t tlb_shootdown_ipis_sent, tlb_shootdown_ipis_received;
    mm::LockStatCpu locks;                            // lock_contentions, untimed_nested
    mm::LockStatRecord records[2 * kLockClassCount];  // = locks.records(): [2 * class + side]
};

}  // namespace gmm::kernel
