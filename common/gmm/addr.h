// Strong address types shared by host and guest code (freestanding-safe).
// A Gva, a Gpa and a host virtual address (Hva) never convert into each other
// implicitly; arithmetic that could wrap is checked.
#pragma once

#include <stdint.h>

#include <compare>

namespace gmm {

template <typename Tag>
class Address {
public:
    constexpr Address() = default;
    constexpr explicit Address(uint64_t value) : value_(value) {}
    constexpr uint64_t value() const { return value_; }

    // Adds `bytes`; returns false (and leaves `out` alone) on wrap-around.
    constexpr bool checked_add(uint64_t bytes, Address& out) const {
        uint64_t sum = 0;
        if (__builtin_add_overflow(value_, bytes, &sum)) return false;
        out = Address(sum);
        return true;
    }
    // Unchecked; only for offsets already proven in range.
    constexpr Address plus(uint64_t bytes) const { return Address(value_ + bytes); }
    constexpr uint64_t minus(Address other) const { return value_ - other.value_; }
    constexpr Address align_down(uint64_t alignment) const { return Address(value_ & ~(alignment - 1)); }
    constexpr bool is_aligned(uint64_t alignment) const { return (value_ & (alignment - 1)) == 0; }

    constexpr auto operator<=>(const Address&) const = default;

private:
    uint64_t value_ = 0;
};

struct GvaTag {};
struct GpaTag {};
struct HvaTag {};
using Gva = Address<GvaTag>;  // guest-virtual
using Gpa = Address<GpaTag>;  // guest-physical
using Hva = Address<HvaTag>;  // host-virtual (host code only)

constexpr uint64_t kPageSize = 4096;
constexpr uint64_t kPageShift = 12;
constexpr uint64_t kLargePageSize = 2ull << 20;
constexpr uint64_t kHugePageSize = 1ull << 30;

constexpr uint64_t align_up_or_zero(uint64_t v, uint64_t alignment) {
    // Returns 0 when rounding up would wrap; callers treat 0 as an error for nonzero v.
    uint64_t sum = 0;
    if (__builtin_add_overflow(v, alignment - 1, &sum)) return 0;
    return sum & ~(alignment - 1);
}

// [start, end) ranges with checked construction.
template <typename A>
struct Range {
    A start;
    A end;  // exclusive
    constexpr uint64_t size_bytes() const { return end.value() - start.value(); }
    constexpr bool contains(A a) const { return a >= start && a < end; }
    constexpr bool overlaps(const Range& o) const { return start < o.end && o.start < end; }
    // Builds [start, start + size); false when it would wrap or size is 0.
    static constexpr bool make(A start, uint64_t size, Range& out) {
        A end;
        if (size == 0 || !start.checked_add(size, end)) return false;
        out = Range{start, end};
        return true;
    }
};

}  // namespace gmm
