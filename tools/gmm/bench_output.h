// The suite's results: per-cell aggregation over repeats and the JSON / CSV
// files written into the output directory.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "bench_runner.h"
#include "bench_stats.h"

namespace gmm::cli::bench {

struct AggregateRow {
    Env env;
    std::string workload, policy;
    unsigned vcpus = 0;
    unsigned runs_ok = 0, runs_failed = 0, runs_skipped = 0;
    std::string status;  // "ok" (at least one run ok), "failed", "skipped"
    std::string reason;  // first failure or skip reason
    std::map<std::string, Spread> metrics;
};

// One row per (env, workload, policy, vCPUs) in first-seen order.
std::vector<AggregateRow> aggregate(const std::vector<RunRecord>& runs);

struct SuiteMeta {
    std::string suite, started_utc, command_line;
    std::string cpu_model, kernel, kvm_mode;
    std::string load_start, load_end;  // /proc/loadavg's three averages
    unsigned cores = 0, repeat = 0;
    double duration_s = 0;
    SuiteSizes sizes{};
};
SuiteMeta machine_meta();  // cpu_model, cores, kernel
std::string load_average();  // "1.23 0.98 0.75" from /proc/loadavg, or ""


std::string runs_json(const SuiteMeta& meta, const std::vector<RunRecord>& runs);
std::string runs_csv(const std::vector<RunRecord>& runs);
std::string summary_json(const SuiteMeta& meta, const std::vector<AggregateRow>& rows,
                         const std::vector<std::string>& charts_missing);
std::string summary_csv(const std::vector<AggregateRow>& rows);

// Looks a cell up; nullptr when absent.
const AggregateRow* find_row(const std::vector<AggregateRow>& rows, Env env, const std::string& workload,
                             const std::string& policy, unsigned vcpus);
// The median of a metric in a cell, or NaN.
double median_of(const std::vector<AggregateRow>& rows, Env env, const std::string& workload,
                 const std::string& policy, unsigned vcpus, const char* metric);

// Short label of a policy for charts and tables: "global", "extents-leaf",
// "extents-hier-percpu", "linux".
std::string policy_label(const std::string& policy);

}  // namespace gmm::cli::bench
