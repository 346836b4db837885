// The last steps before any trap returns to user mode (both entry paths:
// trap_dispatch.cpp and the direct user #PF entry in trap_entry.cpp).
#pragma once

#include <stdint.h>

#include "mm/safepoint.h"
#include "sched/sched.h"

namespace gmm::kernel::x86 {

inline void before_user_return(uint64_t vector) {
    safepoint_before_user_return();     // park for the checker if it asked meanwhile
    sched_before_user_return(vector);   // preemption when others are runnable
}

}  // namespace gmm::kernel::x86
