// Executing one storm thread's program: the op semantics of docs/storms.md.
// Every op updates the thread's status (the host's stall watchdog reads it)
// and its per-kind stats; a result that breaks the op's expectation is a
// failure, recorded with the op index and value (the first one in detail).
#include "gmm/abi/disk.h"
#include "storm_access.h"
#include "storm_runner.h"
#include "syscall.h"

namespace gmm::user {

namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kSpawnStackBytes = 16 * kPage;
constexpr uint64_t kGuardBytes = kPage;
constexpr uint64_t kAccessesPerProgress = 64;

uint64_t g_spawn_stack[GMM_STORM_MAX_THREADS];

// Per file region: what its last map shows, guarded by a change counter
// (`generation`, bumped at the start and end of every change) and the number of
// changes in progress (two threads may remap one region at once).
struct FileMapState {
    uint32_t changing;
    uint32_t known;  // 1: [offset, offset + length) shows `file` from `file_offset`
    uint64_t generation;
    uint64_t base;  // the region's address at that map (a hint region moves with each map)
    uint64_t offset, length, file_offset;
    uint32_t file, pad;
};
FileMapState g_file_map[GMM_STORM_MAX_REGIONS];

struct FileMapSnapshot {
    uint64_t generation;
    bool usable;  // no change running; `state` copied
    FileMapState state;
};

FileMapSnapshot file_map_read(uint32_t region) {
    FileMapState& m = g_file_map[region];
    FileMapSnapshot s{};
    s.generation = __atomic_load_n(&m.generation, __ATOMIC_ACQUIRE);
    s.usable = __atomic_load_n(&m.changing, __ATOMIC_ACQUIRE) == 0;
    s.state.known = __atomic_load_n(&m.known, __ATOMIC_ACQUIRE);
    s.state.base = __atomic_load_n(&m.base, __ATOMIC_RELAXED);
    s.state.offset = __atomic_load_n(&m.offset, __ATOMIC_RELAXED);
    s.state.length = __atomic_load_n(&m.length, __ATOMIC_RELAXED);
    s.state.file_offset = __atomic_load_n(&m.file_offset, __ATOMIC_RELAXED);
    s.state.file = __atomic_load_n(&m.file, __ATOMIC_RELAXED);
    return s;
}

// True when no change started or ran since `s` was read.
bool file_map_unchanged(uint32_t region, const FileMapSnapshot& s) {
    FileMapState& m = g_file_map[region];
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return __atomic_load_n(&m.changing, __ATOMIC_ACQUIRE) == 0 &&
           __atomic_load_n(&m.generation, __ATOMIC_ACQUIRE) == s.generation;
}

inline uint64_t rdtsc() {
    uint32_t lo, hi;
    asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t(hi) << 32) | lo;
}

struct Exec {
    uint32_t thread;
    uint32_t pc;
    const gmm_storm_op& op;
    gmm_storm_thread_status& st;
    gmm_storm_op_stats& stats;

    void bump() { __atomic_store_n(&st.progress, st.progress + 1, __ATOMIC_RELAXED); }
    void set_state(uint32_t s) { __atomic_store_n(&st.state, s, __ATOMIC_RELAXED); }

    // Returns false (the op failed its expectation).
    bool failure(uint32_t kind, uint64_t value, uint32_t detail = 0) {
        ++stats.failures;
        if (st.failures++ == 0) {
            st.first_failure = kind;
            st.first_failure_op = pc;
            st.first_failure_value = value;
            st.first_failure_detail = detail;
        }
        return false;
    }

    // A map/unmap/protect result against the op's expectation.
    bool judge(int64_t r) {
        if (r >= 0) {
            stats.units += op.length_bytes;
            return op.expect == GMM_STORM_EXPECT_FAIL ? failure(GMM_STORM_FAILURE_NO_ERROR, uint64_t(r)) : true;
        }
        if (op.expect == GMM_STORM_EXPECT_OK) return failure(GMM_STORM_FAILURE_ERRNO, uint64_t(r));
        if (op.expect == GMM_STORM_EXPECT_FAIL && op.arg2 && uint64_t(-r) != op.arg2)
            return failure(GMM_STORM_FAILURE_WRONG_ERRNO, uint64_t(r));
        ++stats.errors;
        return true;
    }

    bool hint() const { return g_storm.view.regions[op.target].flags & GMM_STORM_RF_HINT; }
    bool file() const { return g_storm.view.regions[op.target].flags & GMM_STORM_RF_FILE; }

    int64_t mmap_op(uint64_t at, uint64_t flags) const {
        if (!file()) return sys_mmap(at, op.length_bytes, op.arg, flags);
        return sys_mmap_file(at, op.length_bytes, op.arg, flags, g_storm.fd[op.a], op.b);  // validated: a < file_count
    }

