#include "elf_loader.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace gmm::vmm {

namespace {

std::string range_text(uint64_t start, uint64_t size) {
    return "[" + hex(start) + ", " + hex(start + size) + ")";
}

Error bad(const std::string& what) { return input_error("ELF: " + what, "is this the gmm image built for x86-64?"); }

// A failed system call on a file the user named.
Error file_error(std::string what, int err, std::string advice = {}) {
    Error e = sys_error(std::move(what), err, std::move(advice));
    e.kind = ErrorKind::BadInput;
    return e;
}

// True when [offset, offset + count * entry_size) lies inside a file of `file_size` bytes.
bool table_fits(uint64_t offset, uint64_t count, uint64_t entry_size, uint64_t file_size) {
    uint64_t bytes = 0, end = 0;
    if (__builtin_mul_overflow(count, entry_size, &bytes)) return false;
    if (__builtin_add_overflow(offset, bytes, &end)) return false;
    return end <= file_size;
}

template <typename T>
T load(std::span<const uint8_t> file, uint64_t offset) {
    T v;
    std::memcpy(&v, file.data() + offset, sizeof v);  // callers checked the bounds
    return v;
}

// Reads the symbol table, if any. Missing section headers are fine (stripped
// image: no symbols); malformed ones are an error.
Status parse_symbols(std::span<const uint8_t> file, const Elf64_Ehdr& eh, ElfImage& out) {
    if (eh.e_shoff == 0 || eh.e_shnum == 0) return Ok{};
    if (eh.e_shentsize != sizeof(Elf64_Shdr))
        return Err{bad("section header size " + std::to_string(eh.e_shentsize) + ", expected " +
                       std::to_string(sizeof(Elf64_Shdr)))};
    if (!table_fits(eh.e_shoff, eh.e_shnum, sizeof(Elf64_Shdr), file.size()))
        return Err{bad("section header table (offset " + hex(eh.e_shoff) + ", " + std::to_string(eh.e_shnum) +
                       " entries) extends beyond the file's " + std::to_string(file.size()) + " bytes")};
    auto shdr = [&](uint32_t i) { return load<Elf64_Shdr>(file, eh.e_shoff + uint64_t{i} * sizeof(Elf64_Shdr)); };

    for (uint32_t i = 0; i < eh.e_shnum; ++i) {
        const Elf64_Shdr sym = shdr(i);
        if (sym.sh_type != SHT_SYMTAB) continue;
        if (sym.sh_entsize != sizeof(Elf64_Sym))
            return Err{bad("section " + std::to_string(i) + ": symbol entry size " + std::to_string(sym.sh_entsize))};
        if (sym.sh_size % sizeof(Elf64_Sym) != 0 || !table_fits(sym.sh_offset, sym.sh_size, 1, file.size()))
            return Err{bad("section " + std::to_string(i) + ": symbol table " + range_text(sym.sh_offset, sym.sh_size) +
                           " is not inside the file")};
        if (sym.sh_link == 0 || sym.sh_link >= eh.e_shnum)
            return Err{bad("section " + std::to_string(i) + ": string table index " + std::to_string(sym.sh_link) +
                           " is out of range")};
        const Elf64_Shdr str = shdr(sym.sh_link);
        if (str.sh_type != SHT_STRTAB || !table_fits(str.sh_offset, str.sh_size, 1, file.size()))
            return Err{bad("section " + std::to_string(sym.sh_link) + ": string table " +
                           range_text(str.sh_offset, str.sh_size) + " is not a string table inside the file")};
        const char* strtab = reinterpret_cast<const char*>(file.data() + str.sh_offset);
        const uint64_t count = sym.sh_size / sizeof(Elf64_Sym);
        for (uint64_t k = 1; k < count; ++k) {  // entry 0 is the null symbol
            const Elf64_Sym s = load<Elf64_Sym>(file, sym.sh_offset + k * sizeof(Elf64_Sym));
            if (s.st_name == 0 || s.st_shndx == SHN_UNDEF) continue;
            if (s.st_name >= str.sh_size)
                return Err{bad("symbol " + std::to_string(k) + ": name offset " + std::to_string(s.st_name) +
                               " is beyond the string table")};
            const void* nul = std::memchr(strtab + s.st_name, 0, str.sh_size - s.st_name);
            if (!nul) return Err{bad("symbol " + std::to_string(k) + ": name is not NUL-terminated")};
            std::string name(strtab + s.st_name, static_cast<const char*>(nul));
            if (!name.empty()) out.symbols.emplace(std::move(name), s.st_value);  // first definition wins
        }
    }
    return Ok{};
}

}  // namespace

std::optional<uint64_t> ElfImage::symbol(std::string_view name) const {
    auto it = symbols.find(name);
    if (it == symbols.end()) return std::nullopt;
    return it->second;
}

