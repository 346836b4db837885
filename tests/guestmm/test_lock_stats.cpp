// Lock statistics counted by guestmm's locks (lock_stats.h), hosted: each
// test thread counts into its own LockStatCpu (set_thread_lock_stats), as each
// guest CPU does into its lockstat slot. Contention is forced, not hoped for.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>

#include "guestmm/host/host_platform.h"
#include "guestmm/lock.h"

using namespace gmm::mm;

namespace {

constexpr uint32_t kRecords = 2 * uint32_t(LockClass::Count);

struct Stats {
    LockStatCpu cpu{};
    LockStatRecord records[kRecords]{};
    Stats() { lock_stats_start(cpu, kRecords); }
    const LockStatRecord& rec(LockClass c, LockSide s) const { return records[2 * uint32_t(c) + uint32_t(s)]; }
};
static_assert(offsetof(Stats, records) == sizeof(LockStatCpu), "records() follows the LockStatCpu");

// Runs fn on a new thread that counts into `s`.
std::thread counting_thread(Stats& s, std::function<void()> fn) {
    return std::thread([&s, fn] {
        set_thread_lock_stats(&s.cpu);
        fn();
        set_thread_lock_stats(nullptr);
    });
}

void wait_for(const std::atomic<int>& flag, int value) {
    while (flag.load() != value) std::this_thread::yield();
}

std::atomic<int> g_contended{0};
void on_contended(LockClass, LockSide, const void*) { ++g_contended; }
const LockHooks kSignalContention{nullptr, &on_contended, nullptr, nullptr};

}  // namespace

TEST_CASE("lock stats: a forced contention counts once, with its bounce, wait and hold", "[ops][lockstats]") {
    HostPlatform p;
    TicketLock lock(LockClass::FreeSpace);
    Stats a, b;
    std::atomic<int> step{0};
    g_contended = 0;
    set_lock_hooks(&kSignalContention);
    std::thread ta = counting_thread(a, [&] {
        lock.lock(p);
        step = 1;
        // Hold until B has queued behind us (its contended hook ran), then a little longer.
        wait_for(g_contended, 1);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        lock.unlock(p);
    });
    std::thread tb = counting_thread(b, [&] {
        wait_for(step, 1);
        lock.lock(p);  // A holds it: contended, and A (another CPU) acquired last
        lock.unlock(p);
    });
    ta.join();
    tb.join();
    set_lock_hooks(nullptr);
    CHECK(g_contended == 1);
    const LockStatRecord& ra = a.rec(LockClass::FreeSpace, LockSide::Exclusive);
    const LockStatRecord& rb = b.rec(LockClass::FreeSpace, LockSide::Exclusive);
    CHECK(ra.acquisitions == 1);
    CHECK(ra.contentions == 0);
    CHECK(ra.acq_bounces == 0);  // nobody had it before
    CHECK(ra.holdtime_total_cycles > 0);
    CHECK(ra.holdtime_min_cycles == ra.holdtime_total_cycles);
    CHECK(ra.holdtime_max_cycles == ra.holdtime_total_cycles);
    CHECK(ra.waittime_min_cycles == kLockStatNoSample);  // never waited
    CHECK(rb.acquisitions == 1);
    CHECK(rb.contentions == 1);
    CHECK(rb.con_bounces == 1);
    CHECK(rb.acq_bounces == 1);
    CHECK(rb.waittime_total_cycles > 0);
    CHECK(rb.waittime_max_cycles == rb.waittime_total_cycles);
    CHECK(a.cpu.contentions == 0);
    CHECK(b.cpu.contentions == 1);
    // B's wait covered most of A's 20 ms hold: both are TSC cycles.
    CHECK(rb.waittime_total_cycles * 2 > ra.holdtime_total_cycles / 2);
}

