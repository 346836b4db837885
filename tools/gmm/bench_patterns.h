// The will-it-scale and mapbench workload loops, written once for every
// address space that host threads can drive: the hosted guestmm library
// (gmm mmbench) and this machine's own kernel (gmm native). A `Space` supplies
//   uint64_t map(uint64_t size_bytes, Backing b, uint64_t fixed)
//                                                  -> address, 0 on failure; fixed != 0:
//                                                     exactly there (the range is free)
//   bool     unmap(uint64_t addr, uint64_t size_bytes)
//   bool     touch(uint64_t addr)                   -> write one byte / fault the page
// and the driver runs the pattern on N threads until `stop` (or for a fixed
// number of rounds per thread) and counts operations per thread.
//
// Patterns (ops counted per thread):
//   page_fault  map SIZE, touch every 4 KiB page, unmap        ops = pages touched
//   mmap        map and unmap SIZE untouched                     ops = map+unmap pairs
//   mixed       thread 0 runs mmap, the others page_fault        (each its own ops)
//   map_local   RadixVM mapbench local: like page_fault, each thread at a fixed
//               address of its own (no free-space search)
//   map_pipeline  mapbench pipeline: a thread maps and touches a region, hands it to
//               the next thread, which touches it again and unmaps it
//   map_global  mapbench global: every round each thread maps one slice of a shared
//               region (fixed addresses, adjacent slices), all threads touch every
//               page of every slice, each unmaps its slice
// The fixed addresses match the guest's (guest-user/mapbench.cpp).
// Waiting threads block (mutex/condition variable, std::barrier), never spin:
// this machine has two cores shared by everything (shared/HOST-KVM.md).
#pragma once

#include <atomic>
#include <barrier>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

namespace gmm::cli::bench {

enum class Backing { Anon, FilePrivate, FileShared };
enum class Pattern { PageFault, Mmap, Mixed, MapLocal, MapPipeline, MapGlobal };

struct PatternSpec {
    const char* name;  // workload name as the suite and the CLIs spell it
    Pattern pattern;
    Backing backing;
    unsigned min_threads;
};

// Every workload a host-thread driver can run; a Space may support only some backings.
inline constexpr PatternSpec kPatternWorkloads[] = {
    {"page_fault1", Pattern::PageFault, Backing::Anon, 1},
    {"page_fault2", Pattern::PageFault, Backing::FilePrivate, 1},
    {"page_fault3", Pattern::PageFault, Backing::FileShared, 1},
    {"mmap1", Pattern::Mmap, Backing::Anon, 1},
    {"mmap2", Pattern::Mmap, Backing::FilePrivate, 1},
    {"mixed", Pattern::Mixed, Backing::Anon, 2},
    {"mapbench_local", Pattern::MapLocal, Backing::Anon, 1},
    {"mapbench_pipeline", Pattern::MapPipeline, Backing::Anon, 1},
    {"mapbench_global", Pattern::MapGlobal, Backing::Anon, 1},
};

// The hosted harness has no file backing object yet: anonymous workloads only.
inline bool hosted_supports(const PatternSpec& s) { return s.backing == Backing::Anon; }

inline const PatternSpec* find_pattern_workload(std::string_view name) {
    for (const PatternSpec& s : kPatternWorkloads)
        if (name == s.name) return &s;
    return nullptr;
}

struct alignas(64) ThreadCounter {
    std::atomic<uint64_t> ops{0};
    bool failed = false;
    bool churner = false;  // mixed: this thread ran mmap, not page_fault
};

struct DriveConfig {
    Pattern pattern = Pattern::PageFault;
    Backing backing = Backing::Anon;
    unsigned threads = 1;
    uint64_t size_bytes = 4ull << 20;
    uint64_t rounds = 0;  // > 0: this many rounds per thread instead of a time limit
    double seconds = 1.0;
};

struct DriveResult {
    double seconds = 0;                 // measured interval
    std::vector<uint64_t> ops;          // per thread, at the end of the interval
    std::vector<bool> churner;          // per thread (mixed)
    bool failed = false;
};

namespace detail {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kLocalBase = 0x100000000000ull;  // 16 TiB
constexpr uint64_t kLocalStride = 1ull << 30;
constexpr uint64_t kGlobalBase = kLocalBase + 64 * kLocalStride;

template <class Space>
bool touch_all(Space& s, uint64_t addr, uint64_t size, ThreadCounter& c, const std::atomic<bool>& stop,
               bool count = true) {
    for (uint64_t off = 0; off < size; off += kPage) {
        if (!s.touch(addr + off)) return false;
        if (count) c.ops.fetch_add(1, std::memory_order_relaxed);
        // A large region must not overrun the measurement by much.
        if ((off & 0x3fffff) == 0 && stop.load(std::memory_order_relaxed)) break;
    }
    return true;
}

// A blocking single-consumer inbox of regions (mapbench pipeline).
struct Inbox {
    std::mutex m;
    std::condition_variable cv;
    std::deque<uint64_t> regions;
    bool producer_done = false;
};

}  // namespace detail

template <class Space>
class PatternDriver {
public:
    PatternDriver(Space& space, const DriveConfig& cfg)
        : s_(space), cfg_(cfg), counters_(cfg.threads), inboxes_(cfg.threads), slices_(cfg.threads, 0) {}

