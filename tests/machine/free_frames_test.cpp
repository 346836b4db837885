// The FREE_FRAMES ucall from a guest the host does not trust: a tiny raw
// "kernel" sends FREE_FRAMES with a frame list the test writes into guest RAM,
// then DONE. Good lists come back zero under both --free-frames methods; a bad
// list (count, array outside RAM, a misaligned, reserved or out-of-RAM frame)
// ends the run with an error naming the bad value and zeroes nothing, not
// even the good frames listed before the bad one.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstring>
#include <functional>
#include <unistd.h>

#include "../unit/elf_fixture.h"
#include "gmm/abi/boot.h"
#include "gmm/abi/ucall.h"
#include "kvm_gate.h"
#include "error.h"
#include "machine.h"
#include "temp_kernel.h"

using namespace gmm;

namespace {

constexpr uint64_t kImageGpa = 0x100000;
constexpr uint64_t kFreeCallOff = 0x200, kDoneCallOff = 0x600, kArrayOff = 0x1000;
constexpr uint64_t kPage = 4096;

void put_u64(std::vector<uint8_t>& b, size_t off, uint64_t v) { std::memcpy(&b[off], &v, 8); }
void put_u32(std::vector<uint8_t>& b, size_t off, uint32_t v) { std::memcpy(&b[off], &v, 4); }

// mov $gpa, %rdi; mov $port, %edx; xor %eax, %eax; out %al, (%dx) — twice (FREE_FRAMES, DONE); hlt.
std::vector<uint8_t> image(uint64_t array_gpa, uint64_t count) {
    std::vector<uint8_t> b(kArrayOff + kPage, 0);
    size_t pc = 0;
    for (uint64_t call : {kImageGpa + kFreeCallOff, kImageGpa + kDoneCallOff}) {
        b[pc++] = 0x48;
        b[pc++] = 0xbf;
        put_u64(b, pc, call);
        pc += 8;
        b[pc++] = 0xba;
        put_u32(b, pc, GMM_UCALL_PORT);
        pc += 4;
        b[pc++] = 0x31;
        b[pc++] = 0xc0;
        b[pc++] = 0xee;
    }
    b[pc++] = 0xf4;  // hlt
    b[pc++] = 0xeb;  // jmp back to the hlt
    b[pc++] = 0xfd;
    gmm_ucall free_call{};
    free_call.cmd = GMM_UCALL_FREE_FRAMES;
    free_call.args[0] = array_gpa;
    free_call.args[1] = count;
    std::memcpy(&b[kFreeCallOff], &free_call, sizeof free_call);
    gmm_ucall done{};
    done.cmd = GMM_UCALL_DONE;
    std::memcpy(&b[kDoneCallOff], &done, sizeof done);
    return b;
}

struct Outcome {
    vmm::RunReport report;
    bool good_frames_zero = false, good_frames_intact = false;
};

// Boots the raw kernel; `frames(first_free)` gives the list (first_free: a
// free-able frame above the boot area). The first two entries of every list
// are good frames, filled with a pattern before the run.
Outcome run_free_frames(vmm::FreedFrames how, uint64_t count,
                        const std::function<std::vector<uint64_t>(uint64_t)>& frames,
                        uint64_t array_gpa = kImageGpa + kArrayOff) {
    const uint64_t entry = GMM_KERNEL_IMAGE_GVA + kImageGpa;
    const std::vector<uint8_t> bytes = image(array_gpa, count);
    test::ElfSpec spec{entry, {test::SegSpec{entry, kImageGpa, bytes, bytes.size()}}, {}};
    const std::string kernel = test::write_temp_kernel(test::build_elf(spec));
    vmm::MachineConfig cfg;
    cfg.vcpus = 1;
    cfg.ram_bytes = 32ull << 20;
    cfg.kernel_path = kernel;
    cfg.user_image_path = GMM_TEST_USER_IMAGE;
    cfg.bootargs = "workload=boot";
    cfg.freed_frames = how;
    auto m = vmm::Machine::create(cfg);
    unlink(kernel.c_str());
    REQUIRE(m.ok());
    vmm::Machine& machine = **m;
    const uint64_t first_free = (machine.layout().reserved_end.value() + kPage - 1) / kPage * kPage + 4 * kPage;
    const std::vector<uint64_t> list = frames(first_free);
    uint8_t* array = machine.memory().translate(Gpa(kImageGpa + kArrayOff), kPage);
    REQUIRE(array);
    REQUIRE(list.size() * 8 <= kPage);
    std::memcpy(array, list.data(), list.size() * 8);
    for (uint64_t f : {first_free, first_free + 2 * kPage}) {
        uint8_t* p = machine.memory().translate(Gpa(f), kPage);
        REQUIRE(p);
        std::memset(p, 0xa5, kPage);
    }
    Outcome o;
    o.report = machine.run(20000);
    o.good_frames_zero = o.good_frames_intact = true;
    for (uint64_t f : {first_free, first_free + 2 * kPage}) {
        const uint8_t* p = machine.memory().translate(Gpa(f), kPage);
        for (uint64_t i = 0; i < kPage; ++i) {
            if (p[i] != 0) o.good_frames_zero = false;
            if (p[i] != 0xa5) o.good_frames_intact = false;
        }
    }
    return o;
}

}  // namespace

