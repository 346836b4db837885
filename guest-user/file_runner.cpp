#include "file_runner.h"

#include "gmm/abi/disk.h"
#include "gmm/abi/ucall.h"
#include "mm_runner.h"
#include "mm_sync.h"
#include "syscall.h"

extern "C" {
uint64_t gmm_file_read_sig(const void* page, void* out);
extern const char gmm_file_read_sig_end[], gmm_file_read_sig_landing[];
}

namespace gmm::user {

namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kRw = GMM_PROT_READ | GMM_PROT_WRITE;
// io_race's region: far from everything the runner maps by hint.
constexpr uint64_t kRaceRegionGva = 0x300000000000ull;

// will-it-scale page_fault2/3: map the file, write one byte per page, unmap.
uint64_t fault_file_iteration(uint64_t fd, uint64_t size, uint64_t flags, uint64_t& errors) {
    const int64_t a = sys_mmap_file(0, size, kRw, flags, fd, 0);
    if (a < 0) {
        ++errors;
        return 0;
    }
    sys_mark(GMM_MARK_FAULTS, 0);
    // Past the signature, so the page stays recognisable on the disk.
    for (uint64_t off = 0; off < size; off += kPage) *reinterpret_cast<volatile char*>(a + off + 64) = 1;
    sys_mark(GMM_MARK_FAULTS, 1);
    if (sys_munmap(uint64_t(a), size) != 0) ++errors;
    return size / kPage;
}

// will-it-scale mmap2: map and unmap a private file mapping without touching it.
uint64_t mmap_file_iteration(uint64_t fd, uint64_t size, uint64_t& errors) {
    const int64_t a = sys_mmap_file(0, size, kRw, GMM_MAP_PRIVATE, fd, 0);
    if (a < 0 || sys_munmap(uint64_t(a), size) != 0) ++errors;
    return 1;
}

// io_race shared state. g_race_seq is a sequence count around every re-map:
// odd while thread 0 is re-mapping, 2k once re-map k is complete (its TLB
// shootdown done). A read that starts and ends at the same even value saw
// mapping k and nothing else, so it must be exactly placement(k)'s page; a
// read across a re-map may legitimately mix two files' bytes and is not judged.
uint64_t g_race_seq;
uint64_t g_race_round;  // the remap in force (atomic; for messages)
uint32_t g_race_stop;
uint64_t g_wrong_pages, g_raced_reads;

struct RacePlacement {
    uint64_t fd, first_page;
};

// Remap k maps file k % files at a region-aligned offset that moves on every
// lap through the files, so each remap faults cold pages (reads from the disk).
RacePlacement placement(uint64_t k, uint64_t files, uint64_t region_pages, uint64_t file_pages) {
    const uint64_t laps = file_pages / region_pages;
    return {k % files, ((k / files) % laps) * region_pages};
}

// Console line for the first few wrong pages: what was expected, what was read.
uint32_t g_wrong_reported;
void report_wrong(const char* who, uint64_t round, uint64_t position, const gmm_disk_page_sig& sig, int64_t want_fd,
                  uint64_t want_page) {
    if (__atomic_fetch_add(&g_wrong_reported, 1u, __ATOMIC_RELAXED) >= 4) return;
    char line[160];
    uint64_t n = 0;
    auto put = [&](const char* t) { while (*t && n < sizeof line - 1) line[n++] = *t++; };
    auto num = [&](uint64_t v) {
        char d[24];
        int k = 0;
        do d[k++] = char('0' + v % 10);
        while ((v /= 10) && k < 24);
        while (k && n < sizeof line - 1) line[n++] = d[--k];
    };
    put("io_race: wrong page (");
    put(who);
    put(") round ");
    num(round);
    put(" position ");
    num(position);
    put(": read file ");
    num(sig.file_index);
    put(" page ");
    num(sig.page_index);
    if (want_fd >= 0) {
        put(", expected file ");
        num(uint64_t(want_fd));
        put(" page ");
        num(want_page);
    }
    put("\n");
    sys_console_write(line, n);
}

// 0: ok; 1: wrong content; 2: transient SEGV.
int check_page(const char* who, uint64_t va, int64_t want_fd, uint64_t want_page, uint64_t position,
               uint64_t region_pages) {
    gmm_disk_page_sig sig;
    if (const uint64_t reason = gmm_file_read_sig(reinterpret_cast<const void*>(va), &sig); reason != 0) {
        if (want_fd >= 0) {  // the remapper's own, stable mapping must never SEGV
            sig = gmm_disk_page_sig{reason, 0, 0, 0, 0};
            report_wrong("remapper SEGV, reason in file", __atomic_load_n(&g_race_round, __ATOMIC_RELAXED), position, sig,
                         want_fd, want_page);
            return 1;
        }
        return 2;
    }
    const bool well_formed = sig.magic == GMM_DISK_SIG_MAGIC && sig.reserved == 0 &&
                             sig.checksum == gmm_disk_sig_checksum(sig.file_index, sig.page_index);
    if (!well_formed || sig.page_index % region_pages != position ||
        (want_fd >= 0 && (sig.file_index != uint64_t(want_fd) || sig.page_index != want_page))) {
        report_wrong(who, __atomic_load_n(&g_race_round, __ATOMIC_RELAXED), position, sig, want_fd, want_page);
        return 1;
    }
    return 0;
}

uint64_t race_remapper(const MmParams& p, uint64_t& errors) {
    const uint64_t region_pages = p.size_bytes / kPage;
    const uint64_t file_pages = uint64_t(sys_file_size(0)) / kPage;
    uint64_t wrong = 0, ops = 0;
    for (uint64_t k = 1; k <= p.iterations; ++k) {
        const RacePlacement pl = placement(k, p.file_count, region_pages, file_pages);
        __atomic_store_n(&g_race_seq, 2 * k - 1, __ATOMIC_RELEASE);
        const int64_t a = sys_mmap_file(kRaceRegionGva, p.size_bytes, GMM_PROT_READ, GMM_MAP_PRIVATE | GMM_MAP_FIXED,
                                        pl.fd, pl.first_page * kPage);
        __atomic_store_n(&g_race_round, k, __ATOMIC_RELEASE);
        __atomic_store_n(&g_race_seq, 2 * k, __ATOMIC_RELEASE);
        if (a != int64_t(kRaceRegionGva)) {
            ++errors;
            break;
        }
        ++ops;
        // Every page must now be this file's: a faulter that slept across the
        // remap must not have installed the previous file's page.
        for (uint64_t i = 0; i < region_pages; ++i)
            if (check_page("remapper", kRaceRegionGva + i * kPage, int64_t(pl.fd), pl.first_page + i, i, region_pages) == 1)
                ++wrong;
    }
    __atomic_store_n(&g_race_stop, 1u, __ATOMIC_RELEASE);
    __atomic_add_fetch(&g_wrong_pages, wrong, __ATOMIC_RELAXED);
    return ops;
}

uint64_t race_faulter(const MmParams& p) {
    const uint64_t region_pages = p.size_bytes / kPage;
    const uint64_t file_pages = uint64_t(sys_file_size(0)) / kPage;
    uint64_t reads = 0, wrong = 0, transient = 0;
    while (!__atomic_load_n(&g_race_stop, __ATOMIC_ACQUIRE)) {
        for (uint64_t i = 0; i < region_pages; ++i) {
            const uint64_t before = __atomic_load_n(&g_race_seq, __ATOMIC_ACQUIRE);
            gmm_disk_page_sig sig;
            const uint64_t segv = gmm_file_read_sig(reinterpret_cast<const void*>(kRaceRegionGva + i * kPage), &sig);
            const uint64_t after = __atomic_load_n(&g_race_seq, __ATOMIC_ACQUIRE);
            ++reads;
            if ((before & 1) || before != after) {  // a re-map ran during the read: not judged
                ++transient;
                continue;
            }
            const RacePlacement pl = placement(before / 2, p.file_count, region_pages, file_pages);
            if (segv != 0 || !gmm_disk_sig_matches(&sig, uint32_t(pl.fd), pl.first_page + i)) {
                if (segv != 0) sig = gmm_disk_page_sig{segv, 0, 0, 0, 0};
                report_wrong(segv ? "faulter SEGV, reason in file" : "faulter", before / 2, i, sig, int64_t(pl.fd),
                             pl.first_page + i);
                ++wrong;
            }
        }
    }
    __atomic_add_fetch(&g_wrong_pages, wrong, __ATOMIC_RELAXED);
    __atomic_add_fetch(&g_raced_reads, transient, __ATOMIC_RELAXED);
    return reads;
}

bool setup_recovery() {
    return syscall5(GMM_SYS_SEGV_RECOVER, reinterpret_cast<uint64_t>(&gmm_file_read_sig),
                    reinterpret_cast<uint64_t>(gmm_file_read_sig_end),
                    reinterpret_cast<uint64_t>(gmm_file_read_sig_landing), 0, 0) == 0;
}

Barrier g_race_ready;

}  // namespace

