// Per-CPU state: one cache-line-aligned slot per vCPU in a static array, found
// through GS (offset 0 holds the slot's own address). GS-relative loads are a
// single instruction, which matters when ring 0 is emulated.
#pragma once

#include <stdint.h>

#include "gmm/abi/boot.h"
#include "gmm/abi/ucall.h"

namespace gmm::kernel {

using UserExitFn = void (*)(uint64_t status);

struct alignas(64) PerCpu {
    PerCpu* self;  // must stay at offset 0 (read as %gs:0)
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
    gmm_ucall ucall;          // this CPU's guest->host call buffer
};

extern PerCpu g_percpu[GMM_MAX_VCPUS];

inline PerCpu& this_cpu() {
    PerCpu* p;
    asm("mov %%gs:0, %0" : "=r"(p));  // not volatile: constant per CPU, may be CSE'd
    return *p;
}

// Points GS (and FS, for libfdt's stack protector) at this CPU's data.
void percpu_init(uint32_t cpu_index);

}  // namespace gmm::kernel
