// Shared by VM-level test executables: decide whether KVM is usable before
// running any test. In CI (CI=true) an unusable /dev/kvm is a failure; elsewhere
// the executable exits 77, which Meson reports as SKIP.
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace gmm::test {

inline int kvm_gate_exit_code_or_zero() {
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
        close(fd);
        return 0;
    }
    const int err = errno;
    const char* ci = std::getenv("CI");
    if (ci && std::strcmp(ci, "true") == 0) {
        std::fprintf(stderr, "FAIL: CI=true but /dev/kvm is unusable: %s — VM tests cannot run\n", std::strerror(err));
        return 1;
    }
    std::fprintf(stderr, "SKIP: /dev/kvm is unusable (%s); VM tests skipped\n", std::strerror(err));
    return 77;
}

}  // namespace gmm::test
