#include "percpu.h"

#include "x86_64/cpu.h"

namespace gmm::kernel {

PerCpu g_percpu[GMM_MAX_VCPUS];  // .bss: fresh RAM reads as zero, no clearing loop

namespace {
// Debian's libfdt.a is built with -fstack-protector: it reads the canary at
// %fs:0x28. One shared read-only block serves every CPU.
struct StackGuardBlock {
    uint64_t reserved[5];
    uint64_t canary;  // offset 0x28
};
static_assert(__builtin_offsetof(StackGuardBlock, canary) == 0x28);
constinit const StackGuardBlock g_stack_guard = {{}, 0x8f3c2a5d6e1b7049ull};
}  // namespace

void percpu_init(uint32_t cpu_index) {
    PerCpu& me = g_percpu[cpu_index];
    me.self = &me;
    me.cpu_index = cpu_index;
    x86::wrmsr(x86::Msr::GsBase, reinterpret_cast<uint64_t>(&me));
    x86::wrmsr(x86::Msr::FsBase, reinterpret_cast<uint64_t>(&g_stack_guard));
}

}  // namespace gmm::kernel
