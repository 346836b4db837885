// x86-64 4-level page tables plus one descriptor per page-table page (like
// Linux's ptdesc): its lock (PTL), its children, the extents stored in its
// window (extents policy) and a generation number.
//
// Lock-free readers walk down through `children` (acquire loads). A child is
// published under its parent's PTL (hardware entry first, then the child
// pointer with release), and page-table pages are never freed while the
// address space is live except by trim_quiescent() (see docs/guestmm.md,
// "Deferred reclamation"), so a lock-free walker never sees freed memory.
#pragma once

#include <stdint.h>

#include "extent.h"
#include "lock.h"
#include "percpu.h"
#include "platform.h"
#include "slab.h"

namespace gmm::mm {

constexpr int kLevels = 4;  // 1 = PT (leaf, 4 KiB slots) ... 4 = PML4
constexpr unsigned kEntries = 512;

constexpr uint64_t slot_bytes(int level) { return 1ull << (12 + 9 * (level - 1)); }
constexpr uint64_t window_bytes(int level) { return 1ull << (12 + 9 * level); }
constexpr unsigned slot_index(int level, uint64_t va) { return unsigned(va >> (12 + 9 * (level - 1))) & 511u; }

struct PtDesc {
    TicketLock ptl{LockClass::PtLock};
    uint8_t level;       // 1..4
    uint16_t used;       // non-zero entries in `table` (present or PROT_NONE-parked), under ptl
    uint64_t base;       // first address of the window this table maps
    uint64_t table_phys;
    uint64_t* table;     // the hardware page (kEntries entries)
    PtDesc** children;   // levels >= 2: a frame of kEntries child pointers
    uint64_t children_phys;
    Extent* extents;     // sorted fragments (leaf) or whole-slot records (hier)
    uint64_t generation; // bumped under ptl whenever `extents` changes
};
// Own cache lines: PTLs of neighbouring windows must not share a line.
constexpr uint32_t kPtDescBytes = 128;
static_assert(sizeof(PtDesc) <= kPtDescBytes);

// Frames a zap collected; freed after the TLB flush.
struct ZapBatch {
    static constexpr unsigned kMax = 128;  // bounded stack use in the guest
    uint64_t frames[kMax];
    unsigned count = 0;
    bool flush = false;  // some present entry was cleared or downgraded
};

class PageTables {
public:
    // Allocates the root. `kernel_pml4` (optional) supplies entries 256..511.
    bool init(Platform& p, Slab& desc_slab, Counters& counters, const uint64_t* kernel_pml4);
    // Frees every table, owned data frame and extent list (no concurrent users).
    void destroy(Platform& p, Slab& extent_slab);

    PtDesc* root() const { return root_; }
    static PtDesc* child(const PtDesc* d, unsigned i) {
        return __atomic_load_n(&d->children[i], __ATOMIC_ACQUIRE);
    }
    // Lock-free walk to the leaf descriptor for va (nullptr if not built).
    PtDesc* find_leaf(uint64_t va) const;
    // The same, unrolled for the fault path (three dependent loads, no loop).
    PtDesc* find_leaf_fast(uint64_t va) const {
        static_assert(kLevels == 4);
        PtDesc* d = child(root_, slot_index(4, va));
        if (__builtin_expect(d != nullptr, 1)) d = child(d, slot_index(3, va));
        if (__builtin_expect(d != nullptr, 1)) d = child(d, slot_index(2, va));
        return d;
    }
    // A new, unpublished table (nullptr when out of frames) and its undo.
    PtDesc* new_table(Platform& p, int level, uint64_t base) { return alloc_table(p, level, base); }
    void discard_table(Platform& p, PtDesc* d) { free_table(p, d); }
    // Links c as child i of d (caller holds d->ptl; c fully built).
    static void publish_child_locked(PtDesc* d, unsigned i, PtDesc* c);
    // Creates child i of d; caller holds d->ptl and has checked it is absent.
    // `extents` (may be null) become the child's list before it is published.
    PtDesc* create_child_locked(Platform& p, PtDesc* d, unsigned i, Extent* extents);
    // Walks to the leaf for va, creating missing tables (each under its parent's PTL).
    PtDesc* get_leaf(Platform& p, uint64_t va) {
        PtDesc* d = find_leaf_fast(va);
        return __builtin_expect(d != nullptr, 1) ? d : get_leaf_slow(p, va);
    }
    PtDesc* get_leaf_slow(Platform& p, uint64_t va);

    // Leaf operations; caller holds d->ptl and [s, e) lies in d's window.
    // Clears entries from s on; returns where it stopped (e, or earlier when
    // the batch filled up and must be finished first).
    static uint64_t zap_locked(Platform& p, PtDesc* d, uint64_t s, uint64_t e, ZapBatch& batch);
    static void protect_locked(Platform& p, PtDesc* d, uint64_t s, uint64_t e, Prot prot, ZapBatch& batch);
    // Flushes the TLB for [s, e) if needed and frees the batch's frames.
    void finish_zap(Platform& p, const void* as, uint64_t s, uint64_t e, ZapBatch& batch);

    // Calls f(PtDesc* leaf) for each existing leaf overlapping [s, e), ascending.
    template <typename F>
    void for_each_leaf(uint64_t s, uint64_t e, F&& f) const {
        visit(root_, s, e, f);
    }
    // Frees empty subtrees (no present entries, no extents). Only with no
    // concurrent user of the address space (see docs: deferred reclamation).
    void trim_quiescent(Platform& p);
    uint64_t tables() const { return __atomic_load_n(&tables_, __ATOMIC_RELAXED); }

    Counters& counters() { return *counters_; }

private:
    template <typename F>
    static void visit(PtDesc* d, uint64_t s, uint64_t e, F& f) {
        if (d->level == 1) {
            f(d);
            return;
        }
        for (unsigned i = slot_index(d->level, s);; ++i) {
            uint64_t slot_s = d->base + uint64_t(i) * slot_bytes(d->level);
            if (i >= kEntries || slot_s >= e) break;
            if (PtDesc* c = child(d, i)) visit(c, s > slot_s ? s : slot_s, e, f);
        }
    }
    PtDesc* alloc_table(Platform& p, int level, uint64_t base);
    void free_table(Platform& p, PtDesc* d);
    void free_subtree(Platform& p, PtDesc* d, Slab& extent_slab);
    bool trim(Platform& p, PtDesc* d);
    uint64_t tables_ = 0;

    PtDesc* root_ = nullptr;
    Slab* desc_slab_ = nullptr;
    Counters* counters_ = nullptr;
};

}  // namespace gmm::mm
