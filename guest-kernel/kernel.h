// Machine-wide kernel state, written by CPU 0 before it releases the other
// CPUs and read-only afterwards (except the counters).
#pragma once

#include <stdint.h>

#include "gmm/abi/boot.h"
#include "gmm/addr.h"

namespace gmm::kernel {

struct Workload;

struct KernelState {
    const gmm_boot_info* boot_info;  // validated, via the direct map
    uint32_t cpu_count;              // from /cpus, equal to boot_info->vcpu_count
    uint64_t ram_bytes;              // from /memory
    uint64_t tsc_hz;                 // /cpus timebase-frequency
    const Workload* workload;
    bool released;                     // CPU 0 finished set-up; APs may run the workload
    uint32_t online_count;             // CPUs that sent CPU_ONLINE
    uint32_t finished_count;           // CPUs that finished the workload's per-CPU part
};

extern KernelState g_kernel;

template <typename T>
inline T* direct_map(Gpa gpa) {
    return reinterpret_cast<T*>(GMM_DIRECT_MAP_GVA + gpa.value());
}

}  // namespace gmm::kernel