uint64_t file_workload_run(const MmParams& p, uint64_t index, uint64_t& errors) {
    if (p.file_count == 0) {
        ++errors;
        return 0;
    }
    const uint64_t fd = index % p.file_count;
    uint64_t ops = 0;
    switch (p.kind) {
    case MmKind::PageFault2:
    case MmKind::PageFault3: {
        const uint64_t flags = p.kind == MmKind::PageFault2 ? GMM_MAP_PRIVATE : GMM_MAP_SHARED;
        for (uint64_t i = 0; i < p.iterations; ++i) ops += fault_file_iteration(fd, p.size_bytes, flags, errors);
        return ops;
    }
    case MmKind::Mmap2:
        for (uint64_t i = 0; i < p.iterations; ++i) ops += mmap_file_iteration(fd, p.size_bytes, errors);
        return ops;
    case MmKind::IoRace: {
        if (!setup_recovery()) ++errors;
        if (index == 0) {  // the first mapping exists before any faulter reads
            const int64_t a = sys_mmap_file(kRaceRegionGva, p.size_bytes, GMM_PROT_READ,
                                            GMM_MAP_PRIVATE | GMM_MAP_FIXED, 0, 0);
            if (a != int64_t(kRaceRegionGva)) ++errors;
        }
        barrier_wait(g_race_ready, uint32_t(p.threads));
        if (index != 0) return race_faulter(p);
        return race_remapper(p, errors);
    }
    default:
        ++errors;
        return 0;
    }
}

