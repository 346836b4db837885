// A kernel thread: its own kernel stack (so it can block in the middle of a
// system call or a page fault and let another thread of the same vCPU run)
// and, for user threads, the user-visible state that used to be per CPU.
// Threads are bound to one CPU for life (no migration: the study pins
// threads to vCPUs, like will-it-scale pins processes).
#pragma once

#include <stdint.h>

namespace gmm::kernel {

constexpr uint32_t kMaxThreads = 128;                // the idle threads are extra
constexpr uint64_t kThreadStackBytes = 16 * 1024;

// Lifecycle. Blocking -> Blocked is the sleeper's own step inside
// sched_block(); a waker turns Blocking or Blocked into Runnable (only the
// latter needs queueing), so a wake-up that races with falling asleep is
// never lost.
enum class ThreadState : uint32_t { Free, Runnable, Running, Blocking, Blocked, Dead };

// Surviving expected SEGVs (GMM_SYS_SEGV_RECOVER): faults with RIP in
// [begin, end) resume at landing. begin == 0: none.
struct SegvRecovery {
    uint64_t begin, end, landing;
};

struct Thread {
    uint64_t saved_rsp;  // kernel RSP while switched out (context_switch.cpp)
    uint64_t stack_top;  // TSS.RSP0 while it runs
    uint32_t id;         // index in the thread table; the idle thread of CPU c is kMaxThreads + c
    uint32_t cpu;
    ThreadState state;   // atomic
    Thread* next;        // run queue / inbox link
    void (*start)(Thread*);  // first function on the new stack (never returns)
    // User thread.
    uint64_t user_entry, user_stack_top, user_arg;
    uint64_t clear_word;   // user u32 zeroed and woken at exit (join), or 0
    bool is_main;          // the program's first thread: its exit ends the run
    SegvRecovery recovery;
    // Futex-like waiting (mm/threads.cpp), under the wait-list lock.
    uint64_t wait_key;     // physical address waited on, 0 when not listed
    Thread* wait_next;
    // Waiting for a page-cache read another thread started (fs/page_cache.cpp).
    Thread* io_wait_next;
};

}  // namespace gmm::kernel