    bool map() {
        const uint64_t token = file() ? storm_file_change_begin(op.target) : 0;
        int64_t a;
        if (hint()) {
            a = mmap_op(0, storm_region_map_flags(op.target));
            if (a >= 0) storm_set_region_base(op.target, uint64_t(a));
        } else {
            const uint64_t at = storm_region_base(op.target) + op.offset_bytes;
            a = mmap_op(at, storm_region_map_flags(op.target) | GMM_MAP_FIXED);
            if (a >= 0 && uint64_t(a) != at) a = -int64_t(GMM_EFAULT);
        }
        if (file()) storm_file_change_end(op.target, token, a >= 0, op.offset_bytes, op.length_bytes, uint32_t(op.a), op.b);
        return judge(a);
    }

    bool unmap() {
        const uint64_t base = storm_region_base(op.target);
        const uint64_t token = file() ? storm_file_change_begin(op.target) : 0;
        const int64_t r = sys_munmap(base + op.offset_bytes, op.length_bytes);
        if (file()) storm_file_change_end(op.target, token, false, 0, 0, 0, 0);
        // A kernel-placed region unmapped whole has no address any more: later ops
        // must not reach whatever the kernel puts there next (e.g. a thread's stack).
        if (r == 0 && hint() && op.offset_bytes == 0 && op.length_bytes == g_storm.view.regions[op.target].size_bytes)
            storm_set_region_base(op.target, 0);
        return judge(r);
    }

    bool protect() {
        return judge(sys_mprotect(storm_region_base(op.target) + op.offset_bytes, op.length_bytes, op.arg));
    }

    // A VERIFY access: reads the signature of the page holding region offset
    // `off` and, when the region's mapping did not change around the read,
    // checks it is the page that mapping must show. A wrong page is a failure
    // of its own kind (the ABA bug: an old file's page in a new mapping).
    StormAccess verified_read(uint64_t base, uint64_t off, bool& ok) {
        const uint64_t page_off = off & ~(kPage - 1);
        const uint64_t region_base = base - op.offset_bytes;
        const FileMapSnapshot before = file_map_read(op.target);
        gmm_disk_page_sig sig;
        const StormAccess a = gmm_storm_read_sig(region_base + page_off, &sig);
        if (a.segv_reason || !before.usable || !before.state.known || !file_map_unchanged(op.target, before))
            return a;
        const FileMapState& m = before.state;
        if (m.base != region_base || page_off < m.offset || page_off - m.offset >= m.length) return a;
        const uint32_t disk_index = uint32_t(g_storm.fd[m.file]);
        const uint64_t page_index = (m.file_offset + (page_off - m.offset)) / kPage;
        if (!gmm_disk_sig_matches(&sig, disk_index, page_index)) {
            ++stats.wrong_pages;
            const uint32_t seen = sig.magic == GMM_DISK_SIG_MAGIC ? sig.file_index : ~0u;
            if (ok) ok = failure(GMM_STORM_FAILURE_WRONG_PAGE, region_base + page_off, seen);
        }
        return a;
    }

    static uint64_t gcd(uint64_t a, uint64_t b) {
        while (b) {
            const uint64_t t = a % b;
            a = b;
            b = t;
        }
        return a;
    }

    bool touch() {
        const uint64_t base = storm_region_base(op.target) + op.offset_bytes;
        const uint64_t n = (op.length_bytes + op.a - 1) / op.a;  // accesses
        const uint64_t value = (op.flags & GMM_STORM_OPF_WRITE) ? uint64_t(thread + 1) : 0;
        uint64_t index = 0, step = 1;
        if ((op.flags & GMM_STORM_OPF_RANDOM) && n > 1) {  // a seeded permutation: start + i * step, step coprime with n
            index = op.b % n;
            step = 1 + (op.b >> 17) % (n - 1);
            while (gcd(step, n) != 1) step = step + 1 < n ? step + 1 : 1;
        }
        bool ok = true;
        uint64_t segv = 0;
        const bool verify = op.flags & GMM_STORM_OPF_VERIFY;
        for (uint64_t i = 0; i < n; ++i) {
            const StormAccess a = verify ? verified_read(base, op.offset_bytes + index * op.a, ok)
                                         : gmm_storm_access(base + index * op.a, value);
            if (a.segv_reason) {
                ++segv;
                if (op.expect == GMM_STORM_EXPECT_OK && ok)
                    ok = failure(GMM_STORM_FAILURE_SEGV, a.fault_address, uint32_t(a.segv_reason));
            } else {
                ++stats.units;
                if (op.expect == GMM_STORM_EXPECT_FAIL && ok) ok = failure(GMM_STORM_FAILURE_NO_SEGV, base + index * op.a);
            }
            if ((i + 1) % kAccessesPerProgress == 0) bump();
            index += step;
            if (index >= n) index -= n;
        }
        stats.segv += segv;
        return ok;
    }

