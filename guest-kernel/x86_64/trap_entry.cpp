// Interrupt/exception entry stubs and the common path, in assembly.
//  - One 16-byte stub per vector (idt.cpp computes the gates from this layout):
//    push a zero error code when the CPU pushes none, push the vector, jump.
//  - Common path: swapgs when coming from ring 3 (user GS base is not trusted;
//    the kernel's is in IA32_KERNEL_GS_BASE while user code runs), save the
//    caller-saved registers, call gmm_trap_dispatch(frame), restore, iretq.
// About 30 instructions around the C++ handler. A #PF from ring 3 has its own
// common path (gmm_page_fault_common) straight to the fault handler.

asm(R"(
    .pushsection .text.idt_stubs, "ax", @progbits
    .balign 16
    .globl gmm_idt_stubs
gmm_idt_stubs:
    .set gmm_vec, 0
    .rept 64
    .balign 16
    .if (gmm_vec == 8) || (gmm_vec == 10) || (gmm_vec == 11) || (gmm_vec == 12) || (gmm_vec == 13) || (gmm_vec == 14) || (gmm_vec == 17) || (gmm_vec == 21) || (gmm_vec == 29) || (gmm_vec == 30)
    .else
    pushq $0
    .endif
    pushq $gmm_vec
    .if gmm_vec == 14
    jmp gmm_page_fault_common
    .else
    jmp gmm_trap_common
    .endif
    .set gmm_vec, gmm_vec + 1
    .endr
    .balign 16
    .globl gmm_idt_stubs_end
gmm_idt_stubs_end:
    .popsection

    # The TrapFrame's register part (trap.h), in both entry paths.
    .macro GMM_SAVE_CALLER_SAVED
    pushq %rax
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    .endm
    .macro GMM_RESTORE_CALLER_SAVED
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rax
    .endm

    .pushsection .text, "ax", @progbits
    .globl gmm_trap_common
gmm_trap_common:
    testb $3, 24(%rsp)          # CS of the interrupted context
    jz 1f
    swapgs
1:  GMM_SAVE_CALLER_SAVED
    movq %rsp, %rdi
    cld                         # the C++ ABI wants DF=0; user code may have set it
    call gmm_trap_dispatch
    GMM_RESTORE_CALLER_SAVED
    addq $16, %rsp              # vector, error code
    testb $3, 8(%rsp)
    jz 2f
    swapgs
2:  iretq

    # #PF from ring 3 (the hot path: every anonymous first touch) goes straight
    # to its handler, without the generic dispatch and its return-path test.
    .globl gmm_page_fault_common
gmm_page_fault_common:
    testb $3, 24(%rsp)
    jz gmm_trap_common          # kernel-mode #PF: the generic path reports it
    swapgs
    GMM_SAVE_CALLER_SAVED
    movq %rsp, %rdi
    cld
    call gmm_user_page_fault_dispatch
    GMM_RESTORE_CALLER_SAVED
    addq $16, %rsp
    swapgs
    iretq
    .popsection
)");

#include "exceptions.h"
#include "mm/fault.h"
#include "trap.h"
#include "user_return.h"

// The C++ side of the user #PF entry: what gmm_trap_dispatch does for a user
// #PF (trap_dispatch.cpp), minus the vector switch.
extern "C" void gmm_user_page_fault_dispatch(gmm::kernel::x86::TrapFrame* frame) {
    gmm::kernel::mm_user_page_fault(*frame);
    gmm::kernel::x86::before_user_return(uint64_t(gmm::kernel::x86::Vector::PageFault));
}
