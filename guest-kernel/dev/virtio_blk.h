// Guest driver for the VMM's virtio-blk device (virtio 1.x over virtio-mmio,
// one split virtqueue; docs/virtio-blk.md) and the disk's file table
// (abi/gmm/abi/disk.h).
//
// Requests complete asynchronously: the device raises an MSI (vector
// x86::Vector::Block) on the CPU the device tree names, whose handler reads the
// used ring and calls each request's BlkDone. Any CPU may submit (one ticket
// lock, class `blk`); completions run on the interrupt's CPU.
#pragma once

#include <stdint.h>

#include "gmm/abi/disk.h"
#include "gmm/addr.h"
#include "gmm/result.h"

namespace gmm::kernel::blk {

enum class BlkStatus : uint8_t { Ok, IoError, Unsupported, NoDevice };
enum class BlkOp : uint8_t { Read, Write, Flush };

// Why submit() refused a request (nothing was queued, `done` is not called).
enum class SubmitError : uint8_t {
    NoSpace,     // every request slot is in flight: retry after a completion
    NoDevice,    // no disk in the device tree (or the device failed set-up)
    BadRequest,  // offset/length not 512-byte multiples, zero or > kMaxTransferBytes, buffer not page-aligned
};

// Runs in interrupt context on the CPU that takes the completion interrupt,
// with IF=0: must be short (wake a thread, set a flag). May call submit().
using BlkDone = void (*)(void* ctx, BlkStatus status);

constexpr uint64_t kSectorBytes = 512;
constexpr uint32_t kMaxTransferBytes = 1u << 20;  // one data descriptor per request

// Called once on CPU 0 at boot (kmain) with the device's node values; a no-op
// when the tree has no disk. Parses and validates the file table: a corrupt
// table is a guest assertion (reported to the host with the reason).
struct DeviceConfig {
    uint64_t mmio_gpa = 0;  // 0 = no device
    uint64_t mmio_bytes = 0;
    uint32_t vector = 0;       // gmm,msi-vector
    uint32_t dest_apic_id = 0; // gmm,msi-dest-apic-id
};
void init(const DeviceConfig& config);

bool present();
uint64_t capacity_bytes();

// Queues one request on a physically contiguous, page-aligned buffer. For
// Flush, byte_offset/buffer/length are ignored. On error nothing is queued.
Status<SubmitError> submit(BlkOp op, uint64_t byte_offset, Gpa buffer, uint32_t length_bytes, BlkDone done,
                           void* ctx);

// Synchronous helper for boot and writeback paths that may not sleep in the
// scheduler: submits (retrying in HLT while the ring is full) and waits in HLT
// with interrupts enabled until the completion (never spins in ring 0).
// Restores the caller's IF on return. NoDevice without a disk.
BlkStatus transfer_sync(BlkOp op, uint64_t byte_offset, Gpa buffer, uint32_t length_bytes);

// Called by the trap dispatcher for x86::Vector::Block.
void on_interrupt();

// Files of the disk (the table of disk.h, validated at init).
struct FileInfo {
    char name[GMM_DISK_NAME_BYTES];  // NUL-terminated (names are < GMM_DISK_NAME_BYTES chars)
    uint32_t name_len;
    uint64_t offset_bytes;  // 4 KiB aligned
    uint64_t size_bytes;
};
uint32_t file_count();
const FileInfo* file(uint32_t index);  // nullptr when index >= file_count()
// Index of the file called name[0, len), or -1.
int32_t find_file(const char* name, uint64_t len);

// Counters (read by the blkcheck workload and reported as results).
struct Stats {
    uint64_t submitted, completed, io_errors, interrupts, ring_full;
};
Stats stats();

}  // namespace gmm::kernel::blk
