// `exception vector=V mode=kernel|user`: CPU 0 reports `expected_rip` and then
// raises exception V (#DE, #UD, #GP or #PF) in ring 0 or in the user runtime
// (which reports expected_rip itself). The kernel's handler reports it with
// GMM_UCALL_EXCEPTION; the host ends the run with exit code 10.
#include "assert.h"
#include "sync.h"
#include "ucall.h"
#include "user.h"
#include "workload.h"
#include "x86_64/faults.h"

namespace gmm::kernel {

namespace {

constexpr const char* kKeys[] = {"vector", "mode"};
uint64_t g_vector;
bool g_user_mode;

void prepare(const BootArgs& args) {
    g_vector = args.u64_or("vector", 14);
    GMM_ASSERT(g_vector == 0 || g_vector == 6 || g_vector == 13 || g_vector == 14);
    const StrView* mode = args.find("mode");
    g_user_mode = mode && mode->equals("user");
    GMM_ASSERT(!mode || g_user_mode || mode->equals("kernel"));
    if (g_user_mode) user_space_build(g_kernel.cpu_count);
}

void run(uint32_t cpu) {
    if (cpu != 0) return;
    if (g_user_mode) user_thread_start(user::Mode::Fault, g_vector, nullptr);
    x86::FaultTrigger trigger;
    GMM_ASSERT(x86::kernel_fault_trigger(g_vector, trigger));
    ucall_result("expected_rip", trigger.expected_rip);
    trigger.trigger();
    GMM_PANIC("the deliberate exception did not happen");
}

}  // namespace

const Workload kExceptionWorkload = {"exception", kKeys, 2, prepare, run};

}  // namespace gmm::kernel
