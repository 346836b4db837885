// Decoding and reporting exceptions the kernel does not handle.
#pragma once

#include "trap.h"

namespace gmm::kernel::x86 {

// Reports the exception to the host (GMM_UCALL_EXCEPTION with a one-line
// description such as "#PF page fault (kernel, write, not-present)") and stops
// this CPU.
[[noreturn]] void report_exception(const TrapFrame& frame);

}  // namespace gmm::kernel::x86
