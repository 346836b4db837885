#include "vcpu_runner.h"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <string>

namespace gmm::vmm {

namespace {

// The kick signal only has to interrupt KVM_RUN; its handler does nothing.
constexpr int kKickSignal = SIGUSR1;

void kick_handler(int) {}

void install_kick_handler_once() {
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction sa {};
        sa.sa_handler = kick_handler;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = 0;  // no SA_RESTART: KVM_RUN must return EINTR
        sigaction(kKickSignal, &sa, nullptr);
    });
}

}  // namespace

VcpuRunner::VcpuRunner(std::vector<Vcpu*> vcpus, ExitHandler on_exit, ErrorHandler on_error)
    : on_exit_(std::move(on_exit)), on_error_(std::move(on_error)) {
    for (Vcpu* v : vcpus) slots_.push_back(Slot{v, {}, VcpuThreadState::NotStarted});
}

VcpuRunner::~VcpuRunner() { stop_all(); }

Status VcpuRunner::start() {
    install_kick_handler_once();
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < slots_.size(); ++i) {
        slots_[i].state = VcpuThreadState::Running;
        try {
            slots_[i].thread = std::thread(&VcpuRunner::thread_main, this, i);
        } catch (const std::system_error& e) {
            slots_[i].state = VcpuThreadState::Exited;
            return Err{sys_error("starting the thread of vCPU " + std::to_string(i), e.code().value())};
        }
        // Linux thread names hold 15 characters; "gmm-vcpu" + up to 7 digits fits.
        const std::string name = ("gmm-vcpu" + std::to_string(i)).substr(0, 15);
        pthread_setname_np(slots_[i].thread.native_handle(), name.c_str());
    }
    return Ok{};
}

void VcpuRunner::kick_all() {
    // Caller holds mu_. immediate_exit makes a KVM_RUN that has not started yet
    // return at once; the signal interrupts one already running.
    for (Slot& s : slots_) {
        if (s.state != VcpuThreadState::Running) continue;
        __atomic_store_n(&s.vcpu->run_struct()->immediate_exit, 1, __ATOMIC_SEQ_CST);
        pthread_kill(s.thread.native_handle(), kKickSignal);
    }
}

void VcpuRunner::thread_main(size_t index) {
    Slot& slot = slots_[index];
    Vcpu& vcpu = *slot.vcpu;
    for (;;) {
        {
            std::unique_lock<std::mutex> lock(mu_);
            if (stop_requested_) break;
            if (pause_requested_) {
                slot.state = VcpuThreadState::Paused;
                ++pause_acks_;
                cv_.notify_all();
                cv_.wait(lock, [&] { return !pause_requested_ || stop_requested_; });
                slot.state = VcpuThreadState::Running;
                cv_.notify_all();
                continue;
            }
        }
        int err = vcpu.run();
        if (err == EINTR || err == EAGAIN) {
            __atomic_store_n(&vcpu.run_struct()->immediate_exit, 0, __ATOMIC_SEQ_CST);
            continue;
        }
        ExitAction action = ExitAction::StopAll;
        if (err != 0) {
            on_error_(vcpu, err);
        } else {
            action = on_exit_(vcpu);
        }
        if (action == ExitAction::StopAll) {
            std::lock_guard<std::mutex> lock(mu_);
            handler_requested_stop_ = true;
            stop_requested_ = true;
            kick_all();
            cv_.notify_all();
            break;
        }
    }
    std::lock_guard<std::mutex> lock(mu_);
    slot.state = VcpuThreadState::Exited;
    cv_.notify_all();
}

void VcpuRunner::pause_all() {
    std::unique_lock<std::mutex> lock(mu_);
    ++pause_depth_;
    pause_requested_ = true;
    kick_all();
    cv_.wait(lock, [&] {
        for (const Slot& s : slots_)
            if (s.state == VcpuThreadState::Running) return false;
        return true;
    });
}

void VcpuRunner::resume_all() {
    std::unique_lock<std::mutex> lock(mu_);
    if (pause_depth_ > 0) --pause_depth_;
    if (pause_depth_ > 0) return;  // another pauser (e.g. the checker vs. `gmm pause`) still holds the vCPUs
    pause_requested_ = false;
    cv_.notify_all();
    cv_.wait(lock, [&] {
        for (const Slot& s : slots_)
            if (s.state == VcpuThreadState::Paused) return false;
        return true;
    });
}

void VcpuRunner::stop_all() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (joined_) return;
        stop_requested_ = true;
        kick_all();
        cv_.notify_all();
    }
    for (Slot& s : slots_)
        if (s.thread.joinable()) s.thread.join();
    std::lock_guard<std::mutex> lock(mu_);
    joined_ = true;
}

void VcpuRunner::request_stop() {
    std::lock_guard<std::mutex> lock(mu_);
    handler_requested_stop_ = true;
    stop_requested_ = true;
    kick_all();
    cv_.notify_all();
}

bool VcpuRunner::wait_for_stop_request(uint64_t timeout_ms) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return handler_requested_stop_; });
    return handler_requested_stop_;
}

VcpuThreadState VcpuRunner::state(uint32_t index) const {
    std::lock_guard<std::mutex> lock(mu_);
    return slots_.at(index).state;
}

uint64_t VcpuRunner::pauses_acknowledged() const {
    std::lock_guard<std::mutex> lock(mu_);
    return pause_acks_;
}

}  // namespace gmm::vmm
