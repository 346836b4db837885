#include "decode.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <unordered_set>

#include "gmm/abi/boot.h"

namespace gmm::check {

namespace {

constexpr uint64_t kPageBytes = 4096;
constexpr unsigned kEntries = 512;
constexpr uint64_t kAddrMask = 0x000ffffffffff000ull;
constexpr uint64_t kTableFlags = 0x7;  // present | write | user
constexpr uint64_t kAccessed = 1ull << 5;

uint64_t slot_bytes(int level) { return 1ull << (12 + 9 * (level - 1)); }

std::string hex(uint64_t v) {
    char b[24];
    std::snprintf(b, sizeof b, "0x%" PRIx64, v);
    return b;
}

bool ticket_held(const gmm_ticket_lock& l) { return (l.word >> 16) != (l.word & 0xffffu); }

struct Decoder {
    const CheckInput& in;
    const GuestView& view;
    Snapshot& s;
    CheckResult& r;
    bool async() const { return in.mode == CheckMode::Async; }

    void bad(const char* inv, std::string detail, uint64_t gva = 0, uint64_t gpa = 0, int level = 0, uint64_t pte = 0) {
        Violation v;
        v.invariant = inv;
        v.gva = gva;
        v.gpa = gpa;
        v.level = level;
        v.pte = pte;
        v.detail = std::move(detail);
        add_violation(r, std::move(v));
    }

    bool read_roots() { return true; }

    // --- page tables -------------------------------------------------------
    struct Pending {
        uint64_t desc_gva;
        int level;
        uint64_t base;
        int parent;
        uint64_t parent_entry;  // the hardware entry that should point at this table
        bool check_entry;
    };

    void tables() {
        std::vector<Pending> stack{{s.roots.root_desc_gva, 4, 0, -1, 0, false}};
        std::unordered_set<uint64_t> seen_desc, seen_table;
        while (!stack.empty()) {
            Pending p = stack.back();
            stack.pop_back();
            if (s.tables.size() >= kMaxTables) {
                bad("I5", "more than " + std::to_string(kMaxTables) + " page-table pages: decoding stopped");
                return;
            }
            if (!seen_desc.insert(p.desc_gva).second) {
                bad("I5", "page-table descriptor " + hex(p.desc_gva) + " reached twice (shared or cyclic)", p.base, 0,
                    p.level);
                continue;
            }
            auto d = view.virt<gmm_ptdesc>(p.desc_gva);
            if (!d) {
                bad("I5", "page-table descriptor pointer " + hex(p.desc_gva) + " is outside guest RAM", p.base, 0,
                    p.level);
                continue;
            }
            Table t;
            t.desc_gva = p.desc_gva;
            t.level = p.level;
            t.base = p.base;
            t.table_gpa = d->table_phys;
            t.used = d->used;
            t.parent = p.parent;
            t.ptl_held = ticket_held(d->ptl);
            t.ptl_last_cpu = d->ptl.last_cpu;
            if (d->level != p.level || d->base != p.base) {
                bad("I5", "descriptor says level " + std::to_string(d->level) + " base " + hex(d->base) +
                              ", its position says level " + std::to_string(p.level) + " base " + hex(p.base),
                    p.base, d->table_phys, p.level);
                continue;
            }
            if ((d->table_phys & (kPageBytes - 1)) || view.kernel_virt_to_phys(d->table) != d->table_phys) {
                bad("I5", "descriptor's table pointer " + hex(d->table) + " and table_phys disagree", p.base,
                    d->table_phys, p.level);
                continue;
            }
            t.entries.resize(kEntries);
            if (!view.read_phys(d->table_phys, t.entries.data(), kEntries * 8)) {
                bad("I5", "page-table page outside guest RAM", p.base, d->table_phys, p.level);
                continue;
            }
            if (!seen_table.insert(d->table_phys).second) {
                bad("I5", "page-table page used in two places", p.base, d->table_phys, p.level);
                continue;
            }
            if (p.check_entry && !(async() && p.parent >= 0 && s.tables[size_t(p.parent)].ptl_held)) {
                const uint64_t want = (d->table_phys & kAddrMask) | kTableFlags;
                if ((p.parent_entry & ~kAccessed) != want)
                    bad("I5", "upper-level entry does not point at its child's table", p.base, d->table_phys,
                        p.level + 1, p.parent_entry);
            }
            std::vector<uint64_t> children;
            if (p.level >= 2) {
                t.children_gpa = d->children_phys;
                children.resize(kEntries);
                if (view.kernel_virt_to_phys(d->children) != d->children_phys ||
                    !view.read_phys(d->children_phys, children.data(), kEntries * 8)) {
                    bad("I5", "child array " + hex(d->children) + " unreadable or disagrees with children_phys",
                        p.base, d->children_phys, p.level);
                    children.clear();
                }
            }
            const int idx = int(s.tables.size());
            const bool skip = async() && t.ptl_held;
            if (skip) r.skipped.push_back("table L" + std::to_string(p.level) + " " + hex(p.base) + ": PTL held");
            s.tables.push_back(std::move(t));
            if (!skip) extents_of(*d, idx);
            const Table& me = s.tables.back();
            if (p.level == 1) {
                if (!skip)
                    for (unsigned i = 0; i < kEntries; ++i)
                        if (me.entries[i]) s.leaves.push_back({p.base + i * kPageBytes, me.entries[i], idx});
                continue;
            }
            const unsigned user_slots = p.level == 4 ? kEntries / 2 : kEntries;
            for (unsigned i = 0; i < kEntries && !children.empty(); ++i) {
                const uint64_t c = children[i];
                const uint64_t slot_base = p.base + i * slot_bytes(p.level);
                if (i >= user_slots) {
                    if (c) bad("I5", "child descriptor in the kernel half of the root", slot_base, 0, p.level);
                    continue;
                }
                if (c) {
                    stack.push_back({c, p.level - 1, slot_base, idx, me.entries[i], true});
                } else if (me.entries[i] && !skip) {
                    bad("I5", "upper-level entry without a child descriptor", slot_base, me.entries[i] & kAddrMask,
                        p.level, me.entries[i]);
                }
            }
        }
    }

