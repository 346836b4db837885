// Extents: the attributes of one mapped range. Used as window fragments in
// page-table descriptors (extents policy). A list is sorted, non-overlapping
// and only touched under the owning descriptor's PTL.
#pragma once

#include <stdint.h>

#include "backing.h"
#include "slab.h"
#include "types.h"

namespace gmm::mm {

struct Extent {
    Extent* next;
    uint64_t start;
    uint64_t end;  // exclusive
    BackingObject* object;  // null: anonymous
    uint64_t page_index;    // object page at `start`
    uint64_t generation;    // identity for sleeping-fault revalidation (never reused)
    Prot prot;
    bool shared;
};
static_assert(sizeof(Extent) <= 64);

// Attributes of a new mapping; `page_index` applies at `start`.
struct ExtentAttrs {
    uint64_t start;
    BackingObject* object;
    uint64_t page_index;
    uint64_t generation;
    Prot prot;
    bool shared;
};

// Whether b continues a seamlessly (same attributes, contiguous object pages).
bool extents_mergeable(const Extent& a, const Extent& b);

class ExtentList {
public:
    static Extent* find(Extent* head, uint64_t addr) {  // inline: on every fault
        for (Extent* x = head; x && x->start <= addr; x = x->next)
            if (addr < x->end) return x;
        return nullptr;
    }
    // Inserts [s, e) with `attrs` (range must be free in the list). Takes an
    // object reference. Fails only when out of nodes.
    static bool insert(Extent*& head, Platform& p, Slab& slab, uint64_t s, uint64_t e, const ExtentAttrs& attrs);
    // Inserts with a node the caller already holds (cannot fail).
    static void insert_node(Extent*& head, Extent* n, uint64_t s, uint64_t e, const ExtentAttrs& attrs);
    // Removes [s, e), splitting fragments that straddle it. Returns false (and
    // changes nothing) when a split needs a node it cannot get. Each removed
    // piece is reported to on_piece (ascending); freed nodes go to `stash` if
    // given. *removed counts bytes removed.
    struct PieceSink {
        void (*on_piece)(void* ctx, uint64_t s, uint64_t e);
        void* ctx;
        NodeStash* stash;
    };
    static bool remove(Extent*& head, Platform& p, Slab& slab, uint64_t s, uint64_t e, uint64_t* removed,
                       const PieceSink* sink = nullptr);
    // Sets prot on [s, e) (splitting, then merging equal neighbours). Returns
    // false (unchanged) when out of nodes. *downgraded reports whether some
    // page lost a permission (PTEs then need a TLB flush).
    static bool protect(Extent*& head, Platform& p, Slab& slab, uint64_t s, uint64_t e, Prot prot,
                        uint64_t generation, bool* changed);
    // Moves the part of `head` in [s, e) into `*out` (a new list), keeping
    // generations: used when a hier record is pushed down into a child table.
    static bool carve_out(Extent*& head, Platform& p, Slab& slab, uint64_t s, uint64_t e, Extent*& out);
    static void free_all(Extent*& head, Platform& p, Slab& slab);
};

}  // namespace gmm::mm
