/* gmm guest<->host ABI: boot information.
 * C-compatible, compiled by the VMM (hosted C++20) and the guest kernel
 * (freestanding C++20). Every struct has a static_assert'ed size; any layout
 * change bumps GMM_ABI_VERSION. See docs/boot-protocol.md. */
#ifndef GMM_ABI_BOOT_H
#define GMM_ABI_BOOT_H

#include <stdint.h>

#define GMM_ABI_VERSION 2u /* 2: payload_* and results_* (storms, issue 8) */

/* "GMMBOOT\0" little-endian. */
#define GMM_BOOT_MAGIC 0x00544f4f424d4d47ull

/* Guest-physical addresses fixed by the boot protocol. */
#define GMM_BOOT_INFO_GPA 0x1000ull

/* Guest-virtual layout fixed by the boot protocol. */
#define GMM_DIRECT_MAP_GVA   0xffff800000000000ull /* GPA 0 appears here (all RAM) */
#define GMM_KERNEL_IMAGE_GVA 0xffffffff80000000ull /* GPA 0 appears here (first 1 GiB) */
#define GMM_USER_TOP_GVA     0x0000800000000000ull /* user range is [page 1, this) */

#define GMM_MAX_VCPUS 64u

/* Segment selectors (Linux layout). */
#define GMM_SEL_KERNEL_CS 0x10u
#define GMM_SEL_KERNEL_DS 0x18u
#define GMM_SEL_USER_DS   0x2bu
#define GMM_SEL_USER_CS   0x33u
#define GMM_SEL_TSS(cpu)  (0x40u + 16u * (uint32_t)(cpu))

/* Per-vCPU boot resources the VMM prepared (all addresses are GVAs in the
 * direct map unless the name says otherwise). */
struct gmm_boot_cpu {
    uint32_t apic_id;
    uint32_t reserved0;
    uint64_t stack_top_gva;     /* kernel stack; also TSS.RSP0 */
    uint64_t ist_stack_top_gva; /* TSS.IST1: double fault, NMI */
    uint64_t tss_gva;
};

/* Lives at GMM_BOOT_INFO_GPA; written by the VMM before boot. The kernel treats
 * it as read-only. */
struct gmm_boot_info {
    uint64_t magic;            /* GMM_BOOT_MAGIC */
    uint32_t abi_version;      /* GMM_ABI_VERSION */
    uint32_t size_bytes;       /* sizeof(struct gmm_boot_info) */
    uint32_t vcpu_count;
    uint32_t flags;            /* GMM_BOOT_F_* */
    uint64_t tsc_khz;          /* KVM_GET_TSC_KHZ */
    uint64_t ram_size_bytes;   /* total RAM, all slots */
    uint64_t fdt_gpa;
    uint64_t fdt_size_bytes;
    uint64_t kernel_pml4_gpa;  /* page tables the VMM built (CR3 at entry) */
    uint64_t kernel_image_start_gpa;
    uint64_t kernel_image_end_gpa;
    uint64_t reserved_end_gpa; /* [0, this) is used by boot structures; free RAM starts here */
    /* The user runtime image (guest-user), laid out contiguously by the VMM. */
    uint64_t user_image_gpa;
    uint64_t user_image_gva;   /* link address of its first byte */
    uint64_t user_image_size_bytes; /* page-aligned, bss included (zero) */
    uint64_t user_entry_gva;
    uint64_t user_gate_gva;    /* address of the ud2 gate instruction */
    /* Optional workload input and output areas, after the user image, page-aligned, inside
     * [user image end, reserved_end): a read-only payload (the storm programs, abi/gmm/abi/storm.h)
     * and a zeroed results area the guest fills in and the host reads. Size 0 (and GPA 0): absent. */
    uint64_t payload_gpa;
    uint64_t payload_size_bytes;  /* the payload's bytes; the area is rounded up to 4 KiB (zero fill) */
    uint64_t results_gpa;
    uint64_t results_size_bytes;  /* multiple of 4 KiB */
    struct gmm_boot_cpu cpus[GMM_MAX_VCPUS];
};

#define GMM_BOOT_F_SUPERVISOR_EMULATED 0x1u /* host detected emulated ring 0 */

#ifdef __cplusplus
static_assert(sizeof(struct gmm_boot_cpu) == 32, "gmm_boot_cpu ABI size");
static_assert(sizeof(struct gmm_boot_info) == 160 + 32 * GMM_MAX_VCPUS, "gmm_boot_info ABI size");
#else
_Static_assert(sizeof(struct gmm_boot_cpu) == 32, "gmm_boot_cpu ABI size");
_Static_assert(sizeof(struct gmm_boot_info) == 160 + 32 * GMM_MAX_VCPUS, "gmm_boot_info ABI size");
#endif

#endif
