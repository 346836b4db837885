// The user #PF path: trap_dispatch → mm_user_page_fault → AddressSpace::fault.
#pragma once

#include <stdint.h>

#include "x86_64/trap.h"

namespace gmm::kernel {

// RESULT segv_reason values.
enum class SegvCode : uint64_t { NotMapped = 1, AccessDenied = 2, OutOfRange = 3, OutOfMemory = 4 };

// Returns when the fault was resolved; otherwise reports SEGV and ends the thread.
void mm_user_page_fault(x86::TrapFrame& f);

}  // namespace gmm::kernel
