#include "mm/run_end.h"

#include "frame_alloc.h"
#include "fs/page_cache.h"
#include "kernel.h"
#include "mm/guest_platform.h"
#include "mm/tlb.h"
#include "mm/user_space.h"
#include "sched/sched.h"
#include "ucall.h"

namespace gmm::kernel {

uint64_t mm_report_run_end(uint64_t status) {
    for (uint32_t cpu = 0; cpu < g_kernel.cpu_count; ++cpu) {
        const TlbStats t = tlb_stats(cpu);
        ucall_result_for(cpu, "tlb_shootdowns", t.shootdowns);
        ucall_result_for(cpu, "tlb_ipis_sent", t.ipis_sent);
        ucall_result_for(cpu, "lock_sleeps", lock_sleeps(cpu));
        const SchedStats ss = sched_stats(cpu);  // threads sharing a vCPU took turns / slept
        ucall_result_for(cpu, "sched_switches", ss.switches);
        ucall_result_for(cpu, "sched_preemptions", ss.preemptions);
        ucall_result_for(cpu, "sched_blocks", ss.blocks);
    }
    const FrameStats f = frame_stats();
    ucall_result_for(0, "frames_meta_gpa", f.meta_gpa);
    ucall_result_for(0, "frames_meta_count", f.meta_count);
    ucall_result_for(0, "frames_recycled", f.recycled_allocs);
    ucall_result_for(0, "frames_released", f.frames_released);
    ucall_result_for(0, "free_frames_calls", f.free_frames_calls);
    mm::AddressSpace& as = mm_space();
    ucall_result_for(0, "mm_faults_installed", uint64_t(as.counter(mm::Counter::FaultsInstalled)));
    ucall_result_for(0, "mm_tlb_flush_requests", uint64_t(as.counter(mm::Counter::TlbFlushRequests)));
    // Sleeping file faults: each sleep, retries, and faults sent back because
    // the extent changed while they slept.
    ucall_result_for(0, "mm_faults_need_io", uint64_t(as.counter(mm::Counter::FaultsNeedIo)));
    ucall_result_for(0, "mm_fault_retries", uint64_t(as.counter(mm::Counter::FaultRetries)));
    ucall_result_for(0, "mm_revalidation_failures", uint64_t(as.counter(mm::Counter::RevalidationFailures)));
    ucall_result_for(0, "mm_cow_copies", uint64_t(as.counter(mm::Counter::CowCopies)));
    if (file_count() == 0) return status;
    // Before the host is told the run is over.
    const bool written = page_cache_writeback(Writeback::Everything);
    const PageCacheStats pc = page_cache_stats();
    ucall_result_for(0, "writeback_ok", written ? 1 : 0);
    ucall_result_for(0, "page_cache_reads", pc.reads);
    ucall_result_for(0, "page_cache_read_waits", pc.read_waits);
    ucall_result_for(0, "page_cache_read_errors", pc.read_errors);
    ucall_result_for(0, "page_cache_hits", pc.hits);
    ucall_result_for(0, "page_cache_pages_written", pc.pages_written);
    return !written && status == 0 ? 1 : status;
}

}  // namespace gmm::kernel
