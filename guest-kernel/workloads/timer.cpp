// `timer ticks=N`: every CPU arms its LAPIC timer (one-shot, re-armed by the
// handler until N ticks) and waits in HLT; reports `timer_ticks`; CPU 0 sends
// DONE once every CPU finished.
#include "assert.h"
#include "percpu.h"
#include "sync.h"
#include "ucall.h"
#include "workload.h"

namespace gmm::kernel {

namespace {

constexpr const char* kKeys[] = {"ticks"};
constexpr uint32_t kTickPeriodCount = 1'000'000;  // 1 ms at KVM's 1 GHz APIC bus, divide-by-1
uint64_t g_ticks;

void prepare(const BootArgs& args) {
    g_ticks = args.u64_or("ticks", 5);
    GMM_ASSERT(g_ticks >= 1);
}

void run(uint32_t cpu) {
    PerCpu& me = this_cpu();
    me.timer_ticks = 0;
    me.timer_target_ticks = g_ticks;
    me.timer_period_count = kTickPeriodCount;
    const uint64_t start_tsc = x86::rdtsc();
    x86::apic::timer_start_oneshot(x86::Vector::Timer, kTickPeriodCount);
    wait_until([&me] { return me.timer_ticks >= g_ticks; });
    x86::apic::timer_stop();
    ucall_result("timer_ticks", me.timer_ticks);
    ucall_result("timer_cycles", x86::rdtsc() - start_tsc);
    signal_finished_to_cpu0(cpu);
    if (cpu == 0) {
        wait_all_finished();
        ucall_done(0);
    }
}

}  // namespace

const Workload kTimerWorkload = {"timer", kKeys, 1, prepare, run};

}  // namespace gmm::kernel
