// RAII wrappers for the /dev/kvm, VM and vCPU file descriptors. Every failure
// names the ioctl, the errno and (for /dev/kvm) what the user can do.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "error.h"
#include "gmm/addr.h"

namespace gmm::vmm {

class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    Fd(Fd&& o) noexcept : fd_(o.release()) {}
    Fd& operator=(Fd&& o) noexcept;
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd();
    int get() const { return fd_; }
    int release() {
        int f = fd_;
        fd_ = -1;
        return f;
    }
    bool valid() const { return fd_ >= 0; }

private:
    int fd_ = -1;
};

// The advice printed for a failed open of /dev/kvm, by errno.
std::string kvm_open_advice(int err);

class Kvm {
public:
    static Result<Kvm> open(const char* path = "/dev/kvm");
    int fd() const { return fd_.get(); }
    int check_extension(long cap) const;  // KVM_CHECK_EXTENSION; 0 when absent
    uint32_t vcpu_mmap_size_bytes() const { return vcpu_mmap_size_bytes_; }
    uint32_t max_vcpus() const { return max_vcpus_; }
    // KVM_GET_SUPPORTED_CPUID.
    Result<std::vector<kvm_cpuid_entry2>> supported_cpuid() const;

private:
    Fd fd_;
    uint32_t vcpu_mmap_size_bytes_ = 0;
    uint32_t max_vcpus_ = 0;
};

class Vm {
public:
    static Result<Vm> create(const Kvm& kvm);
    int fd() const { return fd_.get(); }
    enum class DirtyLogging { Off, On };
    Status set_memory_slot(uint32_t slot, Gpa gpa, uint64_t size_bytes, Hva host,
                           DirtyLogging dirty = DirtyLogging::Off);
    // KVM_GET_DIRTY_LOG: one bit per 4 KiB page of the slot, set if the guest
    // wrote it since the previous call (the call clears the log).
    Result<std::vector<uint64_t>> dirty_log(uint32_t slot, uint64_t size_bytes) const;
    Status create_irqchip();
    // A fixed-delivery, edge-triggered MSI to the local APIC `apic_id`
    // (in-kernel irqchip): how the host interrupts a vCPU with `vector`.
    Status signal_msi(uint32_t apic_id, uint8_t vector) const;
    Result<uint64_t> tsc_khz() const;  // per-VM KVM_GET_TSC_KHZ when available
    Result<int> stats_fd() const;

private:
    Fd fd_;
};

class Vcpu {
public:
    static Result<Vcpu> create(const Kvm& kvm, const Vm& vm, uint32_t index);
    Vcpu(Vcpu&&) noexcept;
    Vcpu& operator=(Vcpu&&) = delete;
    Vcpu(const Vcpu&) = delete;
    ~Vcpu();

    uint32_t index() const { return index_; }
    int fd() const { return fd_.get(); }
    kvm_run* run_struct() const { return run_; }

    // KVM_RUN. Returns the errno (0 on success); EINTR/EAGAIN are normal kicks.
    int run();
    Result<kvm_regs> get_regs() const;
    Status set_regs(const kvm_regs&);
    Result<kvm_sregs> get_sregs() const;
    Status set_sregs(const kvm_sregs&);
    Status set_msrs(const std::vector<std::pair<uint32_t, uint64_t>>& msrs);
    Status set_cpuid(const std::vector<kvm_cpuid_entry2>& entries);
    Status set_mp_state(uint32_t state);
    Result<int> stats_fd() const;

private:
    Vcpu() = default;
    Fd fd_;
    kvm_run* run_ = nullptr;
    uint32_t run_size_bytes_ = 0;
    uint32_t index_ = 0;
};

}  // namespace gmm::vmm
