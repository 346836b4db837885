// `ring3 calls=N`: every CPU runs a user thread that makes N GETCPU gate calls,
// REPORTs gate_calls / user_cpu / user_errors and exits. The kernel reports
// `kernel_gate_calls` (gate entries it served for the thread); CPU 0 sends
// DONE after every thread exited.
#include "assert.h"
#include "sync.h"
#include "ucall.h"
#include "user.h"
#include "workload.h"

namespace gmm::kernel {

namespace {

constexpr const char* kKeys[] = {"calls"};
uint64_t g_calls;

void prepare(const BootArgs& args) {
    g_calls = args.u64_or("calls", 10);
    GMM_ASSERT(g_calls >= 1);
    user_space_build(g_kernel.cpu_count);
}

void on_exit(uint64_t status) {
    const uint32_t cpu = this_cpu().cpu_index;
    ucall_result("kernel_gate_calls", this_cpu().gate_calls);
    ucall_result("user_exit_status", status);
    signal_finished_to_cpu0(cpu);
    if (cpu == 0) {
        wait_all_finished();
        ucall_done(0);
    }
}

void run(uint32_t) { user_thread_start(user::Mode::GateCalls, g_calls, on_exit); }

}  // namespace

const Workload kRing3Workload = {"ring3", kKeys, 1, prepare, run};

}  // namespace gmm::kernel
