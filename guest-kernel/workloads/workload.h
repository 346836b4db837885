// Workloads, selected by bootargs `workload=NAME key=value ...`. The host
// validates names and keys before boot; the kernel still rejects unknown ones.
#pragma once

#include <stdint.h>

#include "bootargs.h"

namespace gmm::kernel {

struct Workload {
    const char* name;
    const char* const* keys;  // accepted bootargs keys
    uint32_t key_count;
    // CPU 0 only, before the other CPUs are released: read parameters, set up
    // shared state (e.g. the user address space).
    void (*prepare)(const BootArgs& args);
    // Every CPU after release. May not return (it then idles).
    void (*run)(uint32_t cpu);
};

// Asserts that the name and every key are known.
const Workload& workload_select(const BootArgs& args);

extern const Workload kBootWorkload, kIpiWorkload, kTimerWorkload, kRing3Workload, kExceptionWorkload,
    kSpinWorkload, kPanicWorkload, kPageFault1Workload, kMmap1Workload, kMixedWorkload, kMmTestWorkload, kLockHammerWorkload,
    kStormWorkload, kBlkCheckWorkload,
    kPageFault2Workload, kPageFault3Workload, kMmap2Workload, kIoRaceWorkload;

}  // namespace gmm::kernel
