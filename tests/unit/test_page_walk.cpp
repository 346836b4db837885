// Page-table walker over hand-built tables and over the VMM's own kernel tables.
#include <catch2/catch.hpp>

#include <sstream>

#include "x86_64/boot_tables.h"
#include "x86_64/page_walk.h"

using namespace gmm;
using namespace gmm::vmm;
using namespace gmm::vmm::x86_64;

namespace {
constexpr uint64_t kMiB = 1ull << 20, kGiB = 1ull << 30;
constexpr uint64_t kTable = kPteP | kPteRw | kPteUs;

// PML4 0x10000 -> PDPT 0x11000 -> PD 0x12000 -> PT 0x13000.
GuestMemory user_tables() {
    auto mem = GuestMemory::create(16 * kMiB);
    REQUIRE(mem.ok());
    GuestMemory m = std::move(*mem);
    REQUIRE(m.write_u64(Gpa(0x10000 + 0 * 8), 0x11000 | kTable).ok());
    REQUIRE(m.write_u64(Gpa(0x11000 + 0 * 8), 0x12000 | kTable).ok());
    REQUIRE(m.write_u64(Gpa(0x12000 + 2 * 8), 0x13000 | kTable).ok());
    REQUIRE(m.write_u64(Gpa(0x13000 + 5 * 8), 0x200000 | kPteP | kPteRw | kPteUs | kPteA).ok());
    return m;
}
}  // namespace

TEST_CASE("walk resolves a 4 KiB user page through all four levels", "[page_walk]") {
    GuestMemory m = user_tables();
    const Walk w = walk_page_tables(m, Gpa(0x10000), Gva(0x405123));
    REQUIRE(w.outcome == WalkOutcome::Mapped);
    REQUIRE(w.steps.size() == 4);
    CHECK(w.steps[0].level == 4);
    CHECK(w.steps[0].index == 0);
    CHECK(w.steps[0].entry_gpa == Gpa(0x10000));
    CHECK(w.steps[0].next == Gpa(0x11000));
    CHECK(w.steps[2].index == 2);
    CHECK(w.steps[2].entry_gpa == Gpa(0x12010));
    CHECK(w.steps[3].index == 5);
    CHECK(w.steps[3].entry == (0x200000 | 0x27));
    CHECK(w.steps[3].flags.a);
    CHECK_FALSE(w.steps[3].flags.d);
    CHECK(w.steps[3].leaf);
    CHECK(w.gpa == Gpa(0x200123));
    CHECK(w.page_size_bytes == 4096);
    CHECK(w.writable);
    CHECK(w.user);
    CHECK(w.executable);
    CHECK(w.frame_in_ram);
}

TEST_CASE("walk ignores CR3's low control bits", "[page_walk]") {
    GuestMemory m = user_tables();
    const Walk w = walk_page_tables(m, Gpa(0x10000 | 0x18 | 0x5), Gva(0x405123));
    CHECK(w.cr3 == Gpa(0x10000));
    CHECK(w.outcome == WalkOutcome::Mapped);
}

TEST_CASE("walk handles 2 MiB and 1 GiB pages and flags frames outside RAM", "[page_walk]") {
    GuestMemory m = user_tables();
    REQUIRE(m.write_u64(Gpa(0x12000 + 3 * 8), 0x400000 | kPteP | kPteUs | kPtePs | kPteNx).ok());  // 2 MiB, RO, NX
    REQUIRE(m.write_u64(Gpa(0x11000 + 1 * 8), 0x40000000 | kPteP | kPteRw | kPtePs).ok());  // 1 GiB, no US
    Walk w = walk_page_tables(m, Gpa(0x10000), Gva(3 * 2 * kMiB + 0x1234));
    REQUIRE(w.outcome == WalkOutcome::Mapped);
    CHECK(w.steps.size() == 3);
    CHECK(w.page_size_bytes == 2 * kMiB);
    CHECK(w.gpa == Gpa(0x401234));
    CHECK_FALSE(w.writable);
    CHECK_FALSE(w.executable);
    CHECK(w.user);

    w = walk_page_tables(m, Gpa(0x10000), Gva(kGiB + 0x12345));
    REQUIRE(w.outcome == WalkOutcome::Mapped);
    CHECK(w.steps.size() == 2);
    CHECK(w.page_size_bytes == kGiB);
    CHECK(w.gpa == Gpa(kGiB + 0x12345));
    CHECK_FALSE(w.user);
    CHECK_FALSE(w.frame_in_ram);  // 1 GiB is beyond 16 MiB of RAM: reported, not read
}

TEST_CASE("walk stops at the first non-present entry", "[page_walk]") {
    GuestMemory m = user_tables();
    const Walk w = walk_page_tables(m, Gpa(0x10000), Gva(0x800000));  // PD[4] is empty
    CHECK(w.outcome == WalkOutcome::NotPresent);
    REQUIRE(w.steps.size() == 3);
    CHECK_FALSE(w.steps[2].flags.p);
    CHECK(w.steps[2].index == 4);
}

