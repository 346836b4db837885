// Running the invariant checker against a VM, shared by `gmm check NAME`
// (another process, over the control socket) and `gmm run --check` (in
// process): the second-stage (I6) and dirty-frame (I7) checks that need the
// host, the per-check progress line, the summary and its JSON.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "checker.h"
#include "guest_memory.h"
#include "json_writer.h"

namespace gmm::cli {

bool parse_check_mode(const std::string& s, check::CheckMode& out);

// I6: every GPA a present user PTE reaches lies in a RAM slot whose host
// mapping exists in the VMM process; populated host pages are counted
// through /proc/PID/pagemap (a page the guest has not touched since it was
// zeroed has no host page yet, which is not a violation).
struct SecondStageStats {
    uint64_t frames = 0, populated = 0, not_populated = 0;
};
SecondStageStats check_second_stage(const std::vector<uint64_t>& gpas, const std::vector<vmm::MemorySlot>& slots,
                                    pid_t vmm_pid, uint64_t host_base_hva, check::CheckResult& r);

// I7: a frame written while it was free the whole time between two checks.
class DirtyFrameTracker {
public:
    // `dirty_gpas`: pages the guest wrote since the previous observe().
    void observe(const std::vector<gmm_frame_meta>& frames, const std::vector<uint64_t>& dirty_gpas,
                 check::CheckResult& r);

private:
    std::vector<gmm_frame_meta> previous_;
    bool have_previous_ = false;
};

// Everything the checks of one session found (violations deduplicated).
class CheckSummary {
public:
    explicit CheckSummary(check::CheckMode mode) : mode_(mode) {}
    void add(const check::CheckResult& r, uint64_t host_ns);
    void add_error(const std::string& e);
    uint64_t checks() const { return checks_; }
    uint64_t violation_count() const { return violations_.size(); }
    const std::vector<check::Violation>& violations() const { return violations_; }
    void print(FILE* out) const;
    void write_json(vmm::JsonWriter& j) const;  // an object: mode, checks, violations, skipped, errors
    check::CheckMode mode() const { return mode_; }

private:
    check::CheckMode mode_;
    uint64_t checks_ = 0;
    uint64_t dropped_ = 0;
    std::vector<check::Violation> violations_;
    std::map<std::string, uint64_t> seen_;  // dedup key -> times seen
    std::map<std::string, uint64_t> skipped_;
    std::vector<std::string> errors_;
    std::vector<uint64_t> host_ns_;
    check::CheckStats last_stats_;
};

// One line per check for people.
void print_check_line(FILE* out, uint64_t index, check::CheckMode mode, const check::CheckResult& r, uint64_t host_ns);
void print_violation(FILE* out, const check::Violation& v);

}  // namespace gmm::cli
