// End-to-end tests of the in-guest memory managers (issue 4): the mm workloads
// on both policies at 1 and 2 vCPUs, SEGV reports, mprotect, zero pages on
// reuse, the TLB shootdown (checked by the host reading guest memory), PTL
// isolation and a table of bad system-call arguments.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "gmm_runner.h"

using gmm::test::describe;
using gmm::test::GmmRun;
using gmm::test::result_u64;
using gmm::test::run_gmm;

namespace {

constexpr auto kHardLimit = std::chrono::seconds(40);
constexpr int kExitOk = 0, kExitUsage = 2, kExitGuestFailed = 10;
constexpr uint64_t kSegvStatus = 139;

GmmRun run_mm(const std::string& workload, int vcpus, const std::string& mm, const std::vector<std::string>& params) {
    return gmm::test::run_workload(workload, vcpus, mm, params, {}, std::chrono::seconds(30), kHardLimit);
}

const gmm::test::JsonValue& json(const GmmRun& r) {
    if (!r.json) FAIL("no JSON report: " << describe(r));
    return *r.json;
}

}  // namespace

TEST_CASE("mm workloads: each workload x policy x 1 and 2 vCPUs runs to completion", "[mm_workloads]") {
    for (const std::string workload : {"page_fault1", "mmap1", "mixed"})
        for (const std::string mm : {"global", "extents"})
            for (int vcpus : {1, 2}) {
                DYNAMIC_SECTION(workload << " --mm " << mm << " --vcpus " << vcpus) {
                    const GmmRun r = run_mm(workload, vcpus, mm, {"size=256K", "iterations=2"});
                    INFO(describe(r));
                    REQUIRE(r.exit_code == kExitOk);
                    const auto& j = json(r);
                    CHECK(j["workload"].as_string() == workload);
                    CHECK(j["mm"].as_string().rfind(mm, 0) == 0);
                    CHECK(j["vcpus"].as_u64() == uint64_t(vcpus));
                    REQUIRE(j["per_vcpu"].size() == size_t(vcpus));
                    uint64_t sum = 0;
                    for (int i = 0; i < vcpus; ++i) {
                        const uint64_t ops = j["per_vcpu"][i]["ops"].as_u64();
                        CHECK(ops > 0);
                        sum += ops;
                        if (i > 0) CHECK(result_u64(r, i, "thread_exit_status") == 0);  // joined workers
                    }
                    CHECK(j["ops_total"].as_u64() == sum);
                    if (workload == "page_fault1") CHECK(sum == uint64_t(vcpus) * 2 * 64);  // 2 x 256K / 4K each
                    if (workload == "mmap1") CHECK(sum == uint64_t(vcpus) * 2);
                    CHECK(j.has("ops_per_sec"));
                    CHECK(result_u64(r, 0, "user_errors") == 0);
                    if (j["kvm_mode"].as_string() == "emulated") CHECK(j.has("guest_kernel_insns_per_op"));
                    for (const char* k : {"exits", "pf_taken", "pf_fixed", "pf_guest", "insn_emulation", "halt_exits"})
                        CHECK(j["kvm"][0].has(k));
                }
            }
}

TEST_CASE("mm: a read outside any mapping ends the thread with SEGV and its address", "[mm_segv]") {
    for (const std::string mm : {"global", "extents"}) {
        DYNAMIC_SECTION(mm) {
            const GmmRun r = run_mm("mmtest", 1, mm, {"test=segv"});
            INFO(describe(r));
            CHECK(r.exit_code == kExitGuestFailed);  // the run ends cleanly with DONE(139)
            CHECK(json(r)["exit"]["reason"].as_string() == "done");
            CHECK(json(r)["exit"]["done_status"].as_u64() == kSegvStatus);
            CHECK(result_u64(r, 0, "segv_address") == result_u64(r, 0, "expected_address"));
            CHECK(result_u64(r, 0, "segv_address") == 0x7f0000001230ull);
            CHECK(result_u64(r, 0, "segv_reason") == 1);  // not mapped
            CHECK(result_u64(r, 0, "segv_access") == 0);  // read
        }
    }
}

