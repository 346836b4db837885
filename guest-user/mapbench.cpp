// RadixVM's mapbench (Clements et al., EuroSys 2013) in the guest, with the
// same semantics as the host drivers (tools/gmm/bench_patterns.h):
//   local     each thread maps, touches (one write per 4 KiB page) and unmaps
//             a region at a fixed address of its own (no free-space search)
//   pipeline  a thread maps and touches a region and hands it to the next
//             thread, which touches it again and unmaps it
//   global    every round each thread maps its slice of one shared region at a
//             fixed address, all threads touch every slice, each unmaps its own
// ops = pages touched. Waiting is WAIT/WAKE (HLT in the kernel), never a spin.
#include "mapbench.h"

#include "mm_sync.h"
#include "syscall.h"

namespace gmm::user {

namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kRw = GMM_PROT_READ | GMM_PROT_WRITE;
constexpr uint64_t kAnon = GMM_MAP_PRIVATE | GMM_MAP_ANONYMOUS;
// Far above the runner's own mappings (params, stacks, text) and the hint
// allocator's first choices; local regions 1 GiB apart, then the shared region.
constexpr uint64_t kLocalBase = 0x100000000000ull;  // 16 TiB
constexpr uint64_t kLocalStride = 1ull << 30;
constexpr uint64_t kGlobalBase = kLocalBase + kMmMaxThreads * kLocalStride;

struct Mailbox {
    uint64_t addr;
    uint32_t full;  // the WAIT word
};
Mailbox g_box[kMmMaxThreads];
Barrier g_round;
bool g_mapped[kMmMaxThreads];  // global: whose slice is mapped this round

uint64_t touch(uint64_t a, uint64_t size) {
    for (uint64_t off = 0; off < size; off += kPage) *reinterpret_cast<volatile char*>(a + off) = 1;
    return size / kPage;
}

void put(Mailbox& b, uint64_t a) {
    while (__atomic_load_n(&b.full, __ATOMIC_ACQUIRE) == 1) sys_wait(&b.full, 1);
    b.addr = a;
    __atomic_store_n(&b.full, 1u, __ATOMIC_RELEASE);
    sys_wake(&b.full, 1);
}

uint64_t take(Mailbox& b) {
    while (__atomic_load_n(&b.full, __ATOMIC_ACQUIRE) == 0) sys_wait(&b.full, 0);
    const uint64_t a = b.addr;
    __atomic_store_n(&b.full, 0u, __ATOMIC_RELEASE);
    sys_wake(&b.full, 1);
    return a;
}

}  // namespace

uint64_t mapbench_run(const MmParams& p, uint64_t index, uint64_t& errors) {
    const uint64_t size = p.size_bytes;
    const uint32_t n = uint32_t(p.threads);
    uint64_t ops = 0;
    for (uint64_t round = 0; round < p.iterations; ++round) {
        if (p.kind == MmKind::MapbenchLocal) {
            const uint64_t want = kLocalBase + index * kLocalStride;
            const int64_t a = sys_mmap(want, size, kRw, kAnon | GMM_MAP_FIXED);
            if (a != int64_t(want)) {
                ++errors;
                continue;
            }
            ops += touch(want, size);
            if (sys_munmap(want, size) != 0) ++errors;
        } else if (p.kind == MmKind::MapbenchPipeline) {
            const int64_t a = sys_mmap(0, size, kRw, kAnon);
            // Hand over even a failed map (0), so the next thread's take() pairs up.
            if (a < 0) ++errors;
            else ops += touch(uint64_t(a), size);
            put(g_box[(index + 1) % n], a < 0 ? 0 : uint64_t(a));
            const uint64_t got = take(g_box[index]);
            if (got) {
                ops += touch(got, size);
                if (sys_munmap(got, size) != 0) ++errors;
            }
        } else {
            const uint64_t mine = kGlobalBase + index * size;
            const bool mapped = sys_mmap(mine, size, kRw, kAnon | GMM_MAP_FIXED) == int64_t(mine);
            if (!mapped) ++errors;
            g_mapped[index] = mapped;
            barrier_wait(g_round, n);
            // Own slice first, then the others'; a slice whose map failed is
            // skipped (the error count fails the run).
            for (uint32_t k = 0; k < n; ++k) {
                const uint64_t slice = (index + k) % n;
                if (g_mapped[slice]) ops += touch(kGlobalBase + slice * size, size);
            }
            barrier_wait(g_round, n);
            if (mapped && sys_munmap(mine, size) != 0) ++errors;
            barrier_wait(g_round, n);
        }
    }
    return ops;
}

}  // namespace gmm::user
