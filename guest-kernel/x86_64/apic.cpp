#include "apic.h"

#include "cpu.h"

namespace gmm::kernel::x86::apic {

namespace {

enum class ApicMsr : uint32_t {
    Id = 0x802,
    Eoi = 0x80b,
    Svr = 0x80f,
    Icr = 0x830,
    LvtTimer = 0x832,
    LvtLint0 = 0x835,
    LvtLint1 = 0x836,
    TimerInitialCount = 0x838,
    TimerDivide = 0x83e,
};

void write(ApicMsr msr, uint64_t value) { wrmsr(static_cast<uint32_t>(msr), value); }

constexpr uint64_t kSvrSoftwareEnable = 1u << 8;
constexpr uint64_t kLvtMasked = 1u << 16;
constexpr uint64_t kIcrShorthandAllButSelf = 3ull << 18;
constexpr uint64_t kTimerDivideBy1 = 0xb;

}  // namespace

void init_this_cpu() {
    write(ApicMsr::Svr, kSvrSoftwareEnable | uint8_t(Vector::Spurious));
    write(ApicMsr::LvtLint0, kLvtMasked);
    write(ApicMsr::LvtLint1, kLvtMasked);
}

uint32_t read_apic_id() { return uint32_t(rdmsr(static_cast<uint32_t>(ApicMsr::Id))); }

void eoi() { write(ApicMsr::Eoi, 0); }

void send_ipi(uint32_t apic_id, Vector vector) {
    store_fence();
    write(ApicMsr::Icr, (uint64_t(apic_id) << 32) | uint8_t(vector));
}

void send_ipi_all_but_self(Vector vector) {
    store_fence();
    write(ApicMsr::Icr, kIcrShorthandAllButSelf | uint8_t(vector));
}

void timer_start_oneshot(Vector vector, uint32_t count) {
    write(ApicMsr::TimerDivide, kTimerDivideBy1);
    write(ApicMsr::LvtTimer, uint8_t(vector));  // mode bits 18:17 = 0: one-shot
    write(ApicMsr::TimerInitialCount, count);
}

void timer_rearm(uint32_t count) { write(ApicMsr::TimerInitialCount, count); }

void timer_stop() {
    write(ApicMsr::TimerInitialCount, 0);
    write(ApicMsr::LvtTimer, kLvtMasked);
}

}  // namespace gmm::kernel::x86::apic
