// The lockstat block reader against hand-built blocks (no KVM needed): a good
// block round-trips, and every kind of corruption (magic, version, header,
// counts, descriptor tables, names, types, offsets and sizes outside the
// records or the block, absurd counts, reads outside guest RAM) is an error
// naming the problem, never a crash or an out-of-bounds read.
#include <catch2/catch.hpp>

#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "gmm/abi/lockstat.h"
#include "lockstat_reader.h"

using namespace gmm::vmm;
using gmm::Gpa;

namespace {

constexpr uint32_t kClasses = 3;  // "pt_lock", "mm_lock" (rw), "frame_pool"
constexpr uint32_t kCpus = 2;
constexpr uint32_t kLockCounters = 10;
constexpr uint32_t kCpuCounters = 2;
constexpr uint64_t kBlockGpa = 0x10000;

struct BlockTables {
    gmm_lockstat_header h;
    gmm_lockstat_class_desc classes[kClasses];
    gmm_lockstat_desc lock[kLockCounters];
    gmm_lockstat_desc cpu[kCpuCounters];
};

struct Slot {  // what one CPU's slot holds: 2 CPU counters, then 2 * kClasses records
    uint64_t faults, fault_atomic_rmw;
    gmm_lockstat_lock_record records[2 * kClasses];
    uint64_t pad[2];  // the stride may be longer than the described part
};

template <size_t N>
void set_name(char (&dst)[N], const char* s) {
    std::memset(dst, 0, N);
    std::memcpy(dst, s, std::strlen(s));
}

gmm_lockstat_desc desc(const char* name, uint32_t flags, uint32_t offset) {
    gmm_lockstat_desc d{};
    d.flags = flags;
    d.offset_bytes = offset;
    set_name(d.name, name);
    return d;
}

// A fake guest RAM: [0, size) with the block at kBlockGpa.
struct Ram {
    std::vector<uint8_t> bytes = std::vector<uint8_t>(1 << 20, 0);
    BlockTables t{};
    Slot slots[kCpus]{};
    uint64_t data_offset = 4096;  // data follows the tables after a gap (other kernel data)

