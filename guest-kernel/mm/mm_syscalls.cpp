#include "mm/mm_syscalls.h"

#include "gmm/abi/syscall.h"
#include "gmm/abi/ucall.h"
#include "fs/page_cache.h"
#include "gmm/abi/disk.h"
#include "mm/fault.h"
#include "mm/safepoint.h"
#include "mm/threads.h"
#include "mm/user_space.h"
#include "percpu.h"

namespace gmm::kernel {

namespace {

constexpr uint64_t kKnownMapFlags = GMM_MAP_SHARED | GMM_MAP_PRIVATE | GMM_MAP_FIXED | GMM_MAP_ANONYMOUS;
constexpr uint64_t kKnownProt = GMM_PROT_READ | GMM_PROT_WRITE | GMM_PROT_EXEC;

int64_t errno_of(mm::Errno e) { return -int64_t(e); }

// [addr, addr + len) page-aligned, nonzero, not wrapping, inside the user half.
int64_t check_range(uint64_t addr, uint64_t len) {
    if (len == 0 || (addr & (kPageSize - 1))) return -GMM_EINVAL;
    const uint64_t rounded = (len + kPageSize - 1) & ~(kPageSize - 1);
    if (rounded < len || addr + rounded < addr) return -GMM_EINVAL;  // wraps
    if (addr + rounded > GMM_USER_TOP_GVA) return -GMM_EINVAL;       // kernel addresses
    return 0;
}

int64_t sys_mmap(uint64_t addr, uint64_t len, uint64_t prot, uint64_t flags, uint64_t fd, uint64_t offset) {
    if ((flags & ~kKnownMapFlags) || (prot & ~kKnownProt) || len == 0) return -GMM_EINVAL;
    const bool shared = flags & GMM_MAP_SHARED, priv = flags & GMM_MAP_PRIVATE;
    if (shared == priv) return -GMM_EINVAL;
    mm::BackingObject* object = nullptr;
    uint64_t page_index = 0;
    if (!(flags & GMM_MAP_ANONYMOUS)) {
        if (fd >= file_count()) return -GMM_EBADF;
        if (offset & (kPageSize - 1)) return -GMM_EINVAL;
        object = file_object(uint32_t(fd));
        page_index = offset / kPageSize;
    }
    const uint64_t rounded = (len + kPageSize - 1) & ~(kPageSize - 1);
    if (rounded < len || rounded >= GMM_USER_TOP_GVA) return -GMM_ENOMEM;
    if (object && page_index > ~0ull / kPageSize - rounded / kPageSize) return -GMM_EINVAL;  // offset + length wraps
    uint32_t f = shared ? uint32_t(mm::MapFlags::Shared) : uint32_t(mm::MapFlags::Private);
    if (flags & GMM_MAP_FIXED) {
        if (int64_t e = check_range(addr, len)) return e;
        f |= uint32_t(mm::MapFlags::Fixed);
    } else if (addr & (kPageSize - 1) || addr >= GMM_USER_TOP_GVA) {
        addr = 0;  // a hint only: ignore a useless one, as Linux does
    }
    // Before the mapping exists: a write through it can never be missed by writeback.
    if (object && shared) file_note_shared_writable(object);
    MmOpScope op;
    auto r = mm_space().map(Gva(addr), rounded, mm::Prot(uint32_t(prot)), mm::MapFlags(f), object, page_index);
    return r.ok() ? int64_t(r->value()) : errno_of(r.error());
}

int64_t sys_munmap(uint64_t addr, uint64_t len) {
    if (int64_t e = check_range(addr, len)) return e;
    {
        MmOpScope op;
        auto st = mm_space().unmap(Gva(addr), len);
        if (!st.ok()) return errno_of(st.error());
    }
    return page_cache_writeback(Writeback::Unmapped) ? 0 : -GMM_EIO;  // sleeps; no-op without shared file mappings
}

int64_t sys_msync(uint64_t addr, uint64_t len, uint64_t flags) {
    if (flags & ~uint64_t(GMM_MS_ASYNC | GMM_MS_INVALIDATE | GMM_MS_SYNC)) return -GMM_EINVAL;
    if ((flags & GMM_MS_ASYNC) && (flags & GMM_MS_SYNC)) return -GMM_EINVAL;
    if (int64_t e = check_range(addr, len)) return e;
    return page_cache_writeback(Writeback::Everything) ? 0 : -GMM_EIO;
}

int64_t sys_file_open(uint64_t name, uint64_t len) {
    if (len == 0 || len >= GMM_DISK_NAME_BYTES) return -GMM_EINVAL;
    if (!file_count()) return -GMM_ENODEV;
    char buf[GMM_DISK_NAME_BYTES];
    if (!mm_copy_from_user(Gva(name), len, buf)) return -GMM_EFAULT;  // never trusted in place
    const int32_t fd = file_find(buf, len);
    return fd < 0 ? -GMM_ENOENT : fd;
}

int64_t sys_file_size(uint64_t fd) { return fd < file_count() ? int64_t(file_size_bytes(uint32_t(fd))) : -GMM_EBADF; }

int64_t sys_mprotect(uint64_t addr, uint64_t len, uint64_t prot) {
    if (prot & ~kKnownProt) return -GMM_EINVAL;
    if (int64_t e = check_range(addr, len)) return e;
    MmOpScope op;
    auto st = mm_space().protect(Gva(addr), len, mm::Prot(uint32_t(prot)));
    return st.ok() ? 0 : errno_of(st.error());
}

// Threads sharing a vCPU overlap their windows: the host sees one window per
// vCPU from the first begin to the last end (their union), so counts add up.
struct alignas(64) MarkDepth {
    uint32_t depth[GMM_MARK_COUNT];
};
MarkDepth g_mark_depth[GMM_MAX_VCPUS];

int64_t sys_mark(uint64_t window, uint64_t phase) {
    if (window >= GMM_MARK_COUNT || phase > 1) return -GMM_EINVAL;
    PerCpu& me = this_cpu();
    uint32_t& depth = g_mark_depth[me.cpu_index].depth[window];
    if (phase == 0 && depth++ != 0) return 0;
    if (phase == 1) {
        if (depth == 0) return -GMM_EINVAL;  // an end without a begin
        if (--depth != 0) return 0;
    }
    if (window == GMM_MARK_FAULTS) mm_ptl_track(phase == 0);
    me.ucall.cmd = GMM_UCALL_MARK;
    me.ucall.cpu = me.cpu_index;
    me.ucall.args[0] = window;
    me.ucall.args[1] = phase;
    const uint64_t gpa = reinterpret_cast<uint64_t>(&me.ucall) - GMM_KERNEL_IMAGE_GVA;
    asm volatile("outb %%al, %%dx" ::"D"(gpa), "d"(uint16_t(GMM_UCALL_PORT)), "a"(0) : "memory");
    return 0;
}

int64_t sys_frame_of(uint64_t addr) {
    void* p = mm_user_ptr(Gva(addr), false, false);
    if (!p) return -GMM_EFAULT;
    return int64_t((reinterpret_cast<uint64_t>(p) - GMM_DIRECT_MAP_GVA) & ~(kPageSize - 1));
}

}  // namespace

bool mm_syscall(const SyscallArgs& a, int64_t& result) {
    if (a.nr < GMM_SYS_MMAP || a.nr >= GMM_SYS_COUNT) return false;
    if (!mm_space_ready()) {
        result = -GMM_ENOSYS;
        return true;
    }
    switch (a.nr) {
    case GMM_SYS_MMAP: result = sys_mmap(a.a[0], a.a[1], a.a[2], a.a[3], a.a[4], a.a[5]); break;
    case GMM_SYS_MUNMAP: result = sys_munmap(a.a[0], a.a[1]); break;
    case GMM_SYS_MPROTECT: result = sys_mprotect(a.a[0], a.a[1], a.a[2]); break;
    case GMM_SYS_THREAD_CREATE: result = sys_thread_create(a.a[0], a.a[1], a.a[2], a.a[3], a.a[4]); break;
    case GMM_SYS_WAIT: result = sys_wait(a.a[0], a.a[1]); break;
    case GMM_SYS_WAKE: result = sys_wake(a.a[0], a.a[1]); break;
    case GMM_SYS_EXIT: sys_exit_run(a.a[0]);
    case GMM_SYS_MARK: result = sys_mark(a.a[0], a.a[1]); break;
    case GMM_SYS_FRAME_OF: result = sys_frame_of(a.a[0]); break;
    case GMM_SYS_FILE_OPEN: result = sys_file_open(a.a[0], a.a[1]); break;
    case GMM_SYS_FILE_SIZE: result = sys_file_size(a.a[0]); break;
    case GMM_SYS_MSYNC: result = sys_msync(a.a[0], a.a[1], a.a[2]); break;
    case GMM_SYS_SEGV_RECOVER: result = mm_sys_segv_recover(a.a[0], a.a[1], a.a[2]); break;
    default: return false;
    }
    return true;
}

}  // namespace gmm::kernel
