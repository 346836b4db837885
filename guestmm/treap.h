// An intrusive treap of non-overlapping [start, end) ranges keyed by start,
// augmented with the largest range length in each subtree (first-fit search
// over free space; gap tracking for the VMA tree). Balanced in expectation;
// priorities come from a hash of the node's address, so runs are repeatable.
//
// Node requirements: Node* left, right; uint64_t start, end, max_len; uint32_t prio.
#pragma once

#include <stdint.h>

namespace gmm::mm::treap {

inline uint32_t priority_for(const void* p) {
    uint64_t x = reinterpret_cast<uintptr_t>(p);
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return uint32_t(x);
}

template <typename N>
inline void update(N* n) {
    uint64_t m = n->end - n->start;
    if (n->left && n->left->max_len > m) m = n->left->max_len;
    if (n->right && n->right->max_len > m) m = n->right->max_len;
    n->max_len = m;
}

// Splits t into nodes with start < key (l) and start >= key (r).
template <typename N>
void split(N* t, uint64_t key, N*& l, N*& r) {
    if (!t) {
        l = r = nullptr;
        return;
    }
    if (t->start < key) {
        split(t->right, key, t->right, r);
        l = t;
    } else {
        split(t->left, key, l, t->left);
        r = t;
    }
    update(t);
}

// Joins l and r, every key of l below every key of r.
template <typename N>
N* merge(N* l, N* r) {
    if (!l) return r;
    if (!r) return l;
    if (l->prio > r->prio) {
        l->right = merge(l->right, r);
        update(l);
        return l;
    }
    r->left = merge(l, r->left);
    update(r);
    return r;
}

template <typename N>
N* insert(N* root, N* n) {
    n->left = n->right = nullptr;
    n->prio = priority_for(n);
    update(n);
    N *l, *r;
    split(root, n->start, l, r);
    return merge(merge(l, n), r);
}

// Removes and returns the node with the largest start (nullptr if empty).
template <typename N>
N* pop_max(N*& t) {
    if (!t) return nullptr;
    if (!t->right) {
        N* n = t;
        t = t->left;
        return n;
    }
    N* n = pop_max(t->right);
    update(t);
    return n;
}

template <typename N>
N* pop_min(N*& t) {
    if (!t) return nullptr;
    if (!t->left) {
        N* n = t;
        t = t->right;
        return n;
    }
    N* n = pop_min(t->left);
    update(t);
    return n;
}

// The node containing addr, or nullptr.
template <typename N>
N* find(N* t, uint64_t addr) {
    while (t) {
        if (addr < t->start) t = t->left;
        else if (addr >= t->end) t = t->right;
        else return t;
    }
    return nullptr;
}

// The first node with end > addr (ranges are disjoint, so ends are sorted too).
template <typename N>
N* lower_bound_end(N* t, uint64_t addr) {
    N* best = nullptr;
    while (t) {
        if (t->end > addr) {
            best = t;
            t = t->left;
        } else {
            t = t->right;
        }
    }
    return best;
}

// Lowest node in which an `align`-aligned block of `size` fits at or above
// `min_addr`; *at receives the block's start.
template <typename N>
N* first_fit(N* t, uint64_t size, uint64_t align, uint64_t min_addr, uint64_t* at) {
    if (!t || t->max_len < size) return nullptr;
    if (t->left && t->start > min_addr) {
        if (N* n = first_fit(t->left, size, align, min_addr, at)) return n;
    }
    uint64_t s = t->start > min_addr ? t->start : min_addr;
    uint64_t a = (s + align - 1) & ~(align - 1);
    if (a >= s && a < t->end && t->end - a >= size) {
        *at = a;
        return t;
    }
    return first_fit(t->right, size, align, min_addr, at);
}

template <typename N, typename F>
void for_each(N* t, F&& f) {
    if (!t) return;
    for_each(t->left, f);
    f(t);
    for_each(t->right, f);
}

// Post-order visit (safe for freeing nodes).
template <typename N, typename F>
void destroy(N* t, F&& f) {
    if (!t) return;
    destroy(t->left, f);
    destroy(t->right, f);
    f(t);
}

}  // namespace gmm::mm::treap
