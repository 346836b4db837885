// The ring-3 runtime's modes (user_abi.h). Everything here runs natively even
// where ring 0 is emulated, so busy loops belong here, not in the kernel.
#include "faults.h"
#include "mm_runner.h"
#include "storm_runner.h"
#include "syscall.h"
#include "user_abi.h"

namespace gmm::user {

namespace {

// GETCPU `calls` times, plus a few self-checks of the gate's error paths.
[[noreturn]] void gate_calls(uint64_t cpu, uint64_t calls) {
    uint64_t errors = 0;
    uint64_t seen_cpu = ~0ull;
    uint64_t made = 0;
    for (; made < calls; ++made) {
        const int64_t r = sys_getcpu();
        if (r < 0 || uint64_t(r) != cpu) ++errors;
        seen_cpu = uint64_t(r);
    }
    if (syscall2(0x7fff, 0, 0) != -GMM_ENOSYS) ++errors;  // unknown number
    if (sys_console_write(reinterpret_cast<const char*>(0xffffffff80100000ull), 8) != -GMM_EFAULT) ++errors;
    if (sys_console_write(reinterpret_cast<const char*>(0x1000), 8) != -GMM_EFAULT) ++errors;  // unmapped
    if (sys_clock() <= 0) ++errors;
    if (cpu == 0) {
        static const char hello[] = "user: hello from ring 3\n";
        if (sys_console_write(hello, sizeof hello - 1) != int64_t(sizeof hello - 1)) ++errors;
    }
    sys_report(ReportKey::GateCalls, made);
    sys_report(ReportKey::UserCpu, seen_cpu);
    sys_report(ReportKey::UserErrors, errors);
    sys_exit_thread(errors == 0 ? 0 : 1);
}

[[noreturn]] void spin(uint64_t counter_gva) {
    volatile uint64_t* counter = reinterpret_cast<volatile uint64_t*>(counter_gva);
    for (;;) *counter = *counter + 1;
}

}  // namespace

}  // namespace gmm::user

extern "C" [[noreturn]] void gmm_user_main(uint64_t cpu, uint64_t mode, uint64_t arg) {
    using namespace gmm::user;
    switch (static_cast<Mode>(mode)) {
    case Mode::GateCalls: gate_calls(cpu, arg);
    case Mode::Spin: spin(arg);
    case Mode::Fault: raise_fault(arg); break;
    case Mode::Mm: mm_main(arg);
    case Mode::Storm: storm_main(arg);
    }
    sys_exit_thread(2);
}
