// What every memory-manager run (the mm workloads, storms) files with the
// host when it ends: per-CPU TLB, lock-sleep and scheduler counts, the address
// space's counters and frame statistics, and — with a disk — the final
// writeback (nothing written through a shared mapping may be lost) and the
// page cache's counts. Address-space-wide results go to vCPU 0.
#pragma once

#include <stdint.h>

namespace gmm::kernel {

// Returns `status`, or 1 if it was 0 and the writeback failed.
uint64_t mm_report_run_end(uint64_t status);

}  // namespace gmm::kernel
