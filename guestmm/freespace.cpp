#include "freespace.h"

#include "treap.h"

namespace gmm::mm {

using treap::insert;
using treap::merge;
using treap::pop_max;
using treap::pop_min;
using treap::split;

FreeSpace::Node* FreeSpace::new_node(Platform& p) { return static_cast<Node*>(slab_->alloc(p)); }

bool FreeSpace::init(Platform& p, Slab& node_slab, uint64_t user_start, uint64_t user_end, FreeCache mode) {
    slab_ = &node_slab;
    user_start_ = user_start;
    user_end_ = user_end;
    mode_ = mode;
    Node* n = new_node(p);
    if (!n) return false;
    n->start = user_start;
    n->end = user_end;
    root_ = insert(root_, n);
    return true;
}

void FreeSpace::destroy(Platform& p) {
    treap::destroy(root_, [&](Node* n) { slab_->free(p, n); });
    root_ = nullptr;
}

bool FreeSpace::tree_alloc_locked(Platform& p, uint64_t size, uint64_t align, uint64_t min_addr, Node*& spare,
                                  uint64_t* at) {
    uint64_t a = 0;
    Node* n = treap::first_fit(root_, size, align, min_addr, &a);
    if (!n) return false;
    Node *l, *r;
    split(root_, n->start, l, r);
    Node* m = pop_min(r);  // == n
    root_ = merge(l, r);
    uint64_t ns = m->start, ne = m->end;
    Node* reuse = m;
    if (a > ns) {
        reuse->start = ns;
        reuse->end = a;
        root_ = insert(root_, reuse);
        reuse = nullptr;
    }
    if (a + size < ne) {
        if (!reuse) {
            reuse = spare;
            spare = nullptr;
        }
        reuse->start = a + size;
        reuse->end = ne;
        root_ = insert(root_, reuse);
        reuse = nullptr;
    }
    if (reuse) slab_->free(p, reuse);
    *at = a;
    return true;
}

void FreeSpace::tree_reserve_locked(Platform& p, uint64_t s, uint64_t e, Node*& spare) {
    Node *l, *r, *m, *r2;
    split(root_, s, l, r);
    split(r, e, m, r2);
    if (Node* lm = pop_max(l)) {
        if (lm->end > s) {
            uint64_t old_end = lm->end;
            lm->end = s;
            if (old_end > e) {  // [s, e) punched out of the middle of one free range
                Node* n = spare;
                spare = nullptr;
                n->start = e;
                n->end = old_end;
                r2 = insert(r2, n);
            }
        }
        if (lm->end > lm->start) l = insert(l, lm);
        else slab_->free(p, lm);
    }
    while (Node* x = pop_min(m)) {
        if (x->end > e) {
            x->start = e;
            r2 = insert(r2, x);
        } else {
            slab_->free(p, x);
        }
    }
    root_ = merge(l, r2);
}

void FreeSpace::tree_release_locked(Platform& p, uint64_t s, uint64_t e, Node*& spare) {
    Node *l, *r;
    split(root_, s, l, r);
    Node* node = nullptr;
    if (Node* lm = pop_max(l)) {
        if (lm->end == s) {
            s = lm->start;
            node = lm;
        } else {
            l = insert(l, lm);
        }
    }
    if (Node* rm = pop_min(r)) {
        if (rm->start == e) {
            e = rm->end;
            if (node) slab_->free(p, rm);
            else node = rm;
        } else {
            r = insert(r, rm);
        }
    }
    if (!node) {
        node = spare;
        spare = nullptr;
    }
    node->start = s;
    node->end = e;
    root_ = insert(merge(l, r), node);
}

Res<uint64_t> FreeSpace::alloc_global(Platform& p, uint64_t size, uint64_t align, uint64_t hint) {
    Node* spare = new_node(p);
    if (!spare) return Err{Errno::NoMem};
    uint64_t at = 0;
    bool ok;
    {
        LockGuard g(lock_, p);
        uint64_t min_addr = hint > user_start_ ? hint : user_start_;
        ok = tree_alloc_locked(p, size, align, min_addr, spare, &at);
        if (!ok && min_addr != user_start_) ok = tree_alloc_locked(p, size, align, user_start_, spare, &at);
    }
    slab_->free(p, spare);
    if (!ok) return Err{Errno::NoMem};
    return at;
}

bool FreeSpace::drain_chunks(Platform& p) {
    bool any = false;
    for (uint32_t i = 0; i < kMaxCpus; ++i)
        if (move_chunk_to_tree(p, chunks_.at(i), 0, ~0ull) == 1) any = true;
    return any;
}

// Returns 1 if the chunk overlapped [s, e) and went back to the tree, 0 if it
// did not overlap, -1 when out of nodes.
int FreeSpace::move_chunk_to_tree(Platform& p, Chunk& c, uint64_t s, uint64_t e) {
    LockGuard cg(c.lock, p);
    if (!(c.cur < c.end && c.cur < e && s < c.end)) return 0;
    Node* spare = new_node(p);
    if (!spare) return -1;
    {
        LockGuard g(lock_, p);
        tree_release_locked(p, c.cur, c.end, spare);
    }
    c.cur = c.end = 0;
    slab_->free(p, spare);
    return 1;
}

Res<uint64_t> FreeSpace::alloc(Platform& p, uint64_t size, uint64_t align, uint64_t hint) {
    if (mode_ == FreeCache::PerCpu && hint == 0) {
        Chunk& c = chunks_.at(p.cpu_id());
        Node* spares[3] = {nullptr, nullptr, nullptr};
        bool ok = false;
        uint64_t at = 0;
        {
            LockGuard cg(c.lock, p);
            if ((c.cur & (align - 1)) == 0 && c.end - c.cur >= size) {
                at = c.cur;
                c.cur += size;
                return at;
            }
            for (Node*& n : spares) n = new_node(p);
            if (spares[0] && spares[1] && spares[2]) {
                LockGuard g(lock_, p);
                // Give back the rest of the old chunk, then carve a fresh one.
                if (c.cur < c.end) tree_release_locked(p, c.cur, c.end, spares[0]);
                c.cur = c.end = 0;
                uint64_t want = size > kChunkBytes ? size : kChunkBytes;
                uint64_t chunk_align = align > kLargePageSize ? align : kLargePageSize;
                Node*& spare = spares[0] ? spares[0] : spares[1];
                if (tree_alloc_locked(p, want, chunk_align, user_start_, spare, &at)) {
                    if (overlaps_busy(p, at, at + want)) {
                        // A fixed map is taking part of it: its reserve() may
                        // already have scanned the chunks, so this one must not
                        // hold that space. Put it back; allocate from the tree.
                        Node*& back = spares[1] ? spares[1] : spares[2];
                        tree_release_locked(p, at, at + want, back);
                    } else {
                        c.cur = at + size;
                        c.end = at + want;
                        ok = true;
                    }
                }
            }
        }
        for (Node* n : spares) slab_->free(p, n);
        if (ok) return at;
    }
    Res<uint64_t> r = alloc_global(p, size, align, hint);
    if (!r.ok() && mode_ == FreeCache::PerCpu && drain_chunks(p)) r = alloc_global(p, size, align, hint);
    return r;
}

Status FreeSpace::reserve(Platform& p, uint64_t s, uint64_t e) {
    if (mode_ == FreeCache::PerCpu) {
        // Chunks overlapping the range go back to the tree first.
        for (uint32_t i = 0; i < kMaxCpus; ++i)
            if (move_chunk_to_tree(p, chunks_.at(i), s, e) < 0) return Err{Errno::NoMem};
    }
    Node* spare = new_node(p);
    if (!spare) return Err{Errno::NoMem};
    {
        LockGuard g(lock_, p);
        tree_reserve_locked(p, s, e, spare);
    }
    slab_->free(p, spare);
    return Ok{};
}

Status FreeSpace::release(Platform& p, uint64_t s, uint64_t e) {
    if (mode_ == FreeCache::PerCpu) {
        Chunk& c = chunks_.at(p.cpu_id());
        LockGuard cg(c.lock, p);
        if (c.cur == e && c.cur < c.end) {  // the most recent allocation comes back
            c.cur = s;
            return Ok{};
        }
        if (c.cur == c.end) {
            c.cur = s;
            c.end = e;
            return Ok{};
        }
    }
    Node* spare = new_node(p);
    if (!spare) return Err{Errno::NoMem};
    {
        LockGuard g(lock_, p);
        tree_release_locked(p, s, e, spare);
    }
    slab_->free(p, spare);
    return Ok{};
}

Status FreeSpace::release_union(Platform& p, uint64_t s, uint64_t e) {
    Node* spare = new_node(p);
    if (!spare) return Err{Errno::NoMem};
    {
        LockGuard g(lock_, p);
        Node *l, *r, *m, *r2;
        split(root_, s, l, r);
        Node* node = nullptr;
        if (Node* lm = pop_max(l)) {
            if (lm->end >= s) {
                s = lm->start;
                if (lm->end > e) e = lm->end;
                node = lm;
            } else {
                l = insert(l, lm);
            }
        }
        split(r, e + 1, m, r2);  // everything starting at or before e joins
        while (Node* x = pop_min(m)) {
            if (x->end > e) e = x->end;
            if (node) slab_->free(p, x);
            else node = x;
        }
        if (!node) {
            node = spare;
            spare = nullptr;
        }
        node->start = s;
        node->end = e;
        root_ = insert(merge(l, r2), node);
    }
    slab_->free(p, spare);
    return Ok{};
}

void FreeSpace::busy_begin(Platform& p, uint64_t s, uint64_t e) {
    for (;;) {
        uint32_t seen;
        {
            LockGuard g(busy_lock_, p);
            bool overlap = nbusy_ == kMaxBusy;
            for (unsigned i = 0; i < nbusy_ && !overlap; ++i)
                overlap = busy_[i].start < e && s < busy_[i].end;
            if (!overlap) {
                busy_[nbusy_++] = Busy{s, e};
                return;
            }
            seen = __atomic_load_n(&busy_seq_, __ATOMIC_RELAXED);
        }
        rmw_fetch_add(&busy_waiters_, 1, __ATOMIC_SEQ_CST);
        p.wait_on(&busy_seq_, seen);
        rmw_fetch_sub(&busy_waiters_, 1, __ATOMIC_RELAXED);
    }
}

void FreeSpace::busy_end(Platform& p, uint64_t s, uint64_t e) {
    {
        LockGuard g(busy_lock_, p);
        for (unsigned i = 0; i < nbusy_; ++i) {
            if (busy_[i].start == s && busy_[i].end == e) {
                busy_[i] = busy_[--nbusy_];
                break;
            }
        }
        rmw_fetch_add(&busy_seq_, 1, __ATOMIC_SEQ_CST);
    }
    if (__atomic_load_n(&busy_waiters_, __ATOMIC_SEQ_CST) != 0) p.wake_all(&busy_seq_);
}

bool FreeSpace::overlaps_busy(Platform& p, uint64_t s, uint64_t e) {
    LockGuard g(busy_lock_, p);
    for (unsigned i = 0; i < nbusy_; ++i)
        if (busy_[i].start < e && s < busy_[i].end) return true;
    return false;
}

unsigned FreeSpace::busy_count() const { return nbusy_; }

bool FreeSpace::locks_free() const {
    if (lock_.is_locked() || busy_lock_.is_locked()) return false;
    for (uint32_t i = 0; i < kMaxCpus; ++i)
        if (chunks_.at(i).lock.is_locked()) return false;
    return true;
}

}  // namespace gmm::mm
