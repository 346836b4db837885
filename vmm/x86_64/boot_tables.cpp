#include "x86_64/boot_tables.h"

#include <cstdio>
#include <cstring>
#include <string>

namespace gmm::vmm::x86_64 {

namespace {

void put_u64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, sizeof v); }  // x86 is little-endian
void put_u16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, sizeof v); }

constexpr uint32_t kFlatLimit = 0xfffff;  // with G=1: 4 GiB

// Page-table indices of a canonical GVA.
constexpr uint64_t pml4_index(uint64_t gva) { return (gva >> 39) & 511; }
constexpr uint64_t pdpt_index(uint64_t gva) { return (gva >> 30) & 511; }
constexpr uint64_t pd_index(uint64_t gva) { return (gva >> 21) & 511; }

}  // namespace

uint64_t encode_segment_descriptor(uint32_t base, uint32_t limit_20bit, const SegmentAttributes& a) {
    const uint64_t limit = limit_20bit & 0xfffff;
    const uint64_t access = (uint64_t{a.present & 1u} << 7) | (uint64_t{a.dpl & 3u} << 5) |
                            (uint64_t{a.s & 1u} << 4) | (a.type & 0xfu);
    const uint64_t flags = (uint64_t{a.g & 1u} << 3) | (uint64_t{a.db & 1u} << 2) | (uint64_t{a.l & 1u} << 1);
    return (limit & 0xffff) | (uint64_t{base & 0xffffffu} << 16) | (access << 40) | ((limit >> 16) << 48) |
           (flags << 52) | (uint64_t{base >> 24} << 56);
}

uint64_t encode_code_segment(CodeMode mode, Privilege dpl) {
    SegmentAttributes a = mode == CodeMode::Long64 ? kKernelCode64Attrs : kUserCode32Attrs;
    a.dpl = static_cast<uint8_t>(dpl);
    return encode_segment_descriptor(0, kFlatLimit, a);
}

uint64_t encode_data_segment(Privilege dpl) {
    SegmentAttributes a = kKernelDataAttrs;
    a.dpl = static_cast<uint8_t>(dpl);
    return encode_segment_descriptor(0, kFlatLimit, a);
}

std::array<uint64_t, 2> encode_tss_descriptor(Gva base, uint32_t limit, TssState state) {
    SegmentAttributes a = kTssBusyAttrs;
    a.type = state == TssState::Busy ? kTypeTss64Busy : kTypeTss64Available;
    const uint64_t b = base.value();
    const uint64_t low = encode_segment_descriptor(static_cast<uint32_t>(b), limit, a);
    return {low, b >> 32};
}

std::array<uint8_t, kTssBytes> encode_tss(Gva rsp0, Gva ist1) {
    std::array<uint8_t, kTssBytes> t{};
    put_u64(t.data() + kTssOffsetRsp0, rsp0.value());
    put_u64(t.data() + kTssOffsetIst1, ist1.value());
    put_u16(t.data() + kTssOffsetIomapBase, kTssIomapBase);
    return t;
}

Result<std::vector<uint8_t>> build_gdt(uint32_t vcpus, Gva tss_array) {
    if (vcpus == 0 || vcpus > GMM_MAX_VCPUS)
        return Err{plain_error("GDT for " + std::to_string(vcpus) + " vCPUs: the count must be 1.." +
                               std::to_string(GMM_MAX_VCPUS))};
    Gva last_tss;
    if (!tss_array.checked_add(uint64_t{vcpus} * kTssSlotBytes, last_tss))
        return Err{plain_error("GDT: TSS array at GVA " + hex(tss_array.value()) + " wraps the address space")};

    std::vector<uint8_t> gdt(gdt_size_bytes(vcpus), 0);
    put_u64(&gdt[kSelKernelCs], encode_code_segment(CodeMode::Long64, Privilege::Kernel));
    put_u64(&gdt[kSelKernelDs], encode_data_segment(Privilege::Kernel));
    put_u64(&gdt[kGdtOffsetUserCs32], encode_code_segment(CodeMode::Compat32, Privilege::User));
    put_u64(&gdt[kSelUserDs & ~7u], encode_data_segment(Privilege::User));
    put_u64(&gdt[kSelUserCs & ~7u], encode_code_segment(CodeMode::Long64, Privilege::User));
    for (uint32_t cpu = 0; cpu < vcpus; ++cpu) {
        const auto d = encode_tss_descriptor(tss_array.plus(uint64_t{cpu} * kTssSlotBytes), kTssLimit, TssState::Busy);
        put_u64(&gdt[tss_selector(cpu)], d[0]);
        put_u64(&gdt[tss_selector(cpu) + 8u], d[1]);
    }
    return gdt;
}

