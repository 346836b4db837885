// stormc: compiles a storm script (Lua 5.4, sandboxed) into per-thread
// operation programs in the binary format of abi/gmm/abi/storm.h. Host only;
// no KVM. docs/storms.md describes the script API, the format and the errors.
//
//   auto p = gmm::storm::compile_file("storms/munmap_vs_fault.lua", {.vcpus = 2, .seed = 7});
//   if (!p) { fprintf(stderr, "%s\n", p.error().message.c_str()); return 2; }
//   machine_config.payload = p->blob;
//
// Every error message starts with "FILE:LINE: " (the line of the script that
// caused it; syntax and runtime errors carry Lua's own message).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "gmm/abi/storm.h"
#include "gmm/result.h"

namespace gmm::storm {

struct CompileOptions {
    uint32_t vcpus = 2;                          // VCPUS in the script; threads' vcpu must be below it
    uint64_t seed = 1;                           // SEED and math.random's only source
    std::string mm = "extents,placement=leaf,freecache=global";  // MM: the canonical --mm policy
    std::map<std::string, std::string> params;   // --param key=value, read with param(key, default)
    uint64_t max_instructions = 200'000'000;     // Lua VM instructions before the script is stopped
    uint64_t max_memory_bytes = 64ull << 20;     // Lua heap
};

enum class ErrorKind {
    Io,               // the script file cannot be read
    Syntax,           // Lua could not parse it
    Runtime,          // Lua raised an error while running it (incl. error() in the script)
    Sandbox,          // it reached for io, os, package, debug, require, dofile, loadfile or load
    Limit,            // instruction or memory limit
    InvalidArgument,  // an operation or declaration with bad arguments (zero length, unaligned, overflow...)
    CannotFinish,     // barriers or spawn/join that cannot complete (detected before boot)
    Param,            // a --param the script never reads, or a value of the wrong type
};
const char* error_kind_name(ErrorKind kind);

struct CompileError {
    ErrorKind kind;
    std::string message;  // "FILE:LINE: what" (Io and Param: no line)
};

struct CompiledRegion {
    std::string name;
    uint64_t gva = 0;  // 0 for hint regions
    uint64_t size_bytes = 0;
    uint32_t prot = 0, flags = 0, line = 0;
    uint32_t file = 0;             // GMM_STORM_RF_FILE: index into Program::files
    uint64_t file_offset_bytes = 0;
};

struct CompiledFile {
    std::string name;  // empty: by index
    uint32_t disk_index = 0;
    uint32_t line = 0;
};

struct CompiledThread {
    std::string name;
    uint32_t vcpu = 0;
    bool spawned = false;
    uint32_t first_op = 0, op_count = 0, line = 0;
};

struct CompiledBarrier {
    std::string name;
    uint32_t parties = 0, line = 0;
};

struct Program {
    std::string script;      // the chunk name used in messages (the path as given)
    std::string storm_name;  // storm{name=...}, else the file's base name
    uint64_t seed = 0;
    uint32_t vcpus = 0;
    bool stop_on_failure = false;
    std::vector<CompiledRegion> regions;
    std::vector<CompiledThread> threads;
    std::vector<CompiledBarrier> barriers;
    std::vector<CompiledFile> files;
    std::vector<gmm_storm_op> ops;             // all threads' programs, thread by thread
    std::map<std::string, std::string> params;  // the params the script read, with the values used
    std::vector<std::string> notes;             // checks that could only be partial, and why
    std::vector<uint8_t> blob;                  // the encoded programs (abi/gmm/abi/storm.h)
};

Result<Program, CompileError> compile_file(const std::string& path, const CompileOptions& options);
Result<Program, CompileError> compile_source(std::string_view source, const std::string& chunk_name,
                                             const CompileOptions& options);

// The blob of `p` (header, regions, threads, barriers, ops); byte-identical for equal programs.
std::vector<uint8_t> encode(const Program& p);

// One line per region, thread and op ("  12 touch r=buf off=0x0 len=0x400000 write random  (line 9)").
std::string describe(const Program& p);

const char* op_kind_name(uint32_t kind);         // "map", ..., "?" when unknown
const char* thread_state_name(uint32_t state);   // "not_started", "running", "barrier", ...
const char* failure_name(uint32_t failure);      // "errno", "segv", "no_segv", ..., "wrong_page"
const char* invalid_name(uint32_t code);         // the runner's validation codes
std::string prot_name(uint32_t prot);            // "rw", "none", ...

}  // namespace gmm::storm
