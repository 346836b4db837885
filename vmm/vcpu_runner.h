// One named host thread per vCPU, and a pause/resume-all API: the controller
// sets a request, sets kvm_run.immediate_exit and signals each vCPU thread so
// KVM_RUN returns; every thread acknowledges and then blocks (never spins) until
// resumed. This is what the invariant checker will stand on.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <pthread.h>
#include <thread>
#include <vector>

#include "error.h"
#include "kvm.h"

namespace gmm::vmm {

enum class ExitAction { Continue, StopAll };

enum class VcpuThreadState { NotStarted, Running, Paused, Exited };

class VcpuRunner {
public:
    // Called on the vCPU's thread after each KVM_RUN that returned to user
    // space for a reason other than a kick. Returning StopAll ends every vCPU.
    using ExitHandler = std::function<ExitAction(Vcpu&)>;
    // Called on the vCPU's thread when KVM_RUN fails with an unexpected errno.
    using ErrorHandler = std::function<void(Vcpu&, int err)>;

    VcpuRunner(std::vector<Vcpu*> vcpus, ExitHandler on_exit, ErrorHandler on_error);
    ~VcpuRunner();  // stops and joins
    VcpuRunner(const VcpuRunner&) = delete;
    VcpuRunner& operator=(const VcpuRunner&) = delete;

    Status start();
    // Blocks until every vCPU thread has acknowledged the pause (or exited).
    void pause_all();
    // Blocks until every paused vCPU thread has left the paused state.
    void resume_all();
    // Asks every vCPU to stop and joins the threads. Idempotent.
    void stop_all();
    // Asks every vCPU to stop without joining (safe from any thread, e.g. a
    // control socket or a test); wait_for_stop_request() then returns true.
    void request_stop();
    // Blocks until a handler returned StopAll or request_stop() was called, or
    // `timeout_ms` passed. Returns true if a stop was requested.
    bool wait_for_stop_request(uint64_t timeout_ms);

    VcpuThreadState state(uint32_t index) const;
    uint64_t pauses_acknowledged() const;  // monotonic, for tests

private:
    struct Slot {
        Vcpu* vcpu;
        std::thread thread;
        VcpuThreadState state = VcpuThreadState::NotStarted;
    };
    void thread_main(size_t index);
    void kick_all();

    std::vector<Slot> slots_;
    ExitHandler on_exit_;
    ErrorHandler on_error_;

    mutable std::mutex mu_;
    std::condition_variable cv_;
    bool pause_requested_ = false;   // guarded by mu_, mirrored in flags_
    uint32_t pause_depth_ = 0;       // pause_all() calls not yet matched by resume_all()
    bool stop_requested_ = false;
    bool handler_requested_stop_ = false;
    uint64_t pause_acks_ = 0;
    bool joined_ = false;
};

}  // namespace gmm::vmm
