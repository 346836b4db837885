// TLB shootdowns for the (single, shared) user address space. CPUs that have
// loaded the user CR3 are tracked; an unmap/protect flushes locally and sends
// one IPI per other such CPU for the whole batch (one range per guestmm call),
// then waits for every acknowledgement in HLT. guestmm frees the zapped frames
// only after this returns, so a frame is reused only after all acks.
#pragma once

#include <stdint.h>

#include "gmm/addr.h"

namespace gmm::kernel {

// This CPU is about to run user code on the shared address space.
void tlb_note_user_cpu(uint32_t cpu);
void tlb_shootdown(Gva start, Gva end);
// The shootdown IPI handler.
void tlb_on_shootdown_ipi();

struct TlbStats {
    uint64_t shootdowns;  // calls that needed remote CPUs
    uint64_t ipis_sent;
    uint64_t local_flushes;
};
TlbStats tlb_stats(uint32_t cpu);

}  // namespace gmm::kernel