Result<ElfImage> parse_elf64(std::span<const uint8_t> file) {
    if (file.size() < sizeof(Elf64_Ehdr))
        return Err{bad("file is " + std::to_string(file.size()) + " bytes, shorter than an ELF64 header")};
    const Elf64_Ehdr eh = load<Elf64_Ehdr>(file, 0);
    if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) return Err{bad("bad magic (not an ELF file)")};
    if (eh.e_ident[EI_CLASS] != ELFCLASS64) return Err{bad("not a 64-bit ELF file")};
    if (eh.e_ident[EI_DATA] != ELFDATA2LSB) return Err{bad("not little-endian")};
    if (eh.e_ident[EI_VERSION] != EV_CURRENT) return Err{bad("unknown ELF version")};
    if (eh.e_machine != EM_X86_64) return Err{bad("machine " + std::to_string(eh.e_machine) + " is not x86-64")};
    if (eh.e_type != ET_EXEC)
        return Err{bad("type " + std::to_string(eh.e_type) + " is not an executable (ET_EXEC); link with -static, no PIE")};
    if (eh.e_phentsize != sizeof(Elf64_Phdr))
        return Err{bad("program header size " + std::to_string(eh.e_phentsize) + ", expected " +
                       std::to_string(sizeof(Elf64_Phdr)))};
    if (eh.e_phnum == 0 || eh.e_phnum == PN_XNUM)
        return Err{bad("program header count " + std::to_string(eh.e_phnum) + " is not supported")};
    if (!table_fits(eh.e_phoff, eh.e_phnum, sizeof(Elf64_Phdr), file.size()))
        return Err{bad("program header table (offset " + hex(eh.e_phoff) + ", " + std::to_string(eh.e_phnum) +
                       " entries) extends beyond the file's " + std::to_string(file.size()) + " bytes")};

    ElfImage img;
    img.entry = eh.e_entry;
    for (uint32_t i = 0; i < eh.e_phnum; ++i) {
        const Elf64_Phdr ph = load<Elf64_Phdr>(file, eh.e_phoff + uint64_t{i} * sizeof(Elf64_Phdr));
        if (ph.p_type != PT_LOAD || ph.p_memsz == 0) continue;
        const std::string who = "segment " + std::to_string(i) + " (vaddr " + hex(ph.p_vaddr) + ")";
        if (ph.p_filesz > ph.p_memsz)
            return Err{bad(who + ": file size " + hex(ph.p_filesz) + " exceeds memory size " + hex(ph.p_memsz))};
        if (!table_fits(ph.p_offset, ph.p_filesz, 1, file.size()))
            return Err{bad(who + ": file bytes " + range_text(ph.p_offset, ph.p_filesz) + " lie beyond the file's " +
                           std::to_string(file.size()) + " bytes")};
        uint64_t end = 0;
        if (__builtin_add_overflow(ph.p_vaddr, ph.p_memsz, &end) || __builtin_add_overflow(ph.p_paddr, ph.p_memsz, &end))
            return Err{bad(who + ": address + memory size " + hex(ph.p_memsz) + " wraps around")};
        img.segments.push_back(ElfSegment{i, ph.p_vaddr, ph.p_paddr, ph.p_offset, ph.p_filesz, ph.p_memsz, ph.p_flags});
    }
    if (img.segments.empty()) return Err{bad("no loadable (PT_LOAD) segments")};
    const bool entry_ok = std::any_of(img.segments.begin(), img.segments.end(), [&](const ElfSegment& s) {
        return (s.flags & kElfSegmentExecute) && img.entry >= s.vaddr && img.entry - s.vaddr < s.mem_size;
    });
    if (!entry_ok) return Err{bad("entry point " + hex(img.entry) + " is not inside an executable segment")};

    Status st = parse_symbols(file, eh, img);
    if (!st) return Err{st.error()};
    return img;
}

Result<std::vector<uint8_t>> read_file(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        const int err = errno;
        return Err{file_error("open " + path, err, err == ENOENT ? "check the path (build the guest images first?)" : "")};
    }
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    struct stat sb {};
    if (::fstat(fd, &sb) != 0) return Err{file_error("stat " + path, errno)};
    if (!S_ISREG(sb.st_mode)) return Err{input_error(path + " is not a regular file")};
    if (static_cast<uint64_t>(sb.st_size) > kMaxElfFileBytes)
        return Err{input_error(path + " is " + std::to_string(sb.st_size) + " bytes, more than the " +
                               std::to_string(kMaxElfFileBytes >> 20) + " MiB limit")};
    std::vector<uint8_t> bytes(static_cast<size_t>(sb.st_size));
    size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Err{file_error("read " + path, errno)};
        if (n == 0) return Err{input_error(path + " shrank while being read")};
        done += static_cast<size_t>(n);
    }
    return bytes;
}

