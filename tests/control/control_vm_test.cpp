// The control socket of a real `gmm run --workload spin`: gmm list/info/pause/
// resume/stop as subprocesses, and guest RAM read through the memfd handed
// over SCM_RIGHTS (the spin counter stops while paused and moves otherwise).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <memory>
#include <thread>

#include "control_client.h"
#include "gmm/abi/boot.h"
#include "control_test_util.h"
#include "kvm_gate.h"

using gmm::Gpa;
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

uint64_t u64_of(const JsonValue& v, const char* key) {
    const JsonValue* m = v.find(key);
    REQUIRE(m);
    REQUIRE(m->as_u64);
    return *m->as_u64;
}

// Waits (bounded) for the VM to answer with its vCPUs running and the spin
// counter published; returns the info reply.
JsonValue wait_until_spinning(const std::string& name) {
    for (int i = 0; i < 1000; ++i) {
        auto r = control_request(control_dir(), name, ControlCommand::Info);
        if (r && r->json.find("state")->string == "running") {
            const JsonValue* pub = r->json.find("published");
            if (pub && !pub->items.empty() && pub->items[0].find("spin_counter_gpa")) return r->json;
        }
        std::this_thread::sleep_for(10ms);
    }
    FAIL("VM '" << name << "' never reported a running spin workload over its control socket");
    return {};
}

bool counter_moves(const GuestRamView& ram, Gpa gpa) {
    const uint64_t before = *ram.read_u64(gpa);
    for (int i = 0; i < 200; ++i) {
        std::this_thread::sleep_for(5ms);
        if (*ram.read_u64(gpa) != before) return true;
    }
    return false;
}

}  // namespace

TEST_CASE("gmm run serves list, info, pause, resume, memfd and stop on its control socket", "[control][vm]") {
    const std::string name = "ctl-vm-" + std::to_string(getpid());
    const std::string json_path = g_tmp->path() + "/run.json";
    gmm::test::Proc run = gmm::test::spawn({GMM_TEST_GMM_BINARY, "run", "--workload", "spin", "--vcpus", "2", "--mem",
                                            "64M", "--name", name, "--timeout", "30", "--json", json_path},
                                           g_tmp->path(), "run");
    REQUIRE(run.pid > 0);
    // A failed REQUIRE must not leave the VM spinning until its --timeout.
    struct Reaper {
        gmm::test::Proc& p;
        ~Reaper() {
            if (p.pid > 0) (void)gmm::test::wait_exit(p, 0ms);
        }
    } reaper{run};
    const JsonValue info = wait_until_spinning(name);
    CHECK(u64_of(info, "pid") == static_cast<uint64_t>(run.pid));
    CHECK(u64_of(info, "vcpus") == 2);
    CHECK(u64_of(info, "mem_bytes") == (64ull << 20));
    CHECK(info.find("workload")->string == "spin");
    CHECK(u64_of(info, "abi_version") == GMM_ABI_VERSION);
    REQUIRE(info.find("slots")->items.size() == 1);
    CHECK(u64_of(info.find("slots")->items[0], "gpa") == 0);
    CHECK(u64_of(info.find("slots")->items[0], "size_bytes") == (64ull << 20));
    CHECK(u64_of(*info.find("layout"), "boot_info_gpa") == 0x1000);
    CHECK(u64_of(*info.find("layout"), "kernel_pml4_gpa") != 0);
    const Gpa counter(u64_of(info.find("published")->items[0], "spin_counter_gpa"));

    {  // the CLI clients
        Captured list = gmm_cli({"list"}, "list");
        CHECK(list.exit_code == 0);
        CHECK(list.out.find("NAME") != std::string::npos);
        CHECK(list.out.find(name) != std::string::npos);
        CHECK(list.out.find("running") != std::string::npos);
        Captured list_json = gmm_cli({"list", "--json"}, "list-json");
        CHECK(list_json.exit_code == 0);
        auto parsed = parse_json(list_json.out);
        REQUIRE(parsed.ok());
        REQUIRE(parsed->items.size() == 1);
        CHECK(parsed->items[0].find("name")->string == name);
        Captured text = gmm_cli({"info", name}, "info");
        CHECK(text.exit_code == 0);
        CHECK(text.out.find("workload:    spin") != std::string::npos);
        CHECK(text.out.find("spin_counter_gpa") != std::string::npos);
    }

    auto reply = control_request(control_dir(), name, ControlCommand::Memfd);
    REQUIRE(reply.ok());
    auto ram = GuestRamView::map(*reply);
    REQUIRE(ram.ok());
    REQUIRE(ram->read_u64(counter).ok());
    CHECK(counter_moves(*ram, counter));

    for (int round = 0; round < 3; ++round) {
        Captured pause = gmm_cli({"pause", name}, "pause");
        REQUIRE(pause.exit_code == 0);
        CHECK(pause.out.find("state paused") != std::string::npos);
        const uint64_t c1 = *ram->read_u64(counter);
        std::this_thread::sleep_for(50ms);
        CHECK(*ram->read_u64(counter) == c1);
        CHECK(control_request(control_dir(), name, ControlCommand::Info)->json.find("state")->string == "paused");
        Captured resume = gmm_cli({"resume", name}, "resume");
        REQUIRE(resume.exit_code == 0);
        CHECK(counter_moves(*ram, counter));
    }

    // The name is taken while this VM lives.
    Captured twin = gmm_cli({"run", "--workload", "spin", "--mem", "64M", "--name", name, "--timeout", "5", "-q"}, "twin");
    CHECK(twin.exit_code == 2);
    CHECK(twin.err.find("already running") != std::string::npos);
    // Unknown and malformed names: exit 2, and the message lists what exists.
    Captured unknown = gmm_cli({"pause", "no-such-vm"}, "unknown");
    CHECK(unknown.exit_code == 2);
    CHECK(unknown.err.find("no VM named 'no-such-vm'") != std::string::npos);
    CHECK(unknown.err.find(name) != std::string::npos);
    CHECK(gmm_cli({"stop", "../etc"}, "badname").exit_code == 2);
    CHECK(gmm_cli({"run", "--name", ".dot", "--timeout", "1"}, "badrun").exit_code == 2);

    // Stop a paused VM: the run ends with exit 0 and the socket disappears.
    REQUIRE(gmm_cli({"pause", name}, "pause-final").exit_code == 0);
    Captured stop = gmm_cli({"stop", name}, "stop");
    CHECK(stop.exit_code == 0);
    CHECK(gmm::test::wait_exit(run, 10000ms) == 0);
    CHECK_FALSE(gmm::test::file_exists(control_socket_path(control_dir(), name)));
    auto report = parse_json(gmm::test::read_file_text(json_path));
    REQUIRE(report.ok());
    CHECK(report->find("exit")->find("reason")->string == "stopped");
    CHECK(report->find("control_socket")->string == control_socket_path(control_dir(), name));
    Captured after = gmm_cli({"list"}, "list-after");
    CHECK(after.exit_code == 0);
    CHECK(after.out.find(name) == std::string::npos);
}

int main(int argc, char** argv) {
    if (int code = gmm::test::kvm_gate_exit_code_or_zero()) return code;
    gmm::test::TempDir tmp;
    g_tmp = &tmp;
    setenv("XDG_RUNTIME_DIR", tmp.path().c_str(), 1);
    return Catch::Session().run(argc, argv);
}
