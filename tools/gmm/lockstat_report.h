// Lock statistics for people and programs: the lockstat-style table (Linux
// /proc/lock_stat's columns, sorted by contentions), the per-vCPU counters,
// and their JSON. Used by `gmm run` (totals since boot) and `gmm stat`
// (deltas per interval). Counters are monotonic in the guest; views take
// deltas between two snapshots, except the min/max times, which are since boot.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "json_writer.h"
#include "lockstat_reader.h"

namespace gmm::cli {

struct LockCounts {
    uint64_t acquisitions = 0, contentions = 0, con_bounces = 0, acq_bounces = 0;
    uint64_t waittime_total_ns = 0, holdtime_total_ns = 0;
    // Since boot; absent when there was no sample.
    std::optional<uint64_t> waittime_min_ns, waittime_max_ns, holdtime_min_ns, holdtime_max_ns;
};

struct LockRow {
    std::string cls;
    std::string side;    // "exclusive", or "write" / "read" for reader-writer classes
    std::string label;   // cls, or cls + "-W" / "-R" (as /proc/lock_stat marks read sides)
    LockCounts total;
    std::vector<LockCounts> per_vcpu;
};

// Whether tables and JSON break each lock class down by vCPU.
enum class PerVcpu { Hide, Show };

struct LockstatView {
    bool enabled = false;
    uint64_t tsc_khz = 0;
    std::vector<LockRow> rows;  // every (class, side), sorted by contentions, then acquisitions
    std::vector<std::string> cpu_counter_names;
    std::vector<std::vector<uint64_t>> cpu_counters;  // [vcpu][counter], deltas
};

// `before` null: totals since boot.
LockstatView make_lockstat_view(const vmm::LockstatSnapshot& now, const vmm::LockstatSnapshot* before);

// The table (rows without acquisitions are left out; PerVcpu::Show adds an
// indented line per vCPU under each row).
void print_lock_table(FILE* out, const LockstatView& v, PerVcpu per_vcpu);
// One line per vCPU with its lockstat CPU counters.
void print_lockstat_cpu_table(FILE* out, const LockstatView& v);

// JSON array of every row: {class, side, acquisitions, contentions,
// con_bounces, acq_bounces, waittime_total_ns, holdtime_total_ns, and the
// min/max times when sampled; per_vcpu [...] with PerVcpu::Show}.
void write_lock_rows_json(vmm::JsonWriter& j, const LockstatView& v, PerVcpu per_vcpu);
// JSON array [{vcpu, <cpu counter>: value, ...}].
void write_lockstat_cpus_json(vmm::JsonWriter& j, const LockstatView& v);

}  // namespace gmm::cli
