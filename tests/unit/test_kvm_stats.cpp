// KVM binary stats parsing from hand-built buffers (no KVM needed), including
// corrupt headers, and the fd reader over a memfd holding the same bytes.
#include <catch2/catch.hpp>

#include <linux/kvm.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include "kvm_stats.h"

using namespace gmm::vmm;

namespace {

constexpr uint32_t kNameSize = 48;  // KVM_STATS_NAME_SIZE
constexpr uint32_t kDescFixedBytes = 16;  // kvm_stats_desc before name (the C++ sizeof is wrong)

struct DescFixed {
    uint32_t flags;
    int16_t exponent;
    uint16_t size;
    uint32_t offset;
    uint32_t bucket_size;
};

struct Desc {
    std::string name;
    uint32_t flags;
    uint16_t size;
    uint32_t offset;
};

struct StatsFile {
    kvm_stats_header header{};
    std::vector<uint8_t> bytes;

    void patch_header() { std::memcpy(bytes.data(), &header, sizeof header); }
};

// Layout like the kernel's: header, id, descriptors, data.
StatsFile make_stats(const std::vector<Desc>& descs, const std::vector<uint64_t>& data) {
    StatsFile f;
    const uint32_t stride = kDescFixedBytes + kNameSize;
    f.header.name_size = kNameSize;
    f.header.num_desc = static_cast<uint32_t>(descs.size());
    f.header.id_offset = sizeof(kvm_stats_header);
    f.header.desc_offset = f.header.id_offset + kNameSize;
    f.header.data_offset = f.header.desc_offset + stride * f.header.num_desc;
    f.bytes.resize(f.header.data_offset + data.size() * 8, 0);
    f.patch_header();
    std::memcpy(&f.bytes[f.header.id_offset], "kvm-42/vcpu-0", 13);
    for (size_t i = 0; i < descs.size(); ++i) {
        uint8_t* p = &f.bytes[f.header.desc_offset + i * stride];
        DescFixed d{};
        d.flags = descs[i].flags;
        d.size = descs[i].size;
        d.offset = descs[i].offset;
        std::memcpy(p, &d, sizeof d);
        std::memcpy(p + sizeof d, descs[i].name.data(), descs[i].name.size());
    }
    std::memcpy(&f.bytes[f.header.data_offset], data.data(), data.size() * 8);
    return f;
}

StatsFile sample() {
    return make_stats({{"exits", KVM_STATS_TYPE_CUMULATIVE, 1, 0},
                       {"insn_emulation", KVM_STATS_TYPE_CUMULATIVE, 1, 8},
                       {"halt_poll_fail_hist", KVM_STATS_TYPE_LOG_HIST, 4, 16},
                       {"pages_4k", KVM_STATS_TYPE_INSTANT | KVM_STATS_UNIT_NONE, 1, 48},
                       {"max_mmu_page_hash", KVM_STATS_TYPE_PEAK, 1, 56}},
                      {111, 222, 1, 2, 3, 4, 555, 666});
}

std::string layout_error(const StatsFile& f) {
    auto r = parse_kvm_stats_layout(f.bytes);
    REQUIRE_FALSE(r.ok());
    return r.error().what;
}

int memfd_with(const std::vector<uint8_t>& bytes) {
    const int fd = memfd_create("gmm-test-stats", MFD_CLOEXEC);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
    return fd;
}

}  // namespace

TEST_CASE("KVM stats: parses id, descriptors and scalar values", "[kvm_stats]") {
    StatsFile f = sample();
    auto layout = parse_kvm_stats_layout(f.bytes);
    REQUIRE(layout.ok());
    CHECK(layout->id == "kvm-42/vcpu-0");
    REQUIRE(layout->descriptors.size() == 5);
    CHECK(layout->descriptors[1].name == "insn_emulation");
    CHECK(layout->descriptors[2].type == KvmStatType::LogHistogram);
    CHECK_FALSE(layout->descriptors[2].is_scalar());
    CHECK(layout->data_size_bytes == 64);
    auto values = extract_kvm_stats(*layout, std::span<const uint8_t>(f.bytes).subspan(f.header.data_offset));
    REQUIRE(values.ok());
    const std::map<std::string, uint64_t> want{
        {"exits", 111}, {"insn_emulation", 222}, {"pages_4k", 555}, {"max_mmu_page_hash", 666}};
    CHECK(*values == want);  // the histogram is skipped
}

