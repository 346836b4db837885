// Guest RAM: one memfd, mapped into the VMM over the whole GPA span with holes
// PROT_NONE. Every host access to guest memory goes through this class's
// bounds-checked translator: nothing else turns a GPA into a host pointer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "error.h"
#include "gmm/addr.h"

namespace gmm::vmm {

struct MemorySlot {
    uint32_t slot_id;
    Gpa gpa;                 // first guest-physical byte
    uint64_t size_bytes;
    uint64_t memfd_offset;   // where the slot's bytes live in the memfd
};

// The GPA layout of RAM for a given size: slot 0 = [0, min(size, 3 GiB)),
// slot 1 = [4 GiB, ...) for the rest (the 3–4 GiB hole holds MMIO).
std::vector<MemorySlot> ram_layout(uint64_t ram_size_bytes);

constexpr uint64_t kMmioHoleStart = 0xC0000000ull;  // 3 GiB
constexpr uint64_t kMmioHoleEnd = 0x100000000ull;   // 4 GiB

class GuestMemory {
public:
    // Creates the memfd (named "gmm-guest-ram") and maps it.
    static Result<GuestMemory> create(uint64_t ram_size_bytes);
    GuestMemory(GuestMemory&&) noexcept;
    GuestMemory& operator=(GuestMemory&&) noexcept;
    GuestMemory(const GuestMemory&) = delete;
    GuestMemory& operator=(const GuestMemory&) = delete;
    ~GuestMemory();

    uint64_t ram_size_bytes() const { return ram_size_; }
    const std::vector<MemorySlot>& slots() const { return slots_; }
    int memfd() const { return memfd_; }
    // Host address where GPA 0 is mapped (for KVM_SET_USER_MEMORY_REGION).
    Hva host_base() const;

    // The translator: a host pointer to [gpa, gpa + size) if the whole range
    // lies inside one RAM slot, else nullptr. size 0 is rejected.
    uint8_t* translate(Gpa gpa, uint64_t size_bytes);
    const uint8_t* translate(Gpa gpa, uint64_t size_bytes) const;
    bool contains(Gpa gpa, uint64_t size_bytes) const;

    // Checked copies; the error names the GPA and size.
    Status read(Gpa gpa, std::span<uint8_t> out) const;
    Status write(Gpa gpa, std::span<const uint8_t> in);
    Result<uint64_t> read_u64(Gpa gpa) const;
    Status write_u64(Gpa gpa, uint64_t value);

private:
    GuestMemory() = default;
    uint8_t* base_ = nullptr;      // start of the reserved GPA span in the host
    uint64_t span_bytes_ = 0;      // bytes reserved (GPA 0 .. end of last slot)
    uint64_t ram_size_ = 0;
    int memfd_ = -1;
    std::vector<MemorySlot> slots_;
};

}  // namespace gmm::vmm
