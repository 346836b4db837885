// Waiting and cross-CPU signalling. The kernel runs with interrupts disabled
// except while halted, so a condition is always checked with IF=0 and the
// wait is `sti; hlt` (no lost wakeups). Never spin in ring 0: an emulated vCPU
// takes interrupts only between emulation batches (~1 ms late).
#pragma once

#include <stdint.h>

#include "guestmm/atomic_rmw.h"
#include "kernel.h"
#include "x86_64/apic.h"
#include "x86_64/cpu.h"

namespace gmm::kernel {

template <typename T>
inline T load_acquire(const T& v) {
    return __atomic_load_n(&v, __ATOMIC_ACQUIRE);
}
template <typename T>
inline void store_release(T& v, T value) {
    __atomic_store_n(&v, value, __ATOMIC_RELEASE);
}
inline uint32_t atomic_increment(uint32_t& v) { return mm::rmw_add_fetch(&v, 1, __ATOMIC_SEQ_CST); }

template <typename Pred>
inline void wait_until(Pred pred) {
    while (!pred()) x86::sti_hlt_cli();
}

// Counts this CPU as finished with the workload and wakes CPU 0.
inline void signal_finished_to_cpu0(uint32_t cpu) {
    atomic_increment(g_kernel.finished_count);
    if (cpu != 0) x86::apic::send_ipi(0, x86::Vector::Wakeup);
}

// CPU 0: waits in HLT until every CPU (itself included) signalled.
inline void wait_all_finished() {
    wait_until([] { return load_acquire(g_kernel.finished_count) >= g_kernel.cpu_count; });
}

[[noreturn]] inline void idle_forever() {
    for (;;) x86::sti_hlt_cli();  // wakes for interrupts, handles them, sleeps again
}

}  // namespace gmm::kernel