TEST_CASE("lock stats: threads on disjoint locks never contend or bounce", "[ops][lockstats]") {
    HostPlatform p;
    TicketLock l1(LockClass::PtLock), l2(LockClass::PtLock);
    Stats a, b;
    constexpr int kRounds = 2000;
    std::thread ta = counting_thread(a, [&] {
        for (int i = 0; i < kRounds; ++i) LockGuard<TicketLock> g(l1, p);
    });
    std::thread tb = counting_thread(b, [&] {
        for (int i = 0; i < kRounds; ++i) LockGuard<TicketLock> g(l2, p);
    });
    ta.join();
    tb.join();
    for (const Stats* s : {&a, &b}) {
        const LockStatRecord& r = s->rec(LockClass::PtLock, LockSide::Exclusive);
        CHECK(r.acquisitions == kRounds);
        CHECK(r.contentions == 0);
        CHECK(r.con_bounces == 0);
        CHECK(r.acq_bounces == 0);
        CHECK(r.holdtime_total_cycles >= r.holdtime_max_cycles);
        CHECK(r.holdtime_min_cycles <= r.holdtime_max_cycles);
    }
}

TEST_CASE("lock stats: reader-writer locks count the read and write sides apart", "[ops][lockstats]") {
    HostPlatform p;
    RwLock rw(LockClass::MmLock);
    Stats a, b;
    std::thread ta = counting_thread(a, [&] {
        rw.lock_shared(p);
        rw.unlock_shared(p);
    });
    ta.join();
    std::thread tb = counting_thread(b, [&] {
        rw.lock(p);  // after A's read: a bounce (one gate for both sides)
        rw.unlock(p);
        rw.lock_shared(p);
        rw.unlock_shared(p);
    });
    tb.join();
    CHECK(a.rec(LockClass::MmLock, LockSide::Shared).acquisitions == 1);
    CHECK(a.rec(LockClass::MmLock, LockSide::Exclusive).acquisitions == 0);
    CHECK(b.rec(LockClass::MmLock, LockSide::Exclusive).acquisitions == 1);
    CHECK(b.rec(LockClass::MmLock, LockSide::Exclusive).acq_bounces == 1);
    CHECK(b.rec(LockClass::MmLock, LockSide::Shared).acquisitions == 1);
    CHECK(b.rec(LockClass::MmLock, LockSide::Shared).acq_bounces == 0);  // B itself was last
    CHECK(b.rec(LockClass::MmLock, LockSide::Shared).holdtime_total_cycles > 0);
}

TEST_CASE("lock stats: a lock inside a held lock of its class is counted, the outer one timed", "[ops][lockstats]") {
    HostPlatform p;
    TicketLock parent(LockClass::PtLock), child(LockClass::PtLock);
    Stats s;
    std::thread t = counting_thread(s, [&] {
        parent.lock(p);
        child.lock(p);
        child.unlock(p);
        parent.unlock(p);
        parent.lock(p);  // and counting goes on normally afterwards
        parent.unlock(p);
    });
    t.join();
    const LockStatRecord& r = s.rec(LockClass::PtLock, LockSide::Exclusive);
    CHECK(r.acquisitions == 3);
    CHECK(s.cpu.untimed_nested == 1);
    CHECK(r.depth == 0);  // balanced
    CHECK(r.holdtime_min_cycles <= r.holdtime_max_cycles);
    CHECK(r.holdtime_total_cycles >= r.holdtime_max_cycles + r.holdtime_min_cycles);  // two timed holds
}

TEST_CASE("lock stats: a thread without statistics counts nothing", "[ops][lockstats]") {
    HostPlatform p;
    TicketLock l(LockClass::Slab);
    Stats s;
    l.lock(p);  // this thread has no LockStatCpu
    l.unlock(p);
    const LockStatRecord& r = s.rec(LockClass::Slab, LockSide::Exclusive);
    CHECK(r.acquisitions == 0);
    CHECK(l.last_cpu() == p.cpu_id());  // the plain path still records the acquirer
}
