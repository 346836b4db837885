// Host time of one invariant check, without KVM (issue 6 target: "checking a
// 1 GiB guest with 256 MiB mapped takes under 200 ms of host time"):
//
//  hosted   a real guestmm address space (HostPlatform) with MAPPED bytes
//           mapped and every page faulted for write, read through HostedView.
//           Hosted "physical" addresses are host addresses, so there is no
//           frame metadata: the frames pass (I4 over gmm_frame_meta) is NOT
//           in these figures.
//  synth    a RAM-byte guest image at GPA 0 read through VmRamView (the path
//           `gmm check` takes on a live VM) holding a consistent state built
//           by tests/fuzz/synth_guest.h: MAPPED bytes in one mapping, every
//           page faulted, and one gmm_frame_meta record per page of RAM.
//           Measured with the frame array ("synth") and with the roots saying
//           there is none ("synth-noframes"): the difference is the frames pass.
//
// Each case: one warm-up check, then --runs checks; medians of wall and
// thread-CPU time per check. Exits 1 if any check reports a violation.
//   checker-speed [--runs N] [--mapped MiB] [--ram MiB] [--json FILE]
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "checker.h"
#include "guestmm/address_space.h"
#include "guestmm/host/host_platform.h"
#include "synth_guest.h"

using namespace gmm;
using namespace gmm::check;

namespace {

constexpr uint64_t kMiB = 1ull << 20;

struct Case {
    std::string name;
    std::vector<double> wall_ms, cpu_ms;
    CheckStats stats;
    uint64_t violations = 0;
};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

double thread_cpu_ms() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

Case measure(const std::string& name, const CheckInput& in, int runs) {
    Case c;
    c.name = name;
    for (int i = -1; i < runs; ++i) {  // run -1: warm-up
        const double cpu0 = thread_cpu_ms();
        const auto t0 = std::chrono::steady_clock::now();
        auto r = check_mm(in);
        const double wall = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        const double cpu = thread_cpu_ms() - cpu0;
        if (!r.ok()) {
            std::fprintf(stderr, "%s: check refused: %s\n", name.c_str(), r.error().c_str());
            std::exit(1);
        }
        c.stats = r->stats;
        c.violations = r->violations.size() + r->violations_dropped;
        for (size_t k = 0; k < r->violations.size() && k < 5; ++k)
            std::fprintf(stderr, "%s: %s: %s\n", name.c_str(), r->violations[k].invariant.c_str(),
                         r->violations[k].detail.c_str());
        if (i >= 0) {
            c.wall_ms.push_back(wall);
            c.cpu_ms.push_back(cpu);
        }
    }
    return c;
}

// A hosted guestmm address space: map `mapped` bytes, fault every page for write.
Case hosted_case(const char* spec, uint64_t mapped, int runs) {
    mm::HostPlatform platform;
    auto as = std::make_unique<mm::AddressSpace>();
    mm::Options opts;
    mm::ParseError err{};
    if (!mm::parse_options(spec, &opts, &err) || !as->init(platform, opts).ok()) {
        std::fprintf(stderr, "cannot create a '%s' address space\n", spec);
        std::exit(1);
    }
    auto base = as->map(Gva(0), mapped, mm::Prot::Read | mm::Prot::Write, mm::MapFlags::Private);
    if (!base.ok()) {
        std::fprintf(stderr, "%s: map of %llu bytes failed\n", spec, (unsigned long long)mapped);
        std::exit(1);
    }
    for (uint64_t off = 0; off < mapped; off += synth::kPage)
        if (as->fault(Gva(base->value() + off), mm::Access::Write).kind != mm::FaultKind::Installed) {
            std::fprintf(stderr, "%s: fault at +0x%llx failed\n", spec, (unsigned long long)off);
            std::exit(1);
        }
    gmm_mm_roots roots{};
    gmm_safepoint safepoint{};
    as->describe(roots);
    roots.magic = GMM_MM_ROOTS_MAGIC;
    roots.version = GMM_MMSTATE_ABI_VERSION;
    roots.size_bytes = sizeof roots;
    roots.cpu_count = 1;
    roots.safepoint_gpa = uint64_t(&safepoint);
    std::vector<RamRegion> regions;
    for (auto [p, n] : platform.arenas()) regions.push_back({uint64_t(p), n, p});
    auto add = [&](const void* p, uint64_t n) { regions.push_back({uint64_t(p), n, static_cast<const uint8_t*>(p)}); };
    add(as.get(), sizeof *as);
    add(&roots, sizeof roots);
    add(&safepoint, sizeof safepoint);
    HostedView view(regions);
    Case c = measure(std::string("hosted ") + spec, CheckInput{&view, uint64_t(&roots), CheckMode::Safepoint, 1}, runs);
    as->destroy();
    return c;
}

// The synthetic VM image: `ram` bytes of guest RAM, `mapped` bytes mapped at 1 GiB.
std::vector<Case> synth_cases(const char* label, uint32_t policy, uint32_t placement, uint64_t ram, uint64_t mapped,
                              int runs) {
    void* m = mmap(nullptr, ram, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) {
        std::perror("mmap");
        std::exit(1);
    }
    auto* image = static_cast<uint8_t*>(m);
    synth::GuestSpec spec;
    spec.policy = policy;
    spec.placement = placement;
    spec.cpus = 2;
    synth::MappingSpec map;
    map.start = 1ull << 30;
    map.length = mapped;
    spec.mappings.push_back(map);
    const synth::BuiltGuest built = synth::build_guest(image, ram / synth::kPage, spec);
    if (built.mappings_built != 1) {
        std::fprintf(stderr, "synth %s: %llu MiB of RAM cannot hold %llu MiB mapped\n", label,
                     (unsigned long long)(ram / kMiB), (unsigned long long)(mapped / kMiB));
        std::exit(1);
    }
    VmRamView view({{0, ram, image}});
    const CheckInput in{&view, built.roots_gpa, CheckMode::Safepoint, 2};
    std::vector<Case> out;
    out.push_back(measure(std::string("synth ") + label, in, runs));
    gmm_mm_roots roots;
    std::memcpy(&roots, image + built.roots_gpa, sizeof roots);
    roots.frames_meta_count = 0;  // "no frame metadata": the frames pass is skipped
    std::memcpy(image + built.roots_gpa, &roots, sizeof roots);
    out.push_back(measure(std::string("synth-noframes ") + label, in, runs));
    munmap(m, ram);
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    int runs = 11;
    uint64_t mapped = 256 * kMiB, ram = 1024 * kMiB;
    const char* json = nullptr;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--runs" && i + 1 < argc) runs = std::max(1, std::atoi(argv[++i]));
        else if (a == "--mapped" && i + 1 < argc) mapped = std::strtoull(argv[++i], nullptr, 0) * kMiB;
        else if (a == "--ram" && i + 1 < argc) ram = std::strtoull(argv[++i], nullptr, 0) * kMiB;
        else if (a == "--json" && i + 1 < argc) json = argv[++i];
        else {
            std::fprintf(stderr, "usage: %s [--runs N] [--mapped MiB] [--ram MiB] [--json FILE]\n", argv[0]);
            return 2;
        }
    }
    std::vector<Case> cases;
    for (const char* spec : {"global", "extents", "extents,placement=hier"}) cases.push_back(hosted_case(spec, mapped, runs));
    const struct {
        const char* label;
        uint32_t policy, placement;
    } synth[] = {{"global", GMM_MM_POLICY_GLOBAL, GMM_MM_PLACEMENT_LEAF},
                 {"extents", GMM_MM_POLICY_EXTENTS, GMM_MM_PLACEMENT_LEAF},
                 {"extents,placement=hier", GMM_MM_POLICY_EXTENTS, GMM_MM_PLACEMENT_HIER}};
    for (const auto& s : synth)
        for (Case& c : synth_cases(s.label, s.policy, s.placement, ram, mapped, runs)) cases.push_back(std::move(c));

