// System calls through the exception gate (abi/gmm/abi/syscall.h). The kernel
// preserves every register except RAX; `call` uses the stack (no red zone:
// -mno-red-zone).
#pragma once

#include <stdint.h>

#include "gmm/abi/syscall.h"
#include "user_abi.h"

namespace gmm::user {

inline int64_t syscall2(uint64_t nr, uint64_t a0, uint64_t a1) {
    uint64_t rax = nr;
    asm volatile("call gmm_user_gate" : "+a"(rax) : "D"(a0), "S"(a1) : "memory", "cc");
    return int64_t(rax);
}

inline int64_t syscall5(uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4) {
    uint64_t rax = nr;
    register uint64_t r10 asm("r10") = a3;
    register uint64_t r8 asm("r8") = a4;
    asm volatile("call gmm_user_gate" : "+a"(rax) : "D"(a0), "S"(a1), "d"(a2), "r"(r10), "r"(r8) : "memory", "cc");
    return int64_t(rax);
}

inline int64_t syscall6(uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5) {
    uint64_t rax = nr;
    register uint64_t r10 asm("r10") = a3;
    register uint64_t r8 asm("r8") = a4;
    register uint64_t r9 asm("r9") = a5;
    asm volatile("call gmm_user_gate"
                 : "+a"(rax)
                 : "D"(a0), "S"(a1), "d"(a2), "r"(r10), "r"(r8), "r"(r9)
                 : "memory", "cc");
    return int64_t(rax);
}

inline int64_t sys_mmap(uint64_t addr, uint64_t len, uint64_t prot, uint64_t flags) {
    return syscall5(GMM_SYS_MMAP, addr, len, prot, flags, 0);
}
inline int64_t sys_mmap_file(uint64_t addr, uint64_t len, uint64_t prot, uint64_t flags, uint64_t fd, uint64_t offset) {
    return syscall6(GMM_SYS_MMAP, addr, len, prot, flags, fd, offset);
}
inline int64_t sys_file_open(const char* name, uint64_t len) {
    return syscall5(GMM_SYS_FILE_OPEN, reinterpret_cast<uint64_t>(name), len, 0, 0, 0);
}
inline int64_t sys_file_size(uint64_t fd) { return syscall5(GMM_SYS_FILE_SIZE, fd, 0, 0, 0, 0); }
inline int64_t sys_msync(uint64_t addr, uint64_t len, uint64_t flags) {
    return syscall5(GMM_SYS_MSYNC, addr, len, flags, 0, 0);
}
inline int64_t sys_munmap(uint64_t addr, uint64_t len) { return syscall5(GMM_SYS_MUNMAP, addr, len, 0, 0, 0); }
inline int64_t sys_mprotect(uint64_t addr, uint64_t len, uint64_t prot) {
    return syscall5(GMM_SYS_MPROTECT, addr, len, prot, 0, 0);
}
inline int64_t sys_thread_create(void (*entry)(uint64_t, uint64_t), uint64_t stack_top, uint64_t arg, uint64_t cpu,
                                 uint32_t* clear_word) {
    return syscall5(GMM_SYS_THREAD_CREATE, reinterpret_cast<uint64_t>(entry), stack_top, arg, cpu,
                    reinterpret_cast<uint64_t>(clear_word));
}
inline int64_t sys_wait(const uint32_t* word, uint32_t expected) {
    return syscall5(GMM_SYS_WAIT, reinterpret_cast<uint64_t>(word), expected, 0, 0, 0);
}
inline int64_t sys_wake(const uint32_t* word, uint64_t max) {
    return syscall5(GMM_SYS_WAKE, reinterpret_cast<uint64_t>(word), max, 0, 0, 0);
}
[[noreturn]] inline void sys_exit(uint64_t status) {
    syscall5(GMM_SYS_EXIT, status, 0, 0, 0, 0);
    __builtin_unreachable();
}
inline int64_t sys_mark(uint64_t window, uint64_t phase) { return syscall5(GMM_SYS_MARK, window, phase, 0, 0, 0); }
inline int64_t sys_frame_of(uint64_t addr) { return syscall5(GMM_SYS_FRAME_OF, addr, 0, 0, 0, 0); }

inline int64_t sys_getcpu() { return syscall2(GMM_SYS_GETCPU, 0, 0); }
inline int64_t sys_clock() { return syscall2(GMM_SYS_CLOCK, 0, 0); }
inline int64_t sys_console_write(const char* p, uint64_t len) {
    return syscall2(GMM_SYS_CONSOLE_WRITE, reinterpret_cast<uint64_t>(p), len);
}
inline int64_t sys_report(ReportKey key, uint64_t value) { return syscall2(GMM_SYS_REPORT, uint64_t(key), value); }
[[noreturn]] inline void sys_exit_thread(uint64_t status) {
    syscall2(GMM_SYS_EXIT_THREAD, status, 0);
    __builtin_unreachable();
}

}  // namespace gmm::user
