// ELF parsing and loading, including hostile files built in memory.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cstddef>

#include "elf_fixture.h"
#include "elf_loader.h"

using namespace gmm;
using namespace gmm::vmm;
using gmm::test::build_elf;
using gmm::test::ElfSpec;
using gmm::test::patch;
using gmm::test::phdr_offset;

namespace {
constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kImage = 0xffffffff80000000ull;

std::vector<uint8_t> bytes(size_t n, uint8_t fill) { return std::vector<uint8_t>(n, fill); }

// A kernel-like image: text at 1 MiB, data + bss after it.
ElfSpec kernel_spec() {
    ElfSpec s;
    s.entry = kImage + 0x100010;
    s.segs.push_back({kImage + 0x100000, 0x100000, bytes(0x1000, 0xcc), 0x1000, PF_R | PF_X});
    s.segs.push_back({kImage + 0x102000, 0x102000, bytes(16, 0xab), 0x3000, PF_R | PF_W});
    s.syms = {{"gmm_kernel_entry", kImage + 0x100010}, {"gmm_user_gate", 0x401234}};
    return s;
}

std::string error_of(const std::vector<uint8_t>& file) {
    auto r = parse_elf64(file);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == ErrorKind::BadInput);
    return r.error().what;
}

std::string load_error(const ElfSpec& spec, LoadPlacement placement, uint64_t ram = 16 * kMiB) {
    const auto file = build_elf(spec);
    auto img = parse_elf64(file);
    REQUIRE(img.ok());
    auto mem = GuestMemory::create(ram);
    REQUIRE(mem.ok());
    auto r = load_segments(*img, file, *mem, placement);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == ErrorKind::BadInput);
    return r.error().what;
}
}  // namespace

TEST_CASE("parse_elf64 reads entry, PT_LOAD segments and symbols", "[elf]") {
    const auto file = build_elf(kernel_spec());
    auto img = parse_elf64(file);
    REQUIRE(img.ok());
    CHECK(img->entry == kImage + 0x100010);
    REQUIRE(img->segments.size() == 2);
    CHECK(img->segments[0].paddr == 0x100000);
    CHECK(img->segments[0].vaddr == kImage + 0x100000);
    CHECK(img->segments[0].file_size == 0x1000);
    CHECK(img->segments[0].flags == (kElfSegmentRead | kElfSegmentExecute));
    CHECK(img->segments[1].mem_size == 0x3000);
    CHECK(img->segments[1].phdr_index == 1);
    CHECK(img->symbol("gmm_user_gate") == std::optional<uint64_t>(0x401234));
    CHECK(img->symbol("gmm_kernel_entry") == std::optional<uint64_t>(kImage + 0x100010));
    CHECK_FALSE(img->symbol("missing").has_value());
    CHECK_FALSE(img->symbol("").has_value());
}

TEST_CASE("parse_elf64 accepts an image without section headers (no symbols)", "[elf]") {
    ElfSpec s = kernel_spec();
    s.syms.clear();
    auto img = parse_elf64(build_elf(s));
    REQUIRE(img.ok());
    CHECK(img->symbols.empty());
}

TEST_CASE("parse_elf64 rejects truncated files and bad identification", "[elf]") {
    auto file = build_elf(kernel_spec());
    CHECK(error_of({}).find("shorter than an ELF64 header") != std::string::npos);
    CHECK(error_of(std::vector<uint8_t>(file.begin(), file.begin() + 63)).find("shorter") != std::string::npos);
    auto f = file;
    f[0] = 0x7e;
    CHECK(error_of(f).find("magic") != std::string::npos);
    f = file;
    f[EI_CLASS] = ELFCLASS32;
    CHECK(error_of(f).find("64-bit") != std::string::npos);
    f = file;
    f[EI_DATA] = ELFDATA2MSB;
    CHECK(error_of(f).find("little-endian") != std::string::npos);
    f = file;
    patch<uint16_t>(f, offsetof(Elf64_Ehdr, e_machine), EM_AARCH64);
    CHECK(error_of(f).find("x86-64") != std::string::npos);
    f = file;
    patch<uint16_t>(f, offsetof(Elf64_Ehdr, e_type), ET_DYN);
    CHECK(error_of(f).find("ET_EXEC") != std::string::npos);
    f = file;
    patch<uint16_t>(f, offsetof(Elf64_Ehdr, e_phentsize), 32);
    CHECK(error_of(f).find("program header size") != std::string::npos);
}

