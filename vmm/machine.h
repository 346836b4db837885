// A whole VM: guest RAM, the kernel and user images, boot tables, device tree,
// vCPUs and their threads, and the report of one run. Arch-neutral interface;
// the x86-64 specifics live in x86_64/.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "error.h"
#include "guest_memory.h"
#include "kvm.h"
#include "vcpu_runner.h"

namespace gmm::vmm::virtio {
class BlkDevice;
}

namespace gmm::vmm {

// FREE_FRAMES: Zero = the VMM clears each frame through its own mapping
// (no host page-table change); Punch = fallocate(PUNCH_HOLE) on the RAM memfd
// (host memory goes back, but every hole unmaps host pages: one host TLB
// shootdown IPI per run of frames to each CPU running another vCPU thread).
enum class FreedFrames { Zero, Punch };
const char* freed_frames_name(FreedFrames);

struct MachineConfig {
    uint32_t vcpus = 2;
    uint64_t ram_bytes = 256ull << 20;
    std::string kernel_path;
    std::string user_image_path;
    std::string bootargs;  // "workload=boot key=value ..."
    // Optional workload areas after the user image (gmm_boot_info.payload_*, results_*): the
    // payload is copied in read-only for the guest (e.g. storm programs); the results area is
    // zeroed guest RAM the guest fills in (rounded up to 4 KiB). Empty / 0: absent.
    std::vector<uint8_t> payload;
    uint64_t results_size_bytes = 0;
    // Optional virtio-blk disk (docs/virtio-blk.md): an image validated by
    // open_disk_image(); empty = no device. latency is added per request.
    std::string disk_path;
    uint32_t disk_latency_us = 0;
    // How FREE_FRAMES returns the guest's freed frames to zero (README, "gmm run").
    FreedFrames freed_frames = FreedFrames::Zero;
    // Receives every console line and guest PRINT as it happens (may be empty).
    std::function<void(const std::string&)> console_line;
};

// How guest supervisor mode runs on this KVM (see shared/HOST-KVM.md).
enum class KvmMode { Unknown, Emulated, Native };
const char* kvm_mode_name(KvmMode);

enum class RunEnd { Done, Assert, Exception, Timeout, Error, Stopped };
const char* run_end_name(RunEnd);

struct ExceptionInfo {
    uint32_t cpu = 0;
    uint64_t vector = 0, error_code = 0, rip = 0, cr2 = 0, rsp = 0, cs = 0, rflags = 0;
    std::string description;
};

struct AssertInfo {
    uint32_t cpu = 0;
    std::string file;
    uint64_t line = 0;
    std::string expression;
    bool has_values = false;
    uint64_t lhs = 0, rhs = 0;
};

struct VcpuReport {
    bool online = false;
    uint64_t apic_id = 0;
    uint64_t online_tsc = 0;
    std::map<std::string, uint64_t> results;  // GMM_UCALL_RESULT key -> value
    std::map<std::string, uint64_t> kvm;      // KVM binary stats at the end
};

struct RunReport {
    RunEnd end = RunEnd::Error;
    uint64_t done_status = 0;
    std::optional<ExceptionInfo> exception;
    std::optional<AssertInfo> assertion;
    std::string error;  // for RunEnd::Error and Timeout: what happened
    std::vector<VcpuReport> vcpus;
    KvmMode kvm_mode = KvmMode::Unknown;
    uint64_t probe_insns = 0;  // insn_emulation delta over the probe loop
    uint64_t duration_ns = 0;
    std::string console;
    // virtio-blk device counters (requests, io_errors, kicks, interrupts,
    // mmio_exits, ...); empty without a disk.
    std::map<std::string, uint64_t> disk;
};

struct BootLayoutInfo {
    Gpa kernel_start, kernel_end, fdt, user_image, reserved_end, pml4;
    uint64_t fdt_size_bytes = 0;
    uint64_t user_image_size_bytes = 0;
    Gpa payload, results;  // zero when absent
    uint64_t payload_size_bytes = 0, results_size_bytes = 0;
    std::vector<uint8_t> fdt_blob;
};

class Machine {
public:
    static Result<std::unique_ptr<Machine>> create(const MachineConfig& config);
    ~Machine();