    DriveResult run() {
        const unsigned n = cfg_.threads;
        std::atomic<unsigned> ready{0};
        std::vector<std::thread> threads;
        for (unsigned t = 0; t < n; ++t) {
            counters_[t].churner = cfg_.pattern == Pattern::Mixed && t == 0;
            threads.emplace_back([&, t] {
                ready.fetch_add(1);
                {
                    std::unique_lock<std::mutex> l(go_m_);
                    go_cv_.wait(l, [&] { return go_; });
                }
                body(t);
            });
        }
        while (ready.load() != n) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        const auto t0 = std::chrono::steady_clock::now();
        {
            std::lock_guard<std::mutex> l(go_m_);
            go_ = true;
        }
        go_cv_.notify_all();
        DriveResult r;
        r.ops.resize(n);
        if (!cfg_.rounds) {
            std::this_thread::sleep_for(std::chrono::duration<double>(cfg_.seconds));
            stop_.store(true);
            for (unsigned t = 0; t < n; ++t) r.ops[t] = counters_[t].ops.load();
            r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        }
        for (auto& th : threads) th.join();
        if (cfg_.rounds) {
            r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            for (unsigned t = 0; t < n; ++t) r.ops[t] = counters_[t].ops.load();
        }
        for (unsigned t = 0; t < n; ++t) {
            r.failed = r.failed || counters_[t].failed;
            r.churner.push_back(counters_[t].churner);
        }
        return r;
    }

private:
    bool keep_going(uint64_t round) const {
        return cfg_.rounds ? round < cfg_.rounds : !stop_.load(std::memory_order_relaxed);
    }

    bool page_fault_round(ThreadCounter& c, uint64_t fixed) {
        const uint64_t a = s_.map(cfg_.size_bytes, cfg_.backing, fixed);
        if (!a) return false;
        const bool ok = detail::touch_all(s_, a, cfg_.size_bytes, c, stop_);
        return s_.unmap(a, cfg_.size_bytes) && ok;
    }

    bool mmap_round(ThreadCounter& c) {
        const uint64_t a = s_.map(cfg_.size_bytes, cfg_.backing, 0);
        if (!a || !s_.unmap(a, cfg_.size_bytes)) return false;
        c.ops.fetch_add(1, std::memory_order_relaxed);
        return true;
    }

    void body(unsigned t) {
        ThreadCounter& c = counters_[t];
        switch (cfg_.pattern) {
            case Pattern::PageFault:
            case Pattern::MapLocal:
            case Pattern::Mmap:
            case Pattern::Mixed: {
                const bool mmap_role = cfg_.pattern == Pattern::Mmap || c.churner;
                const uint64_t fixed =
                    cfg_.pattern == Pattern::MapLocal ? detail::kLocalBase + t * detail::kLocalStride : 0;
                for (uint64_t r = 0; keep_going(r); ++r) {
                    if (!(mmap_role ? mmap_round(c) : page_fault_round(c, fixed))) {
                        c.failed = true;
                        stop_.store(true);
                        break;
                    }
                }
                return;
            }
            case Pattern::MapPipeline: return pipeline(t);
            case Pattern::MapGlobal: return global(t);
        }
    }