TEST_CASE("parse_elf64 rejects a program header table beyond EOF or wrapping", "[elf]") {
    auto file = build_elf(kernel_spec());
    auto f = file;
    patch<uint64_t>(f, offsetof(Elf64_Ehdr, e_phoff), file.size());
    CHECK(error_of(f).find("beyond the file") != std::string::npos);
    f = file;
    patch<uint64_t>(f, offsetof(Elf64_Ehdr, e_phoff), ~0ull - 8);
    CHECK(error_of(f).find("beyond the file") != std::string::npos);
    f = file;
    patch<uint16_t>(f, offsetof(Elf64_Ehdr, e_phnum), 0);
    CHECK(error_of(f).find("program header count") != std::string::npos);
    f = file;
    patch<uint16_t>(f, offsetof(Elf64_Ehdr, e_phnum), 0xffff);
    CHECK_FALSE(parse_elf64(f).ok());
    // Truncating the file in the middle of the second program header.
    f = std::vector<uint8_t>(file.begin(), file.begin() + phdr_offset(1) + 10);
    CHECK(error_of(f).find("beyond the file") != std::string::npos);
}

TEST_CASE("parse_elf64 rejects segments whose sizes or addresses are inconsistent", "[elf]") {
    const auto file = build_elf(kernel_spec());
    auto f = file;
    patch<uint64_t>(f, phdr_offset(1) + offsetof(Elf64_Phdr, p_filesz), 0x4000);  // > memsz 0x3000
    CHECK(error_of(f).find("exceeds memory size") != std::string::npos);
    f = file;
    patch<uint64_t>(f, phdr_offset(0) + offsetof(Elf64_Phdr, p_offset), file.size() - 8);
    CHECK(error_of(f).find("segment 0") != std::string::npos);
    f = file;
    patch<uint64_t>(f, phdr_offset(0) + offsetof(Elf64_Phdr, p_offset), ~0ull - 0x10);
    CHECK(error_of(f).find("beyond the file") != std::string::npos);
    f = file;
    patch<uint64_t>(f, phdr_offset(1) + offsetof(Elf64_Phdr, p_vaddr), ~0ull - 0x1000);  // vaddr + memsz wraps
    CHECK(error_of(f).find("wraps") != std::string::npos);
    f = file;
    patch<uint64_t>(f, phdr_offset(1) + offsetof(Elf64_Phdr, p_paddr), ~0ull - 0x1000);
    CHECK(error_of(f).find("wraps") != std::string::npos);
}

TEST_CASE("parse_elf64 requires a loadable segment and an entry inside executable code", "[elf]") {
    auto file = build_elf(kernel_spec());
    auto f = file;
    patch<uint32_t>(f, phdr_offset(0) + offsetof(Elf64_Phdr, p_type), PT_NOTE);
    patch<uint32_t>(f, phdr_offset(1) + offsetof(Elf64_Phdr, p_type), PT_NOTE);
    CHECK(error_of(f).find("no loadable") != std::string::npos);
    f = file;
    patch<uint64_t>(f, offsetof(Elf64_Ehdr, e_entry), kImage + 0x102000);  // data, not code
    CHECK(error_of(f).find("entry point") != std::string::npos);
}

