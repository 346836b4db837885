// Vocabulary of the memory-manager core: protections, map flags, access kinds,
// policies, error codes and fault outcomes. Freestanding-safe.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "gmm/addr.h"
#include "gmm/result.h"

namespace gmm::mm {

// Protection bits (typed bitmask; values mirror PROT_* so callers can pass them through).
enum class Prot : uint32_t { None = 0, Read = 1, Write = 2, Exec = 4 };
constexpr uint32_t kProtKnownBits = 7;
constexpr Prot operator|(Prot a, Prot b) { return Prot(uint32_t(a) | uint32_t(b)); }
constexpr Prot operator&(Prot a, Prot b) { return Prot(uint32_t(a) & uint32_t(b)); }
constexpr bool has(Prot set, Prot bit) { return (uint32_t(set) & uint32_t(bit)) != 0; }

// How a mapping is placed and shared.
enum class MapFlags : uint32_t {
    Private = 1,   // writes are private (copy-on-write for file pages)
    Shared = 2,    // writes go to the backing object
    Fixed = 0x10,  // place exactly at the address, replacing what was there
};
constexpr uint32_t kMapKnownBits = 0x13;
constexpr MapFlags operator|(MapFlags a, MapFlags b) { return MapFlags(uint32_t(a) | uint32_t(b)); }
constexpr bool has(MapFlags set, MapFlags bit) { return (uint32_t(set) & uint32_t(bit)) != 0; }

enum class Access : uint8_t { Read, Write, Exec };

// Which design an address space uses (fixed at creation).
enum class Policy : uint8_t {
    Global,   // one rw mm lock + a balanced VMA tree (Linux before per-VMA locks)
    Extents,  // VMA extents in page-table descriptors under their PTLs (the seed's design)
};
enum class Placement : uint8_t {
    Leaf,  // a fragment in every bottom-level page a mapping covers
    Hier,  // whole upper-level slots stored once at that level (CortenMM-style)
};
enum class FreeCache : uint8_t {
    None,    // one free-range tree under a short lock
    PerCpu,  // plus one cached free chunk per CPU
};

// Errno-like error codes. Values follow Linux errno numbers for easy mapping.
enum class Errno : int32_t {
    Ok = 0,
    NoMem = 12,   // ENOMEM: out of frames/page-table pages, or no free virtual space
    Inval = 22,   // EINVAL: misaligned, zero length, wrapping, unknown bits
    Fault = 14,   // EFAULT: reserved for the syscall layer
};
const char* errno_name(Errno e);

template <typename T>
using Res = gmm::Result<T, Errno>;
using Status = gmm::Status<Errno>;

// Why a fault could not be resolved (SIGSEGV si_code analogues).
enum class SegvReason : uint8_t {
    NotMapped,     // SEGV_MAPERR: no mapping covers the address
    AccessDenied,  // SEGV_ACCERR: mapping does not allow the access
    OutOfRange,    // address outside the user range
};
const char* segv_reason_name(SegvReason r);

struct BackingObject;  // backing.h

// Pinned state of a fault that must wait for I/O (the sleeping-fault protocol).
// Holds one reference on `object`; released by complete_fault() or abandon_fault().
struct FaultToken {
    Gva address;                      // page-aligned
    Access access = Access::Read;
    BackingObject* object = nullptr;  // pinned
    uint64_t page_index = 0;          // page of `object` that must become resident
    uint64_t extent_generation = 0;   // identity of the extent seen before sleeping
};

enum class FaultKind : uint8_t {
    Installed,  // PTE installed (or already present and sufficient)
    Segv,       // see `segv`
    NeedsIo,    // see `token`; caller makes the page resident, then complete_fault()
    Retry,      // revalidation after I/O failed; fault again from scratch
    NoMem,      // could not allocate a frame or a page-table page
};

struct FaultResult {
    FaultKind kind = FaultKind::Installed;
    SegvReason segv = SegvReason::NotMapped;
    FaultToken token{};
};

// A result without a token (everything but NeedsIo).
inline FaultResult fault_result(FaultKind k, SegvReason why = SegvReason::NotMapped) {
    FaultResult r;
    r.kind = k;
    r.segv = why;
    return r;
}

// Identity and attributes of one mapping range (used by map() and query()).
struct MappingInfo {
    Gva start;
    Gva end;  // exclusive
    Prot prot = Prot::None;
    bool shared = false;
    BackingObject* object = nullptr;  // null for anonymous
    uint64_t page_index = 0;          // object page at `start`
};

}  // namespace gmm::mm
