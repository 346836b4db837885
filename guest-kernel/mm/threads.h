// User threads of the mm workloads on top of the scheduler (sched/sched.h):
// any number per vCPU (up to kMaxThreads), created by THREAD_CREATE (the
// kernel starts only the main thread, on vCPU 0), joined through a
// clear-on-exit user word; WAIT/WAKE put a thread to sleep (futex-like, keyed
// by the word's physical address) and let the vCPU run another thread or HLT.
#pragma once

#include <stdint.h>

namespace gmm::kernel {

// Called once (CPU 0, before release): what EXIT(status) and a dying main
// thread run on their CPU (report, then DONE). Must not return.
using RunExitFn = void (*)(uint64_t status);
void mm_threads_init(RunExitFn on_run_exit);

// Per-CPU part: every CPU becomes a scheduler CPU; CPU 0 also starts the main
// thread at the runtime's entry with (0, mode, arg). Then the idle loop.
[[noreturn]] void mm_threads_run(uint32_t cpu, uint64_t mode, uint64_t arg);

int64_t sys_thread_create(uint64_t entry, uint64_t stack_top, uint64_t arg, uint64_t cpu, uint64_t clear_word);
int64_t sys_wait(uint64_t uaddr, uint64_t expected);
int64_t sys_wake(uint64_t uaddr, uint64_t max_waiters);
[[noreturn]] void sys_exit_run(uint64_t status);

}  // namespace gmm::kernel
