// The device side of one split virtqueue (virtio 1.x, spec 2.7) over guest RAM.
// The guest is hostile: every ring field is read once into host memory, every
// address and length is checked through GuestMemory's translator, chains are
// bounded by the queue size (so a descriptor loop ends), and nothing here
// writes outside the used ring or the buffers a valid chain names.
// No KVM: tests and the fuzzer drive it over a plain GuestMemory.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "gmm/abi/virtio.h"
#include "gmm/addr.h"
#include "gmm/result.h"
#include "guest_memory.h"

namespace gmm::vmm::virtio {

struct QueueLayout {
    uint32_t size = 0;  // entries: a power of two, 1..VIRTQ_MAX_SIZE
    Gpa desc, avail, used;
};

enum class QueueError : uint8_t {
    BadSize,        // not a power of two in 1..VIRTQ_MAX_SIZE
    Misaligned,     // desc not 16-, avail not 2-, used not 4-byte aligned
    AreaNotInRam,   // a ring area is not entirely inside one RAM slot
    IndexJump,      // avail.idx ran more than `size` entries ahead: the ring is corrupt
};
const char* queue_error_name(QueueError);

enum class ChainError : uint8_t {
    HeadOutOfRange,  // the avail ring names a descriptor index >= size
    NextOutOfRange,  // a descriptor's next >= size
    TooLong,         // more than min(size, max_segments) descriptors: a loop or an oversized chain
    NotInRam,        // [addr, addr + len) wraps or leaves guest RAM
    ZeroLength,
    Indirect,        // VIRTQ_DESC_F_INDIRECT was not negotiated
};
const char* chain_error_name(ChainError);

struct Segment {
    Gpa gpa;
    uint32_t len_bytes;
    bool device_writes;  // VIRTQ_DESC_F_WRITE
};

// One descriptor chain: the segments that were valid, in order, and the first
// error if the walk stopped early (segments then holds the valid prefix).
struct Chain {
    uint16_t head = 0;
    std::vector<Segment> segments;
    std::optional<ChainError> error;
};

class SplitQueue {
public:
    // Checks the layout against guest RAM. max_segments bounds every chain.
    static gmm::Result<SplitQueue, QueueError> create(GuestMemory& mem, const QueueLayout& layout,
                                                      uint32_t max_segments);

    // The next head the driver made available, or nullopt when there is none.
    // IndexJump when avail.idx is more than `size` ahead (the ring is corrupt;
    // the device should stop using the queue).
    gmm::Result<std::optional<uint16_t>, QueueError> pop_avail();
    // Walks the chain at `head` (never more than the bound; see ChainError).
    Chain read_chain(uint16_t head) const;
    // Returns a chain to the driver: used[used_idx % size] = {head, len}, then
    // publishes used.idx (release).
    void push_used(uint16_t head, uint32_t written_bytes);
    // The driver's avail.flags says it wants no interrupts.
    bool interrupts_suppressed() const;
    // used.flags NO_NOTIFY: the device is draining and needs no kicks.
    void set_no_notify(bool on);
    bool has_avail() const;  // avail.idx != next to consume (acquire)

    const QueueLayout& layout() const { return layout_; }
    uint16_t next_avail() const { return next_avail_; }
    uint16_t used_idx() const { return used_idx_; }

private:
    SplitQueue(GuestMemory& mem, const QueueLayout& layout, uint32_t max_segments);
    uint16_t load_avail_idx() const;

    GuestMemory* mem_;
    QueueLayout layout_;
    uint32_t max_segments_;
    // Host pointers to the areas (valid for the VM's lifetime; checked at create).
    uint8_t* desc_;
    uint8_t* avail_;
    uint8_t* used_;
    uint16_t next_avail_ = 0;
    uint16_t used_idx_ = 0;
};

}  // namespace gmm::vmm::virtio
