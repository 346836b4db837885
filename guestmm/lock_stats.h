// Lock statistics kept by the locks themselves (as Linux keeps lock_stat in
// its locking core), with Linux lockstat's meanings, per CPU and per
// (lock class, side): acquisitions, contentions, con_bounces, acq_bounces,
// wait and hold times in TSC cycles. The guest kernel turns them into its
// lockstat block (guest-kernel/lockstat.h, docs/lockstat.md).
//
// Where the counters live: each CPU (each host thread) names a LockStatCpu
// followed in memory by its records, indexed [2 * class + side]; null means
// "not counting" and costs one load and a branch per lock operation.
//  - guest build: a pointer at %gs:kGuestLockStatsGsOffset in the kernel's
//    per-CPU area (guest-kernel/percpu.h asserts the offset);
//  - hosted build: a thread_local pointer (set_thread_lock_stats), for tests.
// Counting costs about 52 emulated instructions per lock/unlock pair over the
// inline plain pair (BENCHMARKS.md, "lockstat overhead"); the same through
// LockHooks function pointers cost more (docs/lockstat.md).
#pragma once

#include <stdint.h>

namespace gmm::mm {

struct LockStatRecord {
    uint64_t acquisitions;   // lock taken
    uint64_t contentions;    // had to wait
    uint64_t con_bounces;    // contended, and the last acquirer was another CPU
    uint64_t acq_bounces;    // acquired, and the last acquirer was another CPU
    uint64_t waittime_min_cycles, waittime_max_cycles, waittime_total_cycles;  // contended waits
    uint64_t holdtime_min_cycles, holdtime_max_cycles, holdtime_total_cycles;  // acquired -> released
    // Private: the number of locks of this class and side this CPU holds; the
    // outermost one is timed (from acquired_tsc), locks taken inside it are
    // counted but not timed (a parent and a child PTL, say).
    uint64_t depth;
    uint64_t acquired_tsc;
    uint64_t reserved[4];  // a power-of-two stride: indexing is one shift (3 instructions fewer per lock operation)
};
static_assert(sizeof(LockStatRecord) == 128);

struct LockStatCpu {
    uint64_t contentions;     // every class: lets the owner attribute contention to a code path
    uint64_t untimed_nested;  // acquisitions inside a held lock of the same class and side
    // followed by the records: records()[2 * class + side]
    LockStatRecord* records() { return reinterpret_cast<LockStatRecord*>(this + 1); }
};
static_assert(sizeof(LockStatCpu) == 16);

constexpr uint32_t kGuestLockStatsGsOffset = 16;

#if defined(GMM_GUEST) && defined(__x86_64__)
// Not volatile: constant per CPU once the kernel set it up (before release).
inline LockStatCpu* lock_stats_this_cpu() {
    LockStatCpu* s;
    asm("mov %%gs:%c1, %0" : "=r"(s) : "i"(kGuestLockStatsGsOffset));
    return s;
}
#else
inline thread_local LockStatCpu* t_lock_stats = nullptr;
inline LockStatCpu* lock_stats_this_cpu() { return t_lock_stats; }
// Hosted: the calling thread counts into `s` (null: stops).
inline void set_thread_lock_stats(LockStatCpu* s) { t_lock_stats = s; }
#endif

// rdtsc zero-extends into RAX and RDX: three instructions for 64 bits.
inline uint64_t lock_stat_clock() {
    uint64_t v;
    asm volatile("rdtsc; shl $32, %%rdx; or %%rdx, %%rax" : "=a"(v)::"rdx");
    return v;
}

constexpr uint8_t kLockStatNoCpu = 0xff;

inline bool lock_stat_bounced(uint8_t prev_cpu, uint8_t self) {
    return prev_cpu != self && prev_cpu != kLockStatNoCpu;
}

// A min of kLockStatNoSample means "no sample yet" (the records start so, see
// lock_stats_start, which keeps the update to one compare).
constexpr uint64_t kLockStatNoSample = ~uint64_t{0};

inline void lock_stat_sample(uint64_t& min, uint64_t& max, uint64_t& total, uint64_t t) {
    total += t;
    if (t > max) max = t;
    if (t < min) min = t;
}

// Prepares `count` records (zero memory) for counting: the minima start at
// kLockStatNoSample. Call before pointing a CPU at them.
inline void lock_stats_start(LockStatCpu& s, uint32_t count) {
    for (uint32_t i = 0; i < count; ++i) {
        s.records()[i].waittime_min_cycles = kLockStatNoSample;
        s.records()[i].holdtime_min_cycles = kLockStatNoSample;
    }
}

// About to wait; returns the wait's start time.
inline uint64_t lock_stat_contended(LockStatCpu& s, uintptr_t index, uint8_t prev_cpu, uint8_t self) {
    LockStatRecord& r = s.records()[index];
    ++r.contentions;
    if (lock_stat_bounced(prev_cpu, self)) ++r.con_bounces;
    ++s.contentions;
    return lock_stat_clock();
}

// The wait that began at wait_start_tsc is over.
inline void lock_stat_waited(LockStatCpu& s, uintptr_t index, uint64_t wait_start_tsc) {
    LockStatRecord& r = s.records()[index];
    lock_stat_sample(r.waittime_min_cycles, r.waittime_max_cycles, r.waittime_total_cycles,
                     lock_stat_clock() - wait_start_tsc);
}

// Now held.
inline void lock_stat_acquired(LockStatCpu& s, uintptr_t index, uint8_t prev_cpu, uint8_t self) {
    LockStatRecord& r = s.records()[index];
    ++r.acquisitions;
    if (lock_stat_bounced(prev_cpu, self)) ++r.acq_bounces;
    if (__builtin_expect(r.depth != 0, 0)) {  // one of this class and side is held already
        ++r.depth;
        ++s.untimed_nested;
    } else {
        r.depth = 1;
        r.acquired_tsc = lock_stat_clock();
    }
}

// About to release. Counting must begin with no lock held (the guest turns it
// on at boot), so every release here follows a counted acquisition.
inline void lock_stat_release(LockStatCpu& s, uintptr_t index) {
    LockStatRecord& r = s.records()[index];
    if (__builtin_expect(--r.depth != 0, 0)) return;
    lock_stat_sample(r.holdtime_min_cycles, r.holdtime_max_cycles, r.holdtime_total_cycles,
                     lock_stat_clock() - r.acquired_tsc);
}

}  // namespace gmm::mm
