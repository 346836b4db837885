// The storm runner's main thread and thread start-up (docs/storms.md "Runner").
#include "storm_runner.h"

#include "storm_access.h"
#include "syscall.h"

namespace gmm::user {

StormRun g_storm;

namespace {

uint64_t g_region_base[GMM_STORM_MAX_REGIONS];

inline uint64_t rdtsc() {
    uint32_t lo, hi;
    asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t(hi) << 32) | lo;
}

[[noreturn]] void give_up(uint32_t state, int32_t error, uint32_t index, uint64_t exit_status) {
    gmm_storm_results& r = *g_storm.results;
    r.runner_error = error;
    r.runner_error_index = index;
    __atomic_store_n(&r.runner_state, state, __ATOMIC_RELEASE);
    sys_report(ReportKey::UserErrors, 1);
    sys_exit(exit_status);
}

int64_t register_recovery() {
    return syscall5(GMM_SYS_SEGV_RECOVER, reinterpret_cast<uint64_t>(&gmm_storm_access),
                    reinterpret_cast<uint64_t>(gmm_storm_access_end),
                    reinterpret_cast<uint64_t>(gmm_storm_access_landing), 0, 0);
}

void join(uint32_t index) {
    uint32_t* alive = &g_storm.results->threads[index].alive;
    for (uint32_t v; (v = __atomic_load_n(alive, __ATOMIC_ACQUIRE)) != 0;) sys_wait(alive, v);
}

// Pinned thread `index`'s stack: GMM_STORM_STACK_BYTES at a fixed address of the
// runner's stack area (below the arena, so storm ops never reach it), with an
// unmapped guard page below. Faulted in on first use. Returns its top or -errno.
int64_t map_pinned_stack(uint32_t index) {
    const uint64_t bottom = GMM_STORM_STACKS_GVA + uint64_t(index) * GMM_STORM_STACK_STRIDE_BYTES + 4096;
    const int64_t a = sys_mmap(bottom, GMM_STORM_STACK_BYTES, GMM_PROT_READ | GMM_PROT_WRITE,
                               GMM_MAP_PRIVATE | GMM_MAP_ANONYMOUS | GMM_MAP_FIXED);
    if (a < 0) return a;
    return a == int64_t(bottom) ? int64_t(bottom + GMM_STORM_STACK_BYTES) : -int64_t(GMM_EFAULT);
}

}  // namespace

uint64_t storm_region_base(uint32_t index) {
    const gmm_storm_region& r = g_storm.view.regions[index];
    return (r.flags & GMM_STORM_RF_HINT) ? __atomic_load_n(&g_region_base[index], __ATOMIC_ACQUIRE) : r.gva;
}

void storm_set_region_base(uint32_t index, uint64_t base) {
    __atomic_store_n(&g_region_base[index], base, __ATOMIC_RELEASE);
}

void storm_thread_entry(uint64_t index, uint64_t) {
    if (register_recovery() != 0) sys_exit_thread(5);
    storm_run_thread(uint32_t(index));
    sys_exit_thread(0);
}

