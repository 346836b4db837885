// Entry point and the system-call gate.
//  _start(cpu RDI, mode RSI, arg RDX): the kernel enters with a 16-byte aligned
//  stack; `call` gives user_main the usual alignment.
//  gmm_user_gate: `ud2; ret`. The kernel's #UD handler treats a ring-3 #UD at
//  exactly this address as a system call and resumes at the `ret`.
asm(R"(
    .pushsection .text.start, "ax", @progbits
    .globl _start
    .type _start, @function
_start:
    andq $-16, %rsp
    xorl %ebp, %ebp
    call gmm_user_main
1:  ud2                         # not the gate: a real #UD if main ever returns
    jmp 1b
    .size _start, . - _start

    .globl gmm_user_gate
    .type gmm_user_gate, @function
gmm_user_gate:
    ud2
    ret
    .size gmm_user_gate, . - gmm_user_gate
    .popsection
)");