    void barrier() {
        set_state(GMM_STORM_THREAD_BARRIER);
        // A sense-reversing barrier (as mm_sync.h) on the results area, so the host sees arrivals.
        gmm_storm_barrier_state& b = g_storm.results->barriers[op.target];
        const uint32_t parties = g_storm.view.barriers[op.target].parties;
        const uint32_t gen = __atomic_load_n(&b.generation, __ATOMIC_ACQUIRE);
        if (__atomic_add_fetch(&b.arrived, 1, __ATOMIC_ACQ_REL) == parties) {
            __atomic_store_n(&b.arrived, 0u, __ATOMIC_RELAXED);
            __atomic_add_fetch(&b.generation, 1, __ATOMIC_RELEASE);
            sys_wake(&b.generation, ~0ull);
        } else {
            while (__atomic_load_n(&b.generation, __ATOMIC_ACQUIRE) == gen) sys_wait(&b.generation, gen);
        }
        set_state(GMM_STORM_THREAD_RUNNING);
    }

    void sleep() {
        set_state(GMM_STORM_THREAD_SLEEPING);
        const uint64_t per_ms = g_storm.tsc_per_us * 1000;
        const uint64_t start = rdtsc(), end = start + op.a * g_storm.tsc_per_us;
        uint64_t next_bump = start + per_ms;
        for (uint64_t now; (now = rdtsc()) < end;) {
            if (now >= next_bump) {
                bump();
                next_bump = now + per_ms;
            }
            asm volatile("pause");
        }
        set_state(GMM_STORM_THREAD_RUNNING);
    }

    bool spawn() {
        const uint32_t t = op.target;
        const gmm_storm_thread& target = g_storm.view.threads[t];
        set_state(GMM_STORM_THREAD_SPAWNING);
        const int64_t stack = sys_mmap(0, kGuardBytes + kSpawnStackBytes, GMM_PROT_READ | GMM_PROT_WRITE,
                                       GMM_MAP_PRIVATE | GMM_MAP_ANONYMOUS);
        if (stack < 0) return failure(GMM_STORM_FAILURE_SPAWN, uint64_t(stack));
        if (int64_t e = sys_mprotect(uint64_t(stack), kGuardBytes, GMM_PROT_NONE); e != 0) {
            sys_munmap(uint64_t(stack), kGuardBytes + kSpawnStackBytes);
            return failure(GMM_STORM_FAILURE_SPAWN, uint64_t(e));
        }
        g_spawn_stack[t] = uint64_t(stack);
        uint32_t* alive = &g_storm.results->threads[t].alive;
        __atomic_store_n(alive, 1u, __ATOMIC_SEQ_CST);
        // Any number of threads share a vCPU; THREAD_CREATE fails only when the
        // kernel's table is full, which the storm's thread limit rules out: a failure.
        const int64_t r = sys_thread_create(storm_thread_entry, uint64_t(stack) + kGuardBytes + kSpawnStackBytes, t,
                                            target.vcpu, alive);
        if (r < 0) {
            __atomic_store_n(alive, 0u, __ATOMIC_SEQ_CST);
            sys_munmap(uint64_t(stack), kGuardBytes + kSpawnStackBytes);
            g_spawn_stack[t] = 0;
            set_state(GMM_STORM_THREAD_RUNNING);
            return failure(GMM_STORM_FAILURE_SPAWN, uint64_t(r));
        }
        ++stats.units;
        set_state(GMM_STORM_THREAD_RUNNING);
        return true;
    }

    bool join() {
        const uint32_t t = op.target;
        set_state(GMM_STORM_THREAD_JOINING);
        uint32_t* alive = &g_storm.results->threads[t].alive;
        for (uint32_t v; (v = __atomic_load_n(alive, __ATOMIC_ACQUIRE)) != 0;) sys_wait(alive, v);
        set_state(GMM_STORM_THREAD_RUNNING);
        if (!g_spawn_stack[t]) return true;  // the spawn failed (already counted)
        const int64_t r = sys_munmap(g_spawn_stack[t], kGuardBytes + kSpawnStackBytes);
        g_spawn_stack[t] = 0;
        return r == 0 ? true : failure(GMM_STORM_FAILURE_ERRNO, uint64_t(r));
    }

