// gmm's virtio-blk device: the virtio-mmio register file (mmio_transport.h)
// plus the data path. QueueNotify (value 0) and InterruptACK (value 1) are
// KVM ioeventfds, so the guest's kick and acknowledgement never exit to user
// space; a host I/O thread blocks in ppoll on them, serves the queue with
// pread/pwrite on the image (blk_request.h), holds each completion for
// --disk-latency-us (in the poll timeout, never spinning) and raises the
// interrupt through an irqfd routed as an MSI (vector and destination APIC in
// the device tree). Everything else is an ordinary MMIO exit (mmio()).
// Without a VM fd (unit tests) the eventfds exist but are not bound to KVM.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "error.h"
#include "guest_memory.h"
#include "blk_request.h"
#include "mmio_transport.h"
#include "virtqueue.h"

namespace gmm::vmm::virtio {

struct BlkDeviceConfig {
    int image_fd = -1;            // taken over (closed by the device)
    uint64_t capacity_bytes = 0;  // multiple of 512
    uint32_t latency_us = 0;      // added to every request's completion
    Gpa mmio_base;
    uint8_t msi_vector = 0;
    uint32_t dest_apic_id = 0;
    uint32_t gsi = 24;            // the irqfd's GSI (above the IOAPIC's pins)
};

struct BlkDeviceCounters {
    uint64_t requests = 0;        // chains completed
    uint64_t ok = 0, io_errors = 0, unsupported = 0;
    uint64_t bad_requests = 0;    // malformed by the guest (subset of io_errors)
    uint64_t bytes_read = 0, bytes_written = 0, flushes = 0;
    uint64_t kicks = 0;           // I/O thread wake-ups by the notify ioeventfd
    uint64_t interrupts = 0;      // irqfd signals
    uint64_t mmio_exits = 0;      // register accesses that exited to user space
    uint64_t notify_exits = 0;    // of which QueueNotify (the ioeventfd did not match)
};

class BlkDevice {
public:
    // vm_fd < 0: no KVM wiring (tests); the interrupt eventfd is still signalled.
    static Result<std::unique_ptr<BlkDevice>> create(GuestMemory& mem, int vm_fd, const BlkDeviceConfig& config);
    ~BlkDevice();  // stops the I/O thread, then fdatasync()s the image
    BlkDevice(const BlkDevice&) = delete;
    BlkDevice& operator=(const BlkDevice&) = delete;

    Gpa mmio_base() const { return config_.mmio_base; }
    bool claims(uint64_t gpa) const {
        return gpa >= config_.mmio_base.value() && gpa - config_.mmio_base.value() < VIRTIO_MMIO_REGION_BYTES;
    }
    // A KVM_EXIT_MMIO inside the region (vCPU thread).
    void mmio(uint64_t gpa, uint8_t* data, uint32_t len, bool is_write);

    BlkDeviceCounters counters() const;
    MmioTransport& transport() { return *transport_; }
    int interrupt_eventfd() const { return irq_fd_; }
    int notify_eventfd() const { return notify_fd_; }
    // Stops the I/O thread and syncs the image (idempotent; the destructor calls it).
    void shutdown();

private:
    BlkDevice(GuestMemory& mem, const BlkDeviceConfig& config);
    Status wire_kvm(int vm_fd);
    void io_main();
    void start_queue(const QueueLayout& layout);
    void stop_queue();
    bool serve_locked();       // pops and executes every available request; true: the ring is corrupt
    bool complete_due_locked(uint64_t now_ns);  // true if an interrupt is owed
    void log(const std::string& message);

    struct Pending {
        uint16_t head;
        uint32_t written_bytes;
        uint64_t due_ns;
    };

    GuestMemory& mem_;
    BlkDeviceConfig config_;
    BlkBackend backend_;
    std::unique_ptr<MmioTransport> transport_;
    int notify_fd_ = -1, ack_fd_ = -1, irq_fd_ = -1, stop_fd_ = -1;
    std::thread io_thread_;
    bool stopped_ = false;

    mutable std::mutex mu_;  // the queue and pending completions
    std::optional<SplitQueue> queue_;
    std::deque<Pending> pending_;
    BlkDeviceCounters counters_;
    uint64_t log_count_ = 0;
};

}  // namespace gmm::vmm::virtio
