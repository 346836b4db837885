#include "check_runner.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>

#include "kvm.h"  // Fd

namespace gmm::cli {

using check::CheckMode;
using check::CheckResult;
using check::Violation;

namespace {
std::string hex(uint64_t v) {
    char b[24];
    std::snprintf(b, sizeof b, "0x%" PRIx64, v);
    return b;
}
constexpr uint64_t kPage = 4096;
}  // namespace

bool parse_check_mode(const std::string& s, CheckMode& out) {
    if (s == "safepoint") out = CheckMode::Safepoint;
    else if (s == "async") out = CheckMode::Async;
    else return false;
    return true;
}

SecondStageStats check_second_stage(const std::vector<uint64_t>& gpas, const std::vector<vmm::MemorySlot>& slots,
                                    pid_t vmm_pid, uint64_t host_base_hva, CheckResult& r) {
    SecondStageStats st;
    const std::string path = "/proc/" + std::to_string(vmm_pid) + "/pagemap";
    vmm::Fd pagemap(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!pagemap.valid()) r.skipped.push_back("I6 host pages: cannot open " + path);
    auto slot_of = [&](uint64_t gpa) -> const vmm::MemorySlot* {
        for (const vmm::MemorySlot& s : slots)
            if (gpa >= s.gpa.value() && gpa - s.gpa.value() < s.size_bytes) return &s;
        return nullptr;
    };
    // `gpas` is sorted: read the pagemap entries of each run of consecutive pages at once.
    std::vector<uint64_t> entries;
    for (size_t k = 0; k < gpas.size();) {
        const uint64_t first = gpas[k];
        const vmm::MemorySlot* slot = slot_of(first);
        size_t n = 1;
        if (!slot) {
            Violation v;
            v.invariant = "I6";
            v.gpa = first;
            v.detail = "a user PTE reaches a guest-physical address outside every RAM slot";
            check::add_violation(r, std::move(v));
            ++st.frames;
            ++k;
            continue;
        }
        const uint64_t slot_end = slot->gpa.value() + slot->size_bytes;
        while (k + n < gpas.size() && gpas[k + n] == first + n * kPage && gpas[k + n] < slot_end && n < 4096) ++n;
        st.frames += n;
        k += n;
        if (!pagemap.valid() || host_base_hva == 0) continue;
        const uint64_t hva = host_base_hva + first;  // the VMM maps GPA 0 at host_base_hva (slots at their GPA)
        entries.resize(n);
        const ssize_t want = ssize_t(n * sizeof(uint64_t));
        if (pread(pagemap.get(), entries.data(), size_t(want), off_t(hva / kPage * 8)) != want) {
            Violation v;
            v.invariant = "I6";
            v.gpa = first;
            v.detail = "no host mapping at HVA " + hex(hva) + " for this guest-physical page";
            check::add_violation(r, std::move(v));
            continue;
        }
        for (uint64_t e : entries) {
            if (e & (3ull << 62)) ++st.populated;  // present or swapped
            else ++st.not_populated;
        }
    }
    r.stats.host_pages_populated = st.populated;
    r.stats.host_pages_unpopulated = st.not_populated;
    return st;
}

void DirtyFrameTracker::observe(const std::vector<gmm_frame_meta>& frames, const std::vector<uint64_t>& dirty_gpas,
                                CheckResult& r) {
    if (have_previous_) {
        for (uint64_t gpa : dirty_gpas) {
            const uint64_t i = gpa / kPage;
            if (i >= frames.size() || i >= previous_.size()) continue;
            const gmm_frame_meta& a = previous_[i];
            const gmm_frame_meta& b = frames[i];
            const bool free_a = a.state == GMM_FRAME_FREE_ZERO || a.state == GMM_FRAME_FREE_DIRTY;
            const bool free_b = b.state == GMM_FRAME_FREE_ZERO || b.state == GMM_FRAME_FREE_DIRTY;
            if (free_a && free_b && a.alloc_seq == b.alloc_seq) {
                Violation v;
                v.invariant = "I7";
                v.gpa = gpa;
                v.detail = "the guest wrote this frame while it was free (free at both checks, never reallocated): "
                           "a write through a stale translation or a use after free (state " +
                           std::to_string(a.state) + " then " + std::to_string(b.state) + ", alloc_seq " +
                           std::to_string(a.alloc_seq) + ")";
                check::add_violation(r, std::move(v));
            }
        }
    }
    previous_ = frames;
    have_previous_ = true;
}

void CheckSummary::add(const CheckResult& r, uint64_t host_ns) {
    ++checks_;
    host_ns_.push_back(host_ns);
    dropped_ += r.violations_dropped;
    last_stats_ = r.stats;
    for (const Violation& v : r.violations) {
        const std::string key = v.invariant + "|" + hex(v.gva) + "|" + hex(v.gpa) + "|" + v.detail;
        if (seen_[key]++ == 0 && violations_.size() < check::kMaxViolations) violations_.push_back(v);
    }
    for (const std::string& s : r.skipped) ++skipped_[s];
}

void CheckSummary::add_error(const std::string& e) { errors_.push_back(e); }

void print_violation(FILE* out, const Violation& v) {
    std::fprintf(out, "  %s %s", v.invariant.c_str(), v.detail.c_str());
    if (v.gva) std::fprintf(out, " gva=%s", hex(v.gva).c_str());
    if (v.gpa) std::fprintf(out, " gpa=%s", hex(v.gpa).c_str());
    if (v.pte) std::fprintf(out, " pte=%s", hex(v.pte).c_str());
    if (v.level) std::fprintf(out, " level=%d", v.level);
    if (v.cpu >= 0) std::fprintf(out, " cpu=%d", v.cpu);
    if (!v.mapping.empty()) std::fprintf(out, " mapping: %s", v.mapping.c_str());
    std::fprintf(out, "\n");
}

void print_check_line(FILE* out, uint64_t index, CheckMode mode, const CheckResult& r, uint64_t host_ns) {
    std::fprintf(out,
                 "check %" PRIu64 " (%s): %zu violation(s), %zu skipped; %" PRIu64 " tables, %" PRIu64 " PTEs, %" PRIu64
                 " mappings, %" PRIu64 " free ranges, %" PRIu64 " frames; %.2f ms\n",
                 index, check::check_mode_name(mode), r.violations.size() + r.violations_dropped, r.skipped.size(),
                 r.stats.tables, r.stats.ptes, r.stats.mappings, r.stats.free_ranges, r.stats.frames,
                 double(host_ns) / 1e6);
}

void CheckSummary::print(FILE* out) const {
    std::vector<uint64_t> ns = host_ns_;
    std::sort(ns.begin(), ns.end());
    std::fprintf(out, "checker: %" PRIu64 " check(s), mode %s, %zu distinct violation(s)", checks_,
                 check::check_mode_name(mode_), violations_.size());
    if (!ns.empty()) std::fprintf(out, ", median %.2f ms host time per check", double(ns[ns.size() / 2]) / 1e6);
    std::fprintf(out, "\n");
    for (const Violation& v : violations_) print_violation(out, v);
    if (dropped_) std::fprintf(out, "  ... and %" PRIu64 " more (capped per check)\n", dropped_);
    for (const auto& [s, n] : skipped_) std::fprintf(out, "  skipped (%" PRIu64 "x): %s\n", n, s.c_str());
    for (const std::string& e : errors_) std::fprintf(out, "  error: %s\n", e.c_str());
}

void CheckSummary::write_json(vmm::JsonWriter& j) const {
    j.begin_object();
    j.key("mode"); j.string(check::check_mode_name(mode_));
    j.key("checks"); j.u64(checks_);
    j.key("violations"); j.begin_array();
    for (const Violation& v : violations_) {
        j.begin_object();
        j.key("invariant"); j.string(v.invariant);
        j.key("gva"); j.u64(v.gva);
        j.key("gpa"); j.u64(v.gpa);
        j.key("pte"); j.u64(v.pte);
        j.key("level"); j.u64(uint64_t(v.level));
        j.key("cpu"); j.i64(v.cpu);
        j.key("mapping"); j.string(v.mapping);
        j.key("detail"); j.string(v.detail);
        j.end_object();
    }
    j.end_array();
    j.key("violations_dropped"); j.u64(dropped_);
    j.key("skipped"); j.begin_array();
    for (const auto& [s, n] : skipped_) {
        j.begin_object();
        j.key("what"); j.string(s);
        j.key("times"); j.u64(n);
        j.end_object();
    }
    j.end_array();
    j.key("errors"); j.begin_array();
    for (const std::string& e : errors_) j.string(e);
    j.end_array();
    std::vector<uint64_t> ns = host_ns_;
    std::sort(ns.begin(), ns.end());
    j.key("host_ns_median"); j.u64(ns.empty() ? 0 : ns[ns.size() / 2]);
    j.key("last_stats"); j.begin_object();
    j.key("tables"); j.u64(last_stats_.tables);
    j.key("ptes"); j.u64(last_stats_.ptes);
    j.key("mappings"); j.u64(last_stats_.mappings);
    j.key("free_ranges"); j.u64(last_stats_.free_ranges);
    j.key("frames"); j.u64(last_stats_.frames);
    j.key("host_pages_populated"); j.u64(last_stats_.host_pages_populated);
    j.key("host_pages_unpopulated"); j.u64(last_stats_.host_pages_unpopulated);
    j.end_object();
    j.end_object();
}

}  // namespace gmm::cli
