// Runs `gmm run ... --json FILE` as a subprocess with a hard wall-clock limit
// and returns its exit code, output and parsed JSON report.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "json_reader.h"

namespace gmm::test {

struct GmmRun {
    int exit_code = -1;        // process exit status; -1 if killed by a signal
    bool killed_at_limit = false;
    std::chrono::milliseconds wall{0};
    std::string stdout_text;
    std::string stderr_text;
    std::optional<JsonValue> json;  // absent when gmm wrote no (valid) JSON
    std::string json_error;
};

// `args` follow "gmm run"; the runner adds --json. The process is killed (and
// killed_at_limit set) after `hard_limit`.
GmmRun run_gmm(const std::vector<std::string>& args, std::chrono::seconds hard_limit);
// The same for another subcommand that takes --json FILE (e.g. "storm").
GmmRun run_gmm_command(const std::string& subcommand, const std::vector<std::string>& args,
                       std::chrono::seconds hard_limit);

// `gmm run --vcpus N --workload W --timeout T [--mm MM] [--param P]... EXTRA...`
// (an empty `mm` leaves the default policy), killed after `hard_limit`.
GmmRun run_workload(const std::string& workload, int vcpus, const std::string& mm,
                    const std::vector<std::string>& params, const std::vector<std::string>& extra,
                    std::chrono::seconds timeout, std::chrono::seconds hard_limit);

// Convenience: results of one vCPU, e.g. result_u64(run, 0, "gate_calls").
uint64_t result_u64(const GmmRun& run, size_t vcpu, const std::string& key);

// A one-line summary for failure messages (exit code, reason, stderr, console).
std::string describe(const GmmRun& run);

}  // namespace gmm::test
