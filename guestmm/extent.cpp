#include "extent.h"

#include "gmm/addr.h"

namespace gmm::mm {

namespace {
uint64_t pages(uint64_t bytes) { return bytes >> kPageShift; }

// Moves the start of x to `at` (keeping object offsets consistent).
void advance_start(Extent* x, uint64_t at) {
    if (x->object) x->page_index += pages(at - x->start);
    x->start = at;
}

// Splits x at `at` (x->start < at < x->end) using `n` for the upper part.
void split_into(Extent* x, Extent* n, uint64_t at) {
    *n = *x;
    advance_start(n, at);
    object_get(n->object);
    x->end = at;
    x->next = n;
}

void release(Extent* x, Platform& p, Slab& slab) {
    object_put(x->object);
    slab.free(p, x);
}
}  // namespace

bool extents_mergeable(const Extent& a, const Extent& b) {
    if (a.end != b.start || a.prot != b.prot || a.shared != b.shared || a.object != b.object) return false;
    return !a.object || a.page_index + pages(a.end - a.start) == b.page_index;
}


bool ExtentList::insert(Extent*& head, Platform& p, Slab& slab, uint64_t s, uint64_t e, const ExtentAttrs& a) {
    auto* n = static_cast<Extent*>(slab.alloc(p));
    if (!n) return false;
    insert_node(head, n, s, e, a);
    return true;
}

void ExtentList::insert_node(Extent*& head, Extent* n, uint64_t s, uint64_t e, const ExtentAttrs& a) {
    n->start = s;
    n->end = e;
    n->object = a.object;
    n->page_index = a.object ? a.page_index + pages(s - a.start) : 0;
    n->generation = a.generation;
    n->prot = a.prot;
    n->shared = a.shared;
    object_get(n->object);
    Extent** pp = &head;
    while (*pp && (*pp)->start < s) pp = &(*pp)->next;
    n->next = *pp;
    *pp = n;
}

bool ExtentList::remove(Extent*& head, Platform& p, Slab& slab, uint64_t s, uint64_t e, uint64_t* removed,
                        const PieceSink* sink) {
    auto piece = [&](uint64_t ps, uint64_t pe) {
        *removed += pe - ps;
        if (sink && sink->on_piece) sink->on_piece(sink->ctx, ps, pe);
    };
    *removed = 0;
    Extent* spare = nullptr;
    for (Extent* x = head; x && x->start < e; x = x->next) {
        if (x->start < s && x->end > e) {
            spare = static_cast<Extent*>(slab.alloc(p));
            if (!spare) return false;
            break;
        }
    }
    Extent** pp = &head;
    while (*pp && (*pp)->start < e) {
        Extent* x = *pp;
        if (x->end <= s) {
            pp = &x->next;
        } else if (x->start < s && x->end > e) {  // punch a hole
            split_into(x, spare, e);
            spare = nullptr;
            x->end = s;
            piece(s, e);
            break;
        } else if (x->start < s) {
            piece(s, x->end);
            x->end = s;
            pp = &x->next;
        } else if (x->end > e) {
            piece(x->start, e);
            advance_start(x, e);
            break;
        } else {
            piece(x->start, x->end);
            *pp = x->next;
            if (sink && sink->stash) {
                object_put(x->object);
                sink->stash->push(x);
            } else {
                release(x, p, slab);
            }
        }
    }
    slab.free(p, spare);
    return true;
}

bool ExtentList::protect(Extent*& head, Platform& p, Slab& slab, uint64_t s, uint64_t e, Prot prot,
                         uint64_t generation, bool* changed) {
    *changed = false;
    // At most two splits: at s and at e, only where the protection changes.
    Extent* spare[2] = {nullptr, nullptr};
    int need = 0;
    for (Extent* x = head; x && x->start < e; x = x->next) {
        if (x->end <= s || x->prot == prot) continue;
        if (x->start < s) ++need;
        if (x->end > e) ++need;
    }
    for (int i = 0; i < need; ++i) {
        spare[i] = static_cast<Extent*>(slab.alloc(p));
        if (!spare[i]) {
            slab.free(p, spare[0]);
            return false;
        }
    }
    int used = 0;
    Extent* before = nullptr;  // last fragment ending at or before s, for merging
    for (Extent* x = head; x && x->start < e; x = x->next) {
        if (x->end <= s) {
            before = x;
            continue;
        }
        if (x->prot == prot) continue;
        if (x->start < s) {
            split_into(x, spare[used++], s);
            before = x;
            continue;  // the upper part is visited next
        }
        if (x->end > e) split_into(x, spare[used++], e);
        x->prot = prot;
        x->generation = generation;
        *changed = true;
    }
    if (!*changed) return true;
    // Merge equal neighbours from the fragment before s up to the one after e.
    Extent* x = before ? before : head;
    while (x && x->next && x->start <= e) {
        Extent* n = x->next;
        if (extents_mergeable(*x, *n)) {
            x->end = n->end;
            x->next = n->next;
            x->generation = generation;
            release(n, p, slab);
        } else {
            x = n;
        }
    }
    return true;
}

bool ExtentList::carve_out(Extent*& head, Platform& p, Slab& slab, uint64_t s, uint64_t e, Extent*& out) {
    Extent* built = nullptr;
    Extent** tail = &built;
    for (Extent* x = head; x && x->start < e; x = x->next) {
        if (x->end <= s) continue;
        auto* n = static_cast<Extent*>(slab.alloc(p));
        if (!n) {
            free_all(built, p, slab);
            return false;
        }
        *n = *x;
        n->next = nullptr;
        if (n->start < s) advance_start(n, s);
        if (n->end > e) n->end = e;
        object_get(n->object);
        *tail = n;
        tail = &n->next;
    }
    uint64_t removed = 0;
    if (!remove(head, p, slab, s, e, &removed)) {
        free_all(built, p, slab);
        return false;
    }
    out = built;
    return true;
}

void ExtentList::free_all(Extent*& head, Platform& p, Slab& slab) {
    while (head) {
        Extent* x = head;
        head = x->next;
        release(x, p, slab);
    }
}

}  // namespace gmm::mm
