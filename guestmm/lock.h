// Locks of the memory-manager core: a fair ticket lock (the PTL and the short
// allocator locks) and a task-fair reader-writer lock (the global policy's mm
// lock). The platform supplies the wait strategy (see Platform::wait_on), so the
// guest can block in HLT instead of spinning in ring 0.
//
// Every lock carries a lock class. Lock statistics (lock_stats.h) are counted
// by the locks themselves when the CPU has a LockStatCpu; optional hooks
// (acquire / contended / acquired / release) let observers plug in (tests,
// the guest's PTL tracking). With neither, the cost is two loads and two
// predictable branches per lock operation.
#pragma once

#include <stdint.h>

#include "atomic_rmw.h"
#include "lock_stats.h"
#include "platform.h"

namespace gmm::mm {

enum class LockClass : uint8_t {
    PtLock,       // page-table page lock (PTL): PTEs, child links, extents of the window
    MmLock,       // the global policy's reader-writer mm lock (side says read/write)
    FreeSpace,    // free-range tree and busy writer ranges
    FreeCache,    // one CPU's cached free chunk
    Slab,         // shared pool of a slab allocator
    SlabCache,    // one CPU's slab magazine
    DeferredFree, // list of page-table pages awaiting reclamation
    Count         // users (the guest kernel) number their own classes from here
};
// guestmm's classes; "?" for values >= Count (their owner names them).
// constexpr so the guest kernel builds its lockstat class table at compile time.
constexpr const char* lock_class_name(LockClass c) {
    switch (c) {
    case LockClass::PtLock: return "pt_lock";
    case LockClass::MmLock: return "mm_lock";
    case LockClass::FreeSpace: return "free_space";
    case LockClass::FreeCache: return "free_cache";
    case LockClass::Slab: return "slab";
    case LockClass::SlabCache: return "slab_cache";
    case LockClass::DeferredFree: return "deferred_free";
    case LockClass::Count: break;
    }
    return "?";
}
// Classes of RwLocks (lock statistics count the read and write sides apart).
constexpr bool lock_class_is_rw(LockClass c) { return c == LockClass::MmLock; }

// Side 0 = write / exclusive, side 1 = read (lock statistics record index
// 2 * class + side).
enum class LockSide : uint8_t { Exclusive, Shared };

struct LockHooks {
    void (*acquire)(LockClass, LockSide, const void* lock);
    void (*contended)(LockClass, LockSide, const void* lock);
    void (*acquired)(LockClass, LockSide, const void* lock);
    void (*release)(LockClass, LockSide, const void* lock);
};
// Installs (or with nullptr removes) the process-wide hooks. Install before
// address spaces are used; the table must outlive every lock operation.
void set_lock_hooks(const LockHooks* hooks);
const LockHooks* lock_hooks();
namespace detail {
extern const LockHooks* g_lock_hooks;  // read (relaxed) on every lock operation's fast-path test
}
// Whether this lock operation must take the observed path (statistics on this
// CPU, or hooks installed). One test on the fast path when neither is.
inline bool lock_observed(LockStatCpu* stats) {
    return __builtin_expect((reinterpret_cast<uintptr_t>(stats) |
                             reinterpret_cast<uintptr_t>(__atomic_load_n(&detail::g_lock_hooks, __ATOMIC_RELAXED))) != 0,
                            0);
}

// FIFO ticket lock: word = next ticket (high 16 bits) | owner (low 16 bits).
// lock()/unlock() pick, at the call site, the plain path (the code with
// nothing counted) or the counting path, so counting costs one load and a
// branch when off and stays out of the plain path's registers when on.
class TicketLock {
public:
    // constexpr: the guest kernel has no static constructors (constinit locks).
    constexpr explicit TicketLock(LockClass cls = LockClass::PtLock) : cls_(cls) {}
    // The unobserved, uncontended case is inline (about 8 instructions each
    // way, see the fault-path budget in BENCHMARKS.md); everything else
    // (statistics, hooks, waiting) is out of line.
    void lock(Platform& p) { (void)lock_noting_observed(p); }
    void unlock(Platform& p) {
        unlock_observed_as(p, lock_observed(lock_stats_this_cpu()));
    }
    // For LockGuard: whether lock() took the observed path, so the unlock
    // need not test again (statistics and hooks are set up before any lock
    // is held, so the answer cannot change in between).
    __attribute__((always_inline)) bool lock_noting_observed(Platform& p) {
        LockStatCpu* s = lock_stats_this_cpu();
        if (lock_observed(s)) {  // (the hooks are loaded again here: keeping them live costs the plain path a move)
            if (__builtin_expect(__atomic_load_n(&detail::g_lock_hooks, __ATOMIC_RELAXED) == nullptr, 1))
                lock_counted(p, s);  // statistics, no hooks: s != null
            else if (s) lock_counted_hooked(p, s);
            else lock_as(p, LockSide::Exclusive);
            return true;
        }
        const uint32_t old = rmw_fetch_add(&word_, 1u << 16, __ATOMIC_SEQ_CST);
        if (__builtin_expect(uint16_t(old) != uint16_t(old >> 16), 0)) wait_for_ticket(p, old >> 16);
        __atomic_store_n(&last_cpu_, current_cpu_u8(p), __ATOMIC_RELAXED);
        return false;
    }
    __attribute__((always_inline)) void unlock_observed_as(Platform& p, bool observed) {
        if (__builtin_expect(observed, 0)) {
            LockStatCpu* s = lock_stats_this_cpu();
            if (__builtin_expect(__atomic_load_n(&detail::g_lock_hooks, __ATOMIC_RELAXED) == nullptr, 1)) {
                unlock_counted(p, s);
                return;
            }
            if (s) unlock_counted_hooked(p, s);
            else unlock_as(p, LockSide::Exclusive);
            return;
        }
        unlock_raw(p);
    }
    bool is_locked() const;
    LockClass lock_class() const { return cls_; }
    // The CPU that acquired the lock last (kNoCpu before the first
    // acquisition): the owner while is_locked(), for the checker (I8), and
    // the "previous owner" of lockstat's bounce counts. Hooks and statistics
    // run before it is updated, so they still see the previous acquirer.
    static constexpr uint8_t kNoCpu = 0xff;
    uint8_t last_cpu() const { return __atomic_load_n(&last_cpu_, __ATOMIC_RELAXED); }

