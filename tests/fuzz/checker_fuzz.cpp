// libFuzzer target: random guest-RAM images through the host invariant
// checker (check_mm, walk_gva). The input format and the properties checked
// are in fuzz_input.h; replay_main.cpp runs the same entry point without
// libFuzzer. How to build and run: tests/fuzz/meson.build.
#include <cstddef>
#include <cstdint>

#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    gmm::check::fuzz::run_input(data, size);
    return 0;
}
