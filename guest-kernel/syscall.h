// System calls from ring 3 (abi/gmm/abi/syscall.h), arriving through the #UD
// gate. Arguments are untrusted user values.
#pragma once

#include <stdint.h>

namespace gmm::kernel {

struct SyscallArgs {
    uint64_t nr;
    uint64_t a[6];
};

// Returns the value for RAX (negative errno on failure). EXIT_THREAD does not return.
int64_t syscall_handle(const SyscallArgs& args);

}  // namespace gmm::kernel
