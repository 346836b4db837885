// virtio-blk driver (see virtio_blk.h). Layout: one split queue of kQueueSize
// descriptors in kernel .bss; request slot s owns descriptors 3s..3s+2 (header,
// data, status) and its own header and status byte, so submitting needs no
// allocation. Free slots are one atomic bitmap; the lock (class `blk`) only
// orders the avail-ring publication between submitting CPUs. The completion
// handler takes no lock: it alone consumes the used ring (it runs on the one
// CPU the MSI targets, with IF=0), so a CPU that waits for the lock in HLT can
// take the interrupt without deadlock.
//
// Cost where ring 0 is emulated (each instruction ~1-3 us): submit is ~100
// instructions + the QueueNotify store (an ioeventfd: it exits to KVM, not to
// the VMM); the interrupt ~60 + ~40 per completion + the InterruptACK store
// (also an ioeventfd). Initialisation does ~25 register accesses (MMIO exits
// to the VMM) and one synchronous read of the file table.
#include "virtio_blk.h"

#include "assert.h"
#include "console.h"
#include "gmm/abi/boot.h"
#include "gmm/abi/virtio.h"
#include "guestmm/atomic_rmw.h"
#include "guestmm/lock.h"
#include "kernel.h"
#include "lock_classes.h"
#include "mm/guest_platform.h"
#include "percpu.h"
#include "sync.h"
#include "x86_64/apic.h"
#include "x86_64/cpu.h"
#include "x86_64/trap.h"

