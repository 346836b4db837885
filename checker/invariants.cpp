// The invariant rules over a decoded snapshot (ids and meanings: docs/checker.md).
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <map>

#include "decode.h"

namespace gmm::check {

namespace {

constexpr uint64_t kPageBytes = 4096;
constexpr uint64_t kAddrMask = 0x000ffffffffff000ull;
constexpr uint64_t kPresent = 1, kWrite = 2, kUser = 4;
constexpr uint64_t kOwned = 1ull << 9, kParked = 1ull << 10, kNoExec = 1ull << 63;
constexpr uint32_t kProtRead = 1, kProtWrite = 2, kProtExec = 4, kProtKnown = 7;

uint64_t window_bytes(int level) { return 1ull << (12 + 9 * level); }
uint64_t slot_bytes(int level) { return 1ull << (12 + 9 * (level - 1)); }

std::string hex(uint64_t v) {
    char b[24];
    std::snprintf(b, sizeof b, "0x%" PRIx64, v);
    return b;
}
std::string range(uint64_t s, uint64_t e) { return "[" + hex(s) + ", " + hex(e) + ")"; }

struct Rules {
    const CheckInput& in;
    Snapshot& s;
    CheckResult& r;
    std::vector<const Mapping*> sorted;  // by start
    bool async() const { return in.mode == CheckMode::Async; }
    bool extents() const { return s.roots.policy == GMM_MM_POLICY_EXTENTS; }
    bool hier() const { return extents() && s.roots.placement == GMM_MM_PLACEMENT_HIER; }

    // The added violation, for the caller to fill in (a scratch one once capped).
    Violation& add(const char* inv, std::string detail) {
        Violation v;
        v.invariant = inv;
        v.detail = std::move(detail);
        const size_t before = r.violations.size();
        add_violation(r, std::move(v));
        if (r.violations.size() > before) return r.violations.back();
        scratch = Violation{};
        return scratch;
    }
    Violation scratch;
    std::string what(const Mapping& m) const { return describe(m, s.tables); }

    bool any_cpu_in_mm() const {
        if (!s.have_safepoint) return true;
        for (uint32_t c = 0; c < in.vcpus && c < 64; ++c)
            if (s.safepoint.in_mm_op[c]) return true;
        return false;
    }
    bool any_ptl_held() const {
        for (const Table& t : s.tables)
            if (t.ptl_held) return true;
        return false;
    }

    // I8: no memory-manager lock held at a safepoint; owners are live vCPUs.
    void locks() {
        auto lock_rule = [&](const std::string& name, bool held, uint8_t last_cpu, uint64_t gva) {
            if (!held) return;
            if (last_cpu >= in.vcpus && last_cpu != 0xff) {
                Violation& v = add("I8", name + " is held and its owner field names CPU " + std::to_string(last_cpu) +
                                             ", not one of the " + std::to_string(in.vcpus) + " live vCPUs");
                v.gva = gva;
                v.cpu = last_cpu;
            }
            if (in.mode == CheckMode::Safepoint) {
                Violation& v = add("I8", name + " is held at a safepoint");
                v.gva = gva;
                if (last_cpu != 0xff) v.cpu = last_cpu;
            }
        };
        for (const Table& t : s.tables)
            lock_rule("PTL of the L" + std::to_string(t.level) + " table for " + hex(t.base), t.ptl_held, t.ptl_last_cpu,
                      t.base);
        for (const LockInfo& l : s.locks) lock_rule(l.name, l.held, l.last_cpu, 0);
        if (in.mode != CheckMode::Safepoint) return;
        if (s.busy_count) add("I8", std::to_string(s.busy_count) + " writer range(s) in flight at a safepoint");
        if (s.have_safepoint)
            for (uint32_t c = 0; c < in.vcpus && c < 64; ++c)
                if (s.safepoint.in_mm_op[c]) {
                    Violation& v = add("I8", "CPU " + std::to_string(c) + " is inside a memory-manager operation at a safepoint");
                    v.cpu = int(c);
                }
    }

