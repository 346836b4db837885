// Ring-3 runner of the memory-manager workloads (will-it-scale semantics) and
// tests. Thread 0 (started by the kernel on vCPU 0) creates one thread per
// other vCPU with THREAD_CREATE, all meet at a WAIT/WAKE barrier, run the
// measured loop, REPORT ops and measured_ns, and thread 0 joins them and EXITs.
// Text, data, stacks and every buffer are mappings of the address space under test.
#include "mm_runner.h"

#include "gmm/abi/ucall.h"
#include "file_runner.h"
#include "mm_sync.h"
#include "syscall.h"

namespace gmm::user {

namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kAnon = GMM_MAP_PRIVATE | GMM_MAP_ANONYMOUS;
constexpr uint64_t kRw = GMM_PROT_READ | GMM_PROT_WRITE;

const MmParams* g_params;
Barrier g_start;
uint32_t g_alive[kMmMaxThreads];
uint32_t g_faulters_done;  // mixed: faulting threads that finished
uint64_t g_errors;

inline uint64_t rdtsc() {
    uint32_t lo, hi;
    asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t(hi) << 32) | lo;
}

// will-it-scale page_fault1: map, write one byte per page, unmap. ops = pages faulted.
uint64_t page_fault1_iteration(uint64_t size) {
    const int64_t a = sys_mmap(0, size, kRw, kAnon);
    if (a < 0) {
        ++g_errors;
        return 0;
    }
    sys_mark(GMM_MARK_FAULTS, 0);
    for (uint64_t off = 0; off < size; off += kPage) *reinterpret_cast<volatile char*>(a + off) = 1;
    sys_mark(GMM_MARK_FAULTS, 1);
    if (sys_munmap(uint64_t(a), size) != 0) ++g_errors;
    return size / kPage;
}

// will-it-scale mmap1: map and unmap without touching. ops = pairs.
uint64_t mmap1_iteration(uint64_t size) {
    const int64_t a = sys_mmap(0, size, kRw, kAnon);
    if (a < 0 || sys_munmap(uint64_t(a), size) != 0) ++g_errors;
    return 1;
}

void measured_thread(uint64_t index) {
    const MmParams& p = *g_params;
    barrier_wait(g_start, uint32_t(p.threads));
    sys_mark(GMM_MARK_MEASURED, 0);
    const uint64_t t0 = rdtsc();
    uint64_t ops = 0;
    const bool churner = p.kind == MmKind::Mmap1 || (p.kind == MmKind::Mixed && index == 0);
    if (is_file_workload(p.kind)) {
        ops = file_workload_run(p, index, g_errors);
    } else if (p.kind == MmKind::Mixed && index == 0 && p.threads > 1) {
        // Churn until every faulting thread is done (at least once).
        do ops += mmap1_iteration(p.size_bytes);
        while (__atomic_load_n(&g_faulters_done, __ATOMIC_ACQUIRE) < p.threads - 1);
    } else {
        for (uint64_t i = 0; i < p.iterations; ++i)
            ops += churner ? mmap1_iteration(p.size_bytes) : page_fault1_iteration(p.size_bytes);
        if (p.kind == MmKind::Mixed) __atomic_add_fetch(&g_faulters_done, 1, __ATOMIC_RELEASE);
    }
    const uint64_t t1 = rdtsc();
    sys_mark(GMM_MARK_MEASURED, 1);
    sys_report(ReportKey::Ops, ops);
    sys_report(ReportKey::MeasuredNs, p.tsc_khz ? (t1 - t0) * 1000000 / p.tsc_khz : 0);
}

[[noreturn]] void worker_entry(uint64_t index, uint64_t) {
    if (is_mm_test(g_params->kind)) run_test_worker(*g_params, index);
    measured_thread(index);
    sys_exit_thread(0);
}

}  // namespace

int64_t start_thread(uint64_t index) {
    __atomic_store_n(&g_alive[index], 1u, __ATOMIC_SEQ_CST);
    const int64_t r =
        sys_thread_create(worker_entry, g_params->stack_top[index], index, index % g_params->vcpus, &g_alive[index]);
    if (r < 0) __atomic_store_n(&g_alive[index], 0u, __ATOMIC_SEQ_CST);
    return r;
}

void join_thread(uint64_t index) {
    for (;;) {
        const uint32_t v = __atomic_load_n(&g_alive[index], __ATOMIC_ACQUIRE);
        if (v == 0) return;
        sys_wait(&g_alive[index], v);
    }
}

[[noreturn]] void mm_main(uint64_t params_gva) {
    g_params = reinterpret_cast<const MmParams*>(params_gva);
    const MmParams& p = *g_params;
    if (p.magic != kMmParamsMagic || p.threads == 0 || p.threads > kMmMaxThreads || p.vcpus == 0) sys_exit(3);
    if (is_mm_test(p.kind)) sys_exit(run_test_main(p));
    for (uint64_t i = 1; i < p.threads; ++i)
        if (start_thread(i) < 0) ++g_errors;
    measured_thread(0);
    for (uint64_t i = 1; i < p.threads; ++i) join_thread(i);
    file_workload_finish(p, g_errors);
    sys_report(ReportKey::UserErrors, g_errors);
    sys_exit(g_errors == 0 ? 0 : 1);
}

}  // namespace gmm::user
