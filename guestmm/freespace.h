// Free virtual space: which parts of the user range no mapping covers. One
// treap of free ranges (augmented with the largest length, for first fit)
// under a short lock, optionally fronted by one cached free chunk per CPU
// (freecache=percpu) that serves the common map-then-unmap pattern without the
// shared lock. Also the writer range exclusion (busy ranges) that keeps
// overlapping unmap / fixed-map operations from interleaving their window
// updates with their free-space updates.
#pragma once

#include <stdint.h>

#include "gmm/abi/mmstate.h"
#include "lock.h"
#include "percpu.h"
#include "slab.h"
#include "types.h"

namespace gmm::mm {

class FreeSpace {
public:
    struct Node {
        Node* left;
        Node* right;
        uint64_t start;
        uint64_t end;
        uint64_t max_len;
        uint32_t prio;
    };

    bool init(Platform& p, Slab& node_slab, uint64_t user_start, uint64_t user_end, FreeCache mode);
    void destroy(Platform& p);

    // Finds and takes `size` bytes aligned to `align` at or above `hint`
    // (anywhere if nothing fits there). NoMem when no block fits.
    Res<uint64_t> alloc(Platform& p, uint64_t size, uint64_t align, uint64_t hint);
    // free := free \ [s, e). Fails (unchanged) only when out of nodes. The
    // caller holds [s, e) busy: per-CPU chunks are refilled only outside busy
    // ranges, so once reserve() has moved the overlapping chunks into the tree
    // no new chunk can take [s, e) back out of it.
    Status reserve(Platform& p, uint64_t s, uint64_t e);
    // free := free + [s, e); [s, e) must currently be allocated.
    Status release(Platform& p, uint64_t s, uint64_t e);

    // free := free + [s, e), where parts of [s, e) may already be free (the
    // global policy, which serialises everything under its mm lock).
    Status release_union(Platform& p, uint64_t s, uint64_t e);

    void busy_begin(Platform& p, uint64_t s, uint64_t e);
    void busy_end(Platform& p, uint64_t s, uint64_t e);
    unsigned busy_count() const;

    // Visits every free range (tree and per-CPU chunks) in no particular order.
    // Only when quiescent (checker, tests).
    template <typename F>
    void for_each_free(F&& f) const {
        for_each_node(root_, f);
        for (uint32_t i = 0; i < kMaxCpus; ++i) {
            const Chunk& c = chunks_.at(i);
            if (c.cur < c.end) f(c.cur, c.end);
        }
    }
    bool locks_free() const;
    // Where the checker finds this allocator's state (abi/gmm/abi/mmstate.h).
    void describe(gmm_mm_roots& out) const;
    uint64_t node_count() const {
        uint64_t n = 0;
        auto count = [&](uint64_t, uint64_t) { ++n; };
        for_each_node(root_, count);
        return n;
    }

private:
    friend struct AbiLayout;
    struct Chunk {
        TicketLock lock{LockClass::FreeCache};
        uint64_t cur = 0;  // free: [cur, end)
        uint64_t end = 0;
    };
    static constexpr unsigned kMaxBusy = 64;
    struct Busy {
        uint64_t start;
        uint64_t end;
    };
    static constexpr uint64_t kChunkBytes = 1ull << 30;

    template <typename F>
    static void for_each_node(const Node* n, F& f) {
        if (!n) return;
        for_each_node(n->left, f);
        f(n->start, n->end);
        for_each_node(n->right, f);
    }
    Node* new_node(Platform& p);
    // Tree operations; caller holds lock_ and passes a spare node (may be consumed).
    bool tree_alloc_locked(Platform& p, uint64_t size, uint64_t align, uint64_t min_addr, Node*& spare,
                           uint64_t* at);
    void tree_reserve_locked(Platform& p, uint64_t s, uint64_t e, Node*& spare);
    void tree_release_locked(Platform& p, uint64_t s, uint64_t e, Node*& spare);
    Res<uint64_t> alloc_global(Platform& p, uint64_t size, uint64_t align, uint64_t hint);
    bool drain_chunks(Platform& p);
    bool overlaps_busy(Platform& p, uint64_t s, uint64_t e);
    int move_chunk_to_tree(Platform& p, Chunk& c, uint64_t s, uint64_t e);

    Slab* slab_ = nullptr;
    uint64_t user_start_ = 0;
    uint64_t user_end_ = 0;
    FreeCache mode_ = FreeCache::None;
    TicketLock lock_{LockClass::FreeSpace};
    Node* root_ = nullptr;

    TicketLock busy_lock_{LockClass::FreeSpace};
    Busy busy_[kMaxBusy];
    unsigned nbusy_ = 0;
    uint32_t busy_seq_ = 0;  // bumped when a busy range ends (waiters sleep on it)
    uint32_t busy_waiters_ = 0;

    PerCpu<Chunk> chunks_;
};

}  // namespace gmm::mm
