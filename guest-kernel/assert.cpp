#include "assert.h"

#include "ucall.h"
#include "x86_64/cpu.h"

namespace gmm::kernel {

void assert_fail(const char* file, uint64_t line, const char* expression, uint64_t a, uint64_t b,
                 bool values_meaningful) {
    x86::cli();
    ucall_assert(file, line, expression, a, b, values_meaningful);
    x86::halt_forever();  // the host ends the run; never spin
}

}  // namespace gmm::kernel
