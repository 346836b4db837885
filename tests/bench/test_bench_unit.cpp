// gmm bench without KVM: statistics, aggregation, the case table, CSV and
// Markdown output, and the command line's bad-input errors.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cmath>

#include "bench_cli.h"
#include "bench_markdown.h"
#include "bench_matrix.h"
#include "bench_output.h"
#include "bench_stats.h"
#include "json_writer.h"
#include "workloads.h"

using namespace gmm::cli::bench;
using gmm::test::parse_csv;
using gmm::test::run_gmm_cli;

TEST_CASE("median of an odd sample is its middle value, of an even one the mean of the middle two", "[bench]") {
    CHECK(*quantile({5, 1, 3}, 0.5) == 3);
    CHECK(*quantile({4, 1, 3, 2}, 0.5) == 2.5);
    CHECK(*quantile({7}, 0.5) == 7);
    CHECK_FALSE(quantile({}, 0.5).has_value());
    CHECK_FALSE(quantile({1, 2}, 1.5).has_value());
}

TEST_CASE("spread gives min, max and interpolated quartiles and ignores NaN", "[bench]") {
    const auto s = spread({10, 40, 20, 30, 50, std::nan("")});
    REQUIRE(s);
    CHECK(s->n == 5);
    CHECK(s->median == 30);
    CHECK(s->min == 10);
    CHECK(s->max == 50);
    CHECK(s->q1 == 20);
    CHECK(s->q3 == 40);
    const auto t = spread({1, 2});
    REQUIRE(t);
    CHECK(t->q1 == Approx(1.25));
    CHECK(t->q3 == Approx(1.75));
    CHECK_FALSE(spread({std::nan("")}).has_value());
}

namespace {
RunRecord rec(const std::string& policy, unsigned v, const std::string& status, double rate) {
    RunRecord r;
    r.c = Case{Env::Hosted, "page_fault1", policy, v, ""};
    r.status = status;
    if (status == "ok") r.metrics["ops_per_sec"] = rate;
    else r.reason = "exit 1: boom";
    return r;
}
}  // namespace

TEST_CASE("aggregation groups repeats per cell, takes medians of ok runs only and keeps the failure reason", "[bench]") {
    const std::vector<RunRecord> runs = {rec("global", 1, "ok", 100), rec("extents", 1, "ok", 10),
                                         rec("global", 1, "ok", 300), rec("extents", 1, "failed", 0),
                                         rec("global", 1, "ok", 200), rec("extents", 2, "failed", 0)};
    const auto rows = aggregate(runs);
    REQUIRE(rows.size() == 3);
    const AggregateRow* g = find_row(rows, Env::Hosted, "page_fault1", "global", 1);
    REQUIRE(g);
    CHECK(g->runs_ok == 3);
    CHECK(g->status == "ok");
    CHECK(g->metrics.at("ops_per_sec").median == 200);
    CHECK(g->metrics.at("ops_per_sec").min == 100);
    CHECK(g->metrics.at("ops_per_sec").max == 300);
    const AggregateRow* e = find_row(rows, Env::Hosted, "page_fault1", "extents", 1);
    REQUIRE(e);
    CHECK(e->runs_ok == 1);
    CHECK(e->runs_failed == 1);
    CHECK(e->metrics.at("ops_per_sec").median == 10);
    const AggregateRow* f = find_row(rows, Env::Hosted, "page_fault1", "extents", 2);
    REQUIRE(f);
    CHECK(f->status == "failed");
    CHECK(f->reason == "exit 1: boom");
    CHECK(std::isnan(median_of(rows, Env::Hosted, "page_fault1", "extents", 2, "ops_per_sec")));
}

TEST_CASE("summary CSV has one row per cell and quotes policies that contain commas", "[bench]") {
    const auto rows = aggregate({rec("extents,placement=hier,freecache=percpu", 1, "ok", 5)});
    const auto csv = parse_csv(summary_csv(rows));
    REQUIRE(csv.size() == 2);
    CHECK(csv[0].size() == csv[1].size());
    CHECK(csv[1][2] == "extents,placement=hier,freecache=percpu");
    CHECK(csv[0][8] == "ops_per_sec_median");
    CHECK(csv[1][8] == "5");
}

