// Running one suite case: the gmm binary itself as a child process (gmm run,
// gmm mmbench or gmm native with --json), under a hard deadline, and the
// figures the suite keeps from its JSON report.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "bench_matrix.h"
#include "json_writer.h"

namespace gmm::cli::bench {

// Metric names of a run record (also the CSV columns, in this order).
inline const char* const kMetrics[] = {
    "ops_per_sec",                     // all threads
    "ops_per_sec_per_thread",          // ops_per_sec / threads
    "faulter_ops_per_sec_per_thread",  // mixed: mean rate of the faulting threads
    "guest_kernel_insns_per_op",       // guest: KVM insn_emulation per op (exact here)
    "guest_kernel_insns_per_fault",    // guest: the same over the touch loops only (page-faulting workloads)
    "contentions_per_op",              // guest lockstat, all lock classes
    "con_bounces_per_op",
    "wall_seconds",                    // the child process, start to exit
};

struct RunRecord {
    Case c;
    unsigned repeat = 0;
    std::string status;  // "ok" | "failed" | "skipped"
    std::string reason;  // why failed or skipped
    uint64_t ops_total = 0;
    std::string kvm_mode;     // guest runs
    std::string json_path;    // the child's report, relative to the output directory
    std::map<std::string, double> metrics;  // absent = not measured
};

// Figures from a child's JSON report (gmm run, mmbench or native). Fills
// ops_total, kvm_mode and metrics; returns an error text when the report
// lacks what every report of its kind has.
std::string extract_metrics(Env env, const vmm::JsonValue& report, unsigned threads, RunRecord& out);

struct ChildResult {
    int exit_code = -1;      // -1: killed by a signal or at the deadline
    bool timed_out = false;
    double wall_seconds = 0;
};

// Runs `exe args...` with stdout and stderr into `log_path`; kills the child
// (SIGKILL, by pid) once `deadline_s` has passed.
ChildResult run_child(const std::string& exe, const std::vector<std::string>& args, const std::string& log_path,
                      double deadline_s);

// The whole case: builds the command, runs it with --json into
// out_dir/runs/NAME.json, and returns the record (never throws).
RunRecord run_case(const std::string& gmm_exe, const std::string& out_dir, const Case& c, const SuiteSizes& sizes,
                   unsigned repeat);

// The path of this executable (/proc/self/exe).
std::string self_exe();

}  // namespace gmm::cli::bench
