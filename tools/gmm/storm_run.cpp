#include "storm_run.h"

#include <chrono>
#include <cstring>

#include "commands.h"

namespace gmm::cli {

namespace {

constexpr uint64_t kWatchPeriodMs = 100;

using storm::op_kind_name;

std::string hexs(uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
    return buf;
}

const char* runner_state_name(uint32_t s) {
    static const char* const names[] = {"not_started", "validating", "setup",        "running",
                                        "finished",    "invalid",    "setup_failed", "file_failed"};
    return s < sizeof names / sizeof names[0] ? names[s] : "?";
}

const char* segv_reason_name(uint64_t r) {
    switch (r) {
    case GMM_SEGV_NOT_MAPPED: return "not mapped";
    case GMM_SEGV_ACCESS_DENIED: return "access denied";
    case GMM_SEGV_OUT_OF_RANGE: return "out of range";
    case GMM_SEGV_OUT_OF_MEMORY: return "out of memory";
    case GMM_SEGV_IO_ERROR: return "I/O error";
    }
    return "?";
}

uint64_t tsc_to_ns(uint64_t tsc, uint64_t tsc_khz) { return tsc_khz ? uint64_t(double(tsc) * 1e6 / double(tsc_khz)) : 0; }

// What changes while some thread makes progress.
uint64_t progress_signature(const gmm_storm_results& r) {
    uint64_t sig = r.runner_state;
    for (uint32_t t = 0; t < GMM_STORM_MAX_THREADS; ++t)
        sig = sig * 1000003 + r.threads[t].progress + r.threads[t].ops_done * 7 + r.threads[t].state * 13;
    return sig;
}

bool runner_over(const gmm_storm_results& r) {
    return r.runner_state == GMM_STORM_RUNNER_FINISHED || r.runner_state == GMM_STORM_RUNNER_INVALID ||
           r.runner_state == GMM_STORM_RUNNER_SETUP_FAILED || r.runner_state == GMM_STORM_RUNNER_FILE_FAILED;
}

}  // namespace

std::optional<gmm_storm_results> read_storm_results(vmm::Machine& machine) {
    const vmm::BootLayoutInfo& l = machine.layout();
    if (!l.results_size_bytes || l.results_size_bytes < sizeof(gmm_storm_results)) return std::nullopt;
    const uint8_t* p = machine.memory().translate(l.results, sizeof(gmm_storm_results));
    if (!p) return std::nullopt;
    gmm_storm_results r;
    std::memcpy(&r, p, sizeof r);  // a snapshot: the guest keeps writing with plain stores
    return r;
}

StormHooks::StormHooks(const storm::Program& program, uint64_t stall_timeout_ms)
    : program_(program), stall_timeout_ms_(stall_timeout_ms) {}

StormHooks::~StormHooks() { stop_watching(); }

void StormHooks::started(vmm::Machine& machine) {
    watchdog_ = std::thread([this, &machine] { watch(machine); });
}

void StormHooks::stop_watching() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    if (watchdog_.joinable()) watchdog_.join();
}

// Declares a stall when the results area did not change for stall_timeout_ms
// (boot included) while the runner has not finished, and stops the VM.
void StormHooks::watch(vmm::Machine& machine) {
    using clock = std::chrono::steady_clock;
    auto last_change = clock::now();
    uint64_t last_sig = ~0ull;
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
        cv_.wait_for(lock, std::chrono::milliseconds(kWatchPeriodMs), [this] { return stop_; });
        if (stop_) return;
        auto r = read_storm_results(machine);
        if (!r) return;
        if (runner_over(*r)) return;
        const uint64_t sig = progress_signature(*r);
        const auto now = clock::now();
        if (sig != last_sig || machine.in_safepoint()) {
            last_sig = sig;
            last_change = now;
            continue;
        }
        const uint64_t idle_ms =
            uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(now - last_change).count());
        if (idle_ms < stall_timeout_ms_) continue;
        stall_snapshot_ = *r;
        stalled_after_ms_ = idle_ms;
        stalled_ = true;
        machine.request_stop();
        return;
    }
}

void StormHooks::finished(vmm::Machine& machine, const vmm::RunReport& report) {
    stop_watching();
    final_ = read_storm_results(machine);
    run_timed_out_ = report.end == vmm::RunEnd::Timeout;
}

