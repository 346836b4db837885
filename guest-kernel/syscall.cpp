#include "syscall.h"

#include "console.h"
#include "mm/mm_syscalls.h"
#include "mm/user_space.h"
#include "gmm/abi/syscall.h"
#include "percpu.h"
#include "ucall.h"
#include "user.h"
#include "x86_64/cpu.h"

namespace gmm::kernel {

namespace {

constexpr uint64_t kConsoleWriteMaxBytes = 256;  // each byte is a VM exit

int64_t sys_console_write(uint64_t user_ptr, uint64_t len) {
    if (len > kConsoleWriteMaxBytes) len = kConsoleWriteMaxBytes;
    if (len == 0) return 0;
    // No partial output for a bad pointer: copied first (the mm space under
    // test) or validated first (the fixed user page table), then printed.
    if (mm_space_ready()) {
        char buf[kConsoleWriteMaxBytes];
        if (!mm_copy_from_user(Gva(user_ptr), len, buf)) return -GMM_EFAULT;
        console_write(buf, len);
        return int64_t(len);
    }
    if (!user_range_for_each(Gva(user_ptr), len, [](const char*, uint64_t) {})) return -GMM_EFAULT;
    user_range_for_each(Gva(user_ptr), len, [](const char* p, uint64_t n) { console_write(p, n); });
    return int64_t(len);
}

// Several threads may share a vCPU: their `ops` add up and `measured_ns` is
// the longest, per vCPU (the host keeps the last value of each result).
// Per-CPU and touched only in system calls, which are never preempted.
struct alignas(64) ReportTotals {
    uint64_t ops, measured_ns;
};
ReportTotals g_report_totals[GMM_MAX_VCPUS];

int64_t sys_report(uint64_t key, uint64_t value) {
    if (key >= uint64_t(user::ReportKey::Count)) return -GMM_EINVAL;
    ReportTotals& t = g_report_totals[this_cpu().cpu_index];
    if (key == uint64_t(user::ReportKey::Ops)) value = t.ops += value;
    if (key == uint64_t(user::ReportKey::MeasuredNs)) value = t.measured_ns = value > t.measured_ns ? value : t.measured_ns;
    ucall_result(user::kReportKeyNames[key], value);
    return 0;
}

}  // namespace

int64_t syscall_handle(const SyscallArgs& args) {
    PerCpu& me = this_cpu();
    ++me.gate_calls;
    switch (args.nr) {
    case GMM_SYS_EXIT_THREAD:
        user_thread_exit(args.a[0]);
    case GMM_SYS_CONSOLE_WRITE:
        return sys_console_write(args.a[0], args.a[1]);
    case GMM_SYS_GETCPU:
        return me.cpu_index;
    case GMM_SYS_CLOCK:
        return int64_t(x86::rdtsc());
    case GMM_SYS_REPORT:
        return sys_report(args.a[0], args.a[1]);
    default: {
        int64_t r = 0;
        return mm_syscall(args, r) ? r : -GMM_ENOSYS;
    }
    }
}

}  // namespace gmm::kernel
