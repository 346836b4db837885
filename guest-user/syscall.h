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
