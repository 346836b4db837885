// Files of the disk and their page cache: one backing object (guestmm's
// BackingObject) per file of the disk's table (dev/virtio_blk.h), and a cache
// of 4 KiB pages keyed by (file, page) with per-bucket locks of class
// `page_cache`. Cached pages stay for the run (no eviction: the guest has far
// more RAM than the disk's default files).
//
// The sleeping half of a file fault lives here: guestmm's lookup() never
// sleeps (it reports a missing page), and page_cache_read() — called with no
// memory-manager lock held — starts the read, blocks the calling thread until
// the completion interrupt wakes it (other threads of the vCPU run meanwhile),
// and lets concurrent faulters of the same page wait for the same read.
//
// Writeback: a shared mapping's PTE carries the Dirty bit (set when it is
// installed writable); when munmap or mprotect(PROT_NONE) removes such a PTE,
// guestmm reports the frame (Platform::frame_dirtied) and this CPU queues it,
// and the munmap writes the queued pages before it returns. msync and the end
// of the run are conservative: every cached page of a file ever mapped
// MAP_SHARED is written (live PTEs may be dirty; the kernel does not
// write-protect pages to learn of later writes). Nothing written through a
// shared mapping can be lost; some unchanged pages are written again.
#pragma once

#include <stdint.h>

#include "guestmm/backing.h"

namespace gmm::kernel {

// Builds one backing object per file of the disk (no-op without a disk).
void page_cache_init();
uint32_t file_count();
// The backing object of file `index`, or null.
mm::BackingObject* file_object(uint32_t index);
// Index of the file with that name, or -1.
int32_t file_find(const char* name, uint64_t len);
uint64_t file_size_bytes(uint32_t index);
// A MAP_SHARED, PROT_WRITE mapping of the file was made: its pages may get dirty.
void file_note_shared_writable(mm::BackingObject* object);

enum class PageIo : uint8_t { Ok, IoError, NoMemory };
// Makes page `page_index` of `object` resident (sleeping for the read if
// needed). Thread context, no locks held.
PageIo page_cache_read(mm::BackingObject* object, uint64_t page_index);

enum class Writeback : uint8_t {
    Unmapped,    // the pages this CPU's unmaps found dirty (munmap)
    Everything,  // plus every page of a file ever mapped shared, then a device flush (msync, exit)
};
// Writes pages back, waiting for the writes (thread context). False on an I/O error.
bool page_cache_writeback(Writeback what);
// A frame whose dirty PTE was removed on this CPU (under a PTL: just queues it).
void page_cache_frame_dirtied(uint64_t frame_gpa);

struct PageCacheStats {
    uint64_t lookups, hits, reads, read_waits, read_errors, writebacks, pages_written;
};
PageCacheStats page_cache_stats();

}  // namespace gmm::kernel
