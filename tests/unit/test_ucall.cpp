// Guest -> host call decoding with hostile inputs.
#include <catch2/catch.hpp>

#include <cstring>

#include "ucall.h"

using namespace gmm;
using namespace gmm::vmm;

namespace {
constexpr uint64_t kMiB = 1ull << 20;

gmm_ucall make(uint32_t cmd, uint32_t cpu, const std::string& t0 = {}, const std::string& t1 = {}) {
    gmm_ucall u;
    std::memset(&u, 0, sizeof u);
    u.cmd = cmd;
    u.cpu = cpu;
    for (uint32_t i = 0; i < GMM_UCALL_ARGS; ++i) u.args[i] = 100 + i;
    std::memcpy(u.text[0], t0.data(), t0.size());
    u.text_len[0] = static_cast<uint32_t>(t0.size());
    std::memcpy(u.text[1], t1.data(), t1.size());
    u.text_len[1] = static_cast<uint32_t>(t1.size());
    return u;
}

void put(GuestMemory& mem, Gpa gpa, const gmm_ucall& u) {
    REQUIRE(mem.write(gpa, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&u), sizeof u)).ok());
}
}  // namespace

TEST_CASE("decode_ucall copies out command, cpu, args and both texts", "[ucall]") {
    auto mem = GuestMemory::create(16 * kMiB);
    REQUIRE(mem.ok());
    put(*mem, Gpa(0x5000), make(GMM_UCALL_ASSERT, 2, "kernel/main.cpp", "x == y"));
    auto u = decode_ucall(*mem, Gpa(0x5000), 4);
    REQUIRE(u.ok());
    CHECK(u->command == UcallCommand::Assert);
    CHECK(std::string(ucall_command_name(u->command)) == "ASSERT");
    CHECK(u->cpu == 2);
    CHECK(u->args[0] == 100);
    CHECK(u->args[7] == 107);
    CHECK(u->text[0] == "kernel/main.cpp");
    CHECK(u->text[1] == "x == y");
}

TEST_CASE("decode_ucall refuses a struct outside RAM, straddling a slot end or the MMIO hole", "[ucall]") {
    auto mem = GuestMemory::create(16 * kMiB);
    REQUIRE(mem.ok());
    CHECK_FALSE(decode_ucall(*mem, Gpa(16 * kMiB), 1).ok());
    CHECK_FALSE(decode_ucall(*mem, Gpa(16 * kMiB - 100), 1).ok());  // straddles the end of RAM
    CHECK_FALSE(decode_ucall(*mem, Gpa(0xc0000000ull - 8), 1).ok()); // into the MMIO hole
    CHECK_FALSE(decode_ucall(*mem, Gpa(0xd0000000ull), 1).ok());     // inside the hole
    auto e = decode_ucall(*mem, Gpa(~0ull - 16), 1);                  // wraps around
    REQUIRE_FALSE(e.ok());
    CHECK(e.error().what.find("not inside guest RAM") != std::string::npos);
    put(*mem, Gpa(16 * kMiB - sizeof(gmm_ucall)), make(GMM_UCALL_PRINT, 0, "edge"));
    CHECK(decode_ucall(*mem, Gpa(16 * kMiB - sizeof(gmm_ucall)), 1).ok());  // flush with the end is fine
}

TEST_CASE("decode_ucall refuses a struct straddling the end of the low slot into the MMIO hole", "[ucall]") {
    auto mem = GuestMemory::create(3ull * 1024 * kMiB + 2 * kMiB);  // slot 1 at 4 GiB
    REQUIRE(mem.ok());
    CHECK_FALSE(decode_ucall(*mem, Gpa(0xc0000000ull - 64), 1).ok());
    put(*mem, Gpa(0x100000000ull), make(GMM_UCALL_DONE, 0));
    CHECK(decode_ucall(*mem, Gpa(0x100000000ull), 1).ok());
}

TEST_CASE("validate_ucall rejects unknown commands, including NONE", "[ucall]") {
    CHECK_FALSE(validate_ucall(make(GMM_UCALL_NONE, 0), 1).ok());
    auto e = validate_ucall(make(GMM_UCALL_MARK + 1, 0), 1);  // first number past the last command
    REQUIRE_FALSE(e.ok());
    CHECK(e.error().what.find("unknown command " + std::to_string(GMM_UCALL_MARK + 1)) != std::string::npos);
    CHECK_FALSE(validate_ucall(make(0xffffffffu, 0), 1).ok());
    for (uint32_t c = GMM_UCALL_DONE; c <= GMM_UCALL_MARK; ++c) CHECK(validate_ucall(make(c, 0), 1).ok());
}

TEST_CASE("validate_ucall rejects a cpu index at or beyond the vCPU count", "[ucall]") {
    CHECK(validate_ucall(make(GMM_UCALL_PRINT, 3), 4).ok());
    auto e = validate_ucall(make(GMM_UCALL_PRINT, 4), 4);
    REQUIRE_FALSE(e.ok());
    CHECK(e.error().what.find("cpu 4") != std::string::npos);
}

TEST_CASE("validate_ucall rejects text lengths beyond the buffer", "[ucall]") {
    gmm_ucall u = make(GMM_UCALL_PRINT, 0, "hi");
    u.text_len[1] = GMM_UCALL_TEXT_BYTES + 1;
    auto e = validate_ucall(u, 1);
    REQUIRE_FALSE(e.ok());
    CHECK(e.error().what.find("text_len[1]") != std::string::npos);
    u.text_len[1] = 0xffffffffu;
    CHECK_FALSE(validate_ucall(u, 1).ok());
    u.text_len[1] = GMM_UCALL_TEXT_BYTES;  // full buffer, no NUL: allowed, bounded
    std::memset(u.text[1], 'a', GMM_UCALL_TEXT_BYTES);
    auto ok = validate_ucall(u, 1);
    REQUIRE(ok.ok());
    CHECK(ok->text[1] == std::string(GMM_UCALL_TEXT_BYTES, 'a'));
}

TEST_CASE("validate_ucall strips control bytes and stops at NUL", "[ucall]") {
    const std::string hostile = std::string("ok\x1b[2Jgo\ttab\n\x7f\xff") + '\0' + "hidden";
    gmm_ucall u = make(GMM_UCALL_PRINT, 0, hostile);
    auto r = validate_ucall(u, 1);
    REQUIRE(r.ok());
    CHECK(r->text[0] == "ok[2Jgo\ttab\n");
    // text_len bounds the text even when bytes follow.
    u = make(GMM_UCALL_PRINT, 0, "abcdef");
    u.text_len[0] = 3;
    CHECK(validate_ucall(u, 1)->text[0] == "abc");
}
