// After the script ran: resolve names, check what can only be checked on the
// whole storm (vCPU assignment, spawn/join pairing, barrier pass counts and
// order, overlapping regions, limits) and lay the programs out. A storm that
// could never finish is refused here rather than left hanging in the guest.
#include <algorithm>
#include <map>
#include <set>

#include "build_state.h"
#include "rng.h"

namespace gmm::storm {

namespace {

constexpr uint64_t kMaxSimulatedBarrierPasses = 200000;

using LinkResult = Status<CompileError>;

Err<CompileError> fail(ErrorKind kind, std::string message) { return Err{CompileError{kind, std::move(message)}}; }

struct Linker {
    BuildState& s;
    std::vector<std::string> barrier_names;
    std::map<std::string, uint32_t> barrier_index;
    std::vector<std::map<uint32_t, std::pair<uint64_t, uint32_t>>> passes;  // per barrier: thread -> (count, line)
    std::vector<std::string> notes;

    std::string at(uint32_t line) const { return s.at(line); }
    const std::string& thread_name(uint32_t t) const { return s.threads[t].name; }

    template <typename Fn>
    void for_each_node(const std::vector<uint32_t>& list, Fn&& fn) {
        for (uint32_t n : list) {
            fn(n);
            if (s.nodes[n].op.kind == GMM_STORM_OP_LOOP) for_each_node(s.nodes[n].body, fn);
        }
    }

    LinkResult check_params() {
        std::string read;
        for (const auto& [k, v] : s.params_read) read += (read.empty() ? "" : ", ") + k;
        for (const auto& [k, v] : s.options.params)
            if (!s.params_read.count(k))
                return fail(ErrorKind::Param, "--param " + k + "=" + v + ": " + s.chunk + " never reads '" + k +
                                                  "' (it reads: " + (read.empty() ? "none" : read) + ")");
        return Ok{};
    }

    LinkResult check_vcpus() {
        if (s.threads.empty())
            return fail(ErrorKind::InvalidArgument,
                        s.chunk + ":1: the script declares no thread (thread{vcpu = 0, touch(r)} starts one)");
        // Any number of threads per vCPU (the guest scheduler time-slices them); the
        // limit is the total (GMM_STORM_MAX_THREADS, checked where each is declared)
        // and the kernel's thread table, which the storm cannot exhaust: at most
        // GMM_STORM_MAX_THREADS storm threads and the runner's main thread are alive.
        return Ok{};
    }

    // Barrier names -> indices (first use, thread by thread); spawn/join -> thread indices.
    LinkResult resolve_names() {
        std::map<std::string, uint32_t> thread_by_name;
        for (uint32_t t = 0; t < s.threads.size(); ++t) thread_by_name[s.threads[t].name] = t;
        std::vector<uint32_t> spawner(s.threads.size(), UINT32_MAX);
        for (uint32_t t = 0; t < s.threads.size(); ++t) {
            const ThreadDecl& d = s.threads[t];
            LinkResult st = Ok{};
            for_each_node(d.ops, [&](uint32_t n) {
                if (!st) return;
                OpNode& node = s.nodes[n];
                const uint8_t k = node.op.kind;
                if (d.spawned && (k == GMM_STORM_OP_BARRIER || k == GMM_STORM_OP_SPAWN || k == GMM_STORM_OP_JOIN)) {
                    st = fail(ErrorKind::InvalidArgument,
                              at(node.op.line) + op_kind_name(k) + " in spawned thread '" + d.name +
                                  "': spawned threads cannot use barriers, spawn or join");
                    return;
                }
                if (k == GMM_STORM_OP_BARRIER) {
                    auto [it, added] = barrier_index.emplace(node.name, uint32_t(barrier_names.size()));
                    if (added) {
                        if (barrier_names.size() >= GMM_STORM_MAX_BARRIERS) {
                            st = fail(ErrorKind::InvalidArgument, at(node.op.line) + "more than " +
                                                                      std::to_string(GMM_STORM_MAX_BARRIERS) + " barriers");
                            return;
                        }
                        barrier_names.push_back(node.name);
                        passes.emplace_back();
                    }
                    node.op.target = it->second;
                } else if (k == GMM_STORM_OP_SPAWN || k == GMM_STORM_OP_JOIN) {
                    auto it = thread_by_name.find(node.name);
                    if (it == thread_by_name.end()) {
                        st = fail(ErrorKind::InvalidArgument,
                                  at(node.op.line) + op_kind_name(k) + ": no thread named '" + node.name + "'");
                        return;
                    }
                    if (!s.threads[it->second].spawned) {
                        st = fail(ErrorKind::InvalidArgument,
                                  at(node.op.line) + op_kind_name(k) + ": thread '" + node.name +
                                      "' starts with the storm; declare it with spawned = true");
                        return;
                    }
                    if (spawner[it->second] != UINT32_MAX && spawner[it->second] != t) {
                        st = fail(ErrorKind::InvalidArgument,
                                  at(node.op.line) + op_kind_name(k) + " '" + node.name + "' in thread '" + d.name +
                                      "': thread '" + thread_name(spawner[it->second]) + "' already spawns it");
                        return;
                    }
                    spawner[it->second] = t;
                    node.op.target = it->second;
                }
            });
            if (!st) return st;
        }
        for (uint32_t t = 0; t < s.threads.size(); ++t)
            if (s.threads[t].spawned && spawner[t] == UINT32_MAX)
                return fail(ErrorKind::InvalidArgument, at(s.threads[t].line) + "thread '" + s.threads[t].name +
                                                            "' is spawned = true but no thread spawns it");
        return Ok{};
    }

