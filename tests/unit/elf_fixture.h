// Builds small ELF64 x86-64 executables in memory for the loader tests, plus
// helpers to corrupt them field by field.
#pragma once

#include <elf.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace gmm::test {

struct SegSpec {
    uint64_t vaddr;
    uint64_t paddr;
    std::vector<uint8_t> data;  // file bytes
    uint64_t mem_size;
    uint32_t flags = PF_R | PF_X;
};

struct ElfSpec {
    uint64_t entry;
    std::vector<SegSpec> segs;
    std::vector<std::pair<std::string, uint64_t>> syms;  // defined in section 1
};

inline void put(std::vector<uint8_t>& b, size_t off, const void* p, size_t n) {
    if (b.size() < off + n) b.resize(off + n, 0);
    std::memcpy(b.data() + off, p, n);
}

template <typename T>
void patch(std::vector<uint8_t>& b, size_t off, T v) {
    put(b, off, &v, sizeof v);
}

inline size_t phdr_offset(size_t index) { return sizeof(Elf64_Ehdr) + index * sizeof(Elf64_Phdr); }

inline std::vector<uint8_t> build_elf(const ElfSpec& spec) {
    std::vector<uint8_t> b;
    Elf64_Ehdr eh{};
    std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_EXEC;
    eh.e_machine = EM_X86_64;
    eh.e_version = EV_CURRENT;
    eh.e_entry = spec.entry;
    eh.e_phoff = sizeof(Elf64_Ehdr);
    eh.e_ehsize = sizeof(Elf64_Ehdr);
    eh.e_phentsize = sizeof(Elf64_Phdr);
    eh.e_phnum = static_cast<uint16_t>(spec.segs.size());
    eh.e_shentsize = sizeof(Elf64_Shdr);

    size_t off = phdr_offset(spec.segs.size());
    for (size_t i = 0; i < spec.segs.size(); ++i) {
        const SegSpec& s = spec.segs[i];
        Elf64_Phdr ph{};
        ph.p_type = PT_LOAD;
        ph.p_flags = s.flags;
        ph.p_offset = off;
        ph.p_vaddr = s.vaddr;
        ph.p_paddr = s.paddr;
        ph.p_filesz = s.data.size();
        ph.p_memsz = s.mem_size;
        ph.p_align = 4096;
        put(b, phdr_offset(i), &ph, sizeof ph);
        if (!s.data.empty()) put(b, off, s.data.data(), s.data.size());
        off += s.data.size();
    }
    if (!spec.syms.empty()) {
        std::string strtab(1, '\0');
        std::vector<Elf64_Sym> syms(1);  // null symbol
        for (const auto& [name, value] : spec.syms) {
            Elf64_Sym s{};
            s.st_name = static_cast<uint32_t>(strtab.size());
            s.st_info = ELF64_ST_INFO(STB_GLOBAL, STT_FUNC);
            s.st_shndx = 1;
            s.st_value = value;
            syms.push_back(s);
            strtab += name;
            strtab.push_back('\0');
        }
        const size_t sym_off = off;
        put(b, sym_off, syms.data(), syms.size() * sizeof(Elf64_Sym));
        const size_t str_off = sym_off + syms.size() * sizeof(Elf64_Sym);
        put(b, str_off, strtab.data(), strtab.size());
        const size_t sh_off = (str_off + strtab.size() + 7) & ~size_t{7};
        Elf64_Shdr sh[3]{};
        sh[1].sh_type = SHT_SYMTAB;
        sh[1].sh_offset = sym_off;
        sh[1].sh_size = syms.size() * sizeof(Elf64_Sym);
        sh[1].sh_link = 2;
        sh[1].sh_entsize = sizeof(Elf64_Sym);
        sh[2].sh_type = SHT_STRTAB;
        sh[2].sh_offset = str_off;
        sh[2].sh_size = strtab.size();
        put(b, sh_off, sh, sizeof sh);
        eh.e_shoff = sh_off;
        eh.e_shnum = 3;
    }
    if (b.size() < sizeof eh) b.resize(sizeof eh);
    put(b, 0, &eh, sizeof eh);
    return b;
}

// Offsets of fields inside the section headers written by build_elf.
inline size_t shdr_field(const std::vector<uint8_t>& b, size_t index, size_t field_offset) {
    Elf64_Ehdr eh;
    std::memcpy(&eh, b.data(), sizeof eh);
    return eh.e_shoff + index * sizeof(Elf64_Shdr) + field_offset;
}

}  // namespace gmm::test
