// What the script declares while it runs (script_api.cpp fills it), before
// linking (link.cpp) turns it into a Program. Internal to stormc.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "rng.h"
#include "stormc.h"

struct lua_State;

namespace gmm::storm {

constexpr uint64_t kPageBytes = 4096;
constexpr uint64_t k2MiB = 2ull << 20;
constexpr uint64_t k1GiB = 1ull << 30;

// A disk file as the script names it: by name, or by index in the disk's table.
struct FileRef {
    std::string name;  // empty: by index
    uint32_t index = 0;
    bool operator==(const FileRef&) const = default;
};

struct RegionDecl {
    std::string name;
    uint64_t gva = 0;  // placed at declaration; 0 for hint regions
    uint64_t size_bytes = 0;
    uint32_t prot = 0;
    bool shared = false, hint = false, premapped = true;
    bool file = false;          // kind = "file"
    uint32_t file_slot = 0;     // index into BuildState::files
    uint64_t file_offset = 0;   // file offset of the region's first page
    uint32_t line = 0;
};

// One op as written in the script; a loop holds its body as node indices.
// A node may appear in several places (the same op value used twice).
struct OpNode {
    gmm_storm_op op{};
    std::string name;            // barrier / spawn / join target, resolved by link
    std::vector<uint32_t> body;  // LOOP only
};

struct ThreadDecl {
    std::string name;
    uint32_t vcpu = 0;
    bool spawned = false;
    std::vector<uint32_t> ops;  // node indices
    uint32_t line = 0;
};

struct BuildState {
    std::string chunk;  // script path as given: the "FILE" of "FILE:LINE: ..."
    CompileOptions options;
    Rng rng{1};
    std::vector<RegionDecl> regions;
    std::vector<OpNode> nodes;
    std::vector<ThreadDecl> threads;
    std::vector<FileRef> files;          // distinct files named, in order of first use
    std::vector<uint32_t> file_lines;    // line of each file's first use

    // The slot of `f` in files (added at `line` if new), or an error past GMM_STORM_MAX_FILES.
    Result<uint32_t, std::string> file_slot(const FileRef& f, uint32_t line) {
        for (uint32_t i = 0; i < files.size(); ++i)
            if (files[i] == f) return i;
        if (files.size() >= GMM_STORM_MAX_FILES)
            return Err{"more than " + std::to_string(GMM_STORM_MAX_FILES) + " distinct files"};
        files.push_back(f);
        file_lines.push_back(line);
        return uint32_t(files.size() - 1);
    }
    uint64_t arena_cursor = GMM_STORM_ARENA_GVA;  // next free address for automatic placement
    std::string storm_name;
    bool storm_declared = false;
    bool stop_on_failure = false;
    std::map<std::string, std::string> params_read;  // key -> value used (given or default)
    // Set just before raising a Lua error, so the driver can classify it.
    std::optional<ErrorKind> pending_kind;
    bool fatal = false;  // limits and sandbox escapes: pcall/xpcall in the script re-raise them
    uint64_t instructions = 0;
    uint32_t last_line = 0;  // where the script was at the last instruction-count hook
    uint64_t memory_bytes = 0;
    bool memory_limited = false;  // off while stormc's own C functions allocate

    std::string at(uint32_t line) const { return chunk + ":" + std::to_string(line) + ": "; }
};

// The BuildState of a state created by sandbox_open.
BuildState& build_state(lua_State* L);

// Creates the sandboxed Lua state (sandbox.cpp) with `state` as its context.
lua_State* sandbox_open(BuildState& state);
void sandbox_close(lua_State* L);

// Installs region, thread, storm, param and the op constructors (script_api.cpp).
void install_script_api(lua_State* L);

// Checks the declarations and builds the Program (link.cpp). Errors carry FILE:LINE.
Result<Program, CompileError> link_program(BuildState& state);

}  // namespace gmm::storm
