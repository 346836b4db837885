#include "blk_device.h"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstddef>
#include <cstring>
#include <linux/kvm.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

namespace gmm::vmm::virtio {

namespace {

constexpr uint64_t kLogFirst = 5;  // problems logged in full; the rest are counted

uint64_t now_ns() {
    return uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::steady_clock::now().time_since_epoch())
                        .count());
}

uint64_t drain_eventfd(int fd) {
    uint64_t v = 0;
    return read(fd, &v, sizeof v) == sizeof v ? v : 0;
}

std::vector<uint8_t> blk_config_bytes(uint64_t capacity_bytes) {
    virtio_blk_config c{};
    c.capacity = capacity_bytes / VIRTIO_BLK_SECTOR_BYTES;
    c.size_max = GMM_VIRTIO_BLK_SIZE_MAX;
    c.seg_max = GMM_VIRTIO_BLK_SEG_MAX - 2;  // data segments: the chain also holds header and status
    c.blk_size = VIRTIO_BLK_SECTOR_BYTES;
    std::vector<uint8_t> bytes(sizeof c);
    std::memcpy(bytes.data(), &c, sizeof c);
    return bytes;
}

}  // namespace

BlkDevice::BlkDevice(GuestMemory& mem, const BlkDeviceConfig& config) : mem_(mem), config_(config) {
    backend_.fd = config.image_fd;
    backend_.capacity_bytes = config.capacity_bytes;
    std::snprintf(backend_.id, sizeof backend_.id, "gmm-disk");
}

Result<std::unique_ptr<BlkDevice>> BlkDevice::create(GuestMemory& mem, int vm_fd, const BlkDeviceConfig& config) {
    std::unique_ptr<BlkDevice> d(new BlkDevice(mem, config));
    if (config.capacity_bytes == 0 || config.capacity_bytes % VIRTIO_BLK_SECTOR_BYTES != 0)
        return Err{plain_error("virtio-blk: capacity " + std::to_string(config.capacity_bytes) + " is not a non-zero multiple of 512")};
    for (int* fd : {&d->notify_fd_, &d->ack_fd_, &d->irq_fd_, &d->stop_fd_}) {
        *fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (*fd < 0) return Err{sys_error("virtio-blk: eventfd", errno)};
    }
    const uint64_t features = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_BLK_F_FLUSH) |
                              (1ull << VIRTIO_BLK_F_BLK_SIZE) | (1ull << VIRTIO_BLK_F_SEG_MAX) |
                              (1ull << VIRTIO_BLK_F_SIZE_MAX);
    BlkDevice* self = d.get();
    MmioTransport::Hooks hooks;
    hooks.check_queue = [self](const QueueLayout& l) {
        return SplitQueue::create(self->mem_, l, GMM_VIRTIO_BLK_SEG_MAX).ok();
    };
    hooks.start = [self](const QueueLayout& l, uint64_t) { self->start_queue(l); };
    hooks.reset = [self] { self->stop_queue(); };
    hooks.notify = [self](uint32_t queue) {
        {
            std::lock_guard<std::mutex> lock(self->mu_);
            ++self->counters_.notify_exits;
        }
        if (queue == 0) {
            const uint64_t one = 1;
            (void)!write(self->notify_fd_, &one, sizeof one);
        }
    };
    hooks.log = [self](const std::string& m) { self->log(m); };
    d->transport_ = std::make_unique<MmioTransport>(VIRTIO_ID_BLOCK, features, blk_config_bytes(config.capacity_bytes),
                                                    std::move(hooks));
    if (vm_fd >= 0)
        if (Status st = d->wire_kvm(vm_fd); !st) return Err{st.error()};
    try {
        d->io_thread_ = std::thread(&BlkDevice::io_main, self);
    } catch (const std::system_error& e) {
        return Err{sys_error("virtio-blk: starting the I/O thread", e.code().value())};
    }
    pthread_setname_np(d->io_thread_.native_handle(), "gmm-blk-io");
    return d;
}