    Ram() {
        gmm_lockstat_header& h = t.h;
        h.magic = GMM_LOCKSTAT_MAGIC;
        h.version = GMM_LOCKSTAT_VERSION;
        h.flags = GMM_LOCKSTAT_F_ENABLED;
        h.header_bytes = sizeof h;
        h.cpu_count = kCpus;
        h.tsc_khz = 2'000'000;
        h.class_count = kClasses;
        h.class_desc_offset = offsetof(BlockTables, classes);
        h.lock_counter_count = kLockCounters;
        h.lock_counter_desc_offset = offsetof(BlockTables, lock);
        h.cpu_counter_count = kCpuCounters;
        h.cpu_counter_desc_offset = offsetof(BlockTables, cpu);
        h.cpu_record_bytes = 16;
        h.lock_record_bytes = sizeof(gmm_lockstat_lock_record);
        h.data_offset = data_offset;
        h.cpu_stride_bytes = sizeof(Slot);
        set_name(t.classes[0].name, "pt_lock");
        set_name(t.classes[1].name, "mm_lock");
        t.classes[1].flags = GMM_LOCKSTAT_CLASS_RW;
        set_name(t.classes[2].name, "frame_pool");
        constexpr uint32_t kCum = GMM_LOCKSTAT_TYPE_CUMULATIVE, kCyc = GMM_LOCKSTAT_UNIT_CYCLES;
        const gmm_lockstat_desc lock[kLockCounters] = {
            desc("acquisitions", kCum, offsetof(gmm_lockstat_lock_record, acquisitions)),
            desc("contentions", kCum, offsetof(gmm_lockstat_lock_record, contentions)),
            desc("con_bounces", kCum, offsetof(gmm_lockstat_lock_record, con_bounces)),
            desc("acq_bounces", kCum, offsetof(gmm_lockstat_lock_record, acq_bounces)),
            desc("waittime_min", GMM_LOCKSTAT_TYPE_MIN | kCyc, offsetof(gmm_lockstat_lock_record, waittime_min_cycles)),
            desc("waittime_max", GMM_LOCKSTAT_TYPE_MAX | kCyc, offsetof(gmm_lockstat_lock_record, waittime_max_cycles)),
            desc("waittime_total", kCum | kCyc, offsetof(gmm_lockstat_lock_record, waittime_total_cycles)),
            desc("holdtime_min", GMM_LOCKSTAT_TYPE_MIN | kCyc, offsetof(gmm_lockstat_lock_record, holdtime_min_cycles)),
            desc("holdtime_max", GMM_LOCKSTAT_TYPE_MAX | kCyc, offsetof(gmm_lockstat_lock_record, holdtime_max_cycles)),
            desc("holdtime_total", kCum | kCyc, offsetof(gmm_lockstat_lock_record, holdtime_total_cycles)),
        };
        std::memcpy(t.lock, lock, sizeof lock);
        t.cpu[0] = desc("faults", kCum, 0);
        t.cpu[1] = desc("fault_atomic_rmw", kCum, 8);
        for (uint32_t c = 0; c < kCpus; ++c) {
            slots[c].faults = 100 + c;
            slots[c].fault_atomic_rmw = 600 + c;
            for (uint32_t r = 0; r < 2 * kClasses; ++r) {
                slots[c].records[r].acquisitions = 1000 * (c + 1) + r;
                slots[c].records[r].holdtime_total_cycles = 2000;  // 1000 ns at 2 GHz
            }
        }
        store();
    }
    void store() {
        std::memset(bytes.data(), 0, bytes.size());
        std::memcpy(&bytes[kBlockGpa], &t, sizeof t);
        for (uint32_t c = 0; c < kCpus; ++c) {  // where the (possibly corrupted) header says, if that is in RAM
            const uint64_t at = kBlockGpa + data_offset + c * sizeof(Slot);
            std::memcpy(&bytes[at], &slots[c], sizeof(Slot));
        }
    }
    GuestReadFn reader() const {
        return [this](Gpa gpa, std::span<uint8_t> out) -> Status {
            if (gpa.value() > bytes.size() || out.size() > bytes.size() - gpa.value())
                return gmm::Err{plain_error("outside guest RAM")};
            std::memcpy(out.data(), &bytes[gpa.value()], out.size());
            return gmm::Ok{};
        };
    }
    Result<LockstatSnapshot> read() const { return read_lockstat(reader(), Gpa(kBlockGpa)); }
};

// The error message of a corrupted block, "" if it parsed.
std::string error_after(const std::function<void(Ram&)>& corrupt) {
    Ram ram;
    corrupt(ram);
    ram.store();
    auto r = ram.read();
    return r ? std::string() : r.error().message();
}

}  // namespace

TEST_CASE("lockstat reader: a good block round-trips", "[lockstat]") {
    Ram ram;
    auto s = ram.read();
    REQUIRE(s.ok());
    const LockstatLayout& L = s->layout;
    CHECK(L.enabled);
    CHECK(L.cpu_count == kCpus);
    CHECK(L.tsc_khz == 2'000'000);
    REQUIRE(L.classes.size() == kClasses);
    CHECK(L.classes[1].name == "mm_lock");
    CHECK(L.classes[1].rw);
    CHECK_FALSE(L.classes[0].rw);
    CHECK(L.lock_counter("holdtime_min") == 7u);
    CHECK_FALSE(L.lock_counter("no_such_counter"));
    CHECK(L.lock_counters[7].type == LockstatValueType::Min);
    CHECK(L.lock_counters[7].unit == LockstatUnit::Cycles);
    CHECK(L.cpu_counter("fault_atomic_rmw") == 1u);
    CHECK(L.used_slot_bytes() == 16 + 2 * kClasses * sizeof(gmm_lockstat_lock_record));
    const uint32_t acq = L.lock_counter("acquisitions").value();
    CHECK(s->lock(1, 1, 1, acq) == 2000 + 3);  // CPU 1, mm_lock read side = record 3
    CHECK(s->lock(0, 2, 0, acq) == 1000 + 4);
    CHECK(s->cpu_values[1][1] == 601);
    CHECK(lockstat_cycles_to_ns(2000, L.tsc_khz) == 1000);
    CHECK(lockstat_cycles_to_ns(~0ull, 1) == ~0ull);  // saturates instead of wrapping
}

