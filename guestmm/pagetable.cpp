#include "pagetable.h"

#include <new>

#include "pte.h"

namespace gmm::mm {

namespace {
inline void store_entry(uint64_t* slot, uint64_t v) { __atomic_store_n(slot, v, __ATOMIC_RELEASE); }
}  // namespace

PtDesc* PageTables::alloc_table(Platform& p, int level, uint64_t base) {
    auto* d = static_cast<PtDesc*>(desc_slab_->alloc(p));
    if (!d) return nullptr;
    new (d) PtDesc();
    uint64_t phys = 0, cphys = 0;
    if (!p.alloc_zeroed_frame(&phys)) {
        desc_slab_->free(p, d);
        return nullptr;
    }
    if (level >= 2) {
        if (!p.alloc_zeroed_frame(&cphys)) {
            p.free_frame(phys);
            desc_slab_->free(p, d);
            return nullptr;
        }
        d->children = static_cast<PtDesc**>(p.phys_to_virt(cphys));
        d->children_phys = cphys;
    }
    p.set_frame_role(phys, Platform::FrameRole::PageTable);
    if (level >= 2) p.set_frame_role(cphys, Platform::FrameRole::MmMetadata);
    d->level = uint8_t(level);
    d->base = base;
    d->table_phys = phys;
    d->table = static_cast<uint64_t*>(p.phys_to_virt(phys));
    rmw_fetch_add(&tables_, 1, __ATOMIC_RELAXED);
    counters_->add(p.cpu_id(), Counter::PageTablePages, level >= 2 ? 2 : 1);
    return d;
}

void PageTables::free_table(Platform& p, PtDesc* d) {
    if (d->children) p.free_frame(d->children_phys);
    p.free_frame(d->table_phys);
    counters_->add(p.cpu_id(), Counter::PageTablePages, d->children ? -2 : -1);
    rmw_fetch_sub(&tables_, 1, __ATOMIC_RELAXED);
    desc_slab_->free(p, d);
}

bool PageTables::init(Platform& p, Slab& desc_slab, Counters& counters, const uint64_t* kernel_pml4) {
    desc_slab_ = &desc_slab;
    counters_ = &counters;
    root_ = alloc_table(p, kLevels, 0);
    if (!root_) return false;
    if (kernel_pml4)
        for (unsigned i = kEntries / 2; i < kEntries; ++i) root_->table[i] = kernel_pml4[i];
    return true;
}

PtDesc* PageTables::find_leaf(uint64_t va) const {
    PtDesc* d = root_;
    while (d && d->level > 1) d = child(d, slot_index(d->level, va));
    return d;
}

void PageTables::publish_child_locked(PtDesc* d, unsigned i, PtDesc* c) {
    store_entry(&d->table[i], (c->table_phys & pte::kAddrMask) | pte::kTableFlags);
    ++d->used;
    // Publish last: a walker that sees the child sees it fully built.
    __atomic_store_n(&d->children[i], c, __ATOMIC_RELEASE);
}

PtDesc* PageTables::create_child_locked(Platform& p, PtDesc* d, unsigned i, Extent* extents) {
    PtDesc* c = alloc_table(p, d->level - 1, d->base + uint64_t(i) * slot_bytes(d->level));
    if (!c) return nullptr;
    c->extents = extents;
    publish_child_locked(d, i, c);
    return c;
}

PtDesc* PageTables::get_leaf_slow(Platform& p, uint64_t va) {
    PtDesc* d = root_;
    while (d->level > 1) {
        unsigned i = slot_index(d->level, va);
        PtDesc* c = child(d, i);
        if (!c) {
            LockGuard g(d->ptl, p);
            c = child(d, i);
            if (!c) c = create_child_locked(p, d, i, nullptr);
            if (!c) return nullptr;
        }
        d = c;
    }
    return d;
}

uint64_t PageTables::zap_locked(Platform& p, PtDesc* d, uint64_t s, uint64_t e, ZapBatch& batch) {
    if (d->used == 0) return e;
    unsigned first = slot_index(1, s);
    unsigned last = slot_index(1, e - 1);
    for (unsigned i = first; i <= last; ++i) {
        uint64_t v = d->table[i];
        if (!v) continue;
        if (batch.count == ZapBatch::kMax) return d->base + uint64_t(i) * kPageSize;
        store_entry(&d->table[i], 0);
        frame_mapped(p, pte::frame_of(v), -1);
        if ((v & (pte::kDirty | pte::kOwned)) == pte::kDirty) p.frame_dirtied(pte::frame_of(v));
        --d->used;
        if (pte::present(v)) batch.flush = true;
        if (v & pte::kOwned) batch.frames[batch.count++] = pte::frame_of(v);
    }
    return e;
}

void PageTables::protect_locked(Platform& p, PtDesc* d, uint64_t s, uint64_t e, Prot prot, ZapBatch& batch) {
    if (d->used == 0) return;
    unsigned first = slot_index(1, s);
    unsigned last = slot_index(1, e - 1);
    for (unsigned i = first; i <= last; ++i) {
        uint64_t v = d->table[i];
        if (!pte::present(v)) continue;  // parked pages are restored by the next fault
        uint64_t n = v;
        if (prot == Prot::None) {
            n = (v & (pte::kAddrMask | pte::kOwned)) | pte::kParked;  // drops Dirty: pass it on
            if ((v & (pte::kDirty | pte::kOwned)) == pte::kDirty) p.frame_dirtied(pte::frame_of(v));
        } else {
            if (!has(prot, Prot::Write)) n &= ~pte::kWrite;  // upgrades happen lazily at fault time
            if (has(prot, Prot::Exec)) n &= ~pte::kNoExec;
            else n |= pte::kNoExec;
        }
        if (n == v) continue;
        store_entry(&d->table[i], n);
        if ((v & ~n & (pte::kWrite | pte::kPresent)) || (n & ~v & pte::kNoExec)) batch.flush = true;
    }
}

void PageTables::finish_zap(Platform& p, const void* as, uint64_t s, uint64_t e, ZapBatch& batch) {
    uint32_t cpu = p.cpu_id();
    if (batch.flush) {
        p.flush_tlb(as, Gva(s), Gva(e));
        counters_->add(cpu, Counter::TlbFlushRequests);
    }
    for (unsigned i = 0; i < batch.count; ++i) p.free_frame(batch.frames[i]);
    if (batch.count) counters_->add(cpu, Counter::FramesFreed, batch.count);
    batch.count = 0;
    batch.flush = false;
}

void PageTables::free_subtree(Platform& p, PtDesc* d, Slab& extent_slab) {
    ExtentList::free_all(d->extents, p, extent_slab);
    unsigned n = d->level == kLevels ? kEntries / 2 : kEntries;  // never the kernel half
    for (unsigned i = 0; i < n; ++i) {
        if (d->level > 1) {
            if (PtDesc* c = d->children[i]) free_subtree(p, c, extent_slab);
        } else if (d->table[i] & pte::kOwned) {
            p.frame_mapped(pte::frame_of(d->table[i]), -1);
            p.free_frame(pte::frame_of(d->table[i]));
            counters_->add(p.cpu_id(), Counter::FramesFreed);
        }
    }
    free_table(p, d);
}

void PageTables::destroy(Platform& p, Slab& extent_slab) {
    if (root_) free_subtree(p, root_, extent_slab);
    root_ = nullptr;
}

// Returns true if d became empty (caller may free it).
bool PageTables::trim(Platform& p, PtDesc* d) {
    if (d->level > 1) {
        unsigned n = d->level == kLevels ? kEntries / 2 : kEntries;
        for (unsigned i = 0; i < n; ++i) {
            PtDesc* c = d->children[i];
            if (c && trim(p, c)) {
                store_entry(&d->table[i], 0);
                d->children[i] = nullptr;
                --d->used;
                free_table(p, c);
            }
        }
    }
    return d->used == 0 && d->extents == nullptr;
}

void PageTables::trim_quiescent(Platform& p) {
    if (root_) trim(p, root_);
}

}  // namespace gmm::mm
