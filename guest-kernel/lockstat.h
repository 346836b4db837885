// Lock statistics in the guest (docs/lockstat.md), with Linux lockstat's
// meanings: per CPU and per lock class (lock_classes.h), acquisitions,
// contentions, con_bounces, acq_bounces, wait and hold times in TSC cycles,
// read and write sides apart for reader-writer locks (counted by guestmm's
// locks themselves, guestmm/lock_stats.h); and per CPU: page faults, the
// atomic RMWs and lock contentions while handling them, fault retries,
// revalidation failures, TLB-shootdown IPIs sent and received.
//
// Everything lives in a self-describing block (abi/gmm/abi/lockstat.h) whose
// GPA CPU 0 publishes at boot (RESULT "lockstat_gpa"); the host reads it live.
// Each CPU writes only its own cache-line-aligned slot. Boot parameter
// `lockstat=off` turns counting off (the block is still published, with
// GMM_LOCKSTAT_F_ENABLED clear and every counter zero).
#pragma once

#include <stdint.h>

#include "bootargs.h"
#include "gmm/abi/lockstat.h"
#include "guestmm/lock_stats.h"
#include "lock_classes.h"
#include "lockstat_slot.h"
#include "percpu.h"

namespace gmm::kernel {

// Counting is on (read-only after boot: shared reads, never shared writes).
extern bool g_lockstat_on;
inline bool lockstat_on() { return __builtin_expect(g_lockstat_on, 1); }

// CPU 0, after bootargs and before the workload's prepare and the other
// CPUs' release: fills the block's header, starts counting on CPU 0 unless
// `lockstat=off`, publishes the block's GPA.
void lockstat_init(const BootArgs& args);
// Every CPU (CPU 0 from lockstat_init, the others once released, before the
// workload): starts counting on this CPU if lockstat is on. Each CPU prepares
// its own slot (40 stores), so boot work does not grow with the CPU count on CPU 0.
void lockstat_cpu_start();

// GS-relative access to this CPU's PerCpu: one instruction each.
#define GMM_LOCKSTAT_OFF(field) uint32_t(__builtin_offsetof(PerCpu, lockstat) + __builtin_offsetof(LockstatCpu, field))
template <uint32_t kOffset>
inline uint64_t percpu_load_u64() {
    uint64_t v;
    asm volatile("mov %%gs:%c1, %0" : "=r"(v) : "i"(kOffset));
    return v;
}
template <uint32_t kOffset>
inline void percpu_add_u64(uint64_t n) {
    asm volatile("add %0, %%gs:%c1" ::"r"(n), "i"(kOffset) : "cc");
}

// Per-CPU event counters (no-ops when counting is off), e.g.
// lockstat_count<GMM_LOCKSTAT_OFF(tlb_shootdown_ipis_sent)>(n).
template <uint32_t kOffset>
inline void lockstat_count(uint64_t n = 1) {
    if (lockstat_on()) percpu_add_u64<kOffset>(n);
}

// Brackets the handling of one user page fault: the atomic RMWs and lock
// contentions of this CPU in between are the fault path's.
struct LockstatFaultMark {
    uint64_t atomic_rmw, contentions;
};
inline LockstatFaultMark lockstat_fault_begin() {  // off: one test and branch
    if (!lockstat_on()) return {0, 0};
    return {percpu_load_u64<__builtin_offsetof(PerCpu, atomic_rmw_count)>(),
            percpu_load_u64<GMM_LOCKSTAT_OFF(locks.contentions)>()};
}
inline void lockstat_fault_end(const LockstatFaultMark& m) {
    if (!lockstat_on()) return;
    percpu_add_u64<GMM_LOCKSTAT_OFF(faults)>(1);
    percpu_add_u64<GMM_LOCKSTAT_OFF(fault_atomic_rmw)>(
        percpu_load_u64<__builtin_offsetof(PerCpu, atomic_rmw_count)>() - m.atomic_rmw);
    percpu_add_u64<GMM_LOCKSTAT_OFF(fault_contentions)>(percpu_load_u64<GMM_LOCKSTAT_OFF(locks.contentions)>() -
                                                        m.contentions);
}

}  // namespace gmm::kernel
