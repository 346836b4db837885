// Per-CPU scheduling of kernel-stacked threads (several per vCPU).
//  - Each CPU owns its run queue; only that CPU touches it. Other CPUs (and
//    interrupt handlers) hand it woken threads through a lock-free inbox, so
//    nothing here takes a lock that an interrupt could also want.
//  - A thread runs until it blocks, exits or, when others are runnable on its
//    CPU, its LAPIC quantum expires while it is in user mode (the kernel itself
//    is never preempted: it runs with interrupts off except in HLT).
//  - A CPU with nothing to run waits in HLT in its idle thread (the boot
//    context), never spinning in ring 0.
// Blocking protocol (no lost wake-ups):
//     sched_prepare_block();            // state = Blocking
//     if (!condition) sched_block();    // sleeps unless a wake came in between
//     else sched_cancel_block();
// and the waker makes the condition true, then calls sched_wake(thread).
// Callers re-check their condition after sched_block() returns (a stale waker
// may wake a thread early, like futexes allow).
#pragma once

#include <stdint.h>

#include "percpu.h"
#include "sched/thread.h"

namespace gmm::kernel {

// CPU 0, before it releases the others: every CPU's run queue and idle
// thread (each CPU's boot context becomes its idle thread), so a thread can be
// created for a CPU that has not reached its idle loop yet.
void sched_init(uint32_t cpu_count);
bool sched_active();  // this CPU runs the scheduler
// The thread running on this CPU (the idle thread when nothing else runs).
Thread* sched_current();

// A new thread on `cpu` that starts in `start(thread)` (which must never
// return), or null when the table is full. The caller fills the user fields
// before sched_start().
Thread* thread_alloc(uint32_t cpu, void (*start)(Thread*));
void sched_start(Thread* t);  // makes it runnable (IPI if remote)
uint32_t thread_count_live();

void sched_prepare_block();
void sched_cancel_block();
void sched_block();
void sched_wake(Thread* t);  // any CPU, thread or interrupt context
void sched_yield();

// Ends the current thread; its stack is reclaimed after the switch.
[[noreturn]] void sched_exit_current();
// This CPU's idle loop: runs queued threads, halts when there are none.
[[noreturn]] void sched_idle_loop();

// On the way back to user mode (trap tail): preemption. Inline and two loads
// when nothing else is runnable (the fault path pays it on every fault).
void sched_preempt_check(uint64_t vector);
inline void sched_before_user_return(uint64_t vector) {
    const PerCpu& me = this_cpu();
    if (__builtin_expect((reinterpret_cast<uintptr_t>(me.sched_queue_head) |
                          reinterpret_cast<uintptr_t>(__atomic_load_n(&me.sched_inbox, __ATOMIC_RELAXED))) != 0, 0))
        sched_preempt_check(vector);
}
// The LAPIC timer fired (any mode): the quantum is no longer armed.
void sched_on_timer();

struct SchedStats {
    uint64_t switches;      // context switches on this CPU
    uint64_t preemptions;   // of them, quantum expiries
    uint64_t blocks;        // threads that slept in sched_block
    uint64_t remote_wakes;  // threads this CPU handed to another CPU
};
SchedStats sched_stats(uint32_t cpu);

}  // namespace gmm::kernel
