// `boot`: every CPU reports online (done in kmain); CPU 0 waits in HLT until
// all have, then DONE(0). APs idle.
#include "sync.h"
#include "ucall.h"
#include "workload.h"

namespace gmm::kernel {

namespace {

void prepare(const BootArgs&) {}

void run(uint32_t cpu) {
    if (cpu != 0) return;
    wait_until([] { return load_acquire(g_kernel.online_count) >= g_kernel.cpu_count; });
    ucall_done(0);
}

}  // namespace

const Workload kBootWorkload = {"boot", nullptr, 0, prepare, run};

}  // namespace gmm::kernel
