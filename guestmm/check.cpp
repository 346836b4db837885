// The consistency checker: verifies invariants I1-I5 (docs/guestmm.md) on a
// quiescent address space, for either policy. Tests run it after every step.
#include "internal.h"
#include "pte.h"

namespace gmm::mm {

const char* invariant_name(Invariant i) {
    switch (i) {
    case Invariant::None: return "none";
    case Invariant::I1_PteInsideExtent: return "I1 pte-inside-extent";
    case Invariant::I2_ExtentsWellFormed: return "I2 extents-well-formed";
    case Invariant::I3_Partition: return "I3 partition";
    case Invariant::I4_TableStructure: return "I4 table-structure";
    case Invariant::I5_QuiescentAccounting: return "I5 quiescent-accounting";
    }
    return "?";
}

namespace {
void put_str(char* buf, size_t cap, size_t& at, const char* s) {
    while (*s && at + 1 < cap) buf[at++] = *s++;
}
void put_hex(char* buf, size_t cap, size_t& at, uint64_t v) {
    put_str(buf, cap, at, "0x");
    bool started = false;
    for (int sh = 60; sh >= 0; sh -= 4) {
        unsigned d = unsigned(v >> sh) & 15u;
        if (!d && !started && sh) continue;
        started = true;
        if (at + 1 < cap) buf[at++] = char(d < 10 ? '0' + d : 'a' + d - 10);
    }
}
}  // namespace

void report(CheckReport& r, Invariant which, const char* what, uint64_t a, uint64_t b) {
    if (!r.ok()) return;  // keep the first violation
    r.broken = which;
    size_t at = 0, cap = sizeof(r.message);
    put_str(r.message, cap, at, what);
    put_str(r.message, cap, at, " (");
    put_hex(r.message, cap, at, a);
    put_str(r.message, cap, at, ", ");
    put_hex(r.message, cap, at, b);
    put_str(r.message, cap, at, ")");
    r.message[at] = '\0';
}

struct Checker {
    AddressSpace& as;
    CheckReport& r;
    uint64_t tables = 0;
    uint64_t table_frames = 0;
    uint64_t owned_frames = 0;
    uint64_t extents = 0;

    bool hier() const { return as.opts_.policy == Policy::Extents && as.opts_.placement == Placement::Hier; }

    void check_list(const PtDesc* d) {
        uint64_t wb = d->base, we = d->base + window_bytes(d->level);
        uint64_t prev = wb;
        for (const Extent* x = d->extents; x; x = x->next) {
            ++extents;
            if (as.opts_.policy == Policy::Global)
                return report(r, Invariant::I2_ExtentsWellFormed, "extent in a global-policy table", d->base, x->start);
            if (x->start < prev || x->start >= x->end || x->end > we || ((x->start | x->end) & (kPageSize - 1)))
                return report(r, Invariant::I2_ExtentsWellFormed, "extent overlaps, is empty or leaves its window",
                              x->start, x->end);
            if ((uint32_t(x->prot) & ~kProtKnownBits) || x->generation == 0)
                return report(r, Invariant::I2_ExtentsWellFormed, "extent has bad prot or generation", x->start,
                              uint64_t(x->prot));
            if (d->level > 1) {
                uint64_t slot = slot_bytes(d->level);
                if (!hier() || d->level > 3 || ((x->start | x->end) & (slot - 1)))
                    return report(r, Invariant::I2_ExtentsWellFormed, "upper-level record not allowed or unaligned",
                                  x->start, x->end);
                for (uint64_t a = x->start; a < x->end; a += slot)
                    if (d->children[slot_index(d->level, a)])
                        return report(r, Invariant::I2_ExtentsWellFormed, "record covers a slot with a child", x->start,
                                      a);
            }
            prev = x->end;
        }
    }

    bool mapping_at(const PtDesc* d, uint64_t va, Extent* out) {
        if (as.opts_.policy == Policy::Global) return GlobalOps::find(as, va, out);
        const Extent* x = ExtentList::find(d->extents, va);
        if (!x) return false;
        *out = *x;
        return true;
    }

