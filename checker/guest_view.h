// The checker's only window onto guest memory. Every read is bounds-checked
// against the regions the view was built from; nothing the guest wrote is
// trusted to be in range. Guest-kernel pointers are translated through the two
// windows the boot protocol fixes (direct map, kernel image), never through
// the guest's own page tables.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace gmm::check {

// One contiguous piece of guest-physical memory and where the host sees it.
struct RamRegion {
    uint64_t gpa = 0;
    uint64_t size_bytes = 0;
    const uint8_t* host = nullptr;
};

class GuestView {
public:
    virtual ~GuestView() = default;
    // Copies [pa, pa + n) if it lies entirely inside one region.
    bool read_phys(uint64_t pa, void* out, uint64_t n) const;
    // Copies n bytes at a guest-kernel pointer (false if untranslatable or out of RAM).
    bool read_virt(uint64_t va, void* out, uint64_t n) const;
    // Guest-kernel pointer -> guest-physical address, or nothing.
    virtual std::optional<uint64_t> kernel_virt_to_phys(uint64_t va) const = 0;
    bool contains_phys(uint64_t pa, uint64_t n) const;
    const std::vector<RamRegion>& regions() const { return regions_; }

    template <typename T>
    std::optional<T> phys(uint64_t pa) const {
        T v;
        if (!read_phys(pa, &v, sizeof v)) return std::nullopt;
        return v;
    }
    template <typename T>
    std::optional<T> virt(uint64_t va) const {
        T v;
        if (!read_virt(va, &v, sizeof v)) return std::nullopt;
        return v;
    }

protected:
    explicit GuestView(std::vector<RamRegion> regions) : regions_(std::move(regions)) {}

private:
    const RamRegion* region_of(uint64_t pa, uint64_t n) const;
    std::vector<RamRegion> regions_;
};

// A VM's RAM (mapped memfd or the VMM's own mapping): pointers are direct-map
// or kernel-image addresses (abi/gmm/abi/boot.h).
class VmRamView final : public GuestView {
public:
    explicit VmRamView(std::vector<RamRegion> regions) : GuestView(std::move(regions)) {}
    std::optional<uint64_t> kernel_virt_to_phys(uint64_t va) const override;
};

// The hosted build of guestmm (tests): "physical" and virtual addresses are
// both host addresses, and only the given regions may be read.
class HostedView final : public GuestView {
public:
    explicit HostedView(std::vector<RamRegion> regions) : GuestView(std::move(regions)) {}
    std::optional<uint64_t> kernel_virt_to_phys(uint64_t va) const override { return va; }
};

}  // namespace gmm::check
