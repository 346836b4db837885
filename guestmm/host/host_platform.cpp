#include "host_platform.h"

#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <cstring>
#include <ctime>

namespace gmm::mm {

namespace {
constexpr size_t kArenaBytes = 256u << 20;
constexpr size_t kBatch = 64;  // frames moved between a slot and the pool at once (one line of stale flags)
// A slot keeps up to this many free frames before returning some to the pool:
// frames (and their stale flags) then stay with one thread, so a thread's
// alloc/free never writes a cache line another thread is using.
constexpr size_t kSlotMax = 1u << 17;
std::atomic<uint32_t> g_next_thread_slot{0};
thread_local int t_slot = -1;
}  // namespace

HostPlatform::HostPlatform() = default;

HostPlatform::~HostPlatform() {
    for (unsigned i = 0; i < narenas_.load(); ++i) {
        munmap(arena_table_[i].base, kArenaBytes);
        delete[] arena_table_[i].stale;
    }
}

std::vector<std::pair<const uint8_t*, uint64_t>> HostPlatform::arenas() const {
    std::vector<std::pair<const uint8_t*, uint64_t>> out;
    const unsigned n = narenas_.load(std::memory_order_acquire);
    for (unsigned i = 0; i < n; ++i) out.push_back({arena_table_[i].base, kArenaBytes});
    return out;
}

HostPlatform::Arena* HostPlatform::arena_of(uint64_t phys) {
    auto* p = reinterpret_cast<uint8_t*>(phys);
    unsigned n = narenas_.load(std::memory_order_acquire);
    for (unsigned i = n; i-- > 0;)
        if (p >= arena_table_[i].base && p < arena_table_[i].base + kArenaBytes) return &arena_table_[i];
    return nullptr;
}

void* HostPlatform::phys_to_virt(uint64_t phys) {
    Arena* a = arena_of(phys);
    if (a) {
        uint8_t& stale = a->stale[(phys - reinterpret_cast<uint64_t>(a->base)) >> 12];
        if (stale) {
            std::memset(reinterpret_cast<void*>(phys), 0, 4096);
            stale = 0;
        }
    }
    return reinterpret_cast<void*>(phys);
}

bool HostPlatform::refill(Slot& s) {
    std::lock_guard<std::mutex> g(pool_lock_);
    while (s.frames.size() < kBatch && !pool_.empty()) {
        s.frames.push_back(pool_.back());
        pool_.pop_back();
    }
    while (s.frames.size() < kBatch) {
        if (arena_cur_ == arena_end_) {
            if (narenas_.load() == kMaxArenas) break;
            void* a = mmap(nullptr, kArenaBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (a == MAP_FAILED) break;
            unsigned n = narenas_.load();
            arena_table_[n] = Arena{static_cast<uint8_t*>(a), new uint8_t[kArenaBytes >> 12]()};
            narenas_.store(n + 1, std::memory_order_release);
            arena_cur_ = static_cast<uint8_t*>(a);
            arena_end_ = arena_cur_ + kArenaBytes;
        }
        s.frames.push_back(reinterpret_cast<uint64_t>(arena_cur_));  // fresh mmap memory reads as zero
        arena_cur_ += 4096;
    }
    return !s.frames.empty();
}

bool HostPlatform::alloc_zeroed_frame(uint64_t* phys) {
    if (budget_.load(std::memory_order_relaxed) >= 0 && budget_.fetch_sub(1) <= 0) {
        budget_.store(0);
        return false;
    }
    Slot& s = slots_[cpu_id()];
    std::lock_guard<SlotLock> g(s.lock);
    if (s.frames.empty() && !refill(s)) return false;
    *phys = s.frames.back();
    s.frames.pop_back();
    ++s.in_use;
    return true;
}

void HostPlatform::free_frame(uint64_t phys) {
    // Mark only; phys_to_virt() zeroes it if anyone ever looks inside.
    if (Arena* a = arena_of(phys)) a->stale[(phys - reinterpret_cast<uint64_t>(a->base)) >> 12] = 1;
    Slot& s = slots_[cpu_id()];
    std::lock_guard<SlotLock> g(s.lock);
    --s.in_use;
    s.frames.push_back(phys);
    if (s.frames.size() > kSlotMax) {
        std::lock_guard<std::mutex> pg(pool_lock_);
        while (s.frames.size() > kSlotMax / 2) {
            pool_.push_back(s.frames.back());
            s.frames.pop_back();
        }
    }
}

int64_t HostPlatform::frames_in_use() const {
    int64_t n = 0;
    for (const Slot& s : slots_) {
        std::lock_guard<SlotLock> g(const_cast<SlotLock&>(s.lock));
        n += s.in_use;
    }
    return n;
}

void HostPlatform::flush_tlb(const void*, Gva, Gva) { flushes_.fetch_add(1, std::memory_order_relaxed); }

uint32_t HostPlatform::cpu_id() {
    if (t_slot < 0) t_slot = int(g_next_thread_slot.fetch_add(1) % kMaxCpus);
    return uint32_t(t_slot);
}

uint64_t HostPlatform::now_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

void HostPlatform::wait_on(const uint32_t* word, uint32_t expected) {
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
}

void HostPlatform::wake_all(const uint32_t* word) {
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}

}  // namespace gmm::mm
