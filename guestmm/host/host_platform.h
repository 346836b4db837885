// The hosted platform: frames from mmap'd arenas (a frame's "physical address"
// is its host address, so PTEs carry it in bits 12-51), futex waiting,
// per-thread CPU slots, counted TLB-flush requests, and on-demand allocation
// failure for tests. Host code only (uses the STL).
//
// Zeroing is lazy, modelling the guest, whose VMM supplies zero frames without
// the guest touching them: free_frame() only marks a frame "to be zeroed", and
// phys_to_virt() - the only way to reach a frame's bytes - zeroes it on first
// access. A frame that nobody reads or writes (e.g. a benchmark's data pages)
// is never touched, so memory bandwidth does not stand in for the core's cost.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "guestmm/percpu.h"
#include "guestmm/platform.h"

namespace gmm::mm {

class HostPlatform final : public Platform {
public:
    HostPlatform();
    ~HostPlatform();
    HostPlatform(const HostPlatform&) = delete;
    HostPlatform& operator=(const HostPlatform&) = delete;

    bool alloc_zeroed_frame(uint64_t* phys) override;
    void free_frame(uint64_t phys) override;
    void* phys_to_virt(uint64_t phys) override;
    void flush_tlb(const void* as, Gva start, Gva end) override;
    uint32_t cpu_id() override;
    uint64_t now_ns() override;
    uint32_t spin_iterations() override { return spin_iterations_; }
    void wait_on(const uint32_t* word, uint32_t expected) override;
    void wake_all(const uint32_t* word) override;

    // Test knobs. After `n` more successful allocations every allocation fails
    // (n < 0: never fail).
    void fail_frames_after(int64_t n) { budget_.store(n); }
    int64_t frames_in_use() const;
    uint64_t tlb_flushes() const { return flushes_.load(std::memory_order_relaxed); }
    void set_spin_iterations(uint32_t n) { spin_iterations_ = n; }
    // The memory frames come from (base, size in bytes), for the host checker's tests.
    std::vector<std::pair<const uint8_t*, uint64_t>> arenas() const;

private:
    // A thread's slot is normally used by that thread alone; the lock only
    // covers slot sharing (more than kMaxCpus threads) and pool transfers.
    class SlotLock {
    public:
        void lock() {
            while (flag_.test_and_set(std::memory_order_acquire)) std::this_thread::yield();
        }
        void unlock() { flag_.clear(std::memory_order_release); }

    private:
        std::atomic_flag flag_ = ATOMIC_FLAG_INIT;
    };
    struct alignas(64) Slot {
        SlotLock lock;
        std::vector<uint64_t> frames;  // free, already zeroed
        int64_t in_use = 0;
    };
    bool refill(Slot& s);
    struct Arena {
        uint8_t* base;
        uint8_t* stale;  // per frame: 1 = contents must be zeroed before use
    };
    Arena* arena_of(uint64_t phys);
    static constexpr unsigned kMaxArenas = 1024;  // x 256 MiB
    Arena arena_table_[kMaxArenas] = {};
    std::atomic<unsigned> narenas_{0};

    alignas(64) std::atomic<int64_t> budget_{-1};  // read on every allocation: own line
    alignas(64) std::atomic<uint64_t> flushes_{0};
    uint32_t spin_iterations_ = 100;
    std::mutex pool_lock_;
    std::vector<uint64_t> pool_;           // free, zeroed
    uint8_t* arena_cur_ = nullptr;
    uint8_t* arena_end_ = nullptr;
    Slot slots_[kMaxCpus];
};

}  // namespace gmm::mm
