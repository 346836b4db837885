// The guest's lock-statistics block (abi/gmm/abi/lockstat.h, docs/lockstat.md),
// read from guest memory by the host. Guest memory is data, not trusted: the
// header and every descriptor are checked (magic, version, counts, names,
// types, offsets and sizes inside their records and the block) before any
// value is read, and every read goes through a bounds-checked GuestReadFn.
// A corrupt block is an error naming the problem, never a crash.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "error.h"
#include "gmm/addr.h"

namespace gmm::vmm {

enum class LockstatValueType { Cumulative, Min, Max };
enum class LockstatUnit { Count, Cycles };

struct LockstatCounterDesc {
    std::string name;
    LockstatValueType type;
    LockstatUnit unit;
    uint32_t offset_bytes;  // within its record
};

struct LockstatClassDesc {
    std::string name;
    bool rw;  // reader-writer lock: side 1 counts the read side
};

// Limits against corrupt or hostile blocks.
constexpr uint32_t kLockstatMaxCpus = 1024;
constexpr uint32_t kLockstatMaxClasses = 256;
constexpr uint32_t kLockstatMaxCounters = 64;
constexpr uint32_t kLockstatMaxRecordBytes = 4096;
constexpr uint32_t kLockstatMaxStrideBytes = 1u << 20;
constexpr uint64_t kLockstatMaxTablesBytes = 64 * 1024;  // header + descriptor tables
constexpr uint64_t kLockstatMaxSpanBytes = 256ull << 20; // header .. end of the last CPU's slot
constexpr uint64_t kLockstatMaxTscKhz = 100'000'000;     // 100 GHz

struct LockstatLayout {
    uint32_t version = 0;
    bool enabled = false;  // GMM_LOCKSTAT_F_ENABLED
    uint32_t cpu_count = 0;
    uint64_t tsc_khz = 0;
    std::vector<LockstatClassDesc> classes;
    std::vector<LockstatCounterDesc> lock_counters;  // per (class, side) record
    std::vector<LockstatCounterDesc> cpu_counters;   // per CPU
    uint32_t cpu_record_bytes = 0;
    uint32_t lock_record_bytes = 0;
    uint32_t cpu_stride_bytes = 0;
    uint64_t data_offset = 0;  // from the header

    // Bytes of each CPU slot that the descriptors cover (what a reader copies).
    uint64_t used_slot_bytes() const { return cpu_record_bytes + 2ull * classes.size() * lock_record_bytes; }
    // Index of a counter by name.
    std::optional<uint32_t> lock_counter(std::string_view name) const;
    std::optional<uint32_t> cpu_counter(std::string_view name) const;
};

// Step 1: from the first bytes of a block (at least the header), the number
// of bytes from the block's start that hold the header and every descriptor.
Result<uint64_t> lockstat_tables_bytes(std::span<const uint8_t> header);
// Step 2: the header and descriptor tables (`tables` starts at the block).
Result<LockstatLayout> parse_lockstat_layout(std::span<const uint8_t> tables);

struct LockstatSnapshot {
    LockstatLayout layout;
    // cpu_values[cpu][k]: CPU counter k. lock_values: see lock().
    std::vector<std::vector<uint64_t>> cpu_values;
    std::vector<uint64_t> lock_values;
    uint64_t lock(uint32_t cpu, uint32_t cls, uint32_t side, uint32_t counter) const {
        const size_t n = layout.lock_counters.size();
        return lock_values[((size_t{cpu} * layout.classes.size() + cls) * 2 + side) * n + counter];
    }
};

// Step 3: values from the CPU slots; slots[cpu] holds used_slot_bytes() bytes
// of that CPU's slot.
Result<LockstatSnapshot> extract_lockstat(const LockstatLayout& layout,
                                          const std::vector<std::vector<uint8_t>>& slots);

// Reads guest-physical bytes, failing (not crashing) outside guest RAM.
using GuestReadFn = std::function<Status(Gpa gpa, std::span<uint8_t> out)>;

// Steps 1-3 against guest memory: the block whose header is at `block`.
Result<LockstatSnapshot> read_lockstat(const GuestReadFn& read, Gpa block);

// TSC cycles to nanoseconds with the block's TSC frequency (no overflow).
uint64_t lockstat_cycles_to_ns(uint64_t cycles, uint64_t tsc_khz);

}  // namespace gmm::vmm
