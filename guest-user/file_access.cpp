// Reading a page's 32-byte signature (abi/gmm/abi/disk.h) with a landing pad
// for the kernel's SEGV recovery, like storm_access.cpp:
//   uint64_t gmm_file_read_sig(const void* page, void* out): 0, or after a SEGV
//   the reason (GMM_SEGV_*) — io_race reads while another thread re-maps.
asm(R"(
    .pushsection .text, "ax", @progbits
    .globl gmm_file_read_sig, gmm_file_read_sig_end, gmm_file_read_sig_landing
    .type gmm_file_read_sig, @function
gmm_file_read_sig:
    movq (%rdi), %rax
    movq 8(%rdi), %rcx
    movq 16(%rdi), %rdx
    movq 24(%rdi), %r8
    movq %rax, (%rsi)
    movq %rcx, 8(%rsi)
    movq %rdx, 16(%rsi)
    movq %r8, 24(%rsi)
    xorl %eax, %eax
    ret
gmm_file_read_sig_end:
    .size gmm_file_read_sig, . - gmm_file_read_sig
    .type gmm_file_read_sig_landing, @function
gmm_file_read_sig_landing:      # RDI = fault address, RSI = reason | access << 8
    movzbl %sil, %eax
    ret
    .size gmm_file_read_sig_landing, . - gmm_file_read_sig_landing
    .popsection
)");
