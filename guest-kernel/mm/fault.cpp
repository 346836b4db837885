// User page faults go to guestmm; what it cannot resolve ends the thread with
// a SEGV report (RESULTs segv_address / segv_access / segv_reason / segv_rip).
// A kernel-mode #PF never comes here: it is a panic report.
#include "mm/fault.h"

#include "mm/safepoint.h"
#include "lockstat.h"
#include "mm/user_space.h"
#include "ucall.h"
#include "user.h"
#include "x86_64/cpu.h"
#include "x86_64/exceptions.h"

namespace gmm::kernel {

namespace {
constexpr uint64_t kPfWrite = 1u << 1, kPfFetch = 1u << 4;
constexpr uint64_t kSegvExitStatus = 128 + 11;  // like a shell reports SIGSEGV
}  // namespace

void mm_user_page_fault(x86::TrapFrame& f) {
    if (!mm_space_ready()) x86::report_exception(f);  // no address space under test
    const uint64_t cr2 = x86::read_cr2();
    const mm::Access access = f.error_code & kPfFetch ? mm::Access::Exec
                              : f.error_code & kPfWrite ? mm::Access::Write
                                                         : mm::Access::Read;
    mm::FaultResult r;
    {
        MmOpScope op;
        const LockstatFaultMark mark = lockstat_fault_begin();
        r = mm_space().fault(Gva(cr2), access);
        while (r.kind == mm::FaultKind::Retry) {  // the mapping changed under a sleeping fault
            lockstat_count<GMM_LOCKSTAT_OFF(revalidation_failures)>();
            lockstat_count<GMM_LOCKSTAT_OFF(fault_retries)>();
            r = mm_space().fault(Gva(cr2), access);
        }
        lockstat_fault_end(mark);
    }
    if (r.kind == mm::FaultKind::Installed) return;
    const uint64_t reason = r.kind == mm::FaultKind::NoMem ? uint64_t(SegvCode::OutOfMemory)
                            : r.segv == mm::SegvReason::AccessDenied ? uint64_t(SegvCode::AccessDenied)
                            : r.segv == mm::SegvReason::OutOfRange   ? uint64_t(SegvCode::OutOfRange)
                                                                     : uint64_t(SegvCode::NotMapped);
    ucall_result("segv_address", cr2);
    ucall_result("segv_access", uint64_t(access));
    ucall_result("segv_reason", reason);
    ucall_result("segv_rip", f.rip);
    user_thread_exit(kSegvExitStatus);
}

}  // namespace gmm::kernel
