// Memory-manager tests run by `gmm run --workload mmtest --param test=NAME`.
// Each reports test_checks and user_errors; the host test asserts on them and
// on the kernel's SEGV / peek / check results.
#include "file_runner.h"
#include "mm_runner.h"
#include "mm_sync.h"
#include "syscall.h"

namespace gmm::user {

namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kAnon = GMM_MAP_PRIVATE | GMM_MAP_ANONYMOUS;
constexpr uint64_t kRw = GMM_PROT_READ | GMM_PROT_WRITE;
constexpr uint64_t kUnmappedAddress = 0x7f0000001230ull;
constexpr uint64_t kKernelAddress = 0xffff800000000000ull;

uint64_t g_checks, g_errors;
void check(bool ok) {
    ++g_checks;
    if (!ok) ++g_errors;
}
uint64_t finish() {
    sys_report(ReportKey::TestChecks, g_checks);
    sys_report(ReportKey::UserErrors, g_errors);
    return g_errors == 0 ? 0 : 1;
}

[[noreturn]] void segv_read() {
    sys_report(ReportKey::ExpectedAddress, kUnmappedAddress);
    (void)*reinterpret_cast<volatile uint64_t*>(kUnmappedAddress);
    sys_exit(2);  // not reached if the kernel sends SEGV
}

[[noreturn]] void mprotect_then_write() {
    const int64_t a = sys_mmap(0, 4 * kPage, kRw, kAnon);
    check(a > 0);
    volatile uint64_t* w = reinterpret_cast<volatile uint64_t*>(a + 8);
    *w = 42;
    check(sys_mprotect(uint64_t(a), 4 * kPage, GMM_PROT_READ) == 0);
    check(*w == 42);  // still readable
    finish();
    sys_report(ReportKey::ExpectedAddress, uint64_t(a + 8));
    *w = 43;  // must fault: SEGV (access denied)
    sys_exit(2);
}

// First touch reads zero, also when the frames were used and freed before.
uint64_t zero_reuse(const MmParams& p) {
    constexpr uint64_t kOffsets[] = {0, 8, 2048, 4088};
    const uint64_t rounds = p.iterations < 2 ? 2 : p.iterations;
    for (uint64_t r = 0; r < rounds; ++r) {
        const int64_t a = sys_mmap(0, p.size_bytes, kRw, kAnon);
        check(a > 0);
        if (a <= 0) break;
        for (uint64_t off = 0; off < p.size_bytes; off += kPage)
            for (uint64_t o : kOffsets) {
                volatile uint64_t* w = reinterpret_cast<volatile uint64_t*>(a + off + o);
                check(*w == 0);
                *w = 0xfeedface00000000ull | (r + 1);
            }
        check(sys_munmap(uint64_t(a), p.size_bytes) == 0);
    }
    return finish();
}

// --- shootdown: thread 1 caches a writable translation; thread 0 unmaps ---
uint64_t g_victim;
uint32_t g_phase;  // 1: thread 1 has the page in its TLB; 2: thread 0 unmapped it

void set_phase(uint32_t v) {
    __atomic_store_n(&g_phase, v, __ATOMIC_SEQ_CST);
    sys_wake(&g_phase, ~0ull);
}

uint64_t shootdown_main(const MmParams& p) {
    if (p.threads < 2) return 4;
    const int64_t a = sys_mmap(0, kPage, kRw, kAnon);
    check(a > 0);
    *reinterpret_cast<volatile uint64_t*>(a) = 0x1111;
    g_victim = uint64_t(a);
    check(start_thread(1) == 1);
    for (uint32_t v; (v = __atomic_load_n(&g_phase, __ATOMIC_ACQUIRE)) < 1;) sys_wait(&g_phase, v);
    const int64_t gpa = sys_frame_of(uint64_t(a));
    check(gpa > 0);
    check(sys_munmap(uint64_t(a), kPage) == 0);  // must shoot down thread 1's entry
    set_phase(2);
    join_thread(1);  // thread 1 ends with SEGV; the kernel clears its word
    // The host reads the freed frame: it must still hold 0x1111 (not thread 1's late write).
    sys_report(ReportKey::PeekGpa, uint64_t(gpa));
    return finish();
}

[[noreturn]] void shootdown_worker() {
    volatile uint64_t* w = reinterpret_cast<volatile uint64_t*>(g_victim);
    const uint64_t seen = *w;  // read and write: a dirty, writable TLB entry on this vCPU
    *w = seen;
    set_phase(1);
    while (__atomic_load_n(&g_phase, __ATOMIC_ACQUIRE) < 2) asm volatile("pause");  // ring 3: native
    sys_report(ReportKey::ExpectedAddress, g_victim);
    *w = 0xdead;  // after munmap: must fault
    sys_exit_thread(2);
}

// --- bad system-call arguments ---
struct BadCall {
    uint64_t nr, a0, a1, a2, a3;
    int64_t expect1, expect2;  // accepted results
    uint64_t a4 = 0, a5 = 0;   // fd and offset of file mmaps
};

uint64_t bad_args() {
    const int64_t ok = sys_mmap(0, 2 * kPage, kRw, kAnon);
    check(ok > 0);
    const uint64_t m = uint64_t(ok);
    const int64_t EINVAL = -GMM_EINVAL, ENOMEM = -GMM_ENOMEM, EFAULT = -GMM_EFAULT, EBADF = -GMM_EBADF,
                  ENOENT = -GMM_ENOENT, ENODEV = -GMM_ENODEV;
    const BadCall table[] = {
        {GMM_SYS_MMAP, 0, 0, kRw, kAnon, EINVAL, EINVAL},                          // zero length
        {GMM_SYS_MMAP, 0, kPage, kRw, GMM_MAP_ANONYMOUS, EINVAL, EINVAL},          // neither shared nor private
        {GMM_SYS_MMAP, 0, kPage, kRw, kAnon | GMM_MAP_SHARED, EINVAL, EINVAL},     // both
        {GMM_SYS_MMAP, 0, kPage, 0x80, kAnon, EINVAL, EINVAL},                     // unknown prot bit
        {GMM_SYS_MMAP, 0, kPage, kRw, kAnon | 0x100000, EINVAL, EINVAL},           // unknown flag
        {GMM_SYS_MMAP, 0, kPage, kRw, GMM_MAP_PRIVATE, EBADF, EBADF, 999, 0},      // file mapping: no such fd
        {GMM_SYS_MMAP, 0, kPage, kRw, GMM_MAP_PRIVATE, EINVAL, EBADF, 0, 100},     // unaligned offset (EBADF: no disk)
        {GMM_SYS_MMAP, 0, 2 * kPage, kRw, GMM_MAP_SHARED, EINVAL, EBADF, 0, ~0ull & ~(kPage - 1)},  // offset + length wraps
        {GMM_SYS_FILE_OPEN, kKernelAddress, 5, 0, 0, EFAULT, ENODEV},              // kernel address
        {GMM_SYS_FILE_OPEN, 0x7f0000000000ull, 5, 0, 0, EFAULT, ENODEV},           // not mapped
        {GMM_SYS_FILE_OPEN, m, 0, 0, 0, EINVAL, EINVAL},                           // empty name
        {GMM_SYS_FILE_OPEN, m, 32, 0, 0, EINVAL, EINVAL},                          // longer than any name
        {GMM_SYS_FILE_OPEN, m, 3, 0, 0, ENOENT, ENODEV},                           // "\0\0\0": no such file
        {GMM_SYS_FILE_SIZE, 999, 0, 0, 0, EBADF, EBADF},                           // no such fd
        {GMM_SYS_MSYNC, m, kPage, 0x80, 0, EINVAL, EINVAL},                        // unknown flag
        {GMM_SYS_MSYNC, m, kPage, GMM_MS_ASYNC | GMM_MS_SYNC, 0, EINVAL, EINVAL},  // both
        {GMM_SYS_MSYNC, m + 1, kPage, GMM_MS_SYNC, 0, EINVAL, EINVAL},             // unaligned
        {GMM_SYS_MSYNC, kKernelAddress, kPage, GMM_MS_SYNC, 0, EINVAL, EINVAL},    // kernel address
        {GMM_SYS_MMAP, 0x1001, kPage, kRw, kAnon | GMM_MAP_FIXED, EINVAL, EINVAL}, // unaligned fixed
        {GMM_SYS_MMAP, kKernelAddress, kPage, kRw, kAnon | GMM_MAP_FIXED, EINVAL, ENOMEM},  // kernel address
        {GMM_SYS_MMAP, 0x7ffffffff000, 2 * kPage, kRw, kAnon | GMM_MAP_FIXED, EINVAL, ENOMEM}, // crosses the top
        {GMM_SYS_MMAP, 0, ~0ull - 100, kRw, kAnon, ENOMEM, EINVAL},                // wraps when rounded
        {GMM_SYS_MMAP, 0, 1ull << 50, kRw, kAnon, ENOMEM, EINVAL},                 // larger than the user half
        {GMM_SYS_MUNMAP, m + 1, kPage, 0, 0, EINVAL, EINVAL},                      // unaligned
        {GMM_SYS_MUNMAP, m, 0, 0, 0, EINVAL, EINVAL},                              // zero length
        {GMM_SYS_MUNMAP, 0xfffffffffffff000ull, 0x2000, 0, 0, EINVAL, EINVAL},     // wraps
        {GMM_SYS_MUNMAP, kKernelAddress, kPage, 0, 0, EINVAL, EINVAL},             // kernel address
        {GMM_SYS_MPROTECT, m + 8, kPage, GMM_PROT_READ, 0, EINVAL, EINVAL},        // unaligned
        {GMM_SYS_MPROTECT, m, 0, GMM_PROT_READ, 0, EINVAL, EINVAL},                // zero length
        {GMM_SYS_MPROTECT, m, kPage, 0x10, 0, EINVAL, EINVAL},                     // unknown prot bit
        {GMM_SYS_MPROTECT, kKernelAddress, kPage, GMM_PROT_READ, 0, EINVAL, ENOMEM}, // kernel address
        {GMM_SYS_MPROTECT, 0x7f0000000000ull, kPage, GMM_PROT_READ, 0, ENOMEM, ENOMEM}, // not mapped
        {GMM_SYS_MPROTECT, m, ~0ull - 4095, GMM_PROT_READ, 0, EINVAL, ENOMEM},     // wraps
        {GMM_SYS_WAIT, m + 2, 0, 0, 0, EINVAL, EINVAL},                            // unaligned word
        {GMM_SYS_WAIT, kKernelAddress, 0, 0, 0, EFAULT, EINVAL},                   // kernel address
        {GMM_SYS_WAIT, 0x7f0000000000ull, 0, 0, 0, EFAULT, EFAULT},                // not mapped
        {GMM_SYS_WAKE, kKernelAddress, 1, 0, 0, EFAULT, EINVAL},                   // kernel address
        {GMM_SYS_THREAD_CREATE, kKernelAddress, m + kPage, 0, 1, EINVAL, EINVAL},  // kernel entry
        {GMM_SYS_THREAD_CREATE, m, m + kPage, 0, 999, EINVAL, EINVAL},             // no such vCPU
        {GMM_SYS_SEGV_RECOVER, m, m, m + kPage, 0, EINVAL, EINVAL},                // empty range
        {GMM_SYS_SEGV_RECOVER, 0, m, m + kPage, 0, EINVAL, EINVAL},                // begins at 0
        {GMM_SYS_SEGV_RECOVER, kKernelAddress, kKernelAddress + 64, m, 0, EINVAL, EINVAL},  // kernel range
        {GMM_SYS_SEGV_RECOVER, m, m + 64, kKernelAddress, 0, EINVAL, EINVAL},     // kernel landing
        {GMM_SYS_SEGV_RECOVER, m, m + 64, m + 8, 0, EINVAL, EINVAL},              // landing inside the range
        {GMM_SYS_SEGV_RECOVER, m, 0x800000001000ull, m - kPage, 0, EINVAL, EINVAL},  // past the user half
        {GMM_SYS_SEGV_RECOVER, 0, 0, 0, 0, 0, 0},                                  // none registered: clearing is fine
    };
    uint64_t index = 0;
    for (const BadCall& c : table) {
        const int64_t r = syscall6(c.nr, c.a0, c.a1, c.a2, c.a3, c.a4, c.a5);
        const bool good = r == c.expect1 || r == c.expect2;
        check(good);
        if (!good) sys_report(ReportKey::ExpectedAddress, index);  // first failing row (debug aid)
        ++index;
    }
    // The kernel and the mapping still work afterwards.
    volatile uint64_t* w = reinterpret_cast<volatile uint64_t*>(m);
    *w = 7;
    check(*w == 7);
    check(sys_munmap(m, 2 * kPage) == 0);
    return finish();
}

}  // namespace

uint64_t run_test_main(const MmParams& p) {
    switch (p.kind) {
    case MmKind::TestSegv: segv_read();
    case MmKind::TestMprotect: mprotect_then_write();
    case MmKind::TestZeroReuse: return zero_reuse(p);
    case MmKind::TestShootdown: return shootdown_main(p);
    case MmKind::TestBadArgs: return bad_args();
    case MmKind::TestIoWait: return iowait_test_main(p);
    default: return 5;
    }
}

void run_test_worker(const MmParams& p, uint64_t) {
    if (p.kind == MmKind::TestShootdown) shootdown_worker();
    if (p.kind == MmKind::TestIoWait) iowait_test_worker(p);
    sys_exit_thread(5);
}

}  // namespace gmm::user