Status BlkDevice::wire_kvm(int vm_fd) {
    const uint64_t base = config_.mmio_base.value();
    // The guest's kick (QueueNotify = 0) and its acknowledgement of a used-buffer
    // interrupt (InterruptACK = 1) complete inside KVM: they only signal eventfds.
    struct Bind {
        uint64_t offset;
        uint64_t value;
        int fd;
        const char* name;
    };
    for (const Bind& b : {Bind{VIRTIO_MMIO_QUEUE_NOTIFY, 0, notify_fd_, "QueueNotify"},
                          Bind{VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING, ack_fd_, "InterruptACK"}}) {
        kvm_ioeventfd io{};
        io.datamatch = b.value;
        io.addr = base + b.offset;
        io.len = 4;
        io.fd = b.fd;
        io.flags = KVM_IOEVENTFD_FLAG_DATAMATCH;
        if (ioctl(vm_fd, KVM_IOEVENTFD, &io) != 0)
            return Err{sys_error(std::string("KVM_IOEVENTFD (virtio-blk ") + b.name + " at " + hex(io.addr) + ")", errno)};
    }
    // One MSI route: fixed delivery, edge, physical destination.
    // kvm_irq_routing ends in a flexible array: header + one entry in one buffer.
    // g++ places `entries` at offset 16 (C, and the kernel: 8) and sizes the
    // header 16, which would change the ioctl number too: use the C layout.
    constexpr size_t kHeaderBytes = 8;  // u32 nr, u32 flags
    constexpr unsigned long kSetGsiRouting = _IOC(_IOC_WRITE, KVMIO, 0x6a, kHeaderBytes);
    alignas(8) uint8_t buf[kHeaderBytes + sizeof(kvm_irq_routing_entry)] = {};
    auto* entry = reinterpret_cast<kvm_irq_routing_entry*>(buf + kHeaderBytes);
    const uint32_t nr = 1;
    std::memcpy(buf, &nr, sizeof nr);
    entry->gsi = config_.gsi;
    entry->type = KVM_IRQ_ROUTING_MSI;
    entry->u.msi.address_lo = 0xfee00000u | ((config_.dest_apic_id & 0xffu) << 12);
    entry->u.msi.data = config_.msi_vector;
    if (ioctl(vm_fd, kSetGsiRouting, buf) != 0) return Err{sys_error("KVM_SET_GSI_ROUTING (virtio-blk MSI)", errno)};
    kvm_irqfd irq{};
    irq.fd = uint32_t(irq_fd_);
    irq.gsi = config_.gsi;
    if (ioctl(vm_fd, KVM_IRQFD, &irq) != 0) return Err{sys_error("KVM_IRQFD (virtio-blk)", errno)};
    return Ok{};
}

BlkDevice::~BlkDevice() {
    shutdown();
    for (int fd : {notify_fd_, ack_fd_, irq_fd_, stop_fd_, backend_.fd})
        if (fd >= 0) close(fd);
}

void BlkDevice::shutdown() {
    if (stopped_) return;
    stopped_ = true;
    if (io_thread_.joinable()) {
        const uint64_t one = 1;
        (void)!write(stop_fd_, &one, sizeof one);
        io_thread_.join();
    }
    std::lock_guard<std::mutex> lock(mu_);
    // Completions still held for latency: the data is already in the image.
    pending_.clear();
    if (backend_.fd >= 0 && fdatasync(backend_.fd) != 0)
        std::fprintf(stderr, "gmm: virtio-blk: fdatasync of the image at exit: %s\n", errno_name(errno));
    if (log_count_ > kLogFirst)
        std::fprintf(stderr, "gmm: virtio-blk: %llu further problems not shown\n",
                     static_cast<unsigned long long>(log_count_ - kLogFirst));
}

void BlkDevice::log(const std::string& message) {
    // Called with or without mu_ held by this thread; a separate counter avoids recursion.
    static std::mutex log_mu;
    std::lock_guard<std::mutex> lock(log_mu);
    if (++log_count_ <= kLogFirst) std::fprintf(stderr, "gmm: virtio-blk: %s\n", message.c_str());
    if (log_count_ == kLogFirst) std::fprintf(stderr, "gmm: virtio-blk: (further problems are counted, not shown)\n");
}

BlkDeviceCounters BlkDevice::counters() const {
    std::lock_guard<std::mutex> lock(mu_);
    return counters_;
}

void BlkDevice::mmio(uint64_t gpa, uint8_t* data, uint32_t len, bool is_write) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        ++counters_.mmio_exits;
    }
    const uint64_t off = gpa - config_.mmio_base.value();
    if (len == 0 || len > 8 || off + len > VIRTIO_MMIO_REGION_BYTES) {
        if (!is_write) std::memset(data, 0, len > 8 ? 8 : len);
        return;
    }
    if (is_write) {
        uint64_t v = 0;
        std::memcpy(&v, data, len);
        transport_->write(off, len, v);
    } else {
        const uint64_t v = transport_->read(off, len);
        std::memcpy(data, &v, len);
    }
}

void BlkDevice::start_queue(const QueueLayout& layout) {
    std::lock_guard<std::mutex> lock(mu_);
    auto q = SplitQueue::create(mem_, layout, GMM_VIRTIO_BLK_SEG_MAX);
    if (!q) return;  // checked at QueueReady; the layout cannot change since
    queue_.emplace(std::move(*q));
    pending_.clear();
    const uint64_t one = 1;
    (void)!write(notify_fd_, &one, sizeof one);  // serve anything queued before DRIVER_OK
}

