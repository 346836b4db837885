// Declarations shared by the policy implementations (not a public header).
#pragma once

#include "address_space.h"
#include "extent.h"
#include "pagetable.h"

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
FaultResult resolve_locked(AddressSpace& as, Platform& p, Counters& c, PtDesc* d, uint64_t va, Access access,
                           const FaultTarget& t);

struct ExtentsOps {
    static Res<Gva> map(AddressSpace& as, uint64_t s, uint64_t e, bool fixed, const ExtentAttrs& attrs);
    static Status unmap(AddressSpace& as, uint64_t s, uint64_t e);
    static Status protect(AddressSpace& as, uint64_t s, uint64_t e, Prot prot);
    static FaultResult fault(AddressSpace& as, uint64_t va, Access access, const FaultToken* revalidate);
    static void query(AddressSpace& as, uint64_t s, uint64_t e, void (*fn)(const Extent&, void*), void* ctx);
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

void report(CheckReport& r, Invariant which, const char* what, uint64_t a = 0, uint64_t b = 0);

}  // namespace gmm::mm