    // I2: well-formed extents / VMAs.
    void mappings() {
        if (!extents() && async() && s.mm_lock_write_held) {
            r.skipped.push_back("I1/I2/I3 against the VMA tree: mm lock held for write");
            return;
        }
        for (const Mapping& m : s.mappings) {
            if (m.start >= m.end || ((m.start | m.end) & (kPageBytes - 1)) || m.start < s.roots.user_start ||
                m.end > s.roots.user_end) {
                Violation& v = add("I2", "mapping is empty, unaligned or outside the user range");
                v.gva = m.start;
                v.mapping = what(m);
            } else if ((m.prot & ~kProtKnown) || m.generation == 0) {
                Violation& v = add("I2", "mapping has unknown protection bits or generation 0");
                v.gva = m.start;
                v.mapping = what(m);
            }
            if (m.table < 0) continue;
            const Table& t = s.tables[size_t(m.table)];
            if (m.start < t.base || m.end > t.base + window_bytes(t.level)) {
                Violation& v = add("I2", "extent lies outside its table's window " +
                                             range(t.base, t.base + window_bytes(t.level)));
                v.gva = m.start;
                v.mapping = what(m);
            } else if (t.level > 1) {
                const uint64_t slot = slot_bytes(t.level);
                if (!hier() || t.level > 3 || ((m.start | m.end) & (slot - 1))) {
                    Violation& v = add("I2", hier() ? "upper-level record not aligned to its slots"
                                                    : "upper-level extent with leaf placement");
                    v.gva = m.start;
                    v.mapping = what(m);
                }
            }
        }
        for (const Mapping& m : s.mappings) sorted.push_back(&m);
        std::sort(sorted.begin(), sorted.end(), [](const Mapping* a, const Mapping* b) {
            return a->start != b->start ? a->start < b->start : a->end < b->end;
        });
        for (size_t i = 1; i < sorted.size(); ++i) {
            const Mapping& a = *sorted[i - 1];
            const Mapping& b = *sorted[i];
            if (b.start < a.end) {
                Violation& v = add("I2", "mappings overlap: " + what(a) + " and " + what(b));
                v.gva = b.start;
                v.mapping = what(b);
                continue;
            }
            if (extents() && b.start == a.end && a.generation == b.generation && a.table != b.table) {
                const bool continuous = !a.object || b.page_index == a.page_index + (a.end - a.start) / kPageBytes;
                if (a.object != b.object || a.shared != b.shared || a.prot != b.prot || !continuous) {
                    Violation& v = add("I2", "fragments of one mapping disagree: " + what(a) + " then " + what(b));
                    v.gva = b.start;
                    v.mapping = what(b);
                }
            }
        }
    }

    // Where a leaf table's hier ancestors keep records, a PTE may be covered there.
    const Mapping* covering(uint64_t va, int* count) const {
        auto it = std::upper_bound(sorted.begin(), sorted.end(), va,
                                   [](uint64_t a, const Mapping* m) { return a < m->start; });
        const Mapping* found = nullptr;
        *count = 0;
        // Overlapping mappings (already an I2) could cover va from further left; look back a little.
        for (int back = 0; it != sorted.begin() && back < 4; ++back) {
            --it;
            if ((*it)->start <= va && va < (*it)->end) {
                if (!found) found = *it;
                ++*count;
            }
        }
        return found;
    }

    // I1: every used user PTE lies in exactly one mapping that allows it.
    void ptes() {
        if (!extents() && (!s.vmas_complete || (async() && s.mm_lock_write_held))) {
            r.skipped.push_back("I1: the VMA tree is not available");
            return;
        }
        for (const LeafEntry& e : s.leaves) {
            const uint64_t v = e.pte;
            int count = 0;
            const Mapping* m = covering(e.gva, &count);
            auto report = [&](const char* detail) {
                Violation& x = add("I1", detail);
                x.gva = e.gva;
                x.gpa = v & kAddrMask;
                x.pte = v;
                x.level = 1;
                if (m) x.mapping = what(*m);
            };
            if (!m) {
                report("PTE outside every mapping");
                continue;
            }
            if (count > 1) report("PTE covered by more than one mapping");
            const bool owned = v & kOwned;
            if (!owned && !m->object) report("anonymous PTE without a frame of its own");
            if (!(v & kPresent)) {
                if (!(v & kParked)) report("non-present entry that is not a parked PROT_NONE page");
                continue;
            }
            if (!(v & kUser) || !(m->prot & (kProtRead | kProtWrite | kProtExec)))
                report("present PTE in a PROT_NONE mapping or without the user bit");
            else if ((v & kWrite) && (!(m->prot & kProtWrite) || (!owned && !m->shared)))
                report("writable PTE its mapping does not allow");
            else if (!(v & kNoExec) && !(m->prot & kProtExec))
                report("executable PTE its mapping does not allow");
        }
    }

