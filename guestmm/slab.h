// Fixed-size object allocator over platform frames (no heap in the core).
// Each CPU keeps a small locked magazine so hot writers (extent nodes per
// window) rarely touch the shared pool. Frames are returned to the platform
// only by destroy(), which must run with no concurrent users.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lock.h"
#include "percpu.h"
#include "platform.h"

namespace gmm::mm {

class Slab {
public:
    explicit Slab(uint32_t object_bytes);
    // Returns zeroed memory of object_bytes, or nullptr when out of frames.
    void* alloc(Platform& p);
    void free(Platform& p, void* obj);
    void destroy(Platform& p);

    uint32_t object_bytes() const { return object_bytes_; }
    const void* pool_lock_address() const { return &pool_lock_; }
    uint64_t frames() const { return __atomic_load_n(&frames_, __ATOMIC_RELAXED); }
    // Objects handed out and not yet freed (exact only when quiescent).
    int64_t in_use() const;

private:
    static constexpr uint32_t kMagazine = 160;  // > one 128 MiB leaf map (64 windows) in flight
    struct FreeObj {
        FreeObj* next;
    };
    struct Magazine {
        TicketLock lock{LockClass::SlabCache};
        uint32_t count = 0;
        int64_t in_use = 0;  // allocs minus frees through this CPU
        void* objs[kMagazine];
    };
    bool refill(Platform& p, Magazine& m);
    void drain(Platform& p, Magazine& m, uint32_t keep);

    uint32_t object_bytes_;
    TicketLock pool_lock_{LockClass::Slab};
    FreeObj* pool_ = nullptr;
    uint64_t frame_list_ = 0;  // phys of first slab frame; each frame's last 8 bytes link the next
    uint64_t frames_ = 0;
    PerCpu<Magazine> mags_;
};

// Nodes set aside by one operation for later steps that must not fail (e.g.
// unmap hands removed extent nodes to the free-range tree). Same slab only.
class NodeStash {
public:
    void push(void* n) {
        *static_cast<void**>(n) = head_;
        head_ = n;
    }
    void* pop() {
        void* n = head_;
        if (n) head_ = *static_cast<void**>(n);
        return n;
    }
    void release_all(Platform& p, Slab& slab) {
        while (void* n = pop()) slab.free(p, n);
    }

private:
    void* head_ = nullptr;
};

}  // namespace gmm::mm
