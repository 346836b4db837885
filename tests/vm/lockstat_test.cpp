// Lock statistics end to end (issue 7): `gmm run --json` reads the guest's
// lockstat block at the end of the run. Two vCPUs hammering one lock contend
// and bounce it; disjoint locks never contend; under `mixed` the global
// policy's mm lock is contended while extents' fault path sees no contention
// at all; lockstat=off counts nothing.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "gmm_runner.h"

using gmm::test::describe;
using gmm::test::GmmRun;
using gmm::test::JsonValue;
using gmm::test::result_u64;
using gmm::test::run_gmm;

namespace {

constexpr auto kHardLimit = std::chrono::seconds(40);
constexpr int kExitOk = 0, kExitUsage = 2;

GmmRun run(const std::string& workload, const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"--vcpus", "2", "--workload", workload, "--timeout", "30"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_gmm(args, kHardLimit);
}

const JsonValue& json(const GmmRun& r) {
    if (!r.json) FAIL("no JSON report: " << describe(r));
    return *r.json;
}

struct Totals {
    uint64_t acquisitions = 0, contentions = 0, con_bounces = 0, acq_bounces = 0, waittime_ns = 0, holdtime_ns = 0;
    bool found = false;
};

// The lockstat rows of one class (both sides of a reader-writer class, summed).
Totals lock_class(const GmmRun& r, const std::string& cls) {
    Totals t;
    const JsonValue rows = json(r)["lockstat"];
    for (size_t i = 0; i < rows.size(); ++i) {
        const JsonValue row = rows[i];
        if (row["class"].as_string() != cls) continue;
        t.found = true;
        t.acquisitions += row["acquisitions"].as_u64();
        t.contentions += row["contentions"].as_u64();
        t.con_bounces += row["con_bounces"].as_u64();
        t.acq_bounces += row["acq_bounces"].as_u64();
        t.waittime_ns += row["waittime_total_ns"].as_u64();
        t.holdtime_ns += row["holdtime_total_ns"].as_u64();
    }
    return t;
}

uint64_t cpu_counter(const GmmRun& r, size_t vcpu, const std::string& name) {
    return json(r)["lockstat_per_vcpu"][vcpu][name].as_u64();
}

}  // namespace

TEST_CASE("lockstat: two vCPUs hammering one lock report contentions and con_bounces", "[lockstat]") {
    const GmmRun r = run("lockhammer", {"--param", "shared=1", "--param", "iterations=300", "--param", "hold=20"});
    INFO(describe(r));
    REQUIRE(r.exit_code == kExitOk);  // the guest also checked mutual exclusion (counter == 600)
    CHECK(json(r)["lockstat_enabled"].as_bool());
    CHECK(json(r)["lockstat_tsc_khz"].as_u64() > 0);
    const Totals t = lock_class(r, "lockhammer");
    REQUIRE(t.found);
    CHECK(t.acquisitions == 600);
    CHECK(t.contentions > 0);
    CHECK(t.con_bounces > 0);
    CHECK(t.con_bounces <= t.contentions);
    CHECK(t.acq_bounces > 0);
    CHECK(t.waittime_ns > 0);
    CHECK(t.holdtime_ns > 0);
    // Per vCPU: both took the lock 300 times, and the per-CPU total agrees with the rows.
    const JsonValue row = json(r)["lockstat"][0];  // sorted by contentions: the hammered lock first
    CHECK(row["class"].as_string() == "lockhammer");
    CHECK(row["side"].as_string() == "exclusive");
    REQUIRE(row["per_vcpu"].size() == 2);
    CHECK(row["per_vcpu"][0]["acquisitions"].as_u64() == 300);
    CHECK(row["per_vcpu"][1]["acquisitions"].as_u64() == 300);
    CHECK(cpu_counter(r, 0, "lock_contentions") + cpu_counter(r, 1, "lock_contentions") >= t.contentions);
    // The human table is printed too.
    CHECK(r.stdout_text.find("class name") != std::string::npos);
    CHECK(r.stdout_text.find("lockhammer") != std::string::npos);
}

TEST_CASE("lockstat: disjoint locks report zero contentions and bounces", "[lockstat]") {
    const GmmRun r = run("lockhammer", {"--param", "shared=0", "--param", "iterations=300", "--param", "hold=20"});
    INFO(describe(r));
    REQUIRE(r.exit_code == kExitOk);
    const Totals t = lock_class(r, "lockhammer");
    CHECK(t.acquisitions == 600);
    CHECK(t.contentions == 0);
    CHECK(t.con_bounces == 0);
    CHECK(t.acq_bounces == 0);  // each lock only ever taken by its own vCPU
    CHECK(t.waittime_ns == 0);
    CHECK(t.holdtime_ns > 0);
}