Status write_gdt(GuestMemory& mem, Gpa gdt_gpa, uint32_t vcpus, Gva tss_array_gva) {
    auto gdt = build_gdt(vcpus, tss_array_gva);
    if (!gdt) return Err{gdt.error()};
    Status st = mem.write(gdt_gpa, *gdt);
    if (!st) return Err{plain_error("writing the GDT: " + st.error().what)};
    return Ok{};
}

Status write_tss(GuestMemory& mem, Gpa tss_gpa, Gva rsp0, Gva ist1) {
    const auto tss = encode_tss(rsp0, ist1);
    Status st = mem.write(tss_gpa, tss);
    if (!st) return Err{plain_error("writing a TSS: " + st.error().what)};
    return Ok{};
}

namespace {

// Hands out zeroed table pages from a host buffer that mirrors [at, at + max).
class TableArena {
public:
    TableArena(Gpa at, uint64_t max_bytes) : at_(at), max_pages_(max_bytes / kPageSize) {}
    // A fresh zeroed table page; false when out of room.
    bool alloc(uint64_t& page) {
        if (pages_ == max_pages_) return false;
        page = pages_++;
        bytes_.resize(pages_ * kPageSize, 0);
        return true;
    }
    Gpa gpa_of(uint64_t page) const { return at_.plus(page * kPageSize); }
    uint64_t get(uint64_t page, uint64_t index) const {
        uint64_t v;
        std::memcpy(&v, &bytes_[page * kPageSize + index * 8], 8);
        return v;
    }
    void set(uint64_t page, uint64_t index, uint64_t v) { put_u64(&bytes_[page * kPageSize + index * 8], v); }
    uint64_t pages() const { return pages_; }
    std::vector<uint8_t> take() { return std::move(bytes_); }

private:
    Gpa at_;
    uint64_t max_pages_;
    uint64_t pages_ = 0;
    std::vector<uint8_t> bytes_;
};

Error no_room(uint64_t max_bytes, uint64_t span_bytes) {
    return plain_error("kernel page tables for a " + hex(span_bytes) + "-byte GPA span do not fit in " +
                           std::to_string(max_bytes / 1024) + " KiB",
                       "use less guest RAM");
}

// Returns the page of the table that `parent_page[index]` points to, creating it.
bool child_table(TableArena& arena, uint64_t parent_page, uint64_t index, uint64_t& child_page) {
    const uint64_t e = arena.get(parent_page, index);
    if (e & kPteP) {
        child_page = ((e & kPteAddrMask) - arena.gpa_of(0).value()) / kPageSize;
        return true;
    }
    if (!arena.alloc(child_page)) return false;
    arena.set(parent_page, index, arena.gpa_of(child_page).value() | kKernelTableFlags);
    return true;
}

}  // namespace

