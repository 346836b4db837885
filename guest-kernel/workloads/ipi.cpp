// `ipi rounds=N`: CPU 0 and CPU 1 ping-pong `rounds` wakeup IPIs. Each side
// publishes the round number in a shared word, then sends the IPI; the other
// waits in HLT for the word (stray wakeups from other CPUs are harmless).
#include "assert.h"
#include "sync.h"
#include "ucall.h"
#include "workload.h"

namespace gmm::kernel {

namespace {

constexpr const char* kKeys[] = {"rounds"};
uint64_t g_rounds;
alignas(64) uint64_t g_ping;  // last round CPU 0 sent
alignas(64) uint64_t g_pong;  // last round CPU 1 answered

void prepare(const BootArgs& args) {
    g_rounds = args.u64_or("rounds", 100);
    GMM_ASSERT(g_rounds >= 1);
    GMM_ASSERT_LE(2, g_kernel.cpu_count);
}

void run(uint32_t cpu) {
    if (cpu == 0) {
        const uint64_t start_tsc = x86::rdtsc();
        for (uint64_t round = 1; round <= g_rounds; ++round) {
            store_release(g_ping, round);
            x86::apic::send_ipi(1, x86::Vector::Wakeup);
            wait_until([round] { return load_acquire(g_pong) == round; });
        }
        const uint64_t cycles = x86::rdtsc() - start_tsc;
        ucall_result("ipi_round_trips", g_rounds);
        ucall_result("ipi_cycles_total", cycles);
        ucall_done(0);
    } else if (cpu == 1) {
        for (uint64_t round = 1; round <= g_rounds; ++round) {
            wait_until([round] { return load_acquire(g_ping) == round; });
            store_release(g_pong, round);
            x86::apic::send_ipi(0, x86::Vector::Wakeup);
        }
    }
}

}  // namespace

const Workload kIpiWorkload = {"ipi", kKeys, 1, prepare, run};

}  // namespace gmm::kernel
