// One virtio-blk request: a descriptor chain from the queue parser turned into
// pread/pwrite/fdatasync on the disk image, with the status byte written back.
// Any framing is accepted (VIRTIO_F_VERSION_1 implies ANY_LAYOUT): the header
// is the first 16 device-readable bytes, the status the last device-writable
// byte. Everything the guest controls is checked; bad requests get
// VIRTIO_BLK_S_IOERR (or UNSUPP for an unknown type) and a reason for the log.
// No KVM, no threads: unit tests and the fuzzer call it directly.
#pragma once

#include <cstdint>
#include <string>

#include "guest_memory.h"
#include "virtqueue.h"

namespace gmm::vmm::virtio {

struct BlkBackend {
    int fd = -1;                  // the image, open read-write
    uint64_t capacity_bytes = 0;  // multiple of 512
    char id[VIRTIO_BLK_ID_BYTES] = {};  // GET_ID answer (NUL-padded)
};

struct BlkOutcome {
    uint8_t status = VIRTIO_BLK_S_IOERR;
    bool status_written = false;  // false: the chain had no writable byte in RAM for it
    uint32_t written_bytes = 0;   // used.len: bytes the device wrote into the chain
    uint32_t type = 0;            // header type, when there was a header
    uint64_t data_bytes = 0;      // payload moved (read or written)
    std::string problem;          // why the request was malformed or failed; empty when OK
};

BlkOutcome process_blk_request(GuestMemory& mem, const Chain& chain, const BlkBackend& disk);

}  // namespace gmm::vmm::virtio
