// Human-readable reports for unexpected vCPU exits: the exit reason by name,
// the registers, and a guest page-table walk of RIP and CR2.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <string>

#include "guest_memory.h"
#include "kvm.h"

namespace gmm::vmm::x86_64 {

// "KVM_EXIT_SHUTDOWN" etc.; "KVM_EXIT_<n>" for unknown values.
std::string exit_reason_name(uint32_t reason);

// Registers as a compact multi-line block.
std::string format_registers(const kvm_regs& regs, const kvm_sregs& sregs);

// Everything we can say about an exit we did not expect, including the
// reason-specific fields of kvm_run and walks of RIP and CR2.
std::string describe_unexpected_exit(const Vcpu& vcpu, const GuestMemory& memory);

}  // namespace gmm::vmm::x86_64
