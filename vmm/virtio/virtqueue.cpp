#include "virtqueue.h"

#include <cstring>

namespace gmm::vmm::virtio {

const char* queue_error_name(QueueError e) {
    switch (e) {
        case QueueError::BadSize: return "queue size is not a power of two in 1..32768";
        case QueueError::Misaligned: return "a ring area is misaligned";
        case QueueError::AreaNotInRam: return "a ring area is not inside guest RAM";
        case QueueError::IndexJump: return "avail.idx ran more than the queue size ahead";
    }
    return "?";
}

const char* chain_error_name(ChainError e) {
    switch (e) {
        case ChainError::HeadOutOfRange: return "head index out of range";
        case ChainError::NextOutOfRange: return "next index out of range";
        case ChainError::TooLong: return "chain too long (loop?)";
        case ChainError::NotInRam: return "buffer outside guest RAM or wrapping";
        case ChainError::ZeroLength: return "zero-length descriptor";
        case ChainError::Indirect: return "indirect descriptor (not negotiated)";
    }
    return "?";
}

SplitQueue::SplitQueue(GuestMemory& mem, const QueueLayout& layout, uint32_t max_segments)
    : mem_(&mem), layout_(layout), max_segments_(max_segments) {
    desc_ = mem.translate(layout.desc, virtq_desc_bytes(layout.size));
    avail_ = mem.translate(layout.avail, virtq_avail_bytes(layout.size));
    used_ = mem.translate(layout.used, virtq_used_bytes(layout.size));
}

gmm::Result<SplitQueue, QueueError> SplitQueue::create(GuestMemory& mem, const QueueLayout& l, uint32_t max_segments) {
    if (l.size == 0 || l.size > VIRTQ_MAX_SIZE || (l.size & (l.size - 1)) != 0) return Err{QueueError::BadSize};
    if (!l.desc.is_aligned(16) || !l.avail.is_aligned(2) || !l.used.is_aligned(4)) return Err{QueueError::Misaligned};
    if (!mem.contains(l.desc, virtq_desc_bytes(l.size)) || !mem.contains(l.avail, virtq_avail_bytes(l.size)) ||
        !mem.contains(l.used, virtq_used_bytes(l.size)))
        return Err{QueueError::AreaNotInRam};
    return SplitQueue(mem, l, max_segments == 0 ? 1 : max_segments);
}

uint16_t SplitQueue::load_avail_idx() const {
    return __atomic_load_n(reinterpret_cast<const uint16_t*>(avail_ + 2), __ATOMIC_ACQUIRE);
}

bool SplitQueue::has_avail() const { return load_avail_idx() != next_avail_; }

gmm::Result<std::optional<uint16_t>, QueueError> SplitQueue::pop_avail() {
    const uint16_t idx = load_avail_idx();
    const uint16_t pending = uint16_t(idx - next_avail_);
    if (pending == 0) return std::optional<uint16_t>{};
    if (pending > layout_.size) return Err{QueueError::IndexJump};
    const uint32_t slot = next_avail_ % layout_.size;
    const uint16_t head = __atomic_load_n(reinterpret_cast<const uint16_t*>(avail_ + 4 + 2 * slot), __ATOMIC_RELAXED);
    ++next_avail_;
    return std::optional<uint16_t>{head};
}

Chain SplitQueue::read_chain(uint16_t head) const {
    Chain c;
    c.head = head;
    if (head >= layout_.size) {
        c.error = ChainError::HeadOutOfRange;
        return c;
    }
    const uint32_t bound = layout_.size < max_segments_ ? layout_.size : max_segments_;
    uint16_t i = head;
    for (uint32_t n = 0;; ++n) {
        if (n == bound) {
            c.error = ChainError::TooLong;
            return c;
        }
        virtq_desc d;
        std::memcpy(&d, desc_ + 16ull * i, sizeof d);  // one snapshot: the guest may change it meanwhile
        if (d.flags & VIRTQ_DESC_F_INDIRECT) {
            c.error = ChainError::Indirect;
            return c;
        }
        if (d.len == 0) {
            c.error = ChainError::ZeroLength;
            return c;
        }
        if (!mem_->contains(Gpa(d.addr), d.len)) {  // also rejects addr + len wrapping
            c.error = ChainError::NotInRam;
            return c;
        }
        c.segments.push_back(Segment{Gpa(d.addr), d.len, (d.flags & VIRTQ_DESC_F_WRITE) != 0});
        if (!(d.flags & VIRTQ_DESC_F_NEXT)) return c;
        if (d.next >= layout_.size) {
            c.error = ChainError::NextOutOfRange;
            return c;
        }
        i = d.next;
    }
}

void SplitQueue::push_used(uint16_t head, uint32_t written_bytes) {
    const uint32_t slot = used_idx_ % layout_.size;
    virtq_used_elem e{head, written_bytes};
    std::memcpy(used_ + 4 + 8ull * slot, &e, sizeof e);
    ++used_idx_;
    __atomic_store_n(reinterpret_cast<uint16_t*>(used_ + 2), used_idx_, __ATOMIC_RELEASE);
}

bool SplitQueue::interrupts_suppressed() const {
    return (__atomic_load_n(reinterpret_cast<const uint16_t*>(avail_), __ATOMIC_ACQUIRE) & VIRTQ_AVAIL_F_NO_INTERRUPT) != 0;
}

void SplitQueue::set_no_notify(bool on) {
    __atomic_store_n(reinterpret_cast<uint16_t*>(used_), uint16_t(on ? VIRTQ_USED_F_NO_NOTIFY : 0), __ATOMIC_SEQ_CST);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);  // clear, then re-check avail: no lost kick
}

}  // namespace gmm::vmm::virtio
