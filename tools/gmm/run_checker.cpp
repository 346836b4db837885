#include "run_checker.h"

#include <unistd.h>

#include <chrono>

namespace gmm::cli {

using check::CheckMode;

namespace {
constexpr uint64_t kSafepointTimeoutMs = 10000;
}

RunChecker::RunChecker(vmm::Machine& machine, CheckMode mode, uint64_t interval_ms, bool progress)
    : machine_(machine), mode_(mode), interval_ms_(interval_ms), progress_(progress), summary_(mode) {}

RunChecker::~RunChecker() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void RunChecker::start() {
    if (Status st = machine_.enable_dirty_logging(); st) dirty_ok_ = true;
    else summary_.add_error("dirty logging: " + st.error().message() + " (I7 not checked)");
    thread_ = std::thread([this] { loop(); });
}

void RunChecker::loop() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
        cv_.wait_for(lock, std::chrono::milliseconds(interval_ms_), [this] { return stop_; });
        if (stop_) return;
        // Nothing to check until the guest built its address space and every vCPU is up.
        if (!machine_.started() || !machine_.mm_roots_gpa() || !machine_.all_vcpus_online()) continue;
        lock.unlock();
        if (mode_ == CheckMode::Safepoint) {
            if (Status st = machine_.safepoint_enter(kSafepointTimeoutMs); !st) {
                // The run may be ending (vCPUs gone); anything else is worth reporting.
                lock.lock();
                if (!stop_) summary_.add_error("safepoint: " + st.error().message());
                continue;
            }
            check_once(mode_, false);
            (void)machine_.safepoint_leave();
        } else {
            machine_.pause_all();
            check_once(mode_, false);
            machine_.resume_all();
            (void)machine_.note_check_done();
        }
        lock.lock();
    }
}

void RunChecker::check_once(CheckMode mode, bool guest_stopped) {
    auto roots = machine_.mm_roots_gpa();
    if (!roots) return;
    std::vector<check::RamRegion> regions;
    for (const vmm::MemorySlot& s : machine_.memory().slots())
        if (const uint8_t* p = machine_.memory().translate(s.gpa, s.size_bytes)) regions.push_back({s.gpa.value(), s.size_bytes, p});
    const check::VmRamView view(regions);
    const auto t0 = std::chrono::steady_clock::now();
    auto r = check::check_mm(check::CheckInput{&view, roots->value(), mode, machine_.vcpu_count()});
    if (!r) {
        summary_.add_error(r.error());
        return;
    }
    check_second_stage(r->mapped_frames, machine_.memory().slots(), getpid(), machine_.memory().host_base().value(), *r);
    if (dirty_ok_) {
        auto dirty = machine_.take_dirty_pages();
        if (dirty) dirty_.observe(r->frames, *dirty, *r);
        else r->skipped.push_back("I7: " + dirty.error().message());
    }
    const uint64_t ns = uint64_t(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count());
    summary_.add(*r, ns);
    if (progress_) {
        std::printf("%s", guest_stopped ? "final " : "");
        print_check_line(stdout, summary_.checks(), mode, *r, ns);
        std::fflush(stdout);
    }
}

void RunChecker::finish(const vmm::RunReport& report) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    // The vCPUs are stopped: at DONE every thread has exited, so no CPU is inside
    // the memory manager; after a timeout or stop they may be anywhere.
    const CheckMode final_mode = report.end == vmm::RunEnd::Done ? mode_ : CheckMode::Async;
    check_once(final_mode, true);
}

}  // namespace gmm::cli
