#include "user_paging.h"

#include "assert.h"
#include "frame_alloc.h"
#include "gmm/abi/boot.h"
#include "kernel.h"

namespace gmm::kernel::x86 {

namespace {

constexpr uint64_t kPtePresent = 1ull << 0, kPteWrite = 1ull << 1, kPteUser = 1ull << 2, kPteHuge = 1ull << 7;
constexpr uint64_t kPteNx = 1ull << 63;
constexpr uint64_t kPteAddrMask = 0x000ffffffffff000ull;
constexpr uint32_t kKernelHalfFirstEntry = 256;

uint32_t index_at(Gva gva, int level) { return uint32_t(gva.value() >> (12 + 9 * level)) & 511; }

}  // namespace

void UserPageTable::create(Gpa kernel_pml4) {
    pml4_ = frame_alloc_zeroed();
    // 256 entries with one `rep movsq` (2 KiB): a rep string costs ~0.3 us per
    // element here, a load/store loop ~5 us per entry.
    const uint64_t* src = direct_map<const uint64_t>(kernel_pml4) + kKernelHalfFirstEntry;
    uint64_t* dst = direct_map<uint64_t>(pml4_) + kKernelHalfFirstEntry;
    uint64_t count = 512 - kKernelHalfFirstEntry;
    asm volatile("rep movsq" : "+D"(dst), "+S"(src), "+c"(count)::"memory");
}

void UserPageTable::map_page(Gva gva, Gpa gpa, UserAccess access) {
    GMM_ASSERT(gva.value() >= kPageSize && gva.value() < GMM_USER_TOP_GVA && gva.is_aligned(kPageSize));
    GMM_ASSERT(gpa.is_aligned(kPageSize));
    uint64_t* table = direct_map<uint64_t>(pml4_);
    for (int level = 3; level > 0; --level) {
        uint64_t& entry = table[index_at(gva, level)];
        if (!(entry & kPtePresent)) entry = frame_alloc_zeroed().value() | kPtePresent | kPteWrite | kPteUser;
        table = direct_map<uint64_t>(Gpa(entry & kPteAddrMask));
    }
    uint64_t& leaf = table[index_at(gva, 0)];
    GMM_ASSERT_EQ(leaf, 0);
    leaf = gpa.value() | kPtePresent | kPteWrite | kPteUser | (access == UserAccess::ReadWrite ? kPteNx : 0);
}

bool UserPageTable::translate(Gva gva, Gpa& out) const {
    if (gva.value() >= GMM_USER_TOP_GVA) return false;
    const uint64_t* table = direct_map<const uint64_t>(pml4_);
    for (int level = 3; level >= 0; --level) {
        const uint64_t entry = table[index_at(gva, level)];
        if ((entry & (kPtePresent | kPteUser)) != (kPtePresent | kPteUser)) return false;
        if (level == 0) {
            out = Gpa((entry & kPteAddrMask) | (gva.value() & (kPageSize - 1)));
            return true;
        }
        if (entry & kPteHuge) return false;  // the kernel maps user memory with 4 KiB pages only
        table = direct_map<const uint64_t>(Gpa(entry & kPteAddrMask));
    }
    return false;
}

}  // namespace gmm::kernel::x86
