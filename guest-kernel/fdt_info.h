// What the kernel reads from the flattened device tree (libfdt): /chosen
// bootargs and gmm properties, /cpus, /memory@0. Called on CPU 0 with
// interrupts disabled: libfdt is ordinary user-space code that may use the red
// zone below RSP, which an interrupt on the same stack would overwrite.
#pragma once

#include <stdint.h>

#include "gmm/addr.h"

namespace gmm::kernel {

// Cost where ring 0 is emulated: see fdt_info.cpp (one pass; measured with
// GMM_UCALL_PROBE pairs around fdt_read).
struct FdtInfo {
    uint64_t timebase_hz = 0;
    uint64_t ram_bytes = 0;
    const char* bootargs = nullptr;  // points into the FDT
    uint32_t bootargs_len = 0;
    uint64_t boot_info_gpa = 0;
    uint32_t abi_version = 0;
    // The first /virtio_mmio@* node (docs/virtio-blk.md); mmio_gpa 0 = none.
    struct {
        uint64_t mmio_gpa = 0, mmio_bytes = 0;
        uint32_t msi_vector = 0, msi_dest_apic_id = 0;
    } virtio;
};

// Asserts on a malformed tree or a missing node/property.
void fdt_read(Gpa fdt_gpa, uint64_t fdt_size_bytes, FdtInfo& out);

}  // namespace gmm::kernel
