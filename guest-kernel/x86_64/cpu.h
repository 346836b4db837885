// Thin x86-64 instruction wrappers. Every one of these is an emulated
// instruction on hosts that emulate ring 0 (~1-3 us each): callers count them.
#pragma once

#include <stdint.h>

namespace gmm::kernel::x86 {

enum class Msr : uint32_t {
    FsBase = 0xc0000100,
    GsBase = 0xc0000101,
    KernelGsBase = 0xc0000102,
};

inline uint64_t rdmsr(uint32_t msr) {
    uint32_t lo, hi;
    asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return (uint64_t(hi) << 32) | lo;
}
inline void wrmsr(uint32_t msr, uint64_t value) {
    asm volatile("wrmsr" ::"c"(msr), "a"(uint32_t(value)), "d"(uint32_t(value >> 32)) : "memory");
}
inline void wrmsr(Msr msr, uint64_t value) { wrmsr(static_cast<uint32_t>(msr), value); }

inline uint64_t rdtsc() {
    uint32_t lo, hi;
    asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t(hi) << 32) | lo;
}

inline void outb(uint16_t port, uint8_t value) { asm volatile("outb %0, %1" ::"a"(value), "Nd"(port) : "memory"); }

inline uint64_t read_cr2() {
    uint64_t v;
    asm volatile("mov %%cr2, %0" : "=r"(v));
    return v;
}
inline uint64_t read_cr3() {
    uint64_t v;
    asm volatile("mov %%cr3, %0" : "=r"(v));
    return v;
}

inline void cli() { asm volatile("cli" ::: "memory"); }

// Sleeps until an interrupt: STI's one-instruction shadow makes `sti; hlt`
// atomic, so a wakeup that arrives after the caller checked its condition
// (with IF=0) still ends the HLT. Returns with IF=0 again.
inline void sti_hlt_cli() { asm volatile("sti; hlt; cli" ::: "memory"); }

// Orders earlier stores before an x2APIC ICR write (WRMSR to x2APIC MSRs is
// not serializing on hardware).
inline void store_fence() { asm volatile("mfence" ::: "memory"); }

[[noreturn]] inline void halt_forever() {
    for (;;) asm volatile("cli; hlt" ::: "memory");
}

}  // namespace gmm::kernel::x86
