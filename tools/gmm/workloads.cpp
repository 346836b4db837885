#include "workloads.h"

#include <cerrno>
#include <cstdlib>

namespace gmm::cli {

namespace {
const ParamSpec kInjectParam = {"inject", ParamKind::Choice, 0, 0,
                                {"none", "pte_after_unmap", "pte_too_permissive", "overlapping_extents",
                                 "extent_outside_window", "leaked_free_range", "wrong_mapcount",
                                 "freed_frame_mapped", "lock_held", "write_to_free_frame"},
                                "none", "test only: plant one bug for the checker (docs/checker.md)"};
const ParamSpec kThreadsParam = {"threads", ParamKind::Unsigned, 0, 64, {}, "0",
                                 "user threads, thread i on vCPU i mod vCPUs (0: one per vCPU; at most 64)"};
const ParamSpec kSizeParam = {"size", ParamKind::SizeBytes, 4096, 1ull << 32, {}, "4M",
                              "bytes per thread (multiple of 4K; K/M/G suffixes)"};

// "4096", "64K", "4M", "1G" -> bytes; false for junk or overflow.
bool parse_size_bytes(const std::string& text, uint64_t& out) {
    if (text.empty() || text[0] < '0' || text[0] > '9') return false;
    errno = 0;
    char* end = nullptr;
    const unsigned long long v = std::strtoull(text.c_str(), &end, 10);
    if (errno != 0 || !end) return false;
    uint64_t shift = 0;
    const std::string suffix(end);
    if (suffix == "K" || suffix == "k") shift = 10;
    else if (suffix == "M" || suffix == "m") shift = 20;
    else if (suffix == "G" || suffix == "g") shift = 30;
    else if (!suffix.empty()) return false;
    if (v > (~0ull >> shift)) return false;
    out = uint64_t(v) << shift;
    return true;
}
}  // namespace

const std::vector<WorkloadSpec>& workloads() {
    static const std::vector<WorkloadSpec> table = {
        {"boot", 1, "every vCPU comes online and reports; the default", {}},
        {"ipi", 2, "ping-pong IPIs between vCPU 0 and vCPU 1",
         {{"rounds", ParamKind::Unsigned, 1, 100000, {}, "100", "round trips"}}},
        {"timer", 1, "each vCPU waits in HLT for LAPIC timer ticks",
         {{"ticks", ParamKind::Unsigned, 1, 10000, {}, "5", "timer interrupts per vCPU"}}},
        {"ring3", 1, "each vCPU enters ring 3 and calls the kernel through the gate",
         {{"calls", ParamKind::Unsigned, 1, 1000000, {}, "10", "gate calls per vCPU"}}},
        {"exception", 1, "vCPU 0 raises an exception that the kernel reports",
         {{"vector", ParamKind::Choice, 0, 0, {"0", "6", "13", "14"}, "14", "#DE, #UD, #GP or #PF"},
          {"mode", ParamKind::Choice, 0, 0, {"kernel", "user"}, "kernel", "privilege level that faults"}}},
        {"spin", 1, "every vCPU spins in ring 3 forever (for pause and timeout tests)", {}},
        {"panic", 1, "the kernel fails an assertion on purpose (tests the report path)", {}},
        {"page_fault1", 1, "will-it-scale page_fault1: each thread maps SIZE, writes every page, unmaps",
         {kSizeParam, {"iterations", ParamKind::Unsigned, 1, 1000000, {}, "4", "map/touch/unmap rounds per thread"}, kThreadsParam, kInjectParam},
         true},
        {"mmap1", 1, "will-it-scale mmap1: each thread maps and unmaps SIZE without touching it",
         {kSizeParam, {"iterations", ParamKind::Unsigned, 1, 10000000, {}, "100", "map/unmap pairs per thread"}, kThreadsParam, kInjectParam},
         true},
        {"mixed", 1, "thread 0 churns mmap/munmap of SIZE while the others run page_fault1",
         {kSizeParam, {"iterations", ParamKind::Unsigned, 1, 1000000, {}, "4", "rounds per faulting thread"}, kThreadsParam, kInjectParam},
         true},
        {"blkcheck", 1, "virtio-blk end to end: verify page signatures, write/read back, time requests (needs a disk)",
         {{"pages", ParamKind::Unsigned, 1, 1000000, {}, "4", "pages checked per file (first, last, spread)"},
          {"reads", ParamKind::Unsigned, 1, 256, {}, "32", "timed synchronous 4 KiB reads (median reported)"},
          {"burst", ParamKind::Unsigned, 1, 32, {}, "16", "asynchronous reads in flight at once"},
          {"keep_write", ParamKind::Choice, 0, 0, {"0", "1"}, "0", "1: leave the test page modified in the image"},
          {"allow_errors", ParamKind::Choice, 0, 0, {"0", "1"}, "0", "1: I/O errors do not fail the run"},
          {"delay_ms", ParamKind::Unsigned, 0, 4000, {}, "0", "wait before reading (tests truncate the image)"}}},
        {"page_fault2", 1, "will-it-scale page_fault2: each thread maps SIZE of a disk file privately, writes every page (copy on write), unmaps",
         {kSizeParam, {"iterations", ParamKind::Unsigned, 1, 1000000, {}, "4", "map/touch/unmap rounds per thread"}, kThreadsParam, kInjectParam},
         true},
        {"page_fault3", 1, "will-it-scale page_fault3: like page_fault2 with a shared mapping (writes reach the disk image)",
         {kSizeParam, {"iterations", ParamKind::Unsigned, 1, 1000000, {}, "4", "map/touch/unmap rounds per thread"}, kThreadsParam, kInjectParam},
         true},
        {"mmap2", 1, "will-it-scale mmap2: each thread maps and unmaps SIZE of a disk file privately without touching it",
         {kSizeParam, {"iterations", ParamKind::Unsigned, 1, 10000000, {}, "100", "map/unmap pairs per thread"}, kThreadsParam, kInjectParam},
         true},
        {"io_race", 1, "threads read a file mapping while thread 0 re-maps it to other files and offsets (sleeping-fault ABA; use --disk-latency-us)",
         {{"size", ParamKind::SizeBytes, 4096, 1ull << 24, {}, "64K", "bytes of the raced region (divides the files' size)"},
          {"iterations", ParamKind::Unsigned, 1, 100000, {}, "20", "re-maps by thread 0"}, kThreadsParam, kInjectParam},
         true},
        {"lockhammer", 1, "every vCPU takes a lock N times in ring 0 (lockstat: contended vs disjoint locks)",
         {{"shared", ParamKind::Choice, 0, 0, {"0", "1"}, "1", "1: one lock for all vCPUs, 0: one lock per vCPU"},
          {"iterations", ParamKind::Unsigned, 1, 100000, {}, "300", "acquisitions per vCPU"},
          {"hold", ParamKind::Unsigned, 0, 100000, {}, "20", "loop iterations inside the lock"}}},
        {"mmtest", 1, "memory-manager checks: SEGV, mprotect, zero on reuse, TLB shootdown, bad arguments, PTLs",
         {{"test", ParamKind::Choice, 0, 0, {"segv", "mprotect", "zero_reuse", "shootdown", "badargs", "ptl", "iowait"},
           "segv", "which check"},
          {"size", ParamKind::SizeBytes, 4096, 1ull << 32, {}, "1M", "bytes per thread (zero_reuse, ptl)"},
          {"iterations", ParamKind::Unsigned, 1, 1000, {}, "3", "rounds (zero_reuse, ptl)"}, kInjectParam},
         true},
    };
    return table;
}

const std::vector<ParamSpec>& global_params() {
    static const std::vector<ParamSpec> params = {
        {"lockstat", ParamKind::Choice, 0, 0, {"on", "off"}, "on",
         "lock statistics in the guest (docs/lockstat.md); off: nothing is counted"},
    };
    return params;
}

const WorkloadSpec* find_workload(std::string_view name) {
    for (const WorkloadSpec& w : workloads())
        if (name == w.name) return &w;
    return nullptr;
}

std::string workload_names() {
    std::string out;
    for (const WorkloadSpec& w : workloads()) {
        if (!out.empty()) out += ", ";
        out += w.name;
    }
    return out;
}

namespace {

std::string accepted(const ParamSpec& p) {
    if (p.kind == ParamKind::SizeBytes)
        return "a nonzero multiple of 4096 bytes up to " + std::to_string(p.max >> 30) + "G, e.g. 4096, 64K, 4M";
    if (p.kind == ParamKind::Unsigned) return "an integer from " + std::to_string(p.min) + " to " + std::to_string(p.max);
    std::string out = "one of ";
    for (size_t i = 0; i < p.choices.size(); ++i) out += (i ? ", " : "") + p.choices[i];
    return out;
}

std::string keys(const WorkloadSpec& w) {
    std::string out;
    for (const ParamSpec& p : w.params) out += (out.empty() ? "" : ", ") + std::string(p.key);
    for (const ParamSpec& p : global_params()) out += (out.empty() ? "" : ", ") + std::string(p.key);
    return out;
}

}  // namespace

gmm::Result<std::map<std::string, std::string>, std::string> resolve_params(
    const WorkloadSpec& w, const std::vector<std::string>& assignments) {
    std::map<std::string, std::string> out;
    std::vector<const ParamSpec*> specs;
    for (const ParamSpec& p : w.params) specs.push_back(&p);
    for (const ParamSpec& p : global_params()) specs.push_back(&p);
    for (const ParamSpec& p : w.params) {
        uint64_t bytes = 0;
        out[p.key] = p.kind == ParamKind::SizeBytes && parse_size_bytes(p.default_value, bytes) ? std::to_string(bytes)
                                                                                              : p.default_value;
    }
    for (const std::string& a : assignments) {
        const size_t eq = a.find('=');
        if (eq == std::string::npos || eq == 0)
            return gmm::Err{"--param '" + a + "' is not key=value"};
        const std::string key = a.substr(0, eq), value = a.substr(eq + 1);
        const ParamSpec* spec = nullptr;
        for (const ParamSpec* p : specs)
            if (key == p->key) spec = p;
        if (!spec)
            return gmm::Err{"--param: workload '" + std::string(w.name) + "' has no key '" + key +
                            "' (accepted: " + keys(w) + ")"};
        bool ok = false;
        if (spec->kind == ParamKind::Unsigned) {
            errno = 0;
            char* end = nullptr;
            const unsigned long long v = value.empty() || value[0] == '-' ? 0 : std::strtoull(value.c_str(), &end, 10);
            ok = !value.empty() && value[0] != '-' && errno == 0 && end && *end == '\0' && v >= spec->min &&
                 v <= spec->max;
        } else if (spec->kind == ParamKind::SizeBytes) {
            uint64_t bytes = 0;
            ok = parse_size_bytes(value, bytes) && bytes >= spec->min && bytes <= spec->max && bytes % 4096 == 0;
            if (ok) {
                out[key] = std::to_string(bytes);
                continue;
            }
        } else {
            for (const std::string& c : spec->choices) ok |= value == c;
        }
        if (!ok)
            return gmm::Err{"--param " + key + "=" + value + ": invalid value (accepted: " + accepted(*spec) + ")"};
        out[key] = value;
    }
    return out;
}

std::string make_bootargs(const WorkloadSpec& w, const std::map<std::string, std::string>& params) {
    std::string out = "workload=" + std::string(w.name);
    for (const auto& [k, v] : params) out += " " + k + "=" + v;
    return out;
}

}  // namespace gmm::cli
