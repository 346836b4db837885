#include "mm/threads.h"

#include "assert.h"
#include "gmm/abi/syscall.h"
#include "kernel.h"
#include "lock_classes.h"
#include "mm/fault.h"
#include "mm/guest_platform.h"
#include "mm/tlb.h"
#include "mm/user_space.h"
#include "percpu.h"
#include "sched/sched.h"
#include "sync.h"
#include "ucall.h"
#include "user.h"
#include "x86_64/user_entry.h"

namespace gmm::kernel {

namespace {

RunExitFn g_on_run_exit;
// Futex-like waiters: one list, under a lock taken only in thread context.
// Short: a run has at most kMaxThreads threads.
Thread* g_waiters;
constinit mm::TicketLock g_wait_lock{lock_class(KernelLockClass::Sched)};
uint64_t g_main_entry_mode, g_main_entry_arg;

bool user_range_ok(uint64_t va) { return va >= kPageSize && va < GMM_USER_TOP_GVA; }

uint64_t word_key(uint64_t uaddr) {
    void* p = mm_user_ptr(Gva(uaddr), false, true);
    return p ? reinterpret_cast<uint64_t>(p) - GMM_DIRECT_MAP_GVA : 0;
}

void unlist(Thread* t) {  // under g_wait_lock
    for (Thread** pp = &g_waiters; *pp; pp = &(*pp)->wait_next)
        if (*pp == t) {
            *pp = t->wait_next;
            break;
        }
    t->wait_key = 0;
    t->wait_next = nullptr;
}

uint64_t wake_key(uint64_t key, uint64_t max) {
    Thread* woken[kMaxThreads];
    uint64_t n = 0;
    {
        mm::LockGuard<mm::TicketLock> g(g_wait_lock, guest_platform());
        for (Thread** pp = &g_waiters; *pp && n < max && n < kMaxThreads;) {
            Thread* t = *pp;
            if (t->wait_key != key) {
                pp = &t->wait_next;
                continue;
            }
            *pp = t->wait_next;
            t->wait_key = 0;
            t->wait_next = nullptr;
            woken[n++] = t;
        }
    }
    for (uint64_t i = 0; i < n; ++i) sched_wake(woken[i]);
    return n;
}

void on_thread_exit(uint64_t status) {
    Thread* t = sched_current();
    ucall_result("thread_exit_status", status);
    if (t->is_main) g_on_run_exit(status);  // the main thread died (e.g. SEGV): end the run
    if (t->clear_word) {
        if (uint32_t* w = static_cast<uint32_t*>(mm_user_ptr(Gva(t->clear_word), true, true))) {
            __atomic_store_n(w, 0u, __ATOMIC_SEQ_CST);
            wake_key(reinterpret_cast<uint64_t>(w) - GMM_DIRECT_MAP_GVA, ~0ull);
        }
    }
    sched_exit_current();
}

[[noreturn]] void enter_user_thread(Thread* t) {
    tlb_note_user_cpu(t->cpu);
    sched_before_user_return(0);  // arms the quantum if others wait
    if (t->is_main)
        x86::enter_user(mm_space_cr3(), Gva(g_kernel.boot_info->user_entry_gva), Gva(t->user_stack_top), 0,
                        g_main_entry_mode, g_main_entry_arg);
    x86::enter_user(mm_space_cr3(), Gva(t->user_entry), Gva(t->user_stack_top), t->user_arg, t->id, 0);
}

}  // namespace

void mm_threads_init(RunExitFn on_run_exit) {
    g_on_run_exit = on_run_exit;
    sched_init(g_kernel.cpu_count);  // before release: THREAD_CREATE may target a CPU still booting
}

void mm_threads_run(uint32_t cpu, uint64_t mode, uint64_t arg) {
    PerCpu& me = this_cpu();
    me.gate_calls = 0;
    me.on_user_exit = on_thread_exit;
    if (cpu == 0 && mode != 0) {
        g_main_entry_mode = mode;
        g_main_entry_arg = arg;
        Thread* t = thread_alloc(0, enter_user_thread);
        GMM_ASSERT(t != nullptr);
        t->is_main = true;
        t->user_stack_top = mm_stack_top(0).value();
        sched_start(t);
    }
    sched_idle_loop();
}

int64_t sys_thread_create(uint64_t entry, uint64_t stack_top, uint64_t arg, uint64_t cpu, uint64_t clear_word) {
    if (!mm_space_ready()) return -GMM_ENOSYS;
    if (!user_range_ok(entry) || !user_range_ok(stack_top - 1) || (stack_top & 15) || (clear_word & 3) ||
        (clear_word && !user_range_ok(clear_word)))
        return -GMM_EINVAL;
    if (cpu >= g_kernel.cpu_count) return -GMM_EINVAL;
    Thread* t = thread_alloc(uint32_t(cpu), enter_user_thread);
    if (!t) return -GMM_EAGAIN;  // the thread table is full
    t->user_entry = entry;
    t->user_stack_top = stack_top;
    t->user_arg = arg;
    t->clear_word = clear_word;
    const uint32_t id = t->id;
    sched_start(t);
    return int64_t(id);
}

int64_t sys_wait(uint64_t uaddr, uint64_t expected) {
    if (uaddr & 3) return -GMM_EINVAL;
    if (!user_range_ok(uaddr)) return -GMM_EFAULT;
    const uint64_t key = word_key(uaddr);
    if (!key) return -GMM_EFAULT;
    Thread* t = sched_current();
    const uint32_t* word = direct_map<const uint32_t>(Gpa(key));
    {
        // Registered and checked under the lock a waker scans under: either
        // the waker finds us listed, or we see the word it changed first.
        mm::LockGuard<mm::TicketLock> g(g_wait_lock, guest_platform());
        if (__atomic_load_n(word, __ATOMIC_ACQUIRE) != uint32_t(expected)) return -GMM_EAGAIN;
        t->wait_key = key;
        t->wait_next = g_waiters;
        g_waiters = t;
        sched_prepare_block();
    }
    sched_block();
    if (__atomic_load_n(&t->wait_key, __ATOMIC_ACQUIRE) != 0) {  // woken by something else: leave the list
        mm::LockGuard<mm::TicketLock> g(g_wait_lock, guest_platform());
        if (t->wait_key) unlist(t);
    }
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
