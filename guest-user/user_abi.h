// The contract between the guest kernel and this ring-3 runtime (both in this
// tree; the VMM only loads the image). _start(cpu_index, mode, arg).
#pragma once

#include <stdint.h>

namespace gmm::user {

enum class Mode : uint64_t {
    GateCalls = 1,  // arg = number of GETCPU calls; REPORT gate_calls, user_cpu, user_errors; EXIT_THREAD
    Spin = 2,       // arg = GVA of this CPU's u64 counter; increment it forever
    Fault = 3,      // arg = exception vector (0, 6, 13, 14); REPORT expected_rip, then fault
};

// Key ids for GMM_SYS_REPORT; the kernel forwards them as named results.
enum class ReportKey : uint64_t {
    GateCalls = 0,
    UserCpu = 1,
    ExpectedRip = 2,
    UserErrors = 3,
    Count = 4,
};

inline constexpr const char* kReportKeyNames[uint64_t(ReportKey::Count)] = {
    "gate_calls",
    "user_cpu",
    "expected_rip",
    "user_errors",
};

}  // namespace gmm::user