    std::printf("# check_mm host time per check: %d runs after a warm-up, %llu MiB mapped and faulted; synth: %llu "
                "MiB guest RAM\n",
                runs, (unsigned long long)(mapped / kMiB), (unsigned long long)(ram / kMiB));
    std::printf("%-38s %9s %9s %9s %9s %7s %8s %8s %6s %8s %5s\n", "case", "wall_ms", "cpu_ms", "min_ms", "max_ms",
                "tables", "ptes", "mappings", "free", "frames", "viol");
    uint64_t violations = 0;
    for (const Case& c : cases) {
        std::printf("%-38s %9.2f %9.2f %9.2f %9.2f %7llu %8llu %8llu %6llu %8llu %5llu\n", c.name.c_str(),
                    median(c.wall_ms), median(c.cpu_ms), *std::min_element(c.wall_ms.begin(), c.wall_ms.end()),
                    *std::max_element(c.wall_ms.begin(), c.wall_ms.end()), (unsigned long long)c.stats.tables,
                    (unsigned long long)c.stats.ptes, (unsigned long long)c.stats.mappings,
                    (unsigned long long)c.stats.free_ranges, (unsigned long long)c.stats.frames,
                    (unsigned long long)c.violations);
        violations += c.violations;
    }
    if (json) {
        FILE* f = std::fopen(json, "w");
        if (!f) {
            std::perror(json);
            return 1;
        }
        std::fprintf(f, "{\"runs\": %d, \"mapped_bytes\": %llu, \"synth_ram_bytes\": %llu, \"cases\": [", runs,
                     (unsigned long long)mapped, (unsigned long long)ram);
        for (size_t i = 0; i < cases.size(); ++i) {
            const Case& c = cases[i];
            std::fprintf(f,
                         "%s\n  {\"case\": \"%s\", \"wall_ms_median\": %.3f, \"cpu_ms_median\": %.3f, \"tables\": %llu, "
                         "\"ptes\": %llu, \"mappings\": %llu, \"free_ranges\": %llu, \"frames\": %llu, "
                         "\"violations\": %llu}",
                         i ? "," : "", c.name.c_str(), median(c.wall_ms), median(c.cpu_ms),
                         (unsigned long long)c.stats.tables, (unsigned long long)c.stats.ptes,
                         (unsigned long long)c.stats.mappings, (unsigned long long)c.stats.free_ranges,
                         (unsigned long long)c.stats.frames, (unsigned long long)c.violations);
        }
        std::fprintf(f, "\n]}\n");
        std::fclose(f);
    }
    return violations ? 1 : 0;
}
