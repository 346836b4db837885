#include "size_parse.h"

#include <string>

namespace gmm::vmm {

namespace {

constexpr const char* kSizeForms = "use MiB as a plain number (256) or a number with a K, M or G suffix (65536K, 512M, 2G)";

// The input as the user typed it, quoted, with unprintable bytes shown as '?'.
std::string quoted(std::string_view text) {
    std::string out = "\"";
    for (char c : text.substr(0, 64)) out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
    if (text.size() > 64) out += "...";
    return out + "\"";
}

// Parses all of `digits` as a decimal u64; false on empty, non-digits or overflow.
bool parse_decimal(std::string_view digits, uint64_t& out) {
    if (digits.empty()) return false;
    uint64_t v = 0;
    for (char c : digits) {
        if (c < '0' || c > '9') return false;
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, static_cast<uint64_t>(c - '0'), &v))
            return false;
    }
    out = v;
    return true;
}

}  // namespace

Result<uint64_t> parse_mem_size_bytes(std::string_view text) {
    if (text.empty()) return Err{input_error("memory size \"\" is empty", kSizeForms)};
    uint64_t shift = 20;  // bare numbers are MiB
    std::string_view digits = text;
    switch (text.back()) {
        case 'k': case 'K': shift = 10; digits.remove_suffix(1); break;
        case 'm': case 'M': shift = 20; digits.remove_suffix(1); break;
        case 'g': case 'G': shift = 30; digits.remove_suffix(1); break;
        default: break;
    }
    uint64_t n = 0;
    if (!digits.empty() && digits.find_first_not_of("0123456789") == std::string_view::npos &&
        !parse_decimal(digits, n))
        return Err{input_error("memory size " + quoted(text) + " is too large", kSizeForms)};
    if (!parse_decimal(digits, n))
        return Err{input_error("memory size " + quoted(text) + " is not a size", kSizeForms)};
    if (n == 0) return Err{input_error("memory size " + quoted(text) + " is zero", kSizeForms)};
    if (n > (UINT64_MAX >> shift))
        return Err{input_error("memory size " + quoted(text) + " is too large", kSizeForms)};
    return n << shift;
}

Result<uint64_t> parse_u64(std::string_view text, uint64_t min, uint64_t max, std::string_view what) {
    const std::string range = "expected a whole number from " + std::to_string(min) + " to " + std::to_string(max);
    uint64_t v = 0;
    if (!parse_decimal(text, v)) {
        const bool all_digits = !text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos;
        return Err{input_error(std::string(what) + " " + quoted(text) +
                                   (all_digits ? " is too large" : text.empty() ? " is empty" : " is not a number"),
                               range)};
    }
    if (v < min || v > max)
        return Err{input_error(std::string(what) + " " + quoted(text) + " is out of range", range)};
    return v;
}

}  // namespace gmm::vmm
