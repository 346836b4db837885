// gmm mmbench: the hosted memory-manager benchmark. Host threads drive the
// guestmm library directly with will-it-scale and mapbench semantics (no VM
// involved); the loops live in bench_patterns.h, shared with gmm native.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bench_host_args.h"
#include "bench_host_report.h"
#include "commands.h"
#include "guestmm/address_space.h"
#include "guestmm/host/host_platform.h"

namespace gmm::cli {

namespace {

using namespace gmm::mm;

// The guestmm address space as a bench Space: a touch is a write fault.
class HostedSpace {
public:
    explicit HostedSpace(AddressSpace& as) : as_(as) {}
    uint64_t map(uint64_t size, bench::Backing, uint64_t fixed) {
        auto r = as_.map(Gva(fixed), size, Prot::Read | Prot::Write,
                         fixed ? MapFlags::Private | MapFlags::Fixed : MapFlags::Private);
        return r.ok() ? r->value() : 0;
    }
    bool unmap(uint64_t addr, uint64_t size) { return as_.unmap(Gva(addr), size).ok(); }
    bool touch(uint64_t addr) { return as_.fault(Gva(addr), Access::Write).kind == FaultKind::Installed; }

private:
    AddressSpace& as_;
};

void usage(FILE* out);

// File-backed workloads need a backing object in the hosted harness: not yet.
std::vector<const char*> hosted_workloads() {
    std::vector<const char*> out;
    for (const bench::PatternSpec& s : bench::kPatternWorkloads)
        if (bench::hosted_supports(s)) out.push_back(s.name);
    return out;
}

const bench::HostBenchTool kTool = {"mmbench", true, hosted_workloads(), usage};

void usage(FILE* out) {
    std::fprintf(out,
                 "usage: gmm mmbench --workload NAME --mm POLICY --threads N\n"
                 "                   [--seconds S] [--size BYTES[K|M|G]] [--iterations N] [--json FILE]\n"
                 "       gmm mmbench --list-workloads\n\n"
                 "Host threads drive the guestmm memory manager directly:\n"
                 "  page_fault1        map SIZE anonymous, fault every 4 KiB page for write, unmap; ops = faults\n"
                 "  mmap1              map and unmap SIZE anonymous, untouched; ops = map+unmap pairs\n"
                 "  mixed              thread 0 runs mmap1, the others page_fault1, each in its own region\n"
                 "  mapbench_local     RadixVM mapbench local: map, touch, unmap a region of one's own\n"
                 "  mapbench_pipeline  map + touch a region, hand it to the next thread, which touches and unmaps it\n"
                 "  mapbench_global    each round every thread maps a slice, all touch every slice, each unmaps its own\n"
                 "  (mapbench ops = pages touched)\n"
                 "NAME: %s\n"
                 "POLICY: global | extents[,placement=leaf|hier][,freecache=global|percpu] (freecache=none = global)\n"
                 "Defaults: --seconds 5, --size 128M (per thread). --iterations N runs N rounds per thread\n"
                 "(map+unmap pairs, or whole map/touch/unmap rounds) instead of a time limit, for deterministic\n"
                 "instruction counts under callgrind.\n"
                 "JSON keys: tool, workload, mm, threads, ops_total, ops_per_sec, per_thread, per_thread_ops,\n"
                 "per_thread_workload, seconds, size_bytes, counters, failed.\n",
                 bench::joined_workloads(kTool, ", ").c_str());
}

}  // namespace

int cmd_mmbench(int argc, char** argv) {
    bench::HostBenchArgs a;
    if (int rc = bench::parse_host_bench_args(kTool, argc, argv, a); rc != 0) return rc < 0 ? kExitOk : rc;
    // gmm run spells the global free-space tree "freecache=global"; guestmm calls it "none".
    std::string mm_text = a.mm_text;
    for (size_t at; (at = mm_text.find("freecache=global")) != std::string::npos;)
        mm_text.replace(at, 16, "freecache=none");
    Options mm;
    ParseError e{};
    if (!parse_options(mm_text.c_str(), &mm, &e)) {
        std::fprintf(stderr,
                     "gmm mmbench: bad --mm %s '%.*s' in '%s' (accepted: global | "
                     "extents[,placement=leaf|hier][,freecache=global|percpu])\n",
                     e.what, int(e.length), e.text, a.mm_text.c_str());
        return kExitUsage;
    }
    char canonical[96];
    format_options(mm, canonical, sizeof canonical);

    HostPlatform platform;
    AddressSpace as;
    if (!as.init(platform, mm).ok()) {
        std::fprintf(stderr, "gmm mmbench: cannot create the address space\n");
        return kExitHostError;
    }
    HostedSpace space(as);
    bench::DriveConfig cfg{a.spec->pattern, a.spec->backing, a.threads, a.size_bytes, a.rounds, a.seconds};
    bench::HostBenchReport rep{"mmbench", a.spec->name, canonical, "", a.size_bytes, {}, {}};
    rep.result = bench::PatternDriver<HostedSpace>(space, cfg).run();
    for (uint32_t c = 0; c < uint32_t(Counter::Count); ++c)
        rep.counters.emplace_back(counter_name(Counter(c)), as.counter(Counter(c)));
    bench::print_host_report_line(rep);
    as.destroy();
    if (!a.json.empty() && !bench::write_text_file(a.json, bench::host_report_json(rep))) {
        std::fprintf(stderr, "gmm mmbench: cannot write --json '%s': %s\n", a.json.c_str(), std::strerror(errno));
        return kExitHostError;
    }
    if (rep.result.failed) {
        std::fprintf(stderr, "gmm mmbench: a worker hit an unexpected library error\n");
        return kExitHostError;
    }
    return kExitOk;
}

}  // namespace gmm::cli
