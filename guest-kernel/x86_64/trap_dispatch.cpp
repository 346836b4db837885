// The C++ side of every interrupt and exception: interrupts the kernel uses,
// the #UD system-call gate, and reports for everything else.
#include "apic.h"
#include "dev/virtio_blk.h"
#include "exceptions.h"
#include "kernel.h"
#include "mm/fault.h"
#include "mm/safepoint.h"
#include "mm/tlb.h"
#include "percpu.h"
#include "sched/sched.h"
#include "syscall.h"
#include "trap.h"
#include "user_return.h"
#include "gmm/abi/virtio.h"

namespace gmm::kernel::x86 {

namespace {

// A #UD from ring 3 at exactly the runtime's gate address is a system call.
bool is_syscall_gate(const TrapFrame& f) {
    return f.from_user() && g_kernel.boot_info != nullptr && f.rip == g_kernel.boot_info->user_gate_gva;
}

void on_timer() {
    PerCpu& me = this_cpu();
    const uint64_t ticks = me.timer_ticks + 1;
    me.timer_ticks = ticks;
    sched_on_timer();
    if (ticks < me.timer_target_ticks) apic::timer_rearm(uint32_t(me.timer_period_count));
    apic::eoi();
}

}  // namespace

static_assert(uint32_t(Vector::Block) == GMM_VIRTIO_BLK_VECTOR);
static_assert(uint32_t(Vector::Safepoint) == GMM_SAFEPOINT_VECTOR && uint32_t(Vector::Wakeup) == GMM_WAKEUP_VECTOR);

namespace {
void dispatch(TrapFrame& f);
}

extern "C" void gmm_trap_dispatch(TrapFrame* frame) {
    dispatch(*frame);
    if (frame->from_user()) before_user_return(frame->vector);
}

namespace {
void dispatch(TrapFrame& f) {
    switch (static_cast<Vector>(f.vector)) {
    case Vector::Wakeup:
        this_cpu().ipi_count = this_cpu().ipi_count + 1;
        apic::eoi();
        return;
    case Vector::Shootdown:
        tlb_on_shootdown_ipi();
        return;
    case Vector::Safepoint:
        apic::eoi();  // first: shootdowns and wake-ups must reach a parked CPU
        safepoint_on_interrupt(f.from_user());
        return;
    case Vector::PageFault:
        if (f.from_user()) {
            mm_user_page_fault(f);  // returns only when resolved
            return;
        }
        break;
    case Vector::Timer:
        on_timer();
        return;
    case Vector::Block:
        blk::on_interrupt();  // EOIs itself
        return;
    case Vector::Spurious:
        return;  // no EOI for the spurious vector
    case Vector::InvalidOpcode:
        if (is_syscall_gate(f)) {
            f.rax = uint64_t(syscall_handle(SyscallArgs{f.rax, {f.rdi, f.rsi, f.rdx, f.r10, f.r8, f.r9}}));
            f.rip += 2;  // past the ud2
            return;
        }
        break;
    default:
        break;
    }
    report_exception(f);
}

}  // namespace

}  // namespace gmm::kernel::x86
