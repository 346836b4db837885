// The memory-manager workloads: page_fault1, mmap1, mixed (will-it-scale
// semantics, ring-3 runner in guest-user/mm_runner.cpp) and `mmtest test=...`
// (SEGV, mprotect, zero-on-reuse, shootdown, bad arguments, PTL isolation).
// Keys: mm, placement, freecache (the policy), size (bytes per thread),
// iterations. The user program runs one thread per vCPU in the address space
// under test; its main thread ends the run with EXIT, after which CPU 0 files
// the kernel-side results and sends DONE.
#include "assert.h"
#include "frame_alloc.h"
#include "fs/page_cache.h"
#include "mm/guest_platform.h"
#include "mm/inject.h"
#include "mm/threads.h"
#include "mm/tlb.h"
#include "mm/user_space.h"
#include "sched/sched.h"
#include "sync.h"
#include "ucall.h"
#include "user_abi.h"
#include "workload.h"

namespace gmm::kernel {

namespace {

constexpr const char* kKeys[] = {"mm", "placement", "freecache", "size", "iterations", "inject", "threads", "test"};
constexpr uint32_t kKeyCount = sizeof(kKeys) / sizeof(kKeys[0]);

user::MmKind g_kind;
uint64_t g_inject;

struct TestName {
    const char* name;
    user::MmKind kind;
};
constexpr TestName kTests[] = {
    {"segv", user::MmKind::TestSegv},         {"mprotect", user::MmKind::TestMprotect},
    {"zero_reuse", user::MmKind::TestZeroReuse}, {"shootdown", user::MmKind::TestShootdown},
    {"badargs", user::MmKind::TestBadArgs},   {"ptl", user::MmKind::TestPtl},
    {"iowait", user::MmKind::TestIoWait},
};

void report_kernel_side(uint64_t status) {
    const uint32_t n = g_kernel.cpu_count;
    for (uint32_t cpu = 0; cpu < n; ++cpu) {
        const TlbStats t = tlb_stats(cpu);
        ucall_result_for(cpu, "tlb_shootdowns", t.shootdowns);
        ucall_result_for(cpu, "tlb_ipis_sent", t.ipis_sent);
        ucall_result_for(cpu, "lock_sleeps", lock_sleeps(cpu));
        const SchedStats ss = sched_stats(cpu);
        ucall_result_for(cpu, "sched_switches", ss.switches);
        ucall_result_for(cpu, "sched_preemptions", ss.preemptions);
        ucall_result_for(cpu, "sched_blocks", ss.blocks);
        if (g_kind == user::MmKind::TestPtl) {
            const PtlTrackResult r = mm_ptl_track_result(cpu, n);
            ucall_result_for(cpu, "ptl_distinct", r.distinct);
            ucall_result_for(cpu, "ptl_shared", r.shared);
            ucall_result_for(cpu, "ptl_acquisitions", r.acquisitions);
            ucall_result_for(cpu, "ptl_overflow", r.overflow);
        }
    }
    const FrameStats f = frame_stats();
    ucall_result("frames_meta_gpa", f.meta_gpa);
    ucall_result("frames_meta_count", f.meta_count);
    ucall_result("frames_recycled", f.recycled_allocs);
    ucall_result("frames_punched", f.frames_punched);
    ucall_result("punch_calls", f.punch_calls);
    mm::AddressSpace& as = mm_space();
    ucall_result("mm_faults_installed", uint64_t(as.counter(mm::Counter::FaultsInstalled)));
    ucall_result("mm_tlb_flush_requests", uint64_t(as.counter(mm::Counter::TlbFlushRequests)));
    ucall_result("mm_faults_need_io", uint64_t(as.counter(mm::Counter::FaultsNeedIo)));
    ucall_result("mm_fault_retries", uint64_t(as.counter(mm::Counter::FaultRetries)));
    ucall_result("mm_revalidation_failures", uint64_t(as.counter(mm::Counter::RevalidationFailures)));
    ucall_result("mm_cow_copies", uint64_t(as.counter(mm::Counter::CowCopies)));
    if (file_count() != 0) {
        // Nothing written through a shared mapping may be lost: write back and
        // flush before the host is told the run is over.
        const bool written = page_cache_writeback(Writeback::Everything);
        const PageCacheStats pc = page_cache_stats();
        ucall_result("writeback_ok", written ? 1 : 0);
        ucall_result("page_cache_reads", pc.reads);
        ucall_result("page_cache_read_waits", pc.read_waits);
        ucall_result("page_cache_read_errors", pc.read_errors);
        ucall_result("page_cache_hits", pc.hits);
        ucall_result("page_cache_pages_written", pc.pages_written);
        if (!written && status == 0) status = 1;
    }
    if (g_kind == user::MmKind::TestBadArgs || g_kind == user::MmKind::TestZeroReuse) {
        // Every other thread has been joined: the space is quiescent. (The
        // checker ignores the Accessed bits the CPU sets in upper-level entries.)
        const mm::CheckReport rep = as.check();
        ucall_result("mm_check_ok", rep.ok() ? 1 : 0);
        if (!rep.ok()) ucall_print(rep.message);
    }
    ucall_done(status);
    idle_forever();
}

user::MmKind kind_from(const BootArgs& args) {
    if (args.workload.equals("page_fault1")) return user::MmKind::PageFault1;
    if (args.workload.equals("mmap1")) return user::MmKind::Mmap1;
    if (args.workload.equals("mixed")) return user::MmKind::Mixed;
    if (args.workload.equals("page_fault2")) return user::MmKind::PageFault2;
    if (args.workload.equals("page_fault3")) return user::MmKind::PageFault3;
    if (args.workload.equals("mmap2")) return user::MmKind::Mmap2;
    if (args.workload.equals("io_race")) return user::MmKind::IoRace;
    const StrView* t = args.find("test");
    GMM_ASSERT(t != nullptr && "mmtest needs test=NAME");
    for (const TestName& n : kTests)
        if (t->equals(n.name)) return n.kind;
    GMM_PANIC("unknown mmtest test");
}

void prepare(const BootArgs& args) {
    g_kind = kind_from(args);
    const uint64_t asked = user::is_mm_test(g_kind) ? 0 : args.u64_or("threads", 0);
    uint32_t threads = asked ? uint32_t(asked) : g_kernel.cpu_count;  // the host checked <= 64
    if (g_kind == user::MmKind::TestIoWait) threads = 2;  // two threads sharing vCPU 0 (run with --vcpus 1)
    page_cache_init();
    GMM_ASSERT_LE(threads, user::kMmMaxThreads);
    auto* p = static_cast<user::MmParams*>(mm_space_build(args, threads));
    p->magic = user::kMmParamsMagic;
    p->kind = g_kind;
    p->threads = threads;
    p->vcpus = g_kernel.cpu_count;
    p->size_bytes = args.u64_or("size", 4ull << 20);
    p->iterations = args.u64_or("iterations", 4);
    p->tsc_khz = g_kernel.boot_info->tsc_khz;
    p->file_count = file_count();
    GMM_ASSERT(p->size_bytes != 0 && p->size_bytes % kPageSize == 0);
    for (uint32_t t = 0; t < threads; ++t) p->stack_top[t] = mm_stack_top(t).value();
    if (g_kind == user::MmKind::TestPtl) mm_ptl_track_install();
    g_inject = inject_setup(args);
    mm_threads_init(report_kernel_side);
}

void run(uint32_t cpu) {
    if (cpu == 0) inject_plant_late(g_inject);
    mm_threads_run(cpu, uint64_t(user::Mode::Mm), kMmParamsGva);
}

}  // namespace

const Workload kPageFault1Workload = {"page_fault1", kKeys, kKeyCount - 1, prepare, run};
const Workload kMmap1Workload = {"mmap1", kKeys, kKeyCount - 1, prepare, run};
const Workload kMixedWorkload = {"mixed", kKeys, kKeyCount - 1, prepare, run};
const Workload kMmTestWorkload = {"mmtest", kKeys, kKeyCount, prepare, run};
const Workload kPageFault2Workload = {"page_fault2", kKeys, kKeyCount - 1, prepare, run};
const Workload kPageFault3Workload = {"page_fault3", kKeys, kKeyCount - 1, prepare, run};
const Workload kMmap2Workload = {"mmap2", kKeys, kKeyCount - 1, prepare, run};
const Workload kIoRaceWorkload = {"io_race", kKeys, kKeyCount - 1, prepare, run};

}  // namespace gmm::kernel