TEST_CASE("mm: mprotect to read-only, then a write gives SEGV (access)", "[mm_segv]") {
    for (const std::string mm : {"global", "extents"}) {
        DYNAMIC_SECTION(mm) {
            const GmmRun r = run_mm("mmtest", 1, mm, {"test=mprotect"});
            INFO(describe(r));
            CHECK(json(r)["exit"]["done_status"].as_u64() == kSegvStatus);
            CHECK(result_u64(r, 0, "user_errors") == 0);
            CHECK(result_u64(r, 0, "test_checks") >= 3);
            CHECK(result_u64(r, 0, "segv_address") == result_u64(r, 0, "expected_address"));
            CHECK(result_u64(r, 0, "segv_reason") == 2);  // access denied
            CHECK(result_u64(r, 0, "segv_access") == 1);  // write
        }
    }
}

TEST_CASE("mm: anonymous memory reads as zero on first touch, also with recycled frames", "[mm_misc]") {
    // Both ways the VMM returns freed frames to zero (--free-frames).
    for (const std::string mm : {"global", "extents"}) {
        for (const std::string how : {"zero", "punch"}) {
            DYNAMIC_SECTION(mm << " --free-frames " << how) {
                const GmmRun r = gmm::test::run_workload("mmtest", 1, mm, {"test=zero_reuse", "size=2M", "iterations=3"},
                                                         {"--free-frames", how}, std::chrono::seconds(30), kHardLimit);
                INFO(describe(r));
                REQUIRE(r.exit_code == kExitOk);
                CHECK(json(r)["free_frames"].as_string() == how);
                CHECK(result_u64(r, 0, "user_errors") == 0);
                CHECK(result_u64(r, 0, "test_checks") >= 3 * 512 * 4);
                // Frames really were freed, zeroed by the VMM and handed out again.
                CHECK(result_u64(r, 0, "frames_released") >= 512);
                CHECK(result_u64(r, 0, "frames_recycled") >= 512);
                CHECK(result_u64(r, 0, "mm_check_ok") == 1);
            }
        }
    }
}

TEST_CASE("mm: munmap shoots down another vCPU's TLB entry; its late write faults and does not land",
          "[mm_shootdown]") {
    for (const std::string mm : {"global", "extents"}) {
        DYNAMIC_SECTION(mm) {
            const GmmRun r = run_mm("mmtest", 2, mm, {"test=shootdown"});
            INFO(describe(r));
            REQUIRE(r.exit_code == kExitOk);
            CHECK(result_u64(r, 0, "user_errors") == 0);
            CHECK(result_u64(r, 1, "thread_exit_status") == kSegvStatus);
            CHECK(result_u64(r, 1, "segv_address") == result_u64(r, 1, "expected_address"));
            CHECK(result_u64(r, 1, "segv_reason") == 1);
            CHECK(result_u64(r, 0, "tlb_ipis_sent") >= 1);
            // Read by the host from guest memory after the late write: the freed
            // frame still holds thread 0's value (not zeroed yet, not overwritten).
            CHECK(result_u64(r, 0, "peek_value") == 0x1111);
        }
    }
}

TEST_CASE("mm: threads faulting in disjoint 2 MiB windows never take each other's PTL", "[mm_misc]") {
    // One round: with more, a slow thread's next region can be the one the
    // other thread just unmapped (same windows, same PTLs, at different times),
    // which the per-run set comparison would count as sharing.
    const GmmRun r = run_mm("mmtest", 2, "extents,placement=leaf", {"test=ptl", "size=4M", "iterations=1"});
    INFO(describe(r));
    REQUIRE(r.exit_code == kExitOk);
    for (int cpu = 0; cpu < 2; ++cpu) {
        CHECK(result_u64(r, cpu, "ptl_acquisitions") >= 1024);
        CHECK(result_u64(r, cpu, "ptl_distinct") >= 2);
        CHECK(result_u64(r, cpu, "ptl_overflow") == 0);
        CHECK(result_u64(r, cpu, "ptl_shared") == 0);
    }
}

