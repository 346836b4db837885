#include "frame_alloc.h"

#include "assert.h"
#include "kernel.h"
#include "lock_classes.h"
#include "mm/guest_platform.h"
#include "percpu.h"

namespace gmm::kernel {

namespace {

constexpr uint32_t kCleanCacheFrames = 512;  // per CPU
constexpr uint32_t kReleaseBatchFrames = 256;  // frees per FREE_FRAMES exit
static_assert(kReleaseBatchFrames <= GMM_UCALL_FREE_FRAMES_MAX);

struct alignas(64) CpuFrames {
    uint32_t clean_count;
    uint32_t dirty_count;
    uint64_t recycled_allocs, free_frames_calls, frames_released;
    uint64_t clean[kCleanCacheFrames];
    uint64_t dirty[kReleaseBatchFrames];  // the FREE_FRAMES array (GPA passed to the VMM)
};

CpuFrames g_cpu_frames[GMM_MAX_VCPUS];  // .bss: zero without a clearing loop
gmm_frame_meta* g_meta;                 // indexed by GPA / 4 KiB
uint64_t g_meta_count;
uint64_t g_meta_gpa;
uint64_t g_first_managed;
uint64_t g_next_gpa;  // bump pointer (fresh frames)
uint64_t g_end_gpa;
// Shared pool of clean frames (overflow of the per-CPU caches), carved from RAM.
uint64_t* g_pool;
uint64_t g_pool_count;
uint64_t g_pool_capacity;
// The pool's lock: held for a few instructions; waiters sleep in HLT (wait_on).
constinit mm::TicketLock g_pool_lock{lock_class(KernelLockClass::FramePool)};

struct PoolGuard : mm::LockGuard<mm::TicketLock> {
    PoolGuard() : mm::LockGuard<mm::TicketLock>(g_pool_lock, guest_platform()) {}
};

void set_meta(uint64_t gpa, uint8_t state, uint16_t refcount) {
    gmm_frame_meta& m = g_meta[gpa >> 12];
    m.state = state;
    m.refcount = refcount;
    m.flags = 0;
    if (state == GMM_FRAME_ALLOCATED) m.alloc_seq = uint16_t(m.alloc_seq + 1);
}

uint64_t kernel_gpa(const void* p) { return reinterpret_cast<uint64_t>(p) - GMM_KERNEL_IMAGE_GVA; }

// The fault path's allocation marks the frame allocated and mapped once in
// one 8-byte store: state ALLOCATED, flags 0, mapcount 1, refcount 1,
// alloc_seq + 1 (a free frame has mapcount 0 and nobody else can see it).
typedef uint64_t __attribute__((may_alias)) MetaWord;
static_assert(__builtin_offsetof(gmm_frame_meta, state) == 0 && __builtin_offsetof(gmm_frame_meta, flags) == 1 &&
              __builtin_offsetof(gmm_frame_meta, mapcount) == 2 && __builtin_offsetof(gmm_frame_meta, refcount) == 4 &&
              __builtin_offsetof(gmm_frame_meta, alloc_seq) == 6);
constexpr uint64_t kMetaSeqMask = 0xffffull << 48;
// alloc_seq + 1 (a carry out of bit 63 is the wrap) and the other fields set.
constexpr uint64_t kMetaAllocatedMappedOnce = (1ull << 48) | (1ull << 32) | (1ull << 16) | GMM_FRAME_ALLOCATED;

// Hands this CPU's dirty batch to the VMM; the frames come back zero. They
// refill this CPU's clean cache; the overflow goes to the shared pool under
// one lock acquisition (one per frame made the pool lock the most contended
// lock of a 2-vCPU page_fault1: 0.75 acquisitions per fault, 38% contended).
void release_batch(CpuFrames& c) {
    const uint32_t n = c.dirty_count;
    if (n == 0) return;
    PerCpu& me = this_cpu();
    me.ucall.cmd = GMM_UCALL_FREE_FRAMES;
    me.ucall.cpu = me.cpu_index;
    me.ucall.args[0] = kernel_gpa(c.dirty);
    me.ucall.args[1] = n;
    const uint64_t gpa = kernel_gpa(&me.ucall);
    asm volatile("outb %%al, %%dx" ::"D"(gpa), "d"(uint16_t(GMM_UCALL_PORT)), "a"(0) : "memory");
    ++c.free_frames_calls;
    c.frames_released += n;
    // One pass per frame that stays on this CPU (every loop iteration is
    // emulated ring 0); the overflow's metadata is set before the lock.
    uint32_t i = 0, clean = c.clean_count;
    for (; i < n && clean < kCleanCacheFrames; ++i) {
        set_meta(c.dirty[i], GMM_FRAME_FREE_ZERO, 0);
        c.clean[clean++] = c.dirty[i];
    }
    c.clean_count = clean;
    if (i < n) {
        for (uint32_t j = i; j < n; ++j) set_meta(c.dirty[j], GMM_FRAME_FREE_ZERO, 0);
        PoolGuard g;
        uint64_t count = g_pool_count;
        GMM_ASSERT_LE(count + (n - i), g_pool_capacity);
        for (; i < n; ++i) g_pool[count++] = c.dirty[i];
        __atomic_store_n(&g_pool_count, count, __ATOMIC_RELAXED);  // read unlocked by frame_try_alloc_zeroed
    }
    c.dirty_count = 0;
}

// Moves up to kPoolRefillFrames clean frames from the shared pool into this
// CPU's (empty) clean cache under one lock acquisition.
constexpr uint32_t kPoolRefillFrames = kCleanCacheFrames / 2;
void refill_from_pool(CpuFrames& c) {
    PoolGuard g;
    uint64_t count = g_pool_count;
    const uint32_t take = count < kPoolRefillFrames ? uint32_t(count) : kPoolRefillFrames;
    uint32_t clean = c.clean_count;
    for (uint32_t k = 0; k < take; ++k) c.clean[clean++] = g_pool[--count];
    c.clean_count = clean;
    __atomic_store_n(&g_pool_count, count, __ATOMIC_RELAXED);
}

}  // namespace

void frame_alloc_init(Gpa free_start, Gpa free_end) {
    uint64_t start = align_up_or_zero(free_start.value(), kPageSize);
    g_end_gpa = free_end.align_down(kPageSize).value();
    GMM_ASSERT(start != 0 && start < g_end_gpa);
    const uint64_t frames = g_end_gpa >> 12;
    // Metadata for every low-RAM frame, then the shared pool: both fresh zero RAM.
    g_meta_gpa = start;
    g_meta_count = frames;
    g_meta = direct_map<gmm_frame_meta>(Gpa(start));
    start += align_up_or_zero(frames * sizeof(gmm_frame_meta), kPageSize);
    g_pool = direct_map<uint64_t>(Gpa(start));
    g_pool_capacity = frames;
    start += align_up_or_zero(frames * sizeof(uint64_t), kPageSize);
    GMM_ASSERT(start < g_end_gpa);
    g_first_managed = start;
    g_next_gpa = start;
}

bool frame_try_alloc_zeroed(Gpa& out) {
    CpuFrames& c = g_cpu_frames[this_cpu().cpu_index];
    uint64_t gpa = 0;
    if (c.clean_count > 0) {
        gpa = c.clean[--c.clean_count];
        ++c.recycled_allocs;
    } else if (__atomic_load_n(&g_next_gpa, __ATOMIC_RELAXED) < g_end_gpa &&
               (gpa = mm::rmw_fetch_add(&g_next_gpa, kPageSize, __ATOMIC_RELAXED)) + kPageSize <= g_end_gpa) {
        // fresh frame
    } else {  // the clean cache is empty: refill it from the pool, else from this CPU's own frees
        // (an empty pool is not worth a lock acquisition; a racing free only defers to the dirty batch)
        if (__atomic_load_n(&g_pool_count, __ATOMIC_RELAXED) != 0) refill_from_pool(c);
        if (c.clean_count == 0) release_batch(c);
        if (c.clean_count == 0) return false;
        gpa = c.clean[--c.clean_count];
        ++c.recycled_allocs;
    }
    set_meta(gpa, GMM_FRAME_ALLOCATED, 1);
    out = Gpa(gpa);
    return true;
}

}  // namespace gmm::kernel

