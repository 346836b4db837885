// `blkcheck`: the virtio-blk driver end to end (docs/virtio-blk.md).
//  1. every CPU reads `pages` pages (first, last, evenly spread) of the files
//     f with f % cpus == cpu, concurrently, and checks each page's 32-byte
//     signature and two pattern words (a full-page compare would cost ~2,500
//     emulated instructions per page);
//  2. CPU 0: writes a modified copy of one page (the last page of the last
//     file), reads it back and compares, then writes the original back
//     (keep_write=1 leaves the modification, for host-side checks);
//  3. CPU 0: `reads` synchronous 4 KiB reads, timed with the TSC (median,
//     min, max: the ioeventfd -> I/O thread -> irqfd round trip as the guest
//     sees it, including the emulated driver path), then a burst of `burst`
//     asynchronous reads in flight at once (their total time shows whether
//     the device overlaps their latency);
//  4. optional delay_ms before step 1 (a host test truncates the image meanwhile).
// Results: blk_present, blk_files, blk_pages_ok, blk_pages_bad, blk_pages_ioerr,
// blk_write_ok, blk_rt_median_ns, blk_rt_min_ns, blk_rt_max_ns, blk_burst_ns,
// blk_io_errors, blk_interrupts. DONE 0 when no data mismatched and (unless
// allow_errors=1) no request failed.
#include "assert.h"
#include "console.h"
#include "dev/virtio_blk.h"
#include "frame_alloc.h"
#include "kernel.h"
#include "percpu.h"
#include "sync.h"
#include "ucall.h"
#include "workload.h"
#include "x86_64/apic.h"
#include "x86_64/cpu.h"

