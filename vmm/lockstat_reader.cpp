#include "lockstat_reader.h"

#include <algorithm>
#include <cstring>

#include "gmm/abi/lockstat.h"

namespace gmm::vmm {

namespace {

Error corrupt(const std::string& what) {
    return plain_error("lockstat block: " + what, "the guest's lock statistics are corrupt or from another gmm version");
}

// The lock counters every version-1 block has (the tools show them), with their types.
struct Required {
    const char* name;
    LockstatValueType type;
};
constexpr Required kRequiredLockCounters[] = {
    {"acquisitions", LockstatValueType::Cumulative},   {"contentions", LockstatValueType::Cumulative},
    {"con_bounces", LockstatValueType::Cumulative},    {"acq_bounces", LockstatValueType::Cumulative},
    {"waittime_min", LockstatValueType::Min},          {"waittime_max", LockstatValueType::Max},
    {"waittime_total", LockstatValueType::Cumulative}, {"holdtime_min", LockstatValueType::Min},
    {"holdtime_max", LockstatValueType::Max},          {"holdtime_total", LockstatValueType::Cumulative},
};

template <size_t N>
Result<std::string> read_name(const char (&raw)[N], const std::string& where) {
    const void* nul = std::memchr(raw, 0, N);
    if (!nul) return Err{corrupt(where + ": name is not NUL-terminated")};
    std::string name(raw, static_cast<const char*>(nul));
    if (name.empty()) return Err{corrupt(where + ": name is empty")};
    for (char c : name)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return Err{corrupt(where + ": name has a character outside [a-z0-9_]")};
    return name;
}

struct Table {
    const char* what;
    uint64_t offset, count, entry_bytes;
    uint64_t end() const { return offset + count * entry_bytes; }
};

// Offsets and counts come from the guest: check them before any arithmetic on pointers.
Status check_tables(const gmm_lockstat_header& h, std::span<const Table> tables) {
    for (const Table& t : tables) {
        if (t.offset < h.header_bytes)
            return Err{corrupt(std::string(t.what) + " descriptors at offset " + std::to_string(t.offset) +
                               " overlap the header")};
        if (t.offset % 8 != 0)
            return Err{corrupt(std::string(t.what) + " descriptors at offset " + std::to_string(t.offset) +
                               " are not 8-byte aligned")};
        if (t.end() > kLockstatMaxTablesBytes)
            return Err{corrupt(std::string(t.what) + " descriptors end at byte " + std::to_string(t.end()) +
                               ", beyond the " + std::to_string(kLockstatMaxTablesBytes) + "-byte limit")};
    }
    for (size_t i = 0; i < tables.size(); ++i)
        for (size_t j = i + 1; j < tables.size(); ++j)
            if (tables[i].count && tables[j].count && tables[i].offset < tables[j].end() &&
                tables[j].offset < tables[i].end())
                return Err{corrupt(std::string(tables[i].what) + " and " + tables[j].what + " descriptors overlap")};
    return Ok{};
}

Result<gmm_lockstat_header> checked_header(std::span<const uint8_t> bytes) {
    gmm_lockstat_header h;
    if (bytes.size() < sizeof h)
        return Err{corrupt("only " + std::to_string(bytes.size()) + " bytes, shorter than the " +
                           std::to_string(sizeof h) + "-byte header")};
    std::memcpy(&h, bytes.data(), sizeof h);
    if (h.magic != GMM_LOCKSTAT_MAGIC) return Err{corrupt("bad magic " + hex(h.magic) + " (expected " + hex(GMM_LOCKSTAT_MAGIC) + ")")};
    if (h.version != GMM_LOCKSTAT_VERSION)
        return Err{corrupt("version " + std::to_string(h.version) + " (this gmm reads version " +
                           std::to_string(GMM_LOCKSTAT_VERSION) + ")")};
    if (h.header_bytes != sizeof h)
        return Err{corrupt("header size " + std::to_string(h.header_bytes) + " (version 1 has " + std::to_string(sizeof h) + ")")};
    if ((h.flags & ~GMM_LOCKSTAT_F_ENABLED) != 0) return Err{corrupt("unknown flags " + hex(h.flags))};
    if (h.cpu_count == 0 || h.cpu_count > kLockstatMaxCpus)
        return Err{corrupt("CPU count " + std::to_string(h.cpu_count) + " is not in 1.." + std::to_string(kLockstatMaxCpus))};
    if (h.tsc_khz == 0 || h.tsc_khz > kLockstatMaxTscKhz)
        return Err{corrupt("TSC frequency " + std::to_string(h.tsc_khz) + " kHz is absurd")};
    if (h.class_count == 0 || h.class_count > kLockstatMaxClasses)
        return Err{corrupt("class count " + std::to_string(h.class_count) + " is not in 1.." + std::to_string(kLockstatMaxClasses))};
    if (h.lock_counter_count == 0 || h.lock_counter_count > kLockstatMaxCounters)
        return Err{corrupt("lock counter count " + std::to_string(h.lock_counter_count) + " is not in 1.." +
                           std::to_string(kLockstatMaxCounters))};
    if (h.cpu_counter_count > kLockstatMaxCounters)
        return Err{corrupt("CPU counter count " + std::to_string(h.cpu_counter_count) + " is above " +
                           std::to_string(kLockstatMaxCounters))};
    const Table tables[] = {
        {"class", h.class_desc_offset, h.class_count, sizeof(gmm_lockstat_class_desc)},
        {"lock counter", h.lock_counter_desc_offset, h.lock_counter_count, sizeof(gmm_lockstat_desc)},
        {"CPU counter", h.cpu_counter_desc_offset, h.cpu_counter_count, sizeof(gmm_lockstat_desc)},
    };
    if (Status st = check_tables(h, tables); !st) return Err{st.error()};
    return h;
}

uint64_t tables_end(const gmm_lockstat_header& h) {
    return std::max({uint64_t{h.class_desc_offset} + uint64_t{h.class_count} * sizeof(gmm_lockstat_class_desc),
                     uint64_t{h.lock_counter_desc_offset} + uint64_t{h.lock_counter_count} * sizeof(gmm_lockstat_desc),
                     uint64_t{h.cpu_counter_desc_offset} + uint64_t{h.cpu_counter_count} * sizeof(gmm_lockstat_desc),
                     uint64_t{h.header_bytes}});
}

Result<std::vector<LockstatCounterDesc>> parse_counters(std::span<const uint8_t> tables, uint32_t offset,
                                                        uint32_t count, uint32_t record_bytes, const char* what) {
    std::vector<LockstatCounterDesc> out;
    for (uint32_t i = 0; i < count; ++i) {
        gmm_lockstat_desc d;
        std::memcpy(&d, tables.data() + offset + uint64_t{i} * sizeof d, sizeof d);
        const std::string where = std::string(what) + " counter " + std::to_string(i);
        auto name = read_name(d.name, where);
        if (!name) return Err{name.error()};
        LockstatCounterDesc c{*name, LockstatValueType::Cumulative, LockstatUnit::Count, d.offset_bytes};
        switch (d.flags & GMM_LOCKSTAT_TYPE_MASK) {
            case GMM_LOCKSTAT_TYPE_CUMULATIVE: c.type = LockstatValueType::Cumulative; break;
            case GMM_LOCKSTAT_TYPE_MIN: c.type = LockstatValueType::Min; break;
            case GMM_LOCKSTAT_TYPE_MAX: c.type = LockstatValueType::Max; break;
            default: return Err{corrupt(where + " \"" + *name + "\": unknown type " + hex(d.flags & GMM_LOCKSTAT_TYPE_MASK))};
        }
        switch (d.flags & GMM_LOCKSTAT_UNIT_MASK) {
            case GMM_LOCKSTAT_UNIT_NONE: c.unit = LockstatUnit::Count; break;
            case GMM_LOCKSTAT_UNIT_CYCLES: c.unit = LockstatUnit::Cycles; break;
            default: return Err{corrupt(where + " \"" + *name + "\": unknown unit " + hex(d.flags & GMM_LOCKSTAT_UNIT_MASK))};
        }
        if ((d.flags & ~(GMM_LOCKSTAT_TYPE_MASK | GMM_LOCKSTAT_UNIT_MASK)) != 0)
            return Err{corrupt(where + " \"" + *name + "\": unknown flag bits " + hex(d.flags))};
        if (d.offset_bytes % 8 != 0 || uint64_t{d.offset_bytes} + 8 > record_bytes)
            return Err{corrupt(where + " \"" + *name + "\": offset " + std::to_string(d.offset_bytes) +
                               " is not an aligned u64 inside the " + std::to_string(record_bytes) + "-byte record")};
        for (const LockstatCounterDesc& o : out)
            if (o.name == c.name) return Err{corrupt(where + ": \"" + c.name + "\" is described twice")};
        out.push_back(std::move(c));
    }
    return out;
}

std::optional<uint32_t> find(const std::vector<LockstatCounterDesc>& v, std::string_view name) {
    for (size_t i = 0; i < v.size(); ++i)
        if (v[i].name == name) return static_cast<uint32_t>(i);
    return std::nullopt;
}

}  // namespace

std::optional<uint32_t> LockstatLayout::lock_counter(std::string_view name) const { return find(lock_counters, name); }
std::optional<uint32_t> LockstatLayout::cpu_counter(std::string_view name) const { return find(cpu_counters, name); }

Result<uint64_t> lockstat_tables_bytes(std::span<const uint8_t> header) {
    auto h = checked_header(header);
    if (!h) return Err{h.error()};
    return tables_end(*h);
}

Result<LockstatLayout> parse_lockstat_layout(std::span<const uint8_t> tables) {
    auto hr = checked_header(tables);
    if (!hr) return Err{hr.error()};
    const gmm_lockstat_header& h = *hr;
    if (tables.size() < tables_end(h))
        return Err{corrupt("descriptors end at byte " + std::to_string(tables_end(h)) + " but only " +
                           std::to_string(tables.size()) + " bytes were given")};
    if (h.cpu_record_bytes % 8 != 0 || h.cpu_record_bytes > kLockstatMaxRecordBytes)
        return Err{corrupt("CPU record size " + std::to_string(h.cpu_record_bytes) + " is not a multiple of 8 up to " +
                           std::to_string(kLockstatMaxRecordBytes))};
    if (h.lock_record_bytes == 0 || h.lock_record_bytes % 8 != 0 || h.lock_record_bytes > kLockstatMaxRecordBytes)
        return Err{corrupt("lock record size " + std::to_string(h.lock_record_bytes) + " is not a multiple of 8 in 8.." +
                           std::to_string(kLockstatMaxRecordBytes))};
    LockstatLayout L;
    L.version = h.version;
    L.enabled = (h.flags & GMM_LOCKSTAT_F_ENABLED) != 0;
    L.cpu_count = h.cpu_count;
    L.tsc_khz = h.tsc_khz;
    L.cpu_record_bytes = h.cpu_record_bytes;
    L.lock_record_bytes = h.lock_record_bytes;
    L.cpu_stride_bytes = h.cpu_stride_bytes;
    L.data_offset = h.data_offset;
    for (uint32_t i = 0; i < h.class_count; ++i) {
        gmm_lockstat_class_desc d;
        std::memcpy(&d, tables.data() + h.class_desc_offset + uint64_t{i} * sizeof d, sizeof d);
        auto name = read_name(d.name, "class " + std::to_string(i));
        if (!name) return Err{name.error()};
        if ((d.flags & ~GMM_LOCKSTAT_CLASS_RW) != 0)
            return Err{corrupt("class \"" + *name + "\": unknown flags " + hex(d.flags))};
        for (const LockstatClassDesc& o : L.classes)
            if (o.name == *name) return Err{corrupt("class \"" + *name + "\" is described twice")};
        L.classes.push_back({*name, (d.flags & GMM_LOCKSTAT_CLASS_RW) != 0});
    }
    auto lock = parse_counters(tables, h.lock_counter_desc_offset, h.lock_counter_count, h.lock_record_bytes, "lock");
    if (!lock) return Err{lock.error()};
    L.lock_counters = std::move(*lock);
    auto cpu = parse_counters(tables, h.cpu_counter_desc_offset, h.cpu_counter_count, h.cpu_record_bytes, "CPU");
    if (!cpu) return Err{cpu.error()};
    L.cpu_counters = std::move(*cpu);
    if (L.cpu_counter("vcpu")) return Err{corrupt("a CPU counter is named \"vcpu\" (reserved for the index)")};
    for (const Required& r : kRequiredLockCounters) {
        const std::optional<uint32_t> i = L.lock_counter(r.name);
        if (!i) return Err{corrupt(std::string("the lock counter \"") + r.name + "\" is missing")};
        if (L.lock_counters[*i].type != r.type)
            return Err{corrupt(std::string("the lock counter \"") + r.name + "\" has the wrong type")};
    }
    // The data: slots of cpu_stride_bytes, each holding the described records.
    if (h.cpu_stride_bytes == 0 || h.cpu_stride_bytes % 8 != 0 || h.cpu_stride_bytes > kLockstatMaxStrideBytes)
        return Err{corrupt("CPU stride " + std::to_string(h.cpu_stride_bytes) + " is not a multiple of 8 in 8.." +
                           std::to_string(kLockstatMaxStrideBytes))};
    if (L.used_slot_bytes() > h.cpu_stride_bytes)
        return Err{corrupt("a CPU's records need " + std::to_string(L.used_slot_bytes()) + " bytes, more than the " +
                           std::to_string(h.cpu_stride_bytes) + "-byte stride")};
    if (h.data_offset % 8 != 0 || h.data_offset < tables_end(h))
        return Err{corrupt("data offset " + std::to_string(h.data_offset) +
                           " is unaligned or overlaps the header and descriptors")};
    const uint64_t span = h.data_offset + uint64_t{h.cpu_count} * h.cpu_stride_bytes;  // < 2^63 after the checks below
    if (h.data_offset > kLockstatMaxSpanBytes || span > kLockstatMaxSpanBytes)
        return Err{corrupt("the data would end " + std::to_string(h.data_offset > kLockstatMaxSpanBytes ? h.data_offset : span) +
                           " bytes after the header, beyond the " + std::to_string(kLockstatMaxSpanBytes) + "-byte limit")};
    return L;
}

Result<LockstatSnapshot> extract_lockstat(const LockstatLayout& L, const std::vector<std::vector<uint8_t>>& slots) {
    if (slots.size() != L.cpu_count)
        return Err{corrupt(std::to_string(slots.size()) + " CPU slots given for " + std::to_string(L.cpu_count) + " CPUs")};
    LockstatSnapshot s;
    s.layout = L;
    const size_t nlock = L.lock_counters.size();
    s.lock_values.assign(size_t{L.cpu_count} * L.classes.size() * 2 * nlock, 0);
    auto u64_at = [](const std::vector<uint8_t>& b, uint64_t off) {
        uint64_t v;
        std::memcpy(&v, b.data() + off, sizeof v);
        return v;
    };
    for (uint32_t cpu = 0; cpu < L.cpu_count; ++cpu) {
        const std::vector<uint8_t>& b = slots[cpu];
        if (b.size() < L.used_slot_bytes())
            return Err{corrupt("CPU " + std::to_string(cpu) + ": " + std::to_string(b.size()) + " bytes given, " +
                               std::to_string(L.used_slot_bytes()) + " described")};
        std::vector<uint64_t> cv;
        for (const LockstatCounterDesc& c : L.cpu_counters) cv.push_back(u64_at(b, c.offset_bytes));
        s.cpu_values.push_back(std::move(cv));
        for (uint32_t cls = 0; cls < L.classes.size(); ++cls)
            for (uint32_t side = 0; side < 2; ++side) {
                const uint64_t rec = L.cpu_record_bytes + (uint64_t{cls} * 2 + side) * L.lock_record_bytes;
                for (size_t k = 0; k < nlock; ++k)
                    s.lock_values[((size_t{cpu} * L.classes.size() + cls) * 2 + side) * nlock + k] =
                        u64_at(b, rec + L.lock_counters[k].offset_bytes);
            }
    }
    return s;
}

Result<LockstatSnapshot> read_lockstat(const GuestReadFn& read, Gpa block) {
    std::vector<uint8_t> head(sizeof(gmm_lockstat_header));
    if (Status st = read(block, head); !st) return Err{corrupt("header: " + st.error().message())};
    auto need = lockstat_tables_bytes(head);
    if (!need) return Err{need.error()};
    std::vector<uint8_t> tables(*need);
    if (Status st = read(block, tables); !st) return Err{corrupt("descriptors: " + st.error().message())};
    auto layout = parse_lockstat_layout(tables);
    if (!layout) return Err{layout.error()};
    std::vector<std::vector<uint8_t>> slots;
    for (uint32_t cpu = 0; cpu < layout->cpu_count; ++cpu) {
        Gpa at;
        if (!block.checked_add(layout->data_offset + uint64_t{cpu} * layout->cpu_stride_bytes, at))
            return Err{corrupt("CPU " + std::to_string(cpu) + "'s slot lies beyond the address space")};
        std::vector<uint8_t> b(layout->used_slot_bytes());
        if (Status st = read(at, b); !st) return Err{corrupt("CPU " + std::to_string(cpu) + ": " + st.error().message())};
        slots.push_back(std::move(b));
    }
    return extract_lockstat(*layout, slots);
}

uint64_t lockstat_cycles_to_ns(uint64_t cycles, uint64_t tsc_khz) {
    if (tsc_khz == 0) return 0;
    const unsigned __int128 ns = static_cast<unsigned __int128>(cycles) * 1000000u / tsc_khz;
    return ns > ~uint64_t{0} ? ~uint64_t{0} : static_cast<uint64_t>(ns);
}

}  // namespace gmm::vmm
