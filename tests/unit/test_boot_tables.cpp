// GDT, TSS and kernel page tables, byte for byte against hand-computed
// Intel SDM encodings (vol. 3A 3.4.5 segment descriptors, 7.2.3 TSS descriptor,
// 7.7 64-bit TSS, 4.5 4-level paging).
#include <catch2/catch.hpp>

#include <cstring>

#include "x86_64/boot_tables.h"

using namespace gmm;
using namespace gmm::vmm;
using namespace gmm::vmm::x86_64;

namespace {
uint64_t u64_at(const std::vector<uint8_t>& b, uint64_t off) {
    uint64_t v;
    std::memcpy(&v, b.data() + off, 8);
    return v;
}
uint64_t entry(const PageTableImage& img, uint64_t table_gpa, uint64_t index) {
    return u64_at(img.bytes, table_gpa - img.layout.pml4.value() + index * 8);
}
constexpr uint64_t kMiB = 1ull << 20, kGiB = 1ull << 30;
}  // namespace

TEST_CASE("code and data descriptors match the Linux GDT encodings", "[boot_tables]") {
    CHECK(encode_code_segment(CodeMode::Long64, Privilege::Kernel) == 0x00af9b000000ffffull);
    CHECK(encode_data_segment(Privilege::Kernel) == 0x00cf93000000ffffull);
    CHECK(encode_code_segment(CodeMode::Compat32, Privilege::User) == 0x00cffb000000ffffull);
    CHECK(encode_data_segment(Privilege::User) == 0x00cff3000000ffffull);
    CHECK(encode_code_segment(CodeMode::Long64, Privilege::User) == 0x00affb000000ffffull);
}

TEST_CASE("segment descriptor places every base and limit bit", "[boot_tables]") {
    const SegmentAttributes a{0x3, 1, 0, 1, 0, 1, 0};
    // base 0xAABBCCDD, limit 0x5EEFF, access 0x93, flags D=1 -> 0x4.
    CHECK(encode_segment_descriptor(0xAABBCCDDu, 0x5EEFFu, a) == 0xAA4593BBCCDDEEFFull);
}

TEST_CASE("TSS descriptor splits a 64-bit base over both quadwords", "[boot_tables]") {
    const auto busy = encode_tss_descriptor(Gva(0xffff800012345678ull), 103, TssState::Busy);
    CHECK(busy[0] == 0x12008b3456780067ull);
    CHECK(busy[1] == 0x00000000ffff8000ull);
    const auto avail = encode_tss_descriptor(Gva(0xffff800012345678ull), 103, TssState::Available);
    CHECK(avail[0] == 0x1200893456780067ull);
}

TEST_CASE("TSS holds RSP0, IST1 and an I/O map base past its limit", "[boot_tables]") {
    const auto t = encode_tss(Gva(0xffff800000123000ull), Gva(0xffff800000456000ull));
    std::array<uint8_t, 104> want{};
    const uint8_t rsp0[8] = {0x00, 0x30, 0x12, 0x00, 0x00, 0x80, 0xff, 0xff};
    const uint8_t ist1[8] = {0x00, 0x60, 0x45, 0x00, 0x00, 0x80, 0xff, 0xff};
    std::memcpy(&want[4], rsp0, 8);
    std::memcpy(&want[36], ist1, 8);
    want[102] = 104;
    want[103] = 0;
    CHECK(t == want);
}

