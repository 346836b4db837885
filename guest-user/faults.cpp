// Deliberate user-mode exceptions (mode Fault). Each reports the faulting
// instruction's address as expected_rip first.
#include "faults.h"

#include "syscall.h"

extern "C" {
void gmm_user_fault_de();
void gmm_user_fault_ud();
void gmm_user_fault_gp();
void gmm_user_fault_pf();
extern const char gmm_user_fault_de_rip[], gmm_user_fault_ud_rip[], gmm_user_fault_gp_rip[], gmm_user_fault_pf_rip[];
}

asm(R"(
    .pushsection .text, "ax", @progbits
gmm_user_fault_de:
    xorl %ecx, %ecx
    xorl %edx, %edx
    movl $1, %eax
gmm_user_fault_de_rip:
    divq %rcx                   # #DE
    ud2
gmm_user_fault_ud:
gmm_user_fault_ud_rip:
    ud2                         # #UD, but not at gmm_user_gate: a real fault
gmm_user_fault_gp:
    movabsq $0x8000000000000000, %rax
gmm_user_fault_gp_rip:
    movq (%rax), %rax           # #GP: non-canonical
    ud2
gmm_user_fault_pf:
gmm_user_fault_pf_rip:
    movq 0x10, %rax             # #PF: user page 0 is never mapped
    ud2
    .popsection
)");

namespace gmm::user {

void raise_fault(uint64_t vector) {
    const char* rip = nullptr;
    void (*trigger)() = nullptr;
    switch (vector) {
    case 0: rip = gmm_user_fault_de_rip; trigger = gmm_user_fault_de; break;
    case 6: rip = gmm_user_fault_ud_rip; trigger = gmm_user_fault_ud; break;
    case 13: rip = gmm_user_fault_gp_rip; trigger = gmm_user_fault_gp; break;
    case 14: rip = gmm_user_fault_pf_rip; trigger = gmm_user_fault_pf; break;
    default: sys_exit_thread(1);
    }
    sys_report(ReportKey::ExpectedRip, reinterpret_cast<uint64_t>(rip));
    trigger();
}

}  // namespace gmm::user