TEST_CASE("the case table interleaves policies within each cell and covers every runner", "[bench]") {
    const SuiteConfig cfg = suite_config(SuiteKind::Quick);
    const auto cases = build_cases(cfg, "");
    REQUIRE(cases.size() == cfg.workloads.size() * cfg.vcpus.size() * (2 * cfg.policies.size() + 1));
    // The first cell: page_fault1 at 1 vCPU, every guest policy in turn, then hosted, then native.
    for (size_t i = 0; i < cfg.policies.size(); ++i) {
        CHECK(cases[i].env == Env::Guest);
        CHECK(cases[i].workload == "page_fault1");
        CHECK(cases[i].vcpus == 1);
        CHECK(cases[i].policy == cfg.policies[i]);
    }
    CHECK(cases[2 * cfg.policies.size()].env == Env::Native);
    CHECK(cases[2 * cfg.policies.size() + 1].vcpus == 2);
}

TEST_CASE("unavailable workloads become skipped cases with the reason, never runs", "[bench]") {
    // mixed needs a churner and a faulter.
    CHECK(availability(Env::Native, "mixed", 1).rfind("skipped: mixed needs 2", 0) == 0);
    CHECK(availability(Env::Native, "mixed", 2).empty());
    // The hosted harness has no file backing object.
    CHECK(availability(Env::Hosted, "page_fault2", 1).rfind("skipped: workload not available in the hosted", 0) == 0);
    CHECK(availability(Env::Native, "page_fault2", 1).empty());
    // The guest side follows gmm run's own workload table.
    const bool guest_has_pf2 = gmm::cli::find_workload("page_fault2") != nullptr;
    CHECK(availability(Env::Guest, "page_fault2", 1).empty() == guest_has_pf2);
    if (!guest_has_pf2) CHECK(availability(Env::Guest, "page_fault2", 1).find("not available in the guest") != std::string::npos);
    CHECK(availability(Env::Guest, "page_fault1", 1).empty());
    CHECK(availability(Env::Guest, "no_such_workload", 1).rfind("skipped:", 0) == 0);
}

TEST_CASE("guest cases run gmm run with the suite's sizes and the policy; host cases the host tools", "[bench]") {
    const SuiteSizes s = suite_config(SuiteKind::Quick).sizes;
    const auto g = case_command(Case{Env::Guest, "mapbench_pipeline", "global", 2, ""}, s);
    const std::string joined = [&] {
        std::string out;
        for (const auto& x : g) out += x + " ";
        return out;
    }();
    CHECK(joined.find("run -q --vcpus 2 --workload mapbench --mm global") == 0);
    CHECK(joined.find("--param size=" + std::to_string(s.size_bytes)) != std::string::npos);
    CHECK(joined.find("--param mode=pipeline") != std::string::npos);
    const auto h = case_command(Case{Env::Hosted, "mmap1", "extents,placement=hier,freecache=global", 4, ""}, s);
    CHECK(h[0] == "mmbench");
    const auto n = case_command(Case{Env::Native, "page_fault3", "linux", 1, ""}, s);
    CHECK(n[0] == "native");
}

TEST_CASE("a filter keeps only the cases whose id contains one of its texts", "[bench]") {
    const auto cases = build_cases(suite_config(SuiteKind::Quick), "native/mmap1/,hosted/mixed/global/v4");
    REQUIRE(cases.size() == 4);
    for (const Case& c : cases) CHECK((c.env == Env::Native || c.id() == "hosted/mixed/global/v4"));
}

TEST_CASE("the Markdown section replaces the previous one and leaves the rest of the file alone", "[bench]") {
    const std::string s1 = std::string(kMarkdownBegin) + "\nold\n" + kMarkdownEnd + "\n";
    const std::string doc = "# Benchmarks\n\nkeep me\n\n" + s1 + "\n## After\ntail\n";
    const std::string s2 = std::string(kMarkdownBegin) + "\nnew\n" + kMarkdownEnd + "\n";
    const std::string out = splice_section(doc, s2);
    CHECK(out == "# Benchmarks\n\nkeep me\n\n" + s2 + "\n## After\ntail\n");
    CHECK(splice_section("# B\n", s2) == "# B\n\n" + s2);
}

TEST_CASE("gmm bench rejects a bad suite, repeat or option with one line and exit 2", "[bench]") {
    const auto bad_suite = run_gmm_cli({"bench", "--suite", "medium"});
    CHECK(bad_suite.exit_code == 2);
    CHECK(bad_suite.output == "gmm bench: --suite 'medium' is not a suite (accepted: quick, full)\n");
    for (const char* r : {"0", "-1", "x", "101", ""}) {
        const auto bad = run_gmm_cli({"bench", "--repeat", r});
        CHECK(bad.exit_code == 2);
        CHECK(bad.output == "gmm bench: --repeat '" + std::string(r) +
                                "' is not a repeat count (accepted: a whole number from 1 to 100)\n");
    }
    const auto unknown = run_gmm_cli({"bench", "--fast"});
    CHECK(unknown.exit_code == 2);
    CHECK(unknown.output.rfind("gmm bench: unknown option '--fast'", 0) == 0);
    const auto missing = run_gmm_cli({"bench", "--out"});
    CHECK(missing.exit_code == 2);
    const auto env = run_gmm_cli({"bench", "--env", "cloud"});
    CHECK(env.exit_code == 2);
    CHECK(env.output == "gmm bench: --env 'cloud' is not a runner (accepted: guest, hosted, native)\n");
    const auto none = run_gmm_cli({"bench", "--filter", "nothing-matches-this"});
    CHECK(none.exit_code == 2);
}

