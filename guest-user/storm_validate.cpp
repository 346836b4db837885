#include "storm_validate.h"

namespace gmm::user {

namespace {

constexpr uint64_t kPage = 4096;
constexpr uint32_t kKnownProt = GMM_PROT_READ | GMM_PROT_WRITE | GMM_PROT_EXEC;

uint32_t bits_set(uint64_t v) {  // no __builtin_popcount: it may call libgcc, which is not linked
    uint32_t n = 0;
    for (; v; v &= v - 1) ++n;
    return n;
}

StormCheck invalid(uint32_t code, uint32_t index = 0) {
    StormCheck c;
    c.code = code;
    c.index = index;
    return c;
}

bool name_char_ok(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '-';
}

// By name (1..31 valid characters, NUL-padded) or by index (all-zero name).
bool file_ok(const gmm_storm_file& f) {
    uint32_t len = 0;
    while (len < sizeof f.name && f.name[len]) {
        if (!name_char_ok(f.name[len])) return false;
        ++len;
    }
    if (len == sizeof f.name) return false;  // no NUL
    for (uint32_t i = len; i < sizeof f.name; ++i)
        if (f.name[i]) return false;
    return len ? f.disk_index == 0 : f.disk_index < GMM_STORM_MAX_FILES;
}

bool region_ok(const gmm_storm_region& r, uint32_t file_count) {
    if (r.size_bytes == 0 || r.size_bytes % kPage || r.size_bytes > GMM_USER_TOP_GVA) return false;
    if ((r.prot & ~kKnownProt) || (r.flags & ~GMM_STORM_RF_KNOWN)) return false;
    if (r.flags & GMM_STORM_RF_FILE) {
        if (r.file >= file_count || r.file_offset_bytes % kPage || r.file_offset_bytes + r.size_bytes < r.size_bytes)
            return false;
    } else if (r.file || r.file_offset_bytes) {
        return false;
    }
    if (r.flags & GMM_STORM_RF_HINT) return r.gva == 0;
    return r.gva % kPage == 0 && r.gva >= GMM_STORM_ARENA_GVA && r.gva <= GMM_USER_TOP_GVA &&
           r.size_bytes <= GMM_USER_TOP_GVA - r.gva;
}

// A memory op's range inside its region; map/unmap/protect page-granular.
bool range_ok(const gmm_storm_op& op, const gmm_storm_region& r) {
    if (op.offset_bytes % kPage || op.length_bytes == 0 || op.offset_bytes >= r.size_bytes ||
        op.length_bytes > r.size_bytes - op.offset_bytes)
        return false;
    return op.kind == GMM_STORM_OP_TOUCH || op.length_bytes % kPage == 0;
}

bool op_ok(const gmm_storm_op& op, const StormView& v, const gmm_storm_thread& self) {
    const gmm_storm_header& h = *v.header;
    if (op.kind == 0 || op.kind >= GMM_STORM_OP_KIND_COUNT || op.expect > GMM_STORM_EXPECT_FAIL || op.reserved)
        return false;
    if (op.kind != GMM_STORM_OP_TOUCH && op.flags) return false;
    const bool spawned_self = self.flags & GMM_STORM_TF_SPAWNED;
    switch (op.kind) {
    case GMM_STORM_OP_MAP:
    case GMM_STORM_OP_UNMAP:
    case GMM_STORM_OP_PROTECT:
    case GMM_STORM_OP_TOUCH: {
        if (op.target >= h.region_count) return false;
        const gmm_storm_region& r = v.regions[op.target];
        if (!range_ok(op, r)) return false;
        if (op.kind == GMM_STORM_OP_MAP && (r.flags & GMM_STORM_RF_HINT) &&
            (op.offset_bytes != 0 || op.length_bytes != r.size_bytes))
            return false;
        if ((op.kind == GMM_STORM_OP_MAP || op.kind == GMM_STORM_OP_PROTECT) && (op.arg & ~kKnownProt)) return false;
        const bool file = r.flags & GMM_STORM_RF_FILE;
        if (op.kind == GMM_STORM_OP_TOUCH) {
            // VERIFY: a read of a private file region (the only pages whose content is known).
            if ((op.flags & GMM_STORM_OPF_VERIFY) &&
                (!file || (r.flags & GMM_STORM_RF_SHARED) || (op.flags & GMM_STORM_OPF_WRITE)))
                return false;
            return (op.flags & ~GMM_STORM_OPF_KNOWN) == 0 && op.a >= 1 && op.arg == 0 && op.arg2 == 0;
        }
        if (op.kind == GMM_STORM_OP_MAP && file) {
            if (op.a >= h.file_count || op.b % kPage || op.b + op.length_bytes < op.b) return false;
        } else if (op.a || op.b) {
            return false;
        }
        return op.arg2 < 4096 && (op.arg2 == 0 || op.expect == GMM_STORM_EXPECT_FAIL);
    }
    case GMM_STORM_OP_BARRIER:
        return op.target < h.barrier_count && !spawned_self && op.expect == GMM_STORM_EXPECT_OK;
    case GMM_STORM_OP_SLEEP:
        return op.a >= 1 && op.a <= GMM_STORM_MAX_SLEEP_US && op.expect == GMM_STORM_EXPECT_OK;
    case GMM_STORM_OP_SPAWN:
    case GMM_STORM_OP_JOIN:
        return op.target < h.thread_count && (v.threads[op.target].flags & GMM_STORM_TF_SPAWNED) && !spawned_self &&
               op.expect == GMM_STORM_EXPECT_OK;
    default:
        return true;  // LOOP / LOOP_END: checked by the caller
    }
}

// Loops of one thread: balanced, at most GMM_STORM_MAX_LOOP_DEPTH deep, count >= 1,
// each LOOP's body length matching its LOOP_END. Returns the bad op or UINT32_MAX.
uint32_t loops_ok(const StormView& v, const gmm_storm_thread& t) {
    uint32_t begin[GMM_STORM_MAX_LOOP_DEPTH];
    uint32_t depth = 0;
    const uint32_t end = t.first_op + t.op_count;
    for (uint32_t i = t.first_op; i < end; ++i) {
        const gmm_storm_op& op = v.ops[i];
        if (op.kind == GMM_STORM_OP_LOOP) {
            if (depth == GMM_STORM_MAX_LOOP_DEPTH || op.a == 0 || op.arg == 0 || op.arg >= end - i - 1) return i;
            const gmm_storm_op& close = v.ops[i + 1 + op.arg];
            if (close.kind != GMM_STORM_OP_LOOP_END || close.arg != op.arg) return i;
            if (op.offset_bytes || op.length_bytes || op.b || op.target || op.arg2 || op.expect) return i;
            begin[depth++] = i;
        } else if (op.kind == GMM_STORM_OP_LOOP_END) {
            if (depth == 0 || begin[depth - 1] + 1 + op.arg != i) return i;
            if (op.a || op.offset_bytes || op.length_bytes || op.b || op.target || op.arg2 || op.expect) return i;
            --depth;
        }
    }
    return depth == 0 ? UINT32_MAX : end - 1;
}

}  // namespace

StormCheck storm_validate(const void* blob, uint64_t mapped_bytes, uint32_t vcpus, StormView& v) {
    if (!blob || mapped_bytes < sizeof(gmm_storm_header)) return invalid(GMM_STORM_INVALID_SIZE);
    const auto* base = static_cast<const uint8_t*>(blob);
    const auto& h = *reinterpret_cast<const gmm_storm_header*>(base);
    if (h.magic != GMM_STORM_MAGIC) return invalid(GMM_STORM_INVALID_MAGIC);
    if (h.version != GMM_STORM_ABI_VERSION) return invalid(GMM_STORM_INVALID_VERSION);
    if (h.header_bytes != sizeof(gmm_storm_header) || (h.flags & ~GMM_STORM_F_STOP_ON_FAILURE) || h.reserved ||
        h.region_count > GMM_STORM_MAX_REGIONS || h.thread_count == 0 || h.thread_count > GMM_STORM_MAX_THREADS ||
        h.file_count > GMM_STORM_MAX_FILES ||
        h.barrier_count > GMM_STORM_MAX_BARRIERS || h.op_count > GMM_STORM_MAX_OPS)
        return invalid(GMM_STORM_INVALID_LAYOUT);
    // Counts are bounded above, so these sums cannot overflow.
    const uint64_t regions_at = sizeof(gmm_storm_header);
    const uint64_t threads_at = regions_at + uint64_t(h.region_count) * sizeof(gmm_storm_region);
    const uint64_t barriers_at = threads_at + uint64_t(h.thread_count) * sizeof(gmm_storm_thread);
    const uint64_t files_at = barriers_at + uint64_t(h.barrier_count) * sizeof(gmm_storm_barrier);
    const uint64_t ops_at = files_at + uint64_t(h.file_count) * sizeof(gmm_storm_file);
    const uint64_t total = ops_at + uint64_t(h.op_count) * sizeof(gmm_storm_op);
    if (h.total_bytes != total) return invalid(GMM_STORM_INVALID_LAYOUT);
    if (total > mapped_bytes) return invalid(GMM_STORM_INVALID_SIZE);
    if (h.vcpu_count == 0 || h.vcpu_count > vcpus) return invalid(GMM_STORM_INVALID_VCPUS);

    StormView w;
    w.header = &h;
    w.regions = reinterpret_cast<const gmm_storm_region*>(base + regions_at);
    w.threads = reinterpret_cast<const gmm_storm_thread*>(base + threads_at);
    w.barriers = reinterpret_cast<const gmm_storm_barrier*>(base + barriers_at);
    w.files = reinterpret_cast<const gmm_storm_file*>(base + files_at);
    w.ops = reinterpret_cast<const gmm_storm_op*>(base + ops_at);

    for (uint32_t i = 0; i < h.file_count; ++i)
        if (!file_ok(w.files[i])) return invalid(GMM_STORM_INVALID_FILE, i);
    for (uint32_t i = 0; i < h.region_count; ++i)
        if (!region_ok(w.regions[i], h.file_count)) return invalid(GMM_STORM_INVALID_REGION, i);

    // Threads: contiguous op ranges in order, on vCPUs the guest has (any number
    // per vCPU: the kernel's scheduler shares it).
    uint32_t pinned = 0, next_op = 0;
    for (uint32_t i = 0; i < h.thread_count; ++i) {
        const gmm_storm_thread& t = w.threads[i];
        if (t.vcpu >= h.vcpu_count || (t.flags & ~GMM_STORM_TF_KNOWN) || t.reserved[0] || t.reserved[1] ||
            t.reserved[2] || t.op_count == 0 || t.first_op != next_op || t.op_count > h.op_count - t.first_op)
            return invalid(GMM_STORM_INVALID_THREAD, i);
        next_op = t.first_op + t.op_count;
        if (!(t.flags & GMM_STORM_TF_SPAWNED)) ++pinned;
    }
    if (next_op != h.op_count) return invalid(GMM_STORM_INVALID_LAYOUT);

    // Ops, and which pinned threads use each barrier (parties must match).
    uint64_t users[GMM_STORM_MAX_BARRIERS];
    for (uint32_t b = 0; b < GMM_STORM_MAX_BARRIERS; ++b) users[b] = 0;
    for (uint32_t i = 0; i < h.thread_count; ++i) {
        const gmm_storm_thread& t = w.threads[i];
        for (uint32_t k = t.first_op; k < t.first_op + t.op_count; ++k) {
            if (!op_ok(w.ops[k], w, t)) return invalid(GMM_STORM_INVALID_OP, k);
            if (w.ops[k].kind == GMM_STORM_OP_BARRIER) users[w.ops[k].target] |= 1ull << i;
        }
        const uint32_t bad = loops_ok(w, t);
        if (bad != UINT32_MAX) return invalid(GMM_STORM_INVALID_LOOP, bad);
    }
    for (uint32_t b = 0; b < h.barrier_count; ++b) {
        const gmm_storm_barrier& br = w.barriers[b];
        if (br.parties == 0 || br.parties > pinned || bits_set(users[b]) != br.parties)
            return invalid(GMM_STORM_INVALID_BARRIER, b);
    }
    v.header = w.header;
    v.regions = w.regions;
    v.threads = w.threads;
    v.barriers = w.barriers;
    v.files = w.files;
    v.ops = w.ops;
    return StormCheck{};
}

}  // namespace gmm::user
