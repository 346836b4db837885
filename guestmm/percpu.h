// Per-CPU slots, one cache line each, so per-CPU counters and caches are never
// written by two CPUs through the same line. Indexed by Platform::cpu_id().
#pragma once

#include <stdint.h>

#include "atomic_rmw.h"
#include "platform.h"

namespace gmm::mm {

constexpr uint32_t kCacheLine = 64;

template <typename T>
struct alignas(kCacheLine) CacheLinePadded {
    T v{};
};

template <typename T>
class PerCpu {
public:
#if defined(GMM_GUEST)
    // The guest's CPU index comes from its own per-CPU area: always < kMaxCpus.
    T& at(uint32_t cpu) { return slots_[cpu].v; }
#else
    T& at(uint32_t cpu) { return slots_[cpu % kMaxCpus].v; }
#endif
    const T& at(uint32_t cpu) const { return slots_[cpu % kMaxCpus].v; }

private:
    CacheLinePadded<T> slots_[kMaxCpus];
};

// Event counters of one address space, kept per CPU and summed on read.
// Callers pass their own CPU. Guest build: one plain `add` to memory (a
// single instruction cannot be torn by an interrupt on this CPU, and no other
// CPU writes the slot), no locked RMW. Hosted build: relaxed atomic adds, as
// a slot is shared when two threads report the same CPU.
enum class Counter : uint8_t {
    Faults,               // fault() calls
    FaultsInstalled,      // PTEs installed by faults
    FaultsSegv,
    FaultsNeedIo,         // faults that returned NeedsIo (each sleep, including retries)
    FaultRetries,         // complete_fault() found the page not resident and asked for I/O again
    RevalidationFailures, // complete_fault() found the extent changed (unmapped, remapped, protected)
    CowCopies,
    Pushdowns,            // hier: an upper-level extent moved down into a new child table
    TlbFlushRequests,
    FramesAllocated,      // data frames (anonymous/COW) allocated
    FramesFreed,
    PageTablePages,       // page-table pages allocated (net of frees)
    Count
};
const char* counter_name(Counter c);

class Counters {
public:
    void add(uint32_t cpu, Counter c, int64_t n = 1) {
#if defined(GMM_GUEST) && defined(__x86_64__)
        asm volatile("addq %1, %0" : "+m"(per_cpu_.at(cpu).v[uint32_t(c)]) : "er"(n) : "cc");
#else
        rmw_fetch_add(&per_cpu_.at(cpu).v[uint32_t(c)], n, __ATOMIC_RELAXED);
#endif
    }
    int64_t sum(Counter c) const {
        int64_t total = 0;
        for (uint32_t i = 0; i < kMaxCpus; ++i)
            total += __atomic_load_n(&per_cpu_.at(i).v[uint32_t(c)], __ATOMIC_RELAXED);
        return total;
    }

private:
    struct Slot {
        int64_t v[uint32_t(Counter::Count)];
    };
    PerCpu<Slot> per_cpu_;
};

}  // namespace gmm::mm
