// The guest kernel's gmm::mm::Platform: zero frames from frame_alloc, TLB
// shootdowns by IPI (mm/tlb.h), and lock waits that sleep in HLT (spinning in
// emulated ring 0 delays interrupts by ~1 ms).
#pragma once

#include <stdint.h>

#include "guestmm/platform.h"
#include "guestmm/lock.h"

namespace gmm::kernel {

class GuestPlatform final : public mm::Platform {
public:
    bool alloc_zeroed_frame(uint64_t* phys) override;
    void free_frame(uint64_t phys) override;
    void* phys_to_virt(uint64_t phys) override;
    void set_frame_role(uint64_t phys, FrameRole role) override;
    void frame_mapped(uint64_t phys, int32_t delta) override;
    void frame_dirtied(uint64_t phys) override;
    void flush_tlb(const void* as, Gva start, Gva end) override;
    uint32_t cpu_id() override;
    uint64_t now_ns() override;
    uint32_t spin_iterations() override;
    void wait_on(const uint32_t* word, uint32_t expected) override;
    void wake_all(const uint32_t* word) override;
};

GuestPlatform& guest_platform();

// Lock waits that ended in HLT, per CPU (a measure of how often the short spin was not enough).
uint64_t lock_sleeps(uint32_t cpu);

}  // namespace gmm::kernel