TEST_CASE("lockstat reader: bad magic, version or header are rejected by name", "[lockstat]") {
    CHECK_THAT(error_after([](Ram& r) { r.t.h.magic ^= 1; }), Catch::Contains("bad magic"));
    CHECK_THAT(error_after([](Ram& r) { r.t.h.version = 2; }), Catch::Contains("version 2"));
    CHECK_THAT(error_after([](Ram& r) { r.t.h.header_bytes = 64; }), Catch::Contains("header size 64"));
    CHECK_THAT(error_after([](Ram& r) { r.t.h.flags = 0x80; }), Catch::Contains("unknown flags"));
    CHECK_THAT(error_after([](Ram& r) { r.t.h.tsc_khz = 0; }), Catch::Contains("TSC frequency"));
}

TEST_CASE("lockstat reader: absurd counts are rejected", "[lockstat]") {
    CHECK_THAT(error_after([](Ram& r) { r.t.h.cpu_count = 0; }), Catch::Contains("CPU count 0"));
    CHECK_THAT(error_after([](Ram& r) { r.t.h.cpu_count = 1u << 31; }), Catch::Contains("CPU count"));
    CHECK_THAT(error_after([](Ram& r) { r.t.h.class_count = 0; }), Catch::Contains("class count 0"));
    CHECK_THAT(error_after([](Ram& r) { r.t.h.class_count = 0xffffffff; }), Catch::Contains("class count"));
    CHECK_THAT(error_after([](Ram& r) { r.t.h.lock_counter_count = 100000; }), Catch::Contains("lock counter count"));
    CHECK_THAT(error_after([](Ram& r) { r.t.h.cpu_counter_count = 65; }), Catch::Contains("CPU counter count"));
}

TEST_CASE("lockstat reader: a bad descriptor table is rejected", "[lockstat]") {
    // Tables overlapping the header or each other, unaligned, or far away.
    CHECK_THAT(error_after([](Ram& r) { r.t.h.class_desc_offset = 8; }), Catch::Contains("overlap the header"));
    CHECK_THAT(error_after([](Ram& r) { r.t.h.lock_counter_desc_offset = r.t.h.class_desc_offset; }),
               Catch::Contains("overlap"));
    CHECK_THAT(error_after([](Ram& r) { r.t.h.cpu_counter_desc_offset += 4; }), Catch::Contains("not 8-byte aligned"));
    CHECK_THAT(error_after([](Ram& r) { r.t.h.class_desc_offset = 0xfffffff0; }), Catch::Contains("limit"));
    // Names.
    CHECK_THAT(error_after([](Ram& r) { std::memset(r.t.classes[0].name, 'a', sizeof r.t.classes[0].name); }),
               Catch::Contains("not NUL-terminated"));
    CHECK_THAT(error_after([](Ram& r) { r.t.classes[2].name[0] = 0; }), Catch::Contains("name is empty"));
    CHECK_THAT(error_after([](Ram& r) { r.t.lock[3].name[0] = '\n'; }), Catch::Contains("outside [a-z0-9_]"));
    CHECK_THAT(error_after([](Ram& r) { set_name(r.t.classes[2].name, "pt_lock"); }), Catch::Contains("described twice"));
    CHECK_THAT(error_after([](Ram& r) { set_name(r.t.cpu[1].name, "faults"); }), Catch::Contains("described twice"));
    CHECK_THAT(error_after([](Ram& r) { set_name(r.t.cpu[1].name, "vcpu"); }), Catch::Contains("reserved"));
    // Types, units, flags.
    CHECK_THAT(error_after([](Ram& r) { r.t.lock[0].flags = 7; }), Catch::Contains("unknown type"));
    CHECK_THAT(error_after([](Ram& r) { r.t.lock[0].flags = 0x30; }), Catch::Contains("unknown unit"));
    CHECK_THAT(error_after([](Ram& r) { r.t.cpu[0].flags = 0x100; }), Catch::Contains("unknown flag bits"));
    CHECK_THAT(error_after([](Ram& r) { r.t.classes[0].flags = 4; }), Catch::Contains("unknown flags"));
    // Offsets outside their record, or unaligned.
    CHECK_THAT(error_after([](Ram& r) { r.t.lock[9].offset_bytes = sizeof(gmm_lockstat_lock_record); }),
               Catch::Contains("inside the 80-byte record"));
    CHECK_THAT(error_after([](Ram& r) { r.t.lock[9].offset_bytes = 0xfffffff8; }), Catch::Contains("record"));
    CHECK_THAT(error_after([](Ram& r) { r.t.cpu[1].offset_bytes = 4; }), Catch::Contains("aligned u64"));
    CHECK_THAT(error_after([](Ram& r) { r.t.cpu[1].offset_bytes = 16; }), Catch::Contains("16-byte record"));
    // The counters the tools need: present, with the right types.
    CHECK_THAT(error_after([](Ram& r) { set_name(r.t.lock[1].name, "waits"); }),
               Catch::Contains("\"contentions\" is missing"));
    CHECK_THAT(error_after([](Ram& r) { r.t.lock[4].flags = GMM_LOCKSTAT_TYPE_MAX | GMM_LOCKSTAT_UNIT_CYCLES; }),
               Catch::Contains("wrong type"));
}

