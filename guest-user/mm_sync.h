// A sense-reversing barrier whose waiters sleep in the kernel (WAIT/WAKE).
#pragma once

#include <stdint.h>

#include "syscall.h"

namespace gmm::user {

struct Barrier {
    uint32_t arrived;
    uint32_t generation;
};

inline void barrier_wait(Barrier& b, uint32_t parties) {
    const uint32_t gen = __atomic_load_n(&b.generation, __ATOMIC_ACQUIRE);
    if (__atomic_add_fetch(&b.arrived, 1, __ATOMIC_ACQ_REL) == parties) {
        __atomic_store_n(&b.arrived, 0u, __ATOMIC_RELAXED);
        __atomic_add_fetch(&b.generation, 1, __ATOMIC_RELEASE);
        sys_wake(&b.generation, ~0ull);
        return;
    }
    while (__atomic_load_n(&b.generation, __ATOMIC_ACQUIRE) == gen) sys_wait(&b.generation, gen);
}

}  // namespace gmm::user
