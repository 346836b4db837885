// The pause/resume-all API of the VMM, against the real kernel: a paused guest
// makes no progress, every vCPU acknowledges, and it runs again after resume.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

#include "kvm_gate.h"
#include "machine.h"

using namespace gmm;
using namespace std::chrono_literals;

namespace {

std::unique_ptr<vmm::Machine> make_spin_machine(uint32_t vcpus) {
    vmm::MachineConfig cfg;
    cfg.vcpus = vcpus;
    cfg.ram_bytes = 64ull << 20;
    cfg.kernel_path = GMM_TEST_KERNEL;
    cfg.user_image_path = GMM_TEST_USER_IMAGE;
    cfg.bootargs = "workload=spin";
    auto m = vmm::Machine::create(cfg);
    if (!m) FAIL("Machine::create: " << m.error().message());
    return std::move(*m);
}

uint64_t read_counter(vmm::Machine& m, uint64_t gpa) {
    auto v = m.memory().read_u64(Gpa(gpa));
    REQUIRE(v.ok());
    return *v;
}

// Waits (bounded) until the guest published its counter and it is moving.
uint64_t wait_for_counter_gpa(vmm::Machine& m) {
    for (int i = 0; i < 500; ++i) {
        if (auto gpa = m.result_snapshot(0, "spin_counter_gpa")) {
            if (read_counter(m, *gpa) > 0) return *gpa;
        }
        std::this_thread::sleep_for(10ms);
    }
    FAIL("the spin workload never published a moving counter");
    return 0;
}

}  // namespace

TEST_CASE("paused vCPUs make no progress and resume where they were", "[vm][pause]") {
    auto m = make_spin_machine(2);
    vmm::RunReport report;
    std::thread runner([&] { report = m->run(30000); });
    const uint64_t gpa = wait_for_counter_gpa(*m);

    for (int round = 0; round < 10; ++round) {
        const uint64_t acks_before = m->pauses_acknowledged();
        m->pause_all();
        CHECK(m->pauses_acknowledged() >= acks_before + 2);  // both vCPUs acknowledged
        const uint64_t c1 = read_counter(*m, gpa);
        std::this_thread::sleep_for(30ms);
        const uint64_t c2 = read_counter(*m, gpa);
        CHECK(c1 == c2);
        m->resume_all();
        const uint64_t c3 = read_counter(*m, gpa);
        bool moved = false;
        for (int i = 0; i < 200 && !moved; ++i) {
            std::this_thread::sleep_for(5ms);
            moved = read_counter(*m, gpa) > c3;
        }
        CHECK(moved);
    }
    m->request_stop();
    runner.join();
    CHECK(report.end == vmm::RunEnd::Stopped);
}

TEST_CASE("a stop request ends a run that would otherwise never finish", "[vm][stop]") {
    auto m = make_spin_machine(1);
    vmm::RunReport report;
    const auto start = std::chrono::steady_clock::now();
    std::thread runner([&] { report = m->run(30000); });
    wait_for_counter_gpa(*m);
    m->request_stop();
    runner.join();
    CHECK(report.end == vmm::RunEnd::Stopped);
    CHECK(std::chrono::steady_clock::now() - start < 20s);
}

int main(int argc, char** argv) {
    if (int code = gmm::test::kvm_gate_exit_code_or_zero()) return code;
    return Catch::Session().run(argc, argv);
}
