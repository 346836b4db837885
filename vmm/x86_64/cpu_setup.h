// x86-64 vCPU state at entry (docs/boot-protocol.md): long mode directly,
// x2APIC advertised and enabled, registers carrying the boot arguments.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <vector>

#include "error.h"
#include "gmm/addr.h"
#include "kvm.h"

namespace gmm::vmm::x86_64 {

struct EntryState {
    uint32_t cpu_index;
    Gva entry;             // kernel entry point
    Gva stack_top;         // boot stack
    Gpa fdt;               // RDI
    Gpa boot_info;         // RDX
    Gpa pml4;              // CR3
    Gva gdt;               // GDTR base
    uint16_t gdt_limit;
    Gva tss;               // this vCPU's TSS (TR base)
};

constexpr uint64_t kCr0Pe = 1ull << 0, kCr0Mp = 1ull << 1, kCr0Et = 1ull << 4, kCr0Ne = 1ull << 5,
                   kCr0Wp = 1ull << 16, kCr0Pg = 1ull << 31;
constexpr uint64_t kCr4Pae = 1ull << 5, kCr4Pge = 1ull << 7, kCr4Osfxsr = 1ull << 9, kCr4Osxmmexcpt = 1ull << 10;
constexpr uint64_t kEferSce = 1ull << 0, kEferLme = 1ull << 8, kEferLma = 1ull << 10, kEferNxe = 1ull << 11;
constexpr uint32_t kMsrApicBase = 0x1b;
constexpr uint64_t kApicBaseDefault = 0xfee00000ull, kApicBaseBsp = 1ull << 8, kApicBaseExtd = 1ull << 10,
                   kApicBaseEnable = 1ull << 11;

// Pure: the special registers for long-mode entry (tested without KVM).
kvm_sregs make_entry_sregs(const kvm_sregs& current, const EntryState& st);
kvm_regs make_entry_regs(const EntryState& st);
// Pure: KVM's supported CPUID patched for this vCPU (x2APIC bit, APIC id in
// leaf 1 and leaf 0xB).
std::vector<kvm_cpuid_entry2> make_vcpu_cpuid(std::vector<kvm_cpuid_entry2> supported, uint32_t apic_id);

// Applies all of the above plus IA32_APIC_BASE (x2APIC on) and MP state
// RUNNABLE (application processors would otherwise wait for SIPI).
Status setup_vcpu(Vcpu& vcpu, const std::vector<kvm_cpuid_entry2>& supported_cpuid, const EntryState& st);

}  // namespace gmm::vmm::x86_64