    // spawn needs the target stopped, join running; loop bodies leave the state as they found it.
    LinkResult balance(const std::vector<uint32_t>& list, std::map<uint32_t, uint32_t>& running, const ThreadDecl& d) {
        for (uint32_t n : list) {
            const OpNode& node = s.nodes[n];
            const uint32_t target = node.op.target;
            if (node.op.kind == GMM_STORM_OP_SPAWN) {
                if (running.count(target))
                    return fail(ErrorKind::CannotFinish,
                                at(node.op.line) + "spawn '" + node.name + "' while it may still run (spawned at line " +
                                    std::to_string(running[target]) + "); join it first");
                running[target] = node.op.line;
            } else if (node.op.kind == GMM_STORM_OP_JOIN) {
                if (!running.count(target))
                    return fail(ErrorKind::CannotFinish,
                                at(node.op.line) + "join '" + node.name + "' but thread '" + d.name +
                                    "' has not spawned it here (it would wait forever)");
                running.erase(target);
            } else if (node.op.kind == GMM_STORM_OP_LOOP) {
                std::map<uint32_t, uint32_t> inside = running;
                if (LinkResult st = balance(node.body, inside, d); !st) return st;
                std::set<uint32_t> before, after;
                for (auto& [k, v] : running) before.insert(k);
                for (auto& [k, v] : inside) after.insert(k);
                if (before != after)
                    return fail(ErrorKind::CannotFinish,
                                at(node.op.line) + "loop: its body spawns a thread it does not join (or joins one it did "
                                                   "not spawn), so iterations would not pair up");
            }
        }
        return Ok{};
    }

    LinkResult check_spawns() {
        for (const ThreadDecl& d : s.threads) {
            std::map<uint32_t, uint32_t> running;
            if (LinkResult st = balance(d.ops, running, d); !st) return st;
            if (!running.empty()) {
                const auto& [t, line] = *running.begin();
                return fail(ErrorKind::CannotFinish, at(line) + "thread '" + d.name + "' spawns '" + thread_name(t) +
                                                         "' and never joins it");
            }
        }
        return Ok{};
    }

    LinkResult count_passes(const std::vector<uint32_t>& list, uint64_t mult, uint32_t t) {
        for (uint32_t n : list) {
            const OpNode& node = s.nodes[n];
            if (node.op.kind == GMM_STORM_OP_BARRIER) {
                auto& [count, line] = passes[node.op.target][t];
                if (count == 0) line = node.op.line;
                if (count + mult < count)
                    return fail(ErrorKind::InvalidArgument, at(node.op.line) + "barrier passes overflow 64 bits");
                count += mult;
            } else if (node.op.kind == GMM_STORM_OP_LOOP) {
                if (node.op.a && mult > UINT64_MAX / node.op.a)
                    return fail(ErrorKind::InvalidArgument, at(node.op.line) + "nested loop counts overflow 64 bits");
                if (LinkResult st = count_passes(node.body, mult * node.op.a, t); !st) return st;
            }
        }
        return Ok{};
    }

