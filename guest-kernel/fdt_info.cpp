#include "fdt_info.h"

#include <libfdt.h>

#include "assert.h"
#include "kernel.h"

namespace gmm::kernel {

namespace {

// A u32 or u64 property (FDT cells are big-endian).
uint64_t read_uint(const void* fdt, int node, const char* name) {
    int len = 0;
    const void* p = fdt_getprop(fdt, node, name, &len);
    GMM_ASSERT(p != nullptr);
    if (len == 4) return fdt32_ld(static_cast<const fdt32_t*>(p));
    GMM_ASSERT_EQ(len, 8);
    return fdt64_ld(static_cast<const fdt64_t*>(p));
}

int node_at(const void* fdt, const char* path) {
    const int node = fdt_path_offset(fdt, path);
    GMM_ASSERT(node >= 0);
    return node;
}

}  // namespace

void fdt_read(Gpa fdt_gpa, uint64_t fdt_size_bytes, FdtInfo& out) {
    const void* fdt = direct_map<const void>(fdt_gpa);
    GMM_ASSERT_EQ(fdt_check_header(fdt), 0);
    GMM_ASSERT_LE(fdt_totalsize(fdt), fdt_size_bytes);

    const int chosen = node_at(fdt, "/chosen");
    int len = 0;
    out.bootargs = static_cast<const char*>(fdt_getprop(fdt, chosen, "bootargs", &len));
    GMM_ASSERT(out.bootargs != nullptr && len > 0);
    out.bootargs_len = uint32_t(len);
    out.boot_info_gpa = read_uint(fdt, chosen, "gmm,boot-info");
    out.abi_version = uint32_t(read_uint(fdt, chosen, "gmm,abi-version"));

    const int cpus = node_at(fdt, "/cpus");
    out.timebase_hz = read_uint(fdt, cpus, "timebase-frequency");
    // The CPU count comes from gmm_boot_info: counting /cpus children through
    // libfdt costs ~1,500 emulated instructions per CPU (libfdt re-reads and
    // re-checks the header for every byte of every node name it skips).

    // reg = (address, size) pairs with #address-cells = #size-cells = 2.
    const int memory = node_at(fdt, "/memory@0");
    const auto* reg = static_cast<const fdt64_t*>(fdt_getprop(fdt, memory, "reg", &len));
    GMM_ASSERT(reg != nullptr && len > 0 && len % 16 == 0);
    for (int i = 0; i < len / 16; ++i) out.ram_bytes += fdt64_ld(&reg[2 * i + 1]);
}

}  // namespace gmm::kernel
