#include "kvm.h"

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <algorithm>
#include <cstring>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

namespace gmm::vmm {

namespace {
// Debian's <linux/kvm.h> declares flexible arrays with __DECLARE_FLEX_ARRAY,
// which in C++ adds an empty struct member and changes sizeof (kvm_cpuid2 is 12
// bytes instead of 8, kvm_msrs 16 instead of 8). The ioctl numbers encode that
// size, so the C++ spellings are wrong and KVM answers EINVAL. Define them with
// the C layout; the entries still start at offset 8 either way.
struct CpuidHeaderC {
    uint32_t nent, padding;
};
struct MsrsHeaderC {
    uint32_t nmsrs, pad;
};
constexpr unsigned long kKvmGetSupportedCpuid = _IOWR(KVMIO, 0x05, CpuidHeaderC);
constexpr unsigned long kKvmSetCpuid2 = _IOW(KVMIO, 0x90, CpuidHeaderC);
constexpr unsigned long kKvmSetMsrs = _IOW(KVMIO, 0x89, MsrsHeaderC);
static_assert(kKvmGetSupportedCpuid == 0xc008ae05ul, "KVM_GET_SUPPORTED_CPUID as the kernel defines it");
static_assert(kKvmSetCpuid2 == 0x4008ae90ul, "KVM_SET_CPUID2 as the kernel defines it");
static_assert(kKvmSetMsrs == 0x4008ae89ul, "KVM_SET_MSRS as the kernel defines it");
// In C the entry arrays start at byte 8; in C++ the header structs put them
// elsewhere, so buffers are laid out by hand: {u32 count; u32 pad; entries...}.
constexpr size_t kEntriesOffsetC = 8;
}  // namespace

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
        std::vector<uint8_t> buf(kEntriesOffsetC + n * sizeof(kvm_cpuid_entry2));
        CpuidHeaderC header{n, 0};
        std::memcpy(buf.data(), &header, sizeof header);
        if (ioctl(fd_.get(), kKvmGetSupportedCpuid, buf.data()) == 0) {
            std::memcpy(&header, buf.data(), sizeof header);
            std::vector<kvm_cpuid_entry2> entries(std::min(header.nent, n));
            std::memcpy(entries.data(), buf.data() + kEntriesOffsetC, entries.size() * sizeof(kvm_cpuid_entry2));
            return entries;
        }
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

Status Vm::set_memory_slot(uint32_t slot, Gpa gpa, uint64_t size_bytes, Hva host, DirtyLogging dirty) {
    kvm_userspace_memory_region region{};
    region.slot = slot;
    region.flags = dirty == DirtyLogging::On ? KVM_MEM_LOG_DIRTY_PAGES : 0;
    region.guest_phys_addr = gpa.value();
    region.memory_size = size_bytes;
    region.userspace_addr = host.value();
    if (ioctl(fd_.get(), KVM_SET_USER_MEMORY_REGION, &region) != 0)
        return Err{sys_error("KVM_SET_USER_MEMORY_REGION slot " + std::to_string(slot), errno)};
    return Ok{};
}

Result<std::vector<uint64_t>> Vm::dirty_log(uint32_t slot, uint64_t size_bytes) const {
    std::vector<uint64_t> bits((size_bytes / 4096 + 63) / 64, 0);
    kvm_dirty_log log{};
    log.slot = slot;
    log.dirty_bitmap = bits.data();
    if (ioctl(fd_.get(), KVM_GET_DIRTY_LOG, &log) != 0)
        return Err{sys_error("KVM_GET_DIRTY_LOG slot " + std::to_string(slot), errno)};
    return bits;
}

Status Vm::signal_msi(uint32_t apic_id, uint8_t vector) const {
    kvm_msi msi{};
    msi.address_lo = 0xfee00000u | ((apic_id & 0xffu) << 12);
    msi.data = vector;  // fixed delivery, edge
    if (ioctl(fd_.get(), KVM_SIGNAL_MSI, &msi) < 0)
        return Err{sys_error("KVM_SIGNAL_MSI to APIC " + std::to_string(apic_id), errno)};
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
    std::vector<uint8_t> buf(kEntriesOffsetC + msrs.size() * sizeof(kvm_msr_entry));
    const MsrsHeaderC header{static_cast<uint32_t>(msrs.size()), 0};
    std::memcpy(buf.data(), &header, sizeof header);
    for (size_t i = 0; i < msrs.size(); ++i) {
        kvm_msr_entry e{};
        e.index = msrs[i].first;
        e.data = msrs[i].second;
        std::memcpy(buf.data() + kEntriesOffsetC + i * sizeof e, &e, sizeof e);
    }
    int r = ioctl(fd_.get(), kKvmSetMsrs, buf.data());
    if (r < 0) return Err{sys_error("KVM_SET_MSRS", errno)};
    if (static_cast<size_t>(r) != msrs.size()) {
        char text[64];
        std::snprintf(text, sizeof text, "KVM_SET_MSRS rejected MSR 0x%x", msrs[static_cast<size_t>(r)].first);
        return Err{plain_error(text)};
    }
    return Ok{};
}

Status Vcpu::set_cpuid(const std::vector<kvm_cpuid_entry2>& entries) {
    std::vector<uint8_t> buf(kEntriesOffsetC + entries.size() * sizeof(kvm_cpuid_entry2));
    const CpuidHeaderC header{static_cast<uint32_t>(entries.size()), 0};
    std::memcpy(buf.data(), &header, sizeof header);
    std::memcpy(buf.data() + kEntriesOffsetC, entries.data(), entries.size() * sizeof(kvm_cpuid_entry2));
    if (ioctl(fd_.get(), kKvmSetCpuid2, buf.data()) != 0) return Err{sys_error("KVM_SET_CPUID2", errno)};
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
