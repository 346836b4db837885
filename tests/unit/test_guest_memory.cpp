// The one bounds-checked GPA translator: every host access to guest memory
// goes through it, so it must refuse anything not wholly inside one RAM slot.
#include <catch2/catch.hpp>

#include <vector>

#include "guest_memory.h"

using namespace gmm;
using namespace gmm::vmm;

TEST_CASE("RAM below 3 GiB is one slot starting at GPA 0", "[guest_memory]") {
    auto slots = ram_layout(256ull << 20);
    REQUIRE(slots.size() == 1);
    CHECK(slots[0].gpa == Gpa(0));
    CHECK(slots[0].size_bytes == 256ull << 20);
}

TEST_CASE("RAM above 3 GiB continues at 4 GiB after the MMIO hole", "[guest_memory]") {
    auto slots = ram_layout(4ull << 30);
    REQUIRE(slots.size() == 2);
    CHECK(slots[0].size_bytes == kMmioHoleStart);
    CHECK(slots[1].gpa == Gpa(kMmioHoleEnd));
    CHECK(slots[1].size_bytes == (4ull << 30) - kMmioHoleStart);
    CHECK(slots[1].memfd_offset == kMmioHoleStart);
}

TEST_CASE("the translator accepts ranges inside RAM and refuses the rest", "[guest_memory]") {
    auto mem = GuestMemory::create(16ull << 20);
    REQUIRE(mem.ok());
    const uint64_t end = 16ull << 20;
    CHECK(mem->translate(Gpa(0), 1) != nullptr);
    CHECK(mem->translate(Gpa(end - 8), 8) != nullptr);
    CHECK(mem->translate(Gpa(end - 8), 9) == nullptr);       // straddles the end
    CHECK(mem->translate(Gpa(end), 1) == nullptr);           // just past the end
    CHECK(mem->translate(Gpa(0), 0) == nullptr);             // empty range
    CHECK(mem->translate(Gpa(~0ull - 3), 8) == nullptr);     // wraps around
    CHECK(mem->translate(Gpa(kMmioHoleStart), 8) == nullptr);
}

TEST_CASE("reads and writes round-trip and failures name the GPA", "[guest_memory]") {
    auto mem = GuestMemory::create(4ull << 20);
    REQUIRE(mem.ok());
    REQUIRE(mem->write_u64(Gpa(0x1000), 0x1122334455667788ull).ok());
    auto v = mem->read_u64(Gpa(0x1000));
    REQUIRE(v.ok());
    CHECK(*v == 0x1122334455667788ull);
    auto bad = mem->read_u64(Gpa(4ull << 20));
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().message().find("0x400000") != std::string::npos);
}

TEST_CASE("fresh guest RAM reads as zero (the kernel relies on it)", "[guest_memory]") {
    auto mem = GuestMemory::create(4ull << 20);
    REQUIRE(mem.ok());
    std::vector<uint8_t> page(4096, 0xaa);
    REQUIRE(mem->read(Gpa(0x200000), page).ok());
    for (uint8_t b : page) REQUIRE(b == 0);
}

TEST_CASE("a size that is not a multiple of 2 MiB is refused", "[guest_memory]") {
    CHECK_FALSE(GuestMemory::create((4ull << 20) + 4096).ok());
    CHECK_FALSE(GuestMemory::create(0).ok());
}
