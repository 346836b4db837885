#include "context_switch.h"

asm(R"(
    .pushsection .text, "ax", @progbits
    .globl gmm_context_switch
gmm_context_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret

    # A new thread's first return lands here with r12 = first, r13 = arg.
    .globl gmm_thread_trampoline
gmm_thread_trampoline:
    movq %r13, %rdi
    call *%r12
    ud2                         # first() must not return
    .popsection
)");

extern "C" void gmm_thread_trampoline();

namespace gmm::kernel::x86 {

uint64_t prepare_thread_stack(uint64_t stack_top, void (*first)(void*), void* arg) {
    // After the switch pops six registers and returns, RSP = top - 16: aligned
    // for the `call` in the trampoline (the ABI wants RSP % 16 == 0 there).
    auto* slot = reinterpret_cast<uint64_t*>(stack_top - 24);
    slot[0] = reinterpret_cast<uint64_t>(&gmm_thread_trampoline);
    uint64_t* regs = slot - 6;  // r15 r14 r13 r12 rbx rbp, lowest first
    regs[0] = 0;                                 // r15
    regs[1] = 0;                                 // r14
    regs[2] = reinterpret_cast<uint64_t>(arg);   // r13
    regs[3] = reinterpret_cast<uint64_t>(first); // r12
    regs[4] = 0;                                 // rbx
    regs[5] = 0;                                 // rbp
    return reinterpret_cast<uint64_t>(regs);
}

void set_kernel_entry_stack(uint64_t tss_gva, uint64_t stack_top) {
    constexpr uint64_t kTssRsp0Offset = 4;  // x86-64 TSS layout (unaligned: fine on x86)
    __builtin_memcpy(reinterpret_cast<void*>(tss_gva + kTssRsp0Offset), &stack_top, sizeof stack_top);
}

}  // namespace gmm::kernel::x86
