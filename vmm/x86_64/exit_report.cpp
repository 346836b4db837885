#include "x86_64/exit_report.h"

#include <cstdio>

#include "x86_64/page_walk.h"

namespace gmm::vmm::x86_64 {

std::string exit_reason_name(uint32_t reason) {
    switch (reason) {
#define X(r) case r: return #r;
        X(KVM_EXIT_UNKNOWN) X(KVM_EXIT_EXCEPTION) X(KVM_EXIT_IO) X(KVM_EXIT_HYPERCALL) X(KVM_EXIT_DEBUG)
        X(KVM_EXIT_HLT) X(KVM_EXIT_MMIO) X(KVM_EXIT_IRQ_WINDOW_OPEN) X(KVM_EXIT_SHUTDOWN) X(KVM_EXIT_FAIL_ENTRY)
        X(KVM_EXIT_INTR) X(KVM_EXIT_SET_TPR) X(KVM_EXIT_TPR_ACCESS) X(KVM_EXIT_NMI) X(KVM_EXIT_INTERNAL_ERROR)
        X(KVM_EXIT_OSI) X(KVM_EXIT_PAPR_HCALL) X(KVM_EXIT_WATCHDOG) X(KVM_EXIT_EPR) X(KVM_EXIT_SYSTEM_EVENT)
        X(KVM_EXIT_IOAPIC_EOI) X(KVM_EXIT_HYPERV) X(KVM_EXIT_X86_RDMSR) X(KVM_EXIT_X86_WRMSR)
        X(KVM_EXIT_DIRTY_RING_FULL) X(KVM_EXIT_AP_RESET_HOLD) X(KVM_EXIT_X86_BUS_LOCK)
#undef X
        default: return "KVM_EXIT_" + std::to_string(reason);
    }
}

std::string format_registers(const kvm_regs& r, const kvm_sregs& s) {
    char buf[1024];
    std::snprintf(buf, sizeof buf,
                  "  rip %016llx rsp %016llx rflags %08llx\n"
                  "  rax %016llx rbx %016llx rcx %016llx rdx %016llx\n"
                  "  rsi %016llx rdi %016llx rbp %016llx\n"
                  "  r8  %016llx r9  %016llx r10 %016llx r11 %016llx\n"
                  "  r12 %016llx r13 %016llx r14 %016llx r15 %016llx\n"
                  "  cs %04x ss %04x cr0 %llx cr2 %llx cr3 %llx cr4 %llx efer %llx\n",
                  (unsigned long long)r.rip, (unsigned long long)r.rsp, (unsigned long long)r.rflags,
                  (unsigned long long)r.rax, (unsigned long long)r.rbx, (unsigned long long)r.rcx,
                  (unsigned long long)r.rdx, (unsigned long long)r.rsi, (unsigned long long)r.rdi,
                  (unsigned long long)r.rbp, (unsigned long long)r.r8, (unsigned long long)r.r9,
                  (unsigned long long)r.r10, (unsigned long long)r.r11, (unsigned long long)r.r12,
                  (unsigned long long)r.r13, (unsigned long long)r.r14, (unsigned long long)r.r15, s.cs.selector,
                  s.ss.selector, (unsigned long long)s.cr0, (unsigned long long)s.cr2, (unsigned long long)s.cr3,
                  (unsigned long long)s.cr4, (unsigned long long)s.efer);
    return buf;
}

std::string describe_unexpected_exit(const Vcpu& vcpu, const GuestMemory& memory) {
    const kvm_run* run = vcpu.run_struct();
    std::string out = "vCPU " + std::to_string(vcpu.index()) + ": unexpected exit " + exit_reason_name(run->exit_reason);
    char buf[256];
    switch (run->exit_reason) {
        case KVM_EXIT_FAIL_ENTRY:
            std::snprintf(buf, sizeof buf, " (hardware_entry_failure_reason 0x%llx)",
                          (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
            out += buf;
            break;
        case KVM_EXIT_INTERNAL_ERROR:
            std::snprintf(buf, sizeof buf, " (suberror %u)", run->internal.suberror);
            out += buf;
            break;
        case KVM_EXIT_MMIO:
            std::snprintf(buf, sizeof buf, " (%s of %u bytes at GPA 0x%llx)", run->mmio.is_write ? "write" : "read",
                          run->mmio.len, (unsigned long long)run->mmio.phys_addr);
            out += buf;
            break;
        case KVM_EXIT_IO:
            std::snprintf(buf, sizeof buf, " (%s of %u bytes at port 0x%x)",
                          run->io.direction == KVM_EXIT_IO_OUT ? "out" : "in", run->io.size, run->io.port);
            out += buf;
            break;
        default:
            break;
    }
    out += "\n";
    auto regs = vcpu.get_regs();
    auto sregs = vcpu.get_sregs();
    if (!regs || !sregs) {
        out += "  (registers unavailable)\n";
        return out;
    }
    out += format_registers(*regs, *sregs);
    out += "  walk of RIP:\n" + format_walk(walk_page_tables(memory, Gpa(sregs->cr3 & ~0xfffull), Gva(regs->rip)));
    if (sregs->cr2)
        out += "  walk of CR2:\n" +
               format_walk(walk_page_tables(memory, Gpa(sregs->cr3 & ~0xfffull), Gva(sregs->cr2)));
    return out;
}

}  // namespace gmm::vmm::x86_64
