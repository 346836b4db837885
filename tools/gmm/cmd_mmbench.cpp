// gmm mmbench: the hosted memory-manager benchmark. Host threads drive the
// guestmm library directly with will-it-scale semantics (no VM involved).
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "commands.h"
#include "guestmm/address_space.h"
#include "guestmm/host/host_platform.h"

namespace gmm::cli {

namespace {

using namespace gmm::mm;

enum class Workload { PageFault1, Mmap1, Mixed };

struct Args {
    Workload workload = Workload::PageFault1;
    std::string workload_name = "page_fault1";
    Options mm;
    std::string mm_text;
    unsigned threads = 1;
    double seconds = 5.0;
    uint64_t size_bytes = 128ull << 20;
    uint64_t iterations = 0;  // > 0: fixed operations per thread instead of --seconds
    std::string json;
};

void usage(FILE* out) {
    std::fprintf(out,
                 "usage: gmm mmbench --workload page_fault1|mmap1|mixed --mm POLICY[,knob=value...] --threads N\n"
                 "                   [--seconds S] [--size BYTES[K|M|G]] [--iterations N] [--json FILE]\n\n"
                 "Host threads drive the guestmm memory manager directly (will-it-scale semantics):\n"
                 "  page_fault1  map SIZE anonymous, fault every 4 KiB page for write, unmap; counts faults\n"
                 "  mmap1        map and unmap SIZE anonymous, untouched; counts map+unmap pairs\n"
                 "  mixed        thread 0 runs mmap1, the others page_fault1, each in its own region\n"
                 "POLICY: global | extents[,placement=leaf|hier][,freecache=none|percpu]\n"
                 "Defaults: --seconds 5, --size 128M (per thread). --iterations N runs N operations per\n"
                 "thread (map+unmap pairs, or whole page_fault1 rounds) instead of a time limit, for\n"
                 "deterministic instruction counts under callgrind.\n"
                 "JSON keys: workload, mm, threads, ops_per_sec, per_thread, per_thread_workload, seconds,\n"
                 "size_bytes, counters.\n");
}

bool parse_size(const char* s, uint64_t* out) {
    char* end = nullptr;
    unsigned long long v = std::strtoull(s, &end, 10);
    if (end == s) return false;
    uint64_t mul = 1;
    if (*end == 'K' || *end == 'k') mul = 1ull << 10, ++end;
    else if (*end == 'M' || *end == 'm') mul = 1ull << 20, ++end;
    else if (*end == 'G' || *end == 'g') mul = 1ull << 30, ++end;
    if (*end || v == 0 || v > (1ull << 46) / mul) return false;
    *out = v * mul;
    return true;
}

int bad(const char* what, const char* value, const char* accepted) {
    std::fprintf(stderr, "gmm mmbench: bad %s '%s' (accepted: %s)\n", what, value, accepted);
    return kExitUsage;
}

int parse_args(int argc, char** argv, Args& a) {
    bool have_mm = false;
    for (int i = 1; i < argc; ++i) {
        std::string k = argv[i];
        if (k == "--help" || k == "-h") {
            usage(stdout);
            return -1;
        }
        if (i + 1 >= argc) return bad("option", k.c_str(), "--workload --mm --threads --seconds --size --iterations --json, each with a value");
        const char* v = argv[++i];
        if (k == "--workload") {
            a.workload_name = v;
            if (!std::strcmp(v, "page_fault1")) a.workload = Workload::PageFault1;
            else if (!std::strcmp(v, "mmap1")) a.workload = Workload::Mmap1;
            else if (!std::strcmp(v, "mixed")) a.workload = Workload::Mixed;
            else return bad("workload", v, "page_fault1, mmap1, mixed");
        } else if (k == "--mm") {
            ParseError e{};
            if (!parse_options(v, &a.mm, &e)) {
                std::string part(e.text, e.length);
                std::fprintf(stderr,
                             "gmm mmbench: bad --mm %s '%s' in '%s' (accepted: global | "
                             "extents[,placement=leaf|hier][,freecache=none|percpu])\n",
                             e.what, part.c_str(), v);
                return kExitUsage;
            }
            char buf[96];
            format_options(a.mm, buf, sizeof buf);
            a.mm_text = buf;
            have_mm = true;
        } else if (k == "--threads") {
            char* end = nullptr;
            long n = std::strtol(v, &end, 10);
            if (*end || n < 1 || n > long(kMaxCpus)) return bad("--threads", v, "an integer 1..64");
            a.threads = unsigned(n);
        } else if (k == "--seconds") {
            char* end = nullptr;
            a.seconds = std::strtod(v, &end);
            if (*end || !(a.seconds > 0) || a.seconds > 3600) return bad("--seconds", v, "a number in (0, 3600]");
        } else if (k == "--size") {
            if (!parse_size(v, &a.size_bytes) || a.size_bytes % 4096) return bad("--size", v, "bytes, multiple of 4096, optional K/M/G suffix");
        } else if (k == "--iterations") {
            char* end = nullptr;
            a.iterations = std::strtoull(v, &end, 10);
            if (*end || a.iterations == 0) return bad("--iterations", v, "a positive integer");
        } else if (k == "--json") {
            a.json = v;
        } else {
            return bad("option", k.c_str(), "--workload --mm --threads --seconds --size --iterations --json --help");
        }
    }
    if (!have_mm) return bad("--mm", "(missing)", "global | extents[,placement=leaf|hier][,freecache=none|percpu]");
    if (a.workload == Workload::Mixed && a.threads < 2) return bad("--threads", "1", "at least 2 for mixed");
    return 0;
}

struct alignas(64) ThreadStat {
    std::atomic<uint64_t> ops{0};
    Workload role = Workload::PageFault1;
    bool failed = false;
};

// One will-it-scale round; returns false on an unexpected library error.
// Stops early (after unmapping) once `stop` is set, so a round over a large
// size cannot overrun the measurement much.
bool page_fault1_round(AddressSpace& as, uint64_t size, ThreadStat& st, const std::atomic<bool>& stop) {
    auto r = as.map(Gva(0), size, Prot::Read | Prot::Write, MapFlags::Private);
    if (!r.ok()) return false;
    for (uint64_t off = 0; off < size; off += 4096) {
        if (as.fault(r->plus(off), Access::Write).kind != FaultKind::Installed) return false;
        st.ops.fetch_add(1, std::memory_order_relaxed);
        if ((off & 0x3fffff) == 0 && stop.load(std::memory_order_relaxed)) break;
    }
    return as.unmap(*r, size).ok();
}

bool mmap1_round(AddressSpace& as, uint64_t size, ThreadStat& st) {
    auto r = as.map(Gva(0), size, Prot::Read | Prot::Write, MapFlags::Private);
    if (!r.ok() || !as.unmap(*r, size).ok()) return false;
    st.ops.fetch_add(1, std::memory_order_relaxed);
    return true;
}

}  // namespace

int cmd_mmbench(int argc, char** argv) {
    Args a;
    if (int rc = parse_args(argc, argv, a); rc != 0) return rc < 0 ? kExitOk : rc;

    HostPlatform platform;
    AddressSpace as;
    if (!as.init(platform, a.mm).ok()) {
        std::fprintf(stderr, "gmm mmbench: cannot create the address space\n");
        return 1;
    }
    std::vector<ThreadStat> stats(a.threads);
    std::atomic<bool> stop{false};
    std::atomic<unsigned> ready{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    // Generous: the main thread normally stops the workers at a.seconds.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(a.seconds * 2 + 5);
    for (unsigned t = 0; t < a.threads; ++t) {
        stats[t].role = a.workload == Workload::Mixed ? (t == 0 ? Workload::Mmap1 : Workload::PageFault1) : a.workload;
        threads.emplace_back([&, t] {
            ThreadStat& st = stats[t];
            ready.fetch_add(1);
            while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
            for (uint64_t n = 0; !stop.load(std::memory_order_relaxed); ++n) {
                if (a.iterations && n >= a.iterations) break;
                // Workers also watch the clock: the run ends even if the main
                // thread cannot get a CPU (e.g. under a real-time policy).
                if (!a.iterations && (n & 15) == 0 && std::chrono::steady_clock::now() > deadline) break;
                bool ok = st.role == Workload::Mmap1 ? mmap1_round(as, a.size_bytes, st)
                                                     : page_fault1_round(as, a.size_bytes, st, stop);
                if (!ok) {
                    st.failed = true;
                    break;
                }
            }
        });
    }
    while (ready.load() != a.threads) std::this_thread::yield();
    auto t0 = std::chrono::steady_clock::now();
    go.store(true, std::memory_order_release);
    if (!a.iterations) {
        std::this_thread::sleep_for(std::chrono::duration<double>(a.seconds));
        stop.store(true);
    }
    std::vector<uint64_t> at_stop(a.threads);
    for (unsigned t = 0; t < a.threads; ++t) at_stop[t] = stats[t].ops.load();
    auto t1 = std::chrono::steady_clock::now();
    for (auto& th : threads) th.join();
    if (a.iterations) {
        t1 = std::chrono::steady_clock::now();
        for (unsigned t = 0; t < a.threads; ++t) at_stop[t] = stats[t].ops.load();
    }
    double secs = std::chrono::duration<double>(t1 - t0).count();
    bool failed = false;
    for (auto& st : stats) failed = failed || st.failed;

    double total = 0;
    std::vector<double> per(a.threads);
    for (unsigned t = 0; t < a.threads; ++t) total += per[t] = double(at_stop[t]) / secs;
    std::printf("mmbench workload=%s mm=%s threads=%u size=%llu seconds=%.2f ops_per_sec=%.0f per_thread=[",
                a.workload_name.c_str(), a.mm_text.c_str(), a.threads, (unsigned long long)a.size_bytes, secs, total);
    for (unsigned t = 0; t < a.threads; ++t) std::printf("%s%.0f", t ? "," : "", per[t]);
    std::printf("]\n");

    if (!a.json.empty()) {
        const bool to_stdout = a.json == "-";  // "-" means standard output, as in gmm run
        FILE* f = to_stdout ? stdout : std::fopen(a.json.c_str(), "w");
        if (!f) {
            std::fprintf(stderr, "gmm mmbench: cannot write --json '%s': %s\n", a.json.c_str(), std::strerror(errno));
            as.destroy();
            return 1;
        }
        std::fprintf(f, "{\"workload\": \"%s\", \"mm\": \"%s\", \"threads\": %u, \"ops_per_sec\": %.1f, \"per_thread\": [",
                     a.workload_name.c_str(), a.mm_text.c_str(), a.threads, total);
        for (unsigned t = 0; t < a.threads; ++t) std::fprintf(f, "%s%.1f", t ? ", " : "", per[t]);
        std::fprintf(f, "], \"per_thread_workload\": [");
        for (unsigned t = 0; t < a.threads; ++t)
            std::fprintf(f, "%s\"%s\"", t ? ", " : "", stats[t].role == Workload::Mmap1 ? "mmap1" : "page_fault1");
        std::fprintf(f, "], \"seconds\": %.3f, \"size_bytes\": %llu, \"counters\": {", secs,
                     (unsigned long long)a.size_bytes);
        for (uint32_t c = 0; c < uint32_t(Counter::Count); ++c)
            std::fprintf(f, "%s\"%s\": %lld", c ? ", " : "", counter_name(Counter(c)),
                         (long long)as.counter(Counter(c)));
        std::fprintf(f, "}}\n");
        if (!to_stdout) std::fclose(f);
    }
    as.destroy();
    if (failed) {
        std::fprintf(stderr, "gmm mmbench: a worker hit an unexpected library error\n");
        return 1;
    }
    return kExitOk;
}

}  // namespace gmm::cli