TEST_CASE("parse_elf64 rejects corrupt symbol and section tables", "[elf]") {
    const auto file = build_elf(kernel_spec());
    auto f = file;
    patch<uint64_t>(f, offsetof(Elf64_Ehdr, e_shoff), file.size() - 10);
    CHECK(error_of(f).find("section header table") != std::string::npos);
    f = file;
    patch<uint32_t>(f, gmm::test::shdr_field(file, 1, offsetof(Elf64_Shdr, sh_link)), 7);
    CHECK(error_of(f).find("string table index") != std::string::npos);
    f = file;
    patch<uint64_t>(f, gmm::test::shdr_field(file, 2, offsetof(Elf64_Shdr, sh_size)), 1ull << 40);
    CHECK(error_of(f).find("string table") != std::string::npos);
    f = file;
    patch<uint64_t>(f, gmm::test::shdr_field(file, 1, offsetof(Elf64_Shdr, sh_size)), 1ull << 40);
    CHECK(error_of(f).find("symbol table") != std::string::npos);
    // Symbol 1's name offset beyond the string table.
    Elf64_Shdr symtab;
    std::memcpy(&symtab, file.data() + gmm::test::shdr_field(file, 1, 0), sizeof symtab);
    f = file;
    patch<uint32_t>(f, symtab.sh_offset + sizeof(Elf64_Sym) + offsetof(Elf64_Sym, st_name), 100000);
    CHECK(error_of(f).find("name offset") != std::string::npos);
    // A string table whose last byte is not NUL: the name would run off the end.
    Elf64_Shdr strtab;
    std::memcpy(&strtab, file.data() + gmm::test::shdr_field(file, 2, 0), sizeof strtab);
    f = file;
    f[strtab.sh_offset + strtab.sh_size - 1] = 'x';
    CHECK(error_of(f).find("NUL") != std::string::npos);
}

TEST_CASE("load_segments places the kernel at p_paddr with zeroed bss", "[elf]") {
    const auto file = build_elf(kernel_spec());
    auto img = parse_elf64(file);
    REQUIRE(img.ok());
    auto mem = GuestMemory::create(16 * kMiB);
    REQUIRE(mem.ok());
    // Dirty the bss area first: the partial page after file data must be zeroed.
    std::vector<uint8_t> junk(0x100, 0xee);
    REQUIRE(mem->write(Gpa(0x102010), junk).ok());
    auto loaded = load_segments(*img, file, *mem, LoadPlacement::at_physical_address());
    REQUIRE(loaded.ok());
    CHECK(loaded->gpa_start == Gpa(0x100000));
    CHECK(loaded->gpa_end == Gpa(0x105000));  // 0x102000 + 0x3000
    CHECK(loaded->size_bytes == 0x5000);
    CHECK(loaded->gva_start == Gva(kImage + 0x100000));
    CHECK(loaded->entry == Gva(kImage + 0x100010));
    CHECK(mem->translate(Gpa(0x100000), 1)[0] == 0xcc);
    CHECK(mem->translate(Gpa(0x100fff), 1)[0] == 0xcc);
    CHECK(mem->translate(Gpa(0x102000), 1)[0] == 0xab);
    CHECK(mem->translate(Gpa(0x10200f), 1)[0] == 0xab);
    CHECK(mem->translate(Gpa(0x102010), 1)[0] == 0);
    CHECK(mem->translate(Gpa(0x10210f), 1)[0] == 0);
}

TEST_CASE("load_segments with explicit zero fill clears the whole bss", "[elf]") {
    const auto file = build_elf(kernel_spec());
    auto img = parse_elf64(file);
    REQUIRE(img.ok());
    auto mem = GuestMemory::create(16 * kMiB);
    REQUIRE(mem.ok());
    std::vector<uint8_t> junk(0x10, 0xee);
    REQUIRE(mem->write(Gpa(0x104ff0), junk).ok());
    REQUIRE(load_segments(*img, file, *mem, LoadPlacement::at_physical_address(), ZeroFill::Explicit).ok());
    CHECK(mem->translate(Gpa(0x104ff0), 1)[0] == 0);
    CHECK(mem->translate(Gpa(0x104fff), 1)[0] == 0);
}

TEST_CASE("load_segments refuses a kernel segment below 1 MiB", "[elf]") {
    ElfSpec s = kernel_spec();
    s.segs[1].paddr = 0xff000;
    const std::string e = load_error(s, LoadPlacement::at_physical_address());
    CHECK(e.find("segment 1") != std::string::npos);
    CHECK(e.find("below 1 MiB") != std::string::npos);
    CHECK(e.find("0xff000") != std::string::npos);
}

