// The one interface between the memory-manager core and its environment.
// The guest kernel and the hosted build (host/host_platform.h) each implement it.
// Virtual but never pure and with no virtual destructor, so the freestanding
// build needs neither __cxa_pure_virtual nor operator delete.
#pragma once

#include <stdint.h>

#include "gmm/addr.h"

namespace gmm::mm {

constexpr uint32_t kMaxCpus = 64;  // per-CPU arrays are sized by this

class Platform {
public:
    // Allocates one 4 KiB frame whose contents are all zero (anonymous pages and
    // page-table pages rely on it; the guest gets such frames cheaply from the VMM).
    // Returns false when out of frames. `phys` is the frame's physical address:
    // 4 KiB aligned, below 2^52 (it goes into bits 12-51 of a PTE).
    virtual bool alloc_zeroed_frame(uint64_t* phys) { (void)phys; return false; }
    // Returns a frame; its contents may be dirty (the platform re-zeroes it).
    virtual void free_frame(uint64_t phys) { (void)phys; }
    // Where the core can read/write a frame (page-table pages, page copies).
    virtual void* phys_to_virt(uint64_t phys) { (void)phys; return nullptr; }

    // Frame bookkeeping for the host-side checker (I4): what an allocated
    // frame is used for, and how many user PTEs (present or PROT_NONE-parked)
    // reference it. Called under the PTL of the table that changed.
    enum class FrameRole : uint8_t { Data, PageTable, MmMetadata };
    virtual void set_frame_role(uint64_t phys, FrameRole role) { (void)phys; (void)role; }
    virtual void frame_mapped(uint64_t phys, int32_t delta) { (void)phys; (void)delta; }
    // A PTE mapping a frame it does not own (a file page of a shared mapping)
    // was removed or parked with its Dirty bit set: the page needs writeback
    // (Linux's set_page_dirty in zap_pte_range). Under the PTL.
    virtual void frame_dirtied(uint64_t phys) { (void)phys; }

    // Asks that stale translations of [start, end) in `as` be flushed on every CPU
    // before this call returns (frames are freed right after).
    virtual void flush_tlb(const void* as, Gva start, Gva end) { (void)as; (void)start; (void)end; }

    // Current CPU (or host thread slot), < kMaxCpus. Only used to pick per-CPU
    // caches and counters; correctness never depends on it (caches are locked).
    virtual uint32_t cpu_id() { return 0; }
    virtual uint64_t now_ns() { return 0; }

    // Wait strategy for locks. The core spins `spin_iterations()` times and then
    // calls wait_on(): block until *word may differ from `expected` (spurious
    // returns allowed). wake_all() wakes every waiter on `word`. The guest
    // blocks in HLT (spinning in ring 0 delays interrupts there); the hosted
    // build uses futexes.
    virtual uint32_t spin_iterations() { return 0; }
    virtual void wait_on(const uint32_t* word, uint32_t expected) { (void)word; (void)expected; }
    virtual void wake_all(const uint32_t* word) { (void)word; }

protected:
    ~Platform() = default;
};

// The current CPU on hot paths. The guest build reads the kernel's per-CPU
// area directly (%gs:kGuestCpuIndexGsOffset, asserted in guest-kernel/percpu.h):
// one instruction instead of a virtual call, which matters when every guest
// ring-0 instruction is emulated. Elsewhere it is Platform::cpu_id().
constexpr uint32_t kGuestCpuIndexGsOffset = 24;
#if defined(GMM_GUEST) && defined(__x86_64__)
inline uint32_t current_cpu(Platform&) {
    uint32_t cpu;
    asm("movl %%gs:%c1, %0" : "=r"(cpu) : "i"(kGuestCpuIndexGsOffset));
    return cpu;
}
inline uint8_t current_cpu_u8(Platform&) {
    uint8_t cpu;
    asm("movb %%gs:%c1, %0" : "=q"(cpu) : "i"(kGuestCpuIndexGsOffset));
    return cpu;
}
#else
inline uint32_t current_cpu(Platform& p) { return p.cpu_id(); }
inline uint8_t current_cpu_u8(Platform& p) { return uint8_t(p.cpu_id()); }
#endif

// Hot-path frame operations. The guest build calls the kernel's allocator
// directly (guest-kernel/frame_alloc.cpp defines these; the guest has one
// Platform, GuestPlatform, whose virtual functions do the same): no virtual
// dispatch and no wrapper layers on every fault. Elsewhere: the virtuals.
struct AllocatedFrame {  // 16 bytes: returned in two registers
    uint64_t phys;
    bool ok;  // false: out of frames
};
#if defined(GMM_GUEST)
// A zero frame whose mapcount is already 1 (one PTE is about to refer to it).
AllocatedFrame guest_alloc_mapped_frame();
void guest_frame_mapped(uint64_t phys, int32_t delta);
#endif
inline AllocatedFrame alloc_mapped_frame(Platform& p) {
#if defined(GMM_GUEST)
    (void)p;
    return guest_alloc_mapped_frame();
#else
    AllocatedFrame f{0, false};
    f.ok = p.alloc_zeroed_frame(&f.phys);
    if (f.ok) p.frame_mapped(f.phys, 1);
    return f;
#endif
}
inline void frame_mapped(Platform& p, uint64_t phys, int32_t delta) {
#if defined(GMM_GUEST)
    (void)p;
    guest_frame_mapped(phys, delta);
#else
    p.frame_mapped(phys, delta);
#endif
}

}  // namespace gmm::mm
