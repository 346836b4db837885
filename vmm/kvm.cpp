#include "kvm.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

namespace gmm::vmm {

Fd& Fd::operator=(Fd&& o) noexcept {
    if (this != &o) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = o.release();
    }
    return *this;
}

Fd::~Fd() {
    if (fd_ >= 0) ::close(fd_);
}

std::string kvm_open_advice(int err) {
    switch (err) {
        case ENOENT:
            return "/dev/kvm does not exist: load the KVM module (modprobe kvm_intel or kvm_amd) or enable "
                   "virtualisation (VT-x/AMD-V, or nested virtualisation for a VM) in the firmware or hypervisor";
        case ENODEV:
        case ENXIO:
            return "/dev/kvm exists but no KVM driver answers: the CPU lacks virtualisation support or it is "
                   "disabled; check dmesg for kvm messages";
        case EACCES:
        case EPERM:
            return "no permission to open /dev/kvm read-write: run as root or add your user to the 'kvm' group";
        default:
            return "KVM is not usable on this machine";
    }
}

Result<Kvm> Kvm::open(const char* path) {
    Kvm kvm;
    int fd = ::open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        Error e = sys_error(std::string("open ") + path, err, kvm_open_advice(err));
        e.kind = ErrorKind::NoKvm;
        return Err{e};
    }
    kvm.fd_ = Fd(fd);
    int version = ioctl(fd, KVM_GET_API_VERSION, 0);
    if (version != KVM_API_VERSION)
        return Err{plain_error("KVM_GET_API_VERSION returned " + std::to_string(version) + ", expected " +
                               std::to_string(KVM_API_VERSION))};
    int size = ioctl(fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (size <= 0) return Err{sys_error("KVM_GET_VCPU_MMAP_SIZE", errno)};
    kvm.vcpu_mmap_size_bytes_ = static_cast<uint32_t>(size);
    int max = kvm.check_extension(KVM_CAP_MAX_VCPUS);
    kvm.max_vcpus_ = max > 0 ? static_cast<uint32_t>(max) : 4u;
    if (!kvm.check_extension(KVM_CAP_IMMEDIATE_EXIT))
        return Err{plain_error("KVM lacks KVM_CAP_IMMEDIATE_EXIT", "gmm needs Linux 4.11 or newer on the host")};
    return kvm;
}

int Kvm::check_extension(long cap) const {
    int r = ioctl(fd_.get(), KVM_CHECK_EXTENSION, cap);
    return r < 0 ? 0 : r;
}

Result<std::vector<kvm_cpuid_entry2>> Kvm::supported_cpuid() const {
    for (uint32_t n = 64; n <= 4096; n *= 2) {
        std::vector<uint8_t> buf(sizeof(kvm_cpuid2) + n * sizeof(kvm_cpuid_entry2));
        auto* cpuid = reinterpret_cast<kvm_cpuid2*>(buf.data());
        cpuid->nent = n;
        if (ioctl(fd_.get(), KVM_GET_SUPPORTED_CPUID, cpuid) == 0)
            return std::vector<kvm_cpuid_entry2>(cpuid->entries, cpuid->entries + cpuid->nent);
        if (errno != E2BIG) return Err{sys_error("KVM_GET_SUPPORTED_CPUID", errno)};
    }
    return Err{plain_error("KVM_GET_SUPPORTED_CPUID: more than 4096 entries")};
}

Result<Vm> Vm::create(const Kvm& kvm) {
    Vm vm;
    int fd = ioctl(kvm.fd(), KVM_CREATE_VM, 0);
    if (fd < 0) return Err{sys_error("KVM_CREATE_VM", errno)};
    vm.fd_ = Fd(fd);
    return vm;
}

Status Vm::set_memory_slot(uint32_t slot, Gpa gpa, uint64_t size_bytes, Hva host) {
    kvm_userspace_memory_region region{};
    region.slot = slot;
    region.guest_phys_addr = gpa.value();
    region.memory_size = size_bytes;
    region.userspace_addr = host.value();
    if (ioctl(fd_.get(), KVM_SET_USER_MEMORY_REGION, &region) != 0)
        return Err{sys_error("KVM_SET_USER_MEMORY_REGION slot " + std::to_string(slot), errno)};
    return Ok{};
}

Status Vm::create_irqchip() {
    if (ioctl(fd_.get(), KVM_CREATE_IRQCHIP, 0) != 0) return Err{sys_error("KVM_CREATE_IRQCHIP", errno)};
    return Ok{};
}

Result<uint64_t> Vm::tsc_khz() const {
    int r = ioctl(fd_.get(), KVM_GET_TSC_KHZ, 0);
    if (r <= 0) return Err{sys_error("KVM_GET_TSC_KHZ (VM)", errno)};
    return static_cast<uint64_t>(r);
}

