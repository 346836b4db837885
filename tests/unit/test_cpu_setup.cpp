// The vCPU state at entry (docs/boot-protocol.md), checked field by field
// without KVM: long mode, selectors, TR, registers, CPUID patches.
#include <catch2/catch.hpp>

#include "gmm/abi/boot.h"
#include "x86_64/cpu_setup.h"
#include "x86_64/exit_report.h"

using namespace gmm;
using namespace gmm::vmm::x86_64;

namespace {
EntryState sample_state(uint32_t cpu) {
    EntryState st{};
    st.cpu_index = cpu;
    st.entry = Gva(0xffffffff80100000ull);
    st.stack_top = Gva(GMM_DIRECT_MAP_GVA + 0x200000);
    st.fdt = Gpa(0x300000);
    st.boot_info = Gpa(GMM_BOOT_INFO_GPA);
    st.pml4 = Gpa(0x10000);
    st.gdt = Gva(GMM_DIRECT_MAP_GVA + 0x2000);
    st.gdt_limit = 0x40 + 16 * 2 - 1;
    st.tss = Gva(GMM_DIRECT_MAP_GVA + 0x3000 + 128 * cpu);
    return st;
}
}  // namespace

TEST_CASE("entry special registers put the vCPU straight into long mode", "[cpu_setup]") {
    const kvm_sregs s = make_entry_sregs(kvm_sregs{}, sample_state(1));
    CHECK((s.cr0 & (kCr0Pe | kCr0Pg | kCr0Wp)) == (kCr0Pe | kCr0Pg | kCr0Wp));
    CHECK((s.cr4 & kCr4Pae) != 0);
    CHECK(s.efer == (kEferSce | kEferLme | kEferLma | kEferNxe));
    CHECK(s.cr3 == 0x10000);
    CHECK(s.cs.selector == GMM_SEL_KERNEL_CS);
    CHECK(s.cs.l == 1);
    CHECK(s.cs.db == 0);  // L=1 requires D=0
    CHECK(s.ss.selector == GMM_SEL_KERNEL_DS);
    CHECK(s.tr.selector == GMM_SEL_TSS(1));
    CHECK(s.tr.type == 0xb);  // busy 64-bit TSS
    CHECK(s.tr.base == GMM_DIRECT_MAP_GVA + 0x3000 + 128);
    CHECK(s.idt.limit == 0);  // the kernel installs its own IDT
    CHECK((s.apic_base & (kApicBaseEnable | kApicBaseExtd)) == (kApicBaseEnable | kApicBaseExtd));
    CHECK((s.apic_base & kApicBaseBsp) == 0);  // only vCPU 0 is the BSP
    CHECK((make_entry_sregs(kvm_sregs{}, sample_state(0)).apic_base & kApicBaseBsp) != 0);
}

TEST_CASE("entry registers carry the FDT, cpu index and boot info", "[cpu_setup]") {
    const kvm_regs r = make_entry_regs(sample_state(3));
    CHECK(r.rip == 0xffffffff80100000ull);
    CHECK(r.rdi == 0x300000);
    CHECK(r.rsi == 3);
    CHECK(r.rdx == GMM_BOOT_INFO_GPA);
    CHECK(r.rflags == 0x2);  // interrupts off until the kernel has an IDT
}

TEST_CASE("CPUID advertises x2APIC with this vCPU's APIC id", "[cpu_setup]") {
    std::vector<kvm_cpuid_entry2> in(2);
    in[0].function = 1;
    in[0].ebx = 0xff123456;
    in[1].function = 0xb;
    auto out = make_vcpu_cpuid(in, 5);
    CHECK((out[0].ecx & (1u << 21)) != 0);
    CHECK((out[0].ebx >> 24) == 5);
    CHECK((out[0].ebx & 0xffffff) == 0x123456);  // the rest of EBX is kept
    CHECK(out[1].edx == 5);
}

TEST_CASE("exit reasons are reported by name", "[exit_report]") {
    CHECK(exit_reason_name(KVM_EXIT_SHUTDOWN) == "KVM_EXIT_SHUTDOWN");
    CHECK(exit_reason_name(KVM_EXIT_MMIO) == "KVM_EXIT_MMIO");
    CHECK(exit_reason_name(9999) == "KVM_EXIT_9999");
}
