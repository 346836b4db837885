#include "mm/threads.h"

#include "assert.h"
#include "gmm/abi/syscall.h"
#include "kernel.h"
#include "lock_classes.h"
#include "mm/guest_platform.h"
#include "mm/fault.h"
#include "mm/tlb.h"
#include "mm/user_space.h"
#include "percpu.h"
#include "sync.h"
#include "ucall.h"
#include "user.h"
#include "x86_64/user_entry.h"

namespace gmm::kernel {

namespace {

enum class SlotState : uint32_t { Idle = 0, Claimed = 1, Ready = 2, Running = 3 };

struct alignas(64) ThreadSlot {
    SlotState state;
    uint64_t entry, stack_top, arg, clear_word;
};

ThreadSlot g_slots[GMM_MAX_VCPUS];
uint64_t g_wait_key[GMM_MAX_VCPUS];  // physical address a CPU's thread sleeps on (0: none)
RunExitFn g_on_run_exit;
// The scheduler lock: claiming a thread slot, registering a waiter, scanning
// for waiters to wake. Held for a few instructions; IPIs are sent after it.
constinit mm::TicketLock g_sched_lock{lock_class(KernelLockClass::Sched)};

bool user_range_ok(uint64_t va) { return va >= kPageSize && va < GMM_USER_TOP_GVA; }

uint64_t word_key(uint64_t uaddr) {
    void* p = mm_user_ptr(Gva(uaddr), false, true);
    return p ? reinterpret_cast<uint64_t>(p) - GMM_DIRECT_MAP_GVA : 0;
}

// Wakes the waiters on `key` (at most max): under the scheduler lock the
// waker clears their slots; then it IPIs them (a waiter sleeps until its slot is 0).
uint64_t wake_key(uint64_t key, uint64_t max) {
    uint64_t woken = 0, targets = 0;
    {
        mm::LockGuard<mm::TicketLock> g(g_sched_lock, guest_platform());
        for (uint32_t cpu = 0; cpu < g_kernel.cpu_count && woken < max; ++cpu) {
            if (g_wait_key[cpu] != key) continue;
            __atomic_store_n(&g_wait_key[cpu], 0, __ATOMIC_RELEASE);
            ++woken;
            targets |= 1ull << cpu;
        }
    }
    targets &= ~(1ull << this_cpu().cpu_index);
    while (targets) {
        const uint32_t cpu = uint32_t(__builtin_ctzll(targets));
        targets &= targets - 1;
        x86::apic::send_ipi(cpu, x86::Vector::Wakeup);
    }
    return woken;
}

void on_thread_exit(uint64_t status) {
    const uint32_t cpu = this_cpu().cpu_index;
    ThreadSlot& s = g_slots[cpu];
    ucall_result("thread_exit_status", status);
    if (cpu == 0) g_on_run_exit(status);  // the main thread died (e.g. SEGV): end the run
    if (s.clear_word) {
        if (uint32_t* w = static_cast<uint32_t*>(mm_user_ptr(Gva(s.clear_word), true, true))) {
            __atomic_store_n(w, 0u, __ATOMIC_SEQ_CST);
            wake_key(reinterpret_cast<uint64_t>(w) - GMM_DIRECT_MAP_GVA, ~0ull);
        }
    }
    store_release(s.state, SlotState::Idle);
    mm_threads_run(cpu, 0, 0);
}

}  // namespace

void mm_threads_init(RunExitFn on_run_exit) { g_on_run_exit = on_run_exit; }

void mm_threads_run(uint32_t cpu, uint64_t mode, uint64_t arg) {
    ThreadSlot& s = g_slots[cpu];
    tlb_note_user_cpu(cpu);
    PerCpu& me = this_cpu();
    me.gate_calls = 0;
    me.on_user_exit = on_thread_exit;
    mm_segv_recovery_reset(cpu);  // a new thread starts without SEGV recovery
    if (cpu == 0 && mode != 0) {
        s.state = SlotState::Running;
        x86::enter_user(mm_space_cr3(), Gva(g_kernel.boot_info->user_entry_gva), mm_stack_top(0), 0, mode, arg);
    }
    wait_until([&s] { return load_acquire(s.state) == SlotState::Ready; });
    s.state = SlotState::Running;
    x86::enter_user(mm_space_cr3(), Gva(s.entry), Gva(s.stack_top), s.arg, cpu, 0);
}

int64_t sys_thread_create(uint64_t entry, uint64_t stack_top, uint64_t arg, uint64_t cpu, uint64_t clear_word) {
    if (!mm_space_ready()) return -GMM_ENOSYS;
    if (!user_range_ok(entry) || !user_range_ok(stack_top - 1) || (stack_top & 15) || (clear_word & 3) ||
        (clear_word && !user_range_ok(clear_word)))
        return -GMM_EINVAL;
    if (cpu >= g_kernel.cpu_count) return -GMM_EINVAL;
    ThreadSlot& s = g_slots[cpu];
    {
        mm::LockGuard<mm::TicketLock> g(g_sched_lock, guest_platform());
        if (load_acquire(s.state) != SlotState::Idle) return -GMM_EAGAIN;  // one thread per vCPU
        s.state = SlotState::Claimed;
    }
    s.entry = entry;
    s.stack_top = stack_top;
    s.arg = arg;
    s.clear_word = clear_word;
    store_release(s.state, SlotState::Ready);
    x86::apic::send_ipi(uint32_t(cpu), x86::Vector::Wakeup);
    return int64_t(cpu);
}

int64_t sys_wait(uint64_t uaddr, uint64_t expected) {
    if (uaddr & 3) return -GMM_EINVAL;
    if (!user_range_ok(uaddr)) return -GMM_EFAULT;
    const uint64_t key = word_key(uaddr);
    if (!key) return -GMM_EFAULT;
    const uint32_t cpu = this_cpu().cpu_index;
    const uint32_t* word = direct_map<const uint32_t>(Gpa(key));
    {
        // Registered and checked under the lock a waker scans under: either
        // the waker sees us, or we see the word it changed before waking.
        mm::LockGuard<mm::TicketLock> g(g_sched_lock, guest_platform());
        if (__atomic_load_n(word, __ATOMIC_ACQUIRE) != uint32_t(expected)) return -GMM_EAGAIN;
        g_wait_key[cpu] = key;
    }
    wait_until([cpu] { return __atomic_load_n(&g_wait_key[cpu], __ATOMIC_ACQUIRE) == 0; });
    return 0;
}

int64_t sys_wake(uint64_t uaddr, uint64_t max_waiters) {
    if (uaddr & 3) return -GMM_EINVAL;
    if (!user_range_ok(uaddr)) return -GMM_EFAULT;
    const uint64_t key = word_key(uaddr);
    if (!key) return -GMM_EFAULT;
    return int64_t(wake_key(key, max_waiters));
}

void sys_exit_run(uint64_t status) {
    g_on_run_exit(status);
    idle_forever();
}

}  // namespace gmm::kernel
