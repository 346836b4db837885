#include "sched/sched.h"

#include "assert.h"
#include "kernel.h"
#include "lock_classes.h"
#include "mm/guest_platform.h"
#include "percpu.h"
#include "sync.h"
#include "x86_64/apic.h"
#include "x86_64/context_switch.h"
#include "x86_64/trap.h"

namespace gmm::kernel {

namespace {

// 5 ms of LAPIC time (1 count = 1 ns): long against a fault (~50 us here),
// short against a run.
constexpr uint32_t kQuantumCount = 5'000'000;

struct alignas(64) CpuSched {
    Thread* current;
    Thread* idle;
    PerCpu* pc;          // run queue head (this CPU only, FIFO) and inbox (LIFO, atomic) live there
    Thread* queue_tail;
    Thread* reap;        // a dead thread whose stack is freed after the switch
    uint64_t tss_gva;
    bool quantum_armed;
    SchedStats stats;
};

CpuSched g_cpu[GMM_MAX_VCPUS];
Thread g_idle[GMM_MAX_VCPUS];
Thread g_threads[kMaxThreads];
alignas(4096) uint8_t g_stacks[kMaxThreads][kThreadStackBytes];
// The thread table: allocation and release only (thread context, never from interrupts).
constinit mm::TicketLock g_table_lock{lock_class(KernelLockClass::Sched)};
uint32_t g_live;

CpuSched& me() { return g_cpu[this_cpu().cpu_index]; }

void enqueue_local(CpuSched& s, Thread* t) {
    t->next = nullptr;
    if (s.queue_tail) s.queue_tail->next = t;
    else s.pc->sched_queue_head = t;
    s.queue_tail = t;
}

Thread* dequeue_local(CpuSched& s) {
    Thread* t = s.pc->sched_queue_head;
    if (!t) return nullptr;
    s.pc->sched_queue_head = t->next;
    if (!s.pc->sched_queue_head) s.queue_tail = nullptr;
    return t;
}

// Moves the inbox (pushed LIFO) to the run queue in arrival order.
void drain_inbox(CpuSched& s) {
    if (!__atomic_load_n(&s.pc->sched_inbox, __ATOMIC_RELAXED)) return;
    Thread* list = mm::rmw_exchange(&s.pc->sched_inbox, static_cast<Thread*>(nullptr), __ATOMIC_ACQUIRE);
    Thread* fifo = nullptr;
    while (list) {
        Thread* n = list->next;
        list->next = fifo;
        fifo = list;
        list = n;
    }
    while (fifo) {
        Thread* n = fifo->next;
        enqueue_local(s, fifo);
        fifo = n;
    }
}

void push_inbox(CpuSched& s, Thread* t) {
    Thread* head = __atomic_load_n(&s.pc->sched_inbox, __ATOMIC_RELAXED);
    do t->next = head;
    while (!mm::rmw_compare_exchange(&s.pc->sched_inbox, &head, t, false, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
}

void release_thread(Thread* t) {
    mm::LockGuard<mm::TicketLock> g(g_table_lock, guest_platform());
    store_release(t->state, ThreadState::Free);
    --g_live;
}

// In the context that was switched to: finish what the previous one left.
void after_switch(CpuSched& s) {
    if (Thread* dead = s.reap) {
        s.reap = nullptr;
        release_thread(dead);
    }
}

void switch_to(CpuSched& s, Thread* prev, Thread* next) {
    next->state = ThreadState::Running;
    s.current = next;
    if (next != s.idle) x86::set_kernel_entry_stack(s.tss_gva, next->stack_top);
    ++s.stats.switches;
    x86::gmm_context_switch(&prev->saved_rsp, next->saved_rsp);
    after_switch(me());  // back in prev, perhaps much later
}

// `cur` stopped running (Blocked, Dead, or Runnable and re-queued): run the next one.
void switch_away(CpuSched& s, Thread* cur) {
    drain_inbox(s);
    Thread* next = dequeue_local(s);
    if (!next) next = s.idle;
    if (next == cur) {  // woken again before it left (only a re-queued cur is possible)
        cur->state = ThreadState::Running;
        return;
    }
    switch_to(s, cur, next);
}

void thread_first(void* arg) {
    Thread* t = static_cast<Thread*>(arg);
    after_switch(me());
    t->start(t);
    GMM_PANIC("thread start function returned");
}

}  // namespace

void sched_init(uint32_t cpu_count) {
    for (uint32_t cpu = 0; cpu < cpu_count; ++cpu) {
        CpuSched& s = g_cpu[cpu];
        Thread* idle = &g_idle[cpu];
        idle->id = kMaxThreads + cpu;
        idle->cpu = cpu;
        idle->state = ThreadState::Running;
        idle->stack_top = g_kernel.boot_info->cpus[cpu].stack_top_gva;
        s.pc = &g_percpu[cpu];
        s.tss_gva = g_kernel.boot_info->cpus[cpu].tss_gva;
        s.current = idle;
        store_release(s.idle, idle);
    }
}

bool sched_active() { return me().idle != nullptr; }

Thread* sched_current() { return me().current; }

Thread* thread_alloc(uint32_t cpu, void (*start)(Thread*)) {
    GMM_ASSERT(cpu < g_kernel.cpu_count && g_cpu[cpu].idle != nullptr);
    Thread* t = nullptr;
    {
        mm::LockGuard<mm::TicketLock> g(g_table_lock, guest_platform());
        for (uint32_t i = 0; i < kMaxThreads && !t; ++i)
            if (load_acquire(g_threads[i].state) == ThreadState::Free) t = &g_threads[i];
        if (!t) return nullptr;
        t->state = ThreadState::Blocked;  // not free, not yet runnable
        ++g_live;
    }
    const uint32_t id = uint32_t(t - g_threads);
    Thread fresh{};
    fresh.id = id;
    fresh.cpu = cpu;
    fresh.state = ThreadState::Blocked;
    fresh.start = start;
    fresh.stack_top = reinterpret_cast<uint64_t>(g_stacks[id]) + kThreadStackBytes;
    fresh.saved_rsp = x86::prepare_thread_stack(fresh.stack_top, thread_first, t);
    *t = fresh;
    return t;
}

void sched_start(Thread* t) { sched_wake(t); }

uint32_t thread_count_live() { return load_acquire(g_live); }

void sched_prepare_block() { store_release(me().current->state, ThreadState::Blocking); }

void sched_cancel_block() {
    Thread* t = me().current;
    ThreadState expected = ThreadState::Blocking;
    if (!mm::rmw_compare_exchange(&t->state, &expected, ThreadState::Running, false, __ATOMIC_ACQ_REL,
                                  __ATOMIC_ACQUIRE))
        store_release(t->state, ThreadState::Running);  // a waker made it Runnable: it runs on
}

void sched_block() {
    CpuSched& s = me();
    Thread* cur = s.current;
    GMM_ASSERT(cur != s.idle);
    ThreadState expected = ThreadState::Blocking;
    if (!mm::rmw_compare_exchange(&cur->state, &expected, ThreadState::Blocked, false, __ATOMIC_ACQ_REL,
                                  __ATOMIC_ACQUIRE)) {
        store_release(cur->state, ThreadState::Running);  // woken before it slept
        return;
    }
    ++s.stats.blocks;
    switch_away(s, cur);
}

void sched_wake(Thread* t) {
    ThreadState st = __atomic_load_n(&t->state, __ATOMIC_ACQUIRE);
    for (;;) {
        if (st != ThreadState::Blocking && st != ThreadState::Blocked) return;  // running or already woken
        if (mm::rmw_compare_exchange(&t->state, &st, ThreadState::Runnable, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
            break;
    }
    if (st == ThreadState::Blocking) return;  // it had not left its CPU: sched_block sees Runnable
    push_inbox(g_cpu[t->cpu], t);
    const uint32_t self = this_cpu().cpu_index;
    if (t->cpu != self) {
        ++g_cpu[self].stats.remote_wakes;
        x86::apic::send_ipi(t->cpu, x86::Vector::Wakeup);
    }
    // Same CPU: the idle loop, the next block or the return to user mode sees it.
}

void sched_yield() {
    CpuSched& s = me();
    Thread* cur = s.current;
    drain_inbox(s);
    if (!s.pc->sched_queue_head || cur == s.idle) return;
    cur->state = ThreadState::Runnable;
    enqueue_local(s, cur);
    switch_away(s, cur);
}

void sched_exit_current() {
    CpuSched& s = me();
    Thread* cur = s.current;
    GMM_ASSERT(cur != s.idle);
    cur->state = ThreadState::Dead;
    s.reap = cur;  // its stack is in use until the switch completes
    switch_away(s, cur);
    GMM_PANIC("a dead thread was scheduled");
}

void sched_idle_loop() {
    CpuSched& s = me();
    GMM_ASSERT(s.current == s.idle);
    for (;;) {
        drain_inbox(s);
        if (Thread* next = dequeue_local(s)) {
            switch_to(s, s.idle, next);
            continue;
        }
        // IF=0 since the check: an IPI pushed after it is taken in the HLT.
        x86::sti_hlt_cli();
    }
}

void sched_preempt_check(uint64_t vector) {
    CpuSched& s = me();
    drain_inbox(s);
    if (!s.pc->sched_queue_head || s.current == s.idle) return;
    if (vector == uint64_t(x86::Vector::Timer)) {
        ++s.stats.preemptions;
        sched_yield();
        // Resumed: others may still be waiting.
        if (!s.pc->sched_queue_head) return;
    }
    if (!s.quantum_armed) {
        s.quantum_armed = true;
        x86::apic::timer_start_oneshot(x86::Vector::Timer, kQuantumCount);
    }
}

void sched_on_timer() { g_cpu[this_cpu().cpu_index].quantum_armed = false; }

SchedStats sched_stats(uint32_t cpu) { return g_cpu[cpu].stats; }

}  // namespace gmm::kernel