TEST_CASE("GDT has the Linux layout and one busy TSS descriptor per vCPU", "[boot_tables]") {
    const Gva tss_array(0xffff800000003000ull);
    auto gdt = build_gdt(3, tss_array);
    REQUIRE(gdt.ok());
    REQUIRE(gdt->size() == 0x40 + 3 * 16);
    CHECK(gdt_limit(3) == 0x40 + 3 * 16 - 1);
    CHECK(u64_at(*gdt, 0x00) == 0);
    CHECK(u64_at(*gdt, 0x08) == 0);
    CHECK(u64_at(*gdt, 0x10) == 0x00af9b000000ffffull);
    CHECK(u64_at(*gdt, 0x18) == 0x00cf93000000ffffull);
    CHECK(u64_at(*gdt, 0x20) == 0x00cffb000000ffffull);
    CHECK(u64_at(*gdt, 0x28) == 0x00cff3000000ffffull);
    CHECK(u64_at(*gdt, 0x30) == 0x00affb000000ffffull);
    CHECK(u64_at(*gdt, 0x38) == 0);
    // cpu 2: TSS at 0xffff800000003100.
    CHECK(u64_at(*gdt, 0x60) == 0x00008b0031000067ull);
    CHECK(u64_at(*gdt, 0x68) == 0x00000000ffff8000ull);
    CHECK(u64_at(*gdt, 0x40) == 0x00008b0030000067ull);
    CHECK(tss_selector(2) == 0x60);
}

TEST_CASE("GDT refuses zero or too many vCPUs", "[boot_tables]") {
    CHECK_FALSE(build_gdt(0, Gva(0x3000)).ok());
    CHECK_FALSE(build_gdt(GMM_MAX_VCPUS + 1, Gva(0x3000)).ok());
    CHECK(build_gdt(GMM_MAX_VCPUS, Gva(0x3000)).ok());
    CHECK(gdt_size_bytes(GMM_MAX_VCPUS) <= 4096);
}

TEST_CASE("KVM segment attributes agree with the encoded descriptors", "[boot_tables]") {
    // Re-encode from the attribute structs the lead hands to KVM.
    CHECK(encode_segment_descriptor(0, 0xfffff, kKernelCode64Attrs) == 0x00af9b000000ffffull);
    CHECK(encode_segment_descriptor(0, 0xfffff, kKernelDataAttrs) == 0x00cf93000000ffffull);
    CHECK(encode_segment_descriptor(0, 0xfffff, kUserDataAttrs) == 0x00cff3000000ffffull);
    CHECK(encode_segment_descriptor(0, 0xfffff, kUserCode64Attrs) == 0x00affb000000ffffull);
    CHECK(kTssBusyAttrs.type == 0xb);
    CHECK(kTssBusyAttrs.s == 0);
}

TEST_CASE("write_gdt and write_tss land at their GPAs and refuse addresses outside RAM", "[boot_tables]") {
    auto mem = GuestMemory::create(16 * kMiB);
    REQUIRE(mem.ok());
    REQUIRE(write_gdt(*mem, Gpa(0x2000), 2, Gva(GMM_DIRECT_MAP_GVA + 0x3000)).ok());
    CHECK(mem->read_u64(Gpa(0x2010)).value() == 0x00af9b000000ffffull);
    CHECK(mem->read_u64(Gpa(0x2050)).value() == 0x00008b0030800067ull);
    REQUIRE(write_tss(*mem, Gpa(0x3080), Gva(0x1111000), Gva(0x2222000)).ok());
    CHECK(mem->read_u64(Gpa(0x3084)).value() == 0x1111000);
    CHECK(mem->read_u64(Gpa(0x30a4)).value() == 0x2222000);
    CHECK_FALSE(write_gdt(*mem, Gpa(16 * kMiB - 8), 1, Gva(0)).ok());
    CHECK_FALSE(write_tss(*mem, Gpa(16 * kMiB - 100), Gva(0), Gva(0)).ok());
}

TEST_CASE("page tables for 16 MiB map the direct map and the kernel image with 2 MiB pages", "[boot_tables]") {
    auto img = build_kernel_page_tables(Gpa(0x10000), 960 * 1024, ram_layout(16 * kMiB));
    REQUIRE(img.ok());
    CHECK(img->layout.pml4 == Gpa(0x10000));
    CHECK(img->layout.size_bytes == 5 * 4096);
    CHECK(img->layout.end == Gpa(0x15000));
    REQUIRE(img->bytes.size() == 5 * 4096);
    // PML4: only 256 (direct map) and 511 (kernel image); P|RW|A, supervisor.
    for (uint64_t i = 0; i < 512; ++i) {
        const uint64_t e = entry(*img, 0x10000, i);
        if (i == 511) CHECK(e == 0x11023);
        else if (i == 256) CHECK(e == 0x13023);
        else CHECK(e == 0);
    }
    CHECK(entry(*img, 0x11000, 510) == 0x12023);
    CHECK(entry(*img, 0x11000, 511) == 0);
    CHECK(entry(*img, 0x13000, 0) == 0x14023);
    CHECK(entry(*img, 0x13000, 1) == 0);
    for (uint64_t i = 0; i < 8; ++i) {
        CHECK(entry(*img, 0x12000, i) == (i * 2 * kMiB | 0x1e3));                       // RWX, G, A, D, PS
        CHECK(entry(*img, 0x14000, i) == (i * 2 * kMiB | 0x1e3 | 0x8000000000000000ull)); // + NX
    }
    CHECK(entry(*img, 0x12000, 8) == 0);
    CHECK(entry(*img, 0x14000, 8) == 0);
}

