// The memory-manager workload runner (mm_runner.cpp) and its tests (mm_tests.cpp).
#pragma once

#include <stdint.h>

#include "user_abi.h"

namespace gmm::user {

[[noreturn]] void mm_main(uint64_t params_gva);

// Threads of the runner: start worker `index` on vCPU `index`; join waits in the kernel.
int64_t start_thread(uint64_t index);
void join_thread(uint64_t index);

// Tests: the main thread's part returns the exit status; a worker's never returns.
uint64_t run_test_main(const MmParams& p);
[[noreturn]] void run_test_worker(const MmParams& p, uint64_t index);

}  // namespace gmm::user
