#include "fs/page_cache.h"

#include "assert.h"
#include "dev/virtio_blk.h"
#include "frame_alloc.h"
#include "kernel.h"
#include "lock_classes.h"
#include "mm/guest_platform.h"
#include "percpu.h"
#include "sched/sched.h"
#include "sync.h"
#include "x86_64/apic.h"
#include "x86_64/cpu.h"

namespace gmm::kernel {

namespace {

struct FileObject {
    mm::BackingObject base;  // first: guestmm hands us &base
    uint32_t index;
    uint64_t disk_offset_bytes;
    uint64_t size_bytes;
    uint32_t refs;          // extents and sleeping faults holding it (atomic)
    bool may_be_dirty;      // mapped MAP_SHARED at least once (see the header)
};

enum class PageState : uint32_t { Loading, UpToDate, Error };

struct CachedPage {
    FileObject* file;
    uint64_t page_index;
    uint64_t frame_gpa;
    PageState state;       // atomic
    CachedPage* next;      // bucket chain (published with release; never unlinked)
    CachedPage* frame_next;  // chain of the frame index (writeback finds a page by its frame)
    Thread* waiters;       // threads waiting for the read, under the bucket lock
};

constexpr uint32_t kBuckets = 256;
constexpr uint32_t kFrameBuckets = 4096;
constexpr uint32_t kMaxCachedPages = 32768;  // 128 MiB of file data
constexpr uint32_t kWritebackBatch = 16;     // writes in flight at once
constexpr uint32_t kRingFullRetryCount = 50'000;  // LAPIC counts (ns) before retrying a full ring

struct alignas(64) Bucket {
    mm::TicketLock lock{lock_class(KernelLockClass::PageCache)};
    CachedPage* head = nullptr;
};

FileObject g_files[GMM_DISK_MAX_FILES];
uint32_t g_file_count;
constinit Bucket g_buckets[kBuckets];
CachedPage g_pages[kMaxCachedPages];
uint32_t g_pages_used;  // atomic; entries are never freed
CachedPage* g_by_frame[kFrameBuckets];  // lock-free push at the head; never unlinked
bool g_any_may_be_dirty;

// Frames whose dirty PTEs this CPU's unmaps removed, waiting for writeback.
constexpr uint32_t kDirtyQueue = 2048;
struct alignas(64) DirtyQueue {
    uint32_t count;
    bool overflowed;  // some were not queued: the next writeback scans every cached page
    uint64_t frames[kDirtyQueue];
};
DirtyQueue g_dirty[GMM_MAX_VCPUS];

struct alignas(64) CpuStats {
    PageCacheStats s;
};
CpuStats g_stats[GMM_MAX_VCPUS];
PageCacheStats& stats() { return g_stats[this_cpu().cpu_index].s; }

FileObject* as_file(mm::BackingObject* o) { return reinterpret_cast<FileObject*>(o); }

Bucket& bucket_of(const FileObject* f, uint64_t page) {
    return g_buckets[(f->index * 0x9e3779b1u + uint32_t(page) * 0x85ebca6bu + uint32_t(page >> 32)) % kBuckets];
}

uint32_t frame_bucket(uint64_t frame_gpa) { return uint32_t(frame_gpa >> 12) % kFrameBuckets; }

void index_by_frame(CachedPage* p) {
    CachedPage** head = &g_by_frame[frame_bucket(p->frame_gpa)];
    CachedPage* h = __atomic_load_n(head, __ATOMIC_RELAXED);
    do p->frame_next = h;
    while (!mm::rmw_compare_exchange(head, &h, p, false, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
}

CachedPage* find(Bucket& b, const FileObject* f, uint64_t page) {
    for (CachedPage* p = __atomic_load_n(&b.head, __ATOMIC_ACQUIRE); p; p = __atomic_load_n(&p->next, __ATOMIC_ACQUIRE))
        if (p->file == f && p->page_index == page) return p;
    return nullptr;
}

// guestmm's side: under a PTL, never sleeps. Lock-free: entries are immutable
// once UpToDate and chains only grow at the head.
bool file_lookup(mm::BackingObject* o, uint64_t page, uint64_t* phys) {
    FileObject* f = as_file(o);
    PageCacheStats& st = stats();
    ++st.lookups;
    const CachedPage* p = find(bucket_of(f, page), f, page);
    if (!p || __atomic_load_n(&p->state, __ATOMIC_ACQUIRE) != PageState::UpToDate) return false;
    ++st.hits;
    *phys = p->frame_gpa;
    return true;
}
void file_get(mm::BackingObject* o) { mm::rmw_add_fetch(&as_file(o)->refs, 1u, __ATOMIC_RELAXED); }
void file_put(mm::BackingObject* o) {
    const uint32_t left = mm::rmw_sub_fetch(&as_file(o)->refs, 1u, __ATOMIC_RELAXED);
    GMM_ASSERT(left != ~0u && "file object reference underflow");
}
constexpr mm::BackingOps kFileOps = {file_lookup, file_get, file_put};

// One block request whose completion wakes the thread waiting for it.
struct IoWait {
    Thread* thread;
    blk::BlkStatus status;
    uint32_t done;      // status is valid
    uint32_t finished;  // the interrupt handler no longer touches this object
};

void io_done(void* ctx, blk::BlkStatus status) {
    IoWait* w = static_cast<IoWait*>(ctx);
    Thread* t = w->thread;
    w->status = status;
    store_release(w->done, 1u);
    sched_wake(t);
    store_release(w->finished, 1u);
}

bool io_submit(blk::BlkOp op, uint64_t offset, uint64_t frame, IoWait& w) {
    w = IoWait{sched_current(), blk::BlkStatus::IoError, 0, 0};
    for (;;) {
        const auto r = blk::submit(op, offset, Gpa(frame), kPageSize, io_done, &w);
        if (r.ok()) return true;
        if (r.error() != blk::SubmitError::NoSpace) return false;
        // The ring is full. Completions may interrupt another CPU, so wake
        // by the LAPIC timer rather than wait for one (rare: the ring is large).
        x86::apic::timer_start_oneshot(x86::Vector::Timer, kRingFullRetryCount);
        x86::sti_hlt_cli();
    }
}

// Blocks the thread (other threads of the vCPU run) until the request completed.
blk::BlkStatus io_wait(IoWait& w) {
    for (;;) {
        sched_prepare_block();
        if (load_acquire(w.done)) {
            sched_cancel_block();
            break;
        }
        sched_block();
    }
    // The handler may still be between its two stores on another CPU (a few instructions).
    while (!load_acquire(w.finished)) asm volatile("pause");
    return w.status;
}

}  // namespace

void page_cache_init() {
    g_file_count = blk::present() ? blk::file_count() : 0;
    for (uint32_t i = 0; i < g_file_count; ++i) {
        const blk::FileInfo* fi = blk::file(i);
        FileObject& f = g_files[i];
        f.base = mm::BackingObject{&kFileOps, fi->size_bytes / kPageSize};
        f.index = i;
        f.disk_offset_bytes = fi->offset_bytes;
        f.size_bytes = fi->size_bytes;
    }
}

uint32_t file_count() { return g_file_count; }

mm::BackingObject* file_object(uint32_t index) { return index < g_file_count ? &g_files[index].base : nullptr; }

int32_t file_find(const char* name, uint64_t len) { return g_file_count ? blk::find_file(name, len) : -1; }

uint64_t file_size_bytes(uint32_t index) { return index < g_file_count ? g_files[index].size_bytes : 0; }

void file_note_shared_writable(mm::BackingObject* object) {
    store_release(as_file(object)->may_be_dirty, true);
    store_release(g_any_may_be_dirty, true);
}

PageIo page_cache_read(mm::BackingObject* object, uint64_t page) {
    FileObject* f = as_file(object);
    Bucket& b = bucket_of(f, page);
    Thread* self = sched_current();
    for (;;) {
        b.lock.lock(guest_platform());
        CachedPage* p = find(b, f, page);
        if (p) {
            const PageState st = p->state;
            if (st != PageState::Loading) {
                b.lock.unlock(guest_platform());
                return st == PageState::UpToDate ? PageIo::Ok : PageIo::IoError;
            }
            // Someone else's read is in flight: wait for it, then look again.
            self->io_wait_next = p->waiters;
            p->waiters = self;
            sched_prepare_block();
            b.lock.unlock(guest_platform());
            ++stats().read_waits;
            sched_block();
            continue;
        }
        const uint32_t slot = mm::rmw_fetch_add(&g_pages_used, 1u, __ATOMIC_RELAXED);
        Gpa frame;
        if (slot >= kMaxCachedPages || !frame_try_alloc_zeroed(frame)) {
            b.lock.unlock(guest_platform());
            return PageIo::NoMemory;
        }
        p = &g_pages[slot];
        *p = CachedPage{f, page, frame.value(), PageState::Loading, b.head, nullptr, nullptr};
        index_by_frame(p);
        __atomic_store_n(&b.head, p, __ATOMIC_RELEASE);
        b.lock.unlock(guest_platform());

        ++stats().reads;
        IoWait w;
        const bool queued = io_submit(blk::BlkOp::Read, f->disk_offset_bytes + page * kPageSize, frame.value(), w);
        const bool ok = queued && io_wait(w) == blk::BlkStatus::Ok;
        if (!ok) ++stats().read_errors;

        b.lock.lock(guest_platform());
        __atomic_store_n(&p->state, ok ? PageState::UpToDate : PageState::Error, __ATOMIC_RELEASE);
        Thread* waiters = p->waiters;
        p->waiters = nullptr;
        b.lock.unlock(guest_platform());
        while (waiters) {
            Thread* n = waiters->io_wait_next;
            sched_wake(waiters);
            waiters = n;
        }
        return ok ? PageIo::Ok : PageIo::IoError;
    }
}

void page_cache_frame_dirtied(uint64_t frame_gpa) {
    frame_mark_dirty(Gpa(frame_gpa));
    DirtyQueue& q = g_dirty[this_cpu().cpu_index];
    if (q.count < kDirtyQueue) q.frames[q.count++] = frame_gpa;
    else q.overflowed = true;
}

namespace {

// Writes up to kWritebackBatch pages at a time.
class WritebackBatch {
public:
    void write(const CachedPage& p) {
        if (!io_submit(blk::BlkOp::Write, p.file->disk_offset_bytes + p.page_index * kPageSize, p.frame_gpa,
                       waits_[in_flight_])) {
            frame_mark_dirty(Gpa(p.frame_gpa));  // keep it due
            ok_ = false;
            return;
        }
        frames_[in_flight_] = p.frame_gpa;
        ++stats().pages_written;
        if (++in_flight_ == kWritebackBatch) drain();
    }
    bool finish() {
        drain();
        return ok_;
    }

private:
    void drain() {
        for (uint32_t i = 0; i < in_flight_; ++i)
            if (io_wait(waits_[i]) != blk::BlkStatus::Ok) {
                frame_mark_dirty(Gpa(frames_[i]));
                ok_ = false;
            }
        in_flight_ = 0;
    }
    IoWait waits_[kWritebackBatch];
    uint64_t frames_[kWritebackBatch];
    uint32_t in_flight_ = 0;
    bool ok_ = true;
};

// The cached page of a frame (frames in the dirty queue are page-cache frames).
const CachedPage* page_of_frame(uint64_t frame_gpa) {
    for (CachedPage* p = __atomic_load_n(&g_by_frame[frame_bucket(frame_gpa)], __ATOMIC_ACQUIRE); p;
         p = p->frame_next)
        if (p->frame_gpa == frame_gpa) return p;
    return nullptr;
}

}  // namespace

bool page_cache_writeback(Writeback what) {
    if (!load_acquire(g_any_may_be_dirty) || !blk::present()) return true;
    ++stats().writebacks;
    WritebackBatch batch;
    DirtyQueue& q = g_dirty[this_cpu().cpu_index];
    const bool scan_all = what == Writeback::Everything || q.overflowed;
    if (!scan_all) {
        // Taken as a whole first: the writes below may block, and another
        // thread of this CPU may queue more meanwhile.
        uint64_t frames[64];
        while (q.count) {
            uint32_t n = 0;
            while (q.count && n < 64) frames[n++] = q.frames[--q.count];
            for (uint32_t i = 0; i < n; ++i) {
                const CachedPage* p = page_of_frame(frames[i]);
                if (p && frame_take_dirty(Gpa(frames[i]))) batch.write(*p);
            }
        }
        return batch.finish();
    }
    q.count = 0;
    q.overflowed = false;
    const uint32_t used = load_acquire(g_pages_used);
    for (uint32_t i = 0; i < used && i < kMaxCachedPages; ++i) {
        const CachedPage& p = g_pages[i];
        if (__atomic_load_n(&p.state, __ATOMIC_ACQUIRE) != PageState::UpToDate) continue;
        const bool dirtied = frame_take_dirty(Gpa(p.frame_gpa));
        if (dirtied || (what == Writeback::Everything && load_acquire(p.file->may_be_dirty))) batch.write(p);
    }
    bool ok = batch.finish();
    if (what == Writeback::Everything && ok) {
        IoWait w;
        ok = io_submit(blk::BlkOp::Flush, 0, 0, w) && io_wait(w) == blk::BlkStatus::Ok;
    }
    return ok;
}

PageCacheStats page_cache_stats() {
    PageCacheStats t{};
    for (uint32_t c = 0; c < g_kernel.cpu_count; ++c) {
        const PageCacheStats& s = g_stats[c].s;
        t.lookups += s.lookups;
        t.hits += s.hits;
        t.reads += s.reads;
        t.read_waits += s.read_waits;
        t.read_errors += s.read_errors;
        t.writebacks += s.writebacks;
        t.pages_written += s.pages_written;
    }
    return t;
}

}  // namespace gmm::kernel
