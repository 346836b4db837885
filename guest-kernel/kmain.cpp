// Boot sequence, per CPU:
//   all:   per-CPU base (GS/FS), IDT, x2APIC           ~20 instructions
//   CPU 0: kvm_mode probe, boot info + FDT + bootargs, lockstat, workload prepare, banner
//   all:   CPU_ONLINE ucall
//   CPU 0: releases the others (one broadcast IPI); APs wait for it in HLT
//   all:   the workload's per-CPU part, then idle in HLT.
// Everything runs with interrupts disabled except while halted.
#include "assert.h"
#include "boot_info.h"
#include "bootargs.h"
#include "console.h"
#include "dev/virtio_blk.h"
#include "fdt_info.h"
#include "frame_alloc.h"
#include "kernel.h"
#include "lockstat.h"
#include "percpu.h"
#include "sync.h"
#include "ucall.h"
#include "workloads/workload.h"
#include "x86_64/apic.h"
#include "x86_64/kvm_probe.h"
#include "x86_64/trap.h"

namespace gmm::kernel {

KernelState g_kernel;

namespace {

constexpr uint64_t kRamBelowMmioHoleBytes = 3ull << 30;  // slot 0 ends at 3 GiB

void print_banner(const FdtInfo& fdt, const BootArgs& args) {
    console_puts("gmm-kernel: ");
    console_put_u64(g_kernel.cpu_count);
    console_puts(" cpus, ");
    console_put_u64(fdt.ram_bytes >> 20);
    console_puts(" MiB, workload=");
    console_write(args.workload.len ? args.workload.data : "boot", args.workload.len ? args.workload.len : 4);
    console_puts("\n");
}

// CPU 0: everything the other CPUs need before they run the workload.
void setup_machine(Gpa fdt_gpa, Gpa boot_info_gpa) {
    x86::kvm_mode_probe();
    const gmm_boot_info& bi = boot_info_validate(boot_info_gpa, 0);
    GMM_ASSERT_EQ(fdt_gpa.value(), bi.fdt_gpa);

    FdtInfo fdt;
    fdt_read(fdt_gpa, bi.fdt_size_bytes, fdt);
    GMM_ASSERT_EQ(fdt.boot_info_gpa, boot_info_gpa.value());
    GMM_ASSERT_EQ(fdt.abi_version, GMM_ABI_VERSION);
    GMM_ASSERT_EQ(fdt.ram_bytes, bi.ram_size_bytes);

    g_kernel.boot_info = &bi;
    g_kernel.cpu_count = bi.vcpu_count;
    g_kernel.ram_bytes = fdt.ram_bytes;
    g_kernel.tsc_hz = fdt.timebase_hz;
    const uint64_t low_ram_end = fdt.ram_bytes < kRamBelowMmioHoleBytes ? fdt.ram_bytes : kRamBelowMmioHoleBytes;
    frame_alloc_init(Gpa(bi.reserved_end_gpa), Gpa(low_ram_end));

    static BootArgs args;  // views into the FDT; static keeps the stack small
    bootargs_parse(fdt.bootargs, fdt.bootargs_len, args);
    const Workload& workload = workload_select(args);
    lockstat_init(args);  // before the workload takes any lock
    // The disk, when the tree has one (reads its file table synchronously, waiting in HLT).
    blk::init(blk::DeviceConfig{fdt.virtio.mmio_gpa, fdt.virtio.mmio_bytes, fdt.virtio.msi_vector,
                                fdt.virtio.msi_dest_apic_id});
    workload.prepare(args);
    g_kernel.workload = &workload;
    print_banner(fdt, args);
}

}  // namespace

extern "C" [[noreturn]] void gmm_kernel_main(uint64_t fdt_gpa, uint64_t cpu_index, uint64_t boot_info_gpa) {
    const uint32_t cpu = uint32_t(cpu_index);  // < GMM_MAX_VCPUS (checked in entry)
    percpu_init(cpu);
    x86::idt_load();
    x86::apic::init_this_cpu();
    PerCpu& me = g_percpu[cpu];  // not this_cpu(): GS was only just set
    me.apic_id = x86::apic::read_apic_id();
    GMM_ASSERT_EQ(me.apic_id, cpu);  // the protocol: APIC id = cpu index (IPIs rely on it)

    if (cpu == 0) setup_machine(Gpa(fdt_gpa), Gpa(boot_info_gpa));

    ucall_cpu_online(me.apic_id, x86::rdtsc());
    atomic_increment(g_kernel.online_count);
    if (cpu == 0) {
        store_release(g_kernel.released, true);
        x86::apic::send_ipi_all_but_self(x86::Vector::Wakeup);
    } else {
        // An AP whose APIC was not enabled yet may miss the broadcast; it then
        // sees `released` here, since it checks after enabling its APIC.
        x86::apic::send_ipi(0, x86::Vector::Wakeup);  // CPU 0 may wait for online_count
        wait_until([] { return load_acquire(g_kernel.released); });
        lockstat_cpu_start();  // CPU 0 started in lockstat_init
    }
    g_kernel.workload->run(cpu);
    idle_forever();
}

}  // namespace gmm::kernel
