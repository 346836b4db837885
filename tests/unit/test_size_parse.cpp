// Memory sizes and bounded integers from the command line.
#include <catch2/catch.hpp>

#include "size_parse.h"

using namespace gmm::vmm;

TEST_CASE("memory sizes: accepted forms", "[size_parse]") {
    struct Row {
        const char* text;
        uint64_t bytes;
    };
    const Row rows[] = {
        {"256", 256ull << 20},       {"1", 1ull << 20},          {"512M", 512ull << 20},
        {"512m", 512ull << 20},      {"2G", 2ull << 30},         {"2g", 2ull << 30},
        {"65536K", 65536ull << 10},  {"65536k", 65536ull << 10}, {"0064M", 64ull << 20},
        {"17179869183G", 17179869183ull << 30},                  // largest that fits
    };
    for (const Row& r : rows) {
        INFO(r.text);
        auto v = parse_mem_size_bytes(r.text);
        REQUIRE(v.ok());
        CHECK(*v == r.bytes);
    }
}

TEST_CASE("memory sizes: rejected forms name the input and the accepted forms", "[size_parse]") {
    const char* bad[] = {"", "0", "0M", "-1", "-512M", "+5", "M", "G", "12X", "1.5G", " 256", "256 ", "0x100",
                         "2GB", "2GiB", "abc", "1e9", "17179869184G", "18446744073709551616",
                         "99999999999999999999999K", "18014398509481984K"};
    for (const char* text : bad) {
        INFO(text);
        auto v = parse_mem_size_bytes(text);
        REQUIRE_FALSE(v.ok());
        CHECK(v.error().kind == ErrorKind::BadInput);
        const std::string msg = v.error().message();
        CHECK(msg.find(std::string("\"") + text + "\"") != std::string::npos);
        CHECK(msg.find("512M") != std::string::npos);
        CHECK(msg.find('\n') == std::string::npos);
    }
}

TEST_CASE("memory sizes: overflow and zero get specific reasons", "[size_parse]") {
    CHECK(parse_mem_size_bytes("17179869184G").error().what.find("too large") != std::string::npos);
    CHECK(parse_mem_size_bytes("99999999999999999999").error().what.find("too large") != std::string::npos);
    CHECK(parse_mem_size_bytes("0G").error().what.find("zero") != std::string::npos);
}

TEST_CASE("memory sizes: unprintable input is shown safely", "[size_parse]") {
    auto v = parse_mem_size_bytes(std::string_view("1\x1b[2J", 5));
    REQUIRE_FALSE(v.ok());
    CHECK(v.error().what.find('\x1b') == std::string::npos);
    CHECK(v.error().what.find("\"1?[2J\"") != std::string::npos);
}

TEST_CASE("parse_u64 accepts in-range decimal integers", "[size_parse]") {
    CHECK(*parse_u64("1", 1, 64, "--vcpus") == 1);
    CHECK(*parse_u64("64", 1, 64, "--vcpus") == 64);
    CHECK(*parse_u64("007", 0, 10, "x") == 7);
    CHECK(*parse_u64("18446744073709551615", 0, UINT64_MAX, "x") == UINT64_MAX);
}

TEST_CASE("parse_u64 rejects junk, signs, overflow and out-of-range values", "[size_parse]") {
    const char* bad[] = {"", "0", "65", "-1", "+1", "1a", " 1", "0x10", "1.0", "18446744073709551616"};
    for (const char* text : bad) {
        INFO(text);
        auto v = parse_u64(text, 1, 64, "--vcpus");
        REQUIRE_FALSE(v.ok());
        const std::string msg = v.error().message();
        CHECK(msg.find("--vcpus") != std::string::npos);
        CHECK(msg.find("from 1 to 64") != std::string::npos);
        CHECK(v.error().kind == ErrorKind::BadInput);
    }
    CHECK(parse_u64("65", 1, 64, "--vcpus").error().what.find("out of range") != std::string::npos);
    CHECK(parse_u64("x", 1, 64, "--vcpus").error().what.find("not a number") != std::string::npos);
}
