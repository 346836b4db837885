/* gmm guest<->host ABI: the guest kernel's physical frame metadata array.
 * One 8-byte record per 4 KiB frame of low RAM, indexed by GPA / 4096, placed
 * by the kernel at a page-aligned GPA it reports as the RESULT
 * "frames_meta_gpa" (with "frames_meta_count"). An all-zero record means
 * "free and zero" (never written RAM reads as zero), so the array needs no
 * initialisation pass in (emulated) ring 0; the VMM or a checker may read it
 * at any time (fields are updated with plain stores, so a live read is a
 * snapshot). Versioned: any layout change bumps GMM_FRAMES_ABI_VERSION. */
#ifndef GMM_ABI_FRAMES_H
#define GMM_ABI_FRAMES_H

#include <stdint.h>

#define GMM_FRAMES_ABI_VERSION 2u
#define GMM_FRAME_BYTES 4096u

/* gmm_frame_meta.state */
enum gmm_frame_state {
    GMM_FRAME_FREE_ZERO = 0,  /* free; contents read as zero (fresh or hole-punched) */
    GMM_FRAME_RESERVED = 1,   /* boot structures, kernel/user image, the array itself */
    GMM_FRAME_ALLOCATED = 2,  /* handed out by the allocator (refcount >= 1) */
    GMM_FRAME_FREE_DIRTY = 3, /* freed; waiting for the VMM to zero it (hole punch) */
};

/* gmm_frame_meta.flags */
#define GMM_FRAME_F_PAGE_TABLE 0x1u /* a hardware page-table page of the user address space */
#define GMM_FRAME_F_MM_META 0x2u    /* memory-manager metadata (descriptor slabs, child arrays) */
#define GMM_FRAME_F_DIRTY 0x4u      /* a page-cache frame a shared mapping wrote: due for writeback */

struct gmm_frame_meta {
    uint8_t state;      /* enum gmm_frame_state */
    uint8_t flags;      /* GMM_FRAME_F_* */
    uint16_t mapcount;  /* user PTEs (present or PROT_NONE-parked) referencing the frame */
    uint16_t refcount;  /* 1 while allocated, 0 when free */
    uint16_t alloc_seq; /* bumped by every allocation (wraps): "free the whole time"
                           between two looks = same state and same alloc_seq */
};

#ifdef __cplusplus
static_assert(sizeof(struct gmm_frame_meta) == 8, "gmm_frame_meta ABI size");
#else
_Static_assert(sizeof(struct gmm_frame_meta) == 8, "gmm_frame_meta ABI size");
#endif

#endif
