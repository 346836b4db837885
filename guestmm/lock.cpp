// Ticket lock and task-fair rw lock over the platform's wait strategy.
// Lost wake-ups are excluded Dekker-style: a waiter bumps its waiter count and
// then re-reads the lock word (both seq_cst); the unlocker updates the word and
// then reads the waiter count (both seq_cst), so one of them sees the other.
#include "lock.h"

namespace gmm::mm {

namespace {
const LockHooks* g_hooks = nullptr;

inline void hook(void (*LockHooks::*fn)(LockClass, LockSide, const void*), LockClass c, LockSide s,
                 const void* l) {
    const LockHooks* h = __atomic_load_n(&g_hooks, __ATOMIC_RELAXED);
    if (__builtin_expect(h != nullptr, 0) && h->*fn) (h->*fn)(c, s, l);
}
inline uint32_t owner_of(uint32_t w) { return w & 0xffffu; }
}  // namespace

const char* lock_class_name(LockClass c) {
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

void set_lock_hooks(const LockHooks* hooks) { __atomic_store_n(&g_hooks, hooks, __ATOMIC_RELEASE); }
const LockHooks* lock_hooks() { return __atomic_load_n(&g_hooks, __ATOMIC_ACQUIRE); }

bool TicketLock::is_locked() const {
    uint32_t w = __atomic_load_n(&word_, __ATOMIC_ACQUIRE);
    return (w >> 16) != owner_of(w);
}

void TicketLock::lock_raw(Platform& p) {
    // The high half wraps out of the word harmlessly.
    uint32_t old = __atomic_fetch_add(&word_, 1u << 16, __ATOMIC_SEQ_CST);
    if (owner_of(old) != (old >> 16)) wait_for_ticket(p, old >> 16);
    __atomic_store_n(&last_cpu_, uint8_t(p.cpu_id()), __ATOMIC_RELAXED);
}

// Spins briefly, then sleeps through the platform until `ticket` is served.
void TicketLock::wait_for_ticket(Platform& p, uint32_t ticket) {
    for (uint32_t i = p.spin_iterations(); i > 0; --i) {
        if (owner_of(__atomic_load_n(&word_, __ATOMIC_ACQUIRE)) == ticket) return;
        cpu_relax();
    }
    for (;;) {
        __atomic_fetch_add(&waiters_, 1, __ATOMIC_SEQ_CST);
        uint32_t w = __atomic_load_n(&word_, __ATOMIC_SEQ_CST);
        if (owner_of(w) != ticket) p.wait_on(&word_, w);
        __atomic_fetch_sub(&waiters_, 1, __ATOMIC_RELAXED);
        if (owner_of(__atomic_load_n(&word_, __ATOMIC_ACQUIRE)) == ticket) return;
    }
}

void TicketLock::unlock_raw(Platform& p) {
    uint32_t w = __atomic_load_n(&word_, __ATOMIC_RELAXED);
    // Increment the owner half modulo 2^16 without carrying into the ticket half.
    while (!__atomic_compare_exchange_n(&word_, &w, (w & 0xffff0000u) | ((w + 1) & 0xffffu), true,
                                        __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
    }
    if (__atomic_load_n(&waiters_, __ATOMIC_SEQ_CST) != 0) p.wake_all(&word_);
}

void TicketLock::lock_as(Platform& p, LockSide side) {
    hook(&LockHooks::acquire, cls_, side, this);
    uint32_t old = __atomic_fetch_add(&word_, 1u << 16, __ATOMIC_SEQ_CST);
    if (owner_of(old) != (old >> 16)) {
        // Contended: undo nothing (tickets are FIFO); just wait for our turn.
        hook(&LockHooks::contended, cls_, side, this);
        wait_for_ticket(p, old >> 16);
    }
    hook(&LockHooks::acquired, cls_, side, this);
    __atomic_store_n(&last_cpu_, uint8_t(p.cpu_id()), __ATOMIC_RELAXED);
}

void TicketLock::unlock_as(Platform& p, LockSide side) {
    hook(&LockHooks::release, cls_, side, this);
    unlock_raw(p);
}

bool RwLock::is_locked() const {
    return gate_.is_locked() || __atomic_load_n(&readers_, __ATOMIC_ACQUIRE) != 0;
}

void RwLock::lock_shared(Platform& p) {
    hook(&LockHooks::acquire, cls_, LockSide::Shared, this);
    if (gate_.is_locked()) hook(&LockHooks::contended, cls_, LockSide::Shared, this);
    gate_.lock_raw(p);
    __atomic_fetch_add(&readers_, 1, __ATOMIC_SEQ_CST);
    gate_.unlock_raw(p);
    hook(&LockHooks::acquired, cls_, LockSide::Shared, this);
}

void RwLock::unlock_shared(Platform& p) {
    hook(&LockHooks::release, cls_, LockSide::Shared, this);
    if (__atomic_sub_fetch(&readers_, 1, __ATOMIC_SEQ_CST) == 0 &&
        __atomic_load_n(&writer_waiting_, __ATOMIC_SEQ_CST) != 0)
        p.wake_all(&readers_);
}

void RwLock::lock(Platform& p) {
    hook(&LockHooks::acquire, cls_, LockSide::Exclusive, this);
    bool contended = is_locked();
    if (contended) hook(&LockHooks::contended, cls_, LockSide::Exclusive, this);
    gate_.lock_raw(p);
    // Holding the gate, no new reader can enter; wait for those inside.
    for (uint32_t i = p.spin_iterations(); i > 0; --i) {
        if (__atomic_load_n(&readers_, __ATOMIC_ACQUIRE) == 0) goto got;
        cpu_relax();
    }
    for (;;) {
        __atomic_store_n(&writer_waiting_, 1, __ATOMIC_SEQ_CST);
        uint32_t r = __atomic_load_n(&readers_, __ATOMIC_SEQ_CST);
        if (r == 0) break;
        p.wait_on(&readers_, r);
    }
    __atomic_store_n(&writer_waiting_, 0, __ATOMIC_RELAXED);
got:
    hook(&LockHooks::acquired, cls_, LockSide::Exclusive, this);
}

void RwLock::unlock(Platform& p) {
    hook(&LockHooks::release, cls_, LockSide::Exclusive, this);
    gate_.unlock_raw(p);
}

}  // namespace gmm::mm