void storm_main(uint64_t params_gva) {
    g_storm.params = reinterpret_cast<const MmParams*>(params_gva);
    g_storm.results = reinterpret_cast<gmm_storm_results*>(GMM_STORM_RESULTS_GVA);
    const MmParams& p = *g_storm.params;
    gmm_storm_results& res = *g_storm.results;
    if (p.magic != kMmParamsMagic || p.vcpus == 0 || p.vcpus > kMmMaxThreads ||
        res.magic != GMM_STORM_RESULTS_MAGIC || res.version != GMM_STORM_ABI_VERSION)
        sys_exit(3);
    __atomic_store_n(&res.runner_state, uint32_t(GMM_STORM_RUNNER_VALIDATING), __ATOMIC_RELEASE);
    const StormCheck check = storm_validate(reinterpret_cast<const void*>(GMM_STORM_BLOB_GVA), res.blob_mapped_bytes,
                                            uint32_t(p.vcpus), g_storm.view);
    if (!check.ok()) give_up(GMM_STORM_RUNNER_INVALID, int32_t(check.code), check.index, 3);
    const StormView& v = g_storm.view;
    const gmm_storm_header& h = *v.header;
    g_storm.tsc_per_us = p.tsc_khz >= 1000 ? p.tsc_khz / 1000 : 1;
    g_storm.stop_on_failure = h.flags & GMM_STORM_F_STOP_ON_FAILURE;
    res.thread_count = h.thread_count;

    __atomic_store_n(&res.runner_state, uint32_t(GMM_STORM_RUNNER_SETUP), __ATOMIC_RELEASE);
    if (int64_t e = register_recovery(); e != 0) give_up(GMM_STORM_RUNNER_SETUP_FAILED, int32_t(e), ~0u, 4);
    for (uint32_t i = 0; i < h.file_count; ++i) {  // by name: FILE_OPEN; by index: FILE_SIZE checks it exists
        const gmm_storm_file& f = v.files[i];
        uint64_t len = 0;
        while (len < sizeof f.name && f.name[len]) ++len;
        const int64_t fd = len ? sys_file_open(f.name, len) : f.disk_index;
        const int64_t size = fd < 0 ? fd : sys_file_size(uint64_t(fd));
        if (size < 0) give_up(GMM_STORM_RUNNER_FILE_FAILED, int32_t(size), i, 4);
        g_storm.fd[i] = uint64_t(fd);
    }
    for (uint32_t i = 0; i < h.region_count; ++i) {
        const gmm_storm_region& r = v.regions[i];
        if (!(r.flags & GMM_STORM_RF_PREMAPPED)) continue;
        const bool hint = r.flags & GMM_STORM_RF_HINT;
        const bool file = r.flags & GMM_STORM_RF_FILE;
        const uint64_t flags = storm_region_map_flags(i) | (hint ? 0 : GMM_MAP_FIXED);
        const uint64_t token = file ? storm_file_change_begin(i) : 0;
        const int64_t a = file ? sys_mmap_file(r.gva, r.size_bytes, r.prot, flags, g_storm.fd[r.file], r.file_offset_bytes)
                               : sys_mmap(r.gva, r.size_bytes, r.prot, flags);
        const bool ok = a >= 0 && (hint || uint64_t(a) == r.gva);
        if (ok && hint) storm_set_region_base(i, uint64_t(a));
        if (file) storm_file_change_end(i, token, ok, 0, r.size_bytes, r.file, r.file_offset_bytes);
        if (!ok) give_up(GMM_STORM_RUNNER_SETUP_FAILED, a < 0 ? int32_t(a) : -int32_t(GMM_EFAULT), i, 4);
    }

    res.start_tsc = rdtsc();
    __atomic_store_n(&res.runner_state, uint32_t(GMM_STORM_RUNNER_RUNNING), __ATOMIC_RELEASE);
    // The first pinned thread on vCPU 0 runs on this (main) thread; every other
    // pinned thread, however many share a vCPU, gets its own thread and stack.
    uint32_t on_main = ~0u;
    for (uint32_t i = 0; i < h.thread_count && on_main == ~0u; ++i)
        if (!(v.threads[i].flags & GMM_STORM_TF_SPAWNED) && v.threads[i].vcpu == 0) on_main = i;
    for (uint32_t i = 0; i < h.thread_count; ++i) {
        const gmm_storm_thread& t = v.threads[i];
        if ((t.flags & GMM_STORM_TF_SPAWNED) || i == on_main) continue;
        const int64_t stack = map_pinned_stack(i);
        if (stack < 0) give_up(GMM_STORM_RUNNER_SETUP_FAILED, int32_t(stack), i, 4);
        __atomic_store_n(&res.threads[i].alive, 1u, __ATOMIC_SEQ_CST);
        const int64_t r = sys_thread_create(storm_thread_entry, uint64_t(stack), i, t.vcpu, &res.threads[i].alive);
        if (r < 0) {
            __atomic_store_n(&res.threads[i].alive, 0u, __ATOMIC_SEQ_CST);
            give_up(GMM_STORM_RUNNER_SETUP_FAILED, int32_t(r), i, 4);
        }
    }
    if (on_main != ~0u) storm_run_thread(on_main);
    for (uint32_t i = 0; i < h.thread_count; ++i)
        if (!(v.threads[i].flags & GMM_STORM_TF_SPAWNED) && i != on_main) join(i);
    res.end_tsc = rdtsc();
    uint64_t failures = 0;
    for (uint32_t i = 0; i < h.thread_count; ++i) failures += res.threads[i].failures;
    __atomic_store_n(&res.runner_state, uint32_t(GMM_STORM_RUNNER_FINISHED), __ATOMIC_RELEASE);
    sys_report(ReportKey::UserErrors, failures);
    sys_exit(failures == 0 ? 0 : 1);
}

}  // namespace gmm::user