    // For RwLock, which reports its own class and side.
    void lock_raw(Platform& p);
    void unlock_raw(Platform& p) {
        release_owner();
        if (__atomic_load_n(&waiters_, __ATOMIC_SEQ_CST) != 0) p.wake_all(&word_);
    }

private:
    friend struct AbiLayout;
    friend class RwLock;
    // Moves the owner half on (modulo 2^16, never carrying into the ticket
    // half) with a full barrier: the waiter check after it must not pass it.
    void release_owner() {
#if defined(GMM_GUEST) && defined(__x86_64__)
        // Only the holder writes the owner half (the low 16 bits on x86), so
        // one locked 16-bit add is the whole release (like Linux's ticket
        // spinlocks); the lock prefix orders the waiters_ load after it.
        note_atomic_rmw();
        asm volatile("lock addw $1, (%0)" ::"r"(&word_) : "memory", "cc");
#else
        uint32_t w = __atomic_load_n(&word_, __ATOMIC_RELAXED);
        while (!rmw_compare_exchange(&word_, &w, (w & 0xffff0000u) | ((w + 1) & 0xffffu), true, __ATOMIC_SEQ_CST,
                                     __ATOMIC_RELAXED)) {
        }
#endif
    }
    void lock_as(Platform& p, LockSide side);
    void unlock_as(Platform& p, LockSide side);
    // Counting versions (always the exclusive side: RwLock has its own).
    // With statistics and no hooks (the usual counting case) these are lean
    // leaf functions (no hook tests, no callee-saved registers): the call
    // costs a few instructions and the plain path inline stays as it was. A
    // contended acquisition counts out of line (lock_counted_contended).
    void lock_counted(Platform& p, LockStatCpu* stats);
    void unlock_counted(Platform& p, LockStatCpu* stats);
    void lock_counted_contended(Platform& p, LockStatCpu* stats, uint32_t ticket);
    void note_counted_acquisition(Platform& p, LockStatCpu* stats);
    void lock_counted_hooked(Platform& p, LockStatCpu* stats);
    void unlock_counted_hooked(Platform& p, LockStatCpu* stats);
    template <bool kCounted>
    void lock_impl(Platform& p, LockSide side, LockStatCpu* stats);
    // Takes a ticket and waits for it; if it must wait, first calls the
    // contended hook and (kCounted) counts the contention for (cls, side),
    // and the wait time after it if the wait ends with the ticket.
    enum class WaitEnds { WithTicket, Later };
    struct TicketWait {
        bool waited;
        uint64_t start_tsc;  // when counting
    };
    template <bool kCounted>
    TicketWait take_ticket(Platform& p, LockClass cls, LockSide side, const void* who, LockStatCpu* stats,
                           WaitEnds ends);
    template <bool kCounted>
    TicketWait wait_contended(Platform& p, LockClass cls, LockSide side, const void* who, LockStatCpu* stats,
                              WaitEnds ends, uint32_t ticket);
    void wait_for_ticket(Platform& p, uint32_t ticket);
    uint32_t word_ = 0;
    uint32_t waiters_ = 0;
    LockClass cls_;
    uint8_t last_cpu_ = kNoCpu;  // in the padding: sizeof stays 12 (ABI: gmm_ticket_lock)
};

// Task-fair reader-writer lock: everyone queues on a ticket gate in arrival
// order; readers leave the gate at once (so consecutive readers share), a
// writer keeps it and waits for the readers inside to drain.
class RwLock {
public:
    constexpr explicit RwLock(LockClass cls = LockClass::MmLock) : cls_(cls) {}
    void lock_shared(Platform& p) {
        if (LockStatCpu* s = lock_stats_this_cpu(); __builtin_expect(s != nullptr, 0)) lock_shared_counted(p, s);
        else lock_shared_plain(p);
    }
    void unlock_shared(Platform& p) {
        if (LockStatCpu* s = lock_stats_this_cpu(); __builtin_expect(s != nullptr, 0)) unlock_shared_counted(p, s);
        else unlock_shared_plain(p);
    }
    void lock(Platform& p) {
        if (LockStatCpu* s = lock_stats_this_cpu(); __builtin_expect(s != nullptr, 0)) lock_counted(p, s);
        else lock_plain(p);
    }
    void unlock(Platform& p) {
        if (LockStatCpu* s = lock_stats_this_cpu(); __builtin_expect(s != nullptr, 0)) unlock_counted(p, s);
        else unlock_plain(p);
    }
    bool is_locked() const;

private:
    friend struct AbiLayout;
    void lock_shared_plain(Platform& p);
    void lock_shared_counted(Platform& p, LockStatCpu* stats);
    void unlock_shared_plain(Platform& p);
    void unlock_shared_counted(Platform& p, LockStatCpu* stats);
    void lock_plain(Platform& p);
    void lock_counted(Platform& p, LockStatCpu* stats);
    void unlock_plain(Platform& p);
    void unlock_counted(Platform& p, LockStatCpu* stats);
    template <bool kCounted>
    void lock_shared_impl(Platform& p, LockStatCpu* stats);
    template <bool kCounted>
    void lock_impl(Platform& p, LockStatCpu* stats);
    TicketLock gate_;
    uint32_t readers_ = 0;
    uint32_t writer_waiting_ = 0;
    LockClass cls_;
};

template <typename L>
class LockGuard {
public:
    LockGuard(L& l, Platform& p) : l_(l), p_(p) { l_.lock(p_); }
    ~LockGuard() { l_.unlock(p_); }
    LockGuard(const LockGuard&) = delete;
    LockGuard& operator=(const LockGuard&) = delete;

private:
    L& l_;
    Platform& p_;
};

template <>
class LockGuard<TicketLock> {
public:
    LockGuard(TicketLock& l, Platform& p) : l_(l), p_(p), observed_(l.lock_noting_observed(p)) {}
    ~LockGuard() { l_.unlock_observed_as(p_, observed_); }
    LockGuard(const LockGuard&) = delete;
    LockGuard& operator=(const LockGuard&) = delete;

private:
    TicketLock& l_;
    Platform& p_;
    bool observed_;
};

inline void cpu_relax() { __builtin_ia32_pause(); }

}  // namespace gmm::mm
