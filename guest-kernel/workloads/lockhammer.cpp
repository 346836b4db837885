// `lockhammer shared=0|1 iterations=N hold=H`: every CPU takes a lock N
// times in ring 0 and holds it for H iterations of a short loop, incrementing
// a plain counter the lock protects. shared=1: one lock for all CPUs (they
// contend and bounce it); shared=0: one lock per CPU (disjoint: no
// contention). Lock class `lockhammer`; the point is lockstat's numbers.
// Each CPU files `hammer_cycles` (TSC cycles of its loop: with shared=0 a
// pure ring-0 throughput probe, see tools/bench/kvm_scaling.py); CPU 0
// checks mutual exclusion (the counters add up), files RESULTs
// `hammer_acquisitions` and `hammer_counter_total`, DONE(0) or DONE(1).
#include "assert.h"
#include "lock_classes.h"
#include "mm/guest_platform.h"
#include "sync.h"
#include "ucall.h"
#include "workload.h"
#include "x86_64/cpu.h"

namespace gmm::kernel {

namespace {

constexpr const char* kKeys[] = {"shared", "iterations", "hold"};

struct alignas(64) HammerSlot {  // one lock and its counter per cache line
    mm::TicketLock lock{lock_class(KernelLockClass::LockHammer)};
    uint64_t counter = 0;  // protected by `lock`, incremented non-atomically
};
constinit HammerSlot g_slots[GMM_MAX_VCPUS];

bool g_shared;
uint64_t g_iterations, g_hold;
uint32_t g_arrived;  // start barrier

void prepare(const BootArgs& args) {
    const StrView* s = args.find("shared");
    GMM_ASSERT(!s || s->equals("0") || s->equals("1"));
    g_shared = !s || s->equals("1");
    g_iterations = args.u64_or("iterations", 300);
    g_hold = args.u64_or("hold", 20);
    GMM_ASSERT(g_iterations >= 1);
}

void hold_for(uint64_t n) {
    for (uint64_t i = 0; i < n; ++i) asm volatile("" ::: "memory");
}

void run(uint32_t cpu) {
    // Start together, so the loops overlap: the last CPU to arrive wakes the others.
    if (atomic_increment(g_arrived) == g_kernel.cpu_count) x86::apic::send_ipi_all_but_self(x86::Vector::Wakeup);
    else wait_until([] { return load_acquire(g_arrived) >= g_kernel.cpu_count; });
    HammerSlot& slot = g_slots[g_shared ? 0 : cpu];
    const uint64_t start_tsc = x86::rdtsc();
    for (uint64_t i = 0; i < g_iterations; ++i) {
        mm::LockGuard<mm::TicketLock> g(slot.lock, guest_platform());
        const uint64_t v = slot.counter;
        hold_for(g_hold);
        slot.counter = v + 1;  // lost updates here would mean the lock failed
    }
    ucall_result("hammer_cycles", x86::rdtsc() - start_tsc);
    signal_finished_to_cpu0(cpu);
    if (cpu != 0) return;
    wait_all_finished();
    uint64_t total = 0;
    for (uint32_t c = 0; c < g_kernel.cpu_count; ++c) total += g_slots[c].counter;
    const uint64_t expected = g_iterations * g_kernel.cpu_count;
    ucall_result("hammer_acquisitions", expected);
    ucall_result("hammer_counter_total", total);
    ucall_done(total == expected ? 0 : 1);
}

}  // namespace

const Workload kLockHammerWorkload = {"lockhammer", kKeys, 3, prepare, run};

}  // namespace gmm::kernel
