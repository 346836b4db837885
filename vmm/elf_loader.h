// ELF64 x86-64 executables (the guest kernel and the user runtime): parsing
// with every offset and size checked against the file, symbol lookup through
// .symtab/.strtab, and loading PT_LOAD segments into guest RAM.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "error.h"
#include "gmm/addr.h"
#include "guest_memory.h"

namespace gmm::vmm {

// p_flags bits.
constexpr uint32_t kElfSegmentExecute = 1, kElfSegmentWrite = 2, kElfSegmentRead = 4;
// Images larger than this are refused by read_file.
constexpr uint64_t kMaxElfFileBytes = 256ull << 20;

struct ElfSegment {
    uint32_t phdr_index;  // index in the program header table (for messages)
    uint64_t vaddr, paddr, file_offset, file_size, mem_size;
    uint32_t flags;       // kElfSegment*
};

struct ElfImage {
    uint64_t entry = 0;
    std::vector<ElfSegment> segments;  // PT_LOAD with mem_size > 0, in file order
    std::map<std::string, uint64_t, std::less<>> symbols;  // defined .symtab symbols

    std::optional<uint64_t> symbol(std::string_view name) const;
};

// Validates the header, the program headers and (when present) the section
// headers, .symtab and .strtab. Requires ET_EXEC, EM_X86_64, little-endian,
// at least one PT_LOAD, and an entry point inside an executable segment.
Result<ElfImage> parse_elf64(std::span<const uint8_t> file);

// Reads a whole regular file of at most kMaxElfFileBytes. Failures are
// ErrorKind::BadInput (the user named the file), with errno when a call failed.
Result<std::vector<uint8_t>> read_file(const std::string& path);

// Where load_segments puts the segments.
struct LoadPlacement {
    enum class Kind {
        AtPhysicalAddress,  // each segment at its p_paddr (the kernel); must lie in [1 MiB, RAM)
        Contiguous,         // by vaddr relative to the lowest page, starting at `base` (the user runtime)
    };
    Kind kind = Kind::AtPhysicalAddress;
    Gpa base{};  // Contiguous only; page-aligned

    static LoadPlacement at_physical_address() { return LoadPlacement{Kind::AtPhysicalAddress, Gpa{}}; }
    static LoadPlacement contiguous(Gpa base) { return LoadPlacement{Kind::Contiguous, base}; }
};

constexpr uint64_t kMinKernelLoadGpa = 1ull << 20;

// How bss (mem_size beyond file_size) becomes zero.
enum class ZeroFill {
    FreshRam,  // RAM there was never written: zero only the rest of the last file-backed page
    Explicit,  // write zeros over all of it
};

struct LoadedImage {
    Gpa gpa_start;        // lowest segment's first page (page-aligned down)
    Gpa gpa_end;          // exclusive: max(load address + mem_size), not rounded
    Gva gva_start;        // lowest vaddr, page-aligned down
    uint64_t size_bytes;  // [gpa_start, gpa_end) rounded up to whole pages
    Gva entry;
};

Result<LoadedImage> load_segments(const ElfImage& image, std::span<const uint8_t> file, GuestMemory& mem,
                                  LoadPlacement placement, ZeroFill zero_fill = ZeroFill::FreshRam);

}  // namespace gmm::vmm
