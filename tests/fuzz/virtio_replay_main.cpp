// The virtio fuzz target without libFuzzer, for every build: the files under
// the given paths, then N pseudo-random inputs from a fixed seed, half of
// them shaped like real requests (plausible addresses, chains, headers) so
// the execution paths are reached, not only the parser's refusals.
//   virtio-fuzz-replay [--random N] [--seed S] [PATH...]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "gmm/abi/virtio.h"
#include "virtio_fuzz_input.h"

namespace fs = std::filesystem;
using gmm::vmm::virtio::fuzz::run_input;

namespace {

// A queue of 8 entries whose avail ring names 3-descriptor requests with
// mostly-valid fields, then randomly damaged bytes.
std::vector<uint8_t> shaped_input(std::mt19937_64& rng) {
    const uint32_t qsize = 8;
    std::vector<uint8_t> in(2 + 16 * qsize + 4 + 2 * qsize + 512, 0);
    in[0] = 3;
    in[1] = uint8_t(rng() % 64);
    auto put = [&](size_t off, const void* p, size_t n) { std::memcpy(in.data() + off, p, n); };
    const uint64_t buffers = 0x10000;
    for (uint32_t r = 0; r < 2; ++r) {
        const uint16_t base = uint16_t(3 * r);
        virtq_desc d[3] = {
            {buffers + 64 * r, 16, VIRTQ_DESC_F_NEXT, uint16_t(base + 1)},
            {0x20000 + 0x1000 * r, uint32_t(512 * (1 + rng() % 8)), uint16_t(VIRTQ_DESC_F_NEXT | (rng() % 2 ? VIRTQ_DESC_F_WRITE : 0)), uint16_t(base + 2)},
            {buffers + 256 + r, 1, VIRTQ_DESC_F_WRITE, 0}};
        put(2 + 16 * base, d, sizeof d);
        const virtio_blk_req_hdr h{uint32_t(rng() % 3 == 0 ? rng() % 10 : rng() % 2), 0, rng() % 160};
        put(2 + 16 * qsize + 4 + 2 * qsize + 64 * r, &h, sizeof h);
        put(2 + 16 * qsize + 4 + 2 * r, &base, 2);
    }
    const uint16_t idx = 2;
    put(2 + 16 * qsize + 2, &idx, 2);
    const uint32_t damage = rng() % 4;
    for (uint32_t i = 0; i < damage; ++i) in[rng() % in.size()] ^= uint8_t(1u << (rng() % 8));
    return in;
}

}  // namespace

int main(int argc, char** argv) {
    uint64_t random_inputs = 0, seed = 1;
    std::vector<std::string> paths;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--random") && i + 1 < argc) random_inputs = std::strtoull(argv[++i], nullptr, 10);
        else if (!std::strcmp(argv[i], "--seed") && i + 1 < argc) seed = std::strtoull(argv[++i], nullptr, 10);
        else paths.push_back(argv[i]);
    }
    uint64_t files = 0;
    for (const std::string& p : paths) {
        std::vector<fs::path> list;
        if (fs::is_directory(p)) {
            for (const auto& e : fs::recursive_directory_iterator(p))
                if (e.is_regular_file()) list.push_back(e.path());
        } else {
            list.push_back(p);
        }
        for (const fs::path& f : list) {
            std::ifstream in(f, std::ios::binary);
            std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
            run_input(bytes.data(), bytes.size());
            ++files;
        }
    }
    std::mt19937_64 rng(seed);
    for (uint64_t i = 0; i < random_inputs; ++i) {
        std::vector<uint8_t> in;
        if (i % 2) {
            in = shaped_input(rng);
        } else {
            in.resize(rng() % 4096);
            for (auto& b : in) b = uint8_t(rng());
        }
        run_input(in.data(), in.size());
    }
    std::printf("virtio-fuzz-replay: %llu files, %llu random inputs, no property broken\n",
                static_cast<unsigned long long>(files), static_cast<unsigned long long>(random_inputs));
    return 0;
}
