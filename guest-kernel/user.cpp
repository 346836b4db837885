#include "user.h"

#include "assert.h"
#include "frame_alloc.h"
#include "kernel.h"
#include "sched/sched.h"
#include "sync.h"
#include "x86_64/user_entry.h"
#include "x86_64/user_paging.h"

namespace gmm::kernel {

namespace {
x86::UserPageTable g_user_pt;
Gpa g_user_data_gpa;
bool g_user_ready;
}  // namespace

void user_space_build(uint32_t cpu_count) {
    const gmm_boot_info& bi = *g_kernel.boot_info;
    g_user_pt.create(Gpa(bi.kernel_pml4_gpa));
    for (uint64_t off = 0; off < bi.user_image_size_bytes; off += kPageSize)
        g_user_pt.map_page(Gva(bi.user_image_gva + off), Gpa(bi.user_image_gpa + off), x86::UserAccess::ReadWriteExecute);
    g_user_data_gpa = frame_alloc_zeroed();
    g_user_pt.map_page(Gva(kUserDataGva), g_user_data_gpa, x86::UserAccess::ReadWrite);
    for (uint32_t cpu = 0; cpu < cpu_count; ++cpu)
        g_user_pt.map_page(Gva(kUserStacksGva + kUserStackStrideBytes * cpu), frame_alloc_zeroed(),
                           x86::UserAccess::ReadWrite);
    g_user_ready = true;
}

bool user_space_ready() { return g_user_ready; }

Gva user_counter_gva(uint32_t cpu) { return Gva(kUserDataGva + kUserCounterStrideBytes * cpu); }
Gpa user_counter_gpa(uint32_t cpu) { return g_user_data_gpa.plus(kUserCounterStrideBytes * cpu); }

bool user_range_for_each(Gva gva, uint64_t len, void (*fn)(const char*, uint64_t)) {
    Gva end;
    if (!gva.checked_add(len, end) || end.value() > GMM_USER_TOP_GVA || gva.value() < kPageSize) return false;
    while (len > 0) {
        Gpa gpa;
        if (!g_user_pt.translate(gva, gpa)) return false;
        const uint64_t in_page = kPageSize - (gva.value() & (kPageSize - 1));
        const uint64_t chunk = len < in_page ? len : in_page;
        fn(direct_map<const char>(gpa), chunk);
        gva = gva.plus(chunk);
        len -= chunk;
    }
    return true;
}

void user_thread_start(user::Mode mode, uint64_t arg, UserExitFn on_exit) {
    GMM_ASSERT(g_user_ready);
    PerCpu& me = this_cpu();
    me.gate_calls = 0;
    me.on_user_exit = on_exit;
    const uint64_t stack_top = kUserStacksGva + kUserStackStrideBytes * me.cpu_index + kPageSize;
    x86::enter_user(g_user_pt.cr3(), Gva(g_kernel.boot_info->user_entry_gva), Gva(stack_top), me.cpu_index,
                    static_cast<uint64_t>(mode), arg);
}

void user_thread_exit(uint64_t status) {
    PerCpu& me = this_cpu();
    const UserExitFn fn = me.on_user_exit;
    if (!sched_active()) me.on_user_exit = nullptr;  // one thread per CPU here; scheduler CPUs keep theirs
    if (fn) fn(status);
    idle_forever();
}

}  // namespace gmm::kernel
