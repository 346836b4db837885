// Kernel entry (docs/boot-protocol.md): every vCPU starts here in long mode
// with RDI = FDT GPA, RSI = cpu index, RDX = boot info GPA, RSP = its boot
// stack, interrupts off and no IDT. Reject an impossible cpu index before it
// indexes the per-CPU array, then continue in C++.
#include "gmm/abi/boot.h"

#define GMM_STR2(x) #x
#define GMM_STR(x) GMM_STR2(x)

asm(R"(
    .pushsection .text.entry, "ax", @progbits
    .globl gmm_kernel_entry
    .type gmm_kernel_entry, @function
gmm_kernel_entry:
    cmpq $)" GMM_STR(GMM_MAX_VCPUS) R"(, %rsi
    jae 1f
    andq $-16, %rsp
    xorl %ebp, %ebp             # end of the frame-pointer chain
    call gmm_kernel_main
1:  cli
    hlt
    jmp 1b
    .size gmm_kernel_entry, . - gmm_kernel_entry
    .popsection
)");
