// `gmm storm` around one run: the stall watchdog (a host thread that reads
// the runner's results area in guest RAM and stops the VM when no thread made
// progress for --stall-timeout), and the storm part of the report (text and
// JSON: per thread, per op kind, failures, stall state).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "gmm/abi/storm.h"
#include "run_report.h"
#include "stormc.h"

namespace gmm::cli {

class StormHooks final : public RunHooks {
public:
    StormHooks(const storm::Program& program, uint64_t stall_timeout_ms);
    ~StormHooks() override;
    void started(vmm::Machine& machine) override;
    void finished(vmm::Machine& machine, const vmm::RunReport& report) override;
    int exit_code(int code) override;
    void print(FILE* out) override;
    void write_json(vmm::JsonWriter& j) override;

    bool stalled() const { return stalled_; }

private:
    void watch(vmm::Machine& machine);
    void stop_watching();
    std::string thread_line(const gmm_storm_results& r, uint32_t t) const;
    std::string op_where(uint32_t op_index) const;

    const storm::Program& program_;
    uint64_t stall_timeout_ms_;
    std::thread watchdog_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stop_ = false;
    std::atomic<bool> stalled_{false};
    uint64_t stalled_after_ms_ = 0;
    std::optional<gmm_storm_results> stall_snapshot_;  // results when the stall was declared
    std::optional<gmm_storm_results> final_;           // results after the run
    bool run_timed_out_ = false;
};

// A copy of the results area out of guest RAM (empty if the area is absent or unreadable).
std::optional<gmm_storm_results> read_storm_results(vmm::Machine& machine);

}  // namespace gmm::cli
