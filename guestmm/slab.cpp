#include "slab.h"

namespace gmm::mm {

namespace {
void zero(void* p, size_t n) {
    // Word stores: -mgeneral-regs-only forbids SIMD, and n is a multiple of 8.
    auto* w = static_cast<uint64_t*>(p);
    for (size_t i = 0; i < n / 8; ++i) w[i] = 0;
}
constexpr uint32_t kLinkOffset = 4096 - 8;  // frame-list link lives at the frame's end
}  // namespace

Slab::Slab(uint32_t object_bytes) : object_bytes_(object_bytes) {}

int64_t Slab::in_use() const {
    int64_t n = 0;
    for (uint32_t i = 0; i < kMaxCpus; ++i) n += __atomic_load_n(&mags_.at(i).in_use, __ATOMIC_RELAXED);
    return n;
}

bool Slab::refill(Platform& p, Magazine& m) {
    LockGuard g(pool_lock_, p);
    if (!pool_) {
        uint64_t phys = 0;
        if (!p.alloc_zeroed_frame(&phys)) return false;
        p.set_frame_role(phys, Platform::FrameRole::MmMetadata);
        auto* base = static_cast<uint8_t*>(p.phys_to_virt(phys));
        *reinterpret_cast<uint64_t*>(base + kLinkOffset) = frame_list_;
        frame_list_ = phys;
        __atomic_store_n(&frames_, frames_ + 1, __ATOMIC_RELAXED);
        for (uint32_t off = 0; off + object_bytes_ <= kLinkOffset; off += object_bytes_) {
            auto* o = reinterpret_cast<FreeObj*>(base + off);
            o->next = pool_;
            pool_ = o;
        }
    }
    while (pool_ && m.count < kMagazine / 2 + 1) {
        FreeObj* o = pool_;
        pool_ = o->next;
        m.objs[m.count++] = o;
    }
    return m.count > 0;
}

void Slab::drain(Platform& p, Magazine& m, uint32_t keep) {
    LockGuard g(pool_lock_, p);
    while (m.count > keep) {
        auto* o = static_cast<FreeObj*>(m.objs[--m.count]);
        o->next = pool_;
        pool_ = o;
    }
}

void* Slab::alloc(Platform& p) {
    Magazine& m = mags_.at(p.cpu_id());
    LockGuard g(m.lock, p);
    if (m.count == 0 && !refill(p, m)) return nullptr;
    void* o = m.objs[--m.count];
    ++m.in_use;
    zero(o, object_bytes_);
    return o;
}

void Slab::free(Platform& p, void* obj) {
    if (!obj) return;
    Magazine& m = mags_.at(p.cpu_id());
    LockGuard g(m.lock, p);
    if (m.count == kMagazine) drain(p, m, kMagazine / 2);
    m.objs[m.count++] = obj;
    --m.in_use;
}

void Slab::destroy(Platform& p) {
    uint64_t phys = frame_list_;
    while (phys) {
        auto* base = static_cast<uint8_t*>(p.phys_to_virt(phys));
        uint64_t next = *reinterpret_cast<uint64_t*>(base + kLinkOffset);
        p.free_frame(phys);
        phys = next;
    }
    frame_list_ = 0;
    frames_ = 0;
    pool_ = nullptr;
    for (uint32_t i = 0; i < kMaxCpus; ++i) {
        mags_.at(i).count = 0;
        mags_.at(i).in_use = 0;
    }
}

}  // namespace gmm::mm
