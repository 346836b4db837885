// Kernel assertions: a failure is reported to the host (GMM_UCALL_ASSERT with
// file, line, expression and, for the _EQ/_LE forms, both values) and stops
// this CPU. The host ends the run with exit code 10.
#pragma once

#include <stdint.h>

namespace gmm::kernel {

[[noreturn]] void assert_fail(const char* file, uint64_t line, const char* expression, uint64_t a, uint64_t b,
                              bool values_meaningful);

}  // namespace gmm::kernel

#define GMM_ASSERT(expr)                                                                    \
    do {                                                                                    \
        if (!(expr)) [[unlikely]]                                                           \
            ::gmm::kernel::assert_fail(__FILE_NAME__, __LINE__, #expr, 0, 0, false);        \
    } while (0)

#define GMM_ASSERT_OP(a, op, b)                                                             \
    do {                                                                                    \
        const uint64_t gmm_a_ = static_cast<uint64_t>(a);                                   \
        const uint64_t gmm_b_ = static_cast<uint64_t>(b);                                   \
        if (!(gmm_a_ op gmm_b_)) [[unlikely]]                                               \
            ::gmm::kernel::assert_fail(__FILE_NAME__, __LINE__, #a " " #op " " #b, gmm_a_, gmm_b_, true); \
    } while (0)

#define GMM_ASSERT_EQ(a, b) GMM_ASSERT_OP(a, ==, b)
#define GMM_ASSERT_LE(a, b) GMM_ASSERT_OP(a, <=, b)
#define GMM_ASSERT_LT(a, b) GMM_ASSERT_OP(a, <, b)

#define GMM_PANIC(message) ::gmm::kernel::assert_fail(__FILE_NAME__, __LINE__, message, 0, 0, false)
