/* gmm user->kernel system calls through the exception gate.
 * A user thread executes `ud2` at the user runtime's gate address (published
 * to the kernel in gmm_boot_info.user_gate_gva). The #UD handler recognises a
 * ring-3 #UD at exactly that RIP as a system call (any other #UD is a real
 * fault). Number in RAX, arguments in RDI, RSI, RDX, R10, R8, R9; result in
 * RAX (negative errno on failure); execution resumes after the ud2 (RIP + 2).
 * This works where SYSCALL and INT n do not reach the guest (see
 * shared/HOST-KVM.md) and on hardware-assisted KVM alike. */
#ifndef GMM_ABI_SYSCALL_H
#define GMM_ABI_SYSCALL_H

#include <stdint.h>

enum gmm_syscall_nr {
    GMM_SYS_EXIT_THREAD = 0,  /* (status) — ends the calling user thread */
    GMM_SYS_CONSOLE_WRITE = 1,/* (user ptr, len) -> bytes written */
    GMM_SYS_GETCPU = 2,       /* () -> cpu index */
    GMM_SYS_CLOCK = 3,        /* () -> TSC */
    GMM_SYS_REPORT = 4,       /* (key id, value) -> 0; forwarded to the host */
    GMM_SYS_NR_FOUNDATION = 5,
};

#define GMM_ENOSYS 38
#define GMM_EINVAL 22
#define GMM_EFAULT 14
#define GMM_ENOMEM 12

#endif
