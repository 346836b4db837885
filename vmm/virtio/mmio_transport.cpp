#include "mmio_transport.h"

#include <cstring>

#include "error.h"

namespace gmm::vmm::virtio {

MmioTransport::MmioTransport(uint32_t device_id, uint64_t device_features, std::vector<uint8_t> config, Hooks hooks)
    : device_id_(device_id), device_features_(device_features), config_(std::move(config)), hooks_(std::move(hooks)) {}

uint32_t MmioTransport::status() const {
    std::lock_guard<std::mutex> lock(mu_);
    return status_;
}

uint64_t MmioTransport::driver_features() const {
    std::lock_guard<std::mutex> lock(mu_);
    return driver_features_;
}

void MmioTransport::needs_reset() {
    std::lock_guard<std::mutex> lock(mu_);
    status_ |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
    raise_interrupt(VIRTIO_MMIO_INT_CONFIG);
}

QueueLayout MmioTransport::layout_locked() const {
    return QueueLayout{queue_num_, Gpa(queue_desc_), Gpa(queue_driver_), Gpa(queue_device_)};
}

void MmioTransport::reset_locked() {
    if (hooks_.reset) hooks_.reset();
    status_ = 0;
    device_features_sel_ = driver_features_sel_ = 0;
    driver_features_ = 0;
    queue_sel_ = queue_num_ = 0;
    queue_ready_ = false;
    queue_desc_ = queue_driver_ = queue_device_ = 0;
    interrupt_status_.store(0, std::memory_order_release);
}

void MmioTransport::write_status_locked(uint32_t value) {
    if (value == 0) {
        reset_locked();
        return;
    }
    const uint32_t added = value & ~status_;
    if ((value & status_) != status_ && hooks_.log) hooks_.log("driver cleared status bits without a reset");
    if (added & VIRTIO_STATUS_FEATURES_OK) {
        // Only a subset of what we offer, and VERSION_1 is mandatory (no legacy).
        const bool ok = (driver_features_ & ~device_features_) == 0 && (driver_features_ >> VIRTIO_F_VERSION_1) & 1;
        if (!ok) {
            if (hooks_.log) hooks_.log("driver features " + hex(driver_features_) + " refused (offered " + hex(device_features_) + ")");
            value &= ~VIRTIO_STATUS_FEATURES_OK;
        }
    }
    if (added & VIRTIO_STATUS_FAILED) {
        if (hooks_.reset) hooks_.reset();
    }
    const bool starting = (added & VIRTIO_STATUS_DRIVER_OK) && (value & VIRTIO_STATUS_FEATURES_OK);
    status_ = value | (status_ & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
    if (starting && queue_ready_ && hooks_.start) hooks_.start(layout_locked(), driver_features_);
}

uint64_t MmioTransport::read(uint64_t off, uint32_t size) {
    std::lock_guard<std::mutex> lock(mu_);
    if (off >= VIRTIO_MMIO_CONFIG) {
        const uint64_t c = off - VIRTIO_MMIO_CONFIG;
        if ((size != 1 && size != 2 && size != 4 && size != 8) || c + size > config_.size()) return 0;
        uint64_t v = 0;
        std::memcpy(&v, config_.data() + c, size);
        return v;
    }
    if (size != 4) {
        if (!warned_ && hooks_.log) hooks_.log("register read of size " + std::to_string(size) + " at " + hex(off));
        warned_ = true;
        return 0;
    }
    switch (off) {
        case VIRTIO_MMIO_MAGIC_VALUE: return VIRTIO_MMIO_MAGIC;
        case VIRTIO_MMIO_VERSION: return 2;
        case VIRTIO_MMIO_DEVICE_ID: return device_id_;
        case VIRTIO_MMIO_VENDOR_ID: return GMM_VIRTIO_VENDOR_ID;
        case VIRTIO_MMIO_DEVICE_FEATURES:
            return device_features_sel_ < 2 ? uint32_t(device_features_ >> (32 * device_features_sel_)) : 0;
        case VIRTIO_MMIO_QUEUE_NUM_MAX: return queue_sel_ == 0 ? GMM_VIRTIO_QUEUE_NUM_MAX : 0;
        case VIRTIO_MMIO_QUEUE_READY: return queue_sel_ == 0 && queue_ready_ ? 1 : 0;
        case VIRTIO_MMIO_INTERRUPT_STATUS: return interrupt_status();
        case VIRTIO_MMIO_STATUS: return status_;
        case VIRTIO_MMIO_CONFIG_GENERATION: return 0;  // the configuration never changes
        default:
            if (!warned_ && hooks_.log) hooks_.log("read of unknown register " + hex(off));
            warned_ = true;
            return 0;
    }
}

void MmioTransport::write(uint64_t off, uint32_t size, uint64_t value64) {
    std::lock_guard<std::mutex> lock(mu_);
    const uint32_t value = uint32_t(value64);
    if (size != 4 || off >= VIRTIO_MMIO_CONFIG) {  // the block configuration is read-only
        if (!warned_ && hooks_.log) hooks_.log("ignored write of size " + std::to_string(size) + " at " + hex(off));
        warned_ = true;
        return;
    }
    // Queue registers change only while the queue is not live.
    const bool queue_writable = queue_sel_ == 0 && !queue_ready_;
    auto set_half = [&](uint64_t& reg, bool high) {
        if (!queue_writable) return;
        reg = high ? (reg & 0xffffffffull) | (uint64_t(value) << 32) : (reg & ~0xffffffffull) | value;
    };
    switch (off) {
        case VIRTIO_MMIO_DEVICE_FEATURES_SEL: device_features_sel_ = value; return;
        case VIRTIO_MMIO_DRIVER_FEATURES_SEL: driver_features_sel_ = value; return;
        case VIRTIO_MMIO_DRIVER_FEATURES:
            if (status_ & VIRTIO_STATUS_FEATURES_OK) return;  // frozen once accepted
            if (driver_features_sel_ < 2) {
                const uint32_t shift = 32 * driver_features_sel_;
                driver_features_ = (driver_features_ & ~(0xffffffffull << shift)) | (uint64_t(value) << shift);
            }
            return;
        case VIRTIO_MMIO_QUEUE_SEL: queue_sel_ = value; return;
        case VIRTIO_MMIO_QUEUE_NUM:
            if (queue_writable) queue_num_ = value;
            return;
        case VIRTIO_MMIO_QUEUE_READY:
            if (queue_sel_ != 0) return;
            if (value == 0) {
                queue_ready_ = false;
                return;
            }
            if (!queue_ready_) {
                const QueueLayout l = layout_locked();
                if (l.size > GMM_VIRTIO_QUEUE_NUM_MAX || (hooks_.check_queue && !hooks_.check_queue(l))) {
                    if (hooks_.log) hooks_.log("queue set-up refused (size " + std::to_string(l.size) + ", desc " + hex(l.desc.value()) + ")");
                    return;
                }
                queue_ready_ = true;
            }
            return;
        case VIRTIO_MMIO_QUEUE_NOTIFY:
            if (hooks_.notify) hooks_.notify(value);
            return;
        case VIRTIO_MMIO_INTERRUPT_ACK: ack_interrupt(value); return;
        case VIRTIO_MMIO_STATUS: write_status_locked(value); return;
        case VIRTIO_MMIO_QUEUE_DESC_LOW: set_half(queue_desc_, false); return;
        case VIRTIO_MMIO_QUEUE_DESC_HIGH: set_half(queue_desc_, true); return;
        case VIRTIO_MMIO_QUEUE_DRIVER_LOW: set_half(queue_driver_, false); return;
        case VIRTIO_MMIO_QUEUE_DRIVER_HIGH: set_half(queue_driver_, true); return;
        case VIRTIO_MMIO_QUEUE_DEVICE_LOW: set_half(queue_device_, false); return;
        case VIRTIO_MMIO_QUEUE_DEVICE_HIGH: set_half(queue_device_, true); return;
        default:
            if (!warned_ && hooks_.log) hooks_.log("write to unknown or read-only register " + hex(off));
            warned_ = true;
            return;
    }
}

}  // namespace gmm::vmm::virtio