TEST_CASE("mm: bad system-call arguments get -EINVAL/-ENOMEM and leave the kernel consistent", "[mm_misc]") {
    for (const std::string mm : {"global", "extents,placement=hier,freecache=percpu"}) {
        DYNAMIC_SECTION(mm) {
            const GmmRun r = run_mm("mmtest", 1, mm, {"test=badargs"});
            INFO(describe(r));
            REQUIRE(r.exit_code == kExitOk);
            CHECK(result_u64(r, 0, "user_errors") == 0);
            CHECK(result_u64(r, 0, "test_checks") >= 28);
            CHECK(result_u64(r, 0, "mm_check_ok") == 1);
        }
    }
}

TEST_CASE("mm usage: bad workload parameters and policies are one-line errors before boot", "[mm_usage]") {
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
        {{"--workload", "page_fault9"}, "page_fault9"},
        {{"--workload", "page_fault1", "--param", "bogus=1"}, "bogus"},
        {{"--workload", "page_fault1", "--param", "size=0"}, "size=0"},
        {{"--workload", "page_fault1", "--param", "size=5000"}, "size=5000"},
        {{"--workload", "mmap1", "--param", "iterations=0"}, "iterations=0"},
        {{"--workload", "mmap1", "--mm", "extents,placement=middle"}, "placement=middle"},
        {{"--workload", "mmap1", "--mm", "global,freecache=percpu"}, "freecache=percpu"},
        {{"--workload", "mmap1", "--mm", "linux"}, "linux"},
        {{"--workload", "boot", "--mm", "global"}, "--mm"},
        {{"--workload", "page_fault1", "--free-frames", "madvise"}, "madvise"},
    };
    for (const auto& [args, needle] : cases) {
        std::vector<std::string> a = args;
        a.push_back("--timeout");
        a.push_back("5");
        const GmmRun r = run_gmm(a, kHardLimit);
        INFO(describe(r) << " args: " << args[1]);
        CHECK(r.exit_code == kExitUsage);
        CHECK(r.stderr_text.find(needle) != std::string::npos);
        CHECK(r.stderr_text.find('\n') == r.stderr_text.size() - 1);
    }
}

TEST_CASE("mm: more user threads than vCPUs share them (blocking at barriers, preempted by the quantum)", "[mm_threads]") {
    for (const std::string mm : {"global", "extents"}) {
        DYNAMIC_SECTION("page_fault1 threads=5 on 2 vCPUs --mm " << mm) {
            const GmmRun r = run_mm("page_fault1", 2, mm, {"size=128K", "iterations=2", "threads=5"});
            INFO(describe(r));
            REQUIRE(r.exit_code == kExitOk);
            const auto& j = json(r);
            // Threads 0, 2, 4 on vCPU 0 and 1, 3 on vCPU 1; 2 x 32 faults each.
            CHECK(j["per_vcpu"][0]["ops"].as_u64() == 3 * 64);
            CHECK(j["per_vcpu"][1]["ops"].as_u64() == 2 * 64);
            CHECK(j["ops_total"].as_u64() == 5 * 64);
            CHECK(result_u64(r, 0, "user_errors") == 0);
            CHECK(result_u64(r, 0, "sched_switches") >= 3);  // three threads took turns on vCPU 0
            CHECK(result_u64(r, 1, "sched_blocks") >= 1);     // a worker slept (barrier) instead of spinning
        }
        DYNAMIC_SECTION("mixed threads=3 on 1 vCPU --mm " << mm) {
            // Thread 0 churns until both faulters finish and never blocks: only
            // the quantum lets them run on the same vCPU.
            const GmmRun r = run_mm("mixed", 1, mm, {"size=64K", "iterations=2", "threads=3"});
            INFO(describe(r));
            REQUIRE(r.exit_code == kExitOk);
            CHECK(result_u64(r, 0, "user_errors") == 0);
            CHECK(result_u64(r, 0, "sched_preemptions") >= 1);
        }
    }
}

TEST_CASE("mm: the threads parameter is checked before boot", "[mm_usage]") {
    const GmmRun r = run_mm("page_fault1", 2, "", {"threads=65"});
    CHECK(r.exit_code == kExitUsage);
    CHECK(r.stderr_text.find("threads") != std::string::npos);
}
