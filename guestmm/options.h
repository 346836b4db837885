// Address-space options and their textual form, "POLICY[,knob=value...]",
// e.g. "extents,placement=hier,freecache=percpu" (used by gmm mmbench and the
// guest kernel's command line).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "types.h"

namespace gmm::mm {

// Linux-like defaults: mmap_min_addr 64 KiB, TASK_SIZE 0x7ffffffff000.
constexpr uint64_t kDefaultUserStart = 0x10000;
constexpr uint64_t kDefaultUserEnd = 0x7ffffffff000;

struct Options {
    Policy policy = Policy::Extents;
    Placement placement = Placement::Leaf;
    FreeCache free_cache = FreeCache::None;
    Gva user_start{kDefaultUserStart};
    Gva user_end{kDefaultUserEnd};
    const uint64_t* kernel_pml4 = nullptr;  // entries 256..511 copied into each root
};

struct ParseError {
    const char* what;  // "policy", "knob", "placement", "freecache"
    const char* text;  // start of the offending token in the input
    size_t length;
};

// Parses "global" | "extents[,placement=leaf|hier][,freecache=none|percpu]".
// Knobs apply to extents only.
bool parse_options(const char* text, Options* out, ParseError* err);
// Writes the canonical form ("extents,placement=hier,freecache=none").
void format_options(const Options& o, char* buf, size_t buf_bytes);

const char* policy_name(Policy p);
const char* placement_name(Placement p);
const char* free_cache_name(FreeCache f);

}  // namespace gmm::mm
