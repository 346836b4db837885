// Declarations shared by the policy implementations (not a public header).
#pragma once

#include "address_space.h"
#include "extent.h"
#include "pagetable.h"
#include "pte.h"

namespace gmm::mm {

// Attributes of the mapping that covers a faulting address.
struct FaultTarget {
    Prot prot;
    bool shared;
    BackingObject* object;
    uint64_t page_index;  // object page of the faulting address
    uint64_t generation;
};

// Installs (or upgrades) the PTE for va in leaf d; caller holds d->ptl and has
// found `t` covering va. Never sleeps: returns NeedsIo with a pinned token.
// The common case (first touch of anonymous memory) is inline; the rest
// (upgrades, file pages, copy-on-write, races) is resolve_locked_slow.
FaultResult resolve_locked_slow(AddressSpace& as, Platform& p, Counters& c, PtDesc* d, uint64_t va, Access access,
                                const FaultTarget& t);
// The first touch of private anonymous memory: no object, an empty slot, and
// the mapping allows the access.
inline bool anon_first_touch(const BackingObject* object, const uint64_t* slot, Prot prot, Access access) {
    return __builtin_expect(object == nullptr && *slot == 0 && pte::prot_allows(prot, access), 1);
}
// Installs a fresh zero frame there (caller holds d->ptl).
inline FaultResult install_anon_locked(Platform& p, Counters& c, uint32_t cpu, PtDesc* d, uint64_t* slot,
                                       Prot prot) {
    const AllocatedFrame f = alloc_mapped_frame(p);  // mapcount is 1 already
    if (!f.ok) return fault_result(FaultKind::NoMem);
    __atomic_store_n(slot, pte::make_owned_leaf(f.phys, prot), __ATOMIC_RELEASE);
    ++d->used;
    c.add(cpu, Counter::FramesAllocated);
    c.add(cpu, Counter::FaultsInstalled);
    return fault_result(FaultKind::Installed);
}
inline FaultResult resolve_locked(AddressSpace& as, Platform& p, Counters& c, PtDesc* d, uint64_t va,
                                  Access access, const FaultTarget& t) {
    uint64_t* slot = &d->table[slot_index(1, va)];
    if (anon_first_touch(t.object, slot, t.prot, access))
        return install_anon_locked(p, c, current_cpu(p), d, slot, t.prot);
    return resolve_locked_slow(as, p, c, d, va, access, t);
}

struct ExtentsOps {
    static Res<Gva> map(AddressSpace& as, uint64_t s, uint64_t e, bool fixed, const ExtentAttrs& attrs);
    static Status unmap(AddressSpace& as, uint64_t s, uint64_t e);
    static Status protect(AddressSpace& as, uint64_t s, uint64_t e, Prot prot);
    // `cpu`: the caller's current_cpu() (it has it already).
    static FaultResult fault(AddressSpace& as, uint64_t va, Access access, const FaultToken* revalidate, uint32_t cpu);
    static void query(AddressSpace& as, uint64_t s, uint64_t e, void (*fn)(const Extent&, void*), void* ctx);
    static PtDesc* fault_walk_slow(AddressSpace& as, uint64_t va, Access access, const FaultToken* reval,
                                   FaultResult& out);
};

struct GlobalOps {
    static Res<Gva> map(AddressSpace& as, uint64_t s, uint64_t e, bool fixed, const ExtentAttrs& attrs);
    static Status unmap(AddressSpace& as, uint64_t s, uint64_t e);
    static Status protect(AddressSpace& as, uint64_t s, uint64_t e, Prot prot);
    static FaultResult fault(AddressSpace& as, uint64_t va, Access access, const FaultToken* revalidate);
    static void query(AddressSpace& as, uint64_t s, uint64_t e, void (*fn)(const Extent&, void*), void* ctx);
    static void destroy(AddressSpace& as);
    static bool check_tree(AddressSpace& as, CheckReport& r);
    static uint64_t count(AddressSpace& as);
    static uint64_t references_to(AddressSpace& as, const BackingObject* o);
    static bool find(AddressSpace& as, uint64_t va, Extent* out);  // quiescent
};

// Inline (its only caller is AddressSpace::fault_impl): one call layer less per fault.
// The fault path's cost is budgeted (BENCHMARKS.md, "Fault-path instruction
// budget"): an unrolled lock-free walk, the leaf's PTL, an inline extent
// lookup and the inline anonymous install; anything unusual is out of line.
__attribute__((always_inline)) inline FaultResult ExtentsOps::fault(AddressSpace& as, uint64_t va, Access access,
                                                                   const FaultToken* reval, uint32_t cpu) {
    Platform& p = *as.p_;
    PtDesc* d = as.pt_.find_leaf_fast(va);
    if (__builtin_expect(d == nullptr, 0)) {
        FaultResult r;
        d = fault_walk_slow(as, va, access, reval, r);
        if (!d) return r;
    }
    LockGuard g(d->ptl, p);
    const Extent* x = ExtentList::find(d->extents, va);
    if (__builtin_expect(!x || (reval && x->generation != reval->extent_generation), 0))
        return fault_result(reval ? FaultKind::Retry : FaultKind::Segv);
    uint64_t* slot = &d->table[slot_index(1, va)];
    if (anon_first_touch(x->object, slot, x->prot, access))
        return install_anon_locked(p, as.counters_, cpu, d, slot, x->prot);
    FaultTarget t{x->prot, x->shared, x->object, x->object ? x->page_index + ((va - x->start) >> kPageShift) : 0,
                  x->generation};
    return resolve_locked_slow(as, p, as.counters_, d, va, access, t);
}

void report(CheckReport& r, Invariant which, const char* what, uint64_t a = 0, uint64_t b = 0);

}  // namespace gmm::mm
