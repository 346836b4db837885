// The guest workloads `gmm run` accepts, with their parameters. Validated on
// the host before boot so a typo costs a one-line error, not a boot.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "gmm/result.h"

namespace gmm::cli {

// SizeBytes: decimal bytes or K/M/G (binary) suffix, nonzero multiple of 4 KiB; passed on as decimal bytes.
enum class ParamKind { Unsigned, Choice, SizeBytes };

struct ParamSpec {
    const char* key;
    ParamKind kind;
    uint64_t min, max;               // Unsigned
    std::vector<std::string> choices;  // Choice
    const char* default_value;
    const char* help;
};

struct WorkloadSpec {
    const char* name;
    uint32_t min_vcpus;
    const char* help;
    std::vector<ParamSpec> params;
    bool uses_mm = false;  // takes gmm run --mm POLICY (the address space under test)
};

const std::vector<WorkloadSpec>& workloads();
// Parameters every workload accepts (machine-wide switches, e.g. lockstat=on|off).
// Passed to the guest only when given (the guest's defaults match).
const std::vector<ParamSpec>& global_params();
const WorkloadSpec* find_workload(std::string_view name);
std::string workload_names();  // "boot, ipi, ..."

// Validates `key=value` strings against the workload; fills defaults. The
// error names the bad input and what is accepted.
gmm::Result<std::map<std::string, std::string>, std::string> resolve_params(
    const WorkloadSpec& w, const std::vector<std::string>& assignments);

// "workload=NAME k=v ..." for /chosen/bootargs.
std::string make_bootargs(const WorkloadSpec& w, const std::map<std::string, std::string>& params);

}  // namespace gmm::cli