Result<int> Vm::stats_fd() const {
    int r = ioctl(fd_.get(), KVM_GET_STATS_FD, 0);
    if (r < 0) return Err{sys_error("KVM_GET_STATS_FD (VM)", errno)};
    return r;
}

Result<Vcpu> Vcpu::create(const Kvm& kvm, const Vm& vm, uint32_t index) {
    Vcpu v;
    v.index_ = index;
    int fd = ioctl(vm.fd(), KVM_CREATE_VCPU, static_cast<unsigned long>(index));
    if (fd < 0) return Err{sys_error("KVM_CREATE_VCPU " + std::to_string(index), errno)};
    v.fd_ = Fd(fd);
    v.run_size_bytes_ = kvm.vcpu_mmap_size_bytes();
    void* p = mmap(nullptr, v.run_size_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) return Err{sys_error("mmap kvm_run of vCPU " + std::to_string(index), errno)};
    v.run_ = static_cast<kvm_run*>(p);
    return v;
}

Vcpu::Vcpu(Vcpu&& o) noexcept
    : fd_(std::move(o.fd_)), run_(o.run_), run_size_bytes_(o.run_size_bytes_), index_(o.index_) {
    o.run_ = nullptr;
}

Vcpu::~Vcpu() {
    if (run_) munmap(run_, run_size_bytes_);
}

int Vcpu::run() { return ioctl(fd_.get(), KVM_RUN, 0) == 0 ? 0 : errno; }

Result<kvm_regs> Vcpu::get_regs() const {
    kvm_regs r{};
    if (ioctl(fd_.get(), KVM_GET_REGS, &r) != 0) return Err{sys_error("KVM_GET_REGS", errno)};
    return r;
}

Status Vcpu::set_regs(const kvm_regs& r) {
    if (ioctl(fd_.get(), KVM_SET_REGS, &r) != 0) return Err{sys_error("KVM_SET_REGS", errno)};
    return Ok{};
}

Result<kvm_sregs> Vcpu::get_sregs() const {
    kvm_sregs s{};
    if (ioctl(fd_.get(), KVM_GET_SREGS, &s) != 0) return Err{sys_error("KVM_GET_SREGS", errno)};
    return s;
}

Status Vcpu::set_sregs(const kvm_sregs& s) {
    if (ioctl(fd_.get(), KVM_SET_SREGS, &s) != 0) return Err{sys_error("KVM_SET_SREGS", errno)};
    return Ok{};
}

Status Vcpu::set_msrs(const std::vector<std::pair<uint32_t, uint64_t>>& msrs) {
    std::vector<uint8_t> buf(sizeof(kvm_msrs) + msrs.size() * sizeof(kvm_msr_entry));
    auto* m = reinterpret_cast<kvm_msrs*>(buf.data());
    m->nmsrs = static_cast<uint32_t>(msrs.size());
    for (size_t i = 0; i < msrs.size(); ++i) {
        m->entries[i].index = msrs[i].first;
        m->entries[i].data = msrs[i].second;
    }
    int r = ioctl(fd_.get(), KVM_SET_MSRS, m);
    if (r < 0) return Err{sys_error("KVM_SET_MSRS", errno)};
    if (static_cast<size_t>(r) != msrs.size()) {
        char buf2[64];
        std::snprintf(buf2, sizeof buf2, "KVM_SET_MSRS rejected MSR 0x%x", msrs[static_cast<size_t>(r)].first);
        return Err{plain_error(buf2)};
    }
    return Ok{};
}

Status Vcpu::set_cpuid(const std::vector<kvm_cpuid_entry2>& entries) {
    std::vector<uint8_t> buf(sizeof(kvm_cpuid2) + entries.size() * sizeof(kvm_cpuid_entry2));
    auto* c = reinterpret_cast<kvm_cpuid2*>(buf.data());
    c->nent = static_cast<uint32_t>(entries.size());
    std::memcpy(c->entries, entries.data(), entries.size() * sizeof(kvm_cpuid_entry2));
    if (ioctl(fd_.get(), KVM_SET_CPUID2, c) != 0) return Err{sys_error("KVM_SET_CPUID2", errno)};
    return Ok{};
}

Status Vcpu::set_mp_state(uint32_t state) {
    kvm_mp_state mp{state};
    if (ioctl(fd_.get(), KVM_SET_MP_STATE, &mp) != 0) return Err{sys_error("KVM_SET_MP_STATE", errno)};
    return Ok{};
}

Result<int> Vcpu::stats_fd() const {
    int r = ioctl(fd_.get(), KVM_GET_STATS_FD, 0);
    if (r < 0) return Err{sys_error("KVM_GET_STATS_FD (vCPU)", errno)};
    return r;
}

}  // namespace gmm::vmm
