/* gmm guest<->host ABI: where the guest's memory-manager state lives and how
 * it is laid out, for the host-side invariant checker (docs/checker.md).
 *
 * The guest kernel fills one struct gmm_mm_roots when it builds the user
 * address space and publishes its GPA as the RESULT "mm_roots_gpa". Pointers
 * inside guestmm structures are guest-virtual: either in the direct map
 * (GMM_DIRECT_MAP_GVA + GPA) or in the kernel image window
 * (GMM_KERNEL_IMAGE_GVA + GPA, first 1 GiB). The structs below mirror
 * guestmm's own types byte for byte; guestmm static_asserts every offset
 * (guestmm/abi_layout.cpp), so a layout change that forgets this header does
 * not compile. The host trusts none of it: every pointer, index, count and
 * list is bounds-checked and cycle-checked by the decoder.
 *
 * The safepoint block (struct gmm_safepoint) is the one place the host writes:
 * request_seq and release_seq. Everything else is written by the guest. */
#ifndef GMM_ABI_MMSTATE_H
#define GMM_ABI_MMSTATE_H

#include <stdint.h>

#define GMM_MMSTATE_ABI_VERSION 1u
/* "GMMROOTS" little-endian. */
#define GMM_MM_ROOTS_MAGIC 0x53544f4f524d4d47ull

enum gmm_mm_policy { GMM_MM_POLICY_GLOBAL = 0, GMM_MM_POLICY_EXTENTS = 1 };
enum gmm_mm_placement { GMM_MM_PLACEMENT_LEAF = 0, GMM_MM_PLACEMENT_HIER = 1 };
enum gmm_mm_freecache { GMM_MM_FREECACHE_NONE = 0, GMM_MM_FREECACHE_PERCPU = 1 };

/* guestmm TicketLock: word = next ticket (high 16) | now serving (low 16);
 * held while the halves differ. last_cpu = CPU that acquired it last (0xff: never). */
struct gmm_ticket_lock {
    uint32_t word;
    uint32_t waiters;
    uint8_t lock_class;
    uint8_t last_cpu;
    uint8_t reserved[2];
};

/* guestmm RwLock: held for write while the gate is held, for read while readers != 0. */
struct gmm_rw_lock {
    struct gmm_ticket_lock gate;
    uint32_t readers;
    uint32_t writer_waiting;
    uint8_t lock_class;
    uint8_t reserved[3];
};

/* guestmm PtDesc: one per page-table page (128-byte slab slots). */
struct gmm_ptdesc {
    struct gmm_ticket_lock ptl;
    uint8_t level;          /* 1 (PT) .. 4 (PML4) */
    uint8_t reserved;
    uint16_t used;          /* non-zero entries in table */
    uint64_t base;          /* first address of the window */
    uint64_t table_phys;    /* GPA of the hardware page */
    uint64_t table;         /* GVA of the same page */
    uint64_t children;      /* GVA of 512 child descriptor pointers (levels >= 2), or 0 */
    uint64_t children_phys;
    uint64_t extents;       /* GVA of the first struct gmm_extent, or 0 */
    uint64_t generation;
};

/* guestmm Extent (extents policy): sorted, non-overlapping list per descriptor. */
struct gmm_extent {
    uint64_t next;        /* GVA or 0 */
    uint64_t start;
    uint64_t end;         /* exclusive */
    uint64_t object;      /* GVA of the backing object, 0 = anonymous */
    uint64_t page_index;  /* object page at start */
    uint64_t generation;  /* never 0, never reused */
    uint32_t prot;        /* PROT_READ 1 | PROT_WRITE 2 | PROT_EXEC 4 */
    uint8_t shared;
    uint8_t reserved[3];
};

/* guestmm Vma (global policy): treap node. */
struct gmm_vma {
    uint64_t left;
    uint64_t right;
    uint64_t start;
    uint64_t end;
    uint64_t max_len;
    uint32_t prio;
    uint32_t prot;
    uint8_t shared;
    uint8_t reserved[7];
    uint64_t object;
    uint64_t page_index;
    uint64_t generation;
};

/* guestmm FreeSpace::Node: treap of free ranges. */
struct gmm_free_node {
    uint64_t left;
    uint64_t right;
    uint64_t start;
    uint64_t end;
    uint64_t max_len;
    uint32_t prio;
    uint32_t reserved;
};

/* One CPU's cached free chunk [cur, end) (freecache=percpu); chunk_stride_bytes apart. */
struct gmm_free_chunk {
    struct gmm_ticket_lock lock;
    uint32_t reserved;
    uint64_t cur;
    uint64_t end;
};

/* Safepoint handshake (docs/checker.md). The host bumps request_seq and kicks
 * every vCPU; each parks at its next safe point (returning to user mode, or an
 * idle/blocking wait, never inside a memory-manager operation), writes
 * parked_seq[cpu] = request_seq and waits in HLT until release_seq catches up.
 * in_mm_op[cpu] is non-zero while that CPU is inside a memory-manager
 * operation (fault, mmap, munmap, mprotect, address-space set-up); the async
 * checker uses it to skip state that is legitimately mid-update.
 * checks_done counts completed checks (the host bumps it after each). */
