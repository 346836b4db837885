#include "mm/guest_platform.h"

#include "frame_alloc.h"
#include "fs/page_cache.h"
#include "guestmm/atomic_rmw.h"
#include "kernel.h"
#include "mm/tlb.h"
#include "percpu.h"
#include "x86_64/apic.h"
#include "x86_64/cpu.h"

namespace gmm::kernel {

namespace {

GuestPlatform g_platform;
// CPUs sleeping in wait_on (bit = cpu index; GMM_MAX_VCPUS == 64).
uint64_t g_lock_waiters;
struct alignas(64) SleepCount {
    uint64_t n;
};
SleepCount g_sleeps[GMM_MAX_VCPUS];
static_assert(GMM_MAX_VCPUS <= 64 && mm::kMaxCpus >= GMM_MAX_VCPUS);

// Spin this many times before sleeping. Each iteration is ~3 emulated
// instructions (~5 us) here; an IPI wake-up is ~20-30 us, and critical
// sections under these locks are tens of instructions, so a short spin
// usually wins without holding off interrupts for long.
constexpr uint32_t kSpinIterations = 8;

}  // namespace

GuestPlatform& guest_platform() { return g_platform; }
uint64_t lock_sleeps(uint32_t cpu) { return g_sleeps[cpu].n; }

bool GuestPlatform::alloc_zeroed_frame(uint64_t* phys) {
    Gpa g;
    if (!frame_try_alloc_zeroed(g)) return false;
    *phys = g.value();
    return true;
}

void GuestPlatform::free_frame(uint64_t phys) { frame_free(Gpa(phys)); }

void GuestPlatform::set_frame_role(uint64_t phys, FrameRole role) {
    if (role == FrameRole::PageTable) frame_set_flags(Gpa(phys), GMM_FRAME_F_PAGE_TABLE);
    else if (role == FrameRole::MmMetadata) frame_set_flags(Gpa(phys), GMM_FRAME_F_MM_META);
}

void GuestPlatform::frame_mapped(uint64_t phys, int32_t delta) { frame_mapcount_add(Gpa(phys), delta); }

void GuestPlatform::frame_dirtied(uint64_t phys) { page_cache_frame_dirtied(phys); }

void* GuestPlatform::phys_to_virt(uint64_t phys) { return direct_map<void>(Gpa(phys)); }

void GuestPlatform::flush_tlb(const void*, Gva start, Gva end) { tlb_shootdown(start, end); }

uint32_t GuestPlatform::cpu_id() { return this_cpu().cpu_index; }

uint64_t GuestPlatform::now_ns() {
    const uint64_t mhz = g_kernel.tsc_hz / 1000000;
    return mhz ? x86::rdtsc() / mhz * 1000 : 0;
}

uint32_t GuestPlatform::spin_iterations() { return kSpinIterations; }

// Register, re-check, sleep: the waker changes the word before it reads the
// waiter mask (seq_cst on both sides), so a wake-up cannot fall between our
// check and the HLT (an IPI arriving with IF=0 stays pending until `sti; hlt`).
void GuestPlatform::wait_on(const uint32_t* word, uint32_t expected) {
    const uint32_t cpu = this_cpu().cpu_index;
    const uint64_t bit = 1ull << cpu;
    mm::rmw_fetch_or(&g_lock_waiters, bit, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(word, __ATOMIC_SEQ_CST) == expected) {
        ++g_sleeps[cpu].n;
        x86::sti_hlt_cli();
    }
    mm::rmw_fetch_and(&g_lock_waiters, ~bit, __ATOMIC_RELAXED);
}

void GuestPlatform::wake_all(const uint32_t*) {
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    uint64_t waiters = __atomic_load_n(&g_lock_waiters, __ATOMIC_SEQ_CST) & ~(1ull << this_cpu().cpu_index);
    while (waiters) {
        const uint32_t cpu = uint32_t(__builtin_ctzll(waiters));
        waiters &= waiters - 1;
        x86::apic::send_ipi(cpu, x86::Vector::Wakeup);
    }
}

}  // namespace gmm::kernel
