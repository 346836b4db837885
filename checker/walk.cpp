#include "walk.h"

namespace gmm::check {

namespace {
constexpr uint64_t kAddrMask = 0x000ffffffffff000ull;
}

std::string entry_flags(uint64_t e) {
    static constexpr struct {
        uint64_t bit;
        const char* name;
    } kBits[] = {{1, "P"}, {2, "W"}, {4, "U"}, {8, "PWT"}, {16, "PCD"}, {32, "A"}, {64, "D"}, {128, "PS"},
                 {256, "G"}, {512, "OWNED"}, {1024, "PARKED"}, {1ull << 63, "NX"}};
    std::string s;
    for (const auto& b : kBits)
        if (e & b.bit) s += (s.empty() ? "" : " ") + std::string(b.name);
    return s.empty() ? "-" : s;
}

WalkResult walk_gva(const GuestView& view, uint64_t root_table_gpa, uint64_t gva) {
    WalkResult r;
    uint64_t table = root_table_gpa;
    for (int level = 4; level >= 1; --level) {
        const unsigned index = unsigned(gva >> (12 + 9 * (level - 1))) & 511u;
        uint64_t entry = 0;
        if (!view.read_phys(table + index * 8ull, &entry, 8)) {
            r.stopped = "the level-" + std::to_string(level) + " table is outside guest RAM";
            return r;
        }
        r.steps.push_back({level, index, table, entry});
        if (!(entry & 1)) {
            r.stopped = "not present at level " + std::to_string(level);
            return r;
        }
        if (level > 1 && (entry & 128)) {
            r.stopped = "large page at level " + std::to_string(level) + " (guestmm never maps these)";
            return r;
        }
        table = entry & kAddrMask;
    }
    r.mapped = true;
    r.gpa = table | (gva & 4095);
    return r;
}

}  // namespace gmm::check