TEST_CASE("lockstat reader: records and data outside the block are rejected", "[lockstat]") {
    CHECK_THAT(error_after([](Ram& r) { r.t.h.lock_record_bytes = 0; }), Catch::Contains("lock record size 0"));
    CHECK_THAT(error_after([](Ram& r) { r.t.h.lock_record_bytes = 1u << 20; }), Catch::Contains("lock record size"));
    CHECK_THAT(error_after([](Ram& r) { r.t.h.cpu_record_bytes = 12; }), Catch::Contains("CPU record size"));
    CHECK_THAT(error_after([](Ram& r) { r.t.h.cpu_stride_bytes = 64; }), Catch::Contains("more than the 64-byte stride"));
    CHECK_THAT(error_after([](Ram& r) { r.t.h.cpu_stride_bytes = 0; }), Catch::Contains("CPU stride 0"));
    CHECK_THAT(error_after([](Ram& r) { r.t.h.cpu_stride_bytes = 0xfffffff8; }), Catch::Contains("CPU stride"));
    CHECK_THAT(error_after([](Ram& r) { r.t.h.data_offset = 16; }), Catch::Contains("overlaps the header"));
    CHECK_THAT(error_after([](Ram& r) { r.t.h.data_offset = ~0ull - 7; }), Catch::Contains("limit"));
    CHECK_THAT(error_after([](Ram& r) { r.t.h.data_offset = 4100; }), Catch::Contains("unaligned"));
    // Valid layout, but the data lies past the end of guest RAM: the read fails, nothing else.
    CHECK_THAT(error_after([](Ram& r) { r.t.h.data_offset = 200ull << 20; }), Catch::Contains("outside guest RAM"));
    // The block itself outside guest RAM.
    Ram ram;
    auto far = read_lockstat(ram.reader(), Gpa(~0ull - 40));
    REQUIRE_FALSE(far.ok());
    CHECK_THAT(far.error().message(), Catch::Contains("outside guest RAM"));
    // A snapshot needs one slot per CPU, each as long as described.
    auto layout = parse_lockstat_layout(std::span<const uint8_t>(&ram.bytes[kBlockGpa], sizeof(BlockTables)));
    REQUIRE(layout.ok());
    CHECK_FALSE(extract_lockstat(*layout, {}).ok());
    CHECK_FALSE(extract_lockstat(*layout, {std::vector<uint8_t>(8), std::vector<uint8_t>(8)}).ok());
    // Fewer bytes than the header or the tables.
    CHECK_FALSE(lockstat_tables_bytes(std::span<const uint8_t>(&ram.bytes[kBlockGpa], 40)).ok());
    CHECK_FALSE(parse_lockstat_layout(std::span<const uint8_t>(&ram.bytes[kBlockGpa], sizeof(gmm_lockstat_header))).ok());
}

TEST_CASE("lockstat reader: random corruption of a good block never crashes", "[lockstat]") {
    std::mt19937_64 rng(7);
    int rejected = 0;
    for (int round = 0; round < 3000; ++round) {
        Ram ram;
        uint8_t* t = reinterpret_cast<uint8_t*>(&ram.t);
        for (int flips = 1 + int(rng() % 4); flips > 0; --flips) t[rng() % sizeof(ram.t)] ^= uint8_t(1u << (rng() % 8));
        ram.store();
        auto s = ram.read();
        if (!s) {
            ++rejected;
            CHECK_FALSE(s.error().message().empty());
            continue;
        }
        // Accepted: every value read lies inside what the layout promised.
        CHECK(s->cpu_values.size() == s->layout.cpu_count);
        CHECK(s->lock_values.size() ==
              size_t{s->layout.cpu_count} * s->layout.classes.size() * 2 * s->layout.lock_counters.size());
    }
    CHECK(rejected > 1000);  // most flips hit something the reader checks
}
