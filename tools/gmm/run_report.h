// Running a Machine for `gmm run` and reporting: the effective command line,
// the guest console, one line per vCPU, a summary, and the JSON report.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "disk_options.h"
#include "checker.h"
#include "json_writer.h"
#include "machine.h"

namespace gmm::cli {

// Extension points for subcommands that reuse run_and_report (gmm storm).
class RunHooks {
public:
    virtual ~RunHooks() = default;
    virtual void started(vmm::Machine&) {}                                 // before run(), vCPUs not yet running
    virtual void finished(vmm::Machine&, const vmm::RunReport&) {}         // after run(); the machine still exists
    virtual int exit_code(int code) { return code; }                       // may replace the run's exit code
    virtual void print(FILE*) {}                                           // after the summary
    virtual void write_json(vmm::JsonWriter&) {}                           // extra members of the JSON report
};

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
    // gmm storm: the compiled programs and the results area (MachineConfig), its hooks, and
    // the command line printed instead of the gmm run one.
    std::vector<uint8_t> payload;
    uint64_t results_size_bytes = 0;
    RunHooks* hooks = nullptr;
    std::string effective_command_line;
    DiskOptions disk;  // --disk, --disk-latency-us, ... (issue 5)
    vmm::FreedFrames freed_frames = vmm::FreedFrames::Zero;  // --free-frames
};
class CheckSummary;

// Boots, runs and reports; returns the process exit code.
int run_and_report(const RunOptions& opt);

// The exit code for a finished run (README "Exit codes").
int exit_code_for(const vmm::RunReport& report);


}  // namespace gmm::cli
