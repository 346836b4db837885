// Supervisor-mode probe (GMM_UCALL_PROBE): PROBE(0, N), N iterations of
// `dec; jnz` in ring 0, PROBE(1, N). The host compares KVM's insn_emulation
// across the pair to tell whether ring 0 is emulated.
#pragma once

#include <stdint.h>

namespace gmm::kernel::x86 {

constexpr uint64_t kKvmProbeIterations = 1000;

void kvm_mode_probe();

}  // namespace gmm::kernel::x86
