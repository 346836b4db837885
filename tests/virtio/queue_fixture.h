// A guest-side view for tests: a split queue laid out in a GuestMemory (no
// KVM), helpers to write descriptors and requests, and a disk image in a
// memfd whose bytes are known.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "gmm/abi/virtio.h"
#include "guest_memory.h"
#include "virtio/virtqueue.h"

namespace gmm::test {

struct QueueFixture {
    static constexpr uint64_t kRamBytes = 2ull << 20;
    static constexpr uint32_t kSize = 16;
    static constexpr uint64_t kDesc = 0x1000, kAvail = 0x2000, kUsed = 0x3000;
    static constexpr uint64_t kHdr = 0x10000, kData = 0x20000, kStatus = 0x30000;

    vmm::GuestMemory mem = std::move(*vmm::GuestMemory::create(kRamBytes));
    uint16_t avail_idx = 0;

    vmm::virtio::QueueLayout layout() const { return {kSize, Gpa(kDesc), Gpa(kAvail), Gpa(kUsed)}; }
    vmm::virtio::SplitQueue queue(uint32_t max_segments = GMM_VIRTIO_BLK_SEG_MAX) {
        return std::move(*vmm::virtio::SplitQueue::create(mem, layout(), max_segments));
    }
    void desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next = 0) {
        virtq_desc d{addr, len, flags, next};
        REQUIRE(mem.write(Gpa(kDesc + 16ull * i), {reinterpret_cast<const uint8_t*>(&d), sizeof d}).ok());
    }
    void make_avail(uint16_t head) {
        const uint16_t slot = avail_idx % kSize;
        REQUIRE(mem.write(Gpa(kAvail + 4 + 2ull * slot), {reinterpret_cast<const uint8_t*>(&head), 2}).ok());
        ++avail_idx;
        REQUIRE(mem.write(Gpa(kAvail + 2), {reinterpret_cast<const uint8_t*>(&avail_idx), 2}).ok());
    }
    void header(uint32_t type, uint64_t sector) {
        virtio_blk_req_hdr h{type, 0, sector};
        REQUIRE(mem.write(Gpa(kHdr), {reinterpret_cast<const uint8_t*>(&h), sizeof h}).ok());
    }
    // The usual three-descriptor request at 0, 1, 2.
    void request(uint32_t type, uint64_t sector, uint32_t data_len, bool device_writes_data) {
        header(type, sector);
        desc(0, kHdr, 16, VIRTQ_DESC_F_NEXT, 1);
        desc(1, kData, data_len, uint16_t(VIRTQ_DESC_F_NEXT | (device_writes_data ? VIRTQ_DESC_F_WRITE : 0)), 2);
        desc(2, kStatus, 1, VIRTQ_DESC_F_WRITE);
        set_status(0xee);
    }
    void set_status(uint8_t v) { REQUIRE(mem.write(Gpa(kStatus), {&v, 1}).ok()); }
    uint8_t status() const { return *mem.translate(Gpa(kStatus), 1); }
    uint16_t used_idx() const { return *reinterpret_cast<const uint16_t*>(mem.translate(Gpa(kUsed + 2), 2)); }
    virtq_used_elem used(uint16_t i) const {
        virtq_used_elem e;
        std::memcpy(&e, mem.translate(Gpa(kUsed + 4 + 8ull * (i % kSize)), 8), 8);
        return e;
    }
};

// A disk of `bytes` in a memfd; byte i = (i * 7 + 3) & 0xff.
struct MemfdDisk {
    int fd = -1;
    uint64_t bytes = 0;
    explicit MemfdDisk(uint64_t size) : bytes(size) {
        fd = memfd_create("test-disk", MFD_CLOEXEC);
        std::vector<uint8_t> b(size);
        for (uint64_t i = 0; i < size; ++i) b[i] = uint8_t(i * 7 + 3);
        REQUIRE(pwrite(fd, b.data(), b.size(), 0) == ssize_t(b.size()));
    }
    ~MemfdDisk() {
        if (fd >= 0) close(fd);
    }
    static uint8_t expected(uint64_t i) { return uint8_t(i * 7 + 3); }
};

}  // namespace gmm::test
