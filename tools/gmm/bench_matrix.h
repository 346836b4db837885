// The suite's case table (gmm bench): which workloads run where, with which
// sizes, for which policies and vCPU counts, and in which order. Workloads a
// runner does not offer (yet) become skipped cases with the reason, never
// passes: the table asks `gmm run`'s workload list and the host tools' lists,
// so page_fault2/3 and mmap2 join by themselves once the guest has them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace gmm::cli::bench {

enum class Env { Guest, Hosted, Native };
const char* env_name(Env e);  // "guest" | "hosted" | "native"

enum class SuiteKind { Quick, Full, Tiny };  // Tiny: one small case per workload (tests)
std::optional<SuiteKind> parse_suite(const std::string& name);
const char* suite_name(SuiteKind k);

struct Case {
    Env env;
    std::string workload;  // suite name, e.g. "mapbench_local"
    std::string policy;    // gmm run --mm text; "linux" for native
    unsigned vcpus;        // vCPUs (guest) or threads (host)
    std::string skip;      // non-empty: "skipped: ..." and why
    std::string id() const;  // "guest/page_fault1/extents,placement=leaf/v2"
};

struct SuiteSizes {
    uint64_t size_bytes;       // per thread, everywhere
    uint64_t fault_rounds;     // guest page_fault* / mapbench rounds per thread
    uint64_t mmap_rounds;      // guest mmap* pairs per thread
    double host_seconds;       // hosted and native runs
    unsigned default_repeat;
    uint64_t guest_timeout_s;
};

struct SuiteConfig {
    SuiteKind kind = SuiteKind::Quick;
    SuiteSizes sizes{};
    std::vector<std::string> policies;
    std::vector<unsigned> vcpus;
    std::vector<std::string> workloads;
    std::vector<Env> envs;
};

SuiteConfig suite_config(SuiteKind kind);

// gmm run arguments of a guest case (after "run"), or the host tool's (after
// "mmbench" / "native"), without --json.
std::vector<std::string> case_command(const Case& c, const SuiteSizes& s);

// Whether `env` can run `workload`; the reason when not ("skipped: ...").
std::string availability(Env env, const std::string& workload, unsigned vcpus);

// The cases of one repeat in run order: for each (workload, vCPUs): guest
// policies, hosted policies, native, so that neighbouring runs compare
// designs under the same machine state. `filter` (comma-separated substrings
// of Case::id, empty = all) selects cases.
std::vector<Case> build_cases(const SuiteConfig& cfg, const std::string& filter);

}  // namespace gmm::cli::bench
