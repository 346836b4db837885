// The global policy: Linux before per-VMA locks. One reader-writer mm lock;
// VMAs in a balanced tree (treap); free space in the gap tree (FreeSpace,
// which is the "largest gap" augmentation kept as its own tree). Faults take
// the mm lock for read, map/unmap/protect for write; PTEs under per-table PTLs.
#include <stddef.h>

#include "gmm/abi/mmstate.h"
#include "internal.h"
#include "pte.h"
#include "treap.h"

namespace gmm::mm {

struct Vma {
    Vma* left;
    Vma* right;
    uint64_t start;
    uint64_t end;
    uint64_t max_len;
    uint32_t prio;
    Prot prot;
    bool shared;
    BackingObject* object;
    uint64_t page_index;  // object page at start
    uint64_t generation;
};
static_assert(sizeof(Vma) <= kPtDescBytes);
// The checker reads VMAs through this mirror (abi/gmm/abi/mmstate.h).
static_assert(sizeof(Vma) == sizeof(gmm_vma));
static_assert(offsetof(Vma, left) == offsetof(gmm_vma, left) && offsetof(Vma, right) == offsetof(gmm_vma, right));
static_assert(offsetof(Vma, start) == offsetof(gmm_vma, start) && offsetof(Vma, end) == offsetof(gmm_vma, end));
static_assert(offsetof(Vma, prot) == offsetof(gmm_vma, prot) && offsetof(Vma, shared) == offsetof(gmm_vma, shared));
static_assert(offsetof(Vma, object) == offsetof(gmm_vma, object));
static_assert(offsetof(Vma, page_index) == offsetof(gmm_vma, page_index));
static_assert(offsetof(Vma, generation) == offsetof(gmm_vma, generation));

namespace {

using treap::find;
using treap::insert;
using treap::merge;
using treap::pop_max;
using treap::pop_min;
using treap::split;

Extent as_extent(const Vma& v) {
    Extent x{};
    x.start = v.start;
    x.end = v.end;
    x.object = v.object;
    x.page_index = v.page_index;
    x.generation = v.generation;
    x.prot = v.prot;
    x.shared = v.shared;
    return x;
}

void advance(Vma* v, uint64_t at) {
    if (v->object) v->page_index += (at - v->start) >> kPageShift;
    v->start = at;
}

bool mergeable(const Vma& a, const Vma& b) {
    if (a.end != b.start || a.prot != b.prot || a.shared != b.shared || a.object != b.object) return false;
    return !a.object || a.page_index + ((a.end - a.start) >> kPageShift) == b.page_index;
}

// The node starting exactly at `start`, removed from the tree.
Vma* erase_at(Vma*& root, uint64_t start) {
    Vma *l, *r;
    split(root, start, l, r);
    Vma* n = pop_min(r);
    root = merge(l, r);
    return n;
}

// Changes v's end, keeping the tree's augmentation exact.
void set_end(Vma*& root, Vma* v, uint64_t end) {
    Vma* n = erase_at(root, v->start);
    n->end = end;
    root = insert(root, n);
}

// The VMA starting at or after addr (lowest), or nullptr.
Vma* next_from(Vma* t, uint64_t addr) {
    Vma* best = nullptr;
    while (t) {
        if (t->start >= addr) {
            best = t;
            t = t->left;
        } else {
            t = t->right;
        }
    }
    return best;
}

void for_leaves(AddressSpace& as, PageTables& pt, Platform& p, uint64_t s, uint64_t e, Prot* prot) {
    pt.for_each_leaf(s, e, [&](PtDesc* d) {
        uint64_t a = d->base > s ? d->base : s;
        uint64_t b = d->base + window_bytes(1) < e ? d->base + window_bytes(1) : e;
        ZapBatch batch;
        {
            LockGuard g(d->ptl, p);
            if (prot) {
                PageTables::protect_locked(p, d, a, b, *prot, batch);
            } else {
                for (uint64_t at = a; (at = PageTables::zap_locked(p, d, at, b, batch)) < b;)
                    pt.finish_zap(p, &as, a, b, batch);
            }
        }
        pt.finish_zap(p, &as, a, b, batch);
    });
}

}  // namespace

// Removes [s, e) from the VMA tree and the page tables; mm lock held for write.
static Status unmap_locked(AddressSpace& as, Platform& p, Slab& slab, Vma*& root, FreeSpace& free,
                           PageTables& pt, uint64_t s, uint64_t e) {
    Vma* spare = nullptr;
    Vma* v = treap::find(root, s);
    if (v && v->start < s && v->end > e) {  // punching a hole needs a second node
        spare = static_cast<Vma*>(slab.alloc(p));
        if (!spare) return Err{Errno::NoMem};
    }
    // Free space first: the only other step that can fail.
    if (Status st = free.release_union(p, s, e); !st.ok()) {
        slab.free(p, spare);
        return st;
    }
    Vma *l, *r, *m, *r2;
    split(root, s, l, r);
    if (Vma* lm = pop_max(l)) {
        if (lm->end > s) {
            if (lm->end > e) {
                *spare = *lm;
                advance(spare, e);
                object_get(spare->object);
                r = insert(r, spare);
                spare = nullptr;
            }
            lm->end = s;
        }
        l = insert(l, lm);
    }
    split(r, e, m, r2);
    while (Vma* x = pop_min(m)) {
        if (x->end > e) {
            advance(x, e);
            r2 = insert(r2, x);
        } else {
            object_put(x->object);
            slab.free(p, x);
        }
    }
    root = merge(l, r2);
    for_leaves(as, pt, p, s, e, nullptr);
    return Ok{};
}

Res<Gva> GlobalOps::map(AddressSpace& as, uint64_t s, uint64_t e, bool fixed, const ExtentAttrs& a) {
    Platform& p = *as.p_;
    auto* n = static_cast<Vma*>(as.large_slab_.alloc(p));
    if (!n) return Err{Errno::NoMem};
    LockGuard g(as.mm_lock_, p);
    if (fixed) {
        Status st = unmap_locked(as, p, as.large_slab_, as.vmas_, as.free_, as.pt_, s, e);
        if (st.ok()) st = as.free_.reserve(p, s, e);
        if (!st.ok()) {
            as.large_slab_.free(p, n);
            return Err{st.error()};
        }
    } else {
        uint64_t len = e;
        uint64_t align = len >= kLargePageSize ? kLargePageSize : kPageSize;
        Res<uint64_t> r = as.free_.alloc(p, len, align, s);
        if (!r.ok() && align != kPageSize) r = as.free_.alloc(p, len, kPageSize, s);
        if (!r.ok()) {
            as.large_slab_.free(p, n);
            return Err{r.error()};
        }
        s = *r;
        e = s + len;
    }
    n->start = s;
    n->end = e;
    n->prot = a.prot;
    n->shared = a.shared;
    n->object = a.object;
    n->page_index = a.page_index;
    n->generation = a.generation;
    object_get(n->object);
    as.vmas_ = insert(as.vmas_, n);
    return Gva(s);
}

Status GlobalOps::unmap(AddressSpace& as, uint64_t s, uint64_t e) {
    Platform& p = *as.p_;
    LockGuard g(as.mm_lock_, p);
    return unmap_locked(as, p, as.large_slab_, as.vmas_, as.free_, as.pt_, s, e);
}

Status GlobalOps::protect(AddressSpace& as, uint64_t s, uint64_t e, Prot prot) {
    Platform& p = *as.p_;
    Slab& slab = as.large_slab_;
    Vma* spares[2] = {static_cast<Vma*>(slab.alloc(p)), static_cast<Vma*>(slab.alloc(p))};
    if (!spares[0] || !spares[1]) {
        slab.free(p, spares[0]);
        slab.free(p, spares[1]);
        return Err{Errno::NoMem};
    }
    LockGuard g(as.mm_lock_, p);
    Vma*& root = as.vmas_;
    // The range must be mapped without holes (mprotect's ENOMEM otherwise).
    for (uint64_t at = s; at < e;) {
        Vma* v = treap::find(root, at);
        if (!v) {
            slab.free(p, spares[0]);
            slab.free(p, spares[1]);
            return Err{Errno::NoMem};
        }
        at = v->end;
    }
    uint64_t gen = as.next_generation();
    int used = 0;
    const uint64_t cuts[2] = {s, e};
    for (uint64_t cut : cuts) {  // split where the protection changes
        Vma* v = treap::find(root, cut);
        if (v && v->start < cut && v->prot != prot) {
            Vma* n = spares[used++];
            *n = *v;
            advance(n, cut);
            object_get(n->object);
            set_end(root, v, cut);
            root = insert(root, n);
        }
    }
    for (Vma* v = next_from(root, s); v && v->start < e; v = next_from(root, v->end)) {
        if (v->prot != prot) {
            v->prot = prot;
            v->generation = gen;
        }
    }
    // Merge equal neighbours from the VMA ending at s through the one starting at e.
    Vma* x = treap::find(root, s > 0 ? s - 1 : s);
    if (!x) x = next_from(root, s);
    while (x && x->start <= e) {
        Vma* y = next_from(root, x->end);
        if (!y) break;
        if (mergeable(*x, *y)) {
            Vma* gone = erase_at(root, y->start);
            set_end(root, x, gone->end);
            x->generation = gen;
            object_put(gone->object);
            slab.free(p, gone);
        } else {
            x = y;
        }
    }
    for (int i = used; i < 2; ++i) slab.free(p, spares[i]);
    for_leaves(as, as.pt_, p, s, e, &prot);
    return Ok{};
}

FaultResult GlobalOps::fault(AddressSpace& as, uint64_t va, Access access, const FaultToken* reval) {
    Platform& p = *as.p_;
    as.mm_lock_.lock_shared(p);
    FaultResult r;
    const Vma* v = treap::find(as.vmas_, va);
    if (!v || (reval && v->generation != reval->extent_generation)) {
        r = fault_result(reval ? FaultKind::Retry : FaultKind::Segv);
    } else if (!pte::prot_allows(v->prot, access)) {
        r = fault_result(FaultKind::Segv, SegvReason::AccessDenied);
    } else if (PtDesc* d = as.pt_.get_leaf(p, va)) {
        FaultTarget t{v->prot, v->shared, v->object,
                      v->object ? v->page_index + ((va - v->start) >> kPageShift) : 0, v->generation};
        LockGuard g(d->ptl, p);
        r = resolve_locked(as, p, as.counters_, d, va, access, t);
    } else {
        r = fault_result(FaultKind::NoMem);
    }
    as.mm_lock_.unlock_shared(p);
    return r;
}

void GlobalOps::query(AddressSpace& as, uint64_t s, uint64_t e, void (*fn)(const Extent&, void*), void* ctx) {
    Platform& p = *as.p_;
    as.mm_lock_.lock_shared(p);
    for (Vma* v = treap::lower_bound_end(as.vmas_, s); v && v->start < e; v = next_from(as.vmas_, v->end)) {
        Extent x = as_extent(*v);
        fn(x, ctx);
    }
    as.mm_lock_.unlock_shared(p);
}

void GlobalOps::destroy(AddressSpace& as) {
    treap::destroy(as.vmas_, [&](Vma* v) {
        object_put(v->object);
        as.large_slab_.free(*as.p_, v);
    });
    as.vmas_ = nullptr;
}

bool GlobalOps::find(AddressSpace& as, uint64_t va, Extent* out) {
    const Vma* v = treap::find(as.vmas_, va);
    if (!v) return false;
    *out = as_extent(*v);
    return true;
}

uint64_t GlobalOps::count(AddressSpace& as) {
    uint64_t n = 0;
    treap::for_each(as.vmas_, [&](Vma*) { ++n; });
    return n;
}

uint64_t GlobalOps::references_to(AddressSpace& as, const BackingObject* o) {
    uint64_t n = 0;
    treap::for_each(as.vmas_, [&](Vma* v) { n += v->object == o; });
    return n;
}

bool GlobalOps::check_tree(AddressSpace& as, CheckReport& r) {
    uint64_t prev_end = as.user_start_;
    bool ok = true;
    treap::for_each(as.vmas_, [&](Vma* v) {
        if (!ok) return;
        if (v->start < prev_end || v->start >= v->end || v->end > as.user_end_ || (v->start | v->end) & (kPageSize - 1)) {
            report(r, Invariant::I2_ExtentsWellFormed, "VMA out of order, empty, misaligned or outside user range",
                   v->start, v->end);
            ok = false;
        }
        uint64_t m = v->end - v->start;
        if (v->left && v->left->max_len > m) m = v->left->max_len;
        if (v->right && v->right->max_len > m) m = v->right->max_len;
        if (m != v->max_len) {
            report(r, Invariant::I2_ExtentsWellFormed, "VMA tree augmentation stale", v->start, v->max_len);
            ok = false;
        }
        prev_end = v->end;
    });
    return ok;
}

}  // namespace gmm::mm