namespace gmm::mm {
using namespace gmm::kernel;

// Declared in guestmm/platform.h: the fault path's allocation, inline cases
// first (this CPU's clean cache, then the bump pointer); the rest as before.
AllocatedFrame guest_alloc_mapped_frame() {
    CpuFrames& c = g_cpu_frames[this_cpu_index()];
    uint64_t gpa;
    if (const uint32_t n = c.clean_count; __builtin_expect(n != 0, 1)) {
        const uint64_t* clean = c.clean;  // one address computation, not a second multiply
        gpa = clean[n - 1];
        c.clean_count = n - 1;
        ++c.recycled_allocs;
    } else if (__atomic_load_n(&g_next_gpa, __ATOMIC_RELAXED) < g_end_gpa &&
               (gpa = mm::rmw_fetch_add(&g_next_gpa, kPageSize, __ATOMIC_RELAXED)) + kPageSize <= g_end_gpa) {
        // fresh frame
    } else {
        Gpa g;
        if (!frame_try_alloc_zeroed(g)) return {0, false};
        frame_mapcount_add(g, 1);
        return {g.value(), true};
    }
    MetaWord* m = reinterpret_cast<MetaWord*>(&g_meta[gpa >> 12]);
    *m = (*m & kMetaSeqMask) + kMetaAllocatedMappedOnce;
    return {gpa, true};
}

void guest_frame_mapped(uint64_t phys, int32_t delta) { frame_mapcount_add(Gpa(phys), delta); }

}  // namespace gmm::mm

