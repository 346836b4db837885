/* gmm storms: the compiled per-thread operation programs (the "storm blob")
 * and the results area the guest's ring-3 runner fills in.
 *
 * The host (`gmm storm`, stormc/) evaluates a Lua script before boot and
 * encodes it in the layout below; the VMM copies the blob into reserved guest
 * RAM (gmm_boot_info.payload_*), the kernel maps it read-only at
 * GMM_STORM_BLOB_GVA and maps the zeroed results area (gmm_boot_info.results_*)
 * read-write at GMM_STORM_RESULTS_GVA. The runner (guest-user/storm_*.cpp)
 * validates every field before it runs anything (guest-user/storm_validate.cpp);
 * the host reads the results area out of guest RAM while the guest runs (the
 * stall watchdog) and after it ended. Little-endian, no pointers, every struct
 * size static_assert'ed; any layout or meaning change bumps
 * GMM_STORM_ABI_VERSION. docs/storms.md explains the semantics. */
#ifndef GMM_ABI_STORM_H
#define GMM_ABI_STORM_H

#include <stdint.h>

#include "gmm/abi/boot.h"    /* GMM_USER_TOP_GVA, GMM_MAX_VCPUS */
#include "gmm/abi/syscall.h" /* GMM_PROT_*, errno values, GMM_SEGV_* */

#define GMM_STORM_ABI_VERSION 2u /* 2: file regions (files section, region file fields, VERIFY touches) */
#define GMM_STORM_MAGIC 0x4d524f54534d4d47ull         /* "GMMSTORM" */
#define GMM_STORM_RESULTS_MAGIC 0x5345525453534d47ull /* "GMSSTRES" */

/* User virtual layout of a storm run (the runner's own areas lie below the arena). */
#define GMM_STORM_BLOB_GVA 0x30000000ull     /* 768 MiB: the blob, read-only */
#define GMM_STORM_RESULTS_GVA 0x38000000ull  /* 896 MiB: the results area, read-write */
#define GMM_STORM_ARENA_GVA 0x100000000ull   /* 4 GiB: fixed regions lie in [this, GMM_USER_TOP_GVA) */
/* The runner's stacks for pinned threads: thread i's at [STACKS + i*STRIDE + 4 KiB, +STACK_BYTES),
 * the page below it unmapped (a guard). Spawned threads' stacks are kernel-placed (hint mmap). */
#define GMM_STORM_STACKS_GVA 0x28000000ull    /* 640 MiB */
#define GMM_STORM_STACK_BYTES (64ull << 10)
#define GMM_STORM_STACK_STRIDE_BYTES (GMM_STORM_STACK_BYTES + 4096ull)

/* Limits (the compiler and the runner's validator enforce the same ones). */
#define GMM_STORM_MAX_THREADS 64u            /* any number per vCPU; the kernel's table (128) keeps room */
#define GMM_STORM_MAX_REGIONS 256u
#define GMM_STORM_MAX_BARRIERS 64u
#define GMM_STORM_MAX_FILES 64u            /* distinct disk files a storm names (GMM_DISK_MAX_FILES) */
#define GMM_STORM_MAX_OPS 65536u           /* all threads together */
#define GMM_STORM_MAX_LOOP_DEPTH 8u
#define GMM_STORM_MAX_SLEEP_US 10000000ull  /* one sleep op: 10 s */
#define GMM_STORM_MAX_BLOB_BYTES (4ull << 20)

/* Layout: header, regions[region_count], threads[thread_count],
 * barriers[barrier_count], files[file_count], ops[op_count], each directly
 * after the previous (all sizes are multiples of 8); total_bytes is the sum. */
struct gmm_storm_header {
    uint64_t magic;          /* GMM_STORM_MAGIC */
    uint32_t version;        /* GMM_STORM_ABI_VERSION */
    uint32_t header_bytes;   /* sizeof(struct gmm_storm_header) */
    uint64_t total_bytes;
    uint64_t seed;           /* informational: the --seed the programs were compiled with */
    uint32_t flags;          /* GMM_STORM_F_* */
    uint32_t vcpu_count;     /* compiled for this many vCPUs (threads' vcpu < this) */
    uint32_t region_count;
    uint32_t thread_count;
    uint32_t barrier_count;
    uint32_t op_count;
    uint32_t file_count;     /* disk files named by file regions and map ops */
    uint32_t reserved;       /* zero */
};

#define GMM_STORM_F_STOP_ON_FAILURE 0x1u /* a thread stops at its first failed operation */

