// The contract between the guest kernel and this ring-3 runtime (both in this
// tree; the VMM only loads the image). _start(cpu_index, mode, arg).
#pragma once

#include <stdint.h>

namespace gmm::user {

enum class Mode : uint64_t {
    GateCalls = 1,  // arg = number of GETCPU calls; REPORT gate_calls, user_cpu, user_errors; EXIT_THREAD
    Spin = 2,       // arg = GVA of this CPU's u64 counter; increment it forever
    Fault = 3,      // arg = exception vector (0, 6, 13, 14); REPORT expected_rip, then fault
    Mm = 4,         // arg = GVA of an MmParams page; the memory-manager workloads (mm_runner.cpp)
    Storm = 5,      // arg = GVA of an MmParams page; the storm runner (storm_runner.cpp, abi/gmm/abi/storm.h)
};

// Memory-manager workloads and tests (bootargs workload names in the kernel).
enum class MmKind : uint64_t {
    PageFault1 = 1,     // will-it-scale page_fault1: mmap, write every page, munmap
    Mmap1 = 2,          // will-it-scale mmap1: mmap + munmap, no touching
    Mixed = 3,          // thread 0 churns mmap1 while the others run page_fault1
    MapbenchLocal = 4,     // RadixVM mapbench local / pipeline / global (mapbench.cpp)
    MapbenchPipeline = 5,
    MapbenchGlobal = 6,
    TestSegv = 10,      // read an unmapped address: SEGV
    TestMprotect = 11,  // mprotect RW->RO, then write: SEGV (access)
    TestZeroReuse = 12, // pages read zero on first touch, also with recycled frames
    TestShootdown = 13, // munmap on thread 0 while thread 1 caches the page; its write must fault
    TestBadArgs = 14,   // table of bad mmap/munmap/mprotect/wait arguments
    TestPtl = 15,       // page_fault1 in disjoint 2 MiB windows, PTLs tracked per vCPU
    TestIoWait = 16,    // thread 1 sleeps in a file fault while thread 0 (same vCPU) keeps running
    // File-backed workloads (issue 5; file_runner.cpp). Thread t uses disk file t % file_count.
    PageFault2 = 20,    // will-it-scale page_fault2: private file mapping, write one byte per page (COW)
    PageFault3 = 21,    // will-it-scale page_fault3: shared file mapping, write one byte per page
    Mmap2 = 22,         // will-it-scale mmap2: map/unmap a private file mapping, untouched
    IoRace = 23,        // faulters read a file mapping while thread 0 re-maps it to other files (ABA)
};

// The correctness checks of `mmtest` (run by mm_tests.cpp, not measured).
constexpr bool is_mm_test(MmKind k) { return k >= MmKind::TestSegv && k <= MmKind::TestIoWait && k != MmKind::TestPtl; }
constexpr bool is_file_workload(MmKind k) { return k >= MmKind::PageFault2 && k <= MmKind::IoRace; }

constexpr uint64_t kMmParamsMagic = 0x534d4152504d4d47ull;  // "GMMPARMS"
constexpr uint32_t kMmMaxThreads = 64;

// Written by the kernel into the parameter page before the first thread starts.
struct MmParams {
    uint64_t magic;
    MmKind kind;
    uint64_t threads;     // user threads; thread i runs on vCPU i % vcpus
    uint64_t vcpus;
    uint64_t size_bytes;  // per thread, multiple of 4 KiB
    uint64_t iterations;  // per thread (mixed: per faulting thread)
    uint64_t tsc_khz;
    uint64_t file_count;  // files on the disk (0 without one)
    uint64_t stack_top[kMmMaxThreads];
};

// Key ids for GMM_SYS_REPORT; the kernel forwards them as named results.
enum class ReportKey : uint64_t {
    GateCalls = 0,
    UserCpu = 1,
    ExpectedRip = 2,
    UserErrors = 3,
    Ops = 4,            // operations done in the measured section
    MeasuredNs = 5,     // wall time of this thread's measured section
    ExpectedAddress = 6,// the address a test is about to fault on
    PeekGpa = 7,        // the host reads the u64 at this GPA into "peek_value"
    TestChecks = 8,     // checks a test executed
    WrongPages = 9,     // io_race: pages whose content was not the mapped file's page
    RacedReads = 10,    // io_race: reads a re-map overlapped (not judged)
    IoWaitFaultNs = 11, // mmtest iowait: how long the sleeping file fault took
    IoWaitProgress = 12,// mmtest iowait: increments the other thread of the vCPU made meanwhile
    Count = 13,
};

inline constexpr const char* kReportKeyNames[uint64_t(ReportKey::Count)] = {
    "gate_calls",
    "user_cpu",
    "expected_rip",
    "user_errors",
    "ops",
    "measured_ns",
    "expected_address",
    "peek_gpa",
    "test_checks",
    "wrong_pages",
    "raced_reads",
    "iowait_fault_ns",
    "iowait_progress",
};

}  // namespace gmm::user