    LinkResult check_barrier_counts() {
        for (uint32_t t = 0; t < s.threads.size(); ++t)
            if (LinkResult st = count_passes(s.threads[t].ops, 1, t); !st) return st;
        for (uint32_t b = 0; b < barrier_names.size(); ++b) {
            const auto& per = passes[b];
            const auto& [t0, first] = *per.begin();
            for (const auto& [t, cl] : per)
                if (cl.first != first.first)
                    return fail(ErrorKind::CannotFinish,
                                at(cl.second) + "barrier '" + barrier_names[b] + "': thread '" + thread_name(t) +
                                    "' passes it " + std::to_string(cl.first) + " time(s) but thread '" +
                                    thread_name(t0) + "' " + std::to_string(first.first) + " time(s) (line " +
                                    std::to_string(first.second) +
                                    "), so the storm could not finish: some thread would wait there forever");
        }
        return Ok{};
    }

    // Lazily expands one thread's barrier passes.
    struct Cursor {
        struct Frame {
            const std::vector<uint32_t>* list;
            size_t pos;
            uint64_t remaining;
        };
        std::vector<Frame> stack;
        const OpNode* current = nullptr;  // the barrier it waits at, or null at the end
    };

    void advance(Cursor& c) {
        c.current = nullptr;
        while (!c.stack.empty()) {
            Cursor::Frame& f = c.stack.back();
            if (f.pos == f.list->size()) {
                if (--f.remaining > 0) f.pos = 0;
                else c.stack.pop_back();
                continue;
            }
            const OpNode& node = s.nodes[(*f.list)[f.pos++]];
            if (node.op.kind == GMM_STORM_OP_BARRIER) {
                c.current = &node;
                return;
            }
            if (node.op.kind == GMM_STORM_OP_LOOP) c.stack.push_back({&node.body, 0, node.op.a});
        }
    }

    // With matching counts a storm can still deadlock when threads meet barriers in
    // different orders; play the passes (up to a bound) to find that before boot.
    LinkResult simulate_barriers() {
        if (barrier_names.empty()) return Ok{};
        std::vector<Cursor> cur(s.threads.size());
        for (uint32_t t = 0; t < s.threads.size(); ++t) {
            cur[t].stack.push_back({&s.threads[t].ops, 0, 1});
            advance(cur[t]);
        }
        uint64_t simulated = 0;
        for (bool progress = true; progress;) {
            progress = false;
            for (uint32_t b = 0; b < barrier_names.size(); ++b) {
                bool all = true;
                for (const auto& [t, cl] : passes[b]) all &= cur[t].current && cur[t].current->op.target == b;
                if (!all) continue;
                for (const auto& [t, cl] : passes[b]) advance(cur[t]);
                progress = true;
                if (++simulated >= kMaxSimulatedBarrierPasses) {
                    notes.push_back("barrier order checked for the first " + std::to_string(simulated) +
                                    " passes only; the run-time watchdog covers the rest");
                    return Ok{};
                }
            }
        }
        std::string waits;
        uint32_t line = 0;
        for (uint32_t t = 0; t < s.threads.size(); ++t)
            if (const OpNode* n = cur[t].current) {
                if (!line) line = n->op.line;
                waits += (waits.empty() ? "" : "; ") + std::string("thread '") + thread_name(t) + "' waits at barrier '" +
                         barrier_names[n->op.target] + "' (line " + std::to_string(n->op.line) + ")";
            }
        if (waits.empty()) return Ok{};
        return fail(ErrorKind::CannotFinish,
                    at(line) + "the storm cannot finish: the threads meet the barriers in different orders: " + waits);
    }

