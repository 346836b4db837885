// Lock classes of the guest kernel's own locks, numbered after guestmm's
// (guestmm/lock.h LockClass::Count). lockstat (lockstat.h) keeps per-CPU
// counters for every class of both lists. Adding a class is one line here,
// e.g. for the page cache (issue 5):
//     X(PageCache, "page_cache", 0)
// Columns: enumerator, name in the lockstat block ([a-z0-9_], < 24 chars),
// GMM_LOCKSTAT_CLASS_* flags (RW for reader-writer locks).
#pragma once

#include <stdint.h>

#include "gmm/abi/lockstat.h"
#include "guestmm/lock.h"

#define GMM_KERNEL_LOCK_CLASSES(X)      \
    X(FramePool, "frame_pool", 0)       \
    X(Sched, "sched", 0)                \
    X(LockHammer, "lockhammer", 0)      \
    X(Blk, "blk", 0)                    \
    X(PageCache, "page_cache", 0)

namespace gmm::kernel {

enum class KernelLockClass : uint8_t {
#define GMM_X(id, name, flags) id,
    GMM_KERNEL_LOCK_CLASSES(GMM_X)
#undef GMM_X
    Count
};

constexpr uint32_t kGuestmmLockClasses = uint32_t(mm::LockClass::Count);
constexpr uint32_t kLockClassCount = kGuestmmLockClasses + uint32_t(KernelLockClass::Count);

// The guestmm LockClass value a kernel lock is constructed with.
constexpr mm::LockClass lock_class(KernelLockClass k) { return mm::LockClass(kGuestmmLockClasses + uint32_t(k)); }

struct LockClassInfo {
    const char* name;
    uint32_t flags;  // GMM_LOCKSTAT_CLASS_*
};

// Every class lockstat counts, indexed by the LockClass value.
constexpr LockClassInfo lock_class_info(uint32_t index) {
    if (index < kGuestmmLockClasses) {
        const auto c = mm::LockClass(index);
        return {mm::lock_class_name(c), mm::lock_class_is_rw(c) ? GMM_LOCKSTAT_CLASS_RW : 0u};
    }
    constexpr LockClassInfo kKernel[] = {
#define GMM_X(id, name, flags) {name, flags},
        GMM_KERNEL_LOCK_CLASSES(GMM_X)
#undef GMM_X
    };
    return kKernel[index - kGuestmmLockClasses];
}

}  // namespace gmm::kernel