Result<PageTableImage> build_kernel_page_tables(Gpa at, uint64_t max_bytes, const std::vector<MemorySlot>& slots,
                                                const std::vector<Gpa>& mmio_pages) {
    if (!at.is_aligned(kPageSize))
        return Err{plain_error("kernel page tables at GPA " + hex(at.value()) + " are not page-aligned")};
    if (slots.empty()) return Err{plain_error("kernel page tables: no RAM slots to map")};
    Gpa limit;
    if (!at.checked_add(max_bytes, limit))
        return Err{plain_error("kernel page tables at GPA " + hex(at.value()) + " + " + hex(max_bytes) + " wrap")};
    uint64_t span_end = 0;
    for (const MemorySlot& s : slots) {
        uint64_t end = 0;
        if (!s.gpa.is_aligned(kLargePageSize) || s.size_bytes == 0 || s.size_bytes % kLargePageSize != 0 ||
            __builtin_add_overflow(s.gpa.value(), s.size_bytes, &end))
            return Err{plain_error("RAM slot " + std::to_string(s.slot_id) + " [" + hex(s.gpa.value()) + ", +" +
                                   hex(s.size_bytes) + ") cannot be mapped with 2 MiB pages")};
        span_end = end > span_end ? end : span_end;
    }
    // The direct map owns PML4 slots 256..510 (511 is the kernel image).
    const uint64_t direct_map_limit = (511 - pml4_index(GMM_DIRECT_MAP_GVA)) << 39;
    if (span_end > direct_map_limit)
        return Err{plain_error("RAM ends at GPA " + hex(span_end) + ", beyond what the direct map can cover")};

    TableArena arena(at, max_bytes);
    uint64_t pml4 = 0, image_pdpt = 0, image_pd = 0;
    if (!arena.alloc(pml4) || !child_table(arena, pml4, pml4_index(GMM_KERNEL_IMAGE_GVA), image_pdpt) ||
        !child_table(arena, image_pdpt, pdpt_index(GMM_KERNEL_IMAGE_GVA), image_pd))
        return Err{no_room(max_bytes, span_end)};

    for (const MemorySlot& s : slots) {
        for (uint64_t off = 0; off < s.size_bytes; off += kLargePageSize) {
            const uint64_t gpa = s.gpa.value() + off;
            const uint64_t gva = GMM_DIRECT_MAP_GVA + gpa;
            uint64_t pdpt = 0, pd = 0;
            if (!child_table(arena, pml4, pml4_index(gva), pdpt) || !child_table(arena, pdpt, pdpt_index(gva), pd))
                return Err{no_room(max_bytes, span_end)};
            arena.set(pd, pd_index(gva), gpa | kDirectMapLeafFlags);
            if (gpa < kKernelImageMapBytes)
                arena.set(image_pd, pd_index(GMM_KERNEL_IMAGE_GVA + gpa), gpa | kKernelImageLeafFlags);
        }
    }
    for (Gpa page : mmio_pages) {
        if (!page.is_aligned(kLargePageSize) || page.value() < kMmioHoleStart || page.value() >= kMmioHoleEnd)
            return Err{plain_error("MMIO window at GPA " + hex(page.value()) + " is not a 2 MiB page in the MMIO hole")};
        const uint64_t gva = GMM_DIRECT_MAP_GVA + page.value();
        uint64_t pdpt = 0, pd = 0;
        if (!child_table(arena, pml4, pml4_index(gva), pdpt) || !child_table(arena, pdpt, pdpt_index(gva), pd))
            return Err{no_room(max_bytes, span_end)};
        arena.set(pd, pd_index(gva), page.value() | kMmioLeafFlags);
    }
    PageTableImage img;
    img.layout.pml4 = at;
    img.layout.size_bytes = arena.pages() * kPageSize;
    img.layout.end = at.plus(img.layout.size_bytes);
    img.bytes = arena.take();
    return img;
}

Result<KernelPageTables> write_kernel_page_tables(GuestMemory& mem, Gpa at, uint64_t max_bytes,
                                                  const std::vector<MemorySlot>& slots,
                                                  const std::vector<Gpa>& mmio_pages) {
    auto img = build_kernel_page_tables(at, max_bytes, slots, mmio_pages);
    if (!img) return Err{img.error()};
    Status st = mem.write(at, img->bytes);
    if (!st) return Err{plain_error("writing the kernel page tables: " + st.error().what)};
    return img->layout;
}

}  // namespace gmm::vmm::x86_64
