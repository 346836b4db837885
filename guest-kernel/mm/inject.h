// Test-only planted bugs for the host checker's mutation tests (boot
// parameter inject=NAME; abi/gmm/abi/mmstate.h enum gmm_inject;
// docs/checker.md). Each plants exactly one broken invariant in a region of
// the user address space that no workload touches.
#pragma once

#include <stdint.h>

#include "bootargs.h"

namespace gmm::kernel {

// GMM_INJECT_* named by inject=..., or GMM_INJECT_NONE; asserts on unknown names.
uint64_t inject_parse(const BootArgs& args);
// After the address space is built (CPU 0, before the user threads start).
void inject_plant(uint64_t which);
// inject_parse + inject_plant + recording the bug in the published roots.
uint64_t inject_setup(const BootArgs& args);
// CPU 0 just before it enters user mode: bugs that need a check in between.
void inject_plant_late(uint64_t which);

}  // namespace gmm::kernel