TEST_CASE("page tables map the slot above 4 GiB and leave the MMIO hole unmapped", "[boot_tables]") {
    auto img = build_kernel_page_tables(Gpa(0x10000), 960 * 1024, ram_layout(3 * kGiB + 4 * kMiB));
    REQUIRE(img.ok());
    // PML4, image PDPT, image PD, direct PDPT, PDs for GiB 0, 1, 2 and 4.
    CHECK(img->layout.size_bytes == 8 * 4096);
    const uint64_t pdpt = entry(*img, 0x10000, 256) & kPteAddrMask;
    CHECK(pdpt == 0x13000);
    CHECK(entry(*img, pdpt, 3) == 0);  // 3-4 GiB: MMIO hole
    const uint64_t pd4 = entry(*img, pdpt, 4) & kPteAddrMask;
    REQUIRE(pd4 != 0);
    CHECK(entry(*img, pd4, 0) == (4 * kGiB | kDirectMapLeafFlags));
    CHECK(entry(*img, pd4, 1) == (4 * kGiB + 2 * kMiB | kDirectMapLeafFlags));
    CHECK(entry(*img, pd4, 2) == 0);
    // Kernel image map: all 512 entries of GPA [0, 1 GiB) are RAM here.
    CHECK(entry(*img, 0x12000, 511) == (1 * kGiB - 2 * kMiB | kKernelImageLeafFlags));
}

TEST_CASE("page tables refuse too little room, unaligned bases and unaligned slots", "[boot_tables]") {
    auto small = build_kernel_page_tables(Gpa(0x10000), 4 * 4096, ram_layout(16 * kMiB));
    REQUIRE_FALSE(small.ok());
    CHECK(small.error().what.find("do not fit") != std::string::npos);
    CHECK_FALSE(build_kernel_page_tables(Gpa(0x10800), 960 * 1024, ram_layout(16 * kMiB)).ok());
    std::vector<MemorySlot> odd{MemorySlot{0, Gpa(0), 3 * kMiB, 0}};
    CHECK_FALSE(build_kernel_page_tables(Gpa(0x10000), 960 * 1024, odd).ok());
    CHECK_FALSE(build_kernel_page_tables(Gpa(0x10000), 960 * 1024, {}).ok());
    CHECK_FALSE(build_kernel_page_tables(Gpa(~0ull & ~0xfffull), 960 * 1024, ram_layout(16 * kMiB)).ok());
}

TEST_CASE("write_kernel_page_tables writes exactly the built image", "[boot_tables]") {
    auto mem = GuestMemory::create(16 * kMiB);
    REQUIRE(mem.ok());
    auto layout = write_kernel_page_tables(*mem, Gpa(0x10000), 960 * 1024, mem->slots());
    REQUIRE(layout.ok());
    auto img = build_kernel_page_tables(Gpa(0x10000), 960 * 1024, mem->slots());
    REQUIRE(img.ok());
    std::vector<uint8_t> got(img->bytes.size());
    REQUIRE(mem->read(Gpa(0x10000), got).ok());
    CHECK(got == img->bytes);
    CHECK(layout->end == Gpa(0x15000));
    CHECK_FALSE(write_kernel_page_tables(*mem, Gpa(16 * kMiB - 4096), 960 * 1024, mem->slots()).ok());
}
