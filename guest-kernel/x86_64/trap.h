// Interrupt and exception entry: vectors the kernel uses and the frame the
// common entry path (trap_entry.cpp) builds on the stack.
#pragma once

#include <stdint.h>

namespace gmm::kernel::x86 {

// One IDT stub per vector in [0, kIdtVectors); vectors above are outside the
// IDT limit and raise #GP (reported with the vector in the error code).
constexpr uint32_t kIdtVectors = 64;

enum class Vector : uint8_t {
    DivideError = 0,
    Nmi = 2,
    InvalidOpcode = 6,
    DoubleFault = 8,
    GeneralProtection = 13,
    PageFault = 14,
    Timer = 0x30,     // LAPIC timer
    Wakeup = 0x31,    // IPI: "look at shared state again"
    Shootdown = 0x32, // IPI: flush the user TLB ranges other CPUs posted (mm/tlb.h)
    Safepoint = 0x33, // from the host (MSI): park for the checker (mm/safepoint.h)
    Block = 0x34,     // virtio-blk completion (MSI through an irqfd; dev/virtio_blk.h)
    Spurious = 0x3f,  // APIC spurious vector (no EOI)
};

// Only the caller-saved registers are saved: the C++ dispatcher preserves the
// rest, which keeps the entry path short (every instruction is emulated).
struct TrapFrame {
    uint64_t r11, r10, r9, r8, rdi, rsi, rdx, rcx, rax;
    uint64_t vector, error_code;             // pushed by the stub (0 if none)
    uint64_t rip, cs, rflags, rsp, ss;       // pushed by the CPU
    bool from_user() const { return (cs & 3) == 3; }
};
static_assert(sizeof(TrapFrame) == 16 * 8);

// Loads the shared, compile-time-built IDT on this CPU.
void idt_load();

}  // namespace gmm::kernel::x86
