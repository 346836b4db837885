// The storm compiler's only source of randomness: xoshiro256** seeded through
// splitmix64 from --seed. Same seed, same sequence, on every host.
#pragma once

#include <cstdint>

namespace gmm::storm {

constexpr uint64_t splitmix64(uint64_t& state) {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// A value derived from (seed, a, b) without touching any generator's state.
constexpr uint64_t mix_seed(uint64_t seed, uint64_t a, uint64_t b) {
    uint64_t s = seed ^ (a * 0xd1b54a32d192ed03ull) ^ (b * 0x8cb92ba72f3d8dd7ull);
    splitmix64(s);
    return splitmix64(s);
}

class Rng {
public:
    explicit Rng(uint64_t seed) { reseed(seed); }
    void reseed(uint64_t seed) {
        uint64_t s = seed;
        for (uint64_t& w : s_) w = splitmix64(s);
    }
    uint64_t next() {
        const uint64_t result = rotl(s_[1] * 5, 7) * 9;
        const uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }
    // Uniform in [0, bound] (inclusive), by rejection: no modulo bias.
    uint64_t below_or_equal(uint64_t bound) {
        if (bound == ~0ull) return next();
        uint64_t mask = bound;
        for (int shift = 1; shift < 64; shift <<= 1) mask |= mask >> shift;
        for (;;) {
            const uint64_t v = next() & mask;
            if (v <= bound) return v;
        }
    }
    double unit() { return double(next() >> 11) * 0x1.0p-53; }  // [0, 1)

private:
    static constexpr uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    uint64_t s_[4];
};

}  // namespace gmm::storm
