// The extents policy (the seed's design): no mm-wide lock. Each page-table
// descriptor holds the extents overlapping its window under its PTL; a fault
// walks the upper levels without locks and takes only the leaf's PTL.
// Map / unmap / protect work window by window in ascending address order.
// With placement=hier an extent covering whole upper-level slots is stored
// once at that level (PD: 2 MiB slots, PDPT: 1 GiB slots) and pushed down
// into a new child table when a fault or a partial operation needs it.
#include "internal.h"
#include "pte.h"

namespace gmm::mm {

namespace {

constexpr int kMaxHierLevel = 3;

enum class Kind : uint8_t { Map, Unmap, Protect, Coverage };

// Accumulates removed pieces into runs and returns each run to free space.
// Nodes come from the stash (the removed extents' own nodes plus two spares),
// so releasing cannot fail.
struct Runs {
    FreeSpace* free;
    Platform* p;
    NodeStash* stash;
    Slab* slab;
    uint64_t s = 0, e = 0;
    bool active = false;

    static void piece(void* ctx, uint64_t ps, uint64_t pe) {
        auto* r = static_cast<Runs*>(ctx);
        if (r->active && r->e == ps) {
            r->e = pe;
            return;
        }
        r->flush();
        r->s = ps;
        r->e = pe;
        r->active = true;
    }
    void flush() {
        if (!active) return;
        active = false;
        // Give the free tree a node from the stash first, so release() finds one.
        if (void* n = stash->pop()) slab->free(*p, n);
        (void)free->release(*p, s, e);
    }
};

struct WinOp {
    Kind kind;
    ExtentAttrs attrs{};    // Map
    Prot prot = Prot::None; // Protect
    uint64_t gen = 0;       // Protect
    Runs* runs = nullptr;   // Unmap (nullptr: pieces are not released)
    NodeStash* stash = nullptr;
    uint64_t covered = 0;   // Coverage
    uint64_t done_until = 0;
    Errno err = Errno::Ok;
};

struct Ctx {
    AddressSpace& as;
    Platform& p;
    PageTables& pt;
    Slab& slab;
    Counters& counters;
    bool hier;
};

uint64_t overlap_bytes(const Extent* head, uint64_t s, uint64_t e) {
    uint64_t n = 0;
    for (const Extent* x = head; x && x->start < e; x = x->next) {
        uint64_t a = x->start > s ? x->start : s, b = x->end < e ? x->end : e;
        if (a < b) n += b - a;
    }
    return n;
}

// Moves d's records for slot i into a new child table and publishes it.
// Caller holds d->ptl. nullptr when out of memory (nothing changed).
PtDesc* push_down_locked(Ctx& c, PtDesc* d, unsigned i) {
    uint64_t slot_s = d->base + uint64_t(i) * slot_bytes(d->level);
    PtDesc* child = c.pt.new_table(c.p, d->level - 1, slot_s);
    if (!child) return nullptr;
    if (overlap_bytes(d->extents, slot_s, slot_s + slot_bytes(d->level))) {
        Extent* part = nullptr;
        if (!ExtentList::carve_out(d->extents, c.p, c.slab, slot_s, slot_s + slot_bytes(d->level), part)) {
            c.pt.discard_table(c.p, child);
            return nullptr;
        }
        child->extents = part;
        ++d->generation;
        c.counters.add(c.p.cpu_id(), Counter::Pushdowns);
    }
    PageTables::publish_child_locked(d, i, child);
    return child;
}

// One window step on d's list (d is a leaf, or an upper table whose slots in
// [s, e) have no children); caller holds d->ptl. Atomic per window: on
// failure nothing changed. `node` is the pre-allocated extent for Map.
bool list_op_locked(Ctx& c, PtDesc* d, uint64_t s, uint64_t e, WinOp& op, Extent*& node, ZapBatch& batch) {
    const bool leaf = d->level == 1;
    uint64_t removed = 0;
    switch (op.kind) {
    case Kind::Map: {
        ExtentList::PieceSink sink{nullptr, nullptr, op.stash};
        if (!ExtentList::remove(d->extents, c.p, c.slab, s, e, &removed, &sink)) return false;
        ExtentList::insert_node(d->extents, node, s, e, op.attrs);
        node = nullptr;
        ++d->generation;
        if (leaf)
            for (uint64_t at = s; (at = PageTables::zap_locked(c.p, d, at, e, batch)) < e;)
                c.pt.finish_zap(c.p, &c.as, s, e, batch);
        break;
    }
    case Kind::Unmap: {
        ExtentList::PieceSink sink{op.runs ? &Runs::piece : nullptr, op.runs, op.stash};
        if (!ExtentList::remove(d->extents, c.p, c.slab, s, e, &removed, &sink)) return false;
        if (removed) ++d->generation;
        if (leaf)
            for (uint64_t at = s; (at = PageTables::zap_locked(c.p, d, at, e, batch)) < e;)
                c.pt.finish_zap(c.p, &c.as, s, e, batch);
        break;
    }
    case Kind::Protect: {
        bool changed = false;
        if (!ExtentList::protect(d->extents, c.p, c.slab, s, e, op.prot, op.gen, &changed)) return false;
        if (changed) {
            ++d->generation;
            if (leaf) PageTables::protect_locked(c.p, d, s, e, op.prot, batch);
        }
        break;
    }
    case Kind::Coverage:
        op.covered += overlap_bytes(d->extents, s, e);
        break;
    }
    op.done_until = e;
    return true;
}

bool leaf_op(Ctx& c, PtDesc* d, uint64_t s, uint64_t e, WinOp& op) {
    Extent* node = nullptr;
    if (op.kind == Kind::Map && !(node = static_cast<Extent*>(c.slab.alloc(c.p)))) {
        op.err = Errno::NoMem;
        return false;
    }
    ZapBatch batch;
    bool ok;
    {
        LockGuard g(d->ptl, c.p);
        ok = list_op_locked(c, d, s, e, op, node, batch);
    }
    c.slab.free(c.p, node);
    c.pt.finish_zap(c.p, &c.as, s, e, batch);  // after the PTL: frames go after the flush
    if (!ok) op.err = Errno::NoMem;
    return ok;
}

bool apply(Ctx& c, PtDesc* d, uint64_t s, uint64_t e, WinOp& op);

// hier: handles [a, ...) at d's level if it has no child there. Returns 1 when
// done (a advanced), 0 when the caller must descend into *child, -1 on NoMem.
int upper_here(Ctx& c, PtDesc* d, unsigned i, uint64_t& a, uint64_t e, WinOp& op, PtDesc*& child) {
    const uint64_t slot = slot_bytes(d->level);
    uint64_t slot_s = d->base + uint64_t(i) * slot, slot_e = slot_s + slot;
    uint64_t b = e < slot_e ? e : slot_e;
    LockGuard g(d->ptl, c.p);
    child = PageTables::child(d, i);
    if (child) return 0;
    if (a == slot_s && b == slot_e) {
        // Whole slots without children: one record op at this level. With no
        // children at all (used == 0) the run extends without looking at them.
        uint64_t window_e = d->base + window_bytes(d->level);
        if (d->used == 0) b = e < window_e ? e - (e - slot_s) % slot : window_e;
        else
            for (unsigned j = i + 1; j < kEntries && b + slot <= e && !PageTables::child(d, j); ++j) b += slot;
        Extent* node = nullptr;
        if (op.kind == Kind::Map && !(node = static_cast<Extent*>(c.slab.alloc(c.p)))) return -1;
        ZapBatch none;
        bool ok = list_op_locked(c, d, a, b, op, node, none);
        c.slab.free(c.p, node);
        if (!ok) return -1;
        a = b;
        return 1;
    }
    if (op.kind == Kind::Coverage || (op.kind != Kind::Map && !overlap_bytes(d->extents, a, b))) {
        op.covered += op.kind == Kind::Coverage ? overlap_bytes(d->extents, a, b) : 0;
        op.done_until = a = b;
        return 1;
    }
    child = push_down_locked(c, d, i);
    return child ? 0 : -1;
}

bool upper_op(Ctx& c, PtDesc* d, uint64_t s, uint64_t e, WinOp& op) {
    const uint64_t slot = slot_bytes(d->level);
    const bool hier = c.hier && d->level <= kMaxHierLevel;
    uint64_t a = s;
    while (a < e) {
        unsigned i = slot_index(d->level, a);
        uint64_t slot_e = d->base + uint64_t(i + 1) * slot;
        uint64_t b = e < slot_e ? e : slot_e;
        PtDesc* child = PageTables::child(d, i);
        if (!child && hier) {
            int r = upper_here(c, d, i, a, e, op, child);
            if (r < 0) {
                op.err = Errno::NoMem;
                return false;
            }
            if (r > 0) continue;
        } else if (!child) {
            if (op.kind != Kind::Map) {  // nothing is mapped below a missing table
                op.done_until = a = b;
                continue;
            }
            {
                LockGuard g(d->ptl, c.p);
                child = PageTables::child(d, i);
                if (!child) child = c.pt.create_child_locked(c.p, d, i, nullptr);
            }
            if (!child) {
                op.err = Errno::NoMem;
                return false;
            }
        }
        if (!apply(c, child, a, b, op)) return false;
        a = b;
    }
    return true;
}

bool apply(Ctx& c, PtDesc* d, uint64_t s, uint64_t e, WinOp& op) {
    return d->level == 1 ? leaf_op(c, d, s, e, op) : upper_op(c, d, s, e, op);
}

Ctx make_ctx(AddressSpace& as, Platform& p, PageTables& pt, Slab& slab, Counters& counters, Placement pl) {
    return Ctx{as, p, pt, slab, counters, pl == Placement::Hier};
}

}  // namespace

// Unmap core shared by unmap() and the fixed-map path; caller holds the busy range.
static Status unmap_busy(Ctx& c, FreeSpace& free, uint64_t s, uint64_t e) {
    NodeStash stash;
    for (int k = 0; k < 2; ++k) {
        void* n = c.slab.alloc(c.p);
        if (!n) {
            stash.release_all(c.p, c.slab);
            return Err{Errno::NoMem};
        }
        stash.push(n);
    }
    Runs runs{&free, &c.p, &stash, &c.slab};
    WinOp op{Kind::Unmap};
    op.runs = &runs;
    op.stash = &stash;
    op.done_until = s;
    bool ok = apply(c, c.pt.root(), s, e, op);
    runs.flush();
    stash.release_all(c.p, c.slab);
    if (!ok) return Err{op.err};
    return Ok{};
}

Res<Gva> ExtentsOps::map(AddressSpace& as, uint64_t s, uint64_t e, bool fixed, const ExtentAttrs& attrs_in) {
    Platform& p = *as.p_;
    Ctx c = make_ctx(as, p, as.pt_, as.small_slab_, as.counters_, as.opts_.placement);
    ExtentAttrs attrs = attrs_in;
    // A node for a rollback's release, taken before anything changes.
    void* spare = as.small_slab_.alloc(p);
    if (!spare) return Err{Errno::NoMem};
    if (fixed) {
        as.free_.busy_begin(p, s, e);
        Status st = unmap_busy(c, as.free_, s, e);  // MAP_FIXED first unmaps what is there
        if (st.ok()) st = as.free_.reserve(p, s, e);
        if (!st.ok()) {
            as.free_.busy_end(p, s, e);
            as.small_slab_.free(p, spare);
            return Err{st.error()};
        }
    } else {
        uint64_t len = e;
        // 2 MiB alignment for large maps (as Linux does for THP); with hier,
        // 1 GiB for >= 1 GiB so the mapping becomes one upper-level record.
        uint64_t align = len >= kLargePageSize ? kLargePageSize : kPageSize;
        if (c.hier && len >= kHugePageSize) align = kHugePageSize;
        Res<uint64_t> r = as.free_.alloc(p, len, align, s);
        if (!r.ok() && align != kPageSize) r = as.free_.alloc(p, len, kPageSize, s);
        if (!r.ok()) {
            as.small_slab_.free(p, spare);
            return Err{r.error()};
        }
        s = *r;
        e = s + len;
    }
    attrs.start = s;
    WinOp op{Kind::Map};
    op.attrs = attrs;
    NodeStash stash;  // nodes of replaced extents (none after the unmap above)
    op.stash = &stash;
    op.done_until = s;
    bool ok = apply(c, as.pt_.root(), s, e, op);
    if (!ok) {
        // Roll back: remove what was installed and give the whole range back.
        // Our own fragments end on window boundaries, so this needs no memory.
        WinOp undo{Kind::Unmap};
        undo.stash = &stash;
        undo.done_until = s;
        (void)apply(c, as.pt_.root(), s, op.done_until, undo);
        as.small_slab_.free(p, spare);  // release() takes it straight back
        spare = nullptr;
        (void)as.free_.release(p, s, e);
    }
    as.small_slab_.free(p, spare);
    stash.release_all(p, as.small_slab_);
    if (fixed) as.free_.busy_end(p, s, e);
    if (!ok) return Err{op.err};
    return Gva(s);
}

Status ExtentsOps::unmap(AddressSpace& as, uint64_t s, uint64_t e) {
    Platform& p = *as.p_;
    Ctx c = make_ctx(as, p, as.pt_, as.small_slab_, as.counters_, as.opts_.placement);
    as.free_.busy_begin(p, s, e);
    Status st = unmap_busy(c, as.free_, s, e);
    as.free_.busy_end(p, s, e);
    return st;
}

Status ExtentsOps::protect(AddressSpace& as, uint64_t s, uint64_t e, Prot prot) {
    Platform& p = *as.p_;
    Ctx c = make_ctx(as, p, as.pt_, as.small_slab_, as.counters_, as.opts_.placement);
    WinOp cover{Kind::Coverage};
    (void)apply(c, as.pt_.root(), s, e, cover);
    if (cover.covered != e - s) return Err{Errno::NoMem};  // part of the range is not mapped
    WinOp op{Kind::Protect};
    op.prot = prot;
    op.gen = as.next_generation();
    if (!apply(c, as.pt_.root(), s, e, op)) return Err{op.err};
    return Ok{};
}

// The upper levels when a table on the way is missing: hier records are
// pushed down into a new child here. Returns the leaf, or sets `out`.
PtDesc* ExtentsOps::fault_walk_slow(AddressSpace& as, uint64_t va, Access access, const FaultToken* reval,
                               FaultResult& out) {
    Platform& p = *as.p_;
    const FaultResult missing = reval ? fault_result(FaultKind::Retry) : fault_result(FaultKind::Segv);
    out = missing;
    PtDesc* d = as.pt_.root();
    while (d->level > 1) {
        unsigned i = slot_index(d->level, va);
        PtDesc* c = PageTables::child(d, i);
        if (!c) {
            if (as.opts_.placement != Placement::Hier || d->level > kMaxHierLevel) return nullptr;
            LockGuard g(d->ptl, p);
            c = PageTables::child(d, i);
            if (!c) {
                const Extent* x = ExtentList::find(d->extents, va);
                if (!x || (reval && x->generation != reval->extent_generation)) return nullptr;
                if (!pte::prot_allows(x->prot, access)) {
                    out = fault_result(FaultKind::Segv, SegvReason::AccessDenied);
                    return nullptr;
                }
                Ctx ctx = make_ctx(as, p, as.pt_, as.small_slab_, as.counters_, as.opts_.placement);
                c = push_down_locked(ctx, d, i);
                if (!c) {
                    out = fault_result(FaultKind::NoMem);
                    return nullptr;
                }
            }
        }
        d = c;
    }
    return d;
}

static void query_walk(PtDesc* d, uint64_t s, uint64_t e, void (*fn)(const Extent&, void*), void* ctx) {
    if (d->level == 1) {
        for (const Extent* x = d->extents; x && x->start < e; x = x->next)
            if (x->end > s) fn(*x, ctx);
        return;
    }
    const uint64_t slot = slot_bytes(d->level);
    const Extent* r = d->extents;
    for (unsigned i = slot_index(d->level, s); i < kEntries; ++i) {
        uint64_t slot_s = d->base + uint64_t(i) * slot;
        if (slot_s >= e) break;
        if (PtDesc* c = PageTables::child(d, i)) {
            query_walk(c, s > slot_s ? s : slot_s, e, fn, ctx);
            continue;
        }
        while (r && r->end <= slot_s) r = r->next;
        if (r && r->start < slot_s + slot) {
            fn(*r, ctx);  // records cover whole child-less slots: skip past it
            i = slot_index(d->level, r->end - 1);
            r = r->next;
        }
    }
}

void ExtentsOps::query(AddressSpace& as, uint64_t s, uint64_t e, void (*fn)(const Extent&, void*), void* ctx) {
    query_walk(as.pt_.root(), s, e, fn, ctx);
}

}  // namespace gmm::mm
