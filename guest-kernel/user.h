// The user address space (one, shared by every CPU's thread, like threads of
// one process) and user threads (one per CPU, started by the workload).
//
// User layout (besides the runtime image at user_image_gva):
//   kUserDataGva              one page of per-CPU u64 counters, 64 bytes apart
//   kUserStacksGva + 8K*cpu   one 4 KiB stack page per CPU, unmapped guard below
#pragma once

#include <stdint.h>

#include "gmm/addr.h"
#include "percpu.h"
#include "user_abi.h"

namespace gmm::kernel {

constexpr uint64_t kUserDataGva = 0x10000000;  // 256 MiB: away from the image at 4 MiB
constexpr uint64_t kUserCounterStrideBytes = 64;
constexpr uint64_t kUserStacksGva = kUserDataGva + 2 * kPageSize;
constexpr uint64_t kUserStackStrideBytes = 2 * kPageSize;

// CPU 0, before the APs are released: builds the page table and maps the
// image, the data page and `cpu_count` stacks (fresh zero frames).
void user_space_build(uint32_t cpu_count);
bool user_space_ready();

Gva user_counter_gva(uint32_t cpu);
Gpa user_counter_gpa(uint32_t cpu);

// Translates [gva, gva+len) page by page (user-accessible, present) and calls
// fn(kernel_pointer, chunk_len) for each piece. False (nothing called after the
// first bad page) when any part is not mapped user memory.
bool user_range_for_each(Gva gva, uint64_t len, void (*fn)(const char*, uint64_t));

// Switches to the user address space and enters ring 3 at the runtime's entry
// with (cpu, mode, arg). When the thread calls EXIT_THREAD the kernel runs
// `on_exit(status)` on this CPU (on a fresh kernel stack; it must not return
// into user mode), then idles.
[[noreturn]] void user_thread_start(user::Mode mode, uint64_t arg, UserExitFn on_exit);

// Called by the EXIT_THREAD system call.
[[noreturn]] void user_thread_exit(uint64_t status);

}  // namespace gmm::kernel
