// The lockstat block. The header and the descriptor tables are built at
// compile time (constinit, in .data); CPU 0 only writes the run-time fields at
// boot. The per-CPU slots are .bss (fresh RAM reads as zero: no clearing
// loop). guestmm's locks count into them (guestmm/lock_stats.h) through the
// per-CPU pointer at %gs:16.
#include "lockstat.h"

#include "assert.h"
#include "kernel.h"
#include "ucall.h"
#include "x86_64/cpu.h"

namespace gmm::kernel {

bool g_lockstat_on;

namespace {

constexpr uint32_t kLockCounters = 10;
constexpr uint32_t kCpuCounters = 9;

struct LockstatHead {
    gmm_lockstat_header header;
    gmm_lockstat_class_desc classes[kLockClassCount];
    gmm_lockstat_desc lock_counters[kLockCounters];
    gmm_lockstat_desc cpu_counters[kCpuCounters];
};

template <uint32_t N>
constexpr void copy_name(char (&dst)[N], const char* src) {
    uint32_t i = 0;
    for (; src[i] != '\0' && i + 1 < N; ++i) dst[i] = src[i];
    for (; i < N; ++i) dst[i] = '\0';
}

constexpr gmm_lockstat_desc desc(const char* name, uint32_t flags, uint32_t offset) {
    gmm_lockstat_desc d{flags, offset, {}};
    copy_name(d.name, name);
    return d;
}

constexpr uint32_t kCum = GMM_LOCKSTAT_TYPE_CUMULATIVE;
constexpr uint32_t kCycles = GMM_LOCKSTAT_UNIT_CYCLES;

#define GMM_LOCK_OFF(f) uint32_t(__builtin_offsetof(gmm_lockstat_lock_record, f))
#define GMM_CPU_OFF(f) uint32_t(__builtin_offsetof(gmm_lockstat_cpu_record, f))

constexpr LockstatHead make_head() {
    LockstatHead h{};
    h.header.magic = GMM_LOCKSTAT_MAGIC;
    h.header.version = GMM_LOCKSTAT_VERSION;
    h.header.header_bytes = sizeof(gmm_lockstat_header);
    h.header.class_count = kLockClassCount;
    h.header.class_desc_offset = __builtin_offsetof(LockstatHead, classes);
    h.header.lock_counter_count = kLockCounters;
    h.header.lock_counter_desc_offset = __builtin_offsetof(LockstatHead, lock_counters);
    h.header.cpu_counter_count = kCpuCounters;
    h.header.cpu_counter_desc_offset = __builtin_offsetof(LockstatHead, cpu_counters);
    h.header.cpu_record_bytes = sizeof(gmm_lockstat_cpu_record);
    h.header.lock_record_bytes = sizeof(mm::LockStatRecord);
    h.header.cpu_stride_bytes = sizeof(PerCpu);  // the slots are PerCpu members
    for (uint32_t i = 0; i < kLockClassCount; ++i) {
        const LockClassInfo info = lock_class_info(i);
        h.classes[i].flags = info.flags;
        copy_name(h.classes[i].name, info.name);
    }
    const gmm_lockstat_desc lock[kLockCounters] = {
        desc("acquisitions", kCum, GMM_LOCK_OFF(acquisitions)),
        desc("contentions", kCum, GMM_LOCK_OFF(contentions)),
        desc("con_bounces", kCum, GMM_LOCK_OFF(con_bounces)),
        desc("acq_bounces", kCum, GMM_LOCK_OFF(acq_bounces)),
        desc("waittime_min", GMM_LOCKSTAT_TYPE_MIN | kCycles, GMM_LOCK_OFF(waittime_min_cycles)),
        desc("waittime_max", GMM_LOCKSTAT_TYPE_MAX | kCycles, GMM_LOCK_OFF(waittime_max_cycles)),
        desc("waittime_total", kCum | kCycles, GMM_LOCK_OFF(waittime_total_cycles)),
        desc("holdtime_min", GMM_LOCKSTAT_TYPE_MIN | kCycles, GMM_LOCK_OFF(holdtime_min_cycles)),
        desc("holdtime_max", GMM_LOCKSTAT_TYPE_MAX | kCycles, GMM_LOCK_OFF(holdtime_max_cycles)),
        desc("holdtime_total", kCum | kCycles, GMM_LOCK_OFF(holdtime_total_cycles)),
    };
    const gmm_lockstat_desc cpu[kCpuCounters] = {
        desc("faults", kCum, GMM_CPU_OFF(faults)),
        desc("fault_atomic_rmw", kCum, GMM_CPU_OFF(fault_atomic_rmw)),
        desc("fault_contentions", kCum, GMM_CPU_OFF(fault_contentions)),
        desc("fault_retries", kCum, GMM_CPU_OFF(fault_retries)),
        desc("revalidation_failures", kCum, GMM_CPU_OFF(revalidation_failures)),
        desc("tlb_shootdown_ipis_sent", kCum, GMM_CPU_OFF(tlb_shootdown_ipis_sent)),
        desc("tlb_shootdown_ipis_received", kCum, GMM_CPU_OFF(tlb_shootdown_ipis_received)),
        desc("lock_contentions", kCum, GMM_CPU_OFF(lock_contentions)),
        desc("untimed_nested", kCum, GMM_CPU_OFF(untimed_nested)),
    };
    for (uint32_t i = 0; i < kLockCounters; ++i) h.lock_counters[i] = lock[i];
    for (uint32_t i = 0; i < kCpuCounters; ++i) h.cpu_counters[i] = cpu[i];
    return h;
}

#undef GMM_LOCK_OFF
#undef GMM_CPU_OFF

// The slot is what the descriptors say it is.
#define GMM_SAME(a, b) static_assert(__builtin_offsetof(LockstatCpu, a) == __builtin_offsetof(gmm_lockstat_cpu_record, b))
GMM_SAME(faults, faults);
GMM_SAME(fault_atomic_rmw, fault_atomic_rmw);
GMM_SAME(fault_contentions, fault_contentions);
GMM_SAME(fault_retries, fault_retries);
GMM_SAME(revalidation_failures, revalidation_failures);
GMM_SAME(tlb_shootdown_ipis_sent, tlb_shootdown_ipis_sent);
GMM_SAME(tlb_shootdown_ipis_received, tlb_shootdown_ipis_received);
GMM_SAME(locks.contentions, lock_contentions);
GMM_SAME(locks.untimed_nested, untimed_nested);
#undef GMM_SAME
static_assert(__builtin_offsetof(LockstatCpu, records) == sizeof(gmm_lockstat_cpu_record));
static_assert(__builtin_offsetof(LockstatCpu, records) ==
              __builtin_offsetof(LockstatCpu, locks) + sizeof(mm::LockStatCpu));  // LockStatCpu::records()
#define GMM_SAME(f) static_assert(__builtin_offsetof(mm::LockStatRecord, f) == __builtin_offsetof(gmm_lockstat_lock_record, f))
GMM_SAME(acquisitions);
GMM_SAME(contentions);
GMM_SAME(con_bounces);
GMM_SAME(acq_bounces);
GMM_SAME(waittime_min_cycles);
GMM_SAME(waittime_max_cycles);
GMM_SAME(waittime_total_cycles);
GMM_SAME(holdtime_min_cycles);
GMM_SAME(holdtime_max_cycles);
GMM_SAME(holdtime_total_cycles);
#undef GMM_SAME
static_assert(sizeof(LockstatCpu) % 64 == 0 && sizeof(PerCpu) % 64 == 0);
static_assert(sizeof(mm::LockStatRecord) >= sizeof(gmm_lockstat_lock_record));
static_assert(kLockClassCount <= 64, "LockClass is a uint8_t and records are indexed 2 * class + side");

// .data: the header and descriptors, ready at load time.
constinit LockstatHead g_head = make_head();
uint64_t kernel_gpa(const void* p) { return reinterpret_cast<uint64_t>(p) - GMM_KERNEL_IMAGE_GVA; }

}  // namespace

// Every counted release must follow a counted acquisition: each CPU starts
// counting while it holds no lock.
void lockstat_cpu_start() {
    if (!g_lockstat_on) return;
    PerCpu& me = this_cpu();
    mm::lock_stats_start(me.lockstat.locks, 2 * kLockClassCount);
    me.lock_stats = &me.lockstat.locks;
}

void lockstat_init(const BootArgs& args) {
    const StrView* v = args.find("lockstat");
    GMM_ASSERT(!v || v->equals("on") || v->equals("off"));  // validated by the host
    g_lockstat_on = !v || v->equals("on");
    // g_percpu is .bss, after .data in the image (kernel.ld): the offset is positive.
    const auto head = reinterpret_cast<uintptr_t>(&g_head);
    const auto data = reinterpret_cast<uintptr_t>(&g_percpu[0].lockstat);
    GMM_ASSERT(data > head);
    gmm_lockstat_header& h = g_head.header;
    h.cpu_count = g_kernel.cpu_count;
    h.tsc_khz = g_kernel.boot_info->tsc_khz;
    h.data_offset = data - head;
    h.flags = g_lockstat_on ? GMM_LOCKSTAT_F_ENABLED : 0;
    lockstat_cpu_start();
    ucall_result("lockstat_gpa", kernel_gpa(&g_head));
}

}  // namespace gmm::kernel
