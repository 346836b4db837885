#include "mm/tlb.h"

#include "guestmm/atomic_rmw.h"
#include "lockstat.h"
#include "percpu.h"
#include "sync.h"
#include "x86_64/apic.h"
#include "x86_64/cpu.h"

namespace gmm::kernel {

namespace {

// Above this many pages one CR3 reload is cheaper than INVLPGs (each is an
// emulated instruction of 3-7 us here).
constexpr uint64_t kMaxInvlpgPages = 16;

struct alignas(64) Request {  // indexed by the initiating CPU
    uint64_t start, end;
    uint32_t pending_acks;
    TlbStats stats;
};

Request g_requests[GMM_MAX_VCPUS];
uint64_t g_pending_for[GMM_MAX_VCPUS];  // per target: bitmask of initiators
uint64_t g_user_cpus;                   // CPUs that may cache user translations

void flush_local(uint64_t start, uint64_t end) {
    if ((end - start) / kPageSize > kMaxInvlpgPages) {
        asm volatile("mov %%cr3, %%rax; mov %%rax, %%cr3" ::: "rax", "memory");
        return;
    }
    for (uint64_t va = start; va < end; va += kPageSize) asm volatile("invlpg (%0)" ::"r"(va) : "memory");
}

}  // namespace

void tlb_note_user_cpu(uint32_t cpu) { mm::rmw_fetch_or(&g_user_cpus, 1ull << cpu, __ATOMIC_SEQ_CST); }

void tlb_shootdown(Gva start, Gva end) {
    const uint32_t self = this_cpu().cpu_index;
    Request& r = g_requests[self];
    flush_local(start.value(), end.value());
    ++r.stats.local_flushes;
    uint64_t targets = __atomic_load_n(&g_user_cpus, __ATOMIC_SEQ_CST) & ~(1ull << self);
    if (!targets) return;
    r.start = start.value();
    r.end = end.value();
    uint32_t count = 0;  // no POPCNT in the baseline ISA (and no libgcc here)
    for (uint64_t t = targets; t; t &= t - 1) ++count;
    __atomic_store_n(&r.pending_acks, count, __ATOMIC_RELEASE);
    ++r.stats.shootdowns;
    while (targets) {
        const uint32_t cpu = uint32_t(__builtin_ctzll(targets));
        targets &= targets - 1;
        mm::rmw_fetch_or(&g_pending_for[cpu], 1ull << self, __ATOMIC_SEQ_CST);
        x86::apic::send_ipi(cpu, x86::Vector::Shootdown);
        ++r.stats.ipis_sent;
    }
    lockstat_count<GMM_LOCKSTAT_OFF(tlb_shootdown_ipis_sent)>(count);
    // Interrupts are on while halted, so shootdowns aimed at us are served meanwhile.
    wait_until([&r] { return __atomic_load_n(&r.pending_acks, __ATOMIC_ACQUIRE) == 0; });
}

void tlb_on_shootdown_ipi() {
    const uint32_t self = this_cpu().cpu_index;
    uint64_t from = mm::rmw_exchange(&g_pending_for[self], uint64_t(0), __ATOMIC_ACQ_REL);
    x86::apic::eoi();
    lockstat_count<GMM_LOCKSTAT_OFF(tlb_shootdown_ipis_received)>();
    while (from) {
        const uint32_t cpu = uint32_t(__builtin_ctzll(from));
        from &= from - 1;
        Request& r = g_requests[cpu];
        flush_local(r.start, r.end);
        if (mm::rmw_sub_fetch(&r.pending_acks, 1, __ATOMIC_ACQ_REL) == 0) x86::apic::send_ipi(cpu, x86::Vector::Wakeup);
    }
}

TlbStats tlb_stats(uint32_t cpu) { return g_requests[cpu].stats; }

}  // namespace gmm::kernel
