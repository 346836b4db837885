// Where the host-side checker finds the memory manager's state: describe()
// fills struct gmm_mm_roots, and the static_asserts pin guestmm's types to
// their mirrors in abi/gmm/abi/mmstate.h (a layout change that forgets the
// header does not compile). The global policy's Vma is pinned beside its
// definition in policy_global.cpp.
#include <stddef.h>

#include "gmm/abi/mmstate.h"
#include "internal.h"

namespace gmm::mm {

namespace {
uint64_t gva_of(const void* p) { return reinterpret_cast<uint64_t>(p); }
}  // namespace

struct AbiLayout {
    static_assert(sizeof(TicketLock) == sizeof(gmm_ticket_lock));
    static_assert(offsetof(TicketLock, word_) == offsetof(gmm_ticket_lock, word));
    static_assert(offsetof(TicketLock, waiters_) == offsetof(gmm_ticket_lock, waiters));
    static_assert(offsetof(TicketLock, cls_) == offsetof(gmm_ticket_lock, lock_class));
    static_assert(offsetof(TicketLock, last_cpu_) == offsetof(gmm_ticket_lock, last_cpu));

    static_assert(sizeof(RwLock) == sizeof(gmm_rw_lock));
    static_assert(offsetof(RwLock, gate_) == offsetof(gmm_rw_lock, gate));
    static_assert(offsetof(RwLock, readers_) == offsetof(gmm_rw_lock, readers));
    static_assert(offsetof(RwLock, writer_waiting_) == offsetof(gmm_rw_lock, writer_waiting));

    static_assert(sizeof(PtDesc) == sizeof(gmm_ptdesc));
    static_assert(offsetof(PtDesc, ptl) == offsetof(gmm_ptdesc, ptl));
    static_assert(offsetof(PtDesc, level) == offsetof(gmm_ptdesc, level));
    static_assert(offsetof(PtDesc, used) == offsetof(gmm_ptdesc, used));
    static_assert(offsetof(PtDesc, base) == offsetof(gmm_ptdesc, base));
    static_assert(offsetof(PtDesc, table_phys) == offsetof(gmm_ptdesc, table_phys));
    static_assert(offsetof(PtDesc, table) == offsetof(gmm_ptdesc, table));
    static_assert(offsetof(PtDesc, children) == offsetof(gmm_ptdesc, children));
    static_assert(offsetof(PtDesc, children_phys) == offsetof(gmm_ptdesc, children_phys));
    static_assert(offsetof(PtDesc, extents) == offsetof(gmm_ptdesc, extents));
    static_assert(offsetof(PtDesc, generation) == offsetof(gmm_ptdesc, generation));

    static_assert(sizeof(Extent) == sizeof(gmm_extent));
    static_assert(offsetof(Extent, next) == offsetof(gmm_extent, next));
    static_assert(offsetof(Extent, start) == offsetof(gmm_extent, start));
    static_assert(offsetof(Extent, end) == offsetof(gmm_extent, end));
    static_assert(offsetof(Extent, object) == offsetof(gmm_extent, object));
    static_assert(offsetof(Extent, page_index) == offsetof(gmm_extent, page_index));
    static_assert(offsetof(Extent, generation) == offsetof(gmm_extent, generation));
    static_assert(offsetof(Extent, prot) == offsetof(gmm_extent, prot));
    static_assert(offsetof(Extent, shared) == offsetof(gmm_extent, shared));

    static_assert(sizeof(FreeSpace::Node) == sizeof(gmm_free_node));
    static_assert(offsetof(FreeSpace::Node, left) == offsetof(gmm_free_node, left));
    static_assert(offsetof(FreeSpace::Node, right) == offsetof(gmm_free_node, right));
    static_assert(offsetof(FreeSpace::Node, start) == offsetof(gmm_free_node, start));
    static_assert(offsetof(FreeSpace::Node, end) == offsetof(gmm_free_node, end));

    static_assert(offsetof(FreeSpace::Chunk, lock) == offsetof(gmm_free_chunk, lock));
    static_assert(offsetof(FreeSpace::Chunk, cur) == offsetof(gmm_free_chunk, cur));
    static_assert(offsetof(FreeSpace::Chunk, end) == offsetof(gmm_free_chunk, end));
    static_assert(sizeof(CacheLinePadded<FreeSpace::Chunk>) == kCacheLine);

    static void describe_free(const FreeSpace& f, gmm_mm_roots& out) {
        out.free_root_slot_gva = gva_of(&f.root_);
        out.free_lock_gva = gva_of(&f.lock_);
        out.busy_lock_gva = gva_of(&f.busy_lock_);
        out.busy_count_gva = gva_of(&f.nbusy_);
        out.chunks_gva = gva_of(&f.chunks_.at(0));
        out.chunk_stride_bytes = kCacheLine;
        out.chunk_count = kMaxCpus;
    }
};
static_assert(sizeof(unsigned) == 4, "busy_count is read as a u32");

void FreeSpace::describe(gmm_mm_roots& out) const { AbiLayout::describe_free(*this, out); }

void AddressSpace::describe(gmm_mm_roots& out) const {
    out.policy = opts_.policy == Policy::Global ? GMM_MM_POLICY_GLOBAL : GMM_MM_POLICY_EXTENTS;
    out.placement = opts_.placement == Placement::Hier ? GMM_MM_PLACEMENT_HIER : GMM_MM_PLACEMENT_LEAF;
    out.freecache = opts_.free_cache == FreeCache::PerCpu ? GMM_MM_FREECACHE_PERCPU : GMM_MM_FREECACHE_NONE;
    out.user_start = user_start_;
    out.user_end = user_end_;
    out.root_desc_gva = gva_of(pt_.root());
    out.mm_lock_gva = gva_of(&mm_lock_);
    out.vma_root_slot_gva = gva_of(&vmas_);
    free_.describe(out);
    out.slab_lock_gva[0] = gva_of(small_slab_.pool_lock_address());
    out.slab_lock_gva[1] = gva_of(large_slab_.pool_lock_address());
}

}  // namespace gmm::mm
