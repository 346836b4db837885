// The control socket server of one VM: one thread, one connection at a time,
// one request per connection (docs/control-protocol.md). It controls a VM only
// through the ControlTarget interface, so it is testable without KVM and does
// not depend on the CLI.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "control_protocol.h"
#include "error.h"
#include "gmm/addr.h"
#include "guest_memory.h"

namespace gmm::vmm {

class Machine;

enum class VmRunState { Booting, Running, Paused, Safepoint };
const char* vm_run_state_name(VmRunState);

// Boot-layout GPAs a checker needs to find its way in guest RAM.
struct ControlLayout {
    Gpa boot_info, kernel_pml4, kernel_start, kernel_end, fdt, user_image, reserved_end;
    uint64_t fdt_size_bytes = 0;
    uint64_t user_image_size_bytes = 0;
    uint64_t host_base_hva = 0;  // where GPA 0 is mapped in the VMM process (for /proc/PID/pagemap)
};

struct ControlSnapshot {
    uint32_t vcpus = 0;
    uint64_t ram_bytes = 0;
    VmRunState state = VmRunState::Booting;
    std::vector<MemorySlot> slots;
    ControlLayout layout;
    // What each vCPU published so far (GMM_UCALL_RESULT key -> value): this is
    // where the guest announces its roots (e.g. spin_counter_gpa).
    std::vector<std::map<std::string, uint64_t>> published;
    std::string kvm_mode = "unknown";  // emulated | native | unknown (see HOST-KVM.md)
};

// What the server needs from a VM. Called on the server thread only.
class ControlTarget {
public:
    virtual ~ControlTarget() = default;
    virtual ControlSnapshot snapshot() const = 0;
    // Returns once every vCPU acknowledged (or fails, naming why).
    virtual Status pause() = 0;
    // Resumes from a pause or releases a safepoint.
    virtual Status resume() = 0;
    // Every vCPU parked outside the memory manager, then paused (docs/checker.md).
    virtual Status safepoint() = 0;
    virtual void stop() = 0;
    virtual int memfd() const = 0;  // guest RAM; the server passes a dup via SCM_RIGHTS
    // Guest-physical frames written since the previous call that are free now
    // (the checker's I7); the first call turns KVM dirty logging on.
    struct DirtyReport {
        bool started = false;         // this call started logging (a baseline, nothing to compare)
        uint64_t dirty_pages = 0;     // pages written since the previous call
        std::vector<uint64_t> free_frames;  // of those, frames the guest's allocator holds free
        bool truncated = false;
    };
    virtual Result<DirtyReport> dirty() { return Err{plain_error("dirty logging is not available here")}; }
    // Each vCPU's CR3 (the VM is paused for the read if it is running).
    virtual Result<std::vector<uint64_t>> cr3s() { return Err{plain_error("vCPU registers are not available here")}; }
    // Called about twice a second on the server thread (leases).
    virtual void tick() {}
    // Every cumulative KVM binary stat of each vCPU, read now (`gmm stat`, issue 7).
    virtual std::vector<std::map<std::string, uint64_t>> kvm_stats() const = 0;
};

// Adapts a Machine whose run() is in progress (or about to be) on another thread.
class MachineControlTarget final : public ControlTarget {
public:
    MachineControlTarget(Machine& machine, uint64_t ram_bytes);
    ControlSnapshot snapshot() const override;
    Status pause() override;
    Status resume() override;
    Status safepoint() override;
    void stop() override;
    int memfd() const override;
    Result<DirtyReport> dirty() override;
    Result<std::vector<uint64_t>> cr3s() override;
    // Releases a safepoint whose client vanished (no resume within the lease).
    void tick() override;
    std::vector<std::map<std::string, uint64_t>> kvm_stats() const override;

private:
    Machine& machine_;
    std::chrono::steady_clock::time_point safepoint_since_{};
    bool dirty_started_ = false;
    bool holds_safepoint_ = false;  // a client's safepoint (not the in-process checker's)
    uint64_t ram_bytes_;
    bool paused_ = false;  // only the server thread pauses through this target
};

struct ControlServerOptions {
    std::string dir;       // default_control_dir() for the CLI; a temp dir in tests
    std::string name;      // validated with validate_vm_name
    std::string workload;  // reported by info
    uint32_t request_timeout_ms = kControlRequestTimeoutMs;
};

class ControlServer {
public:
    // Creates the directory and socket and starts the thread. A name held by a
    // live VM is refused (ErrorKind::BadInput); a stale socket is removed.
    static Result<std::unique_ptr<ControlServer>> start(const ControlServerOptions& options, ControlTarget& target);
    ~ControlServer();  // stop()
    ControlServer(const ControlServer&) = delete;
    ControlServer& operator=(const ControlServer&) = delete;

    // Stops the thread (promptly, even mid-request) and removes the socket. Idempotent.
    void stop();
    const std::string& socket_path() const { return socket_path_; }
    uint64_t requests_rejected() const { return rejected_.load(); }  // for tests

private:
    ControlServer(const ControlServerOptions& options, ControlTarget& target);
    void thread_main();
    void serve_one(int client);
    std::string execute(ControlCommand command, int& pass_fd);
    std::string info_json(const char* ok_member = nullptr,
                          const std::vector<std::map<std::string, uint64_t>>* kvm_stats = nullptr) const;

    ControlServerOptions options_;
    ControlTarget& target_;
    std::string socket_path_;
    std::optional<NameLock> lock_;
    Fd listen_fd_;
    bool owns_socket_ = false;  // bound by us: stop() unlinks it
    Fd wake_fd_;  // eventfd: stop() makes it readable
    std::thread thread_;
    std::chrono::steady_clock::time_point started_;
    std::atomic<uint64_t> rejected_{0};
    bool stopped_ = false;
};

}  // namespace gmm::vmm
