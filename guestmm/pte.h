// x86-64 page-table entry format (4-level paging, 4 KiB pages), as the
// hardware reads it; the hosted build keeps the same bits in ordinary memory.
#pragma once

#include <stdint.h>

#include "types.h"

namespace gmm::mm::pte {

constexpr uint64_t kPresent = 1ull << 0;
constexpr uint64_t kWrite = 1ull << 1;
constexpr uint64_t kUser = 1ull << 2;
constexpr uint64_t kAccessed = 1ull << 5;
constexpr uint64_t kDirty = 1ull << 6;
constexpr uint64_t kHuge = 1ull << 7;
constexpr uint64_t kGlobal = 1ull << 8;
// Software-available bit 9: the frame belongs to this mapping (anonymous or a
// private copy) and is freed when the PTE is zapped. File pages lack it.
constexpr uint64_t kOwned = 1ull << 9;
// A page parked by PROT_NONE: Present clear (the hardware ignores the rest),
// frame kept so its data survives until protection is restored.
constexpr uint64_t kParked = 1ull << 10;
constexpr uint64_t kNoExec = 1ull << 63;
constexpr uint64_t kAddrMask = 0x000ffffffffff000ull;

// Upper-level entries grant everything; the leaf decides.
constexpr uint64_t kTableFlags = kPresent | kWrite | kUser;

constexpr uint64_t frame_of(uint64_t e) { return e & kAddrMask; }
constexpr bool present(uint64_t e) { return (e & kPresent) != 0; }

// Leaf entry for a frame. `writable` is false for copy-on-write file pages.
constexpr uint64_t make_leaf(uint64_t phys, Prot prot, bool writable, bool owned) {
    uint64_t e = (phys & kAddrMask) | kPresent | kUser | kAccessed;
    if (writable && has(prot, Prot::Write)) e |= kWrite | kDirty;
    if (!has(prot, Prot::Exec)) e |= kNoExec;
    if (owned) e |= kOwned;
    return e;
}

// The flag bits of make_leaf(frame, prot, true, true) (an owned, writable
// anonymous page) per protection: the fault path ORs them into the frame.
struct OwnedLeafFlags {
    uint64_t by_prot[8];
};
constexpr OwnedLeafFlags make_owned_leaf_flags() {
    OwnedLeafFlags t{};
    for (uint32_t i = 0; i < 8; ++i) t.by_prot[i] = make_leaf(0, Prot(i), true, true);
    return t;
}
inline constexpr OwnedLeafFlags kOwnedLeafFlags = make_owned_leaf_flags();
static_assert(kProtKnownBits == 7);
// = make_leaf(phys, prot, true, true) for a page-aligned phys below 2^52.
inline uint64_t make_owned_leaf(uint64_t phys, Prot prot) {
    return phys | kOwnedLeafFlags.by_prot[uint32_t(prot) & kProtKnownBits];
}

// Whether an installed entry already satisfies `access`.
constexpr bool permits(uint64_t e, Access access) {
    if (!present(e)) return false;
    if (access == Access::Write) return (e & kWrite) != 0;
    if (access == Access::Exec) return (e & kNoExec) == 0;
    return true;
}

// Whether `prot` allows `access` at all: reading needs any of R/W/X, writing
// W, executing X. A mask per access, packed a byte each (a shift and a test
// instead of a switch, on every fault).
constexpr uint32_t kProtNeededByAccess = (uint32_t(Prot::Read) | uint32_t(Prot::Write) | uint32_t(Prot::Exec)) |
                                         uint32_t(Prot::Write) << 8 | uint32_t(Prot::Exec) << 16;
static_assert(uint32_t(Access::Read) == 0 && uint32_t(Access::Write) == 1 && uint32_t(Access::Exec) == 2);
constexpr bool prot_allows(Prot prot, Access access) {
    return (uint32_t(prot) & (kProtNeededByAccess >> (8 * uint32_t(access))) & 0xffu) != 0;
}

}  // namespace gmm::mm::pte
