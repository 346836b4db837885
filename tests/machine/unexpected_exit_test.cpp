// An exit the VMM does not expect (here a triple fault: the "kernel" executes
// ud2 before it has an IDT) is reported with the exit reason by name, the
// registers and a walk of RIP through the guest page tables.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <fstream>
#include <unistd.h>

#include "../unit/elf_fixture.h"
#include "gmm/abi/boot.h"
#include "kvm_gate.h"
#include "machine.h"
#include "temp_kernel.h"

using namespace gmm;

TEST_CASE("a triple fault is reported by exit name with registers and a walk of RIP", "[vm][exit]") {
    const uint64_t entry = GMM_KERNEL_IMAGE_GVA + 0x100000;
    test::ElfSpec spec{entry, {test::SegSpec{entry, 0x100000, {0x0f, 0x0b} /* ud2 */, 4096}}, {}};
    const std::string kernel = test::write_temp_kernel(test::build_elf(spec));

    vmm::MachineConfig cfg;
    cfg.vcpus = 1;
    cfg.ram_bytes = 16ull << 20;
    cfg.kernel_path = kernel;
    cfg.user_image_path = GMM_TEST_USER_IMAGE;
    cfg.bootargs = "workload=boot";
    auto m = vmm::Machine::create(cfg);
    unlink(kernel.c_str());
    REQUIRE(m.ok());
    const vmm::RunReport r = (*m)->run(20000);
    CHECK(r.end == vmm::RunEnd::Error);
    INFO(r.error);
    CHECK(r.error.find("KVM_EXIT_SHUTDOWN") != std::string::npos);
    CHECK(r.error.find("rip ffffffff80100000") != std::string::npos);
    CHECK(r.error.find("walk of RIP") != std::string::npos);
}

TEST_CASE("a kernel segment outside guest RAM is refused before boot", "[vm][elf]") {
    const uint64_t entry = GMM_KERNEL_IMAGE_GVA + 0x100000;
    test::ElfSpec spec{entry, {test::SegSpec{entry, 0x100000, {0x0f, 0x0b}, 64ull << 20}}, {}};
    const std::string kernel = test::write_temp_kernel(test::build_elf(spec));
    vmm::MachineConfig cfg;
    cfg.vcpus = 1;
    cfg.ram_bytes = 16ull << 20;
    cfg.kernel_path = kernel;
    cfg.user_image_path = GMM_TEST_USER_IMAGE;
    auto m = vmm::Machine::create(cfg);
    unlink(kernel.c_str());
    REQUIRE_FALSE(m.ok());
    CHECK(m.error().kind == vmm::ErrorKind::BadInput);
}

int main(int argc, char** argv) {
    if (int code = gmm::test::kvm_gate_exit_code_or_zero()) return code;
    return Catch::Session().run(argc, argv);
}
