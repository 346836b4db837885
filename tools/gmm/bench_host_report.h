// The report of a host-thread benchmark run (gmm mmbench on the hosted
// guestmm library, gmm native on this machine's kernel): one printed line and
// the JSON document the suite (gmm bench) reads back.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "bench_patterns.h"

namespace gmm::cli::bench {

struct HostBenchReport {
    std::string tool;      // "mmbench" | "native"
    std::string workload;
    std::string mm;        // policy (mmbench) or "linux" (native)
    std::string kernel;    // native: uname release; empty otherwise
    uint64_t size_bytes = 0;
    DriveResult result;
    std::vector<std::pair<std::string, int64_t>> counters;  // mmbench: guestmm counters
};

double total_ops_per_sec(const DriveResult& r);
// "mmbench workload=... mm=... threads=N ... ops_per_sec=X per_thread=[...]"
void print_host_report_line(const HostBenchReport& rep);
// JSON keys: tool, workload, mm, threads, ops_total, ops_per_sec, per_thread (ops/s),
// per_thread_ops, per_thread_workload, seconds, size_bytes, [kernel], [counters], failed.
std::string host_report_json(const HostBenchReport& rep);
// "-" writes to stdout. Returns false (errno set) when the file cannot be written.
bool write_text_file(const std::string& path, const std::string& text);

}  // namespace gmm::cli::bench
