// gmm native: the Linux-native reference. The same workloads as gmm mmbench
// and the guest (bench_patterns.h), as real threads of this process on this
// machine's kernel: anonymous memory from mmap, file-backed workloads on a
// per-thread memfd (shmem, like will-it-scale's file in a tmpfs /tmp).
#include <sys/mman.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "bench_host_args.h"
#include "bench_host_report.h"
#include "commands.h"

namespace gmm::cli {

namespace {

// This process's own address space as a bench Space.
class NativeSpace {
public:
    explicit NativeSpace(uint64_t size_bytes) : size_(size_bytes) {}
    ~NativeSpace() {
        for (int fd : fds_) ::close(fd);
    }
    uint64_t map(uint64_t size, bench::Backing b, uint64_t fixed) {
        void* want = reinterpret_cast<void*>(fixed);
        // NOREPLACE: a fixed range taken by anything else fails the run instead of clobbering it.
        const int place = fixed ? MAP_FIXED_NOREPLACE : 0;
        void* p = MAP_FAILED;
        if (b == bench::Backing::Anon) {
            p = ::mmap(want, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | place, -1, 0);
        } else {
            const int fd = thread_file();
            if (fd < 0) return 0;
            p = ::mmap(want, size, PROT_READ | PROT_WRITE,
                       (b == bench::Backing::FileShared ? MAP_SHARED : MAP_PRIVATE) | place, fd, 0);
        }
        if (p != MAP_FAILED && fixed && p != want) {  // kernels before 4.17 treat NOREPLACE as a hint
            ::munmap(p, size);
            return 0;
        }
        return p == MAP_FAILED ? 0 : reinterpret_cast<uint64_t>(p);
    }
    bool unmap(uint64_t addr, uint64_t size) { return ::munmap(reinterpret_cast<void*>(addr), size) == 0; }
    bool touch(uint64_t addr) {
        *reinterpret_cast<volatile char*>(addr) = 1;
        return true;
    }

private:
    // One file per thread, as will-it-scale's page_fault2/3 and mmap2.
    int thread_file() {
        thread_local int fd = -1;
        thread_local const NativeSpace* owner = nullptr;
        if (owner == this && fd >= 0) return fd;
        fd = ::memfd_create("gmm-native", MFD_CLOEXEC);
        if (fd < 0) return -1;
        if (::ftruncate(fd, off_t(size_)) != 0) {
            ::close(fd);
            return fd = -1;
        }
        owner = this;
        std::lock_guard<std::mutex> l(m_);
        fds_.push_back(fd);
        return fd;
    }

    uint64_t size_;
    std::mutex m_;
    std::vector<int> fds_;
};

void usage(FILE* out);

const bench::HostBenchTool kTool = {"native", false,
                                    {"page_fault1", "page_fault2", "page_fault3", "mmap1", "mmap2", "mixed",
                                     "mapbench_local", "mapbench_pipeline", "mapbench_global"},
                                    usage};

void usage(FILE* out) {
    std::fprintf(out,
                 "usage: gmm native --workload NAME --threads N [--seconds S] [--size BYTES[K|M|G]]\n"
                 "                  [--iterations N] [--json FILE]\n"
                 "       gmm native --list-workloads\n\n"
                 "The Linux-native reference: the suite's workloads as threads of this process on this\n"
                 "machine's kernel, will-it-scale semantics (threads share one mm, SIZE per thread):\n"
                 "  page_fault1/2/3  map SIZE (anonymous / private file / shared file), write one byte per\n"
                 "                   4 KiB page, unmap; ops = faults\n"
                 "  mmap1/2          map and unmap SIZE (anonymous / private file) untouched; ops = pairs\n"
                 "  mixed            thread 0 runs mmap1 while the others run page_fault1\n"
                 "  mapbench_local|mapbench_pipeline|mapbench_global  RadixVM's mapbench (see gmm mmbench --help)\n"
                 "Files are per-thread memfds (shmem). NAME: %s\n"
                 "Defaults: --seconds 5, --size 128M. JSON keys as gmm mmbench, mm \"linux\", plus kernel.\n",
                 bench::joined_workloads(kTool, ", ").c_str());
}

}  // namespace

int cmd_native(int argc, char** argv) {
    bench::HostBenchArgs a;
    if (int rc = bench::parse_host_bench_args(kTool, argc, argv, a); rc != 0) return rc < 0 ? kExitOk : rc;
    utsname u{};
    ::uname(&u);
    NativeSpace space(a.size_bytes);
    bench::DriveConfig cfg{a.spec->pattern, a.spec->backing, a.threads, a.size_bytes, a.rounds, a.seconds};
    bench::HostBenchReport rep{"native", a.spec->name, "linux", u.release, a.size_bytes, {}, {}};
    rep.result = bench::PatternDriver<NativeSpace>(space, cfg).run();
    bench::print_host_report_line(rep);
    if (!a.json.empty() && !bench::write_text_file(a.json, bench::host_report_json(rep))) {
        std::fprintf(stderr, "gmm native: cannot write --json '%s': %s\n", a.json.c_str(), std::strerror(errno));
        return kExitHostError;
    }
    if (rep.result.failed) {
        std::fprintf(stderr, "gmm native: mmap or munmap failed: %s\n", std::strerror(errno));
        return kExitHostError;
    }
    return kExitOk;
}

}  // namespace gmm::cli
