// The flattened device tree handed to the guest kernel in RDI
// (docs/boot-protocol.md "Device tree"), built with libfdt's sequential-write
// API. Every libfdt call is checked; a failure names the call and node.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "error.h"
#include "gmm/abi/boot.h"
#include "gmm/addr.h"

namespace gmm::vmm {

struct FdtRange {
    Gpa base;
    uint64_t size_bytes;
};

struct VirtioMmioNode {
    Gpa base;
    uint64_t size_bytes;
    uint32_t irq;
    // gmm: the device interrupts with an MSI; when msi_vector != 0 the node
    // carries gmm,msi-vector and gmm,msi-dest-apic-id (docs/virtio-blk.md).
    uint32_t msi_vector = 0;
    uint32_t msi_dest_apic_id = 0;
};

// Field order is relied on by designated initialisers in machine.cpp.
struct FdtConfig {
    std::vector<FdtRange> memory;          // /memory@0 reg, one pair per RAM slot
    uint32_t vcpus = 0;                    // /cpus/cpu@0 .. cpu@(n-1), reg = APIC id = index
    uint64_t tsc_hz = 0;                   // /cpus timebase-frequency (u32 if it fits, else u64)
    std::string bootargs;                  // /chosen bootargs
    Gpa boot_info_gpa{GMM_BOOT_INFO_GPA};  // /chosen gmm,boot-info (u64)
    std::vector<FdtRange> reserved;        // memory reservation block
    std::vector<VirtioMmioNode> virtio;    // /virtio_mmio@<addr> nodes
    uint32_t abi_version = GMM_ABI_VERSION;  // /chosen gmm,abi-version (u32)
    uint32_t max_size_bytes = 64 * 1024;     // the FDT's slot in the memory map
};

constexpr const char* kFdtCompatible = "gmm,virt";

// Returns the finished blob, trimmed to its total size.
Result<std::vector<uint8_t>> build_fdt(const FdtConfig& config);

}  // namespace gmm::vmm