    // Every extent on any table's list so far: a list shared by many tables
    // would otherwise be decoded once per table (up to kMaxNodes records).
    std::unordered_set<uint64_t> extent_nodes{};

    void extents_of(const gmm_ptdesc& d, int table) {
        if (s.roots.policy != GMM_MM_POLICY_EXTENTS) {
            if (d.extents) bad("I2", "extent list in a global-policy table", d.base, d.table_phys, d.level);
            return;
        }
        std::unordered_set<uint64_t> seen;
        for (uint64_t at = d.extents; at;) {
            if (!seen.insert(at).second) {
                bad("I2", "extent list of table " + hex(d.base) + " has a cycle", d.base, 0, d.level);
                return;
            }
            if (!extent_nodes.insert(at).second) {
                bad("I2", "extent " + hex(at) + " is also on another table's list", d.base, 0, d.level);
                return;
            }
            if (s.mappings.size() >= kMaxNodes) {
                bad("I2", "more than " + std::to_string(kMaxNodes) + " extents: decoding stopped");
                return;
            }
            auto x = view.virt<gmm_extent>(at);
            if (!x) {
                bad("I2", "extent pointer " + hex(at) + " is outside guest RAM", d.base, 0, d.level);
                return;
            }
            s.mappings.push_back({x->start, x->end, x->object, x->page_index, x->generation, x->prot, x->shared != 0,
                                  at, table});
            at = x->next;
        }
    }

    // --- treaps (VMAs, free ranges) ---------------------------------------
    // In-order traversal with an explicit stack; false when the tree is corrupt.
    template <typename Node, typename Visit>
    bool treap(uint64_t root, const char* inv, const char* what, Visit&& visit) {
        std::unordered_set<uint64_t> seen;
        std::vector<uint64_t> stack;
        uint64_t at = root;
        while (at || !stack.empty()) {
            while (at) {
                if (!seen.insert(at).second) {
                    bad(inv, std::string(what) + " tree has a cycle at node " + hex(at));
                    return false;
                }
                if (seen.size() > kMaxNodes) {
                    bad(inv, std::string(what) + " tree larger than " + std::to_string(kMaxNodes) + " nodes");
                    return false;
                }
                auto n = view.virt<Node>(at);
                if (!n) {
                    bad(inv, std::string(what) + " tree node pointer " + hex(at) + " is outside guest RAM");
                    return false;
                }
                stack.push_back(at);
                at = n->left;
            }
            const uint64_t node_gva = stack.back();
            stack.pop_back();
            auto n = view.virt<Node>(node_gva);  // re-read: readable a moment ago, same view
            if (!n) return false;
            visit(*n, node_gva);
            at = n->right;
        }
        return true;
    }

