// The policy-independent end of a page fault: under the leaf's PTL, with the
// covering mapping known, install or upgrade the PTE. Never sleeps; a missing
// file page turns into NeedsIo with a pinned token (the sleeping-fault protocol).
#include "internal.h"
#include "pte.h"

namespace gmm::mm {

namespace {
void copy_page(void* dst, const void* src) {
    auto* d = static_cast<uint64_t*>(dst);
    auto* s = static_cast<const uint64_t*>(src);
    for (unsigned i = 0; i < kPageSize / 8; ++i) d[i] = s[i];
}

FaultResult segv(SegvReason why) {
    FaultResult r;
    r.kind = FaultKind::Segv;
    r.segv = why;
    return r;
}

FaultResult kind(FaultKind k) {
    FaultResult r;
    r.kind = k;
    return r;
}
}  // namespace

FaultResult resolve_locked_slow(AddressSpace& as, Platform& p, Counters& c, PtDesc* d, uint64_t va, Access access,
                                const FaultTarget& t) {
    (void)as;
    if (!pte::prot_allows(t.prot, access)) return segv(SegvReason::AccessDenied);
    uint64_t* slot = &d->table[slot_index(1, va)];
    uint64_t v = *slot;
    if (pte::permits(v, access)) return kind(FaultKind::Installed);  // raced with another fault
    if (t.object && t.page_index >= t.object->size_pages) return segv(SegvReason::NotMapped);  // SIGBUS

    const uint32_t cpu = current_cpu(p);  // one virtual call per fault, not one per counter
    uint64_t frame = 0;
    bool owned = false;
    if (v) {  // present with fewer rights, or parked by PROT_NONE: keep the frame
        frame = pte::frame_of(v);
        owned = (v & pte::kOwned) != 0;
    } else if (!t.object) {
        if (!p.alloc_zeroed_frame(&frame)) return kind(FaultKind::NoMem);
        c.add(cpu, Counter::FramesAllocated);
        owned = true;  // mapped below (v == 0)
    } else if (!t.object->ops->lookup(t.object, t.page_index, &frame)) {
        object_get(t.object);  // pin for the sleep; the token owns this reference
        FaultResult r;
        r.kind = FaultKind::NeedsIo;
        r.token = FaultToken{Gva(va), access, t.object, t.page_index, t.generation};
        return r;
    }

    if (access == Access::Write && !owned && !t.shared) {
        // Private write to a file page: copy-on-write into a frame of our own.
        uint64_t copy = 0;
        if (!p.alloc_zeroed_frame(&copy)) return kind(FaultKind::NoMem);
        copy_page(p.phys_to_virt(copy), p.phys_to_virt(frame));
        c.add(cpu, Counter::FramesAllocated);
        c.add(cpu, Counter::CowCopies);
        frame = copy;
        owned = true;
        if (v) {  // the old read-only mapping of the file page may be cached
            __atomic_store_n(slot, 0, __ATOMIC_RELEASE);
            frame_mapped(p, pte::frame_of(v), -1);
            frame_mapped(p, frame, 1);  // the slot stays used: it now refers to the copy
            if (pte::present(v)) p.flush_tlb(&as, Gva(va), Gva(va + kPageSize));
        }
    }
    bool writable = owned || t.shared;
    __atomic_store_n(slot, pte::make_leaf(frame, t.prot, writable, owned), __ATOMIC_RELEASE);
    if (!v) {  // a replaced entry keeps its count and its frame reference
        ++d->used;
        frame_mapped(p, frame, 1);
    }
    c.add(cpu, Counter::FaultsInstalled);
    return kind(FaultKind::Installed);
}

}  // namespace gmm::mm
