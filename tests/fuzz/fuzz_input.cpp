#include "fuzz_input.h"

#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

#include "gmm/abi/boot.h"
#include "synth_guest.h"
#include "walk.h"

namespace gmm::check::fuzz {

namespace {

using synth::kPage;

[[noreturn]] void broken(const std::string& what) {
    std::fprintf(stderr, "checker fuzz: property broken: %s\n", what.c_str());
    std::abort();
}

// Consumes the input front to back; reads past the end yield zeros.
struct Reader {
    const uint8_t* p;
    size_t n;
    bool empty() const { return n == 0; }
    uint64_t bytes(size_t k) {
        uint64_t v = 0;
        for (size_t i = 0; i < k; ++i) v |= uint64_t(u8()) << (8 * i);
        return v;
    }
    uint8_t u8() {
        if (n == 0) return 0;
        --n;
        return *p++;
    }
};

// The image lives right below a PROT_NONE guard page, with PROT_NONE below
// it too, and is read-only while the checker runs: a read outside it or any
// write to it faults, sanitizer or not.
class GuardedImage {
public:
    GuardedImage() {
        void* m = mmap(nullptr, (kMaxImagePages + 2) * kPage, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) broken("cannot map the image");
        base_ = static_cast<uint8_t*>(m);
    }
    uint8_t* open(uint64_t pages) {
        uint8_t* img = base_ + (1 + kMaxImagePages - pages) * kPage;
        protect(base_, uint64_t(img - base_), PROT_NONE);
        protect(img, pages * kPage, PROT_READ | PROT_WRITE);
        std::memset(img, 0, pages * kPage);
        return img;
    }
    void seal(uint8_t* img, uint64_t pages) { protect(img, pages * kPage, PROT_READ); }

private:
    static void protect(uint8_t* p, uint64_t n, int prot) {
        if (n && mprotect(p, n, prot) != 0) broken("mprotect failed");
    }
    uint8_t* base_;
};

synth::MappingSpec decode_mapping(Reader& in) {
    constexpr uint64_t kMiB2 = 2ull << 20, kGiB = 1ull << 30;
    const uint64_t slot = in.bytes(2);
    const uint8_t len = in.u8(), attrs = in.u8(), stride = in.u8(), extra = in.u8();
    synth::MappingSpec m;
    m.start = kGiB + slot * 0x10000;  // 1 GiB .. 5 GiB: a few upper-level tables
    m.length = (1 + uint64_t(len)) * kPage;
    if (extra & 0x80) {  // whole 2 MiB slots (or a whole 1 GiB one): hier records above the leaves
        m.start = (m.start + kMiB2 - 1) & ~(kMiB2 - 1);
        m.length = (1 + len % 4) * kMiB2;
        if (extra & 0x40) {
            m.start = (m.start + kGiB - 1) & ~(kGiB - 1);
            m.length = kGiB;
        }
    }
    m.prot = attrs & 7;
    m.shared = attrs & 8;
    m.file = (attrs >> 4) & 3;
    m.page_index = extra & 0x3f;
    m.fault_stride = stride % 8;
    return m;
}

synth::GuestSpec decode_spec(uint8_t flags, uint8_t vcpus, unsigned nmaps, Reader& in) {
    synth::GuestSpec spec;
    spec.policy = flags & kFlagExtents ? GMM_MM_POLICY_EXTENTS : GMM_MM_POLICY_GLOBAL;
    spec.placement = flags & kFlagHier ? GMM_MM_PLACEMENT_HIER : GMM_MM_PLACEMENT_LEAF;
    spec.freecache = flags & kFlagPerCpu ? GMM_MM_FREECACHE_PERCPU : GMM_MM_FREECACHE_NONE;
    spec.cpus = std::clamp<uint32_t>(vcpus, 1, GMM_MAX_VCPUS);
    spec.kernel_window = flags & kFlagKernelWindow;
    for (unsigned i = 0; i < nmaps; ++i) spec.mappings.push_back(decode_mapping(in));
    std::sort(spec.mappings.begin(), spec.mappings.end(),
              [](const synth::MappingSpec& a, const synth::MappingSpec& b) { return a.start < b.start; });
    // Overlapping ones are dropped: the builder makes consistent states only.
    std::vector<synth::MappingSpec> kept;
    for (const synth::MappingSpec& m : spec.mappings)
        if (kept.empty() || m.start >= kept.back().start + kept.back().length) kept.push_back(m);
    spec.mappings = kept;
    return spec;
}

// Applies one patch; the target positions come from the structures the builder wrote.
void apply_patch(uint8_t* img, uint64_t bytes, const std::vector<synth::Region>& objects, Reader& in) {
    auto at = [&](uint8_t obj, uint16_t off) {
        if (obj == kEndOfRam) return bytes - 1 - off % 128;  // where an off-by-a-few read would leave the image
        const synth::Region& r = objects[obj % objects.size()];
        return r.gpa + (off & kFieldOffset ? (off & ~kFieldOffset) * 8u : off) % r.bytes;
    };
    auto write = [&](uint64_t gpa, const void* v, size_t n) {
        if (gpa < bytes && n <= bytes - gpa) std::memcpy(img + gpa, v, n);
    };
    auto write64 = [&](uint64_t gpa, uint64_t v) { write(gpa, &v, 8); };
    const uint8_t op = in.u8() % kPatchOps;
    const uint8_t obj = in.u8();
    const uint64_t gpa = at(obj, uint16_t(in.bytes(2)));
    switch (op) {
    case kRaw: {
        uint8_t buf[16];
        const size_t n = in.u8() % 17;
        for (size_t i = 0; i < n; ++i) buf[i] = in.u8();
        write(gpa, buf, n);
        break;
    }
    case kDirectPtr:
    case kKernelPtr:
    case kPhysPtr: {
        const uint8_t tobj = in.u8();
        const uint64_t target = at(tobj, uint16_t(in.bytes(2)));
        write64(gpa, op == kDirectPtr ? GMM_DIRECT_MAP_GVA + target
                                      : op == kKernelPtr ? GMM_KERNEL_IMAGE_GVA + target : target);
        break;
    }
    case kFlipBit: {
        const uint8_t bit = in.u8() % 64;
        uint64_t v = 0;
        if (gpa < bytes && 8 <= bytes - gpa) std::memcpy(&v, img + gpa, 8);
        write64(gpa, v ^ (1ull << bit));
        break;
    }
    case kSelfPtr: write64(gpa, GMM_DIRECT_MAP_GVA + (obj == kEndOfRam ? gpa : objects[obj % objects.size()].gpa)); break;
    case kZero: write64(gpa, 0); break;
    case kValue: write64(gpa, in.bytes(8)); break;
    case kAdd16: {
        uint16_t v = 0;
        if (gpa < bytes && 2 <= bytes - gpa) std::memcpy(&v, img + gpa, 2);
        v = uint16_t(v + int8_t(in.u8()));
        write(gpa, &v, 2);
        break;
    }
    default: break;
    }
}

// Raw mode: the input is the image; the roots header at synth::kRootsGpa gets
// a valid magic, version and size, and its fields are folded into range so
// that decoding goes past the roots.
void raw_image(uint8_t* img, uint64_t pages, Reader in, bool tile) {
    const uint64_t bytes = pages * kPage;
    if (!in.empty()) {
        for (uint64_t at = 0; at < bytes; at += in.n) {
            std::memcpy(img + at, in.p, std::min<uint64_t>(in.n, bytes - at));
            if (!tile) break;
        }
    }
    gmm_mm_roots r;
    std::memcpy(&r, img + synth::kRootsGpa, sizeof r);
    r.magic = GMM_MM_ROOTS_MAGIC;
    r.version = GMM_MMSTATE_ABI_VERSION;
    r.size_bytes = sizeof r;
    r.policy %= 2;
    r.placement %= 2;
    r.freecache %= 2;
    r.user_start = (r.user_start % GMM_USER_TOP_GVA) & ~(kPage - 1);
    r.user_end = (r.user_end % GMM_USER_TOP_GVA) & ~(kPage - 1);
    if (r.user_start >= r.user_end) {
        r.user_start = synth::kUserStart;
        r.user_end = synth::kUserEnd;
    }
    auto fold = [&](uint64_t& v) {  // bit 0 picks the window; one in 16 lands in the last 128 bytes
        const uint64_t gpa = (v >> 1) % 16 ? (v >> 1) % bytes : bytes - 1 - (v >> 5) % 128;
        v = (v & 1) ? GMM_KERNEL_IMAGE_GVA + gpa : GMM_DIRECT_MAP_GVA + gpa;
    };
    for (uint64_t* v : {&r.root_desc_gva, &r.mm_lock_gva, &r.vma_root_slot_gva, &r.free_root_slot_gva,
                        &r.free_lock_gva, &r.busy_lock_gva, &r.busy_count_gva, &r.chunks_gva, &r.slab_lock_gva[0],
                        &r.slab_lock_gva[1], &r.frame_pool_lock_gva})
        fold(*v);
    r.chunk_count %= GMM_MAX_VCPUS + 1;
    r.chunk_stride_bytes = uint32_t(sizeof(gmm_free_chunk) + r.chunk_stride_bytes % 4065);
    r.frames_meta_gpa %= bytes;
    r.frames_meta_count %= 2 * pages + 1;  // a guest publishes one record per page: at most twice too many
    r.safepoint_gpa %= bytes;
    std::memcpy(img + synth::kRootsGpa, &r, sizeof r);
}

bool same(const CheckStats& a, const CheckStats& b) {
    return a.tables == b.tables && a.ptes == b.ptes && a.mappings == b.mappings && a.free_ranges == b.free_ranges &&
           a.frames == b.frames;
}

std::string stats_text(const CheckStats& s) {
    return "tables " + std::to_string(s.tables) + " ptes " + std::to_string(s.ptes) + " mappings " +
           std::to_string(s.mappings) + " free ranges " + std::to_string(s.free_ranges) + " frames " +
           std::to_string(s.frames);
}

// What holds for any result, whatever the image held.
void check_bounds(const CheckResult& a, uint64_t pages) {
    if (a.violations.size() > kMaxViolations) broken("more violations kept than kMaxViolations");
    for (const Violation& v : a.violations)
        if (v.invariant.size() != 2 || v.invariant[0] != 'I' || v.invariant[1] < '1' || v.invariant[1] > '8')
            broken("violation with invariant id '" + v.invariant + "'");
    if (a.stats.tables > pages) broken("more page tables than pages in the image: " + stats_text(a.stats));
    if (a.stats.ptes > a.stats.tables * 512) broken("more PTEs than table entries: " + stats_text(a.stats));
    if (a.stats.frames > pages * kPage / sizeof(gmm_frame_meta) || a.frames.size() != a.stats.frames)
        broken("frame records beyond the image: " + stats_text(a.stats));
    if (a.mapped_frames.size() > a.stats.ptes) broken("more mapped frames than PTEs");
    for (size_t i = 1; i < a.mapped_frames.size(); ++i)
        if (a.mapped_frames[i - 1] >= a.mapped_frames[i]) broken("mapped_frames not sorted and distinct");
}

void check_same(const CheckResult& a, const CheckResult& b) {
    if (a.violations.size() != b.violations.size() || a.violations_dropped != b.violations_dropped ||
        a.skipped.size() != b.skipped.size() || !same(a.stats, b.stats) || a.mapped_frames != b.mapped_frames)
        broken("two checks of the same image differ");
    for (size_t i = 0; i < a.violations.size(); ++i)
        if (a.violations[i].detail != b.violations[i].detail) broken("two checks of the same image differ");
}

}  // namespace

namespace {

GuardedImage& guarded_image() {
    static GuardedImage image;
    return image;
}

// Two checks of the sealed image with every property that holds for any input.
struct Checked {
    Outcome out;
    std::optional<CheckResult> result;  // the first check's, when the roots were usable
    std::string error;
};
Checked check_image(uint64_t pages, const CheckInput& ci) {
    Checked c;
    auto timed = [&] {
        const auto t0 = std::chrono::steady_clock::now();
        auto r = check_mm(ci);
        c.out.seconds =
            std::max(c.out.seconds, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        return r;
    };
    auto first = timed();
    const auto second = timed();
    if (first.ok() != second.ok()) broken("two checks of the same image differ");
    if (!first.ok()) {
        c.error = first.error();
        return c;
    }
    c.out.decoded = true;
    c.out.violations = first->violations.size() + first->violations_dropped;
    c.out.stats = first->stats;
    check_bounds(*first, pages);
    check_same(*first, *second);
    c.result = std::move(*first);
    return c;
}

}  // namespace

Outcome run_input(const uint8_t* data, size_t size) {
    GuardedImage& image = guarded_image();
    Reader in{data, size};
    const uint8_t flags = in.u8(), vcpus = in.u8();
    const uint64_t pages = 16 + in.u8() % (kMaxImagePages - 15);
    const unsigned nmaps = in.u8() % 9;
    const uint64_t raw_roots_gpa = in.bytes(8);
    const uint64_t walk_page = in.bytes(4);

    uint8_t* img = image.open(pages);
    bool clean_build = false;
    synth::BuiltGuest built;
    uint64_t walk_root = (walk_page >> 16) % pages * kPage;
    if (flags & kFlagRawImage) {
        raw_image(img, pages, in, flags & kFlagTile);
    } else {
        synth::GuestSpec spec = decode_spec(flags, vcpus, nmaps, in);
        built = synth::build_guest(img, pages, spec);
        walk_root = built.root_table_gpa;
        unsigned patches = 0;
        for (; !in.empty(); ++patches) apply_patch(img, pages * kPage, built.objects, in);
        clean_build = patches == 0 && !(flags & kFlagRawRootsGpa);
    }
    image.seal(img, pages);

    VmRamView view({{0, pages * kPage, img}});
    const CheckInput ci{&view, flags & kFlagRawRootsGpa ? raw_roots_gpa : synth::kRootsGpa,
                        flags & kFlagAsync ? CheckMode::Async : CheckMode::Safepoint, vcpus};
    Checked c = check_image(pages, ci);
    c.out.clean_build = clean_build;
    if (clean_build) {
        if (!c.result) broken("a consistent synthetic state was refused: " + c.error);
        for (const Violation& v : c.result->violations)
            std::fprintf(stderr, "  %s: %s [%s]\n", v.invariant.c_str(), v.detail.c_str(), v.mapping.c_str());
        if (!c.result->violations.empty()) broken("violations on a consistent synthetic state");
        if (!same(c.result->stats, built.expected))
            broken("a consistent synthetic state counted " + stats_text(c.result->stats) + ", built " +
                   stats_text(built.expected));
    }

    // The first-stage walk over the same memory (the mappings sit at 1..5 GiB).
    const WalkResult w = walk_gva(view, walk_root, (1ull << 30) + (walk_page & 0xfffff) * kPage);
    if (w.steps.size() > 4 || (w.mapped && w.steps.size() != 4)) broken("walk_gva took more than four steps");
    for (const WalkStep& step : w.steps)
        if (entry_flags(step.entry).empty()) broken("entry_flags gave nothing for an entry");
    return c.out;
}

Outcome run_crafted(Crafted which) {
    GuardedImage& image = guarded_image();
    const uint64_t pages = kMaxImagePages, bytes = pages * kPage;
    uint8_t* img = image.open(pages);
    // 100 leaf tables (one 200 MiB mapping, nothing faulted) in the low pages.
    synth::GuestSpec spec;
    spec.policy = GMM_MM_POLICY_EXTENTS;
    synth::MappingSpec m;
    m.start = 1ull << 30;
    m.length = 200ull << 20;
    m.fault_stride = 0;
    spec.mappings.push_back(m);
    const synth::BuiltGuest built = synth::build_guest(img, pages, spec);
    if (built.mappings_built != 1) broken("crafted image: the mapping does not fit");
    uint64_t chain = 0, chain_nodes = 0;
    if (which == Crafted::SharedExtentList) {
        // One extent list of 8-byte-spaced (overlapping) nodes, on every leaf table's list.
        for (const synth::Region& r : built.objects) chain = std::max(chain, r.gpa + r.bytes);
        chain = (chain + kPage - 1) & ~(kPage - 1);
        const uint64_t end = chain + 160 * 1024;
        if (end + 64 > bytes) broken("crafted image: no room for the extent chain");
        for (uint64_t x = chain; x < end; x += 8) {
            const uint64_t next = x + 8 < end ? GMM_DIRECT_MAP_GVA + x + 8 : 0;
            std::memcpy(img + x, &next, 8);
            ++chain_nodes;
        }
        for (const synth::Region& r : built.objects) {
            gmm_ptdesc d;
            if (r.bytes != sizeof d) continue;
            std::memcpy(&d, img + r.gpa, sizeof d);
            if (d.level != 1) continue;
            d.extents = GMM_DIRECT_MAP_GVA + chain;
            std::memcpy(img + r.gpa, &d, sizeof d);
        }
    } else {
        // Roots claiming one frame record per 8 bytes of RAM.
        gmm_mm_roots r;
        std::memcpy(&r, img + built.roots_gpa, sizeof r);
        r.frames_meta_gpa = 0;
        r.frames_meta_count = bytes / sizeof(gmm_frame_meta);
        std::memcpy(img + built.roots_gpa, &r, sizeof r);
    }
    image.seal(img, pages);
    VmRamView view({{0, bytes, img}});
    Checked c = check_image(pages, CheckInput{&view, built.roots_gpa, CheckMode::Safepoint, 2});
    if (!c.result) broken("crafted image refused: " + c.error);
    if (which == Crafted::SharedExtentList && c.result->stats.mappings > chain_nodes)
        broken("a shared extent list was decoded more than once: " + stats_text(c.result->stats));
    if (which == Crafted::FrameArrayLargerThanRam && c.result->stats.frames != 0)
        broken("a frame array with more records than RAM has pages was read: " + stats_text(c.result->stats));
    if (c.result->violations.empty()) broken("a crafted corruption was not flagged");
    return c.out;
}

std::vector<uint8_t> random_input(std::mt19937_64& rng, InputKind kind) {
    auto byte = [&] { return uint8_t(rng()); };
    std::vector<uint8_t> v(kHeaderBytes);
    for (uint8_t& b : v) b = byte();
    uint8_t& flags = v[0];
    if (kind == InputKind::AnyBytes) {
        v.resize(kHeaderBytes + rng() % 512);
        for (size_t i = kHeaderBytes; i < v.size(); ++i) v[i] = byte();
        return v;
    }
    if (kind == InputKind::RawImage) {
        flags = uint8_t((flags | kFlagRawImage) & ~kFlagRawRootsGpa);
        v.resize(kHeaderBytes + 256 + rng() % 4096);
        for (size_t i = kHeaderBytes; i < v.size(); ++i) v[i] = rng() % 4 ? 0 : byte();  // mostly zeros, like RAM
        return v;
    }
    flags = uint8_t(flags & ~(kFlagRawImage | kFlagRawRootsGpa));
    v[1] = uint8_t(1 + rng() % 8);  // vCPUs
    v[3] = uint8_t(1 + rng() % 8);  // mappings
    for (unsigned i = 0; i < v[3]; ++i) {
        const uint8_t m[kMappingBytes] = {byte(), uint8_t(rng() % 8), uint8_t(rng() % 4 ? rng() % 32 : byte()), byte(),
                                          uint8_t(rng() % 4 ? 1 : byte()),
                                          uint8_t(rng() % 3 ? byte() & 0x3f : byte())};
        v.insert(v.end(), m, m + kMappingBytes);
    }
    if (kind == InputKind::CorruptedBuild) {
        const size_t n = 1 + rng() % 6;
        for (size_t i = 0; i < n; ++i) {
            const uint8_t op = uint8_t(rng() % kPatchOps);
            auto object = [&] { return uint8_t(rng() % 8 ? byte() : kEndOfRam); };
            auto offset = [&] {  // mostly a whole field
                const uint16_t off = rng() % 4 ? uint16_t(kFieldOffset | rng() % 12) : uint16_t(rng());
                v.insert(v.end(), {uint8_t(off), uint8_t(off >> 8)});
            };
            v.insert(v.end(), {op, object()});
            offset();
            if (op >= kDirectPtr && op <= kPhysPtr) {
                v.push_back(object());
                offset();
                continue;
            }
            const size_t extra = op == kRaw ? 1 + rng() % 9 : op == kValue ? 8 : op == kZero || op == kSelfPtr ? 0 : 1;
            for (size_t k = 0; k < extra; ++k) v.push_back(byte());
        }
    }
    return v;
}

}  // namespace gmm::check::fuzz
