#include "guest_memory.h"

#include <cerrno>
#include <cstring>
#include <string>
#include <sys/mman.h>
#include <unistd.h>

namespace gmm::vmm {

std::vector<MemorySlot> ram_layout(uint64_t ram_size_bytes) {
    std::vector<MemorySlot> slots;
    const uint64_t low = ram_size_bytes < kMmioHoleStart ? ram_size_bytes : kMmioHoleStart;
    slots.push_back(MemorySlot{0, Gpa(0), low, 0});
    if (ram_size_bytes > kMmioHoleStart)
        slots.push_back(MemorySlot{1, Gpa(kMmioHoleEnd), ram_size_bytes - kMmioHoleStart, low});
    return slots;
}

Result<GuestMemory> GuestMemory::create(uint64_t ram_size_bytes) {
    if (ram_size_bytes == 0 || ram_size_bytes % kLargePageSize != 0)
        return Err{plain_error("guest RAM size " + std::to_string(ram_size_bytes) +
                               " bytes is not a positive multiple of 2 MiB")};
    GuestMemory mem;
    mem.ram_size_ = ram_size_bytes;
    mem.slots_ = ram_layout(ram_size_bytes);
    const MemorySlot& last = mem.slots_.back();
    mem.span_bytes_ = last.gpa.value() + last.size_bytes;

    mem.memfd_ = memfd_create("gmm-guest-ram", MFD_CLOEXEC);
    if (mem.memfd_ < 0) return Err{sys_error("memfd_create(gmm-guest-ram)", errno)};
    if (ftruncate(mem.memfd_, static_cast<off_t>(ram_size_bytes)) != 0)
        return Err{sys_error("ftruncate guest RAM memfd to " + std::to_string(ram_size_bytes) + " bytes", errno)};

    // Reserve the whole GPA span inaccessible, then map RAM slots over it: a
    // stray host access into the MMIO hole faults instead of touching memory.
    void* span = mmap(nullptr, mem.span_bytes_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (span == MAP_FAILED) return Err{sys_error("mmap guest GPA span of " + hex(mem.span_bytes_) + " bytes", errno)};
    mem.base_ = static_cast<uint8_t*>(span);
    for (const MemorySlot& s : mem.slots_) {
        void* at = mmap(mem.base_ + s.gpa.value(), s.size_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
                        mem.memfd_, static_cast<off_t>(s.memfd_offset));
        if (at == MAP_FAILED) return Err{sys_error("mmap guest RAM slot " + std::to_string(s.slot_id), errno)};
    }
    return mem;
}

GuestMemory::GuestMemory(GuestMemory&& o) noexcept { *this = std::move(o); }

GuestMemory& GuestMemory::operator=(GuestMemory&& o) noexcept {
    if (this == &o) return *this;
    this->~GuestMemory();
    base_ = o.base_;
    span_bytes_ = o.span_bytes_;
    ram_size_ = o.ram_size_;
    memfd_ = o.memfd_;
    slots_ = std::move(o.slots_);
    o.base_ = nullptr;
    o.memfd_ = -1;
    o.span_bytes_ = 0;
    return *this;
}

GuestMemory::~GuestMemory() {
    if (base_) munmap(base_, span_bytes_);
    if (memfd_ >= 0) close(memfd_);
    base_ = nullptr;
    memfd_ = -1;
}

Hva GuestMemory::host_base() const { return Hva(reinterpret_cast<uint64_t>(base_)); }

bool GuestMemory::contains(Gpa gpa, uint64_t size_bytes) const {
    if (size_bytes == 0) return false;
    Gpa end;
    if (!gpa.checked_add(size_bytes, end)) return false;
    for (const MemorySlot& s : slots_) {
        const uint64_t slot_end = s.gpa.value() + s.size_bytes;
        if (gpa >= s.gpa && end.value() <= slot_end) return true;
    }
    return false;
}

const uint8_t* GuestMemory::translate(Gpa gpa, uint64_t size_bytes) const {
    if (!base_ || !contains(gpa, size_bytes)) return nullptr;
    return base_ + gpa.value();
}

uint8_t* GuestMemory::translate(Gpa gpa, uint64_t size_bytes) {
    return const_cast<uint8_t*>(static_cast<const GuestMemory*>(this)->translate(gpa, size_bytes));
}

Status GuestMemory::read(Gpa gpa, std::span<uint8_t> out) const {
    const uint8_t* src = translate(gpa, out.size());
    if (!src)
        return Err{plain_error("guest read of " + std::to_string(out.size()) + " bytes at GPA " + hex(gpa.value()) +
                               " is outside guest RAM")};
    std::memcpy(out.data(), src, out.size());
    return Ok{};
}

Status GuestMemory::write(Gpa gpa, std::span<const uint8_t> in) {
    uint8_t* dst = translate(gpa, in.size());
    if (!dst)
        return Err{plain_error("guest write of " + std::to_string(in.size()) + " bytes at GPA " + hex(gpa.value()) +
                               " is outside guest RAM")};
    std::memcpy(dst, in.data(), in.size());
    return Ok{};
}

Result<uint64_t> GuestMemory::read_u64(Gpa gpa) const {
    uint64_t v = 0;
    Status st = read(gpa, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&v), sizeof v));
    if (!st) return Err{st.error()};
    return v;
}

Status GuestMemory::write_u64(Gpa gpa, uint64_t value) {
    return write(gpa, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&value), sizeof value));
}

}  // namespace gmm::vmm