    // I3: mappings and free ranges tile the user range exactly.
    void partition() {
        if (!s.free_complete || (!extents() && !s.vmas_complete)) {
            r.skipped.push_back("I3: a tree could not be decoded");
            return;
        }
        if (async()) {
            std::string why;
            if (any_cpu_in_mm()) why = "a CPU is inside a memory-manager operation";
            else if (s.free_locks_held || s.busy_count) why = "the free-space allocator is locked or busy";
            else if (!extents() && s.mm_lock_write_held) why = "the mm lock is held for write";
            else if (extents() && any_ptl_held()) why = "a page-table lock is held";
            if (!why.empty()) {
                r.skipped.push_back("I3 partition: " + why);
                return;
            }
        }
        struct Piece {
            uint64_t s, e;
            const Mapping* m;
        };
        std::vector<Piece> all;
        for (const Mapping* m : sorted) all.push_back({m->start, m->end, m});
        for (auto [a, b] : s.free_ranges) all.push_back({a, b, nullptr});
        std::sort(all.begin(), all.end(), [](const Piece& a, const Piece& b) { return a.s < b.s; });
        auto name = [&](const Piece& p) { return p.m ? what(*p.m) : "free " + range(p.s, p.e); };
        uint64_t at = s.roots.user_start;
        const Piece* prev = nullptr;
        for (const Piece& p : all) {
            if (p.s >= p.e || p.s < s.roots.user_start || p.e > s.roots.user_end || ((p.s | p.e) & (kPageBytes - 1))) {
                Violation& v = add("I3", "range is empty, unaligned or outside the user range: " + name(p));
                v.gva = p.s;
                continue;
            }
            if (p.s > at) {
                Violation& v = add("I3", "leak: " + range(at, p.s) + " is neither mapped nor free");
                v.gva = at;
            } else if (p.s < at && prev && !(p.m && prev->m)) {  // mapping vs mapping is I2's
                Violation& v = add("I3", "overlap: " + name(p) + " overlaps " + name(*prev));
                v.gva = p.s;
                if (p.m) v.mapping = what(*p.m);
            }
            if (p.e > at) {
                at = p.e;
                prev = &p;
            }
        }
        if (at < s.roots.user_end) {
            Violation& v = add("I3", "leak: " + range(at, s.roots.user_end) + " is neither mapped nor free");
            v.gva = at;
        }
    }