// A stall ends the run as "stopped" (exit 0 so far); a violation found meanwhile keeps its 12.
int StormHooks::exit_code(int code) { return stalled_ && code == kExitOk ? kExitStormStuck : code; }

std::string StormHooks::op_where(uint32_t op_index) const {
    if (op_index >= program_.ops.size()) return "op " + std::to_string(op_index) + " (?)";
    const gmm_storm_op& op = program_.ops[op_index];
    return "op " + std::to_string(op_index) + " (" + op_kind_name(op.kind) + ", line " + std::to_string(op.line) + ")";
}

std::string StormHooks::thread_line(const gmm_storm_results& r, uint32_t t) const {
    const storm::CompiledThread& th = program_.threads[t];
    const gmm_storm_thread_status& st = r.threads[t];
    std::string s = "thread '" + th.name + "' vcpu " + std::to_string(th.vcpu) + ": " +
                    storm::thread_state_name(st.state);
    const bool active = st.state != GMM_STORM_THREAD_NOT_STARTED && st.state != GMM_STORM_THREAD_DONE;
    if (active) s += " at " + op_where(st.op_index);
    if (st.state == GMM_STORM_THREAD_BARRIER && st.op_index < program_.ops.size()) {
        const uint32_t b = program_.ops[st.op_index].target;
        if (b < program_.barriers.size())
            s += ", barrier '" + program_.barriers[b].name + "' has " + std::to_string(r.barriers[b].arrived) + " of " +
                 std::to_string(program_.barriers[b].parties) + " arrived";
    }
    if ((st.state == GMM_STORM_THREAD_SPAWNING || st.state == GMM_STORM_THREAD_JOINING) &&
        st.op_index < program_.ops.size()) {
        const uint32_t target = program_.ops[st.op_index].target;
        if (target < program_.threads.size())
            s += ", thread '" + program_.threads[target].name + "' is " +
                 storm::thread_state_name(r.threads[target].state);
    }
    s += "; " + std::to_string(st.ops_done) + " ops, " + std::to_string(st.failures) + " failure(s)";
    return s;
}