    // MAP_FIXED into a range the storm unmapped replaces whatever the kernel put
    // there meanwhile (POSIX): say so when a storm also makes the kernel place things.
    void note_hole_reuse() {
        bool fixed_unmap = false, fixed_map = false, kernel_places = false, hint_hole = false;
        for (const ThreadDecl& d : s.threads)
            for_each_node(d.ops, [&](uint32_t n) {
                const gmm_storm_op& op = s.nodes[n].op;
                const bool region_op = op.kind == GMM_STORM_OP_MAP || op.kind == GMM_STORM_OP_UNMAP;
                const RegionDecl* r = region_op ? &s.regions[op.target] : nullptr;
                if (r && !r->hint) (op.kind == GMM_STORM_OP_MAP ? fixed_map : fixed_unmap) = true;
                if ((r && r->hint && op.kind == GMM_STORM_OP_MAP) || op.kind == GMM_STORM_OP_SPAWN) kernel_places = true;
                if (r && r->hint && op.kind == GMM_STORM_OP_UNMAP && (op.offset_bytes || op.length_bytes != r->size_bytes))
                    hint_hole = true;
            });
        if (fixed_unmap && fixed_map && kernel_places)
            notes.push_back("fixed ranges are unmapped and mapped again while the kernel places other mappings (hint "
                            "regions or spawned stacks): a hole may be reused in between and the MAP_FIXED then "
                            "replaces that mapping (POSIX semantics); expectations on it can fail");
        if (hint_hole && kernel_places)
            notes.push_back("a partial unmap of a kernel-placed region leaves a hole the kernel may give to another "
                            "mapping; later ops on the region's range then reach that mapping");
    }

    // A verified read expects the file's own page; a write to a private file
    // mapping replaces that page with an anonymous copy, so the two cannot mix.
    LinkResult check_verify() {
        std::map<uint32_t, uint32_t> verified, written;  // region -> first line
        for (const ThreadDecl& d : s.threads)
            for_each_node(d.ops, [&](uint32_t n) {
                const gmm_storm_op& op = s.nodes[n].op;
                if (op.kind != GMM_STORM_OP_TOUCH) return;
                if (op.flags & GMM_STORM_OPF_VERIFY) verified.emplace(op.target, op.line);
                if (op.flags & GMM_STORM_OPF_WRITE) written.emplace(op.target, op.line);
            });
        for (const auto& [r, line] : written)
            if (auto it = verified.find(r); it != verified.end())
                return fail(ErrorKind::InvalidArgument,
                            at(line) + "touch writes to region '" + s.regions[r].name + "' whose pages line " +
                                std::to_string(it->second) +
                                " verifies (a written private file page is an anonymous copy, no longer the file's)");
        return Ok{};
    }

    LinkResult check_regions() {
        std::vector<uint32_t> fixed;
        for (uint32_t r = 0; r < s.regions.size(); ++r)
            if (!s.regions[r].hint) fixed.push_back(r);
        std::sort(fixed.begin(), fixed.end(), [&](uint32_t a, uint32_t b) { return s.regions[a].gva < s.regions[b].gva; });
        for (size_t i = 1; i < fixed.size(); ++i) {
            const RegionDecl& a = s.regions[fixed[i - 1]];
            const RegionDecl& b = s.regions[fixed[i]];
            if (b.gva < a.gva + a.size_bytes) {
                const RegionDecl& later = a.line > b.line ? a : b;
                const RegionDecl& other = a.line > b.line ? b : a;
                return fail(ErrorKind::InvalidArgument, at(later.line) + "region '" + later.name +
                                                            "' overlaps region '" + other.name + "' (line " +
                                                            std::to_string(other.line) + ")");
            }
        }
        return Ok{};
    }

