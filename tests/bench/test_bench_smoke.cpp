// The suite end to end on KVM: `gmm bench --cases tiny` (one small case per
// workload and runner) writes every output file, and each one parses: JSON,
// CSV (header + one row per run / cell), SVG (XML with an <svg> element), PNG
// (its magic). Chart checks are skipped only when gnuplot is absent, and the
// test says so. Every workload ends ok or skipped with a reason — never failed.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <unistd.h>

#include "bench_charts.h"
#include "bench_cli.h"
#include "json_writer.h"
#include "kvm_gate.h"
#include "workloads.h"

using gmm::test::parse_csv;
using gmm::test::slurp;

int main(int argc, char** argv) {
    if (const int code = gmm::test::kvm_gate_exit_code_or_zero(); code != 0) return code;
    return Catch::Session().run(argc, argv);
}

TEST_CASE("the tiny suite writes every output file and each parses", "[bench]") {
    const std::string dir = "/tmp/gmm-bench-smoke-" + std::to_string(getpid());
    const std::string md = dir + "-BENCH.md";
    {
        FILE* f = std::fopen(md.c_str(), "w");
        REQUIRE(f);
        std::fputs("# Benchmarks\n\nhand-written text stays\n", f);
        std::fclose(f);
    }
    const auto r = gmm::test::run_gmm_cli({"bench", "--cases", "tiny", "--out", dir, "--markdown", md});
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK(r.output.find("bench [1/") != std::string::npos);  // progress line
    CHECK(r.output.find(" left") != std::string::npos);

    auto runs = gmm::vmm::parse_json(slurp(dir + "/runs.json"));
    REQUIRE(runs);
    auto summary = gmm::vmm::parse_json(slurp(dir + "/summary.json"));
    REQUIRE(summary);
    CHECK_FALSE(summary->find("machine")->find("cpu_model")->string.empty());
    CHECK(summary->find("machine")->find("kvm_mode")->string != "");

    const auto* list = runs->find("runs");
    REQUIRE(list);
    const char* workloads[] = {"page_fault1", "page_fault2", "page_fault3", "mmap1", "mmap2", "mixed",
                               "mapbench_local", "mapbench_pipeline", "mapbench_global"};
    for (const char* w : workloads)
        for (const char* env : {"guest", "hosted", "native"}) {
            INFO(w << " " << env);
            bool seen = false;
            for (const auto& run : list->items) {
                if (run.find("workload")->string != w || run.find("env")->string != env) continue;
                seen = true;
                const std::string status = run.find("status")->string;
                CHECK(status != "failed");
                if (status == "skipped") CHECK(run.find("reason")->string.rfind("skipped: ", 0) == 0);
                if (status == "ok") {
                    CHECK(run.find("ops_per_sec")->number > 0);
                    CHECK(slurp(dir + "/" + run.find("report")->string).size() > 0);
                }
                // Two threads, one round of 16 pages: each touches its own and the handed-over
                // region (pipeline) or both slices (global).
                if (status == "ok" && std::string(env) == "guest" && std::string(w).rfind("mapbench_", 0) == 0)
                    CHECK(run.find("ops_total")->number == (std::string(w) == "mapbench_local" ? 16 : 64));
                if (std::string(env) == "guest" && status == "ok") {
                    CHECK(run.find("guest_kernel_insns_per_op")->number > 0);
                    CHECK(run.find("contentions_per_op") != nullptr);
                }
            }
            CHECK(seen);
        }
    // Guest cells follow gmm run's table: a workload it has must have run.
    for (const char* w : {"page_fault2", "page_fault3", "mmap2"}) {
        const bool guest_has = gmm::cli::find_workload(w) != nullptr;
        for (const auto& run : list->items)
            if (run.find("workload")->string == w && run.find("env")->string == "guest")
                CHECK((run.find("status")->string == "ok") == guest_has);
    }

    const auto runs_csv = parse_csv(slurp(dir + "/runs.csv"));
    REQUIRE(runs_csv.size() == list->items.size() + 1);
    CHECK(runs_csv[0][0] == "env");
    for (const auto& row : runs_csv) CHECK(row.size() == runs_csv[0].size());
    const auto sum_csv = parse_csv(slurp(dir + "/summary.csv"));
    REQUIRE(sum_csv.size() == summary->find("cells")->items.size() + 1);
    for (const auto& row : sum_csv) CHECK(row.size() == sum_csv[0].size());

    const std::string doc = slurp(md);
    CHECK(doc.rfind("# Benchmarks\n\nhand-written text stays\n", 0) == 0);
    CHECK(doc.find("KVM mode detected") != std::string::npos);
    CHECK(doc.find("<!-- END gmm bench generated section -->") != std::string::npos);

    if (gmm::cli::bench::find_gnuplot().empty()) {
        WARN("gnuplot is not installed (Debian: gnuplot-nox): chart files not checked");
        CHECK(summary->find("charts_not_drawn")->items.size() == gmm::cli::bench::chart_names().size());
    } else {
        CHECK(summary->find("charts_not_drawn")->items.empty());
        for (const std::string& name : gmm::cli::bench::chart_names()) {
            INFO(name);
            const std::string svg = slurp(dir + "/charts/" + name + ".svg");
            CHECK(svg.rfind("<?xml", 0) == 0);
            CHECK(svg.find("<svg") != std::string::npos);
            CHECK(svg.find("</svg>") != std::string::npos);
            const std::string png = slurp(dir + "/charts/" + name + ".png");
            CHECK(png.rfind("\x89PNG\r\n\x1a\n", 0) == 0);
            CHECK(doc.find(name + ".svg") != std::string::npos);
        }
    }
    CHECK(std::system(("rm -rf '" + dir + "' '" + md + "'").c_str()) == 0);
}