    void vmas() {
        if (s.roots.policy != GMM_MM_POLICY_GLOBAL) return;
        auto root = view.virt<uint64_t>(s.roots.vma_root_slot_gva);
        if (!root) {
            bad("I2", "VMA tree root slot " + hex(s.roots.vma_root_slot_gva) + " is outside guest RAM");
            s.vmas_complete = false;
            return;
        }
        s.vmas_complete = treap<gmm_vma>(*root, "I2", "VMA", [&](const gmm_vma& v, uint64_t gva) {
            s.mappings.push_back({v.start, v.end, v.object, v.page_index, v.generation, v.prot, v.shared != 0, gva, -1});
        });
    }

    void free_space() {
        auto root = view.virt<uint64_t>(s.roots.free_root_slot_gva);
        if (!root) {
            bad("I3", "free-range tree root slot " + hex(s.roots.free_root_slot_gva) + " is outside guest RAM");
            s.free_complete = false;
            return;
        }
        s.free_complete = treap<gmm_free_node>(*root, "I3", "free-range", [&](const gmm_free_node& n, uint64_t) {
            s.free_ranges.push_back({n.start, n.end});
        });
        if (s.roots.chunk_count > GMM_MAX_VCPUS || s.roots.chunk_stride_bytes < sizeof(gmm_free_chunk) ||
            s.roots.chunk_stride_bytes > kPageBytes) {
            bad("I3", "free-chunk table shape is absurd (count " + std::to_string(s.roots.chunk_count) + ", stride " +
                          std::to_string(s.roots.chunk_stride_bytes) + ")");
            s.free_complete = false;
            return;
        }
        for (uint32_t i = 0; i < s.roots.chunk_count; ++i) {
            auto c = view.virt<gmm_free_chunk>(s.roots.chunks_gva + uint64_t(i) * s.roots.chunk_stride_bytes);
            if (!c) {
                bad("I3", "free chunk " + std::to_string(i) + " is outside guest RAM");
                s.free_complete = false;
                return;
            }
            s.locks.push_back({"free_cache[" + std::to_string(i) + "]", ticket_held(c->lock), c->lock.last_cpu});
            if (ticket_held(c->lock)) s.free_locks_held = true;
            if (c->cur < c->end) s.free_ranges.push_back({c->cur, c->end});
        }
    }

    void ticket(const char* name, uint64_t gva, bool* held_out = nullptr) {
        auto l = view.virt<gmm_ticket_lock>(gva);
        if (!l) {
            bad("I8", std::string("lock ") + name + " at " + hex(gva) + " is outside guest RAM");
            return;
        }
        s.locks.push_back({name, ticket_held(*l), l->last_cpu});
        if (held_out) *held_out |= ticket_held(*l);
    }

    void locks() {
        if (s.roots.policy == GMM_MM_POLICY_GLOBAL) {
            if (auto l = view.virt<gmm_rw_lock>(s.roots.mm_lock_gva)) {
                s.mm_lock_write_held = ticket_held(l->gate);
                s.mm_lock_read_held = l->readers != 0;
                s.locks.push_back({"mm_lock (write)", s.mm_lock_write_held, l->gate.last_cpu});
                s.locks.push_back({"mm_lock (read: " + std::to_string(l->readers) + " readers)", l->readers != 0,
                                   0xff});
            } else {
                bad("I8", "mm lock at " + hex(s.roots.mm_lock_gva) + " is outside guest RAM");
            }
        }
        ticket("free_space", s.roots.free_lock_gva, &s.free_locks_held);
        ticket("free_space busy ranges", s.roots.busy_lock_gva, &s.free_locks_held);
        if (auto n = view.virt<uint32_t>(s.roots.busy_count_gva)) s.busy_count = *n;
        ticket("slab (extents, free ranges)", s.roots.slab_lock_gva[0]);
        ticket("slab (descriptors, VMAs)", s.roots.slab_lock_gva[1]);
        if (s.roots.frame_pool_lock_gva) ticket("frame pool", s.roots.frame_pool_lock_gva);
    }

