// Fuzzing the virtio-blk queue parser and request execution
// (vmm/virtio/virtqueue.h, blk_request.h): an input is a guest's queue —
//   byte 0: log2 of the queue size (mod 9: 1..256 entries)
//   byte 1: max segments per chain (1..64)
//   then the descriptor table (16 bytes per entry), the avail ring (idx, ring)
//   and up to 8 KiB of buffer contents, all copied into a 2 MiB guest RAM at
//   fixed GPAs; descriptor addresses are taken as they are (anything).
// The harness serves every available entry (at most 2 * size) against a
// 64 KiB memfd image and checks: every status is OK, IOERR or UNSUPP; used.idx
// counts exactly the completions; no request reads or writes outside the
// image (its size is unchanged) and the device never writes guest RAM outside
// the used ring and the buffers named by device-writable descriptors (a
// shadow copy of RAM is compared).
#pragma once

#include <cstddef>
#include <cstdint>

namespace gmm::vmm::virtio::fuzz {

// Runs one input; aborts (with a message) when a property breaks.
void run_input(const uint8_t* data, size_t size);

}  // namespace gmm::vmm::virtio::fuzz
