#include "bench_markdown.h"

#include <cmath>
#include <cstdio>

namespace gmm::cli::bench {

namespace {

std::string num(double v, int digits = 3) {
    if (std::isnan(v)) return "–";
    char buf[64];
    if (std::fabs(v) >= 1000) std::snprintf(buf, sizeof buf, "%.0f", v);
    else std::snprintf(buf, sizeof buf, "%.*g", digits, v);
    return buf;
}

std::string ratio(double a, double b) {
    if (std::isnan(a) || std::isnan(b) || b == 0) return "–";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f×", a / b);
    return buf;
}

std::string percent(double a, double b) {
    if (std::isnan(a) || std::isnan(b) || b == 0) return "–";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f%%", 100 * a / b);
    return buf;
}

// Total throughput at v threads over total at 1 thread.
double scaling(const std::vector<AggregateRow>& rows, Env env, const std::string& w, const std::string& p, unsigned v) {
    const double one = median_of(rows, env, w, p, 1, "ops_per_sec");
    const double n = median_of(rows, env, w, p, v, "ops_per_sec");
    return (std::isnan(one) || one == 0) ? std::nan("") : n / one;
}

bool has_env(const std::vector<AggregateRow>& rows, Env env) {
    for (const AggregateRow& r : rows)
        if (r.env == env && r.status == "ok") return true;
    return false;
}

}  // namespace

std::string markdown_section(const SuiteMeta& meta, const std::vector<AggregateRow>& rows, const ChartPlan& plan,
                             const ChartResult& charts, const std::string& link_dir) {
    std::string md = std::string(kMarkdownBegin) + "\n\n";
    md += "## Benchmark suite: `gmm bench --suite " + meta.suite + "` (generated " + meta.started_utc + ")\n\n";
    md += "- Machine: " + meta.cpu_model + ", " + std::to_string(meta.cores) + " cores online, " + meta.kernel + ".\n";
    const bool emulated = meta.kvm_mode == "emulated";
    md += "- KVM mode detected by the guest runs: **" + (meta.kvm_mode.empty() ? std::string("unknown (no guest run)") : meta.kvm_mode) +
          "**." + (emulated ? " Guest supervisor mode is emulated on this machine (about 1–3 µs per ring-0 instruction), "
                              "so absolute in-guest times and rates below are **not hardware figures**; instruction "
                              "counts (exact here) and ratios within this run are comparable."
                            : "") + "\n";
    char sizes[256];
    std::snprintf(sizes, sizeof sizes,
                  "- Sizes: %llu KiB per thread everywhere; guest %llu map/touch/unmap round(s) or %llu mmap pairs per "
                  "thread; hosted and native runs %.2f s each.\n",
                  (unsigned long long)(meta.sizes.size_bytes >> 10), (unsigned long long)meta.sizes.fault_rounds,
                  (unsigned long long)meta.sizes.mmap_rounds, meta.sizes.host_seconds);
    md += sizes;
    char run[256];
    std::snprintf(run, sizeof run, "- %u repeat(s), policies interleaved run by run; medians over repeats; suite took %.0f s.\n",
                  meta.repeat, meta.duration_s);
    md += run;
    md += "- Load average (1, 5, 15 min) at the start: " + (meta.load_start.empty() ? "unknown" : meta.load_start) +
          "; at the end: " + (meta.load_end.empty() ? "unknown" : meta.load_end) +
          ". Above about 2.5 on a 2-core machine the threads of a run do not get their own cores and scaling ratios "
          "are unreliable.\n";
    md += "- Command: `" + meta.command_line + "`; per-run and aggregate JSON/CSV in the output directory "
          "(runs.json, runs.csv, summary.json, summary.csv).\n\n";

    // The seed's question: does extents scale where global does not, and does
    // a faulting thread keep its rate beside an mmap/munmap churner?
    const std::string global = "global";
    const std::string leaf = "extents,placement=leaf,freecache=global";
    md += "### Headline ratios (medians of this run)\n\n";
    auto pair = [&](Env env, const std::string& w) {
        return "global " + num(scaling(rows, env, w, global, 2), 3) + "× vs extents-leaf " +
               num(scaling(rows, env, w, leaf, 2), 3) + "×";
    };
    for (const char* w : {"page_fault1", "mmap1", "mapbench_local", "mapbench_pipeline", "mapbench_global"})
        md += std::string("- ") + w + ", total at 2 threads ÷ 1 thread: guest " + pair(Env::Guest, w) + "; hosted " +
              pair(Env::Hosted, w) + "; Linux native " + num(scaling(rows, Env::Native, w, "linux", 2), 3) + "×.\n";
    auto kept = [&](Env env, const std::string& p) {
        return percent(median_of(rows, env, "mixed", p, 2, "faulter_ops_per_sec_per_thread"),
                       median_of(rows, env, "page_fault1", p, 1, "ops_per_sec_per_thread"));
    };
    md += "- mixed, 2 threads: the faulting thread keeps " + kept(Env::Guest, global) + " (global) vs " +
          kept(Env::Guest, leaf) + " (extents-leaf) of its solo rate in the guest, " + kept(Env::Hosted, global) +
          " vs " + kept(Env::Hosted, leaf) + " hosted; Linux natively keeps " + kept(Env::Native, "linux") + ".\n";
    const double gi = median_of(rows, Env::Guest, "page_fault1", global, 1, "guest_kernel_insns_per_fault");
    const double ei = median_of(rows, Env::Guest, "page_fault1", leaf, 1, "guest_kernel_insns_per_fault");
    md += "- guest-kernel instructions per anonymous fault (page_fault1, 1 vCPU, touch loop only): global " + num(gi, 4) +
          ", extents-leaf " + num(ei, 4) + " (" + ratio(ei, gi) + ").\n\n";
    md += "### Scaling: total ops/s at N threads ÷ at 1 thread (median); linear = N\n\n";
    for (Env env : {Env::Guest, Env::Hosted}) {
        if (!has_env(rows, env)) continue;
        md += std::string("**") + (env == Env::Guest ? "In the guest (gmm run; emulated ring 0)" : "Hosted guestmm (gmm mmbench)") +
              "**, with the Linux-native reference (gmm native) for comparison\n\n";
        md += "| workload |";
        for (const std::string& p : plan.policies) md += " " + policy_label(p) + " |";
        md += " linux native |\n|---|";
        for (size_t i = 0; i <= plan.policies.size(); ++i) md += "---|";
        md += "\n";
        const size_t table_rows_at = md.size();
        for (const std::string& w : plan.workloads) {
            std::string line = "| " + w + " |";
            bool any = false;
            for (const std::string& p : plan.policies) {
                const double s2 = scaling(rows, env, w, p, 2), s4 = scaling(rows, env, w, p, 4);
                any |= !std::isnan(s2);
                line += " " + num(s2, 3) + " / " + num(s4, 3) + " |";
            }
            line += " " + num(scaling(rows, Env::Native, w, "linux", 2), 3) + " / " +
                    num(scaling(rows, Env::Native, w, "linux", 4), 3) + " |";
            if (any) md += line + "\n";
        }
        if (md.size() == table_rows_at) md += "| (no workload ran at 1 and 2 threads) |\n";
        md += "\nCells: 2/1 / 4/1. This machine has 2 cores, so 4 threads only time-slice them.\n\n";
    }

    md += "### extents vs global: scaling at 2 threads relative to global's (>1: extents scales better)\n\n";
    md += "| workload | env | extents-leaf | extents-hier | extents-leaf-percpu | extents-hier-percpu |\n|---|---|---|---|---|---|\n";
    for (const std::string& w : plan.workloads)
        for (Env env : {Env::Guest, Env::Hosted}) {
            const double g = scaling(rows, env, w, global, 2);
            if (std::isnan(g)) continue;
            md += "| " + w + " | " + env_name(env) + " |";
            for (const char* p : {"extents,placement=leaf,freecache=global", "extents,placement=hier,freecache=global",
                                  "extents,placement=leaf,freecache=percpu", "extents,placement=hier,freecache=percpu"})
                md += " " + ratio(scaling(rows, env, w, p, 2), g) + " |";
            md += "\n";
        }

    md += "\n### Mixed: a faulting thread beside an mmap/munmap churner, against its rate alone\n\n";
    md += "Alone = page_fault1 at 1 thread (the solo rate); in mixed = the faulting threads' own rate at N threads "
          "(thread 0 churns; at N = 4 the three faulters also share the 2 cores). Kept = in mixed ÷ alone.\n\n";
    md += "| env | policy | N | alone (faults/s/thread) | in mixed | kept |\n|---|---|---|---|---|---|\n";
    for (Env env : {Env::Guest, Env::Hosted, Env::Native}) {
        std::vector<std::string> ps = env == Env::Native ? std::vector<std::string>{"linux"} : plan.policies;
        for (const std::string& p : ps)
            for (unsigned v : plan.vcpus) {
                if (v < 2) continue;
                const double solo = median_of(rows, env, "page_fault1", p, 1, "ops_per_sec_per_thread");
                const double mixed = median_of(rows, env, "mixed", p, v, "faulter_ops_per_sec_per_thread");
                if (std::isnan(solo) && std::isnan(mixed)) continue;
                md += std::string("| ") + env_name(env) + " | " + policy_label(p) + " | " + std::to_string(v) + " | " +
                      num(solo) + " | " + num(mixed) + " | " + percent(mixed, solo) + " |\n";
            }
    }

    md += "\n### Guest-kernel instructions per operation (KVM insn_emulation, 1 vCPU, median)\n\n"
          "Per op over the whole measured section (map, touches, unmap, synchronisation); page_fault1's per-fault "
          "figure (touch loop only) is in the headline above and in summary.csv.\n\n| workload |";
    for (const std::string& p : plan.policies) md += " " + policy_label(p) + " |";
    md += " extents-leaf ÷ global |\n|---|";
    for (size_t i = 0; i <= plan.policies.size(); ++i) md += "---|";
    md += "\n";
    for (const std::string& w : plan.workloads) {
        const double g = median_of(rows, Env::Guest, w, global, 1, "guest_kernel_insns_per_op");
        const double e = median_of(rows, Env::Guest, w, "extents,placement=leaf,freecache=global", 1, "guest_kernel_insns_per_op");
        std::string line = "| " + w + " |";
        bool any = false;
        for (const std::string& p : plan.policies) {
            const double v = median_of(rows, Env::Guest, w, p, 1, "guest_kernel_insns_per_op");
            any |= !std::isnan(v);
            line += " " + num(v, 4) + " |";
        }
        if (any) md += line + " " + ratio(e, g) + " |\n";
    }

    md += "\n### Throughput per thread (median ops/s at 1 / 2 / 4 threads)\n\n";
    md += "In-guest figures are under emulated supervisor mode (see above): compare them with each other, not with the "
          "hosted or native columns.\n\n| workload | env | policy | 1 | 2 | 4 |\n|---|---|---|---|---|---|\n";
    for (const std::string& w : plan.workloads)
        for (Env env : {Env::Guest, Env::Hosted, Env::Native}) {
            std::vector<std::string> ps = env == Env::Native ? std::vector<std::string>{"linux"} : plan.policies;
            for (const std::string& p : ps) {
                std::string line = "| " + w + " | " + env_name(env) + " | " + policy_label(p) + " |";
                bool any = false;
                for (unsigned v : {1u, 2u, 4u}) {
                    const double x = median_of(rows, env, w, p, v, "ops_per_sec_per_thread");
                    any |= !std::isnan(x);
                    line += " " + num(x) + " |";
                }
                if (any) md += line + "\n";
            }
        }

    std::vector<std::string> notes;
    for (const AggregateRow& r : rows)
        if (r.status != "ok") {
            const std::string n = std::string(env_name(r.env)) + " " + r.workload + ": " + r.reason;
            bool seen = false;
            for (const std::string& x : notes) seen |= x == n;
            if (!seen) notes.push_back(n);
        }
    for (const AggregateRow& r : rows)
        if (r.status == "ok" && r.runs_failed)
            notes.push_back(std::string(env_name(r.env)) + " " + r.workload + " " + policy_label(r.policy) + " v" +
                            std::to_string(r.vcpus) + ": " + std::to_string(r.runs_failed) + " of " +
                            std::to_string(r.runs_ok + r.runs_failed) + " runs failed (medians over the others): " +
                            r.reason);
    if (!notes.empty()) {
        md += "\n### Not measured, or failed\n\n";
        for (const std::string& n : notes) md += "- " + n + "\n";
    }

    md += "\n### Charts\n\n";
    for (const std::string& name : chart_names()) {
        bool svg = false, png = false;
        for (const std::string& d : charts.drawn) svg |= d == name + ".svg", png |= d == name + ".png";
        if (svg) md += "- " + name + ": [SVG](" + link_dir + "/" + name + ".svg)" + (png ? " · [PNG](" + link_dir + "/" + name + ".png)" : "") + "\n";
    }
    for (const std::string& n : charts.not_drawn) md += "- not drawn: " + n + "\n";
    md += "\n![in-guest throughput per thread](" + link_dir + "/throughput-guest.svg)\n";
    md += "\n" + std::string(kMarkdownEnd) + "\n";
    return md;
}

std::string splice_section(const std::string& doc, const std::string& section) {
    const size_t b = doc.find(kMarkdownBegin);
    const size_t e = b == std::string::npos ? std::string::npos : doc.find(kMarkdownEnd, b);
    if (b == std::string::npos || e == std::string::npos) {
        std::string out = doc;
        if (!out.empty() && out.back() != '\n') out += "\n";
        if (!out.empty()) out += "\n";
        return out + section;
    }
    size_t after = e + std::string(kMarkdownEnd).size();
    if (after < doc.size() && doc[after] == '\n') ++after;
    return doc.substr(0, b) + section + doc.substr(after);
}

}  // namespace gmm::cli::bench
