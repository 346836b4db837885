#include "user_entry.h"

#include "gmm/abi/boot.h"

extern "C" [[noreturn]] void gmm_enter_user(uint64_t a0, uint64_t a1, uint64_t a2, uint64_t entry, uint64_t stack_top,
                                            uint64_t cr3);

// rdi, rsi, rdx = user arguments; rcx = entry; r8 = user stack; r9 = CR3.
asm(R"(
    .pushsection .text, "ax", @progbits
    .globl gmm_enter_user
gmm_enter_user:
    movq %r9, %cr3
    pushq $0x2b                 # SS  = GMM_SEL_USER_DS
    pushq %r8                   # RSP
    pushq $0x202                # RFLAGS: IF
    pushq $0x33                 # CS  = GMM_SEL_USER_CS
    pushq %rcx                  # RIP
    xorl %eax, %eax
    xorl %ebx, %ebx
    xorl %ecx, %ecx
    xorl %ebp, %ebp
    xorl %r8d, %r8d
    xorl %r9d, %r9d
    xorl %r10d, %r10d
    xorl %r11d, %r11d
    xorl %r12d, %r12d
    xorl %r13d, %r13d
    xorl %r14d, %r14d
    xorl %r15d, %r15d
    swapgs
    iretq
    .popsection
)");

namespace gmm::kernel::x86 {

static_assert(GMM_SEL_USER_DS == 0x2b && GMM_SEL_USER_CS == 0x33, "selectors hard-coded in gmm_enter_user");

void enter_user(uint64_t cr3, Gva entry, Gva user_stack_top, uint64_t a0, uint64_t a1, uint64_t a2) {
    gmm_enter_user(a0, a1, a2, entry.value(), user_stack_top.value(), cr3);
}

}  // namespace gmm::kernel::x86
