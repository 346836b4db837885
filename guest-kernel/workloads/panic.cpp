// `panic` (test-only): CPU 0 fails a kernel assertion on purpose, exercising
// the GMM_UCALL_ASSERT path (file, line, expression, both values).
#include "assert.h"
#include "workload.h"

namespace gmm::kernel {

namespace {

void prepare(const BootArgs&) {}

void run(uint32_t cpu) {
    if (cpu != 0) return;
    volatile uint64_t answer = 41;  // volatile: the compiler must not fold the check away
    const uint64_t deliberate_panic_value = answer;
    GMM_ASSERT_EQ(deliberate_panic_value, 42);
}

}  // namespace

const Workload kPanicWorkload = {"panic", nullptr, 0, prepare, run};

}  // namespace gmm::kernel
