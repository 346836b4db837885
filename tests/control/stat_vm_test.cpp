// `gmm stat` against a real VM (issue 7): a lockhammer run keeps two vCPUs
// contending on one lock while `gmm stat` reads the guest's lockstat block
// through the memfd and KVM's per-vCPU stats through the control socket,
// once (since boot) and per interval (deltas, JSON lines); bad input is a
// one-line usage error; a watched VM that ends ends `gmm stat` with exit 0.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <sstream>
#include <thread>

#include "control_client.h"
#include "control_test_util.h"
#include "kvm_gate.h"

using namespace gmm::vmm;
using namespace std::chrono_literals;
using gmm::test::Captured;

namespace {

gmm::test::TempDir* g_tmp = nullptr;  // XDG_RUNTIME_DIR for this process and its children
std::string control_dir() { return g_tmp->path() + "/gmm"; }

Captured gmm_cli(const std::vector<std::string>& args, const std::string& tag) {
    std::vector<std::string> argv = {GMM_TEST_GMM_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    return gmm::test::run_capture(argv, g_tmp->path(), tag);
}

void wait_until_published(const std::string& name) {
    for (int i = 0; i < 1000; ++i) {
        auto r = control_request(control_dir(), name, ControlCommand::Info);
        if (r && r->json.find("state")->string == "running") {
            const JsonValue* pub = r->json.find("published");
            if (pub && !pub->items.empty() && pub->items[0].find("lockstat_gpa")) return;
        }
        std::this_thread::sleep_for(10ms);
    }
    FAIL("VM '" << name << "' never published lockstat_gpa over its control socket");
}

const JsonValue& member(const JsonValue& v, const char* key) {
    const JsonValue* m = v.find(key);
    if (!m) FAIL("missing JSON member " << key);
    return *m;
}

uint64_t u64(const JsonValue& v, const char* key) {
    const JsonValue& m = member(v, key);
    REQUIRE(m.as_u64);
    return *m.as_u64;
}

const JsonValue* lock_row(const JsonValue& line, const std::string& cls) {
    for (const JsonValue& row : member(line, "locks").items)
        if (member(row, "class").string == cls) return &row;
    return nullptr;
}

}  // namespace

TEST_CASE("gmm stat reads lock statistics and KVM stats of a running VM", "[control][vm][stat]") {
    const std::string name = "stat-vm-" + std::to_string(getpid());
    gmm::test::Proc run = gmm::test::spawn({GMM_TEST_GMM_BINARY, "run", "--workload", "lockhammer", "--vcpus", "2",
                                            "--mem", "64M", "--param", "iterations=100000", "--name", name,
                                            "--timeout", "40", "-q"},
                                           g_tmp->path(), "run");
    REQUIRE(run.pid > 0);
    struct Reaper {
        gmm::test::Proc& p;
        ~Reaper() {
            if (p.pid > 0) (void)gmm::test::wait_exit(p, 0ms);
        }
    } reaper{run};
    wait_until_published(name);

    {  // once: totals since boot, the table and the KVM columns
        Captured once = gmm_cli({"stat", name}, "stat-once");
        INFO(once.err);
        REQUIRE(once.exit_code == 0);
        CHECK(once.out.find("since boot") != std::string::npos);
        CHECK(once.out.find("insn_emulation") != std::string::npos);
        CHECK(once.out.find("pf_taken") != std::string::npos);
    }
    {  // per interval, JSON lines: deltas of the hammered lock and of KVM's counters
        Captured lines = gmm_cli({"stat", name, "--interval", "200", "--count", "2", "--json", "--per-vcpu"}, "stat-json");
        INFO(lines.err);
        REQUIRE(lines.exit_code == 0);
        std::istringstream in(lines.out);
        std::string line;
        uint64_t n = 0;
        while (std::getline(in, line)) {
            auto j = parse_json(line);
            REQUIRE(j.ok());
            ++n;
            CHECK(u64(*j, "interval") == n);
            CHECK_FALSE(member(*j, "since_boot").boolean);
            CHECK(member(*j, "interval_ms").number >= 150);
            CHECK(member(*j, "lockstat_enabled").boolean);
            CHECK(u64(*j, "tsc_khz") > 0);
            const JsonValue* row = lock_row(*j, "lockhammer");
            REQUIRE(row != nullptr);
            CHECK(u64(*row, "acquisitions") > 0);  // both vCPUs keep taking it
            CHECK(member(*row, "per_vcpu").items.size() == 2);
            const JsonValue& kvm = member(*j, "kvm");
            REQUIRE(kvm.items.size() == 2);
            for (const JsonValue& v : kvm.items) {
                CHECK(u64(v, "insn_emulation") > 0);  // ring 0 runs the lock loop
                CHECK(v.find("exits") != nullptr);
                CHECK(v.find("pf_taken") != nullptr);
                CHECK(v.find("halt_exits") != nullptr);
            }
            CHECK(member(*j, "lockstat_per_vcpu").items.size() == 2);
        }
        CHECK(n == 2);
    }
    {  // human table with the per-vCPU breakdown
        Captured per = gmm_cli({"stat", name, "--interval", "100", "--count", "1", "--per-vcpu"}, "stat-per");
        REQUIRE(per.exit_code == 0);
        CHECK(per.out.find("interval 1") != std::string::npos);
        CHECK(per.out.find("lockhammer") != std::string::npos);
        CHECK(per.out.find("  vcpu 0") != std::string::npos);
        CHECK(per.out.find("  vcpu 1") != std::string::npos);
    }
    {  // bad input: one line naming the input and what is accepted, exit 2
        const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
            {{"stat", name, "--interval", "5"}, "--interval '5'"},
            {{"stat", name, "--interval", "soon"}, "--interval 'soon'"},
            {{"stat", name, "--interval", "100", "--count", "0"}, "--count '0'"},
            {{"stat", name, "--count", "3"}, "--count needs --interval"},
            {{"stat", name, "--bogus"}, "--bogus"},
            {{"stat"}, "exactly one VM name"},
            {{"stat", "no-such-vm"}, "no VM named 'no-such-vm'"},
            {{"stat", "../x"}, "VM name"},
        };
        for (const auto& [args, needle] : cases) {
            Captured c = gmm_cli(args, "stat-bad");
            INFO(args.back() << ": " << c.err);
            CHECK(c.exit_code == 2);
            CHECK(c.err.find(needle) != std::string::npos);
            CHECK(c.err.find('\n') == c.err.size() - 1);
        }
        CHECK(gmm_cli({"stat", "no-such-vm"}, "stat-bad").err.find(name) != std::string::npos);  // lists what runs
        Captured help = gmm_cli({"stat", "--help"}, "stat-help");
        CHECK(help.exit_code == 0);
        CHECK(help.out.find("usage: gmm stat NAME") != std::string::npos);
    }
    // Watching a VM that ends: gmm stat says so and exits 0.
    gmm::test::Proc watch =
        gmm::test::spawn({GMM_TEST_GMM_BINARY, "stat", name, "--interval", "100"}, g_tmp->path(), "watch");
    std::this_thread::sleep_for(400ms);
    REQUIRE(gmm_cli({"stop", name}, "stop").exit_code == 0);
    CHECK(gmm::test::wait_exit(run, 10000ms) == 0);
    CHECK(gmm::test::wait_exit(watch, 5000ms) == 0);
    CHECK(gmm::test::read_file_text(watch.out_path).find("ended") != std::string::npos);
}

int main(int argc, char** argv) {
    if (int code = gmm::test::kvm_gate_exit_code_or_zero()) return code;
    gmm::test::TempDir tmp;
    g_tmp = &tmp;
    setenv("XDG_RUNTIME_DIR", tmp.path().c_str(), 1);
    return Catch::Session().run(argc, argv);
}
