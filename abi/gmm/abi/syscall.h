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
    /* Memory management (issue 4). POSIX-like semantics, Linux flag values. */
    GMM_SYS_MMAP = 5,         /* (addr hint, length, prot, flags, fd, offset) -> addr, or -errno. fd/offset only
                               * without MAP_ANONYMOUS: fd from FILE_OPEN, offset a multiple of 4 KiB; pages past
                               * the file's end fault as SEGV reason GMM_SEGV_NOT_MAPPED (SIGBUS in POSIX). */
    GMM_SYS_MUNMAP = 6,       /* (addr, length) -> 0 or -errno */
    GMM_SYS_MPROTECT = 7,     /* (addr, length, prot) -> 0 or -errno */
    /* Threads and waiting. A waiting thread sleeps; an idle vCPU waits in HLT. */
    GMM_SYS_THREAD_CREATE = 8,/* (entry, stack_top, arg, cpu, clear_word) -> thread id or -errno; the thread
                               * starts at entry(arg, thread id) on vCPU `cpu` (one thread per vCPU: -EAGAIN if
                               * busy); when it ends, the kernel stores 0 to the user u32 clear_word (if
                               * nonzero) and wakes its waiters (join). */
    GMM_SYS_WAIT = 9,         /* (user u32 ptr, expected) -> 0 when woken, -EAGAIN if *ptr != expected */
    GMM_SYS_WAKE = 10,        /* (user u32 ptr, max waiters) -> number woken */
    GMM_SYS_EXIT = 11,        /* (status) -> ends the run (DONE(status)) */
    /* Measurement and test support. */
    GMM_SYS_MARK = 12,        /* (window GMM_MARK_*, 0 begin / 1 end) -> 0; host counts insn_emulation */
    GMM_SYS_FRAME_OF = 13,    /* (user addr) -> GPA of the frame mapped there, or -EFAULT */
    /* Surviving expected SEGVs (storms, issue 8). (begin, end, landing) -> 0 or -EINVAL: from now on a
     * user #PF that the memory manager answers with SEGV while RIP is in [begin, end) resumes the
     * calling thread at `landing` instead of ending it, with RDI = the fault address, RSI = the reason
     * (GMM_SEGV_*) | access << 8 (0 read, 1 write, 2 exec) and every other register as at the fault
     * (so a leaf function's landing can simply `ret`). Per thread; a new thread starts with none;
     * (0, 0, 0) removes it. Requires page <= begin < end <= GMM_USER_TOP_GVA, landing a user
     * address outside [begin, end). */
    GMM_SYS_SEGV_RECOVER = 14,
    /* Files of the disk (issue 5; docs/files.md). */
    GMM_SYS_FILE_OPEN = 15,   /* (name ptr, name length) -> fd (the file's index in the disk table), -ENOENT, -ENODEV
                               * without a disk, -EFAULT, -EINVAL (length 0 or > 31) */
    GMM_SYS_FILE_SIZE = 16,   /* (fd) -> size in bytes, or -EBADF */
    GMM_SYS_MSYNC = 17,       /* (addr, length, flags MS_*) -> 0, or -EINVAL, -EIO: writes back shared file pages */
    GMM_SYS_COUNT = 18,
};

/* Protection bits (Linux values). */
#define GMM_PROT_NONE  0x0u
#define GMM_PROT_READ  0x1u
#define GMM_PROT_WRITE 0x2u
#define GMM_PROT_EXEC  0x4u
/* Map flags (Linux values). Exactly one of SHARED or PRIVATE. */
#define GMM_MAP_SHARED    0x01u
#define GMM_MAP_PRIVATE   0x02u
#define GMM_MAP_FIXED     0x10u
#define GMM_MAP_ANONYMOUS 0x20u

/* SEGV reasons (RSI of a recovered fault, RESULT segv_reason). */
#define GMM_SEGV_NOT_MAPPED 1u
#define GMM_SEGV_ACCESS_DENIED 2u
#define GMM_SEGV_OUT_OF_RANGE 3u
#define GMM_SEGV_OUT_OF_MEMORY 4u
#define GMM_SEGV_IO_ERROR 5u /* the file page could not be read (SIGBUS in POSIX) */

/* msync flags (Linux values). */
#define GMM_MS_ASYNC 1u
#define GMM_MS_INVALIDATE 2u
#define GMM_MS_SYNC 4u

#define GMM_ENOSYS 38
#define GMM_EINVAL 22
#define GMM_EFAULT 14
#define GMM_ENOMEM 12
#define GMM_EAGAIN 11
#define GMM_ESRCH 3
#define GMM_ENOENT 2
#define GMM_EIO 5
#define GMM_EBADF 9
#define GMM_ENODEV 19

#endif
