// The storm workload (issue 8, docs/storms.md): the host compiled a Lua storm
// script into per-thread programs (abi/gmm/abi/storm.h) and placed them in the
// boot payload; this maps the payload read-only and the results area
// read-write into the user address space under test and starts the ring-3
// storm runner (guest-user/storm_runner.cpp), which validates the programs
// before it runs them. Keys: mm, placement, freecache (the policy), inject
// (test only: a planted bug, as the mm workloads).
#include "assert.h"
#include "fs/page_cache.h"
#include "gmm/abi/storm.h"
#include "mm/fault.h"
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

constexpr const char* kKeys[] = {"mm", "placement", "freecache", "inject"};
uint64_t g_inject;  // test only: a planted bug for the checker (mm/inject.h)

void report_kernel_side(uint64_t status) {
    status = mm_report_run_end(status);
    for (uint32_t cpu = 0; cpu < g_kernel.cpu_count; ++cpu)
        ucall_result_for(cpu, "segv_recovered", mm_segv_recovered(cpu));
    ucall_done(status);
    idle_forever();
}

void prepare(const BootArgs& args) {
    const gmm_boot_info& bi = *g_kernel.boot_info;
    GMM_ASSERT(bi.payload_size_bytes != 0 && "storm: no payload (gmm storm provides the compiled programs)");
    GMM_ASSERT(bi.results_size_bytes >= sizeof(gmm_storm_results));
    const uint64_t blob_mapped = (bi.payload_size_bytes + kPageSize - 1) & ~(kPageSize - 1);
    GMM_ASSERT(blob_mapped <= GMM_STORM_RESULTS_GVA - GMM_STORM_BLOB_GVA);
    // One kernel-mapped stack, the main thread's: the runner maps a stack per
    // pinned thread itself (GMM_STORM_STACKS_GVA), however many share a vCPU.
    page_cache_init();  // the disk's files, if there is a disk (file regions)
    auto* p = static_cast<user::MmParams*>(mm_space_build(args, 1));
    p->magic = user::kMmParamsMagic;
    p->threads = 1;
    p->vcpus = g_kernel.cpu_count;
    p->tsc_khz = bi.tsc_khz;
    p->file_count = file_count();
    p->stack_top[0] = mm_stack_top(0).value();

    auto* res = direct_map<gmm_storm_results>(Gpa(bi.results_gpa));
    res->version = GMM_STORM_ABI_VERSION;
    res->size_bytes = sizeof(gmm_storm_results);
    res->blob_mapped_bytes = blob_mapped;
    res->tsc_khz = bi.tsc_khz;
    __atomic_store_n(&res->magic, GMM_STORM_RESULTS_MAGIC, __ATOMIC_RELEASE);
    mm_map_reserved(Gva(GMM_STORM_BLOB_GVA), Gpa(bi.payload_gpa), blob_mapped, false);
    mm_map_reserved(Gva(GMM_STORM_RESULTS_GVA), Gpa(bi.results_gpa), bi.results_size_bytes, true);
    g_inject = inject_setup(args);
    mm_threads_init(report_kernel_side);
}

void run(uint32_t cpu) {
    if (cpu == 0) inject_plant_late(g_inject);
    mm_threads_run(cpu, uint64_t(user::Mode::Storm), kMmParamsGva);
}

}  // namespace

const Workload kStormWorkload = {"storm", kKeys, sizeof(kKeys) / sizeof(kKeys[0]), prepare, run};

}  // namespace gmm::kernel