    // Starts every vCPU thread and runs until the guest ends the run (DONE,
    // ASSERT, EXCEPTION), a vCPU fails, or timeout_ms passes. Stops all vCPUs.
    RunReport run(uint64_t timeout_ms);

    // For tests and tools while run() is in progress on another thread.
    void pause_all();
    void resume_all();
    uint64_t pauses_acknowledged() const;
    bool started() const;
    // Ends run() from another thread (RunEnd::Stopped unless the guest ended first).
    void request_stop();
    // A workload result reported so far (GMM_UCALL_RESULT), while running.
    std::optional<uint64_t> result_snapshot(uint32_t cpu, const std::string& key) const;
    // Every result reported so far, per vCPU (the guest's published roots among them).
    std::vector<std::map<std::string, uint64_t>> results_snapshot() const;
    // Every cumulative KVM binary stat of each vCPU (the counters a tool takes
    // deltas of), read now; empty for a vCPU whose stats fd is unavailable.
    // Safe from any thread.
    std::vector<std::map<std::string, uint64_t>> kvm_stats_snapshot() const;

    // Safepoints for the invariant checker (vmm/safepoint.cpp, docs/checker.md):
    // every vCPU parks outside the memory manager, then all are paused.
    // Fails (naming the vCPUs that did not park) after timeout_ms; the guest
    // must have published its mm roots and every vCPU must be online.
    Status safepoint_enter(uint64_t timeout_ms);
    // Releases the parked vCPUs and counts one completed check in the guest.
    Status safepoint_leave();
    bool in_safepoint() const;
    // Counts one completed check in the guest (async checks; leave() does it for safepoints).
    Status note_check_done();
    // Where the guest published struct gmm_mm_roots (RESULT mm_roots_gpa).
    std::optional<Gpa> mm_roots_gpa() const;
    // I7 support: turns on KVM dirty logging for every RAM slot, then
    // returns the GPAs of pages written since the previous call.
    Status enable_dirty_logging();
    Result<std::vector<uint64_t>> take_dirty_pages();
    // Interrupts vCPU `cpu` with `vector` (MSI to its local APIC).
    Status interrupt_vcpu(uint32_t cpu, uint8_t vector);
    bool all_vcpus_online() const;
    // CR3 of every vCPU; only while they are paused (out of KVM_RUN).
    Result<std::vector<uint64_t>> vcpu_cr3s() const;
    // Which of `gpas` the guest's frame allocator holds free now (from the
    // frame metadata its mm roots name), at most `max`; .second = truncated.
    Result<std::pair<std::vector<uint64_t>, bool>> free_frames_among(const std::vector<uint64_t>& gpas,
                                                                     size_t max) const;
    KvmMode kvm_mode() const;  // Unknown until the guest's boot probe ran

    GuestMemory& memory() { return memory_; }
    const BootLayoutInfo& layout() const { return layout_; }
    uint32_t vcpu_count() const { return static_cast<uint32_t>(vcpus_.size()); }

private:
    struct Impl;
    Machine(GuestMemory memory);
    ExitAction handle_exit(Vcpu& vcpu);
    ExitAction handle_io(Vcpu& vcpu);
    ExitAction handle_mmio(Vcpu& vcpu);
    ExitAction handle_ucall(Vcpu& vcpu);
    Status release_frames(Gpa array_gpa, uint64_t count);
    void fail(const std::string& message);

    MachineConfig config_;
    std::optional<Kvm> kvm_;
    std::optional<Vm> vm_;
    GuestMemory memory_;
    std::unique_ptr<virtio::BlkDevice> blk_;  // after memory_: destroyed (flushed) before it
    std::vector<std::unique_ptr<Vcpu>> vcpus_;
    std::unique_ptr<VcpuRunner> runner_;
    BootLayoutInfo layout_;
    std::unique_ptr<Impl> impl_;
    struct SafepointState;
    std::unique_ptr<SafepointState> safepoint_;
};

}  // namespace gmm::vmm