    bool run() {
        switch (op.kind) {
        case GMM_STORM_OP_MAP: return map();
        case GMM_STORM_OP_UNMAP: return unmap();
        case GMM_STORM_OP_PROTECT: return protect();
        case GMM_STORM_OP_TOUCH: return touch();
        case GMM_STORM_OP_BARRIER: barrier(); return true;
        case GMM_STORM_OP_SLEEP: sleep(); return true;
        case GMM_STORM_OP_SPAWN: return spawn();
        case GMM_STORM_OP_JOIN: return join();
        default: return true;
        }
    }
};

}  // namespace

uint64_t storm_region_map_flags(uint32_t region) {
    const gmm_storm_region& r = g_storm.view.regions[region];
    return ((r.flags & GMM_STORM_RF_SHARED) ? GMM_MAP_SHARED : GMM_MAP_PRIVATE) |
           ((r.flags & GMM_STORM_RF_FILE) ? 0 : GMM_MAP_ANONYMOUS);
}

uint64_t storm_file_change_begin(uint32_t region) {
    FileMapState& m = g_file_map[region];
    __atomic_add_fetch(&m.changing, 1, __ATOMIC_SEQ_CST);
    const uint64_t token = __atomic_add_fetch(&m.generation, 1, __ATOMIC_SEQ_CST);
    __atomic_store_n(&m.known, 0u, __ATOMIC_SEQ_CST);
    return token;
}

void storm_file_change_end(uint32_t region, uint64_t token, bool mapped, uint64_t offset, uint64_t length,
                           uint32_t file, uint64_t file_offset) {
    FileMapState& m = g_file_map[region];
    // Another change began or ended during this one: which system call ran last
    // is unknown, so nothing is known until the next change alone.
    if (__atomic_load_n(&m.generation, __ATOMIC_SEQ_CST) != token) mapped = false;
    if (mapped) {
        __atomic_store_n(&m.base, storm_region_base(region), __ATOMIC_RELAXED);
        __atomic_store_n(&m.offset, offset, __ATOMIC_RELAXED);
        __atomic_store_n(&m.length, length, __ATOMIC_RELAXED);
        __atomic_store_n(&m.file_offset, file_offset, __ATOMIC_RELAXED);
        __atomic_store_n(&m.file, file, __ATOMIC_RELAXED);
    }
    __atomic_store_n(&m.known, mapped ? 1u : 0u, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&m.generation, 1, __ATOMIC_SEQ_CST);
    __atomic_sub_fetch(&m.changing, 1, __ATOMIC_SEQ_CST);
}

void storm_run_thread(uint32_t index) {
    const StormView& v = g_storm.view;
    const gmm_storm_thread& t = v.threads[index];
    gmm_storm_thread_status& st = g_storm.results->threads[index];
    gmm_storm_op_stats* stats = g_storm.results->stats[index];
    __atomic_store_n(&st.runs, st.runs + 1, __ATOMIC_RELAXED);
    __atomic_store_n(&st.state, uint32_t(GMM_STORM_THREAD_RUNNING), __ATOMIC_RELEASE);
    struct Frame {
        uint32_t begin;
        uint64_t remaining;
    } loops[GMM_STORM_MAX_LOOP_DEPTH];
    uint32_t depth = 0;
    const uint32_t end = t.first_op + t.op_count;
    for (uint32_t pc = t.first_op; pc < end;) {
        const gmm_storm_op& op = v.ops[pc];
        __atomic_store_n(&st.op_index, pc, __ATOMIC_RELAXED);
        __atomic_store_n(&st.progress, st.progress + 1, __ATOMIC_RELAXED);
        if (op.kind == GMM_STORM_OP_LOOP) {  // validated: depth and matching LOOP_END
            loops[depth].begin = pc;
            loops[depth].remaining = op.a;
            ++depth;
            ++pc;
            continue;
        }
        if (op.kind == GMM_STORM_OP_LOOP_END) {
            if (--loops[depth - 1].remaining > 0) {
                pc = loops[depth - 1].begin + 1;
            } else {
                --depth;
                ++pc;
            }
            continue;
        }
        gmm_storm_op_stats& s = stats[op.kind];
        Exec e{index, pc, op, st, s};
        const uint64_t t0 = rdtsc();
        const bool ok = e.run();
        const uint64_t dt = rdtsc() - t0;
        ++s.count;
        s.tsc_total += dt;
        if (dt > s.tsc_max) s.tsc_max = dt;
        __atomic_store_n(&st.ops_done, st.ops_done + 1, __ATOMIC_RELAXED);
        if (!ok && g_storm.stop_on_failure) {
            __atomic_store_n(&st.state, uint32_t(GMM_STORM_THREAD_STOPPED), __ATOMIC_RELEASE);
            return;
        }
        ++pc;
    }
    __atomic_store_n(&st.state, uint32_t(GMM_STORM_THREAD_DONE), __ATOMIC_RELEASE);
}

}  // namespace gmm::user