TEST_CASE("lockstat: mixed, global contends on the mm lock, extents has no fault-path contention", "[lockstat_mixed]") {
    // 2 MiB per thread: every mapping is 2 MiB-aligned (as Linux does for THP
    // sizes), so each leaf page table belongs to one thread's mapping. With
    // smaller mappings the churner's and the faulter's regions share leaf
    // tables, and extents' PTLs do contend (measured: 10 of 129 faults at 256K).
    const std::vector<std::string> params = {"--param", "size=2M", "--param", "iterations=1"};
    std::vector<std::string> g = {"--mm", "global"}, e = {"--mm", "extents"};
    g.insert(g.end(), params.begin(), params.end());
    e.insert(e.end(), params.begin(), params.end());
    const GmmRun global = run("mixed", g);
    const GmmRun extents = run("mixed", e);
    INFO(describe(global));
    INFO(describe(extents));
    REQUIRE(global.exit_code == kExitOk);
    REQUIRE(extents.exit_code == kExitOk);

    // global: the churner's mmap/munmap (write) against the faulter's faults (read).
    const Totals mm = lock_class(global, "mm_lock");
    CHECK(mm.acquisitions > 0);
    CHECK(mm.contentions > 0);
    CHECK(mm.con_bounces > 0);
    CHECK(cpu_counter(global, 1, "faults") >= 512);
    CHECK(cpu_counter(global, 1, "fault_contentions") > 0);  // vCPU 1 is the faulting thread

    // extents: no mm-wide lock at all, and not one contention while handling a fault.
    const Totals mm_e = lock_class(extents, "mm_lock");
    CHECK(mm_e.found);  // the class exists in the table...
    CHECK(mm_e.acquisitions == 0);  // ...and is never taken
    for (size_t vcpu = 0; vcpu < 2; ++vcpu) CHECK(cpu_counter(extents, vcpu, "fault_contentions") == 0);
    CHECK(cpu_counter(extents, 1, "faults") >= 512);
    // pt_lock as a whole may see a contention or two: both threads' mmap and
    // munmap create and update tables under the same upper-level (PD/PDPT)
    // page-table page. Those are map-path acquisitions; the fault path takes
    // only the faulting leaf's PTL, which no other thread touches here.

    // Fewer atomic read-modify-writes per fault without the rw lock (lock and
    // unlock of the mm lock are 4 of them).
    const double rmw_global = double(cpu_counter(global, 1, "fault_atomic_rmw")) / double(cpu_counter(global, 1, "faults"));
    const double rmw_extents =
        double(cpu_counter(extents, 1, "fault_atomic_rmw")) / double(cpu_counter(extents, 1, "faults"));
    CHECK(rmw_extents > 0);
    CHECK(rmw_extents + 3 < rmw_global);
}

TEST_CASE("lockstat: lockstat=off counts nothing and says so", "[lockstat]") {
    const GmmRun r = run("lockhammer", {"--param", "lockstat=off", "--param", "iterations=50"});
    INFO(describe(r));
    REQUIRE(r.exit_code == kExitOk);
    CHECK_FALSE(json(r)["lockstat_enabled"].as_bool());
    CHECK(json(r)["params"]["lockstat"].as_string() == "off");
    const JsonValue rows = json(r)["lockstat"];
    REQUIRE(rows.size() > 0);  // the block is still published and read
    for (size_t i = 0; i < rows.size(); ++i) {
        CHECK(rows[i]["acquisitions"].as_u64() == 0);
        CHECK(rows[i]["contentions"].as_u64() == 0);
    }
    CHECK(r.stdout_text.find("lockstat: off") != std::string::npos);
}

TEST_CASE("lockstat: bad lockstat and lockhammer parameters are one-line usage errors", "[lockstat]") {
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
        {{"--workload", "boot", "--param", "lockstat=maybe"}, "lockstat=maybe"},
        {{"--workload", "lockhammer", "--param", "shared=2"}, "shared=2"},
        {{"--workload", "lockhammer", "--param", "iterations=0"}, "iterations=0"},
    };
    for (const auto& [args, needle] : cases) {
        std::vector<std::string> a = args;
        a.push_back("--timeout");
        a.push_back("5");
        const GmmRun r = run_gmm(a, kHardLimit);
        INFO(describe(r));
        CHECK(r.exit_code == kExitUsage);
        CHECK(r.stderr_text.find(needle) != std::string::npos);
        CHECK(r.stderr_text.find("accepted") != std::string::npos);
        CHECK(r.stderr_text.find('\n') == r.stderr_text.size() - 1);
    }
}
