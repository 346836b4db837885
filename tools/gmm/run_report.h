// Running a Machine for `gmm run` and reporting: the effective command line,
// the guest console, one line per vCPU, a summary, and the JSON report.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "checker.h"
#include "machine.h"

namespace gmm::cli {

struct RunOptions {
    uint32_t vcpus = 2;
    uint64_t mem_bytes = 256ull << 20;
    std::string kernel_path, user_image_path, name, json_path, dump_dtb_path;
    std::string workload, bootargs;
    std::string mm;  // canonical --mm policy for memory-manager workloads (empty otherwise)
    std::map<std::string, std::string> params;
    uint64_t timeout_ms = 60000;
    bool quiet = false;
    std::optional<check::CheckMode> check;  // --check[=MODE]
    uint64_t check_interval_ms = 100;
};
class CheckSummary;

// Boots, runs and reports; returns the process exit code.
int run_and_report(const RunOptions& opt);

// The exit code for a finished run (README "Exit codes").
int exit_code_for(const vmm::RunReport& report);


}  // namespace gmm::cli
