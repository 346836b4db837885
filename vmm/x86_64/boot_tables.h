// x86-64 boot tables the VMM writes before the first KVM_RUN
// (docs/boot-protocol.md): the GDT (Linux selector layout plus one 16-byte
// TSS descriptor per vCPU), the per-vCPU 64-bit TSS, and the kernel page
// tables (direct map + kernel image map, 2 MiB pages). Pure encoders return
// bytes so tests can compare them with hand-computed Intel SDM values.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "error.h"
#include "gmm/abi/boot.h"
#include "gmm/addr.h"
#include "guest_memory.h"

namespace gmm::vmm::x86_64 {

// ---- GDT layout ------------------------------------------------------------
constexpr uint16_t kSelKernelCs = GMM_SEL_KERNEL_CS;  // 0x10
constexpr uint16_t kSelKernelDs = GMM_SEL_KERNEL_DS;  // 0x18
constexpr uint16_t kSelUserDs = GMM_SEL_USER_DS;      // 0x2b (entry 0x28, RPL 3)
constexpr uint16_t kSelUserCs = GMM_SEL_USER_CS;      // 0x33 (entry 0x30, RPL 3)
constexpr uint16_t kGdtOffsetUserCs32 = 0x20;         // placeholder, as in Linux
constexpr uint16_t kGdtTssOffset = 0x40;              // first TSS descriptor
constexpr uint16_t kGdtTssStrideBytes = 16;           // 64-bit system descriptors are 16 bytes
constexpr uint16_t tss_selector(uint32_t cpu) { return static_cast<uint16_t>(GMM_SEL_TSS(cpu)); }
constexpr uint64_t gdt_size_bytes(uint32_t vcpus) { return kGdtTssOffset + uint64_t{kGdtTssStrideBytes} * vcpus; }
// GDTR.limit for a GDT with `vcpus` TSS descriptors.
constexpr uint16_t gdt_limit(uint32_t vcpus) { return static_cast<uint16_t>(gdt_size_bytes(vcpus) - 1); }

// ---- TSS layout --------------------------------------------------------------
constexpr uint64_t kTssBytes = 104;       // x86-64 TSS
constexpr uint64_t kTssSlotBytes = 128;   // stride in the TSS array
constexpr uint32_t kTssLimit = kTssBytes - 1;
constexpr uint16_t kTssIomapBase = 104;   // beyond the limit: no I/O bitmap
constexpr uint64_t kTssOffsetRsp0 = 4;
constexpr uint64_t kTssOffsetIst1 = 36;
constexpr uint64_t kTssOffsetIomapBase = 102;

// ---- Descriptor attributes (as KVM's struct kvm_segment wants them) ----------
struct SegmentAttributes {
    uint8_t type;     // 4-bit type field (accessed bit included)
    uint8_t s;        // 1 = code/data, 0 = system
    uint8_t dpl;
    uint8_t present;
    uint8_t l;        // 64-bit code
    uint8_t db;       // must be 0 when l = 1
    uint8_t g;        // limit in 4 KiB units
};
constexpr uint8_t kTypeCodeExecReadAccessed = 0xb;
constexpr uint8_t kTypeDataReadWriteAccessed = 0x3;
constexpr uint8_t kTypeTss64Available = 0x9;
constexpr uint8_t kTypeTss64Busy = 0xb;
// The accessed bit is preset so the CPU never writes the GDT (a trapped write
// on hosts that emulate ring 0).
constexpr SegmentAttributes kKernelCode64Attrs{kTypeCodeExecReadAccessed, 1, 0, 1, 1, 0, 1};
constexpr SegmentAttributes kKernelDataAttrs{kTypeDataReadWriteAccessed, 1, 0, 1, 0, 1, 1};
constexpr SegmentAttributes kUserCode32Attrs{kTypeCodeExecReadAccessed, 1, 3, 1, 0, 1, 1};
constexpr SegmentAttributes kUserDataAttrs{kTypeDataReadWriteAccessed, 1, 3, 1, 0, 1, 1};
constexpr SegmentAttributes kUserCode64Attrs{kTypeCodeExecReadAccessed, 1, 3, 1, 1, 0, 1};
// TR as loaded at entry: a busy 64-bit TSS, byte granular.
constexpr SegmentAttributes kTssBusyAttrs{kTypeTss64Busy, 0, 0, 1, 0, 0, 0};

enum class Privilege : uint8_t { Kernel = 0, User = 3 };
enum class CodeMode { Long64, Compat32 };
// The GDT's TSS descriptors are written busy because KVM loads TR busy at entry
// (as `ltr` would have left them); a kernel that reloads TR must clear it first.
enum class TssState { Available, Busy };

// Generic 8-byte code/data descriptor (flat segments: base 0 in practice).
uint64_t encode_segment_descriptor(uint32_t base, uint32_t limit_20bit, const SegmentAttributes& attrs);
// Flat 4 GiB code segment: 64-bit (L=1, D=0) or 32-bit compatibility (L=0, D=1).
uint64_t encode_code_segment(CodeMode mode, Privilege dpl);
// Flat 4 GiB read/write data segment.
uint64_t encode_data_segment(Privilege dpl);
// 16-byte 64-bit TSS descriptor: [0] = low qword, [1] = high qword (base 63:32).
std::array<uint64_t, 2> encode_tss_descriptor(Gva base, uint32_t limit, TssState state);
// The 104-byte TSS: RSP0, IST1, I/O map base = 104; everything else zero.
std::array<uint8_t, kTssBytes> encode_tss(Gva rsp0, Gva ist1);
// The whole GDT image for `vcpus` (1..GMM_MAX_VCPUS); TSS i at
// tss_array + i * kTssSlotBytes.
Result<std::vector<uint8_t>> build_gdt(uint32_t vcpus, Gva tss_array);

Status write_gdt(GuestMemory& mem, Gpa gdt_gpa, uint32_t vcpus, Gva tss_array_gva);
Status write_tss(GuestMemory& mem, Gpa tss_gpa, Gva rsp0, Gva ist1);

// ---- Kernel page tables ------------------------------------------------------
constexpr uint64_t kPteP = 1ull << 0, kPteRw = 1ull << 1, kPteUs = 1ull << 2, kPtePwt = 1ull << 3,
                   kPtePcd = 1ull << 4, kPteA = 1ull << 5, kPteD = 1ull << 6, kPtePs = 1ull << 7,
                   kPteG = 1ull << 8, kPteNx = 1ull << 63;
constexpr uint64_t kPteAddrMask = 0x000ffffffffff000ull;  // bits 51:12
// Non-leaf entries: present, writable, supervisor, accessed preset.
constexpr uint64_t kKernelTableFlags = kPteP | kPteRw | kPteA;
// Leaves: 2 MiB, global (CR4.PGE is on; kernel mappings are the same in every
// address space), A and D preset so the CPU never writes them back.
constexpr uint64_t kDirectMapLeafFlags = kPteP | kPteRw | kPteA | kPteD | kPtePs | kPteG | kPteNx;
constexpr uint64_t kMmioLeafFlags = kPteP | kPteRw | kPteA | kPteD | kPtePs | kPteG | kPteNx | kPtePcd | kPtePwt;
constexpr uint64_t kKernelImageLeafFlags = kPteP | kPteRw | kPteA | kPteD | kPtePs | kPteG;
constexpr uint64_t kKernelImageMapBytes = 1ull << 30;  // GPA [0, 1 GiB)

struct KernelPageTables {
    Gpa pml4;            // CR3
    Gpa end;             // first byte after the last table page
    uint64_t size_bytes; // end - pml4
};

// Pure: the table pages for `slots` laid out from `at` (page-aligned): PML4,
// kernel-image PDPT and PD, then the direct map's PDPTs and PDs in GPA order.
// Only RAM is mapped (2 MiB pages; slots must be 2 MiB aligned). The image map
// covers the RAM inside GPA [0, 1 GiB). Fails if the tables exceed max_bytes.
struct PageTableImage {
    KernelPageTables layout;
    std::vector<uint8_t> bytes;  // layout.size_bytes bytes, written at layout.pml4
};
// mmio_pages: 2 MiB-aligned device windows also mapped in the direct map,
// uncached (PCD|PWT), so the kernel reaches device registers at
// GMM_DIRECT_MAP_GVA + gpa.
Result<PageTableImage> build_kernel_page_tables(Gpa at, uint64_t max_bytes, const std::vector<MemorySlot>& slots,
                                                const std::vector<Gpa>& mmio_pages = {});

// Builds and writes them into guest memory.
Result<KernelPageTables> write_kernel_page_tables(GuestMemory& mem, Gpa at, uint64_t max_bytes,
                                                  const std::vector<MemorySlot>& slots,
                                                  const std::vector<Gpa>& mmio_pages = {});

// Where the boot structures live (docs/boot-protocol.md).
struct BootTablesLayout {
    Gpa gdt{0x2000};
    Gpa tss_array{0x3000};
    Gpa page_tables{0x10000};
    uint64_t page_tables_max_bytes = 960 * 1024;
};

}  // namespace gmm::vmm::x86_64