void StormHooks::print(FILE* out) {
    const std::optional<gmm_storm_results>& r = final_;
    if (!r || r->magic != GMM_STORM_RESULTS_MAGIC) {
        std::fprintf(out, "storm: the guest never published its results area\n");
        return;
    }
    uint64_t ops = 0, failures = 0, segv = 0;
    for (uint32_t t = 0; t < program_.threads.size(); ++t) {
        ops += r->threads[t].ops_done;
        failures += r->threads[t].failures;
        for (uint32_t k = 0; k < GMM_STORM_OP_KIND_COUNT; ++k) segv += r->stats[t][k].segv;
    }
    std::fprintf(out, "storm '%s' (%s, seed %llu): runner %s; %zu thread(s), %llu ops, %llu failure(s), %llu SEGV(s) "
                      "caught, %.1f ms\n",
                 program_.storm_name.c_str(), program_.script.c_str(), static_cast<unsigned long long>(program_.seed),
                 runner_state_name(r->runner_state), program_.threads.size(), static_cast<unsigned long long>(ops),
                 static_cast<unsigned long long>(failures), static_cast<unsigned long long>(segv),
                 double(tsc_to_ns(r->end_tsc > r->start_tsc ? r->end_tsc - r->start_tsc : 0, r->tsc_khz)) / 1e6);
    if (r->runner_state == GMM_STORM_RUNNER_INVALID)
        std::fprintf(out, "storm: the runner rejected the programs: %s (index %u)\n", storm::invalid_name(r->runner_error),
                     r->runner_error_index);
    if (r->runner_state == GMM_STORM_RUNNER_SETUP_FAILED)
        std::fprintf(out, "storm: set-up failed with %d at region/thread %u\n", r->runner_error, r->runner_error_index);
    if (r->runner_state == GMM_STORM_RUNNER_FILE_FAILED) {
        const uint32_t f = r->runner_error_index;
        const std::string name = f >= program_.files.size() ? "?"
                                 : program_.files[f].name.empty() ? "#" + std::to_string(program_.files[f].disk_index)
                                                                  : "'" + program_.files[f].name + "'";
        std::fprintf(out, "storm: cannot open file %s (line %u): error %d (-2 no such file on the disk, -19 no disk, -38 no file support)\n",
                     name.c_str(), f < program_.files.size() ? program_.files[f].line : 0, r->runner_error);
    }
    for (uint32_t t = 0; t < program_.threads.size(); ++t) {
        std::string kinds;
        for (uint32_t k = 1; k < GMM_STORM_OP_KIND_COUNT; ++k) {
            const gmm_storm_op_stats& s = r->stats[t][k];
            if (!s.count) continue;
            kinds += std::string(kinds.empty() ? "" : ", ") + op_kind_name(k) + " " + std::to_string(s.count);
            if (s.errors) kinds += " err " + std::to_string(s.errors);
            if (s.segv) kinds += " segv " + std::to_string(s.segv);
            if (s.wrong_pages) kinds += " WRONG PAGES " + std::to_string(s.wrong_pages);
            if (s.failures) kinds += " FAILED " + std::to_string(s.failures);
        }
        std::fprintf(out, "  %s [%s]\n", thread_line(*r, t).c_str(), kinds.c_str());
        const gmm_storm_thread_status& st = r->threads[t];
        if (st.failures) {
            std::string what = storm::failure_name(st.first_failure);
            if (st.first_failure == GMM_STORM_FAILURE_SEGV)
                what = "SEGV at " + hexs(st.first_failure_value) + " (" + segv_reason_name(st.first_failure_detail) + ")";
            else if (st.first_failure == GMM_STORM_FAILURE_WRONG_PAGE)
                what = "wrong page at " + hexs(st.first_failure_value) + ": it shows " +
                       (st.first_failure_detail == ~0u ? std::string("no file page signature")
                                                        : "a page of disk file #" + std::to_string(st.first_failure_detail)) +
                       ", not the page the mapping must show";
            else if (st.first_failure == GMM_STORM_FAILURE_NO_SEGV)
                what = "no SEGV at " + hexs(st.first_failure_value) + " where one was expected";
            else
                what += " " + std::to_string(int64_t(st.first_failure_value));
            std::fprintf(out, "    first failure: %s: %s\n", op_where(st.first_failure_op).c_str(), what.c_str());
        }
    }
    if (stalled_ && stall_snapshot_) {
        std::fprintf(out, "storm stalled: no thread made progress for %.1f s; stopped the VM. Thread states then:\n",
                     double(stalled_after_ms_) / 1e3);
        for (uint32_t t = 0; t < program_.threads.size(); ++t)
            std::fprintf(out, "  %s\n", thread_line(*stall_snapshot_, t).c_str());
    } else if (run_timed_out_) {
        std::fprintf(out, "storm: the run timed out; thread states at the end:\n");
        for (uint32_t t = 0; t < program_.threads.size(); ++t)
            std::fprintf(out, "  %s\n", thread_line(*r, t).c_str());
    }
}

