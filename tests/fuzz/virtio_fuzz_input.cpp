#include "virtio_fuzz_input.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "guest_memory.h"
#include "virtio/blk_request.h"
#include "virtio/virtqueue.h"

namespace gmm::vmm::virtio::fuzz {

namespace {

constexpr uint64_t kRam = 2ull << 20;
constexpr uint64_t kDesc = 0x1000, kAvail = 0x3000, kUsed = 0x4000, kBuffers = 0x10000;
constexpr uint64_t kImageBytes = 64 * 1024;

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "virtio fuzz: property broken: %s\n", what);
    std::abort();
}

struct World {
    GuestMemory mem = std::move(*GuestMemory::create(kRam));
    int image = memfd_create("virtio-fuzz-image", MFD_CLOEXEC);
    World() {
        if (image < 0 || ftruncate(image, kImageBytes) != 0) fail("memfd set-up");
    }
};

World& world() {
    static World w;  // one RAM and image for all inputs: reset per input
    return w;
}

}  // namespace

void run_input(const uint8_t* data, size_t size) {
    World& w = world();
    uint8_t* ram = w.mem.translate(Gpa(0), kRam);
    std::memset(ram, 0, kRam);
    if (ftruncate(w.image, 0) != 0 || ftruncate(w.image, kImageBytes) != 0) fail("image reset");
    if (size < 2) return;
    const uint32_t qsize = 1u << (data[0] % 9);
    const uint32_t max_segments = 1 + data[1] % GMM_VIRTIO_BLK_SEG_MAX;
    size_t pos = 2;
    auto take = [&](uint64_t gpa, size_t n) {
        const size_t k = std::min(n, size - pos);
        std::memcpy(ram + gpa, data + pos, k);
        pos += k;
    };
    take(kDesc, 16ull * qsize);
    take(kAvail, 4 + 2ull * qsize);
    take(kBuffers, 8192);

    auto q = SplitQueue::create(w.mem, QueueLayout{qsize, Gpa(kDesc), Gpa(kAvail), Gpa(kUsed)}, max_segments);
    if (!q) fail("a valid layout was refused");
    BlkBackend disk;
    disk.fd = w.image;
    disk.capacity_bytes = kImageBytes;

    std::vector<uint8_t> shadow(ram, ram + kRam);
    uint32_t completions = 0;
    for (uint32_t n = 0; n < 2 * qsize; ++n) {
        auto head = q->pop_avail();
        if (!head) break;  // IndexJump: the device stops using the queue
        if (!*head) break;
        const Chain c = q->read_chain(**head);
        if (c.segments.size() > max_segments || c.segments.size() > qsize) fail("chain longer than its bound");
        const BlkOutcome r = process_blk_request(w.mem, c, disk);
        if (r.status != VIRTIO_BLK_S_OK && r.status != VIRTIO_BLK_S_IOERR && r.status != VIRTIO_BLK_S_UNSUPP)
            fail("status outside OK/IOERR/UNSUPP");
        if (c.error && r.status == VIRTIO_BLK_S_OK) fail("a broken chain completed OK");
        // Only device-writable buffers of this chain may have changed in RAM (plus the used ring below).
        for (const Segment& s : c.segments)
            if (s.device_writes) std::memcpy(shadow.data() + s.gpa.value(), ram + s.gpa.value(), s.len_bytes);
        if (!(c.error && *c.error == ChainError::HeadOutOfRange)) {
            q->push_used(c.head, r.written_bytes);
            ++completions;
        }
        std::memcpy(shadow.data() + kUsed, ram + kUsed, virtq_used_bytes(qsize));
        if (std::memcmp(shadow.data(), ram, kRam) != 0) fail("the device wrote guest RAM it was not given");
        struct stat st {};
        if (fstat(w.image, &st) != 0 || uint64_t(st.st_size) != kImageBytes) fail("the image changed size");
    }
    uint16_t used_idx;
    std::memcpy(&used_idx, ram + kUsed + 2, 2);
    if (used_idx != uint16_t(completions)) fail("used.idx does not count the completions");
}

}  // namespace gmm::vmm::virtio::fuzz