/* Interrupt vectors the host sends (KVM_SIGNAL_MSI, fixed delivery). */
#define GMM_SAFEPOINT_VECTOR 0x33u /* "park at your next safe point" */
#define GMM_WAKEUP_VECTOR 0x31u    /* "look at shared state again" (release) */

struct gmm_safepoint {
    uint32_t request_seq;   /* host writes */
    uint32_t release_seq;   /* host writes */
    uint32_t checks_done;   /* host writes */
    uint32_t reserved;
    uint32_t parked_seq[64];
    uint32_t in_mm_op[64];
};

struct gmm_mm_roots {
    uint64_t magic;          /* GMM_MM_ROOTS_MAGIC */
    uint32_t version;        /* GMM_MMSTATE_ABI_VERSION */
    uint32_t size_bytes;     /* sizeof(struct gmm_mm_roots) */
    uint32_t policy;         /* enum gmm_mm_policy */
    uint32_t placement;      /* enum gmm_mm_placement */
    uint32_t freecache;      /* enum gmm_mm_freecache */
    uint32_t cpu_count;      /* vCPUs of this run */
    uint64_t user_start;     /* the managed user range [user_start, user_end) */
    uint64_t user_end;
    uint64_t root_desc_gva;  /* struct gmm_ptdesc of the PML4 */
    uint64_t mm_lock_gva;    /* struct gmm_rw_lock (global policy) */
    uint64_t vma_root_slot_gva;   /* u64 holding the VMA treap root (global policy) */
    uint64_t free_root_slot_gva;  /* u64 holding the free-range treap root */
    uint64_t free_lock_gva;       /* struct gmm_ticket_lock */
    uint64_t busy_lock_gva;       /* struct gmm_ticket_lock */
    uint64_t busy_count_gva;      /* u32: writer ranges in flight */
    uint64_t chunks_gva;          /* first struct gmm_free_chunk */
    uint32_t chunk_stride_bytes;
    uint32_t chunk_count;
    uint64_t slab_lock_gva[2];    /* pool locks of guestmm's two slabs */
    uint64_t frame_pool_lock_gva; /* struct gmm_ticket_lock: the kernel's shared frame pool */
    uint64_t frames_meta_gpa;     /* struct gmm_frame_meta array (frames.h) */
    uint64_t frames_meta_count;
    uint64_t frames_managed_gpa;  /* frames below this are boot/kernel/image frames, reserved for
                                     good (their records stay all-zero: never initialised) */
    uint64_t safepoint_gpa;       /* struct gmm_safepoint */
    uint64_t inject;              /* enum gmm_inject planted by this boot (test only), 0 = none */
};

/* Test-only planted bugs (boot parameter inject=NAME), one per invariant class. */
enum gmm_inject {
    GMM_INJECT_NONE = 0,
    GMM_INJECT_PTE_AFTER_UNMAP = 1,   /* I1 */
    GMM_INJECT_PTE_TOO_PERMISSIVE = 2, /* I1 */
    GMM_INJECT_OVERLAPPING_EXTENTS = 3, /* I2 */
    GMM_INJECT_EXTENT_OUTSIDE_WINDOW = 4, /* I2 */
    GMM_INJECT_LEAKED_FREE_RANGE = 5, /* I3 */
    GMM_INJECT_WRONG_MAPCOUNT = 6,    /* I4 */
    GMM_INJECT_FREED_FRAME_MAPPED = 7, /* I4 */
    GMM_INJECT_LOCK_HELD = 8,         /* I8 */
    GMM_INJECT_WRITE_TO_FREE_FRAME = 9, /* I7 */
    GMM_INJECT_COUNT = 10,
};

#ifdef __cplusplus
#define GMM_MMSTATE_ASSERT(c, m) static_assert(c, m)
#else
#define GMM_MMSTATE_ASSERT(c, m) _Static_assert(c, m)
#endif
GMM_MMSTATE_ASSERT(sizeof(struct gmm_ticket_lock) == 12, "gmm_ticket_lock ABI size");
GMM_MMSTATE_ASSERT(sizeof(struct gmm_rw_lock) == 24, "gmm_rw_lock ABI size");
GMM_MMSTATE_ASSERT(sizeof(struct gmm_ptdesc) == 72, "gmm_ptdesc ABI size");
GMM_MMSTATE_ASSERT(sizeof(struct gmm_extent) == 56, "gmm_extent ABI size");
GMM_MMSTATE_ASSERT(sizeof(struct gmm_vma) == 80, "gmm_vma ABI size");
GMM_MMSTATE_ASSERT(sizeof(struct gmm_free_node) == 48, "gmm_free_node ABI size");
GMM_MMSTATE_ASSERT(sizeof(struct gmm_free_chunk) == 32, "gmm_free_chunk ABI size");
GMM_MMSTATE_ASSERT(sizeof(struct gmm_safepoint) == 16 + 8 * 64, "gmm_safepoint ABI size");
GMM_MMSTATE_ASSERT(sizeof(struct gmm_mm_roots) == 184, "gmm_mm_roots ABI size");
#undef GMM_MMSTATE_ASSERT

#endif
