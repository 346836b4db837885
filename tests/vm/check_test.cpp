// End-to-end tests of the invariant checker (issue 6): clean runs of every mm
// workload x policy with --check report nothing; each planted bug
// (inject=...) is reported under exactly its invariant id, in each mode that
// can see it; `gmm check NAME` attaches to a running VM.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gmm_runner.h"

using gmm::test::describe;
using gmm::test::GmmRun;
using gmm::test::run_gmm;

namespace {

constexpr auto kHardLimit = std::chrono::seconds(40);
constexpr int kExitOk = 0, kExitUsage = 2, kExitViolation = 12;

GmmRun run_checked(const std::string& workload, const std::string& mm, const std::string& mode,
                   const std::vector<std::string>& params) {
    std::vector<std::string> args = {"--vcpus", "2",  "--workload", workload, "--timeout", "30", "--mm", mm,
                                     "--check=" + mode, "--check-interval", "100", "--quiet"};
    for (const auto& p : params) {
        args.push_back("--param");
        args.push_back(p);
    }
    return run_gmm(args, kHardLimit);
}

std::set<std::string> invariants(const GmmRun& r) {
    if (!r.json) FAIL("no JSON report: " << describe(r));
    std::set<std::string> s;
    const auto v = (*r.json)["check"]["violations"];
    for (size_t i = 0; i < v.size(); ++i) s.insert(v[i]["invariant"].as_string());
    return s;
}

// Runs `gmm ARGS...` and returns (exit code, stdout + stderr).
std::pair<int, std::string> run_cli(const std::vector<std::string>& args) {
    std::string cmd = GMM_TEST_GMM_BINARY;
    for (const auto& a : args) cmd += " '" + a + "'";
    cmd += " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    REQUIRE(p);
    std::string out;
    char buf[4096];
    while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    const int st = pclose(p);
    return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

}  // namespace

TEST_CASE("checker: clean runs of every mm workload x policy report no violation", "[check_clean]") {
    for (const std::string workload : {"page_fault1", "mmap1", "mixed"})
        for (const std::string mm : {"global", "extents", "extents,placement=hier,freecache=percpu"})
            for (const std::string mode : {"safepoint", "async"}) {
                DYNAMIC_SECTION(workload << " --mm " << mm << " --check=" << mode) {
                    const GmmRun r = run_checked(workload, mm, mode, {"size=256K", "iterations=3"});
                    INFO(describe(r) << "\n" << r.stdout_text);
                    CHECK(r.exit_code == kExitOk);
                    CHECK(invariants(r).empty());
                    CHECK((*r.json)["check"]["checks"].as_u64() >= 1);
                    CHECK((*r.json)["check"]["mode"].as_string() == mode);
                }
            }
}

TEST_CASE("checker: the mmtest checks (SEGV, mprotect, shootdown, zero reuse) leave no violation", "[check_clean]") {
    struct Case {
        const char* test;
        int exit_code;  // segv and mprotect end with a SEGV on purpose (exit 10)
    };
    for (const Case c : {Case{"segv", 10}, Case{"mprotect", 10}, Case{"shootdown", kExitOk}, Case{"zero_reuse", kExitOk}})
        for (const std::string mm : {"global", "extents"}) {
            DYNAMIC_SECTION(c.test << " --mm " << mm) {
                const GmmRun r = run_checked("mmtest", mm, "safepoint", {std::string("test=") + c.test});
                INFO(describe(r) << "\n" << r.stdout_text);
                CHECK(r.exit_code == c.exit_code);
                CHECK(invariants(r).empty());
                CHECK((*r.json)["check"]["checks"].as_u64() >= 1);
            }
        }
}

TEST_CASE("checker: each planted bug is reported under exactly its invariant", "[check_mutations]") {
    struct Case {
        const char* bug;
        const char* invariant;
        bool async_sees_it;  // async mode skips mapcounts and held locks by design
    };
    const Case cases[] = {
        {"pte_after_unmap", "I1", true},       {"pte_too_permissive", "I1", true},
        {"overlapping_extents", "I2", true},   {"extent_outside_window", "I2", true},
        {"leaked_free_range", "I3", true},     {"wrong_mapcount", "I4", false},
        {"freed_frame_mapped", "I4", true},    {"lock_held", "I8", false},
        {"write_to_free_frame", "I7", true},
    };
    for (const Case& c : cases)
        for (const std::string mode : {"safepoint", "async"}) {
            if (mode == "async" && !c.async_sees_it) continue;
            DYNAMIC_SECTION(c.bug << " --check=" << mode) {
                const GmmRun r = run_checked("page_fault1", "extents", mode,
                                             {"size=64K", "iterations=2", std::string("inject=") + c.bug});
                INFO(describe(r) << "\n" << r.stdout_text);
                CHECK(r.exit_code == kExitViolation);
                CHECK(invariants(r) == std::set<std::string>{c.invariant});
            }
        }
    SECTION("the global policy's VMA tree is checked too") {
        const GmmRun r = run_checked("page_fault1", "global", "safepoint", {"size=64K", "inject=overlapping_extents"});
        INFO(describe(r) << "\n" << r.stdout_text);
        CHECK(r.exit_code == kExitViolation);
        CHECK(invariants(r) == std::set<std::string>{"I2"});
    }
    SECTION("a lock held at a safepoint is invisible to async mode, which skips that table") {
        const GmmRun r = run_checked("page_fault1", "extents", "async", {"size=64K", "inject=lock_held"});
        INFO(describe(r) << "\n" << r.stdout_text);
        CHECK(r.exit_code == kExitOk);
        CHECK(invariants(r).empty());
        CHECK(r.stdout_text.find("PTL held") != std::string::npos);
    }
}

TEST_CASE("checker: gmm check attaches to a running VM", "[check_attach]") {
    const std::string name = "check-attach-" + std::to_string(getpid());
    std::thread vm([&] {
        (void)run_gmm({"--vcpus", "2", "--workload", "page_fault1", "--param", "size=256K", "--param",
                       "iterations=100000", "--timeout", "30", "--name", name, "--quiet"},
                      kHardLimit);
    });
    // Wait for the socket and for the guest to publish its roots.
    std::pair<int, std::string> r;
    for (int i = 0; i < 100; ++i) {
        r = run_cli({"check", name, "--count", "2", "--interval", "20"});
        if (r.first == kExitOk) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    INFO(r.second);
    CHECK(r.first == kExitOk);
    CHECK(r.second.find("check 2 (safepoint): 0 violation(s)") != std::string::npos);
    auto a = run_cli({"check", name, "--mode", "async", "--json", "/dev/stdout"});
    INFO(a.second);
    CHECK(a.first == kExitOk);
    CHECK(a.second.find("\"checks\": 1") != std::string::npos);
    auto w = run_cli({"check", name, "--walk", "0x400000"});
    INFO(w.second);
    CHECK(w.first == kExitOk);
    CHECK(w.second.find("guest L1") != std::string::npos);
    CHECK(w.second.find("memory slot 0") != std::string::npos);
    auto wv = run_cli({"check", name, "--walk", "0x400000", "--vcpu", "1"});
    INFO(wv.second);
    CHECK(wv.first == kExitOk);
    CHECK(wv.second.find("from vCPU 1's CR3") != std::string::npos);
    CHECK(run_cli({"check", name, "--walk", "0x400000", "--vcpu", "7"}).first == kExitUsage);
    CHECK(run_cli({"check", name, "--mode", "sometimes"}).first == kExitUsage);
    CHECK(run_cli({"check", "no-such-vm-here"}).first == kExitUsage);
    CHECK(run_cli({"stop", name}).first == kExitOk);
    vm.join();
}

TEST_CASE("checker: gmm check sees a write to a free frame through the VMM's dirty log", "[check_attach]") {
    const std::string name = "check-i7-" + std::to_string(getpid());
    std::thread vm([&] {
        (void)run_gmm({"--vcpus", "2", "--workload", "page_fault1", "--param", "size=64K", "--param",
                       "iterations=100000", "--param", "inject=write_to_free_frame", "--timeout", "30", "--name",
                       name, "--quiet"},
                      kHardLimit);
    });
    std::pair<int, std::string> r;
    for (int i = 0; i < 100; ++i) {
        // Check 1 is the baseline (the guest writes the freed frame once it completes); check 2 sees it.
        r = run_cli({"check", name, "--count", "2", "--interval", "50"});
        if (r.first != kExitUsage && r.second.find("no memory-manager roots") == std::string::npos) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    INFO(r.second);
    CHECK(r.first == kExitViolation);
    CHECK(r.second.find("  I7 ") != std::string::npos);
    CHECK(run_cli({"stop", name}).first == kExitOk);
    vm.join();
}
