// User page faults go to guestmm; what it cannot resolve ends the thread with
// a SEGV report (RESULTs segv_address / segv_access / segv_reason / segv_rip).
// A kernel-mode #PF never comes here: it is a panic report.
#include "mm/fault.h"

#include "gmm/abi/syscall.h"
#include "mm/safepoint.h"
#include "fs/page_cache.h"
#include "lockstat.h"
#include "mm/user_space.h"
#include "percpu.h"
#include "sched/sched.h"
#include "ucall.h"
#include "user.h"
#include "x86_64/cpu.h"
#include "x86_64/exceptions.h"

namespace gmm::kernel {

namespace {
constexpr uint64_t kPfWrite = 1u << 1, kPfFetch = 1u << 4;
constexpr uint64_t kSegvExitStatus = 128 + 11;   // like a shell reports SIGSEGV
constexpr uint64_t kSigbusExitStatus = 128 + 7;   // and SIGBUS (a file page that could not be read)

// SEGV recovery is per thread (sched/thread.h); the count is per CPU.
struct alignas(64) RecoveredCount {
    uint64_t value;
};
RecoveredCount g_recovered[GMM_MAX_VCPUS];

static_assert(uint64_t(SegvCode::NotMapped) == GMM_SEGV_NOT_MAPPED && uint64_t(SegvCode::AccessDenied) == GMM_SEGV_ACCESS_DENIED &&
              uint64_t(SegvCode::OutOfRange) == GMM_SEGV_OUT_OF_RANGE && uint64_t(SegvCode::OutOfMemory) == GMM_SEGV_OUT_OF_MEMORY &&
              uint64_t(SegvCode::IoError) == GMM_SEGV_IO_ERROR);

bool user_address(uint64_t va) { return va >= kPageSize && va < GMM_USER_TOP_GVA; }
}  // namespace

int64_t mm_sys_segv_recover(uint64_t begin, uint64_t end, uint64_t landing) {
    SegvRecovery& r = sched_current()->recovery;
    if (begin == 0 && end == 0 && landing == 0) {
        r.begin = r.end = r.landing = 0;
        return 0;
    }
    if (!user_address(begin) || begin >= end || end > GMM_USER_TOP_GVA || !user_address(landing) ||
        (landing >= begin && landing < end))
        return -GMM_EINVAL;
    r.begin = begin;
    r.end = end;
    r.landing = landing;
    return 0;
}

uint64_t mm_segv_recovered(uint32_t cpu) { return g_recovered[cpu].value; }

namespace {
// One pass of the fault under an mm-operation scope, retried from scratch
// while a sleeping fault's revalidation fails.
__attribute__((always_inline)) inline mm::FaultResult fault_locked(uint64_t cr2, mm::Access access) {
    MmOpScope op;
    const LockstatFaultMark mark = lockstat_fault_begin();
    mm::FaultResult r = mm_space().fault(Gva(cr2), access);
    while (r.kind == mm::FaultKind::Retry) {  // the mapping changed under a sleeping fault
        lockstat_count<GMM_LOCKSTAT_OFF(fault_retries)>();
        r = mm_space().fault(Gva(cr2), access);
    }
    lockstat_fault_end(mark);
    return r;
}

// The sleeping half (issue 5): with no memory-manager lock held, read the
// file page (this thread blocks; others on the vCPU run), then let guestmm
// re-walk and revalidate. A failed revalidation starts the fault over.
mm::FaultResult fault_after_io(uint64_t cr2, mm::Access access, mm::FaultResult r, SegvCode& io_failure) {
    while (r.kind == mm::FaultKind::NeedsIo) {
        const mm::FaultToken token = r.token;
        const PageIo io = page_cache_read(token.object, token.page_index);
        if (io != PageIo::Ok) {
            mm_space().abandon_fault(token);
            io_failure = io == PageIo::NoMemory ? SegvCode::OutOfMemory : SegvCode::IoError;
            return r;
        }
        {
            MmOpScope op;
            r = mm_space().complete_fault(token);
        }
        if (r.kind == mm::FaultKind::Retry) {
            lockstat_count<GMM_LOCKSTAT_OFF(revalidation_failures)>();
            lockstat_count<GMM_LOCKSTAT_OFF(fault_retries)>();
            r = fault_locked(cr2, access);
        }
    }
    return r;
}
}  // namespace

namespace {
// Everything but a fault installed on the first try: the sleeping half, SEGV
// recovery and the SEGV report. Out of line so the hot path stays short.
__attribute__((noinline)) void fault_not_installed(x86::TrapFrame& f, uint64_t cr2, mm::Access access,
                                                   mm::FaultResult r) {
    SegvCode io_failure = SegvCode::NotMapped;
    if (r.kind == mm::FaultKind::NeedsIo) {
        r = fault_after_io(cr2, access, r, io_failure);
        if (r.kind == mm::FaultKind::Installed) return;
    }
    const uint64_t reason = r.kind == mm::FaultKind::NeedsIo ? uint64_t(io_failure)
                            : r.kind == mm::FaultKind::NoMem ? uint64_t(SegvCode::OutOfMemory)
                            : r.segv == mm::SegvReason::AccessDenied ? uint64_t(SegvCode::AccessDenied)
                            : r.segv == mm::SegvReason::OutOfRange   ? uint64_t(SegvCode::OutOfRange)
                                                                     : uint64_t(SegvCode::NotMapped);
    const SegvRecovery& rec = sched_current()->recovery;
    if (rec.begin && f.rip >= rec.begin && f.rip < rec.end) {  // an expected SEGV: resume at the landing
        f.rip = rec.landing;
        f.rdi = cr2;
        f.rsi = reason | uint64_t(access) << 8;
        ++g_recovered[this_cpu().cpu_index].value;
        return;
    }
    ucall_result("segv_address", cr2);
    ucall_result("segv_access", uint64_t(access));
    ucall_result("segv_reason", reason);
    ucall_result("segv_rip", f.rip);
    user_thread_exit(reason == uint64_t(SegvCode::IoError) ? kSigbusExitStatus : kSegvExitStatus);
}
}  // namespace

void mm_user_page_fault(x86::TrapFrame& f) {
    if (!mm_space_ready()) x86::report_exception(f);  // no address space under test
    const uint64_t cr2 = x86::read_cr2();
    const mm::Access access = f.error_code & kPfFetch ? mm::Access::Exec
                              : f.error_code & kPfWrite ? mm::Access::Write
                                                         : mm::Access::Read;
    const mm::FaultResult r = fault_locked(cr2, access);
    if (__builtin_expect(r.kind == mm::FaultKind::Installed, 1)) return;
    fault_not_installed(f, cr2, access, r);
}

}  // namespace gmm::kernel
