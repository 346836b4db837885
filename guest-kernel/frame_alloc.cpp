#include "frame_alloc.h"

#include "assert.h"

namespace gmm::kernel {

namespace {
uint64_t g_next_gpa;
uint64_t g_end_gpa;
}  // namespace

void frame_alloc_init(Gpa free_start, Gpa free_end) {
    g_next_gpa = align_up_or_zero(free_start.value(), kPageSize);
    g_end_gpa = free_end.align_down(kPageSize).value();
    GMM_ASSERT(g_next_gpa != 0);
}

Gpa frame_alloc_zeroed() {
    const uint64_t gpa = __atomic_fetch_add(&g_next_gpa, kPageSize, __ATOMIC_RELAXED);
    GMM_ASSERT_LE(gpa + kPageSize, g_end_gpa);
    return Gpa(gpa);
}

}  // namespace gmm::kernel
