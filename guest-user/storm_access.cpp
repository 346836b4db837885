// The one instruction a storm touch performs per page, with a landing pad for
// the kernel's SEGV recovery (GMM_SYS_SEGV_RECOVER, abi/gmm/abi/syscall.h).
//   StormAccess gmm_storm_access(addr, value): value 0 reads a byte at addr,
//   else writes value's low byte. Returns {0, 0}, or after a SEGV the kernel
//   resumed at the landing: {reason (GMM_SEGV_*, nonzero), fault address}.
//   StormAccess gmm_storm_read_sig(page, out): copies the 32-byte page
//   signature (abi/gmm/abi/disk.h) at `page` to `out` (four loads that may
//   fault, stores to the caller's memory); same result convention.
// The function is a leaf without a frame, so at the landing RSP points at the
// return address and `ret` goes back to the caller.
#include "storm_access.h"

asm(R"(
    .pushsection .text, "ax", @progbits
    .globl gmm_storm_access, gmm_storm_read_sig, gmm_storm_access_end, gmm_storm_access_landing
    .type gmm_storm_access, @function
gmm_storm_access:
    xorl %eax, %eax
    testq %rsi, %rsi
    jnz 1f
    movzbl (%rdi), %ecx         # read (may fault)
    ret
1:  movb %sil, (%rdi)           # write (may fault)
    ret
    .size gmm_storm_access, . - gmm_storm_access
    .type gmm_storm_read_sig, @function
gmm_storm_read_sig:             # inside the recovery range too
    movq (%rdi), %rax           # (may fault)
    movq 8(%rdi), %rcx
    movq %rax, (%rsi)
    movq %rcx, 8(%rsi)
    movq 16(%rdi), %rax
    movq 24(%rdi), %rcx
    movq %rax, 16(%rsi)
    movq %rcx, 24(%rsi)
    xorl %eax, %eax
    xorl %edx, %edx
    ret
    .size gmm_storm_read_sig, . - gmm_storm_read_sig
gmm_storm_access_end:
    .type gmm_storm_access_landing, @function
gmm_storm_access_landing:       # RDI = fault address, RSI = reason | access << 8
    movzbl %sil, %eax
    movq %rdi, %rdx
    ret
    .size gmm_storm_access_landing, . - gmm_storm_access_landing
    .popsection
)");
