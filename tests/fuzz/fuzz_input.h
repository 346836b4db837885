// One fuzz input -> a guest-RAM image -> check_mm and walk_gva, with the
// properties every check must keep (no crash, no read outside the image, no
// write to it, bounded results, determinism, and an exact clean result on an
// uncorrupted synthetic state). Shared by the libFuzzer target and the
// replay driver.
//
// Input layout (little-endian):
//   [0]       flags (kFlag*)
//   [1]       vCPUs the host claims (any value)
//   [2]       image size: 16 + byte % 241 pages (64 KiB .. 1 MiB), one region at GPA 0
//   [3]       builder mode: mappings to decode (byte % 9)
//   [4..12)   the roots GPA, with kFlagRawRootsGpa (else synth::kRootsGpa)
//   [12..16)  a page number for walk_gva
// then, builder mode: kMappingBytes per mapping for a consistent synthetic
// state (synth_guest.h), then corruption patches to the end of the input;
// raw mode (kFlagRawImage): the image itself from GPA 0 (tiled with
// kFlagTile), under a roots header with valid magic, version and size whose
// pointers are folded into the image.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "checker.h"

namespace gmm::check::fuzz {

constexpr size_t kHeaderBytes = 16;
constexpr size_t kMappingBytes = 6;
constexpr uint64_t kMaxImagePages = 256;

enum : uint8_t {
    kFlagAsync = 1,
    kFlagRawRootsGpa = 2,
    kFlagRawImage = 4,
    kFlagExtents = 8,
    kFlagHier = 16,
    kFlagPerCpu = 32,
    kFlagKernelWindow = 64,
    kFlagTile = 128,
};

// A patch: [op][object][offset u16] then, by op: kRaw [n] n % 17 bytes; the
// pointer ops [object][offset u16] of the target; kFlipBit [bit]; kValue 8
// bytes; kAdd16 [signed delta]; kSelfPtr, kZero nothing (kSelfPtr points the
// field at its own object: a one-node cycle). Objects are the structures the
// builder wrote (index modulo their count); kEndOfRam is the last 128 bytes of
// the image. An offset with kFieldOffset set counts 8-byte fields.
enum PatchOp : uint8_t {
    kRaw, kDirectPtr, kKernelPtr, kPhysPtr, kFlipBit, kZero, kValue, kAdd16, kSelfPtr, kPatchOps
};
constexpr uint8_t kEndOfRam = 0xff;
constexpr uint16_t kFieldOffset = 0x8000;

struct Outcome {
    bool decoded = false;      // check_mm returned a result (the roots were usable)
    bool clean_build = false;  // an uncorrupted synthetic state: its result was checked exactly
    uint64_t violations = 0;
    CheckStats stats;
    double seconds = 0;        // the slower of the two checks
};

// Aborts, after saying why on stderr, when a property is broken.
Outcome run_input(const uint8_t* data, size_t size);

// Hand-made worst cases for the decoder's work limits (a regression test):
// one extent list of 20,480 nodes on the lists of 100 leaf tables, and roots
// claiming a frame record per 8 bytes of RAM. Same properties as run_input,
// plus: the list is decoded once, the array is refused, both are flagged.
enum class Crafted { SharedExtentList, FrameArrayLargerThanRam };
Outcome run_crafted(Crafted which);

// Inputs for the replay driver and the seed corpus.
enum class InputKind { CleanBuild, CorruptedBuild, RawImage, AnyBytes };
std::vector<uint8_t> random_input(std::mt19937_64& rng, InputKind kind);

}  // namespace gmm::check::fuzz
