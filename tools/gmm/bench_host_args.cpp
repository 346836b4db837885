#include "bench_host_args.h"

#include <cstdlib>
#include <cstring>

#include "commands.h"

namespace gmm::cli::bench {

namespace {

bool parse_size(const char* s, uint64_t* out) {
    char* end = nullptr;
    if (*s < '0' || *s > '9') return false;
    unsigned long long v = std::strtoull(s, &end, 10);
    if (end == s) return false;
    uint64_t mul = 1;
    if (*end == 'K' || *end == 'k') mul = 1ull << 10, ++end;
    else if (*end == 'M' || *end == 'm') mul = 1ull << 20, ++end;
    else if (*end == 'G' || *end == 'g') mul = 1ull << 30, ++end;
    if (*end || v == 0 || v > (1ull << 46) / mul) return false;
    *out = v * mul;
    return true;
}

int bad(const HostBenchTool& tool, const std::string& what, const char* value, const std::string& accepted) {
    std::fprintf(stderr, "gmm %s: bad %s '%s' (accepted: %s)\n", tool.name, what.c_str(), value, accepted.c_str());
    return kExitUsage;
}

}  // namespace

std::string joined_workloads(const HostBenchTool& tool, const char* sep) {
    std::string out;
    for (const char* w : tool.workloads) out += (out.empty() ? "" : sep) + std::string(w);
    return out;
}

int parse_host_bench_args(const HostBenchTool& tool, int argc, char** argv, HostBenchArgs& a) {
    bool have_mm = false;
    const std::string options = std::string(tool.takes_mm ? "--mm " : "") +
                                "--workload --threads --seconds --size --iterations --json --list-workloads --help";
    for (int i = 1; i < argc; ++i) {
        const std::string k = argv[i];
        if (k == "--help" || k == "-h") {
            tool.usage(stdout);
            return -1;
        }
        if (k == "--list-workloads") {
            for (const char* w : tool.workloads) std::printf("%s\n", w);
            return -1;
        }
        if (i + 1 >= argc) return bad(tool, "option", k.c_str(), options + " (each option but the last two takes a value)");
        const char* v = argv[++i];
        if (k == "--workload") {
            a.spec = nullptr;
            for (const char* w : tool.workloads)
                if (!std::strcmp(v, w)) a.spec = find_pattern_workload(w);
            if (!a.spec) return bad(tool, "--workload", v, joined_workloads(tool, ", "));
        } else if (k == "--mm" && tool.takes_mm) {
            a.mm_text = v;
            have_mm = true;
        } else if (k == "--threads") {
            char* end = nullptr;
            const long n = std::strtol(v, &end, 10);
            if (*end || end == v || n < 1 || n > 64) return bad(tool, "--threads", v, "an integer 1..64");
            a.threads = unsigned(n);
        } else if (k == "--seconds") {
            char* end = nullptr;
            a.seconds = std::strtod(v, &end);
            if (*end || end == v || !(a.seconds > 0) || a.seconds > 3600)
                return bad(tool, "--seconds", v, "a number in (0, 3600]");
        } else if (k == "--size") {
            if (!parse_size(v, &a.size_bytes) || a.size_bytes % 4096)
                return bad(tool, "--size", v, "bytes, a nonzero multiple of 4096, optional K/M/G suffix");
        } else if (k == "--iterations") {
            char* end = nullptr;
            a.rounds = std::strtoull(v, &end, 10);
            if (*end || end == v || *v == '-' || a.rounds == 0) return bad(tool, "--iterations", v, "a positive integer");
        } else if (k == "--json") {
            a.json = v;
        } else {
            return bad(tool, "option", k.c_str(), options);
        }
    }
    if (!a.spec) return bad(tool, "--workload", "(missing)", joined_workloads(tool, ", "));
    if (tool.takes_mm && !have_mm)
        return bad(tool, "--mm", "(missing)", "global | extents[,placement=leaf|hier][,freecache=global|percpu]");
    if (a.threads < a.spec->min_threads)
        return bad(tool, "--threads", std::to_string(a.threads).c_str(),
                   "at least " + std::to_string(a.spec->min_threads) + " for " + a.spec->name);
    return 0;
}

}  // namespace gmm::cli::bench
