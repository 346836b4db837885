// Machine's safepoint bookkeeping (internal to vmm/machine.cpp and vmm/safepoint.cpp).
#pragma once

#include <cstdint>
#include <mutex>

#include "gmm/addr.h"

namespace gmm::vmm {

struct Machine::SafepointState {
    std::mutex mu;           // one safepoint (and one dirty-log reader) at a time
    uint32_t seq = 0;        // last request
    bool active = false;     // between enter and leave
    Gpa block;               // struct gmm_safepoint, validated at enter
    bool dirty_logging = false;
};

}  // namespace gmm::vmm
