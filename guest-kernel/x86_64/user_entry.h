// The first entry into ring 3 (iretq with a user frame).
#pragma once

#include <stdint.h>

#include "gmm/addr.h"

namespace gmm::kernel::x86 {

// Loads `cr3`, zeroes the registers the user must not see, swaps GS so the
// kernel's per-CPU base waits in IA32_KERNEL_GS_BASE, and iretq's to `entry`
// at CPL 3 (CS 0x33, SS 0x2b, IF=1) with RDI/RSI/RDX = a0/a1/a2. The current
// kernel stack is abandoned: the next entry from ring 3 starts again at
// TSS.RSP0 (the top of this CPU's boot stack).
[[noreturn]] void enter_user(uint64_t cr3, Gva entry, Gva user_stack_top, uint64_t a0, uint64_t a1, uint64_t a2);

}  // namespace gmm::kernel::x86
