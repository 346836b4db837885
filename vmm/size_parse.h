// Command-line numbers: memory sizes ("512M") and bounded integers. Errors are
// ErrorKind::BadInput and message() is one complete line naming the input and
// the accepted forms.
#pragma once

#include <cstdint>
#include <string_view>

#include "error.h"

namespace gmm::vmm {

// "256" (bare numbers are MiB), "65536K", "512M", "2G" (suffix case-insensitive).
// Rejects empty input, signs, spaces, other suffixes, 0 and sizes that overflow.
Result<uint64_t> parse_mem_size_bytes(std::string_view text);

// A decimal integer in [min, max]; `what` names it in errors ("--vcpus").
Result<uint64_t> parse_u64(std::string_view text, uint64_t min, uint64_t max, std::string_view what);

}  // namespace gmm::vmm