TEST_CASE("load_segments refuses segments beyond RAM or in the MMIO hole", "[elf]") {
    ElfSpec s = kernel_spec();
    s.segs[1].paddr = 16 * kMiB - 0x1000;  // bss runs past the end of 16 MiB
    const std::string e = load_error(s, LoadPlacement::at_physical_address());
    CHECK(e.find("segment 1") != std::string::npos);
    CHECK(e.find("not inside guest RAM") != std::string::npos);
    s.segs[1].paddr = 0xc0000000;
    CHECK(load_error(s, LoadPlacement::at_physical_address()).find("not inside guest RAM") != std::string::npos);
}

TEST_CASE("load_segments refuses overlapping segments and names both", "[elf]") {
    ElfSpec s = kernel_spec();
    s.segs[1].paddr = 0x100800;
    const std::string e = load_error(s, LoadPlacement::at_physical_address());
    CHECK(e.find("segments 0") != std::string::npos);
    CHECK(e.find("and 1") != std::string::npos);
    CHECK(e.find("overlap") != std::string::npos);
    // Contiguous placement checks overlap by vaddr.
    ElfSpec u = kernel_spec();
    u.segs[1].vaddr = kImage + 0x100ff0;
    CHECK(load_error(u, LoadPlacement::contiguous(Gpa(0x400000))).find("overlap") != std::string::npos);
}

TEST_CASE("load_segments lays the user runtime out contiguously from a base", "[elf]") {
    ElfSpec s;
    s.entry = 0x401000;
    s.segs.push_back({0x400000 + 0x1000, 0, bytes(0x800, 0x90), 0x800, PF_R | PF_X});
    s.segs.push_back({0x403100, 0, bytes(8, 0x11), 0x2000, PF_R | PF_W});
    const auto file = build_elf(s);
    auto img = parse_elf64(file);
    REQUIRE(img.ok());
    auto mem = GuestMemory::create(16 * kMiB);
    REQUIRE(mem.ok());
    auto loaded = load_segments(*img, file, *mem, LoadPlacement::contiguous(Gpa(0x800000)));
    REQUIRE(loaded.ok());
    CHECK(loaded->gva_start == Gva(0x401000));
    CHECK(loaded->gpa_start == Gpa(0x800000));
    CHECK(loaded->gpa_end == Gpa(0x804100));
    CHECK(loaded->size_bytes == 0x5000);  // [0x401000, 0x405100) rounded up
    CHECK(loaded->entry == Gva(0x401000));
    CHECK(mem->translate(Gpa(0x800000), 1)[0] == 0x90);
    CHECK(mem->translate(Gpa(0x802100), 1)[0] == 0x11);
    CHECK(mem->translate(Gpa(0x802108), 1)[0] == 0);
}

TEST_CASE("load_segments refuses an unaligned or out-of-RAM contiguous base", "[elf]") {
    ElfSpec s = kernel_spec();
    CHECK(load_error(s, LoadPlacement::contiguous(Gpa(0x800010))).find("page-aligned") != std::string::npos);
    CHECK(load_error(s, LoadPlacement::contiguous(Gpa(16 * kMiB - 0x1000))).find("not inside guest RAM") !=
          std::string::npos);
    CHECK(load_error(s, LoadPlacement::contiguous(Gpa(~0ull & ~0xfffull))).find("wrap") != std::string::npos);
}

TEST_CASE("read_file reads a file and explains missing files and directories", "[elf]") {
    char path[] = "/tmp/gmm-elf-test-XXXXXX";
    const int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    const char text[] = "hello";
    REQUIRE(::write(fd, text, 5) == 5);
    ::close(fd);
    auto r = read_file(path);
    ::unlink(path);
    REQUIRE(r.ok());
    CHECK(std::string(r->begin(), r->end()) == "hello");

    auto missing = read_file("/nonexistent/gmm-kernel.elf");
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().errno_value == ENOENT);
    CHECK(missing.error().kind == ErrorKind::BadInput);
    CHECK(missing.error().what.find("/nonexistent/gmm-kernel.elf") != std::string::npos);

    auto dir = read_file("/tmp");
    REQUIRE_FALSE(dir.ok());
    CHECK(dir.error().what.find("not a regular file") != std::string::npos);
}