namespace gmm::kernel {

namespace {

constexpr const char* kKeys[] = {"pages", "reads", "burst", "keep_write", "allow_errors", "delay_ms"};
constexpr uint32_t kMaxSamples = 256;
constexpr uint32_t kMaxBurst = 32;

struct Params {
    uint64_t pages, reads, burst, keep_write, allow_errors, delay_ms;
} g_p;

struct PerCpuCounts {
    uint64_t ok, bad, ioerr;
} g_counts[GMM_MAX_VCPUS];

uint64_t tsc_to_ns(uint64_t cycles) { return g_kernel.tsc_hz ? cycles * 1000 / (g_kernel.tsc_hz / 1000000) : 0; }

void prepare(const BootArgs& args) {
    g_p.pages = args.u64_or("pages", 4);
    g_p.reads = args.u64_or("reads", 32);
    g_p.burst = args.u64_or("burst", 16);
    g_p.keep_write = args.u64_or("keep_write", 0);
    g_p.allow_errors = args.u64_or("allow_errors", 0);
    g_p.delay_ms = args.u64_or("delay_ms", 0);
    GMM_ASSERT(g_p.pages >= 1 && g_p.reads >= 1 && g_p.reads <= kMaxSamples && g_p.burst >= 1 && g_p.burst <= kMaxBurst);
    GMM_ASSERT(g_p.delay_ms <= 4000);
}

// Signature + words 4 and 511 of page p of file f.
bool page_matches(const uint64_t* w, uint32_t f, uint64_t p) {
    return gmm_disk_sig_matches(reinterpret_cast<const gmm_disk_page_sig*>(w), f, p) &&
           w[4] == gmm_disk_pattern_word(f, p, 4) && w[511] == gmm_disk_pattern_word(f, p, 511);
}

void check_page(Gpa buf, uint32_t f, uint64_t p, PerCpuCounts& c) {
    const blk::FileInfo* fi = blk::file(f);
    const blk::BlkStatus s = blk::transfer_sync(blk::BlkOp::Read, fi->offset_bytes + p * kPageSize, buf, kPageSize);
    if (s != blk::BlkStatus::Ok) ++c.ioerr;
    else if (page_matches(direct_map<const uint64_t>(buf), f, p)) ++c.ok;
    else ++c.bad;
}

void sleep_ms(uint64_t ms) {
    PerCpu& me = this_cpu();
    me.timer_ticks = 0;
    me.timer_target_ticks = 1;
    x86::apic::timer_start_oneshot(x86::Vector::Timer, uint32_t(ms * 1000000));
    wait_until([&me] { return me.timer_ticks >= 1; });
}

// Write a modified page, read it back, compare; restore unless keep_write.
bool write_test(Gpa orig, Gpa scratch) {
    const uint32_t f = blk::file_count() - 1;
    const blk::FileInfo* fi = blk::file(f);
    const uint64_t p = fi->size_bytes / kPageSize - 1;
    const uint64_t off = fi->offset_bytes + p * kPageSize;
    if (blk::transfer_sync(blk::BlkOp::Read, off, orig, kPageSize) != blk::BlkStatus::Ok) return false;
    uint64_t* o = direct_map<uint64_t>(orig);
    // The modification: the first 8 words inverted (still cheap in ring 0).
    for (uint32_t i = 0; i < 8; ++i) o[i] = ~o[i];
    if (blk::transfer_sync(blk::BlkOp::Write, off, orig, kPageSize) != blk::BlkStatus::Ok) return false;
    if (blk::transfer_sync(blk::BlkOp::Read, off, scratch, kPageSize) != blk::BlkStatus::Ok) return false;
    const uint64_t* s = direct_map<const uint64_t>(scratch);
    bool same = true;
    for (uint32_t i : {0u, 1u, 7u, 8u, 511u}) same &= s[i] == o[i];
    if (!same) return false;
    if (!g_p.keep_write) {
        for (uint32_t i = 0; i < 8; ++i) o[i] = ~o[i];
        if (blk::transfer_sync(blk::BlkOp::Write, off, orig, kPageSize) != blk::BlkStatus::Ok) return false;
        if (blk::transfer_sync(blk::BlkOp::Read, off, scratch, kPageSize) != blk::BlkStatus::Ok) return false;
        if (!page_matches(direct_map<const uint64_t>(scratch), f, p)) return false;
    }
    return blk::transfer_sync(blk::BlkOp::Flush, 0, Gpa(0), 0) == blk::BlkStatus::Ok;
}

struct Burst {
    volatile uint32_t done;
    volatile uint32_t errors;
};
void burst_done(void* ctx, blk::BlkStatus s) {
    auto* b = static_cast<Burst*>(ctx);
    if (s != blk::BlkStatus::Ok) b->errors = b->errors + 1;
    b->done = b->done + 1;  // CPU 0 only (the MSI's target): no atomic needed
}

void timing(Gpa buf) {
    static uint64_t samples[kMaxSamples];
    const uint64_t off = blk::file(0)->offset_bytes;
    for (uint32_t i = 0; i < g_p.reads; ++i) {
        const uint64_t t0 = x86::rdtsc();
        const blk::BlkStatus s = blk::transfer_sync(blk::BlkOp::Read, off, buf, kPageSize);
        samples[i] = x86::rdtsc() - t0;
        if (s != blk::BlkStatus::Ok) ++g_counts[0].ioerr;
    }
    for (uint32_t i = 1; i < g_p.reads; ++i)  // insertion sort: a few hundred instructions
        for (uint32_t j = i; j > 0 && samples[j - 1] > samples[j]; --j) {
            const uint64_t t = samples[j];
            samples[j] = samples[j - 1];
            samples[j - 1] = t;
        }
    ucall_result("blk_rt_median_ns", tsc_to_ns(samples[g_p.reads / 2]));
    ucall_result("blk_rt_min_ns", tsc_to_ns(samples[0]));
    ucall_result("blk_rt_max_ns", tsc_to_ns(samples[g_p.reads - 1]));

    // Burst: every request in flight at once, each into its own frame.
    static Gpa frames[kMaxBurst];
    for (uint32_t i = 0; i < g_p.burst; ++i)
        if (frames[i].value() == 0) frames[i] = frame_alloc_zeroed();
    Burst b{0, 0};
    const uint64_t t0 = x86::rdtsc();
    uint32_t queued = 0;
    while (queued < g_p.burst) {
        auto r = blk::submit(blk::BlkOp::Read, off + queued * kPageSize, frames[queued], kPageSize, burst_done, &b);
        if (r) ++queued;
        else x86::sti_hlt_cli();  // ring full: a completion frees a slot
    }
    wait_until([&b] { return b.done >= g_p.burst; });
    ucall_result("blk_burst_ns", tsc_to_ns(x86::rdtsc() - t0));
    g_counts[0].ioerr += b.errors;
    for (uint32_t i = 0; i < g_p.burst; ++i)
        if (!b.errors && !page_matches(direct_map<const uint64_t>(frames[i]), 0, i)) ++g_counts[0].bad;
}

void run(uint32_t cpu) {
    const bool have = blk::present();
    if (cpu == 0) ucall_result("blk_present", have ? 1 : 0);
    if (!have) {
        signal_finished_to_cpu0(cpu);
        if (cpu == 0) {
            wait_all_finished();
            ucall_done(1);  // blkcheck needs a disk
        }
        return;
    }
    if (cpu == 0 && g_p.delay_ms) {
        console_puts("blkcheck: waiting\n");
        sleep_ms(g_p.delay_ms);
    }
    PerCpuCounts& c = g_counts[cpu];
    const Gpa buf = frame_alloc_zeroed();
    for (uint32_t f = cpu; f < blk::file_count(); f += g_kernel.cpu_count) {
        const uint64_t pages = blk::file(f)->size_bytes / kPageSize;
        const uint64_t n = g_p.pages < pages ? g_p.pages : pages;
        for (uint64_t i = 0; i < n; ++i) check_page(buf, f, n == 1 ? 0 : i * (pages - 1) / (n - 1), c);
    }
    ucall_result("blk_pages_checked", c.ok + c.bad + c.ioerr);
    signal_finished_to_cpu0(cpu);
    if (cpu != 0) return;
    wait_all_finished();

    const bool write_ok = blk::file_count() > 0 && write_test(buf, frame_alloc_zeroed());
    if (blk::file_count() > 0) timing(buf);
    PerCpuCounts total{0, 0, 0};
    for (uint32_t i = 0; i < g_kernel.cpu_count; ++i) {
        total.ok += g_counts[i].ok;
        total.bad += g_counts[i].bad;
        total.ioerr += g_counts[i].ioerr;
    }
    const blk::Stats st = blk::stats();
    ucall_result("blk_files", blk::file_count());
    ucall_result("blk_capacity_bytes", blk::capacity_bytes());
    ucall_result("blk_pages_ok", total.ok);
    ucall_result("blk_pages_bad", total.bad);
    ucall_result("blk_pages_ioerr", total.ioerr);
    ucall_result("blk_write_ok", write_ok ? 1 : 0);
    ucall_result("blk_submitted", st.submitted);
    ucall_result("blk_completed", st.completed);
    ucall_result("blk_io_errors", st.io_errors);
    ucall_result("blk_interrupts", st.interrupts);
    ucall_result("blk_ring_full", st.ring_full);
    const bool failed = total.bad != 0 || (!g_p.allow_errors && (st.io_errors != 0 || !write_ok));
    ucall_done(failed ? 1 : 0);
}

}  // namespace

const Workload kBlkCheckWorkload = {"blkcheck", kKeys, sizeof kKeys / sizeof kKeys[0], prepare, run};

}  // namespace gmm::kernel