void BlkDevice::stop_queue() {
    // Taking mu_ waits for a batch in progress: afterwards the I/O thread
    // touches neither the rings nor guest buffers.
    std::lock_guard<std::mutex> lock(mu_);
    queue_.reset();
    pending_.clear();
}

bool BlkDevice::serve_locked() {
    if (!queue_) return false;
    SplitQueue& q = *queue_;
    for (;;) {
        q.set_no_notify(true);  // draining: kicks meanwhile are unnecessary
        for (;;) {
            auto head = q.pop_avail();
            if (!head) {
                log(std::string("queue disabled: ") + queue_error_name(head.error()));
                queue_.reset();
                return true;  // the caller flags DEVICE_NEEDS_RESET once mu_ is released
            }
            if (!*head) break;
            const Chain chain = q.read_chain(**head);
            const BlkOutcome r = process_blk_request(mem_, chain, backend_);
            ++counters_.requests;
            if (r.status == VIRTIO_BLK_S_OK) ++counters_.ok;
            else if (r.status == VIRTIO_BLK_S_UNSUPP) ++counters_.unsupported;
            else ++counters_.io_errors;
            if (r.status == VIRTIO_BLK_S_OK) {
                if (r.type == VIRTIO_BLK_T_IN) counters_.bytes_read += r.data_bytes;
                if (r.type == VIRTIO_BLK_T_OUT) counters_.bytes_written += r.data_bytes;
                if (r.type == VIRTIO_BLK_T_FLUSH) ++counters_.flushes;
            }
            if (!r.problem.empty()) {
                if (r.problem.rfind("host I/O error", 0) != 0) ++counters_.bad_requests;
                log("request at descriptor " + std::to_string(chain.head) + ": " + r.problem);
            }
            if (chain.error && *chain.error == ChainError::HeadOutOfRange) continue;  // no descriptor to return
            pending_.push_back(Pending{chain.head, r.written_bytes, now_ns() + uint64_t(config_.latency_us) * 1000});
        }
        q.set_no_notify(false);
        if (!q.has_avail()) return false;  // re-checked after clearing NO_NOTIFY: no lost kick
    }
}

bool BlkDevice::complete_due_locked(uint64_t now) {
    bool owed = false;
    while (!pending_.empty() && pending_.front().due_ns <= now) {
        if (queue_) {
            queue_->push_used(pending_.front().head, pending_.front().written_bytes);
            owed = true;
        }
        pending_.pop_front();
    }
    return owed && queue_ && !queue_->interrupts_suppressed();
}

void BlkDevice::io_main() {
    for (;;) {
        timespec ts{}, *tsp = nullptr;
        {
            std::lock_guard<std::mutex> lock(mu_);
            if (!pending_.empty()) {
                const uint64_t now = now_ns();
                const uint64_t wait = pending_.front().due_ns > now ? pending_.front().due_ns - now : 0;
                ts.tv_sec = time_t(wait / 1000000000ull);
                ts.tv_nsec = long(wait % 1000000000ull);
                tsp = &ts;
            }
        }
        pollfd fds[3] = {{notify_fd_, POLLIN, 0}, {ack_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
        const int n = ppoll(fds, 3, tsp, nullptr);  // blocks: the latency is a timeout, never a spin
        if (n < 0 && errno != EINTR) {
            log(std::string("ppoll failed: ") + errno_name(errno));
            return;
        }
        if (fds[2].revents & POLLIN) return;
        if (fds[1].revents & POLLIN) {
            drain_eventfd(ack_fd_);
            transport_->ack_interrupt(VIRTIO_MMIO_INT_VRING);
        }
        bool interrupt = false, corrupt = false;
        {
            std::lock_guard<std::mutex> lock(mu_);
            if (fds[0].revents & POLLIN) {
                counters_.kicks += drain_eventfd(notify_fd_);
            }
            corrupt = serve_locked();
            interrupt = complete_due_locked(now_ns());
            if (interrupt) {
                transport_->raise_interrupt(VIRTIO_MMIO_INT_VRING);
                ++counters_.interrupts;
            }
        }
        // Lock order is transport -> device (register writes call into the
        // device), so the transport is told only after mu_ is released.
        if (corrupt) transport_->needs_reset();
        if (interrupt) {
            const uint64_t one = 1;
            (void)!write(irq_fd_, &one, sizeof one);
        }
    }
}

}  // namespace gmm::vmm::virtio
