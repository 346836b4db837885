/* gmm guest<->host ABI: the lock-statistics block (docs/lockstat.md).
 * The guest kernel keeps per-CPU, per-lock-class counters in its own memory
 * and publishes the guest-physical address of this block's header at boot as
 * the RESULT "lockstat_gpa". The host reads it at any time without stopping
 * the guest (values are plain monotonic u64 stores by the owning CPU, so a
 * live read is a per-field snapshot).
 *
 * Self-describing, in the shape of KVM's binary stats: a header, then tables
 * of descriptors (name, type, unit, offset) and a data area:
 *
 *   header (at the published GPA)
 *   class descriptors        at header + class_desc_offset, class_count of them
 *   lock-counter descriptors at header + lock_counter_desc_offset
 *   CPU-counter descriptors  at header + cpu_counter_desc_offset
 *   data                     at header + data_offset: cpu_count slots of
 *                            cpu_stride_bytes, each:
 *       [0, cpu_record_bytes)            per-CPU counters (CPU-counter descriptors)
 *       then 2 * class_count lock records of lock_record_bytes each: the
 *       record of (class c, side s) is at cpu_record_bytes +
 *       (2 * c + s) * lock_record_bytes, side 0 = write/exclusive,
 *       side 1 = read (only meaningful for classes with GMM_LOCKSTAT_CLASS_RW).
 *
 * Records and slots may be longer than what the descriptors cover (the
 * guest keeps private bookkeeping there; the slots are members of its per-CPU
 * areas): readers read only the described values.
 *
 * Counter offsets are relative to their record. Readers must find counters by
 * name, validate every offset and size against the block, and treat a bad
 * magic, version or descriptor table as corrupt data. Any layout change bumps
 * GMM_LOCKSTAT_VERSION. */
#ifndef GMM_ABI_LOCKSTAT_H
#define GMM_ABI_LOCKSTAT_H

#include <stdint.h>

/* "GMMLOCKS" little-endian. */
#define GMM_LOCKSTAT_MAGIC 0x534b434f4c4d4d47ull
#define GMM_LOCKSTAT_VERSION 1u

/* gmm_lockstat_header.flags */
#define GMM_LOCKSTAT_F_ENABLED 0x1u /* counting is on (boot parameter lockstat=on) */

/* gmm_lockstat_desc.flags: type in bits 0-3, unit in bits 4-7. */
#define GMM_LOCKSTAT_TYPE_MASK 0x0fu
#define GMM_LOCKSTAT_TYPE_CUMULATIVE 0x0u /* monotonic; tools take deltas */
#define GMM_LOCKSTAT_TYPE_MIN 0x1u        /* smallest sample since boot; 0 or ~0 = no sample yet */
#define GMM_LOCKSTAT_TYPE_MAX 0x2u        /* largest sample since boot */
#define GMM_LOCKSTAT_UNIT_MASK 0xf0u
#define GMM_LOCKSTAT_UNIT_NONE 0x00u      /* a count of events */
#define GMM_LOCKSTAT_UNIT_CYCLES 0x10u    /* TSC cycles; ns = cycles * 1e6 / tsc_khz */

/* gmm_lockstat_class_desc.flags */
#define GMM_LOCKSTAT_CLASS_RW 0x1u /* reader-writer lock: side 1 counts the read side */

#define GMM_LOCKSTAT_NAME_BYTES 40u
#define GMM_LOCKSTAT_CLASS_NAME_BYTES 24u

struct gmm_lockstat_header {
    uint64_t magic;                    /* GMM_LOCKSTAT_MAGIC */
    uint32_t version;                  /* GMM_LOCKSTAT_VERSION */
    uint32_t flags;                    /* GMM_LOCKSTAT_F_* */
    uint32_t header_bytes;             /* sizeof(struct gmm_lockstat_header) */
    uint32_t cpu_count;                /* CPUs with a data slot */
    uint64_t tsc_khz;                  /* TSC frequency (KVM_GET_TSC_KHZ via boot info) */
    uint32_t class_count;
    uint32_t class_desc_offset;        /* bytes from the header */
    uint32_t lock_counter_count;       /* counters per (class, side) record */
    uint32_t lock_counter_desc_offset; /* bytes from the header */
    uint32_t cpu_counter_count;        /* counters per CPU */
    uint32_t cpu_counter_desc_offset;  /* bytes from the header */
    uint32_t cpu_record_bytes;         /* per-CPU counters at the start of each CPU slot */
    uint32_t lock_record_bytes;        /* stride of the (class, side) records */
    uint64_t data_offset;              /* bytes from the header to CPU 0's slot */
    uint32_t cpu_stride_bytes;         /* CPU i's slot is at data_offset + i * cpu_stride_bytes */
    uint32_t reserved;
};