void StormHooks::write_json(vmm::JsonWriter& j) {
    j.key("storm");
    j.begin_object();
    j.key("script"); j.string(program_.script);
    j.key("name"); j.string(program_.storm_name);
    j.key("seed"); j.u64(program_.seed);
    j.key("params"); j.begin_object();
    for (const auto& [k, v] : program_.params) { j.key(k); j.string(v); }
    j.end_object();
    j.key("program_bytes"); j.u64(program_.blob.size());
    j.key("ops_compiled"); j.u64(program_.ops.size());
    j.key("files"); j.begin_array();
    for (const storm::CompiledFile& f : program_.files) {
        j.begin_object();
        if (f.name.empty()) { j.key("index"); j.u64(f.disk_index); }
        else { j.key("name"); j.string(f.name); }
        j.key("line"); j.u64(f.line);
        j.end_object();
    }
    j.end_array();
    j.key("notes"); j.begin_array();
    for (const std::string& n : program_.notes) j.string(n);
    j.end_array();
    j.key("stalled"); j.boolean(stalled_);
    if (stalled_) {
        j.key("stall"); j.begin_object();
        j.key("idle_ms"); j.u64(stalled_after_ms_);
        j.key("threads"); j.begin_array();
        for (uint32_t t = 0; t < program_.threads.size() && stall_snapshot_; ++t) j.string(thread_line(*stall_snapshot_, t));
        j.end_array();
        j.end_object();
    }
    const std::optional<gmm_storm_results>& r = final_;
    const bool have = r && r->magic == GMM_STORM_RESULTS_MAGIC;
    j.key("runner"); j.begin_object();
    j.key("state"); j.string(have ? runner_state_name(r->runner_state) : "absent");
    j.key("error"); j.i64(have ? r->runner_error : 0);
    j.key("error_index"); j.u64(have ? r->runner_error_index : 0);
    if (have && r->runner_state == GMM_STORM_RUNNER_INVALID) { j.key("invalid"); j.string(storm::invalid_name(r->runner_error)); }
    j.key("duration_ns"); j.u64(have && r->end_tsc > r->start_tsc ? tsc_to_ns(r->end_tsc - r->start_tsc, r->tsc_khz) : 0);
    j.end_object();
    uint64_t tot_ops = 0, tot_fail = 0, tot_err = 0, tot_segv = 0, tot_access = 0, tot_wrong = 0;
    j.key("threads"); j.begin_array();
    for (uint32_t t = 0; t < program_.threads.size(); ++t) {
        const storm::CompiledThread& th = program_.threads[t];
        j.begin_object();
        j.key("name"); j.string(th.name);
        j.key("vcpu"); j.u64(th.vcpu);
        j.key("spawned"); j.boolean(th.spawned);
        if (!have) { j.end_object(); continue; }
        const gmm_storm_thread_status& st = r->threads[t];
        j.key("state"); j.string(storm::thread_state_name(st.state));
        j.key("runs"); j.u64(st.runs);
        j.key("ops_done"); j.u64(st.ops_done);
        j.key("failures"); j.u64(st.failures);
        tot_ops += st.ops_done;
        tot_fail += st.failures;
        if (st.failures) {
            j.key("first_failure"); j.begin_object();
            j.key("kind"); j.string(storm::failure_name(st.first_failure));
            j.key("op"); j.u64(st.first_failure_op);
            if (st.first_failure_op < program_.ops.size()) {
                j.key("op_kind"); j.string(op_kind_name(program_.ops[st.first_failure_op].kind));
                j.key("line"); j.u64(program_.ops[st.first_failure_op].line);
            }
            j.key("value"); j.i64(int64_t(st.first_failure_value));
            j.key("detail"); j.u64(st.first_failure_detail);
            j.end_object();
        }
        j.key("ops"); j.begin_object();
        for (uint32_t k = 1; k < GMM_STORM_OP_KIND_COUNT; ++k) {
            const gmm_storm_op_stats& s = r->stats[t][k];
            if (!s.count) continue;
            tot_err += s.errors;
            tot_segv += s.segv;
            tot_wrong += s.wrong_pages;
            if (k == GMM_STORM_OP_TOUCH) tot_access += s.units + s.segv;
            j.key(op_kind_name(k)); j.begin_object();
            j.key("count"); j.u64(s.count);
            j.key("failures"); j.u64(s.failures);
            j.key("errors"); j.u64(s.errors);
            j.key("segv"); j.u64(s.segv);
            if (k == GMM_STORM_OP_TOUCH) { j.key("accesses_ok"); j.u64(s.units); j.key("wrong_pages"); j.u64(s.wrong_pages); }
            if (k == GMM_STORM_OP_SPAWN) { j.key("threads"); j.u64(s.units); }
            if (k == GMM_STORM_OP_MAP || k == GMM_STORM_OP_UNMAP || k == GMM_STORM_OP_PROTECT) { j.key("bytes"); j.u64(s.units); }
            j.key("time_ns_total"); j.u64(tsc_to_ns(s.tsc_total, r->tsc_khz));
            j.key("time_ns_max"); j.u64(tsc_to_ns(s.tsc_max, r->tsc_khz));
            j.end_object();
        }
        j.end_object();
        j.end_object();
    }
    j.end_array();
    j.key("barriers"); j.begin_array();
    for (uint32_t b = 0; b < program_.barriers.size(); ++b) {
        j.begin_object();
        j.key("name"); j.string(program_.barriers[b].name);
        j.key("parties"); j.u64(program_.barriers[b].parties);
        j.key("passes"); j.u64(have ? r->barriers[b].generation : 0);
        j.end_object();
    }
    j.end_array();
    j.key("totals"); j.begin_object();
    j.key("ops"); j.u64(tot_ops);
    j.key("failures"); j.u64(tot_fail);
    j.key("errors"); j.u64(tot_err);
    j.key("segv"); j.u64(tot_segv);
    j.key("accesses"); j.u64(tot_access);
    j.key("wrong_pages"); j.u64(tot_wrong);
    j.end_object();
    j.end_object();
}

}  // namespace gmm::cli
