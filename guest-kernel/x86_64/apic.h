// x2APIC (MSR interface; the VMM already set EN|EXTD in IA32_APIC_BASE).
#pragma once

#include <stdint.h>

#include "trap.h"

namespace gmm::kernel::x86::apic {

// Software-enables the APIC with the spurious vector and masks LINT0/LINT1
// (an unmasked LINT0 would deliver the uninitialised PIC's interrupts). 3 WRMSRs.
void init_this_cpu();
uint32_t read_apic_id();
void eoi();
// Fixed-delivery IPI to one CPU (physical destination = APIC id = cpu index).
void send_ipi(uint32_t apic_id, Vector vector);
// One ICR write reaches every other CPU (destination shorthand).
void send_ipi_all_but_self(Vector vector);
// LAPIC timer in one-shot mode; the interrupt handler re-arms it. `count` is in
// APIC bus cycles at divide-by-1 (KVM's APIC bus runs at 1 GHz: 1 count = 1 ns).
void timer_start_oneshot(Vector vector, uint32_t count);
void timer_rearm(uint32_t count);
void timer_stop();

}  // namespace gmm::kernel::x86::apic
