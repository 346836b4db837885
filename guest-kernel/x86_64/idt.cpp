// The IDT is built at compile time: the linker script pins the stub block at
// the start of the kernel image (kIdtStubsGva) with one 16-byte stub per vector,
// so every gate is a constant and no CPU spends instructions filling a table.
#include "trap.h"

#include "gmm/abi/boot.h"

namespace gmm::kernel::x86 {

namespace {

constexpr uint64_t kIdtStubsGva = 0xffffffff80100000ull;  // == gmm_idt_stubs (kernel.ld asserts it)
constexpr uint64_t kIdtStubBytes = 16;                     // trap_entry.cpp pads each stub to this

struct IdtGate {
    uint16_t offset_lo;
    uint16_t selector;
    uint8_t ist;
    uint8_t type_attr;
    uint16_t offset_mid;
    uint32_t offset_hi;
    uint32_t reserved;
};
static_assert(sizeof(IdtGate) == 16);

struct Idt {
    IdtGate gates[kIdtVectors];
};

constexpr uint8_t kPresentInterruptGate = 0x8e;  // P=1, DPL=0, 64-bit interrupt gate (IF cleared)
constexpr uint8_t kIst1 = 1;                      // TSS.IST1 (VMM-provided per-CPU stack)

constexpr IdtGate make_gate(uint32_t vector) {
    const uint64_t handler = kIdtStubsGva + kIdtStubBytes * vector;
    // #DF and NMI run on IST1 so they work even with a broken kernel stack.
    const bool ist = vector == uint32_t(Vector::DoubleFault) || vector == uint32_t(Vector::Nmi);
    return IdtGate{uint16_t(handler), uint16_t(GMM_SEL_KERNEL_CS), uint8_t(ist ? kIst1 : 0), kPresentInterruptGate,
                   uint16_t(handler >> 16), uint32_t(handler >> 32), 0};
}

constexpr Idt make_idt() {
    Idt idt{};
    for (uint32_t v = 0; v < kIdtVectors; ++v) idt.gates[v] = make_gate(v);
    return idt;
}

alignas(16) constinit const Idt g_idt = make_idt();

struct __attribute__((packed)) IdtDescriptor {
    uint16_t limit;
    const Idt* base;
};
constinit const IdtDescriptor g_idt_descriptor = {sizeof(Idt) - 1, &g_idt};

}  // namespace

void idt_load() { asm volatile("lidt %0" ::"m"(g_idt_descriptor)); }

}  // namespace gmm::kernel::x86
