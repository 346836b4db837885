// The virtio-mmio (version 2, "modern") register file of one device with one
// queue: identification, feature negotiation, queue set-up, status, interrupt
// status/ack and the device configuration space. Register accesses come from
// vCPU threads as MMIO exits (except the two the VMM binds to ioeventfds:
// QueueNotify and InterruptACK of bit 0); the data path lives elsewhere
// (blk_device.h). No KVM: unit tests drive it directly.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "virtqueue.h"

namespace gmm::vmm::virtio {

class MmioTransport {
public:
    struct Hooks {
        // Validates the queue the driver set up (QueueReady = 1); false refuses it (ready stays 0).
        std::function<bool(const QueueLayout&)> check_queue;
        // DRIVER_OK with the queue ready: start serving it with the negotiated features.
        std::function<void(const QueueLayout&, uint64_t features)> start;
        // Status 0 (reset) or FAILED: stop serving; must return only when the data path is idle.
        std::function<void()> reset;
        // A QueueNotify that reached user space (the ioeventfd did not match it).
        std::function<void(uint32_t queue)> notify;
        // A message for the (rate-limited) log.
        std::function<void(const std::string&)> log;
    };

    MmioTransport(uint32_t device_id, uint64_t device_features, std::vector<uint8_t> config, Hooks hooks);

    // Guest accesses (offset within the region). Reads of unknown or
    // write-only registers return 0; writes to read-only ones are ignored
    // (both logged once). Config space allows 1/2/4-byte accesses; registers 4.
    uint64_t read(uint64_t offset, uint32_t size_bytes);
    void write(uint64_t offset, uint32_t size_bytes, uint64_t value);

    // Data path (any thread): InterruptStatus bits.
    void raise_interrupt(uint32_t bits) { interrupt_status_.fetch_or(bits, std::memory_order_acq_rel); }
    void ack_interrupt(uint32_t bits) { interrupt_status_.fetch_and(~bits, std::memory_order_acq_rel); }
    uint32_t interrupt_status() const { return interrupt_status_.load(std::memory_order_acquire); }

    uint32_t status() const;
    uint64_t driver_features() const;
    // Sets DEVICE_NEEDS_RESET (e.g. the driver corrupted its ring).
    void needs_reset();

private:
    void reset_locked();
    void write_status_locked(uint32_t value);
    QueueLayout layout_locked() const;

    const uint32_t device_id_;
    const uint64_t device_features_;
    const std::vector<uint8_t> config_;
    Hooks hooks_;

    mutable std::mutex mu_;
    uint32_t status_ = 0;
    uint32_t device_features_sel_ = 0, driver_features_sel_ = 0;
    uint64_t driver_features_ = 0;
    uint32_t queue_sel_ = 0;
    uint32_t queue_num_ = 0;
    bool queue_ready_ = false;
    uint64_t queue_desc_ = 0, queue_driver_ = 0, queue_device_ = 0;
    bool warned_ = false;
    std::atomic<uint32_t> interrupt_status_{0};
};

}  // namespace gmm::vmm::virtio