TEST_CASE("KVM stats: rejects truncated and corrupt headers", "[kvm_stats]") {
    StatsFile f = sample();
    CHECK(parse_kvm_stats_layout(std::span<const uint8_t>(f.bytes).first(10)).error().what.find("shorter") !=
          std::string::npos);

    StatsFile g = f;
    g.header.name_size = 0;
    g.patch_header();
    CHECK(layout_error(g).find("name size 0") != std::string::npos);
    g = f;
    g.header.name_size = 1u << 30;
    g.patch_header();
    CHECK(layout_error(g).find("name size") != std::string::npos);
    g = f;
    g.header.num_desc = 0xffffffffu;
    g.patch_header();
    CHECK(layout_error(g).find("absurd") != std::string::npos);
    g = f;
    g.header.desc_offset = 0xfffffff0u;
    g.patch_header();
    CHECK(layout_error(g).find("absurd") != std::string::npos);
    g = f;
    g.header.desc_offset = static_cast<uint32_t>(f.bytes.size());  // table beyond the bytes
    g.patch_header();
    CHECK(layout_error(g).find("beyond") != std::string::npos);
    g = f;
    g.header.id_offset = static_cast<uint32_t>(f.bytes.size() - 4);
    g.patch_header();
    CHECK(layout_error(g).find("beyond") != std::string::npos);
    // Descriptor table cut short.
    CHECK(parse_kvm_stats_layout(std::span<const uint8_t>(f.bytes).first(f.header.desc_offset + 70)).error().what.find(
              "beyond") != std::string::npos);
}

TEST_CASE("KVM stats: rejects unterminated names, duplicates and absurd value offsets", "[kvm_stats]") {
    StatsFile f = sample();
    StatsFile g = f;
    std::memset(&g.bytes[g.header.id_offset], 'x', kNameSize);
    CHECK(layout_error(g).find("id string") != std::string::npos);

    g = make_stats({{"", KVM_STATS_TYPE_CUMULATIVE, 1, 0}}, {1});
    CHECK(layout_error(g).find("descriptor 0") != std::string::npos);
    g = make_stats({{std::string(kNameSize, 'n'), KVM_STATS_TYPE_CUMULATIVE, 1, 0}}, {1});
    CHECK(layout_error(g).find("not terminated") != std::string::npos);
    g = make_stats({{"a", KVM_STATS_TYPE_CUMULATIVE, 1, 0}, {"a", KVM_STATS_TYPE_CUMULATIVE, 1, 8}}, {1, 2});
    CHECK(layout_error(g).find("twice") != std::string::npos);
    g = make_stats({{"far", KVM_STATS_TYPE_CUMULATIVE, 1, 0xfffffff0u}}, {1});
    CHECK(layout_error(g).find("absurd") != std::string::npos);
}

TEST_CASE("KVM stats: a data block shorter than the descriptors need is an error", "[kvm_stats]") {
    StatsFile f = sample();
    auto layout = parse_kvm_stats_layout(f.bytes);
    REQUIRE(layout.ok());
    std::vector<uint8_t> short_data(63);
    CHECK_FALSE(extract_kvm_stats(*layout, short_data).ok());
}

TEST_CASE("KVM stats: unknown types and multi-value stats are ignored", "[kvm_stats]") {
    StatsFile f = make_stats({{"weird", 0xf, 1, 0}, {"wide", KVM_STATS_TYPE_CUMULATIVE, 2, 8}, {"ok", 0, 1, 24}},
                             {1, 2, 3, 4});
    auto layout = parse_kvm_stats_layout(f.bytes);
    REQUIRE(layout.ok());
    CHECK(layout->descriptors[0].type == KvmStatType::Unknown);
    auto values = extract_kvm_stats(*layout, std::span<const uint8_t>(f.bytes).subspan(f.header.data_offset));
    REQUIRE(values.ok());
    CHECK(*values == std::map<std::string, uint64_t>{{"ok", 4}});
}

TEST_CASE("KVM stats reader: re-reads values from the fd on every call", "[kvm_stats]") {
    StatsFile f = sample();
    const int fd = memfd_with(f.bytes);
    auto reader = KvmStatsReader::open(fd);
    REQUIRE(reader.ok());
    CHECK(reader->read("insn_emulation").value() == 222);
    CHECK(reader->read_all().value().at("exits") == 111);

    const uint64_t bumped = 999;
    REQUIRE(::pwrite(fd, &bumped, 8, f.header.data_offset + 8) == 8);
    CHECK(reader->read("insn_emulation").value() == 999);
    CHECK(reader->read_all().value().at("insn_emulation") == 999);

    auto missing = reader->read("no_such_stat");
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().what.find("no_such_stat") != std::string::npos);
    CHECK_FALSE(reader->read("halt_poll_fail_hist").ok());

    KvmStatsReader moved = std::move(*reader);  // movable; keeps the fd
    CHECK(moved.read("exits").value() == 111);
}

TEST_CASE("KVM stats reader: a file that ends early or an invalid fd is an error", "[kvm_stats]") {
    StatsFile f = sample();
    std::vector<uint8_t> cut(f.bytes.begin(), f.bytes.begin() + f.header.data_offset + 16);
    auto reader = KvmStatsReader::open(memfd_with(cut));
    REQUIRE(reader.ok());  // descriptors are intact
    CHECK(reader->read("exits").value() == 111);
    CHECK_FALSE(reader->read("pages_4k").ok());  // beyond EOF
    CHECK_FALSE(reader->read_all().ok());

    std::vector<uint8_t> tiny(f.bytes.begin(), f.bytes.begin() + 8);
    CHECK_FALSE(KvmStatsReader::open(memfd_with(tiny)).ok());
    CHECK_FALSE(KvmStatsReader::open(-1).ok());
}