    LinkResult emit(const std::vector<uint32_t>& list, uint32_t t, uint32_t depth, std::vector<gmm_storm_op>& out,
                    uint32_t first) {
        for (uint32_t n : list) {
            const OpNode& node = s.nodes[n];
            if (out.size() >= GMM_STORM_MAX_OPS)
                return fail(ErrorKind::Limit, at(node.op.line) + "the storm has more than " +
                                                  std::to_string(GMM_STORM_MAX_OPS) + " operations");
            gmm_storm_op op = node.op;
            if (op.kind == GMM_STORM_OP_TOUCH && (op.flags & GMM_STORM_OPF_RANDOM))
                op.b = mix_seed(s.options.seed, t, out.size() - first);
            if (op.kind != GMM_STORM_OP_LOOP) {
                out.push_back(op);
                continue;
            }
            if (depth >= GMM_STORM_MAX_LOOP_DEPTH)
                return fail(ErrorKind::Limit, at(op.line) + "loops nested deeper than " +
                                                  std::to_string(GMM_STORM_MAX_LOOP_DEPTH));
            const size_t begin = out.size();
            out.push_back(op);
            if (LinkResult st = emit(node.body, t, depth + 1, out, first); !st) return st;
            if (out.size() >= GMM_STORM_MAX_OPS)
                return fail(ErrorKind::Limit, at(op.line) + "the storm has more than " +
                                                  std::to_string(GMM_STORM_MAX_OPS) + " operations");
            const uint32_t body = uint32_t(out.size() - begin - 1);
            out[begin].arg = body;
            gmm_storm_op end{};
            end.kind = GMM_STORM_OP_LOOP_END;
            end.line = op.line;
            end.arg = body;
            out.push_back(end);
        }
        return Ok{};
    }
};

}  // namespace

Result<Program, CompileError> link_program(BuildState& s) {
    Linker k{s, {}, {}, {}, {}};
    if (LinkResult st = k.check_params(); !st) return Err{st.error()};
    if (LinkResult st = k.check_regions(); !st) return Err{st.error()};
    if (LinkResult st = k.check_verify(); !st) return Err{st.error()};
    if (LinkResult st = k.check_vcpus(); !st) return Err{st.error()};
    if (LinkResult st = k.resolve_names(); !st) return Err{st.error()};
    if (LinkResult st = k.check_spawns(); !st) return Err{st.error()};
    if (LinkResult st = k.check_barrier_counts(); !st) return Err{st.error()};
    if (LinkResult st = k.simulate_barriers(); !st) return Err{st.error()};
    k.note_hole_reuse();

    Program p;
    p.script = s.chunk;
    p.storm_name = s.storm_name;
    p.seed = s.options.seed;
    p.vcpus = s.options.vcpus;
    p.stop_on_failure = s.stop_on_failure;
    p.params = s.params_read;
    p.notes = k.notes;
    for (const RegionDecl& r : s.regions)
        p.regions.push_back({r.name, r.gva, r.size_bytes, r.prot,
                             (r.shared ? GMM_STORM_RF_SHARED : 0u) | (r.hint ? GMM_STORM_RF_HINT : 0u) |
                                 (r.premapped ? GMM_STORM_RF_PREMAPPED : 0u) | (r.file ? GMM_STORM_RF_FILE : 0u),
                             r.line, r.file ? r.file_slot : 0u, r.file ? r.file_offset : 0u});
    for (uint32_t f = 0; f < s.files.size(); ++f)
        p.files.push_back({s.files[f].name, s.files[f].name.empty() ? s.files[f].index : 0u, s.file_lines[f]});
    for (uint32_t t = 0; t < s.threads.size(); ++t) {
        const ThreadDecl& d = s.threads[t];
        const uint32_t first = uint32_t(p.ops.size());
        if (LinkResult st = k.emit(d.ops, t, 0, p.ops, first); !st) return Err{st.error()};
        p.threads.push_back({d.name, d.vcpu, d.spawned, first, uint32_t(p.ops.size() - first), d.line});
    }
    for (uint32_t b = 0; b < k.barrier_names.size(); ++b)
        p.barriers.push_back({k.barrier_names[b], uint32_t(k.passes[b].size()),
                              std::min_element(k.passes[b].begin(), k.passes[b].end(),
                                               [](const auto& x, const auto& y) { return x.second.second < y.second.second; })
                                  ->second.second});
    p.blob = encode(p);
    if (p.blob.size() > GMM_STORM_MAX_BLOB_BYTES)
        return Err{CompileError{ErrorKind::Limit, s.chunk + ":1: the compiled storm has " + std::to_string(p.blob.size()) +
                                                      " bytes (limit " + std::to_string(GMM_STORM_MAX_BLOB_BYTES) + ")"}};
    return p;
}

}  // namespace gmm::storm