/* A region: a range of user addresses the operations name by index. */
struct gmm_storm_region {
    uint64_t gva;            /* fixed base (page-aligned, in the arena); 0 with GMM_STORM_RF_HINT */
    uint64_t size_bytes;     /* nonzero multiple of 4 KiB */
    uint32_t prot;           /* GMM_PROT_* for the initial map */
    uint32_t flags;          /* GMM_STORM_RF_* */
    uint32_t line;           /* script line that declared it */
    uint32_t file;           /* GMM_STORM_RF_FILE: index into files[]; else 0 */
    uint64_t file_offset_bytes; /* GMM_STORM_RF_FILE: file offset of the region's first page (4 KiB multiple); else 0 */
};

#define GMM_STORM_RF_SHARED 0x1u    /* MAP_SHARED (else MAP_PRIVATE) */
#define GMM_STORM_RF_HINT 0x2u      /* placed by the kernel: each map op records the address it got */
#define GMM_STORM_RF_PREMAPPED 0x4u /* mapped by the runner before any thread starts */
#define GMM_STORM_RF_FILE 0x8u      /* a mapping of a disk file (no MAP_ANONYMOUS); see map ops' a and b */
#define GMM_STORM_RF_KNOWN 0xfu

/* A disk file, opened by the runner before any thread starts: by name
 * (FILE_OPEN) or, when name[0] == 0, by its index in the disk's file table. */
struct gmm_storm_file {
    char name[32];           /* 1..31 characters of [A-Za-z0-9_.-], NUL-padded; or all zero */
    uint32_t disk_index;     /* name[0] == 0: the file's index (< GMM_STORM_MAX_FILES); else 0 */
    uint32_t line;           /* first use in the script */
};

/* A thread: a program pinned to one vCPU. */
struct gmm_storm_thread {
    uint32_t vcpu;
    uint32_t flags;          /* GMM_STORM_TF_* */
    uint32_t first_op;       /* index into ops[] */
    uint32_t op_count;
    uint32_t line;
    uint32_t reserved[3];
};

#define GMM_STORM_TF_SPAWNED 0x1u /* started by SPAWN ops of another thread, not at the start */
#define GMM_STORM_TF_KNOWN 0x1u

struct gmm_storm_barrier {
    uint32_t parties;        /* threads that pass it (each the same number of times) */
    uint32_t line;           /* first use in the script */
};

enum gmm_storm_op_kind {
    GMM_STORM_OP_MAP = 1,      /* mmap(region base + offset, length, arg = prot, FIXED; HINT: whole region, no FIXED);
                                * file regions: file a (index into files[]) at file offset b */
    GMM_STORM_OP_UNMAP = 2,    /* munmap(base + offset, length) */
    GMM_STORM_OP_PROTECT = 3,  /* mprotect(base + offset, length, arg = prot) */
    GMM_STORM_OP_TOUCH = 4,    /* access base + offset + i*a for i < ceil(length/a); flags WRITE, RANDOM (seed b) */
    GMM_STORM_OP_BARRIER = 5,  /* target = barrier index */
    GMM_STORM_OP_LOOP = 6,     /* repeat the next arg ops (up to the matching LOOP_END) a times (a >= 1) */
    GMM_STORM_OP_LOOP_END = 7, /* arg = the same body length */
    GMM_STORM_OP_SLEEP = 8,    /* busy-wait a microseconds in ring 3 */
    GMM_STORM_OP_SPAWN = 9,    /* start thread `target` (a SPAWNED thread) on its vCPU with a fresh mmap'ed stack */
    GMM_STORM_OP_JOIN = 10,    /* wait until thread `target` ended; unmap its stack */
    GMM_STORM_OP_KIND_COUNT = 11,
};

enum gmm_storm_expect {
    GMM_STORM_EXPECT_OK = 0,   /* must succeed (touch: no SEGV) */
    GMM_STORM_EXPECT_ANY = 1,  /* success or failure (a racing storm): counted, never a failure */
    GMM_STORM_EXPECT_FAIL = 2, /* must fail: errno arg2 (0 = any errno); touch: every access must SEGV */
};

#define GMM_STORM_OPF_WRITE 0x1u  /* touch: write (else read) */
#define GMM_STORM_OPF_RANDOM 0x2u /* touch: a seeded permutation of the pages instead of ascending order */
#define GMM_STORM_OPF_VERIFY 0x4u /* read touch of a private file region: each access reads the page's
                                   * signature (abi/gmm/abi/disk.h) and checks it is the page the region's
                                   * current mapping must show (GMM_STORM_FAILURE_WRONG_PAGE if not) */
