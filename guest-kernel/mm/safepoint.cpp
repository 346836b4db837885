#include "mm/safepoint.h"

#include "sync.h"
#include "x86_64/apic.h"
#include "x86_64/cpu.h"

namespace gmm::kernel {

gmm_safepoint g_safepoint;  // .bss; the host writes request_seq / release_seq
uint32_t g_safepoint_pending[GMM_MAX_VCPUS];

namespace {

// Waits in HLT (interrupts on) until the host releases request `seq`.
void park(uint32_t cpu, uint32_t seq) {
    __atomic_store_n(&g_safepoint.parked_seq[cpu], seq, __ATOMIC_RELEASE);
    wait_until([seq] { return int32_t(__atomic_load_n(&g_safepoint.release_seq, __ATOMIC_ACQUIRE) - seq) >= 0; });
}

}  // namespace

void safepoint_on_interrupt(bool from_user) {
    const uint32_t cpu = this_cpu().cpu_index;
    const uint32_t seq = __atomic_load_n(&g_safepoint.request_seq, __ATOMIC_ACQUIRE);
    const bool requested = int32_t(seq - __atomic_load_n(&g_safepoint.release_seq, __ATOMIC_ACQUIRE)) > 0 &&
                           __atomic_load_n(&g_safepoint.parked_seq[cpu], __ATOMIC_RELAXED) != seq;
    if (!requested) {
        g_safepoint_pending[cpu] = 0;
        return;
    }
    if (!from_user && g_safepoint.in_mm_op[cpu] != 0) {
        g_safepoint_pending[cpu] = 1;  // inside an operation: park on the way out
        return;
    }
    g_safepoint_pending[cpu] = 0;
    park(cpu, seq);
}

uint64_t safepoint_gpa() { return reinterpret_cast<uint64_t>(&g_safepoint) - GMM_KERNEL_IMAGE_GVA; }

}  // namespace gmm::kernel
