#include "faults.h"

extern "C" {
void gmm_fault_de();
void gmm_fault_ud();
void gmm_fault_gp();
void gmm_fault_pf();
extern const char gmm_fault_de_rip[], gmm_fault_ud_rip[], gmm_fault_gp_rip[], gmm_fault_pf_rip[];
}

asm(R"(
    .pushsection .text, "ax", @progbits
    .globl gmm_fault_de, gmm_fault_de_rip
gmm_fault_de:
    xorl %ecx, %ecx
    xorl %edx, %edx
    movl $1, %eax
gmm_fault_de_rip:
    divq %rcx                   # #DE: divide by zero
    ud2

    .globl gmm_fault_ud, gmm_fault_ud_rip
gmm_fault_ud:
gmm_fault_ud_rip:
    ud2                         # #UD in ring 0 (never a system call)

    .globl gmm_fault_gp, gmm_fault_gp_rip
gmm_fault_gp:
    movabsq $0x8000000000000000, %rax
gmm_fault_gp_rip:
    movq (%rax), %rax           # #GP: non-canonical address
    ud2

    .globl gmm_fault_pf, gmm_fault_pf_rip
gmm_fault_pf:
gmm_fault_pf_rip:
    movq 0x10, %rax             # #PF: nothing is mapped at 0x10 (read, not-present)
    ud2
    .popsection
)");

namespace gmm::kernel::x86 {

bool kernel_fault_trigger(uint64_t vector, FaultTrigger& out) {
    switch (vector) {
    case 0: out = {reinterpret_cast<uint64_t>(gmm_fault_de_rip), gmm_fault_de}; return true;
    case 6: out = {reinterpret_cast<uint64_t>(gmm_fault_ud_rip), gmm_fault_ud}; return true;
    case 13: out = {reinterpret_cast<uint64_t>(gmm_fault_gp_rip), gmm_fault_gp}; return true;
    case 14: out = {reinterpret_cast<uint64_t>(gmm_fault_pf_rip), gmm_fault_pf}; return true;
    default: return false;
    }
}

}  // namespace gmm::kernel::x86