namespace {

struct Target {
    const ElfSegment* seg;
    uint64_t gpa;
};

Status write_segment(const Target& t, std::span<const uint8_t> file, GuestMemory& mem, ZeroFill zero_fill) {
    const ElfSegment& s = *t.seg;
    if (s.file_size > 0) {
        Status st = mem.write(Gpa(t.gpa), file.subspan(s.file_offset, s.file_size));
        if (!st) return Err{input_error("ELF segment " + std::to_string(s.phdr_index) + ": " + st.error().what)};
    }
    uint64_t zero_bytes = s.mem_size - s.file_size;
    if (zero_fill == ZeroFill::FreshRam) {
        // Only the tail of the last file-backed page could hold stale bytes.
        const uint64_t file_end = t.gpa + s.file_size;
        const uint64_t page_rest = (kPageSize - file_end % kPageSize) % kPageSize;
        zero_bytes = std::min(zero_bytes, s.file_size == 0 ? 0 : page_rest);
    }
    if (zero_bytes > 0) {
        uint8_t* p = mem.translate(Gpa(t.gpa + s.file_size), zero_bytes);
        if (!p) return Err{input_error("ELF segment " + std::to_string(s.phdr_index) + ": bss outside guest RAM")};
        std::memset(p, 0, zero_bytes);
    }
    return Ok{};
}

}  // namespace

Result<LoadedImage> load_segments(const ElfImage& image, std::span<const uint8_t> file, GuestMemory& mem,
                                  LoadPlacement placement, ZeroFill zero_fill) {
    if (image.segments.empty()) return Err{input_error("ELF: nothing to load")};
    uint64_t vaddr_lo = UINT64_MAX;
    for (const ElfSegment& s : image.segments) {
        // The image may come from elsewhere than parse_elf64 over this file: re-check.
        if (s.file_size > s.mem_size || !table_fits(s.file_offset, s.file_size, 1, file.size()))
            return Err{input_error("ELF segment " + std::to_string(s.phdr_index) + ": file bytes outside the file")};
        vaddr_lo = std::min(vaddr_lo, s.vaddr);
    }
    vaddr_lo &= ~(kPageSize - 1);

    std::vector<Target> targets;
    for (const ElfSegment& s : image.segments) {
        uint64_t gpa = s.paddr;
        if (placement.kind == LoadPlacement::Kind::Contiguous) {
            if (__builtin_add_overflow(placement.base.value(), s.vaddr - vaddr_lo, &gpa))
                return Err{input_error("ELF segment " + std::to_string(s.phdr_index) + ": placement wraps")};
        }
        targets.push_back(Target{&s, gpa});
    }
    const std::string where = placement.kind == LoadPlacement::Kind::Contiguous ? "GPA" : "physical address";
    if (placement.kind == LoadPlacement::Kind::Contiguous && !placement.base.is_aligned(kPageSize))
        return Err{input_error("ELF: contiguous load base " + hex(placement.base.value()) + " is not page-aligned")};

    for (const Target& t : targets) {
        const ElfSegment& s = *t.seg;
        const std::string who = "ELF segment " + std::to_string(s.phdr_index) + " at " + where + " " +
                                range_text(t.gpa, s.mem_size);
        uint64_t end = 0;
        if (__builtin_add_overflow(t.gpa, s.mem_size, &end)) return Err{input_error(who + " wraps around")};
        if (placement.kind == LoadPlacement::Kind::AtPhysicalAddress && t.gpa < kMinKernelLoadGpa)
            return Err{input_error(who + " lies below 1 MiB, where the boot structures live",
                                   "link the kernel at physical address 0x100000 or above")};
        if (!mem.contains(Gpa(t.gpa), s.mem_size))
            return Err{input_error(who + " is not inside guest RAM (" + std::to_string(mem.ram_size_bytes() >> 20) +
                                       " MiB)",
                                   "give the guest more memory")};
    }
    for (size_t i = 0; i < targets.size(); ++i) {
        for (size_t j = i + 1; j < targets.size(); ++j) {
            const Target &a = targets[i], &b = targets[j];
            if (a.gpa < b.gpa + b.seg->mem_size && b.gpa < a.gpa + a.seg->mem_size)
                return Err{input_error("ELF segments " + std::to_string(a.seg->phdr_index) + " " +
                                       range_text(a.gpa, a.seg->mem_size) + " and " +
                                       std::to_string(b.seg->phdr_index) + " " + range_text(b.gpa, b.seg->mem_size) +
                                       " overlap in guest memory")};
        }
    }

    uint64_t gpa_lo = UINT64_MAX, gpa_hi = 0;
    for (const Target& t : targets) {
        Status st = write_segment(t, file, mem, zero_fill);
        if (!st) return Err{st.error()};
        gpa_lo = std::min(gpa_lo, t.gpa);
        gpa_hi = std::max(gpa_hi, t.gpa + t.seg->mem_size);
    }
    LoadedImage out;
    out.gpa_start = Gpa(gpa_lo & ~(kPageSize - 1));
    out.gpa_end = Gpa(gpa_hi);
    out.gva_start = Gva(vaddr_lo);
    out.size_bytes = align_up_or_zero(gpa_hi, kPageSize) - out.gpa_start.value();  // gpa_hi is in RAM: no wrap
    out.entry = Gva(image.entry);
    return out;
}

}  // namespace gmm::vmm
