// Ticket lock and task-fair rw lock over the platform's wait strategy.
// Lost wake-ups are excluded Dekker-style: a waiter bumps its waiter count and
// then re-reads the lock word (both seq_cst); the unlocker updates the word and
// then reads the waiter count (both seq_cst), so one of them sees the other.
// Every atomic RMW goes through atomic_rmw.h (counted per CPU in the guest);
// lock statistics (lock_stats.h) are counted here when the CPU has a LockStatCpu.
#include "lock.h"

#include "atomic_rmw.h"

namespace gmm::mm {

namespace detail {
const LockHooks* g_lock_hooks = nullptr;
}

namespace {

inline void hook(void (*LockHooks::*fn)(LockClass, LockSide, const void*), LockClass c, LockSide s,
                 const void* l) {
    const LockHooks* h = __atomic_load_n(&detail::g_lock_hooks, __ATOMIC_RELAXED);
    if (__builtin_expect(h != nullptr, 0) && h->*fn) (h->*fn)(c, s, l);
}
inline uint32_t owner_of(uint32_t w) { return w & 0xffffu; }
inline uintptr_t stat_index(LockClass c, LockSide s) { return 2 * uintptr_t(c) + uintptr_t(s); }  // uintptr_t: one shift to the record
static_assert(TicketLock::kNoCpu == kLockStatNoCpu);
}  // namespace

void set_lock_hooks(const LockHooks* hooks) { __atomic_store_n(&detail::g_lock_hooks, hooks, __ATOMIC_RELEASE); }
const LockHooks* lock_hooks() { return __atomic_load_n(&detail::g_lock_hooks, __ATOMIC_ACQUIRE); }

bool TicketLock::is_locked() const {
    uint32_t w = __atomic_load_n(&word_, __ATOMIC_ACQUIRE);
    return (w >> 16) != owner_of(w);
}

void TicketLock::lock_raw(Platform& p) {
    // The high half wraps out of the word harmlessly.
    uint32_t old = rmw_fetch_add(&word_, 1u << 16, __ATOMIC_SEQ_CST);
    if (owner_of(old) != (old >> 16)) wait_for_ticket(p, old >> 16);
    __atomic_store_n(&last_cpu_, uint8_t(current_cpu(p)), __ATOMIC_RELAXED);
}

// Inlined into each lock path: an out-of-line call with seven arguments cost
// ~15 emulated instructions per acquisition.
template <bool kCounted>
__attribute__((always_inline)) inline TicketLock::TicketWait TicketLock::take_ticket(
    Platform& p, LockClass cls, LockSide side, const void* who, LockStatCpu* stats, WaitEnds ends) {
    uint32_t old = rmw_fetch_add(&word_, 1u << 16, __ATOMIC_SEQ_CST);
    if (__builtin_expect(owner_of(old) == (old >> 16), 1)) return {false, 0};
    return wait_contended<kCounted>(p, cls, side, who, stats, ends, old >> 16);
}

// Out of line: the uncontended paths then need fewer registers (and saves).
template <bool kCounted>
__attribute__((noinline)) TicketLock::TicketWait TicketLock::wait_contended(Platform& p, LockClass cls, LockSide side,
                                                                            const void* who, LockStatCpu* stats,
                                                                            WaitEnds ends, uint32_t ticket) {
    // Contended: undo nothing (tickets are FIFO); just wait for our turn.
    hook(&LockHooks::contended, cls, side, who);
    uint64_t wait_start = 0;
    if constexpr (kCounted)
        wait_start = lock_stat_contended(*stats, stat_index(cls, side), last_cpu(), uint8_t(current_cpu(p)));
    wait_for_ticket(p, ticket);
    if constexpr (kCounted)
        if (ends == WaitEnds::WithTicket) lock_stat_waited(*stats, stat_index(cls, side), wait_start);
    return {true, wait_start};
}

// Spins briefly, then sleeps through the platform until `ticket` is served.
void TicketLock::wait_for_ticket(Platform& p, uint32_t ticket) {
    for (uint32_t i = p.spin_iterations(); i > 0; --i) {
        if (owner_of(__atomic_load_n(&word_, __ATOMIC_ACQUIRE)) == ticket) return;
        cpu_relax();
    }
    for (;;) {
        rmw_fetch_add(&waiters_, 1, __ATOMIC_SEQ_CST);
        uint32_t w = __atomic_load_n(&word_, __ATOMIC_SEQ_CST);
        if (owner_of(w) != ticket) p.wait_on(&word_, w);
        rmw_fetch_sub(&waiters_, 1, __ATOMIC_RELAXED);
        if (owner_of(__atomic_load_n(&word_, __ATOMIC_ACQUIRE)) == ticket) return;
    }
}


// last_cpu_ moves on only after hooks and statistics saw the previous acquirer.
template <bool kCounted>
__attribute__((always_inline)) inline void TicketLock::lock_impl(Platform& p, LockSide side, LockStatCpu* stats) {
    hook(&LockHooks::acquire, cls_, side, this);
    take_ticket<kCounted>(p, cls_, side, this, stats, WaitEnds::WithTicket);
    hook(&LockHooks::acquired, cls_, side, this);
    const uint8_t self = uint8_t(current_cpu(p));
    if constexpr (kCounted) lock_stat_acquired(*stats, stat_index(cls_, side), last_cpu(), self);
    __atomic_store_n(&last_cpu_, self, __ATOMIC_RELAXED);
}

void TicketLock::lock_as(Platform& p, LockSide side) { lock_impl<false>(p, side, nullptr); }

void TicketLock::unlock_as(Platform& p, LockSide side) {
    hook(&LockHooks::release, cls_, side, this);
    unlock_raw(p);
}

// The ticket is ours: count the acquisition (last_cpu_ is still the
// previous acquirer, for the bounce count), then move last_cpu_ on.
__attribute__((always_inline)) inline void TicketLock::note_counted_acquisition(Platform& p, LockStatCpu* stats) {
    const uint8_t self = current_cpu_u8(p);
    lock_stat_acquired(*stats, stat_index(cls_, LockSide::Exclusive), last_cpu(), self);
    __atomic_store_n(&last_cpu_, self, __ATOMIC_RELAXED);
}

__attribute__((noinline)) void TicketLock::lock_counted(Platform& p, LockStatCpu* stats) {
    const uint32_t old = rmw_fetch_add(&word_, 1u << 16, __ATOMIC_SEQ_CST);
    if (__builtin_expect(owner_of(old) != (old >> 16), 0)) return lock_counted_contended(p, stats, old >> 16);
    note_counted_acquisition(p, stats);
}

__attribute__((noinline)) void TicketLock::unlock_counted(Platform& p, LockStatCpu* stats) {
    lock_stat_release(*stats, stat_index(cls_, LockSide::Exclusive));
    unlock_raw(p);
}

// The contended half of lock_counted: count the contention, wait, count the
// wait and the acquisition.
__attribute__((noinline)) void TicketLock::lock_counted_contended(Platform& p, LockStatCpu* stats, uint32_t ticket) {
    wait_contended<true>(p, cls_, LockSide::Exclusive, this, stats, WaitEnds::WithTicket, ticket);
    note_counted_acquisition(p, stats);
}

__attribute__((noinline)) void TicketLock::lock_counted_hooked(Platform& p, LockStatCpu* stats) {
    lock_impl<true>(p, LockSide::Exclusive, stats);
}

__attribute__((noinline)) void TicketLock::unlock_counted_hooked(Platform& p, LockStatCpu* stats) {
    hook(&LockHooks::release, cls_, LockSide::Exclusive, this);
    lock_stat_release(*stats, stat_index(cls_, LockSide::Exclusive));
    unlock_raw(p);
}

bool RwLock::is_locked() const {
    return gate_.is_locked() || __atomic_load_n(&readers_, __ATOMIC_ACQUIRE) != 0;
}

// Readers and writers both pass the gate, so the gate's last_cpu() is the
// lock's last acquirer of either side (the "previous owner" of bounces).
template <bool kCounted>
__attribute__((always_inline)) inline void RwLock::lock_shared_impl(Platform& p, LockStatCpu* stats) {
    hook(&LockHooks::acquire, cls_, LockSide::Shared, this);
    gate_.take_ticket<kCounted>(p, cls_, LockSide::Shared, this, stats, TicketLock::WaitEnds::WithTicket);
    const uint8_t self = uint8_t(current_cpu(p));
    uint8_t prev = 0;
    if constexpr (kCounted) prev = gate_.last_cpu();
    __atomic_store_n(&gate_.last_cpu_, self, __ATOMIC_RELAXED);
    rmw_fetch_add(&readers_, 1, __ATOMIC_SEQ_CST);
    gate_.unlock_raw(p);
    hook(&LockHooks::acquired, cls_, LockSide::Shared, this);
    if constexpr (kCounted) lock_stat_acquired(*stats, stat_index(cls_, LockSide::Shared), prev, self);
}

void RwLock::lock_shared_plain(Platform& p) { lock_shared_impl<false>(p, nullptr); }
void RwLock::lock_shared_counted(Platform& p, LockStatCpu* stats) { lock_shared_impl<true>(p, stats); }

void RwLock::unlock_shared_plain(Platform& p) {
    hook(&LockHooks::release, cls_, LockSide::Shared, this);
    if (rmw_sub_fetch(&readers_, 1, __ATOMIC_SEQ_CST) == 0 &&
        __atomic_load_n(&writer_waiting_, __ATOMIC_SEQ_CST) != 0)
        p.wake_all(&readers_);
}

void RwLock::unlock_shared_counted(Platform& p, LockStatCpu* stats) {
    lock_stat_release(*stats, stat_index(cls_, LockSide::Shared));
    unlock_shared_plain(p);
}

template <bool kCounted>
__attribute__((always_inline)) inline void RwLock::lock_impl(Platform& p, LockStatCpu* stats) {
    hook(&LockHooks::acquire, cls_, LockSide::Exclusive, this);
    // A writer's wait may go on for the readers inside: it ends below.
    TicketLock::TicketWait wait =
        gate_.take_ticket<kCounted>(p, cls_, LockSide::Exclusive, this, stats, TicketLock::WaitEnds::Later);
    const uint8_t self = uint8_t(current_cpu(p));
    uint8_t prev = 0;
    if constexpr (kCounted) prev = gate_.last_cpu();
    __atomic_store_n(&gate_.last_cpu_, self, __ATOMIC_RELAXED);
    // Holding the gate, no new reader can enter; wait for those inside.
    if (__atomic_load_n(&readers_, __ATOMIC_ACQUIRE) != 0) {
        if (!wait.waited) {  // did not wait at the gate: this is the contention
            hook(&LockHooks::contended, cls_, LockSide::Exclusive, this);
            wait.waited = true;
            if constexpr (kCounted)
                wait.start_tsc = lock_stat_contended(*stats, stat_index(cls_, LockSide::Exclusive), prev, self);
        }
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
    }
got:
    if constexpr (kCounted)
        if (wait.waited) lock_stat_waited(*stats, stat_index(cls_, LockSide::Exclusive), wait.start_tsc);
    hook(&LockHooks::acquired, cls_, LockSide::Exclusive, this);
    if constexpr (kCounted) lock_stat_acquired(*stats, stat_index(cls_, LockSide::Exclusive), prev, self);
}

void RwLock::lock_plain(Platform& p) { lock_impl<false>(p, nullptr); }
void RwLock::lock_counted(Platform& p, LockStatCpu* stats) { lock_impl<true>(p, stats); }

void RwLock::unlock_plain(Platform& p) {
    hook(&LockHooks::release, cls_, LockSide::Exclusive, this);
    gate_.unlock_raw(p);
}

void RwLock::unlock_counted(Platform& p, LockStatCpu* stats) {
    lock_stat_release(*stats, stat_index(cls_, LockSide::Exclusive));
    unlock_plain(p);
}

}  // namespace gmm::mm
