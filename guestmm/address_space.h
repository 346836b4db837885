// The public API of the memory-manager core: one address space with POSIX-like
// map / unmap / protect, page faults (with the sleeping-fault protocol), query
// and a consistency checker. The policy (global vs extents) and its knobs are
// fixed at init(). See docs/guestmm.md for the design and the invariants.
//
// The caller owns the AddressSpace object (static storage in the guest, new in
// host code); init() allocates everything else from the platform's frames.
#pragma once

#include <stdint.h>

#include "backing.h"
#include "freespace.h"
#include "lock.h"
#include "options.h"
#include "pagetable.h"
#include "percpu.h"
#include "platform.h"
#include "slab.h"
#include "types.h"
#include "gmm/abi/mmstate.h"

namespace gmm::mm {

struct Vma;  // global policy's tree node (policy_global.cpp)

// Which invariant a check found broken (ids as in docs/guestmm.md).
enum class Invariant : uint8_t {
    None,
    I1_PteInsideExtent,    // every used PTE lies in an extent that allows it
    I2_ExtentsWellFormed,  // non-overlapping, sorted, inside their window / slot-aligned
    I3_Partition,          // mappings + free space partition the user range
    I4_TableStructure,     // descriptors, child links and hardware entries agree
    I5_QuiescentAccounting // no lock or busy range held; frames and pins accounted
};
const char* invariant_name(Invariant i);

struct CheckReport {
    Invariant broken = Invariant::None;
    char message[192] = {};
    bool ok() const { return broken == Invariant::None; }
};

class AddressSpace {
public:
    AddressSpace();
    AddressSpace(const AddressSpace&) = delete;
    AddressSpace& operator=(const AddressSpace&) = delete;

    // Inval for a bad user range; NoMem when the root table cannot be allocated.
    Status init(Platform& platform, const Options& options);
    // Frees every frame (no concurrent users). Safe to call twice.
    void destroy();

    // mmap: `addr` is a hint (or exact with MapFlags::Fixed, replacing what is
    // there). Length is rounded up to pages. `object` null means anonymous.
    Res<Gva> map(Gva addr, uint64_t length_bytes, Prot prot, MapFlags flags, BackingObject* object = nullptr,
                 uint64_t page_index = 0);
    // munmap of any page-aligned sub-range (unmapped holes are fine).
    Status unmap(Gva addr, uint64_t length_bytes);
    // mprotect; NoMem (nothing changed) if part of the range is not mapped.
    Status protect(Gva addr, uint64_t length_bytes, Prot prot);

    FaultResult fault(Gva addr, Access access);
    // Second half of the sleeping-fault protocol, after the caller made
    // token.page_index of token.object resident. Consumes the token's pin.
    FaultResult complete_fault(const FaultToken& token);
    // Drops a token without completing it (e.g. the I/O failed).
    void abandon_fault(const FaultToken& token);

    // Calls fn for each maximal run of identically mapped pages in [start, end).
    // Quiescent use only in the extents policy (tests, the checker).
    void query(Gva start, Gva end, void (*fn)(const MappingInfo& m, void* ctx), void* ctx);
    // The PTE for addr (0 if none).
    uint64_t pte_at(Gva addr) const;
    uint64_t root_table_phys() const { return pt_.root()->table_phys; }

    // Verifies I1-I5; requires quiescence (no concurrent operation).
    CheckReport check();
    // Extents (or VMAs) holding a reference on `object` (quiescent; tests use
    // it to check that object references balance).
    uint64_t references_to(const BackingObject* object);
    // Frees empty page-table pages; requires quiescence (deferred reclamation).
    void trim_quiescent();

    // Fills the checker's roots (policy, user range, where the trees, free
    // space and locks live); the caller adds frames and safepoint fields.
    void describe(gmm_mm_roots& out) const;

    const Options& options() const { return opts_; }
    Platform& platform() { return *p_; }
    int64_t counter(Counter c) const { return counters_.sum(c); }
    uint64_t page_table_pages() const { return pt_.tables(); }

private:
    friend struct ExtentsOps;
    friend struct GlobalOps;
    friend struct Checker;

    uint64_t next_generation();
    FaultResult fault_impl(Gva addr, Access access, const FaultToken* revalidate, uint32_t cpu);
    bool in_user(uint64_t s, uint64_t e) const { return s >= user_start_ && e <= user_end_ && s < e; }

    Platform* p_ = nullptr;
    Options opts_{};
    uint64_t user_start_ = 0;
    uint64_t user_end_ = 0;
    bool live_ = false;
    Slab small_slab_{64};  // Extent, FreeSpace::Node
    Slab large_slab_{kPtDescBytes};  // PtDesc, Vma
    PageTables pt_;
    FreeSpace free_;
    Counters counters_;
    PerCpu<uint64_t> generations_;
    // Global policy only.
    RwLock mm_lock_{LockClass::MmLock};
    Vma* vmas_ = nullptr;
};

}  // namespace gmm::mm
