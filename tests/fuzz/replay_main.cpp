// The fuzz target without libFuzzer, for CI: every file under the given
// paths (the seed corpus, crash reproducers), then N deterministic
// pseudo-random inputs from a fixed seed, through run_input() (fuzz_input.h,
// the code LLVMFuzzerTestOneInput runs). Fails when the target aborts (a
// crash or a broken property), when one check takes longer than
// --max-seconds (default 5), or when the harness no longer reaches deep: no corpus file,
// no exact check of a clean synthetic state, or too few random states that
// decode down to the leaves. Also runs two hand-made worst cases for the
// decoder's work limits (run_crafted).
//
//   checker-fuzz-replay [--random N] [--seed S] [--max-seconds X] [PATH...]
//   checker-fuzz-replay --write-corpus DIR   (regenerates the seed corpus)
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <unistd.h>

#include "fuzz_input.h"

namespace fs = std::filesystem;
using namespace gmm::check::fuzz;

namespace {

char g_current[512] = "(none)";  // the input being run, for the crash message

void on_crash(int sig) {
    const char head[] = "checker-fuzz-replay: crashed on input ";
    (void)!write(2, head, sizeof head - 1);
    (void)!write(2, g_current, std::strlen(g_current));
    (void)!write(2, "\n", 1);
    std::signal(sig, SIG_DFL);
    std::raise(sig);
}

struct Tally {
    uint64_t inputs = 0, decoded = 0, clean = 0, deep = 0, builds = 0, corrupted = 0, flagged = 0;
    double slowest = 0;
    std::string slowest_name;
    void add(const std::string& name, const Outcome& o, bool build, bool corrupted_build) {
        ++inputs;
        decoded += o.decoded;
        clean += o.clean_build;
        builds += build;
        deep += build && o.stats.tables >= 4 && o.stats.ptes > 0;
        corrupted += corrupted_build;
        flagged += corrupted_build && o.violations > 0;
        if (o.seconds > slowest) {
            slowest = o.seconds;
            slowest_name = name;
        }
    }
};

double g_max_seconds = 5;

// Runs one input; a slow one fails the run right away (a hang would block the rest).
template <typename Run>
Outcome run_named(const std::string& name, Run&& run) {
    std::snprintf(g_current, sizeof g_current, "%s", name.c_str());
    const Outcome o = run();
    if (o.seconds > g_max_seconds) {
        std::fprintf(stderr, "FAIL: one check of %s took %.3f s, more than --max-seconds %.3f\n", name.c_str(),
                     o.seconds, g_max_seconds);
        std::exit(1);
    }
    return o;
}

std::vector<uint8_t> read_file(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// The checked-in seeds: a clean state per policy/knob combination, corrupted
// states, raw images, arbitrary bytes.
int write_corpus(const fs::path& dir) {
    fs::create_directories(dir);
    std::mt19937_64 rng(20261127);
    int n = 0;
    auto save = [&](const std::string& name, const std::vector<uint8_t>& v) {
        char file[96];
        std::snprintf(file, sizeof file, "seed-%02d-%s", n++, name.c_str());
        std::ofstream(dir / file, std::ios::binary).write(reinterpret_cast<const char*>(v.data()), std::streamsize(v.size()));
    };
    const struct {
        const char* name;
        uint8_t flags;
    } configs[] = {
        {"global", 0},
        {"global-percpu-async", kFlagPerCpu | kFlagAsync},
        {"extents", kFlagExtents | kFlagKernelWindow},
        {"extents-percpu-async", kFlagExtents | kFlagPerCpu | kFlagAsync},
        {"extents-hier", kFlagExtents | kFlagHier},
        {"extents-hier-percpu", kFlagExtents | kFlagHier | kFlagPerCpu | kFlagKernelWindow},
    };
    for (const auto& c : configs) {
        for (InputKind kind : {InputKind::CleanBuild, InputKind::CorruptedBuild}) {
            std::vector<uint8_t> v = random_input(rng, kind);
            v[0] = c.flags;
            v[2] = 112;  // 128 pages: every mapping fits
            save(std::string(kind == InputKind::CleanBuild ? "clean-" : "corrupt-") + c.name, v);
        }
    }
    std::vector<uint8_t> raw = random_input(rng, InputKind::RawImage);
    save("raw", raw);
    raw[0] |= kFlagTile;
    save("raw-tiled", raw);
    save("bytes", random_input(rng, InputKind::AnyBytes));
    std::vector<uint8_t> at = random_input(rng, InputKind::CleanBuild);
    at[0] |= kFlagRawRootsGpa;
    for (int i = 0; i < 8; ++i) at[4 + i] = uint8_t(0x1000 >> (8 * i));  // the real roots, named explicitly
    save("roots-gpa", at);
    std::printf("wrote %d seeds to %s\n", n, dir.c_str());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    uint64_t random_count = 0, seed = 1;
    std::vector<fs::path> paths;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        const bool has_value = i + 1 < argc;
        if (a == "--random" && has_value) random_count = std::strtoull(argv[++i], nullptr, 0);
        else if (a == "--seed" && has_value) seed = std::strtoull(argv[++i], nullptr, 0);
        else if (a == "--max-seconds" && has_value) g_max_seconds = std::strtod(argv[++i], nullptr);
        else if (a == "--write-corpus" && has_value) return write_corpus(argv[++i]);
        else if (a.rfind("--", 0) == 0) {
            std::fprintf(stderr, "usage: %s [--random N] [--seed S] [--max-seconds X] [PATH...]\n"
                                 "       %s --write-corpus DIR\n", argv[0], argv[0]);
            return 2;
        } else paths.push_back(a);
    }
    for (int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL}) std::signal(sig, on_crash);