    // Map + touch a region, pass it to the next thread; take the previous
    // thread's region, touch it again, unmap it.
    void pipeline(unsigned t) {
        ThreadCounter& c = counters_[t];
        const unsigned n = cfg_.threads;
        detail::Inbox& mine = inboxes_[t];
        detail::Inbox& next = inboxes_[(t + 1) % n];
        auto finish_region = [&](uint64_t a, bool count) {
            if (!detail::touch_all(s_, a, cfg_.size_bytes, c, stop_, count) || !s_.unmap(a, cfg_.size_bytes))
                c.failed = true;
        };
        for (uint64_t r = 0; keep_going(r) && !c.failed; ++r) {
            const uint64_t a = s_.map(cfg_.size_bytes, cfg_.backing, 0);
            if (!a || !detail::touch_all(s_, a, cfg_.size_bytes, c, stop_)) {
                c.failed = true;
                break;
            }
            {
                std::lock_guard<std::mutex> l(next.m);
                next.regions.push_back(a);
            }
            next.cv.notify_one();
            // The previous thread pushes once per round, or has finished.
            std::unique_lock<std::mutex> l(mine.m);
            mine.cv.wait(l, [&] { return !mine.regions.empty() || mine.producer_done; });
            if (mine.regions.empty()) continue;
            const uint64_t got = mine.regions.front();
            mine.regions.pop_front();
            l.unlock();
            finish_region(got, true);
        }
        if (c.failed) stop_.store(true);
        {
            std::lock_guard<std::mutex> l(next.m);
            next.producer_done = true;
        }
        next.cv.notify_one();
        // Drain what the previous thread still hands over (not counted).
        for (;;) {
            std::unique_lock<std::mutex> l(mine.m);
            mine.cv.wait(l, [&] { return !mine.regions.empty() || mine.producer_done; });
            if (mine.regions.empty()) return;
            const uint64_t got = mine.regions.front();
            mine.regions.pop_front();
            l.unlock();
            finish_region(got, false);
        }
    }

    // Each round: map my slice, everyone touches every slice, unmap my slice.
    void global(unsigned t) {
        ThreadCounter& c = counters_[t];
        for (uint64_t r = 0;; ++r) {
            // Decide together, so no thread waits at a barrier the others left.
            if (t == 0) continue_ = keep_going(r) && !any_failed_.load();
            barrier_.arrive_and_wait();
            if (!continue_) return;
            slices_[t] = s_.map(cfg_.size_bytes, cfg_.backing, detail::kGlobalBase + t * cfg_.size_bytes);
            if (!slices_[t]) c.failed = true, any_failed_.store(true);
            barrier_.arrive_and_wait();
            for (unsigned k = 0; k < cfg_.threads && !c.failed; ++k) {
                const unsigned slice = (t + k) % cfg_.threads;  // start at my own, then the others'
                if (slices_[slice] && !detail::touch_all(s_, slices_[slice], cfg_.size_bytes, c, stop_))
                    c.failed = true, any_failed_.store(true);
            }
            barrier_.arrive_and_wait();
            if (slices_[t] && !s_.unmap(slices_[t], cfg_.size_bytes)) c.failed = true, any_failed_.store(true);
        }
    }

    Space& s_;
    DriveConfig cfg_;
    std::vector<ThreadCounter> counters_;
    std::atomic<bool> stop_{false};
    std::mutex go_m_;
    std::condition_variable go_cv_;
    bool go_ = false;
    std::vector<detail::Inbox> inboxes_;
    std::vector<uint64_t> slices_;
    std::barrier<> barrier_{std::ptrdiff_t(cfg_.threads)};
    bool continue_ = true;
    std::atomic<bool> any_failed_{false};
};

}  // namespace gmm::cli::bench