TEST_CASE("gmm bench refuses an output directory it cannot create, in one line with exit 2", "[bench]") {
    // A path below a regular file cannot be created, even by root.
    const std::string file = "/tmp/gmm-bench-unit-" + std::to_string(getpid());
    FILE* f = std::fopen(file.c_str(), "w");
    REQUIRE(f);
    std::fclose(f);
    const auto r = run_gmm_cli({"bench", "--env", "native", "--filter", "native/mmap1/linux/v1", "--out", file + "/out"});
    std::remove(file.c_str());
    CHECK(r.exit_code == 2);
    CHECK(r.output.rfind("gmm bench: --out " + file + "/out: cannot create", 0) == 0);
    CHECK(r.output.find('\n') == r.output.size() - 1);
}

TEST_CASE("gmm mmbench and gmm native reject bad input with one line and exit 2", "[bench]") {
    const auto w = run_gmm_cli({"native", "--workload", "page_fault9", "--threads", "1"});
    CHECK(w.exit_code == 2);
    CHECK(w.output.rfind("gmm native: bad --workload 'page_fault9' (accepted: page_fault1, ", 0) == 0);
    const auto m = run_gmm_cli({"native", "--workload", "mixed", "--threads", "1"});
    CHECK(m.exit_code == 2);
    CHECK(m.output == "gmm native: bad --threads '1' (accepted: at least 2 for mixed)\n");
    const auto h = run_gmm_cli({"mmbench", "--workload", "page_fault2", "--mm", "global", "--threads", "1"});
    CHECK(h.exit_code == 2);
    CHECK(h.output.find("bad --workload 'page_fault2'") != std::string::npos);
    const auto p = run_gmm_cli({"mmbench", "--workload", "mmap1", "--mm", "extents,freecache=sometimes", "--threads", "1"});
    CHECK(p.exit_code == 2);
}

TEST_CASE("gmm native runs every workload on this kernel and reports its ops as JSON", "[bench]") {
    const std::string out = "/tmp/gmm-bench-native-" + std::to_string(getpid()) + ".json";
    for (const char* w : {"page_fault1", "page_fault2", "page_fault3", "mmap1", "mmap2", "mixed", "mapbench_local",
                          "mapbench_pipeline", "mapbench_global"}) {
        INFO(w);
        const auto r = run_gmm_cli({"native", "--workload", w, "--threads", "2", "--size", "64K", "--iterations", "3",
                                    "--json", out});
        REQUIRE(r.exit_code == 0);
        auto j = gmm::vmm::parse_json(gmm::test::slurp(out));
        REQUIRE(j);
        CHECK(j->find("workload")->string == w);
        CHECK(j->find("threads")->number == 2);
        const uint64_t ops = *j->find("ops_total")->as_u64;
        const std::string wl = w;
        // Fixed rounds make the count exact: 3 rounds of 16 pages (mapbench: touched twice or by both threads).
        if (wl == "mmap1" || wl == "mmap2") CHECK(ops == 6);
        else if (wl == "mixed") CHECK(ops == 3 + 3 * 16);
        else if (wl == "mapbench_pipeline" || wl == "mapbench_global") CHECK(ops == 2 * 2 * 3 * 16);
        else CHECK(ops == 2 * 3 * 16);
        CHECK_FALSE(j->find("failed")->boolean);
    }
    std::remove(out.c_str());
}

TEST_CASE("gmm mmbench runs the mapbench patterns on the hosted memory manager", "[bench]") {
    const std::string out = "/tmp/gmm-bench-mmbench-" + std::to_string(getpid()) + ".json";
    for (const char* w : {"mapbench_local", "mapbench_pipeline", "mapbench_global"})
        for (const char* mm : {"global", "extents,placement=hier,freecache=global"}) {
            INFO(w << " " << mm);
            const auto r = run_gmm_cli({"mmbench", "--workload", w, "--mm", mm, "--threads", "3", "--size", "64K",
                                        "--iterations", "2", "--json", out});
            REQUIRE(r.exit_code == 0);
            auto j = gmm::vmm::parse_json(gmm::test::slurp(out));
            REQUIRE(j);
            const uint64_t ops = *j->find("ops_total")->as_u64;
            // 3 threads x 2 rounds x 16 pages: local touches its own region once, pipeline its
            // own and the received one, global all three slices.
            const std::string wl = w;
            CHECK(ops == (wl == "mapbench_local" ? 96u : wl == "mapbench_pipeline" ? 192u : 288u));
        }
    std::remove(out.c_str());
}

