// The blob (abi/gmm/abi/storm.h) and the human-readable listing of a Program.
#include <cstdio>
#include <algorithm>
#include <cstring>

#include "stormc.h"

namespace gmm::storm {

namespace {

template <typename T>
void append(std::vector<uint8_t>& out, const T& v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    out.insert(out.end(), p, p + sizeof v);
}

std::string hexs(uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
    return buf;
}

const char* expect_name(uint32_t e) {
    switch (e) {
    case GMM_STORM_EXPECT_OK: return "ok";
    case GMM_STORM_EXPECT_ANY: return "any";
    case GMM_STORM_EXPECT_FAIL: return "fail";
    }
    return "?";
}

std::string file_label(const Program& p, uint32_t f) {
    if (f >= p.files.size()) return "?";
    return p.files[f].name.empty() ? "#" + std::to_string(p.files[f].disk_index) : "'" + p.files[f].name + "'";
}

}  // namespace

std::vector<uint8_t> encode(const Program& p) {
    gmm_storm_header h{};
    h.magic = GMM_STORM_MAGIC;
    h.version = GMM_STORM_ABI_VERSION;
    h.header_bytes = sizeof h;
    h.seed = p.seed;
    h.flags = p.stop_on_failure ? GMM_STORM_F_STOP_ON_FAILURE : 0;
    h.vcpu_count = p.vcpus;
    h.region_count = uint32_t(p.regions.size());
    h.thread_count = uint32_t(p.threads.size());
    h.barrier_count = uint32_t(p.barriers.size());
    h.op_count = uint32_t(p.ops.size());
    h.total_bytes = sizeof h + p.regions.size() * sizeof(gmm_storm_region) +
                    p.threads.size() * sizeof(gmm_storm_thread) + p.barriers.size() * sizeof(gmm_storm_barrier) +
                    p.files.size() * sizeof(gmm_storm_file) + p.ops.size() * sizeof(gmm_storm_op);
    h.file_count = uint32_t(p.files.size());
    std::vector<uint8_t> out;
    out.reserve(h.total_bytes);
    append(out, h);
    for (const CompiledRegion& r : p.regions) {
        gmm_storm_region e{};
        e.gva = r.gva;
        e.size_bytes = r.size_bytes;
        e.prot = r.prot;
        e.flags = r.flags;
        e.line = r.line;
        e.file = r.file;
        e.file_offset_bytes = r.file_offset_bytes;
        append(out, e);
    }
    for (const CompiledThread& t : p.threads) {
        gmm_storm_thread e{};
        e.vcpu = t.vcpu;
        e.flags = t.spawned ? GMM_STORM_TF_SPAWNED : 0;
        e.first_op = t.first_op;
        e.op_count = t.op_count;
        e.line = t.line;
        append(out, e);
    }
    for (const CompiledBarrier& b : p.barriers) {
        gmm_storm_barrier e{};
        e.parties = b.parties;
        e.line = b.line;
        append(out, e);
    }
    for (const CompiledFile& f : p.files) {
        gmm_storm_file e;
        std::memset(&e, 0, sizeof e);
        std::memcpy(e.name, f.name.data(), std::min<size_t>(f.name.size(), sizeof e.name - 1));
        e.disk_index = f.name.empty() ? f.disk_index : 0;
        e.line = f.line;
        append(out, e);
    }
    for (const gmm_storm_op& op : p.ops) {
        gmm_storm_op e;
        std::memset(&e, 0, sizeof e);  // padding-free, but keep the bytes canonical
        e = op;
        e.reserved = 0;
        append(out, e);
    }
    return out;
}

const char* op_kind_name(uint32_t kind) {
    switch (kind) {
    case GMM_STORM_OP_MAP: return "map";
    case GMM_STORM_OP_UNMAP: return "unmap";
    case GMM_STORM_OP_PROTECT: return "protect";
    case GMM_STORM_OP_TOUCH: return "touch";
    case GMM_STORM_OP_BARRIER: return "barrier";
    case GMM_STORM_OP_LOOP: return "loop";
    case GMM_STORM_OP_LOOP_END: return "loop_end";
    case GMM_STORM_OP_SLEEP: return "sleep";
    case GMM_STORM_OP_SPAWN: return "spawn";
    case GMM_STORM_OP_JOIN: return "join";
    }
    return "?";
}

const char* thread_state_name(uint32_t state) {
    static const char* const names[] = {"not_started", "running", "barrier", "sleeping",
                                        "spawning",    "joining", "done",    "stopped"};
    return state < GMM_STORM_THREAD_STATE_COUNT ? names[state] : "?";
}

const char* failure_name(uint32_t failure) {
    static const char* const names[] = {"none", "errno", "segv", "no_segv", "no_error", "wrong_errno", "spawn",
                                        "wrong_page"};
    return failure < sizeof names / sizeof names[0] ? names[failure] : "?";
}

const char* invalid_name(uint32_t code) {
    static const char* const names[] = {"none",    "size",   "magic",  "version", "layout", "vcpus",
                                        "region", "thread", "barrier", "op",      "loop",   "file"};
    return code < GMM_STORM_INVALID_COUNT ? names[code] : "?";
}

std::string prot_name(uint32_t prot) {
    if (prot == 0) return "none";
    std::string s;
    if (prot & GMM_PROT_READ) s += 'r';
    if (prot & GMM_PROT_WRITE) s += 'w';
    if (prot & GMM_PROT_EXEC) s += 'x';
    return s;
}

const char* error_kind_name(ErrorKind kind) {
    switch (kind) {
    case ErrorKind::Io: return "io";
    case ErrorKind::Syntax: return "syntax";
    case ErrorKind::Runtime: return "runtime";
    case ErrorKind::Sandbox: return "sandbox";
    case ErrorKind::Limit: return "limit";
    case ErrorKind::InvalidArgument: return "invalid_argument";
    case ErrorKind::CannotFinish: return "cannot_finish";
    case ErrorKind::Param: return "param";
    }
    return "?";
}

std::string describe(const Program& p) {
    std::string out = "storm '" + p.storm_name + "' from " + p.script + ": seed " + std::to_string(p.seed) + ", " +
                      std::to_string(p.vcpus) + " vCPU(s), " + std::to_string(p.ops.size()) + " ops, " +
                      std::to_string(p.blob.size()) + " bytes" + (p.stop_on_failure ? ", stop_on_failure" : "") + "\n";
    for (const auto& [k, v] : p.params) out += "param " + k + "=" + v + "\n";
    for (size_t i = 0; i < p.regions.size(); ++i) {
        const CompiledRegion& r = p.regions[i];
        out += "region " + std::to_string(i) + " '" + r.name + "': " +
               ((r.flags & GMM_STORM_RF_HINT) ? std::string("hint") : hexs(r.gva)) + " +" + hexs(r.size_bytes) + " " +
               prot_name(r.prot) + ((r.flags & GMM_STORM_RF_SHARED) ? " shared" : " private") +
               ((r.flags & GMM_STORM_RF_PREMAPPED) ? " premapped" : "") +
               ((r.flags & GMM_STORM_RF_FILE) ? " file " + file_label(p, r.file) + " at " + hexs(r.file_offset_bytes)
                                              : std::string()) +
               "  (line " + std::to_string(r.line) + ")\n";
    }
    for (size_t i = 0; i < p.files.size(); ++i)
        out += "file " + std::to_string(i) + " " + file_label(p, uint32_t(i)) + "  (line " +
               std::to_string(p.files[i].line) + ")\n";
    for (size_t i = 0; i < p.barriers.size(); ++i)
        out += "barrier " + std::to_string(i) + " '" + p.barriers[i].name + "': " +
               std::to_string(p.barriers[i].parties) + " parties\n";
    for (const CompiledThread& t : p.threads) {
        out += "thread '" + t.name + "' vcpu " + std::to_string(t.vcpu) + (t.spawned ? " spawned" : "") + ", ops " +
               std::to_string(t.first_op) + ".." + std::to_string(t.first_op + t.op_count) + "\n";
        uint32_t depth = 0;
        for (uint32_t i = t.first_op; i < t.first_op + t.op_count; ++i) {
            const gmm_storm_op& op = p.ops[i];
            if (op.kind == GMM_STORM_OP_LOOP_END && depth) --depth;
            char idx[16];
            std::snprintf(idx, sizeof idx, "%6u ", i);
            std::string line = std::string(idx) + std::string(2 * depth, ' ') + op_kind_name(op.kind);
            switch (op.kind) {
            case GMM_STORM_OP_MAP:
            case GMM_STORM_OP_UNMAP:
            case GMM_STORM_OP_PROTECT:
            case GMM_STORM_OP_TOUCH:
                line += " " + p.regions[op.target].name + " off=" + hexs(op.offset_bytes) + " len=" + hexs(op.length_bytes);
                if (op.kind == GMM_STORM_OP_MAP || op.kind == GMM_STORM_OP_PROTECT) line += " " + prot_name(op.arg);
                if (op.kind == GMM_STORM_OP_TOUCH)
                    line += std::string((op.flags & GMM_STORM_OPF_WRITE) ? " write" : " read") + " stride=" + hexs(op.a) +
                            ((op.flags & GMM_STORM_OPF_RANDOM) ? " random seed=" + hexs(op.b) : " seq");
                if (op.kind == GMM_STORM_OP_MAP && (p.regions[op.target].flags & GMM_STORM_RF_FILE))
                    line += " file " + file_label(p, uint32_t(op.a)) + " at " + hexs(op.b);
                if (op.flags & GMM_STORM_OPF_VERIFY) line += " verify";
                line += std::string(" expect=") + expect_name(op.expect);
                if (op.arg2) line += " errno=" + std::to_string(op.arg2);
                break;
            case GMM_STORM_OP_BARRIER: line += " '" + p.barriers[op.target].name + "'"; break;
            case GMM_STORM_OP_LOOP: line += " x" + std::to_string(op.a) + " body=" + std::to_string(op.arg); break;
            case GMM_STORM_OP_SLEEP: line += " " + std::to_string(op.a) + " us"; break;
            case GMM_STORM_OP_SPAWN:
            case GMM_STORM_OP_JOIN: line += " '" + p.threads[op.target].name + "'"; break;
            default: break;
            }
            out += line + "  (line " + std::to_string(op.line) + ")\n";
            if (op.kind == GMM_STORM_OP_LOOP) ++depth;
        }
    }
    for (const std::string& n : p.notes) out += "note: " + n + "\n";
    return out;
}

}  // namespace gmm::storm