    void frames() {
        const uint64_t n = s.roots.frames_meta_count;
        if (n == 0) {
            r.skipped.push_back("frames: the guest published no frame metadata");
            return;
        }
        // One record per page of RAM (frames.h): a larger count would make the frames pass
        // copy and scan up to all of RAM as records.
        uint64_t ram_end = 0;
        for (const RamRegion& g : view.regions()) ram_end = std::max(ram_end, g.gpa + g.size_bytes);
        if (n > (1ull << 28) || n > ram_end / kPageBytes ||
            !view.contains_phys(s.roots.frames_meta_gpa, n * sizeof(gmm_frame_meta))) {
            bad("I4", "frame metadata array (" + std::to_string(n) + " records at " + hex(s.roots.frames_meta_gpa) +
                          ") does not fit in guest RAM or has more records than RAM has pages");
            return;
        }
        s.frames.resize(n);
        (void)view.read_phys(s.roots.frames_meta_gpa, s.frames.data(), n * sizeof(gmm_frame_meta));
        // Frames below the managed range were never the allocator's: reserved (records never written).
        const uint64_t managed = std::min<uint64_t>(s.roots.frames_managed_gpa / 4096, n);
        for (uint64_t i = 0; i < managed; ++i)
            if (s.frames[i].state == GMM_FRAME_FREE_ZERO) s.frames[i].state = GMM_FRAME_RESERVED;
    }
};

}  // namespace

std::string describe(const Mapping& m, const std::vector<Table>& tables) {
    char b[256];
    const char prot[4] = {m.prot & 1 ? 'r' : '-', m.prot & 2 ? 'w' : '-', m.prot & 4 ? 'x' : '-', 0};
    int n = std::snprintf(b, sizeof b, "%s [0x%" PRIx64 ", 0x%" PRIx64 ") %s %s gen %" PRIu64,
                          m.table >= 0 ? "extent" : "vma", m.start, m.end, prot,
                          m.object ? (m.shared ? "shared-file" : "private-file") : (m.shared ? "shared-anon" : "anon"),
                          m.generation);
    if (m.object && n > 0 && size_t(n) < sizeof b)
        n += std::snprintf(b + n, sizeof b - size_t(n), " object 0x%" PRIx64 " page %" PRIu64, m.object, m.page_index);
    if (m.table >= 0 && size_t(m.table) < tables.size() && n > 0 && size_t(n) < sizeof b)
        std::snprintf(b + n, sizeof b - size_t(n), " in L%d table 0x%" PRIx64, tables[size_t(m.table)].level,
                      tables[size_t(m.table)].base);
    return b;
}

Result<bool, std::string> decode(const CheckInput& in, Snapshot& s, CheckResult& r) {
    if (!in.view) return Err{std::string("no guest memory view")};
    const GuestView& view = *in.view;
    if (!view.read_phys(in.roots_gpa, &s.roots, sizeof s.roots))
        return Err{"mm roots at GPA " + hex(in.roots_gpa) + " lie outside guest RAM"};
    const gmm_mm_roots& ro = s.roots;
    if (ro.magic != GMM_MM_ROOTS_MAGIC) return Err{"mm roots at GPA " + hex(in.roots_gpa) + ": bad magic " + hex(ro.magic)};
    if (ro.version != GMM_MMSTATE_ABI_VERSION || ro.size_bytes != sizeof(gmm_mm_roots))
        return Err{"mm roots: version " + std::to_string(ro.version) + " size " + std::to_string(ro.size_bytes) +
                   " (this checker reads version " + std::to_string(GMM_MMSTATE_ABI_VERSION) + ", size " +
                   std::to_string(sizeof(gmm_mm_roots)) + ")"};
    if (ro.policy > GMM_MM_POLICY_EXTENTS || ro.placement > GMM_MM_PLACEMENT_HIER || ro.freecache > GMM_MM_FREECACHE_PERCPU)
        return Err{"mm roots: unknown policy/placement/freecache " + std::to_string(ro.policy) + "/" +
                   std::to_string(ro.placement) + "/" + std::to_string(ro.freecache)};
    if (ro.user_start >= ro.user_end || ro.user_end > GMM_USER_TOP_GVA || ((ro.user_start | ro.user_end) & 4095))
        return Err{"mm roots: user range [" + hex(ro.user_start) + ", " + hex(ro.user_end) + ") is not a page-aligned user range"};
    r.inject = ro.inject;
    r.safepoint_gpa = ro.safepoint_gpa;
    if (view.read_phys(ro.safepoint_gpa, &s.safepoint, sizeof s.safepoint)) {
        s.have_safepoint = true;
        r.checks_done = s.safepoint.checks_done;
    } else {
        Violation v;
        v.invariant = "I8";
        v.detail = "safepoint block at GPA " + hex(ro.safepoint_gpa) + " is outside guest RAM";
        add_violation(r, std::move(v));
    }
    Decoder d{in, view, s, r, {}};
    d.locks();
    d.tables();
    d.vmas();
    d.free_space();
    d.frames();
    return true;
}

}  // namespace gmm::check