TEST_CASE("without gmm's plotting tool the suite still writes its results and names the charts not drawn", "[bench]") {
    const std::string dir = "/tmp/gmm-bench-nochart-" + std::to_string(getpid());
    const auto r = run_gmm_cli({"bench", "--env", "native", "--filter", "native/mmap1/linux/v1", "--repeat", "1",
                                "--out", dir},
                               "GMM_GNUPLOT=/nonexistent/gnuplot");
    CHECK(r.exit_code == 0);
    CHECK(r.output.find("chart not drawn: throughput-guest: gnuplot not found") != std::string::npos);
    auto j = gmm::vmm::parse_json(gmm::test::slurp(dir + "/summary.json"));
    REQUIRE(j);
    CHECK(j->find("charts_not_drawn")->items.size() == chart_names().size());
    const auto csv = parse_csv(gmm::test::slurp(dir + "/runs.csv"));
    REQUIRE(csv.size() == 2);
    CHECK(csv[1][5] == "ok");
    CHECK(std::system(("rm -rf '" + dir + "'").c_str()) == 0);
}

TEST_CASE("a guest report gives per-op lock contention, instructions and the mixed faulters' own rate", "[bench]") {
    const char* report = R"({"workload": "mixed", "vcpus": 3, "kvm_mode": "emulated", "ops_total": 200,
        "ops_per_sec": 600.0, "guest_kernel_insns_per_op": 900.5, "guest_kernel_insns_per_fault": 550.0,
        "per_vcpu": [{"vcpu": 0, "ops": 20, "results": {"measured_ns": 1000000000}},
                     {"vcpu": 1, "ops": 90, "results": {"measured_ns": 500000000}},
                     {"vcpu": 2, "ops": 90, "results": {"measured_ns": 1000000000}}],
        "lockstat": [{"class": "mm", "contentions": 30, "con_bounces": 10},
                     {"class": "ptl", "contentions": 10, "con_bounces": 0}]})";
    auto j = gmm::vmm::parse_json(report);
    REQUIRE(j);
    RunRecord r;
    r.c = Case{Env::Guest, "mixed", "global", 3, ""};
    CHECK(extract_metrics(Env::Guest, *j, 3, r).empty());
    CHECK(r.ops_total == 200);
    CHECK(r.kvm_mode == "emulated");
    CHECK(r.metrics.at("ops_per_sec_per_thread") == Approx(200));
    CHECK(r.metrics.at("guest_kernel_insns_per_op") == Approx(900.5));
    CHECK(r.metrics.at("guest_kernel_insns_per_fault") == Approx(550));
    CHECK(r.metrics.at("contentions_per_op") == Approx(0.2));
    CHECK(r.metrics.at("con_bounces_per_op") == Approx(0.05));
    // vCPU 0 churns; vCPUs 1 and 2 fault at 180 and 90 ops/s.
    CHECK(r.metrics.at("faulter_ops_per_sec_per_thread") == Approx(135));
}

TEST_CASE("a report without ops is an error, not a zero", "[bench]") {
    auto j = gmm::vmm::parse_json(R"({"workload": "page_fault1", "exit": {"status": 0}})");
    REQUIRE(j);
    RunRecord r;
    r.c = Case{Env::Guest, "page_fault1", "global", 1, ""};
    CHECK(extract_metrics(Env::Guest, *j, 1, r) == "report has no ops_total/ops_per_sec");
    CHECK(r.metrics.empty());
}

TEST_CASE("a host report's mixed faulter rate averages the page_fault1 threads only", "[bench]") {
    auto j = gmm::vmm::parse_json(R"({"ops_total": 10, "ops_per_sec": 1000.0, "per_thread": [100.0, 400.0, 500.0],
        "per_thread_workload": ["mmap1", "page_fault1", "page_fault1"]})");
    REQUIRE(j);
    RunRecord r;
    r.c = Case{Env::Hosted, "mixed", "global", 3, ""};
    CHECK(extract_metrics(Env::Hosted, *j, 3, r).empty());
    CHECK(r.metrics.at("faulter_ops_per_sec_per_thread") == Approx(450));
    CHECK(r.metrics.count("guest_kernel_insns_per_op") == 0);
}
