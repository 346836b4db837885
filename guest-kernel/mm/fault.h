// The user #PF path: trap_dispatch → mm_user_page_fault → AddressSpace::fault.
#pragma once

#include <stdint.h>

#include "x86_64/trap.h"

namespace gmm::kernel {

// RESULT segv_reason values.
enum class SegvCode : uint64_t { NotMapped = 1, AccessDenied = 2, OutOfRange = 3, OutOfMemory = 4, IoError = 5 };

// Returns when the fault was resolved (or a registered SEGV recovery redirected
// the thread); otherwise reports SEGV and ends the thread.
void mm_user_page_fault(x86::TrapFrame& f);

// GMM_SYS_SEGV_RECOVER (abi/gmm/abi/syscall.h): validated here.
int64_t mm_sys_segv_recover(uint64_t begin, uint64_t end, uint64_t landing);
// SEGVs redirected to a landing on `cpu` so far.
uint64_t mm_segv_recovered(uint32_t cpu);

}  // namespace gmm::kernel
