// Kernel stack switching between threads (callee-saved registers only: every
// switch happens at a call boundary).
#pragma once

#include <stdint.h>

namespace gmm::kernel::x86 {

// Saves the callee-saved registers on the current stack, stores RSP to
// *save_rsp, loads next_rsp and returns into the next thread.
extern "C" void gmm_context_switch(uint64_t* save_rsp, uint64_t next_rsp);

// Prepares a fresh stack so that switching to the returned RSP enters
// gmm_thread_trampoline, which calls first(arg) with a correctly aligned stack.
uint64_t prepare_thread_stack(uint64_t stack_top, void (*first)(void*), void* arg);

// Where the CPU takes ring-3 -> ring-0 entries: TSS.RSP0 of this CPU.
void set_kernel_entry_stack(uint64_t tss_gva, uint64_t stack_top);

}  // namespace gmm::kernel::x86
