#include "x86_64/cpu_setup.h"

#include "gmm/abi/boot.h"

namespace gmm::vmm::x86_64 {

namespace {

kvm_segment flat_segment(uint16_t selector, uint8_t type, bool code) {
    kvm_segment s{};
    s.base = 0;
    s.limit = 0xffffffff;
    s.selector = selector;
    s.type = type;
    s.present = 1;
    s.dpl = 0;
    s.db = code ? 0 : 1;  // a 64-bit code segment must have D=0 when L=1
    s.s = 1;
    s.l = code ? 1 : 0;
    s.g = 1;
    return s;
}

}  // namespace

kvm_sregs make_entry_sregs(const kvm_sregs& current, const EntryState& st) {
    kvm_sregs s = current;
    s.cs = flat_segment(GMM_SEL_KERNEL_CS, 0xb /* execute/read, accessed */, true);
    s.ds = s.es = s.ss = flat_segment(GMM_SEL_KERNEL_DS, 0x3 /* read/write, accessed */, false);
    s.fs = s.gs = flat_segment(0, 0x3, false);
    s.fs.selector = s.gs.selector = 0;

    s.tr = kvm_segment{};
    s.tr.base = st.tss.value();
    s.tr.limit = 103;  // 104-byte 64-bit TSS, no I/O bitmap
    s.tr.selector = static_cast<uint16_t>(GMM_SEL_TSS(st.cpu_index));
    s.tr.type = 0xb;   // busy 64-bit TSS
    s.tr.present = 1;

    s.ldt = kvm_segment{};
    s.ldt.unusable = 1;

    s.gdt.base = st.gdt.value();
    s.gdt.limit = st.gdt_limit;
    s.idt.base = 0;
    s.idt.limit = 0;  // the kernel installs its IDT before enabling interrupts

    s.cr0 = kCr0Pe | kCr0Mp | kCr0Et | kCr0Ne | kCr0Wp | kCr0Pg;
    s.cr3 = st.pml4.value();
    s.cr4 = kCr4Pae | kCr4Pge | kCr4Osfxsr | kCr4Osxmmexcpt;
    s.efer = kEferSce | kEferLme | kEferLma | kEferNxe;
    s.apic_base = kApicBaseDefault | kApicBaseEnable | kApicBaseExtd | (st.cpu_index == 0 ? kApicBaseBsp : 0);
    return s;
}

kvm_regs make_entry_regs(const EntryState& st) {
    kvm_regs r{};
    r.rip = st.entry.value();
    r.rsp = st.stack_top.value();
    r.rdi = st.fdt.value();
    r.rsi = st.cpu_index;
    r.rdx = st.boot_info.value();
    r.rflags = 0x2;  // bit 1 is reserved-one; interrupts off
    return r;
}

std::vector<kvm_cpuid_entry2> make_vcpu_cpuid(std::vector<kvm_cpuid_entry2> entries, uint32_t apic_id) {
    for (kvm_cpuid_entry2& e : entries) {
        if (e.function == 1) {
            e.ecx |= 1u << 21;  // x2APIC
            e.ecx |= 1u << 31;  // running under a hypervisor
            e.ebx = (e.ebx & 0x00ffffffu) | (apic_id << 24);
        } else if (e.function == 0xb || e.function == 0x1f) {
            e.edx = apic_id;  // x2APIC id of this logical processor
        }
    }
    return entries;
}

Status setup_vcpu(Vcpu& vcpu, const std::vector<kvm_cpuid_entry2>& supported_cpuid, const EntryState& st) {
    if (Status s = vcpu.set_cpuid(make_vcpu_cpuid(supported_cpuid, st.cpu_index)); !s) return s;
    auto cur = vcpu.get_sregs();
    if (!cur) return Err{cur.error()};
    if (Status s = vcpu.set_sregs(make_entry_sregs(*cur, st)); !s) return s;
    if (Status s = vcpu.set_regs(make_entry_regs(st)); !s) return s;
    const uint64_t apic_base =
        kApicBaseDefault | kApicBaseEnable | kApicBaseExtd | (st.cpu_index == 0 ? kApicBaseBsp : 0);
    if (Status s = vcpu.set_msrs({{kMsrApicBase, apic_base}}); !s) return s;
    return vcpu.set_mp_state(KVM_MP_STATE_RUNNABLE);
}

}  // namespace gmm::vmm::x86_64