void file_workload_finish(const MmParams& p, uint64_t& errors) {
    if (p.kind != MmKind::IoRace) return;
    const uint64_t wrong = __atomic_load_n(&g_wrong_pages, __ATOMIC_ACQUIRE);
    sys_report(ReportKey::WrongPages, wrong);
    sys_report(ReportKey::RacedReads, __atomic_load_n(&g_raced_reads, __ATOMIC_ACQUIRE));
    errors += wrong;
}

// mmtest iowait: two threads on one vCPU. The worker's fault on a cold file
// page sleeps for the disk latency; if the vCPU kept running the other thread
// meanwhile, that thread's counter advanced during the fault.
namespace {
uint64_t g_spin_counter;
uint32_t g_iowait_done;
uint64_t g_iowait_page;

inline uint64_t rdtsc() {
    uint32_t lo, hi;
    asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t(hi) << 32) | lo;
}
}  // namespace

uint64_t iowait_test_main(const MmParams& p) {
    if (p.file_count == 0) return 20;
    const int64_t a = sys_mmap_file(0, kPage, GMM_PROT_READ, GMM_MAP_PRIVATE, 0, 5 * kPage);
    if (a < 0) return 21;
    g_iowait_page = uint64_t(a);
    if (start_thread(1) < 0) return 22;
    while (!__atomic_load_n(&g_iowait_done, __ATOMIC_ACQUIRE))  // ring 3: spinning here is fine
        __atomic_store_n(&g_spin_counter, g_spin_counter + 1, __ATOMIC_RELAXED);
    join_thread(1);
    return __atomic_load_n(&g_iowait_done, __ATOMIC_ACQUIRE) == 1 ? 0 : 23;
}

void iowait_test_worker(const MmParams& p) {
    const uint64_t c0 = __atomic_load_n(&g_spin_counter, __ATOMIC_RELAXED);
    const uint64_t t0 = rdtsc();
    gmm_disk_page_sig sig;
    const bool ok = gmm_file_read_sig(reinterpret_cast<const void*>(g_iowait_page), &sig) == 0 &&
                    gmm_disk_sig_matches(&sig, 0, 5);
    const uint64_t t1 = rdtsc();
    const uint64_t c1 = __atomic_load_n(&g_spin_counter, __ATOMIC_RELAXED);
    sys_report(ReportKey::IoWaitFaultNs, p.tsc_khz ? (t1 - t0) * 1000000 / p.tsc_khz : 0);
    sys_report(ReportKey::IoWaitProgress, c1 - c0);
    __atomic_store_n(&g_iowait_done, ok ? 1u : 2u, __ATOMIC_RELEASE);
    sys_exit_thread(0);
}

}  // namespace gmm::user
