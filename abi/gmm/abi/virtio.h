/* gmm guest<->host ABI: the parts of the virtio 1.x specification (OASIS
 * virtio v1.2) that gmm's virtio-blk device and guest driver share: the
 * virtio-mmio (version 2) register layout, status and feature bits, the split
 * virtqueue structures and the block request format. Names follow the spec.
 * gmm-specific additions are marked GMM_. See docs/virtio-blk.md. */
#ifndef GMM_ABI_VIRTIO_H
#define GMM_ABI_VIRTIO_H

#include <stdint.h>

/* virtio-mmio registers (offsets from the device's base; 32-bit accesses). */
#define VIRTIO_MMIO_MAGIC_VALUE 0x000         /* R: 0x74726976 "virt" */
#define VIRTIO_MMIO_VERSION 0x004             /* R: 2 (modern) */
#define VIRTIO_MMIO_DEVICE_ID 0x008           /* R: 2 = block */
#define VIRTIO_MMIO_VENDOR_ID 0x00c           /* R */
#define VIRTIO_MMIO_DEVICE_FEATURES 0x010     /* R: 32 bits selected by ..._SEL */
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014 /* W */
#define VIRTIO_MMIO_DRIVER_FEATURES 0x020     /* W */
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024 /* W */
#define VIRTIO_MMIO_QUEUE_SEL 0x030           /* W */
#define VIRTIO_MMIO_QUEUE_NUM_MAX 0x034       /* R */
#define VIRTIO_MMIO_QUEUE_NUM 0x038           /* W */
#define VIRTIO_MMIO_QUEUE_READY 0x044         /* RW */
#define VIRTIO_MMIO_QUEUE_NOTIFY 0x050        /* W: queue index */
#define VIRTIO_MMIO_INTERRUPT_STATUS 0x060    /* R */
#define VIRTIO_MMIO_INTERRUPT_ACK 0x064       /* W */
#define VIRTIO_MMIO_STATUS 0x070              /* RW; 0 = reset */
#define VIRTIO_MMIO_QUEUE_DESC_LOW 0x080      /* W */
#define VIRTIO_MMIO_QUEUE_DESC_HIGH 0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW 0x090    /* avail ring */
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH 0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW 0x0a0    /* used ring */
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH 0x0a4
#define VIRTIO_MMIO_CONFIG_GENERATION 0x0fc   /* R */
#define VIRTIO_MMIO_CONFIG 0x100              /* device-specific configuration */
#define VIRTIO_MMIO_REGION_BYTES 0x200

#define VIRTIO_MMIO_MAGIC 0x74726976u
#define VIRTIO_ID_BLOCK 2u
#define GMM_VIRTIO_VENDOR_ID 0x00676d6du /* "gmm" */

#define VIRTIO_MMIO_INT_VRING 0x1u  /* used buffer notification */
#define VIRTIO_MMIO_INT_CONFIG 0x2u /* configuration change */

/* Device status bits. */
#define VIRTIO_STATUS_ACKNOWLEDGE 1u
#define VIRTIO_STATUS_DRIVER 2u
#define VIRTIO_STATUS_DRIVER_OK 4u
#define VIRTIO_STATUS_FEATURES_OK 8u
#define VIRTIO_STATUS_DEVICE_NEEDS_RESET 64u
#define VIRTIO_STATUS_FAILED 128u

/* Feature bits (bit numbers). */
#define VIRTIO_BLK_F_SIZE_MAX 1
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_F_VERSION_1 32

/* Split virtqueue (spec 2.7). */
#define VIRTQ_DESC_F_NEXT 1u
#define VIRTQ_DESC_F_WRITE 2u
#define VIRTQ_DESC_F_INDIRECT 4u
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1u
#define VIRTQ_USED_F_NO_NOTIFY 1u
#define VIRTQ_MAX_SIZE 32768u

struct virtq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};
struct virtq_avail_hdr { /* followed by uint16_t ring[size] */
    uint16_t flags;
    uint16_t idx;
};
struct virtq_used_elem {
    uint32_t id;
    uint32_t len;
};
struct virtq_used_hdr { /* followed by struct virtq_used_elem ring[size] */
    uint16_t flags;
    uint16_t idx;
};

/* Bytes of each area for a queue of `size` entries (no event-index fields). */
static inline uint64_t virtq_desc_bytes(uint32_t size) { return 16ull * size; }
static inline uint64_t virtq_avail_bytes(uint32_t size) { return 4ull + 2ull * size; }
static inline uint64_t virtq_used_bytes(uint32_t size) { return 4ull + 8ull * size; }

/* virtio-blk requests (spec 5.2.6): header (device-readable), data, status byte
 * (device-writable, the last byte of the chain). */
#define VIRTIO_BLK_T_IN 0u     /* read */
#define VIRTIO_BLK_T_OUT 1u    /* write */
#define VIRTIO_BLK_T_FLUSH 4u
#define VIRTIO_BLK_T_GET_ID 8u
#define VIRTIO_BLK_ID_BYTES 20u
#define VIRTIO_BLK_S_OK 0u
#define VIRTIO_BLK_S_IOERR 1u
#define VIRTIO_BLK_S_UNSUPP 2u
#define VIRTIO_BLK_SECTOR_BYTES 512u

struct virtio_blk_req_hdr {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
};

/* Device configuration (the fields gmm offers; at VIRTIO_MMIO_CONFIG). */
struct virtio_blk_config {
    uint64_t capacity; /* in 512-byte sectors */
    uint32_t size_max; /* VIRTIO_BLK_F_SIZE_MAX */
    uint32_t seg_max;  /* VIRTIO_BLK_F_SEG_MAX */
    uint8_t geometry[4];
    uint32_t blk_size; /* VIRTIO_BLK_F_BLK_SIZE */
};

/* gmm: the interrupt vector of the block device's MSI (the guest IDT's
 * Vector::Block) and where its registers live in the MMIO window. */
#define GMM_VIRTIO_BLK_VECTOR 0x34u
#define GMM_VIRTIO_BLK_MMIO_GPA 0xd0000000ull

/* gmm: the queue size the device offers (QueueNumMax). */
#define GMM_VIRTIO_QUEUE_NUM_MAX 256u
/* gmm: a chain longer than this is rejected (header + data + status in practice). */
#define GMM_VIRTIO_BLK_SEG_MAX 64u
#define GMM_VIRTIO_BLK_SIZE_MAX (1u << 20)

#ifdef __cplusplus
static_assert(sizeof(struct virtq_desc) == 16, "virtq_desc");
static_assert(sizeof(struct virtq_used_elem) == 8, "virtq_used_elem");
static_assert(sizeof(struct virtio_blk_req_hdr) == 16, "virtio_blk_req_hdr");
static_assert(__builtin_offsetof(struct virtio_blk_config, blk_size) == 20, "virtio_blk_config layout");
#else
_Static_assert(sizeof(struct virtq_desc) == 16, "virtq_desc");
_Static_assert(sizeof(struct virtq_used_elem) == 8, "virtq_used_elem");
_Static_assert(sizeof(struct virtio_blk_req_hdr) == 16, "virtio_blk_req_hdr");
_Static_assert(__builtin_offsetof(struct virtio_blk_config, blk_size) == 20, "virtio_blk_config layout");
#endif

#endif