namespace gmm::kernel::blk {

namespace {

constexpr uint32_t kQueueSize = 128;
constexpr uint32_t kSlots = kQueueSize / 3;  // 42: three descriptors each
static_assert(kSlots <= 64, "free slots are one 64-bit bitmap");
constexpr uint8_t kStatusPending = 0xff;     // overwritten by the device

struct alignas(4096) Ring {
    virtq_desc desc[kQueueSize];                         // 2 KiB
    struct {
        uint16_t flags, idx;
        uint16_t ring[kQueueSize];
    } avail;
    alignas(4) struct {
        uint16_t flags, idx;
        virtq_used_elem ring[kQueueSize];
    } used;
};

struct Slot {
    virtio_blk_req_hdr hdr;
    volatile uint8_t status;
    BlkDone done;
    void* ctx;
};

struct Driver {
    volatile uint32_t* regs = nullptr;  // the device's MMIO window (uncached direct map)
    uint64_t capacity_bytes = 0;
    uint32_t vector = 0;
    bool present = false;
    uint16_t avail_idx = 0;  // next avail.idx (under lock)
    uint16_t last_used = 0;  // next used entry to consume (interrupt handler only)
    uint64_t free_slots = 0; // bit s set: slot s is free (atomic)
    uint64_t space_waiters = 0;  // CPUs (bit = index) waiting in transfer_sync for a free slot
    Stats stats{};
};

Ring g_ring;
Slot g_slots[kSlots];
Driver g_drv;
constinit mm::TicketLock g_lock{lock_class(KernelLockClass::Blk)};
alignas(4096) uint8_t g_table_buf[GMM_DISK_TABLE_BYTES];
FileInfo g_files[GMM_DISK_MAX_FILES];
uint32_t g_file_count;

uint64_t kernel_gpa(const void* p) { return reinterpret_cast<uint64_t>(p) - GMM_KERNEL_IMAGE_GVA; }

uint32_t reg_read(uint32_t off) { return g_drv.regs[off / 4]; }
void reg_write(uint32_t off, uint32_t v) { g_drv.regs[off / 4] = v; }

uint64_t irq_save() {
    uint64_t flags;
    asm volatile("pushfq; popq %0; cli" : "=r"(flags)::"memory");
    return flags;
}
void irq_restore(uint64_t flags) {
    if (flags & (1u << 9)) asm volatile("sti" ::: "memory");
}

bool fail_init(const char* why) {
    console_puts("virtio-blk: ");
    console_puts(why);
    console_puts("; no disk\n");
    if (g_drv.regs) reg_write(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_FAILED);
    return false;
}

bool device_init(const DeviceConfig& c) {
    g_drv.regs = direct_map<volatile uint32_t>(Gpa(c.mmio_gpa));
    if (reg_read(VIRTIO_MMIO_MAGIC_VALUE) != VIRTIO_MMIO_MAGIC || reg_read(VIRTIO_MMIO_VERSION) != 2 ||
        reg_read(VIRTIO_MMIO_DEVICE_ID) != VIRTIO_ID_BLOCK)
        return fail_init("not a virtio-mmio v2 block device");
    reg_write(VIRTIO_MMIO_STATUS, 0);
    reg_write(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    reg_write(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    reg_write(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    const uint32_t lo = reg_read(VIRTIO_MMIO_DEVICE_FEATURES);
    reg_write(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    const uint32_t hi = reg_read(VIRTIO_MMIO_DEVICE_FEATURES);
    if (!(hi & (1u << (VIRTIO_F_VERSION_1 - 32)))) return fail_init("device does not offer VIRTIO_F_VERSION_1");
    // Only what the driver uses: VERSION_1, and FLUSH when offered.
    reg_write(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    reg_write(VIRTIO_MMIO_DRIVER_FEATURES, lo & (1u << VIRTIO_BLK_F_FLUSH));
    reg_write(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    reg_write(VIRTIO_MMIO_DRIVER_FEATURES, 1u << (VIRTIO_F_VERSION_1 - 32));
    const uint32_t st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK;
    reg_write(VIRTIO_MMIO_STATUS, st);
    if (!(reg_read(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK)) return fail_init("features refused");
    reg_write(VIRTIO_MMIO_QUEUE_SEL, 0);
    if (reg_read(VIRTIO_MMIO_QUEUE_NUM_MAX) < kQueueSize) return fail_init("queue too small");
    reg_write(VIRTIO_MMIO_QUEUE_NUM, kQueueSize);
    const uint64_t desc = kernel_gpa(&g_ring.desc), avail = kernel_gpa(&g_ring.avail), used = kernel_gpa(&g_ring.used);
    reg_write(VIRTIO_MMIO_QUEUE_DESC_LOW, uint32_t(desc));
    reg_write(VIRTIO_MMIO_QUEUE_DESC_HIGH, uint32_t(desc >> 32));
    reg_write(VIRTIO_MMIO_QUEUE_DRIVER_LOW, uint32_t(avail));
    reg_write(VIRTIO_MMIO_QUEUE_DRIVER_HIGH, uint32_t(avail >> 32));
    reg_write(VIRTIO_MMIO_QUEUE_DEVICE_LOW, uint32_t(used));
    reg_write(VIRTIO_MMIO_QUEUE_DEVICE_HIGH, uint32_t(used >> 32));
    reg_write(VIRTIO_MMIO_QUEUE_READY, 1);
    if (reg_read(VIRTIO_MMIO_QUEUE_READY) != 1) return fail_init("queue refused");
    const uint64_t sectors =
        uint64_t(reg_read(VIRTIO_MMIO_CONFIG)) | (uint64_t(reg_read(VIRTIO_MMIO_CONFIG + 4)) << 32);
    g_drv.capacity_bytes = sectors * kSectorBytes;
    // Fixed descriptor links: slot s = 3s (header) -> 3s+1 (data) -> 3s+2 (status).
    for (uint32_t s = 0; s < kSlots; ++s) {
        g_ring.desc[3 * s] = virtq_desc{kernel_gpa(&g_slots[s].hdr), sizeof(virtio_blk_req_hdr), VIRTQ_DESC_F_NEXT,
                                        uint16_t(3 * s + 1)};
        g_ring.desc[3 * s + 2] = virtq_desc{kernel_gpa(const_cast<const uint8_t*>(&g_slots[s].status)), 1, VIRTQ_DESC_F_WRITE, 0};
    }
    g_drv.free_slots = kSlots == 64 ? ~0ull : (1ull << kSlots) - 1;
    reg_write(VIRTIO_MMIO_STATUS, st | VIRTIO_STATUS_DRIVER_OK);
    g_drv.present = true;
    return true;
}

// The file table (disk.h): a corrupt one is a guest assertion naming the problem.
void read_file_table() {
    GMM_ASSERT(g_drv.capacity_bytes >= GMM_DISK_TABLE_BYTES && "disk smaller than its file table");
    const BlkStatus s = transfer_sync(BlkOp::Read, 0, Gpa(kernel_gpa(g_table_buf)), GMM_DISK_TABLE_BYTES);
    GMM_ASSERT(s == BlkStatus::Ok && "reading the disk's file table failed");
    const auto* t = reinterpret_cast<const gmm_disk_table*>(g_table_buf);
    GMM_ASSERT(t->magic == GMM_DISK_MAGIC && "disk file table: bad magic");
    GMM_ASSERT_EQ(t->version, GMM_DISK_VERSION);
    GMM_ASSERT_LE(t->file_count, GMM_DISK_MAX_FILES);
    for (uint32_t i = 0; i < t->file_count; ++i) {
        const gmm_disk_file_entry& e = t->files[i];
        FileInfo& f = g_files[i];
        uint32_t n = 0;
        while (n < GMM_DISK_NAME_BYTES && e.name[n] != '\0') {
            GMM_ASSERT(gmm_disk_name_char_ok(e.name[n]) && "disk file table: bad name character");
            f.name[n] = e.name[n];
            ++n;
        }
        GMM_ASSERT(n > 0 && n < GMM_DISK_NAME_BYTES && "disk file table: bad name length");
        f.name[n] = '\0';
        f.name_len = n;
        uint64_t end = 0;
        GMM_ASSERT(e.offset_bytes % GMM_DISK_PAGE_BYTES == 0 && e.offset_bytes >= GMM_DISK_TABLE_BYTES &&
                   "disk file table: misaligned offset");
        GMM_ASSERT(e.size_bytes != 0 && e.size_bytes % GMM_DISK_PAGE_BYTES == 0 && "disk file table: bad size");
        GMM_ASSERT(!__builtin_add_overflow(e.offset_bytes, e.size_bytes, &end) && end <= g_drv.capacity_bytes &&
                   "disk file table: file outside the disk");
        for (uint32_t j = 0; j < i; ++j)
            GMM_ASSERT((end <= g_files[j].offset_bytes || g_files[j].offset_bytes + g_files[j].size_bytes <= e.offset_bytes) &&
                       "disk file table: overlapping files");
        f.offset_bytes = e.offset_bytes;
        f.size_bytes = e.size_bytes;
    }
    g_file_count = t->file_count;
}

struct SyncWait {
    volatile bool done;
    BlkStatus status;
    uint32_t cpu;
};

void sync_done(void* ctx, BlkStatus status) {
    auto* w = static_cast<SyncWait*>(ctx);
    w->status = status;
    store_release(*const_cast<bool*>(&w->done), true);
    if (w->cpu != this_cpu().cpu_index) x86::apic::send_ipi(w->cpu, x86::Vector::Wakeup);
}

}  // namespace

void init(const DeviceConfig& c) {
    if (c.mmio_gpa == 0) return;
    GMM_ASSERT(c.vector == uint32_t(x86::Vector::Block) && "virtio-blk MSI vector differs from the kernel's");
    GMM_ASSERT(c.dest_apic_id == 0 && "virtio-blk interrupts must target CPU 0");
    g_drv.vector = c.vector;
    if (!device_init(c)) return;
    read_file_table();
}

bool present() { return g_drv.present; }
uint64_t capacity_bytes() { return g_drv.capacity_bytes; }

Status<SubmitError> submit(BlkOp op, uint64_t byte_offset, Gpa buffer, uint32_t length_bytes, BlkDone done, void* ctx) {
    if (!g_drv.present) return Err{SubmitError::NoDevice};
    if (op != BlkOp::Flush &&
        (length_bytes == 0 || length_bytes > kMaxTransferBytes || length_bytes % kSectorBytes != 0 ||
         byte_offset % kSectorBytes != 0 || !buffer.is_aligned(kPageSize)))
        return Err{SubmitError::BadRequest};
    // Claim a free slot (lock-free: the interrupt handler frees slots without the lock).
    uint64_t free = __atomic_load_n(&g_drv.free_slots, __ATOMIC_ACQUIRE);
    uint32_t s;
    do {
        if (free == 0) {
            mm::rmw_fetch_add(&g_drv.stats.ring_full, 1, __ATOMIC_RELAXED);
            return Err{SubmitError::NoSpace};
        }
        s = uint32_t(__builtin_ctzll(free));
    } while (!mm::rmw_compare_exchange(&g_drv.free_slots, &free, uint64_t(free & ~(1ull << s)), false, __ATOMIC_ACQ_REL,
                                       __ATOMIC_ACQUIRE));
    Slot& slot = g_slots[s];
    slot.done = done;
    slot.ctx = ctx;
    slot.status = kStatusPending;
    virtq_desc& head = g_ring.desc[3 * s];
    if (op == BlkOp::Flush) {
        slot.hdr = virtio_blk_req_hdr{VIRTIO_BLK_T_FLUSH, 0, 0};
        head.next = uint16_t(3 * s + 2);  // header -> status
    } else {
        slot.hdr = virtio_blk_req_hdr{op == BlkOp::Read ? VIRTIO_BLK_T_IN : VIRTIO_BLK_T_OUT, 0, byte_offset / kSectorBytes};
        head.next = uint16_t(3 * s + 1);
        g_ring.desc[3 * s + 1] = virtq_desc{buffer.value(), length_bytes,
                                            uint16_t(VIRTQ_DESC_F_NEXT | (op == BlkOp::Read ? VIRTQ_DESC_F_WRITE : 0)),
                                            uint16_t(3 * s + 2)};
    }
    const uint64_t flags = irq_save();  // the lock is never held across this CPU's interrupts
    g_lock.lock(guest_platform());
    g_ring.avail.ring[g_drv.avail_idx % kQueueSize] = uint16_t(3 * s);
    ++g_drv.avail_idx;
    __atomic_store_n(&g_ring.avail.idx, g_drv.avail_idx, __ATOMIC_RELEASE);
    g_lock.unlock(guest_platform());
    __atomic_thread_fence(__ATOMIC_SEQ_CST);  // publish avail.idx before reading used.flags (spec 2.7.10)
    if (!(__atomic_load_n(&g_ring.used.flags, __ATOMIC_RELAXED) & VIRTQ_USED_F_NO_NOTIFY))
        reg_write(VIRTIO_MMIO_QUEUE_NOTIFY, 0);  // an ioeventfd: no exit to the VMM
    irq_restore(flags);
    mm::rmw_fetch_add(&g_drv.stats.submitted, 1, __ATOMIC_RELAXED);
    return Ok{};
}

void on_interrupt() {
    ++g_drv.stats.interrupts;
    if (g_drv.present) {
        reg_write(VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);  // first: a later completion raises a new MSI
        const uint16_t used = __atomic_load_n(&g_ring.used.idx, __ATOMIC_ACQUIRE);
        while (g_drv.last_used != used) {
            const virtq_used_elem e = g_ring.used.ring[g_drv.last_used % kQueueSize];
            ++g_drv.last_used;
            GMM_ASSERT(e.id % 3 == 0 && e.id / 3 < kSlots && "virtio-blk: device returned a bad descriptor id");
            const uint32_t s = e.id / 3;
            Slot& slot = g_slots[s];
            const uint8_t st = slot.status;
            const BlkStatus status = st == VIRTIO_BLK_S_OK       ? BlkStatus::Ok
                                     : st == VIRTIO_BLK_S_UNSUPP ? BlkStatus::Unsupported
                                                                 : BlkStatus::IoError;
            const BlkDone done = slot.done;
            void* ctx = slot.ctx;
            mm::rmw_fetch_or(&g_drv.free_slots, 1ull << s, __ATOMIC_RELEASE);
            ++g_drv.stats.completed;
            if (status != BlkStatus::Ok) ++g_drv.stats.io_errors;
            if (done) done(ctx, status);
        }
        // Wake CPUs that found the ring full (they retry from HLT).
        uint64_t waiters = __atomic_load_n(&g_drv.space_waiters, __ATOMIC_ACQUIRE);
        if (waiters) {
            waiters = mm::rmw_exchange(&g_drv.space_waiters, 0ull, __ATOMIC_ACQ_REL);
            const uint32_t me = this_cpu().cpu_index;
            while (waiters) {
                const uint32_t cpu = uint32_t(__builtin_ctzll(waiters));
                waiters &= waiters - 1;
                if (cpu != me) x86::apic::send_ipi(cpu, x86::Vector::Wakeup);
            }
        }
    }
    x86::apic::eoi();
}

BlkStatus transfer_sync(BlkOp op, uint64_t byte_offset, Gpa buffer, uint32_t length_bytes) {
    if (!g_drv.present) return BlkStatus::NoDevice;
    const uint64_t flags = irq_save();
    SyncWait w{false, BlkStatus::Ok, this_cpu().cpu_index};
    for (;;) {
        auto r = submit(op, byte_offset, buffer, length_bytes, sync_done, &w);
        if (r) break;
        GMM_ASSERT(r.error() == SubmitError::NoSpace && "transfer_sync: bad request");
        // Register, re-check, sleep: a slot freed after the check still wakes us (IPI pending until sti;hlt).
        mm::rmw_fetch_or(&g_drv.space_waiters, 1ull << w.cpu, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&g_drv.free_slots, __ATOMIC_SEQ_CST) == 0) x86::sti_hlt_cli();
    }
    wait_until([&w] { return load_acquire(*const_cast<const bool*>(&w.done)); });
    irq_restore(flags);
    return w.status;
}

uint32_t file_count() { return g_file_count; }
const FileInfo* file(uint32_t index) { return index < g_file_count ? &g_files[index] : nullptr; }

int32_t find_file(const char* name, uint64_t len) {
    for (uint32_t i = 0; i < g_file_count; ++i) {
        if (g_files[i].name_len != len) continue;
        bool same = true;
        for (uint64_t k = 0; k < len && same; ++k) same = g_files[i].name[k] == name[k];
        if (same) return int32_t(i);
    }
    return -1;
}

Stats stats() { return g_drv.stats; }

}  // namespace gmm::kernel::blk
