#include "bench_matrix.h"

#include <cstdio>

#include "bench_patterns.h"
#include "workloads.h"

namespace gmm::cli::bench {

namespace {

// How a suite workload runs in the guest: gmm run's workload name and an
// extra parameter (mapbench's mode).
struct GuestForm {
    std::string workload;
    std::string mode;  // mapbench only
};

GuestForm guest_form(const std::string& w) {
    if (w.rfind("mapbench_", 0) == 0) return {"mapbench", w.substr(9)};
    return {w, ""};
}

const ParamSpec* find_param(const WorkloadSpec& w, const char* key) {
    for (const ParamSpec& p : w.params)
        if (std::string(p.key) == key) return &p;
    return nullptr;
}

bool is_mmap_workload(const std::string& w) { return w.rfind("mmap", 0) == 0; }

}  // namespace

const char* env_name(Env e) {
    switch (e) {
        case Env::Guest: return "guest";
        case Env::Hosted: return "hosted";
        case Env::Native: return "native";
    }
    return "?";
}

std::optional<SuiteKind> parse_suite(const std::string& name) {
    if (name == "quick") return SuiteKind::Quick;
    if (name == "full") return SuiteKind::Full;
    if (name == "tiny") return SuiteKind::Tiny;
    return std::nullopt;
}

const char* suite_name(SuiteKind k) {
    switch (k) {
        case SuiteKind::Quick: return "quick";
        case SuiteKind::Full: return "full";
        case SuiteKind::Tiny: return "tiny";
    }
    return "?";
}

std::string Case::id() const {
    return std::string(env_name(env)) + "/" + workload + "/" + policy + "/v" + std::to_string(vcpus);
}

SuiteConfig suite_config(SuiteKind kind) {
    SuiteConfig c;
    c.kind = kind;
    c.workloads = {"page_fault1",    "page_fault2",       "page_fault3",    "mmap1", "mmap2", "mixed",
                   "mapbench_local", "mapbench_pipeline", "mapbench_global"};
    c.envs = {Env::Guest, Env::Hosted, Env::Native};
    c.policies = {"global", "extents,placement=leaf,freecache=global", "extents,placement=hier,freecache=global",
                  "extents,placement=leaf,freecache=percpu", "extents,placement=hier,freecache=percpu"};
    c.vcpus = {1, 2, 4};
    switch (kind) {
        // Quick: every cell once per repeat at sizes where a guest fault costs
        // ~1 ms of emulated ring 0 (shared/HOST-KVM.md) and the whole suite
        // stays well under 10 minutes on a 2-core machine.
        case SuiteKind::Quick: c.sizes = {256ull << 10, 1, 8, 0.25, 3, 120}; break;
        case SuiteKind::Full: c.sizes = {1ull << 20, 2, 40, 1.0, 5, 300}; break;
        case SuiteKind::Tiny:
            c.sizes = {64ull << 10, 1, 2, 0.05, 1, 60};
            c.policies = {"extents,placement=leaf,freecache=global"};
            c.vcpus = {1};
            break;
    }
    return c;
}

std::string availability(Env env, const std::string& workload, unsigned vcpus) {
    const PatternSpec* pattern = find_pattern_workload(workload);
    const unsigned min_threads = pattern ? pattern->min_threads : 1;
    if (vcpus < min_threads)
        return "skipped: " + workload + " needs " + std::to_string(min_threads) + " or more threads";
    if (env == Env::Guest) {
        const GuestForm g = guest_form(workload);
        const WorkloadSpec* w = find_workload(g.workload);
        if (!w || !w->uses_mm) return "skipped: workload not available in the guest (gmm run has no '" + g.workload + "')";
        if (!g.mode.empty()) {
            const ParamSpec* mode = find_param(*w, "mode");
            bool found = false;
            if (mode)
                for (const std::string& ch : mode->choices) found |= ch == g.mode;
            if (!found) return "skipped: workload not available in the guest (gmm run mapbench has no mode=" + g.mode + ")";
        }
        if (vcpus < w->min_vcpus) return "skipped: guest " + g.workload + " needs " + std::to_string(w->min_vcpus) + " vCPUs";
        return "";
    }
    if (!pattern) return "skipped: workload not available in the " + std::string(env_name(env)) + " runner";
    if (env == Env::Hosted && !hosted_supports(*pattern))
        return "skipped: workload not available in the hosted harness (no file backing object)";
    return "";
}

std::vector<std::string> case_command(const Case& c, const SuiteSizes& s) {
    const std::string size = std::to_string(s.size_bytes);
    if (c.env == Env::Guest) {
        const GuestForm g = guest_form(c.workload);
        std::vector<std::string> out = {"run", "-q", "--vcpus", std::to_string(c.vcpus), "--workload", g.workload,
                                        "--mm", c.policy, "--timeout", std::to_string(s.guest_timeout_s)};
        const WorkloadSpec* w = find_workload(g.workload);
        auto param = [&](const char* key, const std::string& value) {
            if (w && find_param(*w, key)) out.insert(out.end(), {"--param", std::string(key) + "=" + value});
        };
        param("size", size);
        param("iterations", std::to_string(is_mmap_workload(c.workload) ? s.mmap_rounds : s.fault_rounds));
        if (!g.mode.empty()) param("mode", g.mode);
        return out;
    }
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%g", s.host_seconds);
    std::vector<std::string> out = {c.env == Env::Hosted ? "mmbench" : "native", "--workload", c.workload,
                                    "--threads", std::to_string(c.vcpus), "--seconds", seconds, "--size", size};
    if (c.env == Env::Hosted) out.insert(out.end(), {"--mm", c.policy});
    return out;
}

namespace {
bool selected(const std::string& id, const std::string& filter) {
    if (filter.empty()) return true;
    for (size_t start = 0;;) {
        const size_t comma = filter.find(',', start);
        const std::string part = filter.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (!part.empty() && id.find(part) != std::string::npos) return true;
        if (comma == std::string::npos) return false;
        start = comma + 1;
    }
}
}  // namespace

std::vector<Case> build_cases(const SuiteConfig& cfg, const std::string& filter) {
    std::vector<Case> out;
    auto add = [&](Env env, const std::string& w, const std::string& policy, unsigned v) {
        Case c{env, w, policy, v, availability(env, w, v)};
        if (selected(c.id(), filter)) out.push_back(c);
    };
    for (const std::string& w : cfg.workloads) {
        std::vector<unsigned> vcpus = cfg.vcpus;
        // A tiny suite still needs a faulting thread beside mixed's churner,
        // and a second thread to hand regions to or share them with.
        if (cfg.kind == SuiteKind::Tiny && (w == "mixed" || w == "mapbench_pipeline" || w == "mapbench_global"))
            vcpus = {2};
        for (unsigned v : vcpus)
            for (Env env : cfg.envs) {
                if (env == Env::Native) add(env, w, "linux", v);
                else
                    for (const std::string& p : cfg.policies) add(env, w, p, v);
            }
    }
    return out;
}

}  // namespace gmm::cli::bench