#define GMM_STORM_OPF_KNOWN 0x7u

struct gmm_storm_op {
    uint8_t kind;            /* enum gmm_storm_op_kind */
    uint8_t expect;          /* enum gmm_storm_expect */
    uint16_t flags;          /* GMM_STORM_OPF_* */
    uint32_t line;           /* script line that made the op */
    uint32_t target;         /* region, barrier or thread index */
    uint32_t arg;            /* map/protect: prot; loop/loop_end: body length in ops */
    uint32_t arg2;           /* EXPECT_FAIL: the errno expected (0 = any) */
    uint32_t reserved;
    uint64_t offset_bytes;   /* map/unmap/protect/touch: from the region base (page-aligned) */
    uint64_t length_bytes;   /* nonzero; page-aligned except for touch */
    uint64_t a;              /* touch: stride bytes; loop: count; sleep: microseconds; map of a file region: file */
    uint64_t b;              /* touch with RANDOM: permutation seed; map of a file region: file offset bytes */
};

#ifdef __cplusplus
static_assert(sizeof(struct gmm_storm_header) == 64, "gmm_storm_header ABI size");
static_assert(sizeof(struct gmm_storm_region) == 40, "gmm_storm_region ABI size");
static_assert(sizeof(struct gmm_storm_file) == 40, "gmm_storm_file ABI size");
static_assert(sizeof(struct gmm_storm_thread) == 32, "gmm_storm_thread ABI size");
static_assert(sizeof(struct gmm_storm_barrier) == 8, "gmm_storm_barrier ABI size");
static_assert(sizeof(struct gmm_storm_op) == 56, "gmm_storm_op ABI size");
static_assert(GMM_STORM_STACKS_GVA + GMM_STORM_MAX_THREADS * GMM_STORM_STACK_STRIDE_BYTES <= GMM_STORM_BLOB_GVA,
              "pinned threads' stacks below the blob");
#endif

/* ---- Results area (guest writes, host reads; plain stores, a live read is a snapshot) ---- */

enum gmm_storm_runner_state {
    GMM_STORM_RUNNER_NOT_STARTED = 0,
    GMM_STORM_RUNNER_VALIDATING = 1,
    GMM_STORM_RUNNER_SETUP = 2,      /* pre-mapping regions */
    GMM_STORM_RUNNER_RUNNING = 3,
    GMM_STORM_RUNNER_FINISHED = 4,
    GMM_STORM_RUNNER_INVALID = 5,    /* the blob failed validation: runner_error, runner_error_index */
    GMM_STORM_RUNNER_SETUP_FAILED = 6,/* a pre-map or thread start failed: runner_error = -errno, index = region/thread */
    GMM_STORM_RUNNER_FILE_FAILED = 7, /* opening a file failed: runner_error = -errno, index = file */
};

/* runner_error when INVALID (guest-user/storm_validate.h names them). */
enum gmm_storm_invalid {
    GMM_STORM_INVALID_NONE = 0,
    GMM_STORM_INVALID_SIZE = 1,      /* blob shorter than its header, or total_bytes beyond the mapping */
    GMM_STORM_INVALID_MAGIC = 2,
    GMM_STORM_INVALID_VERSION = 3,
    GMM_STORM_INVALID_LAYOUT = 4,    /* header_bytes, counts over the limits, or sections not adding up */
    GMM_STORM_INVALID_VCPUS = 5,     /* compiled for more vCPUs than the guest has */
    GMM_STORM_INVALID_REGION = 6,    /* index = region */
    GMM_STORM_INVALID_THREAD = 7,    /* index = thread */
    GMM_STORM_INVALID_BARRIER = 8,   /* index = barrier */
    GMM_STORM_INVALID_OP = 9,        /* index = op */
    GMM_STORM_INVALID_LOOP = 10,     /* index = op: unbalanced or too deep */
    GMM_STORM_INVALID_FILE = 11,     /* index = file */
    GMM_STORM_INVALID_COUNT = 12,
};