    void check_leaf_entries(const PtDesc* d) {
        for (unsigned i = 0; i < kEntries && r.ok(); ++i) {
            uint64_t v = d->table[i];
            if (!v) continue;
            uint64_t va = d->base + uint64_t(i) * kPageSize;
            Extent m;
            if (!mapping_at(d, va, &m)) return report(r, Invariant::I1_PteInsideExtent, "PTE outside any extent", va, v);
            bool owned = (v & pte::kOwned) != 0;
            if (owned) ++owned_frames;
            if (!owned && !m.object) return report(r, Invariant::I1_PteInsideExtent, "anonymous PTE without a frame of its own", va, v);
            if (!pte::present(v)) {
                if (!(v & pte::kParked)) return report(r, Invariant::I1_PteInsideExtent, "non-present PTE not parked", va, v);
                continue;
            }
            if (!(v & pte::kUser) || m.prot == Prot::None)
                return report(r, Invariant::I1_PteInsideExtent, "present PTE in a PROT_NONE extent or without U", va, v);
            if ((v & pte::kWrite) && (!has(m.prot, Prot::Write) || (!owned && !m.shared)))
                return report(r, Invariant::I1_PteInsideExtent, "writable PTE the extent does not allow", va, v);
            if (!(v & pte::kNoExec) && !has(m.prot, Prot::Exec))
                return report(r, Invariant::I1_PteInsideExtent, "executable PTE the extent does not allow", va, v);
        }
    }

    void walk(const PtDesc* d) {
        if (!r.ok()) return;
        ++tables;
        table_frames += d->level >= 2 ? 2 : 1;
        if (d->ptl.is_locked()) return report(r, Invariant::I5_QuiescentAccounting, "PTL held at a quiescent point", d->base, d->level);
        if (d->base & (window_bytes(d->level) - 1))
            return report(r, Invariant::I4_TableStructure, "table base not aligned to its window", d->base, d->level);
        unsigned used = 0;
        unsigned n = d->level == kLevels ? kEntries / 2 : kEntries;
        for (unsigned i = 0; i < kEntries; ++i)
            if (d->table[i] && i < n) ++used;
        check_list(d);
        if (d->level == 1) check_leaf_entries(d);  // before the count: name the stray entry
        if (used != d->used) return report(r, Invariant::I4_TableStructure, "used-entry count wrong", d->base, used);
        if (d->level == 1) return;
        for (unsigned i = 0; i < n && r.ok(); ++i) {
            const PtDesc* c = d->children[i];
            uint64_t e = d->table[i];
            uint64_t slot_s = d->base + uint64_t(i) * slot_bytes(d->level);
            if (!c) {
                if (e) return report(r, Invariant::I4_TableStructure, "entry without a child descriptor", slot_s, e);
                continue;
            }
            // The CPU sets Accessed in every upper-level entry it walks; that bit is not ours to check.
            if ((e & ~pte::kAccessed) != (((c->table_phys & pte::kAddrMask) | pte::kTableFlags) & ~pte::kAccessed) ||
                c->level != d->level - 1 || c->base != slot_s)
                return report(r, Invariant::I4_TableStructure, "entry and child descriptor disagree", slot_s, e);
            if (slot_s + slot_bytes(d->level) <= as.user_start_ || slot_s >= as.user_end_)
                return report(r, Invariant::I4_TableStructure, "table outside the user range", slot_s, d->level);
            walk(c);
        }
        if (d->level == kLevels && d->children) {
            for (unsigned i = n; i < kEntries; ++i)
                if (d->children[i]) return report(r, Invariant::I4_TableStructure, "child in the kernel half", i, 0);
        }
    }

    struct MappedSum {
        uint64_t bytes = 0, prev_end = 0;
        bool ordered = true;
    };
    static void add_mapped(const MappingInfo& m, void* ctx) {
        auto* s = static_cast<MappedSum*>(ctx);
        if (m.start.value() < s->prev_end || m.start >= m.end) s->ordered = false;
        s->prev_end = m.end.value();
        s->bytes += m.end.value() - m.start.value();
    }
    static void count_mapped(const MappingInfo& m, void* ctx) {
        *static_cast<uint64_t*>(ctx) += m.end.value() - m.start.value();
    }

