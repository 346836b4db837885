// mmap / munmap / mprotect / threads / wait / wake / exit / mark / frame_of.
// Arguments are untrusted: validated here (errors as negative errno) before
// guestmm sees them, and guestmm validates again.
#pragma once

#include <stdint.h>

#include "syscall.h"

namespace gmm::kernel {

// False when `args.nr` is not one of these system calls.
bool mm_syscall(const SyscallArgs& args, int64_t& result);

}  // namespace gmm::kernel
