// `gmm run --check`: the invariant checker inside the VMM process. A thread
// checks every interval while the guest runs (safepoint or async), with the
// dirty log for I7; one more check runs after the guest stopped.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "check_runner.h"
#include "machine.h"

namespace gmm::cli {

class RunChecker {
public:
    RunChecker(vmm::Machine& machine, check::CheckMode mode, uint64_t interval_ms, bool progress);
    ~RunChecker();
    void start();
    // Stops the periodic thread; then one last check of the stopped guest
    // (exact when the run ended with DONE, async otherwise).
    void finish(const vmm::RunReport& report);
    const CheckSummary& summary() const { return summary_; }

private:
    void loop();
    void check_once(check::CheckMode mode, bool guest_stopped);
    vmm::Machine& machine_;
    check::CheckMode mode_;
    uint64_t interval_ms_;
    bool progress_;
    CheckSummary summary_;
    DirtyFrameTracker dirty_;
    bool dirty_ok_ = false;
    std::thread thread_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stop_ = false;
};

}  // namespace gmm::cli
