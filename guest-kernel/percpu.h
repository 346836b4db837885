// Per-CPU state: one cache-line-aligned slot per vCPU in a static array, found
// through GS (offset 0 holds the slot's own address). GS-relative loads are a
// single instruction, which matters when ring 0 is emulated.
#pragma once

#include <stdint.h>

#include "gmm/abi/boot.h"
#include "gmm/abi/ucall.h"
#include "guestmm/atomic_rmw.h"
#include "guestmm/lock_stats.h"
#include "lockstat_slot.h"

namespace gmm::kernel {

using UserExitFn = void (*)(uint64_t status);
struct Thread;  // sched/thread.h

struct alignas(64) PerCpu {
    PerCpu* self;  // must stay at offset 0 (read as %gs:0)
    // Atomic read-modify-writes this CPU executed (guestmm/atomic_rmw.h bumps
    // it as %gs:8 with one instruction; lockstat takes the fault-path share).
    uint64_t atomic_rmw_count;
    // Where guestmm's locks count lock statistics (%gs:16): &lockstat.locks,
    // or null when not counting; set by lockstat_init.
    mm::LockStatCpu* lock_stats;
    uint32_t cpu_index;
    uint32_t apic_id;
    // Written only by this CPU's interrupt handlers, read with IF=0.
    volatile uint64_t ipi_count;
    volatile uint64_t timer_ticks;
    uint64_t timer_target_ticks;
    uint64_t timer_period_count;
    // User thread on this CPU.
    uint64_t gate_calls;      // gate entries served for the current thread
    UserExitFn on_user_exit;  // continuation when the thread exits
    // The scheduler's run queue head and inbox (sched/sched.cpp), here so the
    // return to user mode tests "anything else to run?" in two loads.
    Thread* sched_queue_head;
    Thread* sched_inbox;  // atomic: other CPUs push woken threads
    gmm_ucall ucall;          // this CPU's guest->host call buffer
    LockstatCpu lockstat;     // this CPU's slot of the lockstat block (lockstat.h)
};

static_assert(__builtin_offsetof(PerCpu, atomic_rmw_count) == mm::kGuestRmwCountGsOffset,
              "guestmm counts atomic RMWs at this GS offset");
static_assert(__builtin_offsetof(PerCpu, cpu_index) == mm::kGuestCpuIndexGsOffset, "guestmm reads the CPU index at this GS offset");
static_assert(__builtin_offsetof(PerCpu, lock_stats) == mm::kGuestLockStatsGsOffset,
              "guestmm's locks find their statistics at this GS offset");

extern PerCpu g_percpu[GMM_MAX_VCPUS];

inline PerCpu& this_cpu() {
    PerCpu* p;
    asm("mov %%gs:0, %0" : "=r"(p));  // not volatile: constant per CPU, may be CSE'd
    return *p;
}

// This CPU's index in one GS-relative load (this_cpu().cpu_index is two).
inline uint32_t this_cpu_index() {
    uint32_t cpu;
    asm("movl %%gs:%c1, %0" : "=r"(cpu) : "i"(__builtin_offsetof(PerCpu, cpu_index)));
    return cpu;
}

// Points GS (and FS, for libfdt's stack protector) at this CPU's data.
void percpu_init(uint32_t cpu_index);

}  // namespace gmm::kernel
