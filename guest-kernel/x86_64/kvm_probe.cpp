#include "kvm_probe.h"

#include "ucall.h"

namespace gmm::kernel::x86 {

void kvm_mode_probe() {
    ucall_probe(0, kKvmProbeIterations);
    uint64_t n = kKvmProbeIterations;
    asm volatile("1: decq %0\n\tjnz 1b" : "+r"(n));
    ucall_probe(1, kKvmProbeIterations);
}

}  // namespace gmm::kernel::x86
