#include "synth_guest.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>

#include "gmm/abi/boot.h"
#include "gmm/abi/frames.h"

namespace gmm::check::synth {

namespace {

constexpr uint64_t kPresent = 1, kWrite = 2, kUser = 4, kAccessed = 1u << 5, kDirty = 1u << 6;
constexpr uint64_t kOwned = 1u << 9, kParked = 1u << 10, kNoExec = 1ull << 63;
constexpr uint64_t kTableFlags = kPresent | kWrite | kUser;
constexpr uint64_t kLargeSlot = 128;  // descriptors and VMAs (guestmm's large slab)
constexpr uint64_t kSmallSlot = 64;   // extents, free-range nodes, file objects
constexpr uint64_t kChunkStride = 64;
constexpr uint64_t kFixedPages = 3;  // 0: never used, 1: roots, safepoint, locks, 2: free chunks
// Inside page 1.
constexpr uint64_t kSafepointGpa = kRootsGpa + 0x100;
constexpr uint64_t kMmLockGpa = kRootsGpa + 0x400;
constexpr uint64_t kFreeLockGpa = kRootsGpa + 0x420;
constexpr uint64_t kBusyLockGpa = kRootsGpa + 0x440;
constexpr uint64_t kBusyCountGpa = kRootsGpa + 0x460;
constexpr uint64_t kSlabLockGpa[2] = {kRootsGpa + 0x480, kRootsGpa + 0x4a0};
constexpr uint64_t kFramePoolLockGpa = kRootsGpa + 0x4c0;
constexpr uint64_t kVmaRootSlotGpa = kRootsGpa + 0x4e0;
constexpr uint64_t kFreeRootSlotGpa = kRootsGpa + 0x4e8;
constexpr uint64_t kChunksGpa = 2 * kPage;

uint64_t slot_bytes(int level) { return 1ull << (12 + 9 * (level - 1)); }
uint64_t window_bytes(int level) { return 1ull << (12 + 9 * level); }
uint64_t div_up(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

using TableKey = std::pair<int, uint64_t>;  // level, base

struct Fragment {  // one extent record (extents policy)
    TableKey table;
    uint64_t start, end;
    size_t mapping;
};

// What the state will hold, before a byte is written.
struct Plan {
    std::vector<MappingSpec> maps;
    std::vector<Fragment> frags;
    std::map<TableKey, int> tables;
    std::vector<std::pair<uint64_t, size_t>> leaves;  // va, mapping
    std::vector<std::pair<uint64_t, uint64_t>> free_ranges;
    uint64_t data_frames = 0;
    uint64_t free_top = kUserEnd;  // the tree covers up to here; per-CPU chunks above
};

void add_path(Plan& p, int level, uint64_t va) {
    for (int l = 4; l >= level; --l) p.tables.emplace(TableKey{l, va & ~(window_bytes(l) - 1)}, 0);
}

// Leaf placement: one record per 2 MiB window. Hier: slot-aligned whole
// 1 GiB / 2 MiB pieces go to the L3 / L2 table.
void plan_fragments(Plan& p, bool hier, size_t mi) {
    const MappingSpec& m = p.maps[mi];
    const uint64_t e = m.start + m.length;
    for (uint64_t s = m.start; s < e;) {
        int level = 1;
        for (int l = 3; hier && l >= 2 && level == 1; --l)
            if (s % slot_bytes(l) == 0 && e - s >= slot_bytes(l)) level = l;
        const uint64_t base = s & ~(window_bytes(level) - 1);
        uint64_t end = std::min(e, base + window_bytes(level));
        if (level > 1) end = std::min(end, e & ~(slot_bytes(level) - 1));
        p.frags.push_back({{level, base}, s, end, mi});
        add_path(p, level, s);
        s = end;
    }
}

Plan make_plan(const GuestSpec& spec, const std::vector<MappingSpec>& maps) {
    Plan p;
    p.maps = maps;
    add_path(p, 4, 0);
    std::map<std::pair<uint32_t, uint64_t>, int> file_pages;
    for (size_t mi = 0; mi < p.maps.size(); ++mi) {
        const MappingSpec& m = p.maps[mi];
        if (spec.policy == GMM_MM_POLICY_EXTENTS) plan_fragments(p, spec.placement == GMM_MM_PLACEMENT_HIER, mi);
        for (uint64_t va = m.start; m.fault_stride && va < m.start + m.length; va += m.fault_stride * kPage) {
            p.leaves.push_back({va, mi});
            add_path(p, 1, va);
            if (!m.file) ++p.data_frames;
            else file_pages.emplace(std::pair{m.file, m.page_index + (va - m.start) / kPage}, 0);
        }
    }
    p.data_frames += file_pages.size();
    if (spec.freecache == GMM_MM_FREECACHE_PERCPU) p.free_top = kUserEnd - spec.cpus * kChunkBytes;
    uint64_t at = kUserStart;
    for (const MappingSpec& m : p.maps) {
        if (m.start > at) p.free_ranges.push_back({at, m.start});
        at = m.start + m.length;
    }
    if (at < p.free_top) p.free_ranges.push_back({at, p.free_top});
    return p;
}

uint64_t pages_needed(const Plan& p, const GuestSpec& spec, uint64_t meta_pages) {
    uint64_t upper = 0;
    for (const auto& [key, unused] : p.tables) upper += key.first >= 2;
    const uint64_t vmas = spec.policy == GMM_MM_POLICY_GLOBAL ? p.maps.size() : 0;
    std::vector<uint32_t> ids;
    for (const MappingSpec& m : p.maps)
        if (m.file) ids.push_back(m.file);
    std::sort(ids.begin(), ids.end());
    const uint64_t files = uint64_t(std::unique(ids.begin(), ids.end()) - ids.begin());  // one object each
    return kFixedPages + meta_pages + p.tables.size() + upper + div_up(p.tables.size() + vmas, kPage / kLargeSlot) +
           div_up(p.frags.size() + p.free_ranges.size() + files, kPage / kSmallSlot) + p.data_frames;
}

bool valid_mappings(const std::vector<MappingSpec>& maps) {
    uint64_t at = kUserStart;
    for (const MappingSpec& m : maps) {
        if (m.start < at || m.start >= kMappableEnd || m.length == 0 || ((m.start | m.length) % kPage) ||
            m.length > kMappableEnd - m.start ||
            m.prot > 7)
            return false;
        at = m.start + m.length;
    }
    return true;
}

struct Writer {
    uint8_t* image;
    uint64_t pages;
    const GuestSpec& spec;
    BuiltGuest& out;
    uint64_t next_page = 0;
    uint16_t alloc_seq = 1;
    struct Slab {
        uint64_t slot_bytes, page = 0, used = 0;
    } large{kLargeSlot, 0, kPage / kLargeSlot}, small{kSmallSlot, 0, kPage / kSmallSlot};

    template <typename T>
    void put(uint64_t gpa, const T& v) {
        if (gpa + sizeof v > pages * kPage) {
            std::fprintf(stderr, "synth_guest: write at GPA 0x%llx beyond the image\n", (unsigned long long)gpa);
            std::abort();  // a builder bug: pages_needed() undercounted
        }
        std::memcpy(image + gpa, &v, sizeof v);
    }
    template <typename T>
    T get(uint64_t gpa) const {
        T v;
        std::memcpy(&v, image + gpa, sizeof v);
        return v;
    }
    uint64_t gva(uint64_t gpa) const {
        return spec.kernel_window && gpa < (1ull << 30) ? GMM_KERNEL_IMAGE_GVA + gpa : GMM_DIRECT_MAP_GVA + gpa;
    }
    uint64_t meta_gpa() const { return kFixedPages * kPage; }
    void set_frame(uint64_t gpa, gmm_frame_meta f) { put(meta_gpa() + gpa / kPage * sizeof f, f); }
    uint64_t page(uint8_t flags, bool object = true) {
        const uint64_t gpa = next_page++ * kPage;
        set_frame(gpa, {GMM_FRAME_ALLOCATED, flags, 0, 1, alloc_seq++});
        if (object) out.objects.push_back({gpa, kPage});
        return gpa;
    }
    uint64_t slot(Slab& s, uint64_t bytes) {
        if (s.used == kPage / s.slot_bytes) {
            s.page = page(GMM_FRAME_F_MM_META, false);
            s.used = 0;
        }
        const uint64_t gpa = s.page + s.used++ * s.slot_bytes;
        out.objects.push_back({gpa, bytes});
        return gpa;
    }
    gmm_ticket_lock free_lock(uint32_t k) const {
        gmm_ticket_lock l{};
        k &= 0x7fff;
        l.word = (k << 16) | k;  // next ticket == now serving: free
        l.last_cpu = uint8_t(k % spec.cpus);
        l.lock_class = uint8_t(k);
        return l;
    }
};

struct TableOut {
    uint64_t desc = 0, table = 0, children = 0, extents = 0;
};

// A balanced binary search tree over items[lo, hi) (VMAs or free ranges); returns the root's GVA.
template <typename Node, typename Fill>
uint64_t write_tree(Writer& w, size_t lo, size_t hi, uint32_t prio, uint64_t* max_len, Fill&& fill) {
    *max_len = 0;
    if (lo >= hi) return 0;
    const size_t mid = lo + (hi - lo) / 2;
    const uint64_t gpa = w.slot(sizeof(Node) > kSmallSlot ? w.large : w.small, sizeof(Node));
    Node n{};
    uint64_t left_max = 0, right_max = 0;
    n.left = write_tree<Node>(w, lo, mid, prio - 1, &left_max, fill);
    n.right = write_tree<Node>(w, mid + 1, hi, prio - 1, &right_max, fill);
    n.prio = prio;
    fill(n, mid);
    n.max_len = std::max({n.end - n.start, left_max, right_max});
    *max_len = n.max_len;
    w.put(gpa, n);
    return w.gva(gpa);
}

}  // namespace

BuiltGuest build_guest(uint8_t* image, uint64_t pages, const GuestSpec& spec_in) {
    GuestSpec spec = spec_in;
    spec.cpus = std::clamp<uint32_t>(spec.cpus, 1, GMM_MAX_VCPUS);
    BuiltGuest out;
    // Greedy: each valid mapping is kept if the state still fits in the image.
    const uint64_t meta_pages = div_up(pages * sizeof(gmm_frame_meta), kPage);
    std::vector<MappingSpec> maps;
    Plan plan = make_plan(spec, maps);
    for (const MappingSpec& m : spec.mappings) {
        maps.push_back(m);
        // Each faulted page of one mapping has a frame of its own: a cheap first test.
        const uint64_t leaves = m.fault_stride ? div_up(m.length / kPage, m.fault_stride) : 0;
        if (!valid_mappings(maps) || leaves > pages) {
            maps.pop_back();
            continue;
        }
        Plan bigger = make_plan(spec, maps);
        if (pages_needed(bigger, spec, meta_pages) > pages) maps.pop_back();
        else plan = std::move(bigger);
    }
    if (pages_needed(plan, spec, meta_pages) > pages) {
        std::fprintf(stderr, "synth_guest: %llu pages cannot hold even an empty address space\n",
                     (unsigned long long)pages);
        std::abort();
    }
    out.mappings_built = maps.size();

    Writer w{image, pages, spec, out};
    w.next_page = kFixedPages + meta_pages;
    const uint64_t managed_gpa = w.next_page * kPage;

    // Page tables: a table page, a child array (levels 2-4) and a descriptor each.
    std::map<TableKey, TableOut> tables;
    for (const auto& [key, unused] : plan.tables) {
        TableOut t;
        t.table = w.page(GMM_FRAME_F_PAGE_TABLE);
        if (key.first >= 2) t.children = w.page(GMM_FRAME_F_MM_META);
        t.desc = w.slot(w.large, sizeof(gmm_ptdesc));
        tables[key] = t;
    }
    out.root_table_gpa = tables.at({4, 0}).table;
    for (const auto& [key, t] : tables) {
        if (key.first == 4) continue;
        const TableKey parent{key.first + 1, key.second & ~(window_bytes(key.first + 1) - 1)};
        const uint64_t i = (key.second >> (12 + 9 * key.first)) & 511;
        const TableOut& pt = tables.at(parent);
        w.put(pt.table + i * 8, t.table | kTableFlags | (i % 3 ? kAccessed : 0));
        w.put(pt.children + i * 8, w.gva(t.desc));
    }

    // Leaf entries and the frames behind them.
    std::map<std::pair<uint32_t, uint64_t>, uint64_t> file_frames;
    for (const auto& [va, mi] : plan.leaves) {
        const MappingSpec& m = plan.maps[mi];
        const bool owned = m.file == 0;
        uint64_t frame;
        if (owned) {
            frame = w.page(0, false);
        } else {
            auto [it, fresh] = file_frames.emplace(std::pair{m.file, m.page_index + (va - m.start) / kPage}, 0);
            if (fresh) it->second = w.page(0, false);
            frame = it->second;
        }
        auto meta = w.get<gmm_frame_meta>(w.meta_gpa() + frame / kPage * sizeof(gmm_frame_meta));
        ++meta.mapcount;
        w.set_frame(frame, meta);
        uint64_t e = frame | (owned ? kOwned : 0);
        if (m.prot == 0) {
            e |= kParked;
        } else {
            e |= kPresent | kUser | kAccessed;
            if (!(m.prot & 4)) e |= kNoExec;
            if ((m.prot & 2) && (owned || m.shared)) e |= kWrite | kDirty;
        }
        w.put(tables.at({1, va & ~(window_bytes(1) - 1)}).table + ((va >> 12) & 511) * 8, e);
    }

    // File objects: what extents and VMAs point at (the checker never reads them).
    std::map<uint32_t, uint64_t> file_objects;
    auto object_of = [&](const MappingSpec& m) -> uint64_t {
        if (!m.file) return 0;
        auto [it, fresh] = file_objects.emplace(m.file, 0);
        if (fresh) it->second = w.gva(w.slot(w.small, kSmallSlot));
        return it->second;
    };
    auto page_index_at = [&](const MappingSpec& m, uint64_t va) {
        return m.file ? m.page_index + (va - m.start) / kPage : 0;
    };

    // Extents: per table, a list sorted by start (fragments come in address order).
    if (spec.policy == GMM_MM_POLICY_EXTENTS) {
        std::map<TableKey, std::vector<const Fragment*>> per_table;
        for (const Fragment& f : plan.frags) per_table[f.table].push_back(&f);
        for (auto& [key, list] : per_table) {
            uint64_t next = 0;
            for (auto it = list.rbegin(); it != list.rend(); ++it) {
                const Fragment& f = **it;
                const MappingSpec& m = plan.maps[f.mapping];
                gmm_extent x{};
                x.next = next;
                x.start = f.start;
                x.end = f.end;
                x.object = object_of(m);
                x.page_index = page_index_at(m, f.start);
                x.generation = f.mapping + 1;
                x.prot = m.prot;
                x.shared = m.shared;
                const uint64_t gpa = w.slot(w.small, sizeof x);
                w.put(gpa, x);
                next = w.gva(gpa);
            }
            tables.at(key).extents = next;
        }
    }

    // Descriptors, now that the entries are in place.
    uint32_t k = 1;
    for (const auto& [key, t] : tables) {
        gmm_ptdesc d{};
        d.ptl = w.free_lock(k++);
        d.level = uint8_t(key.first);
        const unsigned n = key.first == 4 ? 256 : 512;
        for (unsigned i = 0; i < n; ++i) d.used += w.get<uint64_t>(t.table + i * 8) != 0;
        d.base = key.second;
        d.table_phys = t.table;
        d.table = w.gva(t.table);
        d.children = t.children ? w.gva(t.children) : 0;
        d.children_phys = t.children;
        d.extents = t.extents;
        d.generation = k;
        w.put(t.desc, d);
    }

    // VMA tree (global policy) and free-range tree.
    uint64_t max_len = 0;
    uint64_t vma_root = 0;
    if (spec.policy == GMM_MM_POLICY_GLOBAL)
        vma_root = write_tree<gmm_vma>(w, 0, plan.maps.size(), 1000, &max_len, [&](gmm_vma& v, size_t i) {
            const MappingSpec& m = plan.maps[i];
            v.start = m.start;
            v.end = m.start + m.length;
            v.prot = m.prot;
            v.shared = m.shared;
            v.object = object_of(m);
            v.page_index = page_index_at(m, m.start);
            v.generation = i + 1;
        });
    const uint64_t free_root = write_tree<gmm_free_node>(w, 0, plan.free_ranges.size(), 1000, &max_len,
                                                         [&](gmm_free_node& n, size_t i) {
                                                             n.start = plan.free_ranges[i].first;
                                                             n.end = plan.free_ranges[i].second;
                                                         });
    w.put(kVmaRootSlotGpa, vma_root);
    w.put(kFreeRootSlotGpa, free_root);

    // Per-CPU free chunks: the top of the user range, one MiB per vCPU (percpu).
    uint64_t chunks_used = 0;
    for (uint32_t i = 0; i < GMM_MAX_VCPUS; ++i) {
        gmm_free_chunk c{};
        c.lock = w.free_lock(i + 7);
        if (spec.freecache == GMM_MM_FREECACHE_PERCPU && i < spec.cpus) {
            c.cur = plan.free_top + i * kChunkBytes;
            c.end = c.cur + kChunkBytes;
            ++chunks_used;
        }
        w.put(kChunksGpa + i * kChunkStride, c);
    }
    out.objects.push_back({kChunksGpa, GMM_MAX_VCPUS * kChunkStride});

    // Locks, all free.
    gmm_rw_lock mm{};
    mm.gate = w.free_lock(3);
    w.put(kMmLockGpa, mm);
    w.put(kFreeLockGpa, w.free_lock(4));
    w.put(kBusyLockGpa, w.free_lock(5));
    w.put(kBusyCountGpa, uint32_t(0));
    w.put(kSlabLockGpa[0], w.free_lock(6));
    w.put(kSlabLockGpa[1], w.free_lock(7));
    w.put(kFramePoolLockGpa, uint32_t(0));
    for (uint64_t gpa : {kMmLockGpa, kFreeLockGpa, kBusyLockGpa, kBusyCountGpa, kSlabLockGpa[0], kSlabLockGpa[1],
                         kFramePoolLockGpa, kVmaRootSlotGpa, kFreeRootSlotGpa})
        out.objects.push_back({gpa, 8});

    gmm_safepoint sp{};
    sp.request_seq = sp.release_seq = 5;
    sp.checks_done = 4;
    for (uint32_t c = 0; c < spec.cpus; ++c) sp.parked_seq[c] = 5;
    w.put(kSafepointGpa, sp);
    out.objects.push_back({kSafepointGpa, sizeof sp});

    gmm_mm_roots r{};
    r.magic = GMM_MM_ROOTS_MAGIC;
    r.version = GMM_MMSTATE_ABI_VERSION;
    r.size_bytes = sizeof r;
    r.policy = spec.policy;
    r.placement = spec.placement;
    r.freecache = spec.freecache;
    r.cpu_count = spec.cpus;
    r.user_start = kUserStart;
    r.user_end = kUserEnd;
    r.root_desc_gva = w.gva(tables.at({4, 0}).desc);
    r.mm_lock_gva = w.gva(kMmLockGpa);
    r.vma_root_slot_gva = w.gva(kVmaRootSlotGpa);
    r.free_root_slot_gva = w.gva(kFreeRootSlotGpa);
    r.free_lock_gva = w.gva(kFreeLockGpa);
    r.busy_lock_gva = w.gva(kBusyLockGpa);
    r.busy_count_gva = w.gva(kBusyCountGpa);
    r.chunks_gva = w.gva(kChunksGpa);
    r.chunk_stride_bytes = kChunkStride;
    r.chunk_count = GMM_MAX_VCPUS;
    r.slab_lock_gva[0] = w.gva(kSlabLockGpa[0]);
    r.slab_lock_gva[1] = w.gva(kSlabLockGpa[1]);
    r.frame_pool_lock_gva = w.gva(kFramePoolLockGpa);
    r.frames_meta_gpa = w.meta_gpa();
    r.frames_meta_count = pages;
    r.frames_managed_gpa = managed_gpa;
    r.safepoint_gpa = kSafepointGpa;
    w.put(kRootsGpa, r);
    // Small, dense structures first: the fuzz target picks corruption targets by index.
    out.objects.insert(out.objects.begin(), Region{kRootsGpa, sizeof r});
    out.objects.push_back({w.meta_gpa(), pages * sizeof(gmm_frame_meta)});

    out.expected.tables = tables.size();
    out.expected.ptes = plan.leaves.size();
    out.expected.mappings = spec.policy == GMM_MM_POLICY_GLOBAL ? plan.maps.size() : plan.frags.size();
    out.expected.free_ranges = plan.free_ranges.size() + chunks_used;
    out.expected.frames = pages;
    return out;
}

}  // namespace gmm::check::synth