TEST_CASE("walk rejects non-canonical addresses without reading memory", "[page_walk]") {
    GuestMemory m = user_tables();
    CHECK_FALSE(is_canonical(Gva(0x0000800000000000ull)));
    CHECK(is_canonical(Gva(0xffff800000000000ull)));
    CHECK(is_canonical(Gva(0x00007fffffffffffull)));
    const Walk w = walk_page_tables(m, Gpa(0x10000), Gva(0x0000800000000000ull));
    CHECK(w.outcome == WalkOutcome::NonCanonical);
    CHECK(w.steps.empty());
    CHECK(format_walk(w).find("not canonical") != std::string::npos);
}

TEST_CASE("walk reports but does not follow tables outside RAM", "[page_walk]") {
    GuestMemory m = user_tables();
    REQUIRE(m.write_u64(Gpa(0x11000 + 2 * 8), 0x7f000000 | kTable).ok());  // PDPT[2] -> beyond RAM
    Walk w = walk_page_tables(m, Gpa(0x10000), Gva(2 * kGiB));
    CHECK(w.outcome == WalkOutcome::TableOutsideRam);
    CHECK(w.bad_table == Gpa(0x7f000000));
    CHECK(w.steps.size() == 2);

    w = walk_page_tables(m, Gpa(0xc0000000), Gva(0x1000));  // CR3 in the MMIO hole
    CHECK(w.outcome == WalkOutcome::TableOutsideRam);
    CHECK(w.steps.empty());
    w = walk_page_tables(m, Gpa(0xfffffffffffff000ull), Gva(0x1000));
    CHECK(w.outcome == WalkOutcome::TableOutsideRam);
}

TEST_CASE("walk flags PS in a PML4 entry as reserved", "[page_walk]") {
    GuestMemory m = user_tables();
    REQUIRE(m.write_u64(Gpa(0x10000 + 1 * 8), 0x0 | kPteP | kPtePs).ok());
    const Walk w = walk_page_tables(m, Gpa(0x10000), Gva(1ull << 39));
    CHECK(w.outcome == WalkOutcome::ReservedPs);
}

TEST_CASE("walk over the VMM's kernel tables finds the direct map and the kernel image", "[page_walk]") {
    auto mem = GuestMemory::create(3 * kGiB + 4 * kMiB);
    REQUIRE(mem.ok());
    auto pt = write_kernel_page_tables(*mem, Gpa(0x10000), 960 * 1024, mem->slots());
    REQUIRE(pt.ok());
    Walk w = walk_page_tables(*mem, pt->pml4, Gva(GMM_DIRECT_MAP_GVA + 0x123456));
    REQUIRE(w.outcome == WalkOutcome::Mapped);
    CHECK(w.gpa == Gpa(0x123456));
    CHECK(w.page_size_bytes == 2 * kMiB);
    CHECK(w.writable);
    CHECK_FALSE(w.user);
    CHECK_FALSE(w.executable);

    w = walk_page_tables(*mem, pt->pml4, Gva(0xffffffff80100000ull));
    REQUIRE(w.outcome == WalkOutcome::Mapped);
    CHECK(w.gpa == Gpa(0x100000));
    CHECK(w.executable);
    CHECK_FALSE(w.user);

    w = walk_page_tables(*mem, pt->pml4, Gva(GMM_DIRECT_MAP_GVA + 4 * kGiB + 3 * kMiB + 5));
    REQUIRE(w.outcome == WalkOutcome::Mapped);
    CHECK(w.gpa == Gpa(4 * kGiB + 3 * kMiB + 5));
    CHECK(w.frame_in_ram);

    w = walk_page_tables(*mem, pt->pml4, Gva(GMM_DIRECT_MAP_GVA + 3 * kGiB + 5 * kMiB));  // MMIO hole
    CHECK(w.outcome == WalkOutcome::NotPresent);
    w = walk_page_tables(*mem, pt->pml4, Gva(GMM_DIRECT_MAP_GVA + 4 * kGiB + 4 * kMiB));  // past RAM
    CHECK(w.outcome == WalkOutcome::NotPresent);
    w = walk_page_tables(*mem, pt->pml4, Gva(0x400000));  // user range: empty at entry
    CHECK(w.outcome == WalkOutcome::NotPresent);
    CHECK(w.steps.size() == 1);
}

TEST_CASE("format_walk prints one indented line per step and the result", "[page_walk]") {
    GuestMemory m = user_tables();
    const std::string text = format_walk(walk_page_tables(m, Gpa(0x10000), Gva(0x405123)));
    REQUIRE_FALSE(text.empty());
    CHECK(text.back() == '\n');
    std::istringstream lines(text);
    std::string line;
    int count = 0;
    while (std::getline(lines, line)) {
        CHECK(line.rfind("    ", 0) == 0);
        ++count;
    }
    CHECK(count == 6);  // header, 4 steps, result
    CHECK(text.find("PML4[  0]") != std::string::npos);
    CHECK(text.find("PT  [  5]") != std::string::npos);
    CHECK(text.find("P RW US A -> 4 KiB page 0x200000") != std::string::npos);
    CHECK(text.find("=> GPA 0x200123 (4 KiB page, writable, user, executable)") != std::string::npos);

    const std::string missing = format_walk(walk_page_tables(m, Gpa(0x10000), Gva(0x800000)));
    CHECK(missing.find("not present") != std::string::npos);
    CHECK(missing.find("=> not mapped") != std::string::npos);
    CHECK(format_pte_flags(decode_pte_flags(0x80000000000001ffull)) == "P RW US PWT PCD A D PS G NX");
}
