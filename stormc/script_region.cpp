// region{...}: declares a range the operations name, and places it at once so
// the script can read r.gva. Placement (docs/storms.md):
//   place = "auto" (default)  next free 2 MiB-aligned spot of the arena, 2 MiB gap after
//   place = "hint"            the kernel chooses at each map (no fixed address)
//   at = ADDR                 exactly there (page-aligned, inside the arena)
//   align = "2M" | "1G"       like auto, aligned to 2 MiB / 1 GiB
//   straddle = "2M" | "1G"    like auto, centred on a 2 MiB / 1 GiB boundary
// kind = "file" maps a disk file: file = NAME or index (required), offset =
// the file offset of the region's first page (a 4 KiB multiple, default 0).
#include <lua.hpp>

#include "script_values.h"

namespace gmm::storm {

void push_region_handle(lua_State* L, uint32_t index);  // script_api.cpp

namespace {

constexpr uint64_t kArenaEnd = GMM_USER_TOP_GVA;
constexpr uint64_t kGapBytes = k2MiB;

uint64_t align_up(uint64_t v, uint64_t unit) { return (v + unit - 1) & ~(unit - 1); }

Result<uint64_t, ApiError> unit_of(const std::string& text, const char* key) {
    if (text == "2M") return k2MiB;
    if (text == "1G") return k1GiB;
    return bad(std::string("region: ") + key + " \"" + text + "\" is not accepted (accepted: \"2M\", \"1G\")");
}

// Automatic placement from the arena cursor. `unit`/`straddle`: see the file comment.
Result<uint64_t, ApiError> place_auto(BuildState& s, const RegionDecl& r, uint64_t unit, bool straddle) {
    uint64_t gva;
    const uint64_t cursor = s.arena_cursor;
    if (straddle) {
        const uint64_t half = (r.size_bytes / 2) & ~(kPageBytes - 1);
        if (half == 0) return bad("region '" + r.name + "': a one-page region cannot straddle a boundary");
        if (cursor > kArenaEnd - half) return bad("region '" + r.name + "': the storm arena is full");
        gva = align_up(cursor + half, unit) - half;
    } else {
        gva = align_up(cursor, unit);
    }
    if (gva < cursor || gva > kArenaEnd || r.size_bytes > kArenaEnd - gva)
        return bad("region '" + r.name + "' of " + hex(r.size_bytes) + " bytes does not fit in the rest of the storm "
                   "arena [" + hex(cursor) + ", " + hex(kArenaEnd) + ")");
    s.arena_cursor = align_up(gva + r.size_bytes, k2MiB) + kGapBytes;
    return gva;
}

}  // namespace

ApiResult region_declare(lua_State* L, BuildState& s) {
    auto o = Options::at(L, 1, "region",
                         {"name", "size", "prot", "share", "kind", "file", "offset", "place", "at", "align", "straddle",
                          "mapped"});
    if (!o) return Err{o.error()};
    if (!o->index()) return bad("region: needs a table: region{name = \"buf\", size = 4 * MiB, ...}");
    if (s.regions.size() >= GMM_STORM_MAX_REGIONS)
        return bad("region: more than " + std::to_string(GMM_STORM_MAX_REGIONS) + " regions");
    RegionDecl r;
    auto name = o->str("name", "r" + std::to_string(s.regions.size()));
    if (!name) return Err{name.error()};
    r.name = *name;
    if (r.name.empty() || r.name.size() > 64) return bad("region: name must have 1 to 64 characters");
    for (const RegionDecl& other : s.regions)
        if (other.name == r.name)
            return bad("region: name '" + r.name + "' is already used (line " + std::to_string(other.line) + ")");

    auto kind = o->choice("kind", "anon", {"anon", "file"});
    if (!kind) return Err{kind.error()};
    if (!o->has("size")) return bad("region '" + r.name + "': size = BYTES is required");
    auto size = o->u64("size", 0);
    if (!size) return Err{size.error()};
    if (*size == 0) return bad("region '" + r.name + "': size 0 (accepted: a nonzero multiple of 4 KiB)");
    if (*size % kPageBytes) return bad("region '" + r.name + "': size " + hex(*size) + " is not a multiple of 4 KiB");
    if (*size > kArenaEnd - GMM_STORM_ARENA_GVA)
        return bad("region '" + r.name + "': size " + hex(*size) + " is larger than the user address space");
    r.size_bytes = *size;
    auto prot = o->str("prot", "rw");
    if (!prot) return Err{prot.error()};
    auto p = parse_prot(*prot, "region '" + r.name + "': prot");
    if (!p) return Err{p.error()};
    r.prot = *p;
    auto share = o->choice("share", "private", {"private", "shared"});
    if (!share) return Err{share.error()};
    r.shared = *share == "shared";
    auto mapped = o->boolean("mapped", true);
    if (!mapped) return Err{mapped.error()};
    r.premapped = *mapped;
    lua_Debug ar;
    r.line = lua_getstack(L, 1, &ar) && lua_getinfo(L, "l", &ar) && ar.currentline > 0 ? uint32_t(ar.currentline) : 0;

    r.file = *kind == "file";
    if (!r.file && (o->has("file") || o->has("offset")))
        return bad("region '" + r.name + "': file and offset need kind = \"file\" (an anonymous region has no file)");
    if (r.file) {
        if (!o->has("file"))
            return bad("region '" + r.name + "': kind = \"file\" needs file = NAME or index (a file of the disk)");
        auto f = o->file("file");
        if (!f) return Err{f.error()};
        auto offset = o->u64("offset", 0);
        if (!offset) return Err{offset.error()};
        if (*offset % kPageBytes)
            return bad("region '" + r.name + "': offset " + hex(*offset) + " is not a multiple of 4 KiB");
        if (*offset + r.size_bytes < *offset)
            return bad("region '" + r.name + "': offset + size overflows 64 bits");
        auto slot = s.file_slot(*f, r.line);
        if (!slot) return bad("region '" + r.name + "': " + slot.error());
        r.file_slot = *slot;
        r.file_offset = *offset;
    }

    auto place = o->choice("place", "auto", {"auto", "hint"});
    if (!place) return Err{place.error()};
    const int placements = int(o->has("place")) + int(o->has("at")) + int(o->has("align")) + int(o->has("straddle"));
    if (placements > 1) return bad("region '" + r.name + "': give at most one of place, at, align, straddle");
    if (*place == "hint") {
        r.hint = true;
    } else if (o->has("at")) {
        auto at = o->u64("at", 0);
        if (!at) return Err{at.error()};
        if (*at % kPageBytes) return bad("region '" + r.name + "': at " + hex(*at) + " is not page-aligned");
        if (*at < GMM_STORM_ARENA_GVA || *at > kArenaEnd || r.size_bytes > kArenaEnd - *at)
            return bad("region '" + r.name + "': [" + hex(*at) + ", +" + hex(r.size_bytes) +
                       ") is outside the storm arena [" + hex(GMM_STORM_ARENA_GVA) + ", " + hex(kArenaEnd) +
                       ") (the runner's own mappings live below it)");
        r.gva = *at;
    } else {
        const char* key = o->has("straddle") ? "straddle" : o->has("align") ? "align" : nullptr;
        uint64_t unit = k2MiB;
        if (key) {
            auto text = o->str(key, "");
            if (!text) return Err{text.error()};
            auto u = unit_of(*text, key);
            if (!u) return Err{u.error()};
            unit = *u;
        }
        auto gva = place_auto(s, r, unit, key && std::string(key) == "straddle");
        if (!gva) return Err{gva.error()};
        r.gva = *gva;
    }
    s.regions.push_back(std::move(r));
    push_region_handle(L, uint32_t(s.regions.size() - 1));
    return 1;
}

}  // namespace gmm::storm