    // I4: frames behind PTEs are allocated and counted; page-table pages marked.
    void frames() {
        if (s.frames.empty()) return;
        std::vector<uint32_t> ptes_per_frame(s.frames.size(), 0);  // indexed by frame number
        for (const LeafEntry& e : s.leaves) {
            const uint64_t gpa = e.pte & kAddrMask;
            const uint64_t i = gpa / kPageBytes;
            auto report = [&](std::string detail) {
                Violation& x = add("I4", std::move(detail));
                x.gva = e.gva;
                x.gpa = gpa;
                x.pte = e.pte;
                x.level = 1;
            };
            if (i >= s.frames.size()) {
                report("PTE maps a frame beyond the frame table (" + std::to_string(s.frames.size()) + " frames)");
                continue;
            }
            const bool owned = e.pte & kOwned;
            if (++ptes_per_frame[i] == 2 && owned) report("a private (owned) frame is mapped by more than one PTE");
            const gmm_frame_meta& f = s.frames[i];
            if (f.state == GMM_FRAME_FREE_ZERO || f.state == GMM_FRAME_FREE_DIRTY)
                report("PTE maps a free frame");
            else if (owned && f.state != GMM_FRAME_ALLOCATED)
                report("owned PTE maps a frame in state " + std::to_string(f.state));
            else if (f.flags & (GMM_FRAME_F_PAGE_TABLE | GMM_FRAME_F_MM_META))
                report("PTE maps a memory-manager frame (flags " + std::to_string(f.flags) + ") into user space");
        }
        std::vector<uint8_t> is_table(s.frames.size(), 0);
        for (const Table& t : s.tables) {
            const uint64_t i = t.table_gpa / kPageBytes;
            if (i >= s.frames.size()) continue;
            is_table[i] = 1;
            const gmm_frame_meta& f = s.frames[i];
            if (f.state != GMM_FRAME_ALLOCATED || !(f.flags & GMM_FRAME_F_PAGE_TABLE)) {
                Violation& v = add("I4", "page-table page not marked as an allocated page-table frame (state " +
                                             std::to_string(f.state) + ", flags " + std::to_string(f.flags) + ")");
                v.gva = t.base;
                v.gpa = t.table_gpa;
                v.level = t.level;
            }
        }
        if (async()) {
            r.skipped.push_back("I4 mapcounts and unreachable page-table pages: exact only at a safepoint");
            return;
        }
        for (uint64_t i = 0; i < s.frames.size(); ++i) {
            const gmm_frame_meta& f = s.frames[i];
            const uint64_t gpa = i * kPageBytes;
            const uint32_t n = ptes_per_frame[i];
            if (f.mapcount != n) {
                Violation& v = add("I4", "frame mapcount " + std::to_string(f.mapcount) + " but " + std::to_string(n) +
                                             " PTE(s) map it");
                v.gpa = gpa;
            }
            if (f.state == GMM_FRAME_ALLOCATED && (f.flags & GMM_FRAME_F_PAGE_TABLE) && !is_table[i]) {
                Violation& v = add("I4", "page-table frame not reachable from the root");
                v.gpa = gpa;
            }
        }
    }

    // I5: entry counts agree with the descriptors.
    void structure() {
        for (const Table& t : s.tables) {
            if (async() && t.ptl_held) continue;
            const unsigned n = t.level == 4 ? 256 : 512;
            unsigned used = 0;
            for (unsigned i = 0; i < n && i < t.entries.size(); ++i) used += t.entries[i] != 0;
            if (used != t.used) {
                Violation& v = add("I5", "descriptor counts " + std::to_string(t.used) + " used entries, the table has " +
                                             std::to_string(used));
                v.gva = t.base;
                v.gpa = t.table_gpa;
                v.level = t.level;
            }
        }
    }
};

}  // namespace

const char* check_mode_name(CheckMode m) { return m == CheckMode::Async ? "async" : "safepoint"; }

void add_violation(CheckResult& r, Violation v) {
    if (r.violations.size() >= kMaxViolations) {
        ++r.violations_dropped;
        return;
    }
    r.violations.push_back(std::move(v));
}

Result<CheckResult, std::string> check_mm(const CheckInput& in) {
    CheckResult r;
    Snapshot s;
    auto d = decode(in, s, r);
    if (!d.ok()) return Err{d.error()};
    Rules rules{in, s, r, {}, {}};
    rules.locks();
    rules.mappings();
    rules.ptes();
    rules.partition();
    rules.frames();
    rules.structure();
    r.stats.tables = s.tables.size();
    r.stats.ptes = s.leaves.size();
    r.stats.mappings = s.mappings.size();
    r.stats.free_ranges = s.free_ranges.size();
    r.stats.frames = s.frames.size();
    for (const LeafEntry& e : s.leaves)
        if (e.pte & kPresent) r.mapped_frames.push_back(e.pte & kAddrMask);
    std::sort(r.mapped_frames.begin(), r.mapped_frames.end());
    r.mapped_frames.erase(std::unique(r.mapped_frames.begin(), r.mapped_frames.end()), r.mapped_frames.end());
    r.frames = std::move(s.frames);
    return r;
}

}  // namespace gmm::check
