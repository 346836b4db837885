// Writes a test "kernel" (ELF bytes) to a temporary file and returns its path;
// the caller unlinks it once Machine::create has loaded it.
#pragma once

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <unistd.h>
#include <vector>

namespace gmm::test {

inline std::string write_temp_kernel(const std::vector<uint8_t>& bytes) {
    char path[] = "/tmp/gmm-test-kernel-XXXXXX";
    const int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    REQUIRE(write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
    close(fd);
    return path;
}

}  // namespace gmm::test