enum gmm_storm_thread_state {
    GMM_STORM_THREAD_NOT_STARTED = 0,
    GMM_STORM_THREAD_RUNNING = 1,     /* executing op_index */
    GMM_STORM_THREAD_BARRIER = 2,     /* waiting at barrier ops[op_index].target */
    GMM_STORM_THREAD_SLEEPING = 3,
    GMM_STORM_THREAD_SPAWNING = 4,    /* mapping a stack for its target and starting it */
    GMM_STORM_THREAD_JOINING = 5,
    GMM_STORM_THREAD_DONE = 6,
    GMM_STORM_THREAD_STOPPED = 7,     /* stopped at its first failure (GMM_STORM_F_STOP_ON_FAILURE) */
    GMM_STORM_THREAD_STATE_COUNT = 8,
};

enum gmm_storm_failure {
    GMM_STORM_FAILURE_NONE = 0,
    GMM_STORM_FAILURE_ERRNO = 1,       /* value = the negative result */
    GMM_STORM_FAILURE_SEGV = 2,        /* value = fault address, detail = SEGV reason (GMM_SEGV_*) */
    GMM_STORM_FAILURE_NO_SEGV = 3,     /* an access that had to fault did not; value = its address */
    GMM_STORM_FAILURE_NO_ERROR = 4,    /* an op that had to fail succeeded */
    GMM_STORM_FAILURE_WRONG_ERRNO = 5, /* it failed with another errno: value = the result */
    GMM_STORM_FAILURE_SPAWN = 6,       /* THREAD_CREATE or the stack mmap failed: value = result */
    GMM_STORM_FAILURE_WRONG_PAGE = 7,  /* a VERIFY read saw another page than the mapping's: value = address,
                                        * detail = the file index in the page's signature (~0: no signature) */
};

struct gmm_storm_thread_status {
    uint32_t state;           /* enum gmm_storm_thread_state */
    uint32_t op_index;        /* current op (global index into ops[]) */
    uint64_t progress;        /* bumped at every op, every 64 accesses and every ~1 ms of sleep */
    uint64_t runs;            /* times the program started (spawned threads: once per spawn) */
    uint64_t ops_done;
    uint64_t failures;
    uint32_t first_failure;   /* enum gmm_storm_failure */
    uint32_t first_failure_op;/* global op index */
    uint64_t first_failure_value;
    uint32_t first_failure_detail;
    uint32_t alive;           /* 1 while started and not ended: the join word (THREAD_CREATE clear_word) */
};

/* Per thread and op kind (index = enum gmm_storm_op_kind). */
struct gmm_storm_op_stats {
    uint64_t count;           /* ops executed */
    uint64_t failures;        /* ops that failed their expectation */
    uint64_t errors;          /* error results accepted by EXPECT_ANY / EXPECT_FAIL */
    uint64_t segv;            /* SEGVs caught (touch) */
    uint64_t units;           /* touch: accesses that succeeded; map/unmap/protect: bytes; spawn: threads */
    uint64_t tsc_total;       /* TSC cycles inside the op */
    uint64_t tsc_max;
    uint64_t wrong_pages;     /* touch with VERIFY: accesses that saw another file page (each also a failure) */
};

struct gmm_storm_barrier_state {
    uint32_t arrived;
    uint32_t generation;
};

struct gmm_storm_results {
    uint64_t magic;           /* GMM_STORM_RESULTS_MAGIC, written by the kernel */
    uint32_t version;         /* GMM_STORM_ABI_VERSION */
    uint32_t size_bytes;      /* sizeof(struct gmm_storm_results) */
    uint64_t blob_mapped_bytes; /* kernel: bytes mapped at GMM_STORM_BLOB_GVA (>= the blob) */
    uint64_t tsc_khz;         /* kernel */
    uint32_t runner_state;    /* enum gmm_storm_runner_state */
    int32_t runner_error;
    uint32_t runner_error_index;
    uint32_t thread_count;
    uint64_t start_tsc, end_tsc; /* the running phase */
    struct gmm_storm_thread_status threads[GMM_STORM_MAX_THREADS];
    struct gmm_storm_barrier_state barriers[GMM_STORM_MAX_BARRIERS];
    struct gmm_storm_op_stats stats[GMM_STORM_MAX_THREADS][16];
};

#ifdef __cplusplus
static_assert(sizeof(struct gmm_storm_thread_status) == 64, "gmm_storm_thread_status ABI size");
static_assert(sizeof(struct gmm_storm_op_stats) == 64, "gmm_storm_op_stats ABI size");
static_assert(GMM_STORM_OP_KIND_COUNT <= 16, "stats rows per thread");
static_assert(sizeof(struct gmm_storm_results) == 64 + 64 * 64 + 8 * 64 + 64 * 16 * 64, "gmm_storm_results ABI size");
#endif

#endif
