// The memory-manager workloads: page_fault1, mmap1, mixed (will-it-scale
// semantics, ring-3 runner in guest-user/mm_runner.cpp) and `mmtest test=...`
// (SEGV, mprotect, zero-on-reuse, shootdown, bad arguments, PTL isolation).
// Keys: mm, placement, freecache (the policy), size (bytes per thread),
// iterations. The user program runs one thread per vCPU in the address space
// under test; its main thread ends the run with EXIT, after which CPU 0 files
// the kernel-side results and sends DONE.
#include "assert.h"
#include "fs/page_cache.h"
#include "mm/inject.h"
#include "mm/run_end.h"
#include "mm/threads.h"
#include "mm/user_space.h"
#include "sync.h"
#include "ucall.h"
#include "user_abi.h"
#include "workload.h"

namespace gmm::kernel {

namespace {

constexpr const char* kKeys[] = {"mm", "placement", "freecache", "size", "iterations", "inject", "threads", "test"};
constexpr uint32_t kKeyCount = sizeof(kKeys) / sizeof(kKeys[0]);
constexpr const char* kMapbenchKeys[] = {"mm", "placement", "freecache", "size", "iterations", "inject", "threads", "mode"};

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
    status = mm_report_run_end(status);
    if (g_kind == user::MmKind::TestPtl)
        for (uint32_t cpu = 0; cpu < g_kernel.cpu_count; ++cpu) {
            const PtlTrackResult r = mm_ptl_track_result(cpu, g_kernel.cpu_count);
            ucall_result_for(cpu, "ptl_distinct", r.distinct);
            ucall_result_for(cpu, "ptl_shared", r.shared);
            ucall_result_for(cpu, "ptl_acquisitions", r.acquisitions);
            ucall_result_for(cpu, "ptl_overflow", r.overflow);
        }
    mm::AddressSpace& as = mm_space();
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
    if (args.workload.equals("mapbench")) {
        const StrView* m = args.find("mode");
        if (!m || m->equals("local")) return user::MmKind::MapbenchLocal;
        if (m->equals("pipeline")) return user::MmKind::MapbenchPipeline;
        if (m->equals("global")) return user::MmKind::MapbenchGlobal;
        GMM_PANIC("unknown mapbench mode");
    }
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
const Workload kMapbenchWorkload = {"mapbench", kMapbenchKeys, sizeof(kMapbenchKeys) / sizeof(kMapbenchKeys[0]), prepare,
                                    run};
const Workload kPageFault2Workload = {"page_fault2", kKeys, kKeyCount - 1, prepare, run};
const Workload kPageFault3Workload = {"page_fault3", kKeys, kKeyCount - 1, prepare, run};
const Workload kMmap2Workload = {"mmap2", kKeys, kKeyCount - 1, prepare, run};
const Workload kIoRaceWorkload = {"io_race", kKeys, kKeyCount - 1, prepare, run};

}  // namespace gmm::kernel