    Tally corpus, random;
    for (const fs::path& p : paths) {
        std::vector<fs::path> files;
        if (fs::is_directory(p)) {
            for (const auto& e : fs::directory_iterator(p))
                if (e.is_regular_file()) files.push_back(e.path());
        } else {
            files.push_back(p);
        }
        std::sort(files.begin(), files.end());
        if (files.empty()) {
            std::fprintf(stderr, "FAIL: no input under %s\n", p.c_str());
            return 1;
        }
        for (const fs::path& f : files) {
            const std::vector<uint8_t> bytes = read_file(f);
            const bool build = !bytes.empty() && !(bytes[0] & kFlagRawImage);
            corpus.add(f.string(), run_named(f.string(), [&] { return run_input(bytes.data(), bytes.size()); }), build,
                       false);
        }
    }

    std::mt19937_64 rng(seed);
    const InputKind kinds[] = {InputKind::CleanBuild, InputKind::CorruptedBuild, InputKind::CorruptedBuild,
                               InputKind::RawImage, InputKind::AnyBytes};
    for (uint64_t i = 0; i < random_count; ++i) {
        const InputKind kind = kinds[i % std::size(kinds)];
        const std::string name = "random #" + std::to_string(i) + " (--seed " + std::to_string(seed) + ")";
        const bool build = kind == InputKind::CleanBuild || kind == InputKind::CorruptedBuild;
        const std::vector<uint8_t> bytes = random_input(rng, kind);
        random.add(name, run_named(name, [&] { return run_input(bytes.data(), bytes.size()); }), build,
                   kind == InputKind::CorruptedBuild);
    }
    const std::pair<const char*, Crafted> crafted[] = {
        {"crafted: one extent list on 100 tables' lists", Crafted::SharedExtentList},
        {"crafted: a frame array larger than RAM", Crafted::FrameArrayLargerThanRam}};
    for (const auto& c : crafted) {
        const Outcome o = run_named(c.first, [&] { return run_crafted(c.second); });
        std::printf("%s: flagged, %.1f ms\n", c.first, o.seconds * 1e3);
    }
    std::snprintf(g_current, sizeof g_current, "(none)");

    auto report = [](const char* what, const Tally& t) {
        std::printf("%s: %llu inputs, %llu decoded, %llu clean states checked exactly, %llu of %llu built states "
                    "decoded to the leaves, %llu of %llu corrupted states flagged; slowest %.1f ms (%s)\n",
                    what, (unsigned long long)t.inputs, (unsigned long long)t.decoded, (unsigned long long)t.clean,
                    (unsigned long long)t.deep, (unsigned long long)t.builds, (unsigned long long)t.flagged,
                    (unsigned long long)t.corrupted, t.slowest * 1e3, t.slowest_name.c_str());
    };
    if (!paths.empty()) report("corpus", corpus);
    if (random_count) report("random", random);

    int failures = 0;
    auto require = [&](bool ok, const std::string& what) {
        if (!ok) {
            std::fprintf(stderr, "FAIL: %s\n", what.c_str());
            ++failures;
        }
    };
    if (!paths.empty()) require(corpus.clean > 0 && corpus.deep > 0, "no corpus input reached the page tables");
    if (random_count >= 50) {
        // Thresholds well below what the harness reaches (see BENCHMARKS.md, "Invariant checker speed").
        require(random.clean > 0, "no clean synthetic state was checked");
        require(random.deep * 2 >= random.builds, "fewer than half of the built states decoded to the leaves");
        require(random.flagged * 4 >= random.corrupted, "fewer than a quarter of the corrupted states were flagged");
    }
    return failures ? 1 : 0;
}