TEST_CASE("FREE_FRAMES returns a guest's freed frames to zero, by clearing or by punching", "[vm][free_frames]") {
    for (vmm::FreedFrames how : {vmm::FreedFrames::Zero, vmm::FreedFrames::Punch}) {
        DYNAMIC_SECTION(vmm::freed_frames_name(how)) {
            const Outcome o = run_free_frames(how, 2, [](uint64_t f) { return std::vector<uint64_t>{f, f + 2 * kPage}; });
            INFO(o.report.error);
            CHECK(o.report.end == vmm::RunEnd::Done);
            CHECK(o.good_frames_zero);
        }
    }
}

TEST_CASE("a bad FREE_FRAMES list ends the run naming the bad value and zeroes nothing", "[vm][free_frames]") {
    struct Case {
        const char* what;
        uint64_t count;
        std::function<std::vector<uint64_t>(uint64_t)> frames;
        uint64_t array_gpa;
        std::function<std::string(uint64_t)> needle;  // expected in the error, given first_free
    };
    const uint64_t array = kImageGpa + kArrayOff;
    const std::vector<Case> cases = {
        {"misaligned frame", 3, [](uint64_t f) { return std::vector<uint64_t>{f, f + 2 * kPage, f + 8}; }, array,
         [](uint64_t f) { return vmm::hex(f + 8); }},
        {"frame in the boot area", 3, [](uint64_t f) { return std::vector<uint64_t>{f, f + 2 * kPage, kImageGpa}; },
         array, [](uint64_t) { return vmm::hex(kImageGpa); }},
        {"frame beyond RAM", 3, [](uint64_t f) { return std::vector<uint64_t>{f, f + 2 * kPage, 1ull << 40}; }, array,
         [](uint64_t) { return vmm::hex(1ull << 40); }},
        {"count 0", 0, [](uint64_t f) { return std::vector<uint64_t>{f, f + 2 * kPage}; }, array,
         [](uint64_t) { return std::string("count 0"); }},
        {"count above the maximum", GMM_UCALL_FREE_FRAMES_MAX + 1,
         [](uint64_t f) { return std::vector<uint64_t>{f, f + 2 * kPage}; }, array,
         [](uint64_t) { return "count " + std::to_string(GMM_UCALL_FREE_FRAMES_MAX + 1); }},
        {"array outside RAM", 2, [](uint64_t f) { return std::vector<uint64_t>{f, f + 2 * kPage}; }, 1ull << 40,
         [](uint64_t) { return vmm::hex(1ull << 40); }},
    };
    for (vmm::FreedFrames how : {vmm::FreedFrames::Zero, vmm::FreedFrames::Punch}) {
        for (const Case& c : cases) {
            DYNAMIC_SECTION(vmm::freed_frames_name(how) << ": " << c.what) {
                uint64_t first_free = 0;
                const Outcome o = run_free_frames(
                    how, c.count,
                    [&](uint64_t f) {
                        first_free = f;
                        return c.frames(f);
                    },
                    c.array_gpa);
                INFO(o.report.error);
                CHECK(o.report.end == vmm::RunEnd::Error);
                CHECK(o.report.error.find("FREE_FRAMES") != std::string::npos);
                CHECK(o.report.error.find(c.needle(first_free)) != std::string::npos);
                CHECK(o.good_frames_intact);
            }
        }
    }
}

int main(int argc, char** argv) {
    if (int code = gmm::test::kvm_gate_exit_code_or_zero()) return code;
    return Catch::Session().run(argc, argv);
}
