#include "mm/inject.h"

#include "assert.h"
#include "frame_alloc.h"
#include "gmm/abi/mmstate.h"
#include "kernel.h"
#include "mm/safepoint.h"
#include "mm/user_space.h"
#include "sync.h"

namespace gmm::kernel {

namespace {

constexpr struct {
    const char* name;
    uint64_t id;
} kBugs[] = {
    {"none", GMM_INJECT_NONE},
    {"pte_after_unmap", GMM_INJECT_PTE_AFTER_UNMAP},
    {"pte_too_permissive", GMM_INJECT_PTE_TOO_PERMISSIVE},
    {"overlapping_extents", GMM_INJECT_OVERLAPPING_EXTENTS},
    {"extent_outside_window", GMM_INJECT_EXTENT_OUTSIDE_WINDOW},
    {"leaked_free_range", GMM_INJECT_LEAKED_FREE_RANGE},
    {"wrong_mapcount", GMM_INJECT_WRONG_MAPCOUNT},
    {"freed_frame_mapped", GMM_INJECT_FREED_FRAME_MAPPED},
    {"lock_held", GMM_INJECT_LOCK_HELD},
    {"write_to_free_frame", GMM_INJECT_WRITE_TO_FREE_FRAME},
};

// Far above anything the workloads allocate (first fit from low addresses).
constexpr uint64_t kBugGva = 0x7e0000000000ull;
constexpr uint64_t kWindow = 2ull << 20;

template <typename T>
T* ptr(uint64_t gva) {
    return reinterpret_cast<T*>(gva);
}

gmm_mm_roots roots() {
    gmm_mm_roots r{};
    mm_space().describe(r);
    return r;
}

gmm_ptdesc* leaf_for(uint64_t va) {
    auto* d = ptr<gmm_ptdesc>(roots().root_desc_gva);
    while (d && d->level > 1) d = ptr<gmm_ptdesc>(ptr<uint64_t>(d->children)[(va >> (12 + 9 * (d->level - 1))) & 511]);
    GMM_ASSERT(d != nullptr);
    return d;
}
uint64_t& pte(uint64_t va) { return ptr<uint64_t>(leaf_for(va)->table)[(va >> 12) & 511]; }

void map_fixed(uint64_t va, uint64_t len, mm::Prot prot) {
    auto r = mm_space().map(Gva(va), len, prot, mm::MapFlags::Private | mm::MapFlags::Fixed);
    GMM_ASSERT(r.ok());
}
void touch(uint64_t va, mm::Access a) { GMM_ASSERT(mm_space().fault(Gva(va), a).kind == mm::FaultKind::Installed); }

// The extent (extents policy) or VMA (global) that starts at `start`.
gmm_extent* extent_at(uint64_t start) {
    for (auto* x = ptr<gmm_extent>(leaf_for(start)->extents); x; x = ptr<gmm_extent>(x->next))
        if (x->start == start) return x;
    return nullptr;
}
gmm_vma* vma_at(uint64_t start) {
    auto* v = ptr<gmm_vma>(*ptr<uint64_t>(roots().vma_root_slot_gva));
    while (v && v->start != start) v = ptr<gmm_vma>(start < v->start ? v->left : v->right);
    return v;
}

}  // namespace

uint64_t inject_parse(const BootArgs& args) {
    const StrView* v = args.find("inject");
    if (!v) return GMM_INJECT_NONE;
    for (const auto& b : kBugs)
        if (v->equals(b.name)) return b.id;
    GMM_PANIC("unknown inject= bug");
}

void inject_plant(uint64_t which) {
    const bool extents = roots().policy == GMM_MM_POLICY_EXTENTS;
    const uint64_t x = kBugGva, page = kPageSize;
    switch (which) {
    case GMM_INJECT_PTE_AFTER_UNMAP: {
        // munmap whose zap skipped one page: the PTE (and its frame) stay.
        map_fixed(x, 2 * page, mm::Prot::Read | mm::Prot::Write);
        touch(x, mm::Access::Write);
        const uint64_t old = pte(x);
        GMM_ASSERT(mm_space().unmap(Gva(x), page).ok());
        const Gpa frame = frame_alloc_zeroed();
        frame_mapcount_add(frame, 1);
        pte(x) = (old & ~0x000ffffffffff000ull) | frame.value();
        ++leaf_for(x)->used;
        break;
    }
    case GMM_INJECT_PTE_TOO_PERMISSIVE:
        map_fixed(x, page, mm::Prot::Read);
        touch(x, mm::Access::Read);
        pte(x) |= 2;  // writable in a read-only mapping
        break;
    case GMM_INJECT_OVERLAPPING_EXTENTS:
        map_fixed(x, 2 * page, mm::Prot::Read);
        map_fixed(x + 2 * page, 2 * page, mm::Prot::Read | mm::Prot::Write);
        if (extents) extent_at(x)->end += page;
        else vma_at(x)->end += page;
        break;
    case GMM_INJECT_EXTENT_OUTSIDE_WINDOW: {
        // One mapping across a window boundary; the left fragment swallows the right one.
        GMM_ASSERT(extents && "extent_outside_window needs --mm extents");
        map_fixed(x + kWindow - page, 2 * page, mm::Prot::Read);
        gmm_extent* left = extent_at(x + kWindow - page);
        gmm_ptdesc* right_leaf = leaf_for(x + kWindow);
        gmm_extent* right = extent_at(x + kWindow);
        GMM_ASSERT(left && right && right_leaf->extents == reinterpret_cast<uint64_t>(right));
        right_leaf->extents = right->next;
        left->end = right->end;
        break;
    }
    case GMM_INJECT_LEAKED_FREE_RANGE: {
        // A free range longer than a page (the root may be a one-page guard
        // gap: which node is the root depends on node addresses, i.e. on the
        // kernel's RAM layout); max_len says which subtree has one.
        auto* n = ptr<gmm_free_node>(*ptr<uint64_t>(roots().free_root_slot_gva));
        while (n && n->end - n->start <= page) {
            auto* l = ptr<gmm_free_node>(n->left);
            n = l && l->max_len > page ? l : ptr<gmm_free_node>(n->right);
        }
        GMM_ASSERT(n && n->end - n->start > page);
        n->end -= page;  // neither mapped nor free any more
        break;
    }
    case GMM_INJECT_WRONG_MAPCOUNT:
        map_fixed(x, page, mm::Prot::Read | mm::Prot::Write);
        touch(x, mm::Access::Write);
        frame_mapcount_add(Gpa(pte(x) & 0x000ffffffffff000ull), 1);
        break;
    case GMM_INJECT_FREED_FRAME_MAPPED:
        map_fixed(x, page, mm::Prot::Read | mm::Prot::Write);
        touch(x, mm::Access::Write);
        frame_free(Gpa(pte(x) & 0x000ffffffffff000ull));  // the PTE still maps it
        break;
    case GMM_INJECT_LOCK_HELD: {
        map_fixed(x, page, mm::Prot::Read);
        touch(x, mm::Access::Read);
        gmm_ptdesc* d = leaf_for(x);
        d->ptl.word += 1u << 16;  // acquired, never released
        d->ptl.last_cpu = 0;
        break;
    }
    default:
        break;
    }
}

uint64_t inject_setup(const BootArgs& args) {
    const uint64_t which = inject_parse(args);
    inject_plant(which);
    mm_roots_set_inject(which);
    return which;
}

void inject_plant_late(uint64_t which) {
    if (which != GMM_INJECT_WRITE_TO_FREE_FRAME) return;
    // A frame freed, then written after a check saw it free: what a write
    // through a stale TLB entry does (this host's shadow MMU drops stale
    // translations itself, so the write goes through the direct map).
    const Gpa frame = frame_alloc_zeroed();
    frame_free(frame);
    const uint32_t seen = __atomic_load_n(&g_safepoint.checks_done, __ATOMIC_ACQUIRE);
    wait_until([seen] { return __atomic_load_n(&g_safepoint.checks_done, __ATOMIC_ACQUIRE) != seen; });
    *direct_map<volatile uint64_t>(frame) = 0x5747a1eull;
}

}  // namespace gmm::kernel
