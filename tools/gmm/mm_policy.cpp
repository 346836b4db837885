#include "mm_policy.h"

#include <vector>

namespace gmm::cli {

// global | extents[,placement=leaf|hier][,freecache=global|percpu]; knobs are extents-only.
gmm::Result<MmPolicy, std::string> parse_mm_policy(const std::string& text) {
    const std::string accepted = " (accepted: global | extents[,placement=leaf|hier][,freecache=global|percpu])";
    std::vector<std::string> parts;
    for (size_t start = 0;;) {
        const size_t comma = text.find(',', start);
        parts.push_back(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    if (parts[0] == "global") {
        if (parts.size() > 1)
            return gmm::Err{"--mm " + text + ": policy 'global' takes no knobs ('" + parts[1] + "')" + accepted};
        return MmPolicy{"global", "mm=global"};
    }
    if (parts[0] != "extents") return gmm::Err{"--mm " + text + ": unknown policy '" + parts[0] + "'" + accepted};
    std::string placement = "leaf", freecache = "global";
    bool seen_placement = false, seen_freecache = false;
    for (size_t i = 1; i < parts.size(); ++i) {
        const std::string& k = parts[i];
        if ((k == "placement=leaf" || k == "placement=hier") && !seen_placement) {
            placement = k.substr(10);
            seen_placement = true;
        } else if ((k == "freecache=global" || k == "freecache=percpu") && !seen_freecache) {
            freecache = k.substr(10);
            seen_freecache = true;
        } else {
            return gmm::Err{"--mm " + text + ": bad or repeated knob '" + k + "'" + accepted};
        }
    }
    return MmPolicy{"extents,placement=" + placement + ",freecache=" + freecache,
                    "mm=extents placement=" + placement + " freecache=" + (freecache == "global" ? "none" : "percpu")};
}

}  // namespace gmm::cli
