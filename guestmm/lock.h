// Locks of the memory-manager core: a fair ticket lock (the PTL and the short
// allocator locks) and a task-fair reader-writer lock (the global policy's mm
// lock). The platform supplies the wait strategy (see Platform::wait_on), so the
// guest can block in HLT instead of spinning in ring 0.
//
// Every lock carries a lock class; optional hooks (acquire / contended /
// acquired / release) let contention accounting plug in later. With no hooks
// installed the cost is one relaxed load and a predictable branch.
#pragma once

#include <stdint.h>

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
    Count
};
const char* lock_class_name(LockClass c);

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

// FIFO ticket lock: word = next ticket (high 16 bits) | owner (low 16 bits).
class TicketLock {
public:
    explicit TicketLock(LockClass cls = LockClass::PtLock) : cls_(cls) {}
    void lock(Platform& p) { lock_as(p, LockSide::Exclusive); }
    void unlock(Platform& p) { unlock_as(p, LockSide::Exclusive); }
    bool is_locked() const;
    LockClass lock_class() const { return cls_; }
    // The CPU that acquired the lock last (kNoCpu before the first
    // acquisition): the owner while is_locked(), for the checker (I8), and
    // the "previous owner" of lockstat's bounce counts. Hooks run before it
    // is updated, so `acquired` still sees the previous acquirer.
    static constexpr uint8_t kNoCpu = 0xff;
    uint8_t last_cpu() const { return __atomic_load_n(&last_cpu_, __ATOMIC_RELAXED); }

    // For RwLock, which reports its own class and side.
    void lock_raw(Platform& p);
    void unlock_raw(Platform& p);

private:
    friend struct AbiLayout;
    void lock_as(Platform& p, LockSide side);
    void unlock_as(Platform& p, LockSide side);
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
    explicit RwLock(LockClass cls = LockClass::MmLock) : cls_(cls) {}
    void lock_shared(Platform& p);
    void unlock_shared(Platform& p);
    void lock(Platform& p);
    void unlock(Platform& p);
    bool is_locked() const;

private:
    friend struct AbiLayout;
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

inline void cpu_relax() { __builtin_ia32_pause(); }

}  // namespace gmm::mm
