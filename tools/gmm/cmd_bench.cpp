// gmm bench: the benchmark suite. Runs every (workload, policy, vCPUs) cell in
// the guest (gmm run), the hosted harness (gmm mmbench) and natively (gmm
// native), as child processes of this binary, interleaving policies run by
// run; writes JSON/CSV per run and aggregated, gnuplot charts, and optionally
// the BENCHMARKS.md section. docs/bench.md describes it.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "bench_charts.h"
#include "bench_markdown.h"
#include "bench_matrix.h"
#include "bench_output.h"
#include "bench_runner.h"
#include "commands.h"

namespace gmm::cli {

namespace {

using namespace bench;
namespace fs = std::filesystem;

struct BenchArgs {
    SuiteKind suite = SuiteKind::Quick;
    std::string out = "bench-results";
    unsigned repeat = 0;  // 0: the suite's default
    std::string filter;
    std::vector<Env> envs;  // empty: all
    bool list = false;
    std::string markdown, publish, json;
};

void usage(FILE* out) {
    std::fprintf(out,
                 "usage: gmm bench [--suite quick|full] [--out DIR] [--repeat N] [--filter TEXT[,TEXT...]]\n"
                 "                 [--env guest,hosted,native] [--markdown FILE] [--publish-charts DIR]\n"
                 "                 [--json FILE|-] [--list]\n\n"
                 "Runs the benchmark suite: for each workload (page_fault1/2/3, mmap1/2, mixed, mapbench_local/\n"
                 "pipeline/global), each vCPU count (1, 2, 4) and each policy (global; extents with placement\n"
                 "leaf|hier and freecache global|percpu), in the guest (gmm run), in the hosted harness (gmm\n"
                 "mmbench) and as Linux-native threads (gmm native); policies interleaved run by run so that\n"
                 "machine drift hits them alike. Cells a runner does not offer are recorded as skipped with the\n"
                 "reason. Progress (case i/N, current case, time left) goes to stderr.\n\n"
                 "  --suite quick|full   quick: 256 KiB per thread, 3 repeats, under 10 minutes on 2 cores\n"
                 "                       full: 1 MiB per thread, 5 repeats (default quick)\n"
                 "  --out DIR            output directory (default bench-results): runs.json, runs.csv,\n"
                 "                       summary.json, summary.csv, runs/*.json|log, charts/*.svg|png|gp\n"
                 "  --repeat N           repeats per cell, 1..100 (default: the suite's)\n"
                 "  --filter TEXT,...    only cases whose id contains one of the texts; ids look like\n"
                 "                       guest/page_fault1/extents,placement=leaf,freecache=global/v2\n"
                 "  --env LIST           only these runners (guest, hosted, native; comma-separated)\n"
                 "  --markdown FILE      write the generated section into FILE (e.g. BENCHMARKS.md), replacing\n"
                 "                       the previous one between its marker comments\n"
                 "  --publish-charts DIR copy the charts to DIR and link them from the Markdown section\n"
                 "  --json FILE|-        also write summary.json to FILE ('-': stdout; no progress line then)\n"
                 "  --list               print the cases (and why some are skipped) and exit\n"
                 "Charts need gnuplot (Debian: gnuplot-nox); without it the results are complete and the\n"
                 "charts are listed as not drawn. Exit codes: 0 all runs ok or skipped, 1 some run failed,\n"
                 "2 bad input.\n");
}

int usage_error(const std::string& msg) {
    std::fprintf(stderr, "gmm bench: %s\n", msg.c_str());
    return kExitUsage;
}

int parse_args(int argc, char** argv, BenchArgs& a) {
    for (int i = 1; i < argc; ++i) {
        const std::string k = argv[i];
        if (k == "--help" || k == "-h") {
            usage(stdout);
            return -1;
        }
        if (k == "--list") {
            a.list = true;
            continue;
        }
        static const char* const kWithValue[] = {"--suite", "--out", "--repeat", "--filter", "--env", "--markdown",
                                                 "--publish-charts", "--json", "--cases"};
        bool known = false;
        for (const char* o : kWithValue) known |= k == o;
        if (!known)
            return usage_error("unknown option '" + k + "' (accepted: --suite --out --repeat --filter --env --markdown "
                               "--publish-charts --json --list --help)");
        if (i + 1 >= argc) return usage_error("option " + k + " needs a value (see gmm bench --help)");
        const std::string v = argv[++i];
        if (k == "--suite") {
            auto s = parse_suite(v);
            if (!s || *s == SuiteKind::Tiny) return usage_error("--suite '" + v + "' is not a suite (accepted: quick, full)");
            a.suite = *s;
        } else if (k == "--cases") {  // test only: one tiny case per workload
            if (v != "tiny") return usage_error("--cases '" + v + "' is not a case set (accepted: tiny)");
            a.suite = SuiteKind::Tiny;
        } else if (k == "--out") {
            if (v.empty()) return usage_error("--out '' is empty (accepted: a directory path)");
            a.out = v;
        } else if (k == "--repeat") {
            char* end = nullptr;
            errno = 0;
            const long n = std::strtol(v.c_str(), &end, 10);
            if (v.empty() || *end || errno || n < 1 || n > 100)
                return usage_error("--repeat '" + v + "' is not a repeat count (accepted: a whole number from 1 to 100)");
            a.repeat = unsigned(n);
        } else if (k == "--filter") {
            a.filter = v;
        } else if (k == "--env") {
            std::stringstream ss(v);
            for (std::string e; std::getline(ss, e, ',');) {
                if (e == "guest") a.envs.push_back(Env::Guest);
                else if (e == "hosted") a.envs.push_back(Env::Hosted);
                else if (e == "native") a.envs.push_back(Env::Native);
                else return usage_error("--env '" + e + "' is not a runner (accepted: guest, hosted, native)");
            }
            if (a.envs.empty()) return usage_error("--env '' names no runner (accepted: guest, hosted, native)");
        } else if (k == "--markdown") {
            a.markdown = v;
        } else if (k == "--publish-charts") {
            a.publish = v;
        } else if (k == "--json") {
            a.json = v;
        }
    }
    return 0;
}

// Creates DIR (and DIR/runs, DIR/charts) and proves it writable.
std::string prepare_out_dir(const std::string& dir) {
    std::error_code ec;
    for (const std::string& d : {dir, dir + "/runs", dir + "/charts"}) {
        fs::create_directories(d, ec);
        if (ec) return "--out " + dir + ": cannot create " + d + ": " + ec.message();
    }
    const std::string probe = dir + "/.write-test";
    FILE* f = std::fopen(probe.c_str(), "w");
    if (!f) return "--out " + dir + ": not writable: " + std::strerror(errno);
    std::fclose(f);
    std::remove(probe.c_str());
    return "";
}

std::string utc_now() {
    char buf[32];
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
    return buf;
}

std::string mmss(double s) {
    char buf[32];
    const long t = long(s + 0.5);
    std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
    return buf;
}

// Progress on stderr: one rewritten line on a terminal, one line per case otherwise.
class Progress {
public:
    explicit Progress(bool enabled) : on_(enabled), tty_(enabled && ::isatty(2)) {}
    void show(size_t i, size_t n, const Case& c, unsigned repeat, unsigned repeats, double elapsed, double left) {
        if (!on_) return;
        std::string line = "bench [" + std::to_string(i) + "/" + std::to_string(n) + "] " + env_name(c.env) + " " +
                           c.workload + " " + policy_label(c.policy) + " v" + std::to_string(c.vcpus) + " r" +
                           std::to_string(repeat + 1) + "/" + std::to_string(repeats);
        line += c.skip.empty() ? "" : " — " + c.skip;
        line += " | " + mmss(elapsed) + " elapsed, ~" + mmss(left) + " left";
        std::fprintf(stderr, tty_ ? "\r\033[K%s" : "%s\n", line.c_str());
        std::fflush(stderr);
    }
    void note(const std::string& s) {
        if (!on_) return;
        std::fprintf(stderr, tty_ ? "\r\033[K%s\n" : "%s\n", s.c_str());
    }
    void done() {
        if (on_ && tty_) std::fprintf(stderr, "\r\033[K");
    }

private:
    bool on_, tty_;
};

// Time left: the mean wall time of finished runs per runner, times the runs left per runner.
double estimate_left(const std::map<Env, std::pair<double, unsigned>>& done, const std::map<Env, unsigned>& left) {
    double total = 0, all_s = 0;
    unsigned all_n = 0;
    for (const auto& [e, p] : done) all_s += p.first, all_n += p.second;
    for (const auto& [e, n] : left) {
        auto it = done.find(e);
        const double mean = it != done.end() && it->second.second ? it->second.first / it->second.second
                            : all_n                               ? all_s / all_n
                                                                  : 1.0;
        total += mean * n;
    }
    return total;
}

bool write_or_complain(const std::string& path, const std::string& text) {
    std::ofstream out(path);
    out << text;
    out.close();
    if (!out) {
        std::fprintf(stderr, "gmm bench: cannot write %s\n", path.c_str());
        return false;
    }
    return true;
}

}  // namespace

int cmd_bench(int argc, char** argv) {
    BenchArgs a;
    if (int rc = parse_args(argc, argv, a); rc != 0) return rc < 0 ? kExitOk : rc;
    SuiteConfig cfg = suite_config(a.suite);
    if (!a.envs.empty()) cfg.envs = a.envs;
    const unsigned repeats = a.repeat ? a.repeat : cfg.sizes.default_repeat;
    const std::vector<Case> cases = build_cases(cfg, a.filter);
    if (cases.empty()) return usage_error("--filter '" + a.filter + "' selects no case (see gmm bench --list)");

    if (a.list) {
        for (const Case& c : cases) {
            std::string cmd = "gmm";
            for (const std::string& s : case_command(c, cfg.sizes)) cmd += " " + s;
            std::printf("%-72s %s\n", c.id().c_str(), c.skip.empty() ? cmd.c_str() : c.skip.c_str());
        }
        return kExitOk;
    }
    if (std::string err = prepare_out_dir(a.out); !err.empty()) return usage_error(err);
    if (!a.publish.empty()) {
        std::error_code ec;
        fs::create_directories(a.publish, ec);
        if (ec) return usage_error("--publish-charts " + a.publish + ": cannot create: " + ec.message());
    }

    SuiteMeta meta = machine_meta();
    meta.suite = suite_name(a.suite);
    meta.started_utc = utc_now();
    meta.load_start = load_average();
    meta.repeat = repeats;
    meta.sizes = cfg.sizes;
    meta.command_line = "gmm";
    for (int i = 0; i < argc; ++i) meta.command_line += std::string(" ") + argv[i];

    const std::string exe = self_exe();
    Progress progress(a.json != "-");
    const size_t total = cases.size() * repeats;
    std::map<Env, unsigned> left;
    for (const Case& c : cases)
        if (c.skip.empty()) left[c.env] += repeats;
    std::map<Env, std::pair<double, unsigned>> done;
    std::vector<RunRecord> runs;
    const auto t0 = std::chrono::steady_clock::now();
    size_t i = 0;
    // Interleaved: every repeat walks the whole table, whose neighbouring
    // entries are the policies of one (workload, vCPUs) cell.
    for (unsigned r = 0; r < repeats; ++r)
        for (const Case& c : cases) {
            const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            progress.show(++i, total, c, r, repeats, elapsed, estimate_left(done, left));
            RunRecord rec = run_case(exe, a.out, c, cfg.sizes, r);
            if (c.skip.empty()) {
                left[c.env] -= 1;
                auto& d = done[c.env];
                d.first += rec.metrics.count("wall_seconds") ? rec.metrics["wall_seconds"] : 0;
                d.second += 1;
            }
            if (rec.status == "failed") progress.note("bench: FAILED " + c.id() + " r" + std::to_string(r + 1) + ": " + rec.reason);
            if (meta.kvm_mode.empty() && !rec.kvm_mode.empty()) meta.kvm_mode = rec.kvm_mode;
            runs.push_back(std::move(rec));
        }
    progress.done();
    meta.duration_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    meta.load_end = load_average();

    const std::vector<AggregateRow> rows = aggregate(runs);
    // Every vCPU count that occurs (the tiny suite runs mixed at 2).
    std::vector<unsigned> vcpus;
    for (const Case& c : cases)
        if (std::find(vcpus.begin(), vcpus.end(), c.vcpus) == vcpus.end()) vcpus.push_back(c.vcpus);
    std::sort(vcpus.begin(), vcpus.end());
    ChartPlan plan{cfg.policies, vcpus, cfg.workloads};
    const ChartResult charts = draw_charts(a.out + "/charts", rows, plan);
    for (const std::string& n : charts.not_drawn) progress.note("bench: chart not drawn: " + n);

    bool ok = write_or_complain(a.out + "/runs.json", runs_json(meta, runs)) &&
              write_or_complain(a.out + "/runs.csv", runs_csv(runs)) &&
              write_or_complain(a.out + "/summary.json", summary_json(meta, rows, charts.not_drawn)) &&
              write_or_complain(a.out + "/summary.csv", summary_csv(rows));
    if (!a.json.empty()) {
        const std::string text = summary_json(meta, rows, charts.not_drawn);
        if (a.json == "-") std::fputs(text.c_str(), stdout);
        else ok = write_or_complain(a.json, text) && ok;
    }

    std::string link_dir = a.out + "/charts";
    if (!a.publish.empty()) {
        for (const std::string& f : charts.drawn) {
            std::error_code ec;
            fs::copy_file(a.out + "/charts/" + f, a.publish + "/" + f, fs::copy_options::overwrite_existing, ec);
            if (ec) ok = false, std::fprintf(stderr, "gmm bench: cannot copy %s to %s: %s\n", f.c_str(), a.publish.c_str(), ec.message().c_str());
        }
        link_dir = a.publish;
    }
    if (!a.markdown.empty()) {
        std::error_code ec;
        const fs::path md_dir = fs::absolute(a.markdown).parent_path();
        const std::string rel = fs::relative(fs::absolute(link_dir), md_dir, ec).generic_string();
        std::ifstream in(a.markdown);
        std::stringstream doc;
        if (in) doc << in.rdbuf();
        ok = write_or_complain(a.markdown, splice_section(doc.str(), markdown_section(meta, rows, plan, charts,
                                                                                      ec || rel.empty() ? link_dir : rel))) &&
             ok;
    }

    unsigned n_ok = 0, n_failed = 0, n_skipped = 0;
    for (const RunRecord& r : runs) (r.status == "ok" ? n_ok : r.status == "failed" ? n_failed : n_skipped) += 1;
    progress.note("bench: " + std::to_string(n_ok) + " runs ok, " + std::to_string(n_failed) + " failed, " +
                  std::to_string(n_skipped) + " skipped in " + mmss(meta.duration_s) + "; results in " + a.out);
    if (!ok) return kExitHostError;
    if (n_failed) {
        std::fprintf(stderr, "gmm bench: %u runs failed (see %s/runs.csv)\n", n_failed, a.out.c_str());
        return kExitHostError;
    }
    return kExitOk;
}

}  // namespace gmm::cli