namespace gmm::kernel {

Gpa frame_alloc_zeroed() {
    Gpa g;
    GMM_ASSERT(frame_try_alloc_zeroed(g) && "out of guest frames");
    return g;
}

void frame_free(Gpa frame) {
    const uint64_t gpa = frame.value();
    GMM_ASSERT(gpa >= g_first_managed && gpa < g_end_gpa && (gpa & (kPageSize - 1)) == 0);
    GMM_ASSERT_EQ(g_meta[gpa >> 12].state, GMM_FRAME_ALLOCATED);  // catches double frees
    set_meta(gpa, GMM_FRAME_FREE_DIRTY, 0);
    CpuFrames& c = g_cpu_frames[this_cpu().cpu_index];
    c.dirty[c.dirty_count++] = gpa;
    if (c.dirty_count == kReleaseBatchFrames) release_batch(c);
}

void frame_set_flags(Gpa frame, uint8_t flags) { g_meta[frame.value() >> 12].flags = flags; }

void frame_mark_dirty(Gpa frame) {
    mm::rmw_fetch_or(&g_meta[frame.value() >> 12].flags, uint8_t(GMM_FRAME_F_DIRTY), __ATOMIC_RELAXED);
}

bool frame_take_dirty(Gpa frame) {
    uint8_t& flags = g_meta[frame.value() >> 12].flags;
    if (!(__atomic_load_n(&flags, __ATOMIC_RELAXED) & GMM_FRAME_F_DIRTY)) return false;
    return mm::rmw_fetch_and(&flags, uint8_t(~GMM_FRAME_F_DIRTY), __ATOMIC_ACQ_REL) & GMM_FRAME_F_DIRTY;
}

void frame_mapcount_add(Gpa frame, int32_t delta) {
    const uint64_t i = frame.value() >> 12;
    if (i < g_meta_count) __atomic_fetch_add(&g_meta[i].mapcount, uint16_t(delta), __ATOMIC_RELAXED);
}

uint64_t frame_pool_lock_gva() { return reinterpret_cast<uint64_t>(&g_pool_lock); }

void frame_flush_dirty() { release_batch(g_cpu_frames[this_cpu().cpu_index]); }

FrameStats frame_stats() {
    FrameStats s{g_meta_gpa, g_meta_count, g_first_managed, 0, 0, 0};
    for (const CpuFrames& c : g_cpu_frames) {
        s.recycled_allocs += c.recycled_allocs;
        s.free_frames_calls += c.free_frames_calls;
        s.frames_released += c.frames_released;
    }
    return s;
}

}  // namespace gmm::kernel
