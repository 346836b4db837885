// File-backed workloads (issue 5): page_fault2, page_fault3, mmap2 with
// will-it-scale semantics, and io_race. Files are the disk's (FILE_OPEN by
// index: thread t uses file t % file_count at offset 0).
#pragma once

#include <stdint.h>

#include "user_abi.h"

namespace gmm::user {

// The measured part of thread `index`; returns its operation count and adds
// failures to `errors`.
uint64_t file_workload_run(const MmParams& p, uint64_t index, uint64_t& errors);

// After every thread was joined (main thread): reports io_race's totals and
// counts wrong pages as errors.
void file_workload_finish(const MmParams& p, uint64_t& errors);

// mmtest test=iowait (mm_tests.cpp): the two threads' parts.
uint64_t iowait_test_main(const MmParams& p);
[[noreturn]] void iowait_test_worker(const MmParams& p);

}  // namespace gmm::user
