// One storm access with SEGV recovery (storm_access.cpp).
#pragma once

#include <stdint.h>

struct StormAccess {
    uint64_t segv_reason;    // 0: the access succeeded; else GMM_SEGV_*
    uint64_t fault_address;  // valid when segv_reason != 0
};

extern "C" {
StormAccess gmm_storm_access(uint64_t address, uint64_t value);
StormAccess gmm_storm_read_sig(uint64_t page_address, void* out32);
extern const char gmm_storm_access_end[], gmm_storm_access_landing[];
}
