#include "guest_view.h"

#include <cstring>

#include "gmm/abi/boot.h"

namespace gmm::check {

namespace {
constexpr uint64_t kKernelImageWindowBytes = 1ull << 30;  // boot.h: first 1 GiB
constexpr uint64_t kDirectMapWindowBytes = 1ull << 46;    // 64 TiB: more than any guest here
}  // namespace

const RamRegion* GuestView::region_of(uint64_t pa, uint64_t n) const {
    if (n == 0 || pa + n < pa) return nullptr;
    for (const RamRegion& r : regions_)
        if (pa >= r.gpa && pa - r.gpa <= r.size_bytes && n <= r.size_bytes - (pa - r.gpa)) return &r;
    return nullptr;
}

bool GuestView::contains_phys(uint64_t pa, uint64_t n) const { return region_of(pa, n) != nullptr; }

bool GuestView::read_phys(uint64_t pa, void* out, uint64_t n) const {
    const RamRegion* r = region_of(pa, n);
    if (!r) return false;
    // The guest may be writing concurrently (async checks): copy, then decide.
    std::memcpy(out, r->host + (pa - r->gpa), n);
    return true;
}

bool GuestView::read_virt(uint64_t va, void* out, uint64_t n) const {
    auto pa = kernel_virt_to_phys(va);
    return pa && read_phys(*pa, out, n);
}

std::optional<uint64_t> VmRamView::kernel_virt_to_phys(uint64_t va) const {
    if (va >= GMM_KERNEL_IMAGE_GVA && va - GMM_KERNEL_IMAGE_GVA < kKernelImageWindowBytes)
        return va - GMM_KERNEL_IMAGE_GVA;
    if (va >= GMM_DIRECT_MAP_GVA && va - GMM_DIRECT_MAP_GVA < kDirectMapWindowBytes) return va - GMM_DIRECT_MAP_GVA;
    return std::nullopt;
}

}  // namespace gmm::check