    void partition() {
        MappedSum mapped;
        as.query(Gva(as.user_start_), Gva(as.user_end_), &add_mapped, &mapped);
        if (!mapped.ordered) return report(r, Invariant::I2_ExtentsWellFormed, "mappings overlap", mapped.prev_end, 0);
        uint64_t free_bytes = 0;
        bool bad = false;
        uint64_t bad_s = 0, bad_e = 0;
        as.free_.for_each_free([&](uint64_t s, uint64_t e) {
            if (bad) return;
            free_bytes += e - s;
            if (s >= e || s < as.user_start_ || e > as.user_end_ || ((s | e) & (kPageSize - 1))) {
                bad = true;
                bad_s = s, bad_e = e;
                return;
            }
            uint64_t overlap = 0;  // free space must hold no mapping
            as.query(Gva(s), Gva(e), &count_mapped, &overlap);
            uint64_t clash = 0;    // and free ranges must not overlap each other
            as.free_.for_each_free([&](uint64_t s2, uint64_t e2) {
                if (s2 < e && s < e2 && !(s2 == s && e2 == e)) ++clash;
            });
            if (overlap || clash) {
                bad = true;
                bad_s = s, bad_e = e;
            }
        });
        if (bad) return report(r, Invariant::I3_Partition, "free range invalid, mapped or overlapping", bad_s, bad_e);
        if (free_bytes + mapped.bytes != as.user_end_ - as.user_start_)
            return report(r, Invariant::I3_Partition, "mapped + free != user range (bytes)", mapped.bytes, free_bytes);
    }

    void accounting() {
        if (as.mm_lock_.is_locked() || !as.free_.locks_free())
            return report(r, Invariant::I5_QuiescentAccounting, "mm or free-space lock held", 0, 0);
        if (as.free_.busy_count())
            return report(r, Invariant::I5_QuiescentAccounting, "busy writer range left behind", as.free_.busy_count(), 0);
        int64_t data = as.counters_.sum(Counter::FramesAllocated) - as.counters_.sum(Counter::FramesFreed);
        if (data != int64_t(owned_frames))
            return report(r, Invariant::I5_QuiescentAccounting, "data frames allocated - freed != owned PTEs",
                          uint64_t(data), owned_frames);
        if (as.counters_.sum(Counter::PageTablePages) != int64_t(table_frames) || as.pt_.tables() != tables)
            return report(r, Invariant::I5_QuiescentAccounting, "page-table page count mismatch", tables, table_frames);
        uint64_t vmas = 0;
        if (as.opts_.policy == Policy::Global) vmas = GlobalOps::count(as);
        if (as.large_slab_.in_use() != int64_t(tables + vmas))
            return report(r, Invariant::I5_QuiescentAccounting, "descriptor/VMA objects leaked",
                          uint64_t(as.large_slab_.in_use()), tables + vmas);
        if (as.small_slab_.in_use() != int64_t(extents + as.free_.node_count()))
            return report(r, Invariant::I5_QuiescentAccounting, "extent/free-range nodes leaked",
                          uint64_t(as.small_slab_.in_use()), extents + as.free_.node_count());
    }
};

CheckReport AddressSpace::check() {
    CheckReport r;
    Checker c{*this, r};
    c.walk(pt_.root());
    if (r.ok() && opts_.policy == Policy::Global) GlobalOps::check_tree(*this, r);
    if (r.ok()) c.partition();
    if (r.ok()) c.accounting();
    return r;
}

uint64_t AddressSpace::references_to(const BackingObject* object) {
    struct Count {
        const BackingObject* o;
        uint64_t n;
    } c{object, 0};
    if (opts_.policy == Policy::Global) return GlobalOps::references_to(*this, object);
    struct Walk {
        static void go(const PtDesc* d, Count& c) {
            for (const Extent* x = d->extents; x; x = x->next)
                if (x->object == c.o) ++c.n;
            if (d->level == 1) return;
            for (unsigned i = 0; i < (d->level == kLevels ? kEntries / 2 : kEntries); ++i)
                if (d->children[i]) go(d->children[i], c);
        }
    };
    Walk::go(pt_.root(), c);
    return c.n;
}

}  // namespace gmm::mm
