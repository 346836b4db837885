// `spin`: every CPU enters ring 3 and increments its own counter in user
// memory forever (ring 3 runs natively, so spinning there is free). CPU 0 first
// reports `spin_counter_gpa` so the host can watch progress (pause/resume and
// timeout tests).
#include "sync.h"
#include "ucall.h"
#include "user.h"
#include "workload.h"

namespace gmm::kernel {

namespace {

void prepare(const BootArgs&) { user_space_build(g_kernel.cpu_count); }

void run(uint32_t cpu) {
    if (cpu == 0) ucall_result("spin_counter_gpa", user_counter_gpa(0).value());
    user_thread_start(user::Mode::Spin, user_counter_gva(cpu).value(), nullptr);
}

}  // namespace

const Workload kSpinWorkload = {"spin", nullptr, 0, prepare, run};

}  // namespace gmm::kernel
