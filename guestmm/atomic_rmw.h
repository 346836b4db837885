// Every atomic read-modify-write of guestmm (and of the guest kernel's memory
// paths) goes through these wrappers, so the guest can count them per CPU:
// lockstat reports the atomic RMWs executed while handling page faults, the
// figure the extents design is meant to lower (docs/lockstat.md).
//
// Guest build: one `incq %gs:kGuestRmwCountGsOffset` next to the locked
// instruction (one emulated instruction; the counter lives in the guest
// kernel's per-CPU area, its own cache line, never written by another CPU).
// Hosted build: nothing is counted.
#pragma once

#include <stdint.h>

namespace gmm::mm {

// The guest kernel's per-CPU area (found through GS) keeps the count at this
// offset; guest-kernel/percpu.h static_asserts it.
constexpr uint32_t kGuestRmwCountGsOffset = 8;

inline void note_atomic_rmw() {
#if defined(GMM_GUEST) && defined(__x86_64__)
    asm volatile("incq %%gs:%c0" ::"i"(kGuestRmwCountGsOffset) : "cc");
#endif
}

template <typename T, typename V>
inline T rmw_fetch_add(T* p, V v, int order) {
    note_atomic_rmw();
    return __atomic_fetch_add(p, v, order);
}
template <typename T, typename V>
inline T rmw_fetch_sub(T* p, V v, int order) {
    note_atomic_rmw();
    return __atomic_fetch_sub(p, v, order);
}
template <typename T, typename V>
inline T rmw_add_fetch(T* p, V v, int order) {
    note_atomic_rmw();
    return __atomic_add_fetch(p, v, order);
}
template <typename T, typename V>
inline T rmw_sub_fetch(T* p, V v, int order) {
    note_atomic_rmw();
    return __atomic_sub_fetch(p, v, order);
}
template <typename T, typename V>
inline T rmw_fetch_or(T* p, V v, int order) {
    note_atomic_rmw();
    return __atomic_fetch_or(p, v, order);
}
template <typename T, typename V>
inline T rmw_fetch_and(T* p, V v, int order) {
    note_atomic_rmw();
    return __atomic_fetch_and(p, v, order);
}
template <typename T, typename V>
inline T rmw_exchange(T* p, V v, int order) {
    note_atomic_rmw();
    return __atomic_exchange_n(p, v, order);
}
// One locked cmpxchg (count each attempt of a retry loop).
template <typename T>
inline bool rmw_compare_exchange(T* p, T* expected, T desired, bool weak, int success, int failure) {
    note_atomic_rmw();
    return __atomic_compare_exchange_n(p, expected, desired, weak, success, failure);
}

}  // namespace gmm::mm
