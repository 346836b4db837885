// Entry point of the VM tests: without a usable /dev/kvm they fail loudly in
// CI (CI=true) and are skipped elsewhere (exit 77, Meson's skip code).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "kvm_gate.h"

int main(int argc, char** argv) {
    if (const int code = gmm::test::kvm_gate_exit_code_or_zero(); code != 0) return code;
    return Catch::Session().run(argc, argv);
}
