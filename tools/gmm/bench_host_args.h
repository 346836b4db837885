// Command-line options shared by the host-thread benchmarks, gmm mmbench
// (hosted guestmm) and gmm native (this machine's kernel).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "bench_patterns.h"

namespace gmm::cli::bench {

struct HostBenchArgs {
    const PatternSpec* spec = nullptr;
    std::string mm_text;  // --mm as given (mmbench only)
    unsigned threads = 1;
    double seconds = 5.0;
    uint64_t size_bytes = 128ull << 20;
    uint64_t rounds = 0;  // --iterations
    std::string json;
};

struct HostBenchTool {
    const char* name;                    // "mmbench" | "native"
    bool takes_mm;                       // --mm POLICY is required
    std::vector<const char*> workloads;  // the ones this tool can run
    void (*usage)(FILE*);
};

// Returns 0 to run, -1 when --help / --list-workloads was handled (exit 0),
// or kExitUsage after a one-line error on stderr.
int parse_host_bench_args(const HostBenchTool& tool, int argc, char** argv, HostBenchArgs& out);
// "page_fault1|mmap1|..." for usage texts.
std::string joined_workloads(const HostBenchTool& tool, const char* sep);

}  // namespace gmm::cli::bench