struct gmm_lockstat_class_desc {
    uint32_t flags;                            /* GMM_LOCKSTAT_CLASS_* */
    uint32_t reserved;
    char name[GMM_LOCKSTAT_CLASS_NAME_BYTES];  /* NUL-terminated, [a-z0-9_] */
};

struct gmm_lockstat_desc {
    uint32_t flags;                       /* GMM_LOCKSTAT_TYPE_* | GMM_LOCKSTAT_UNIT_* */
    uint32_t offset_bytes;                /* of the u64 value within its record */
    char name[GMM_LOCKSTAT_NAME_BYTES];   /* NUL-terminated, [a-z0-9_] */
};

/* The records the guest kernel writes (GMM_LOCKSTAT_VERSION 1). The host does
 * not rely on these layouts: it follows the descriptors. */
struct gmm_lockstat_lock_record {
    uint64_t acquisitions;       /* lock taken */
    uint64_t contentions;        /* had to wait */
    uint64_t con_bounces;        /* contended, and the last acquirer was another CPU */
    uint64_t acq_bounces;        /* acquired, and the last acquirer was another CPU */
    uint64_t waittime_min_cycles, waittime_max_cycles, waittime_total_cycles;  /* contended waits only */
    uint64_t holdtime_min_cycles, holdtime_max_cycles, holdtime_total_cycles;  /* acquired -> released */
};

struct gmm_lockstat_cpu_record {
    uint64_t faults;                  /* user page faults handled */
    uint64_t fault_atomic_rmw;        /* atomic read-modify-write instructions while handling them */
    uint64_t fault_contentions;       /* lock contentions while handling them (any class) */
    uint64_t fault_retries;           /* faults the handler ran again (Retry; later: NeedsIo after I/O) */
    uint64_t revalidation_failures;   /* a sleeping fault found its mapping changed (Retry) */
    uint64_t tlb_shootdown_ipis_sent;
    uint64_t tlb_shootdown_ipis_received; /* shootdown interrupts taken (several senders may share one) */
    uint64_t lock_contentions;        /* every class, every code path */
    uint64_t untimed_nested;          /* acquisitions inside a held lock of the same class and side (hold not timed) */
};

#ifdef __cplusplus
static_assert(sizeof(struct gmm_lockstat_header) == 80, "gmm_lockstat_header ABI size");
static_assert(sizeof(struct gmm_lockstat_class_desc) == 32, "gmm_lockstat_class_desc ABI size");
static_assert(sizeof(struct gmm_lockstat_desc) == 48, "gmm_lockstat_desc ABI size");
static_assert(sizeof(struct gmm_lockstat_lock_record) == 80, "gmm_lockstat_lock_record ABI size");
static_assert(sizeof(struct gmm_lockstat_cpu_record) == 72, "gmm_lockstat_cpu_record ABI size");
#else
_Static_assert(sizeof(struct gmm_lockstat_header) == 80, "gmm_lockstat_header ABI size");
_Static_assert(sizeof(struct gmm_lockstat_class_desc) == 32, "gmm_lockstat_class_desc ABI size");
_Static_assert(sizeof(struct gmm_lockstat_desc) == 48, "gmm_lockstat_desc ABI size");
_Static_assert(sizeof(struct gmm_lockstat_lock_record) == 80, "gmm_lockstat_lock_record ABI size");
_Static_assert(sizeof(struct gmm_lockstat_cpu_record) == 72, "gmm_lockstat_cpu_record ABI size");
#endif

#endif
