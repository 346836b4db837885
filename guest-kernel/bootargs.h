// /chosen/bootargs: "workload=NAME key=value ...". Views into the FDT (which
// stays in reserved memory), no copies.
#pragma once

#include <stdint.h>

namespace gmm::kernel {

struct StrView {
    const char* data = nullptr;
    uint32_t len = 0;
    bool equals(const char* s) const;
};

struct BootArg {
    StrView key;
    StrView value;
};

constexpr uint32_t kMaxBootArgs = 16;

struct BootArgs {
    StrView workload;  // empty: "boot"
    BootArg args[kMaxBootArgs];
    uint32_t count = 0;

    const StrView* find(const char* key) const;
    // Decimal value of `key`, or `fallback` when absent; asserts on junk.
    uint64_t u64_or(const char* key, uint64_t fallback) const;
};

// Asserts on malformed input (host-validated, so a failure is a VMM bug).
void bootargs_parse(const char* text, uint32_t len, BootArgs& out);

}  // namespace gmm::kernel
