#include "fdt_info.h"

#include <libfdt.h>

#include "assert.h"
#include "bootargs.h"
#include "kernel.h"

namespace gmm::kernel {

namespace {

// Each libfdt lookup by path or property name rescans from the start, and every
// scanned tag costs ~150 emulated instructions. So the tree is read in one pass:
// root's children once (stopping when all three nodes are found), then each
// node's properties once. Measured: ~15,000 instructions in total, independent
// of the vCPU count (the earlier path/name lookups cost 22,000-107,000).

enum class RootChild { Chosen, Memory, Cpus, Count };

uint64_t prop_uint(const void* value, int len) {
    if (len == 4) return fdt32_ld(static_cast<const fdt32_t*>(value));
    GMM_ASSERT_EQ(len, 8);
    return fdt64_ld(static_cast<const fdt64_t*>(value));
}

// Calls fn(name, value, len) for every property of `node` (~1,000 emulated
// instructions per property, mostly libfdt's per-tag checks).
template <typename Fn>
void for_each_property(const void* fdt, int node, Fn fn) {
    int prop;
    fdt_for_each_property_offset(prop, fdt, node) {
        const char* name = nullptr;
        int len = 0;
        const void* value = fdt_getprop_by_offset(fdt, prop, &name, &len);
        GMM_ASSERT(value != nullptr && name != nullptr);
        fn(StrView{name, uint32_t(strlen(name))}, value, len);
    }
}

}  // namespace

void fdt_read(Gpa fdt_gpa, uint64_t fdt_size_bytes, FdtInfo& out) {
    const void* fdt = direct_map<const void>(fdt_gpa);
    GMM_ASSERT_EQ(fdt_check_header(fdt), 0);
    GMM_ASSERT_LE(fdt_totalsize(fdt), fdt_size_bytes);

    int nodes[int(RootChild::Count)] = {-1, -1, -1};
    int found = 0;
    int virtio_node = -1;  // the builder puts device nodes before /cpus, so the early stop still sees them
    int node;
    fdt_for_each_subnode(node, fdt, 0) {
        int len = 0;
        const char* name = fdt_get_name(fdt, node, &len);
        GMM_ASSERT(name != nullptr);
        const StrView n{name, uint32_t(len)};
        int* slot = n.equals("chosen") ? &nodes[int(RootChild::Chosen)]
                    : n.equals("memory@0") ? &nodes[int(RootChild::Memory)]
                    : n.equals("cpus") ? &nodes[int(RootChild::Cpus)]
                    : (virtio_node < 0 && n.len > 12 && StrView{name, 12}.equals("virtio_mmio@")) ? &virtio_node
                                                                                                  : nullptr;
        if (slot == &virtio_node) {
            *slot = node;
            continue;
        }
        if (slot && *slot < 0) {
            *slot = node;
            if (++found == int(RootChild::Count)) break;  // do not walk the rest (e.g. every cpu@N)
        }
    }
    GMM_ASSERT(nodes[int(RootChild::Chosen)] >= 0 && "/chosen");
    GMM_ASSERT(nodes[int(RootChild::Memory)] >= 0 && "/memory@0");
    GMM_ASSERT(nodes[int(RootChild::Cpus)] >= 0 && "/cpus");

    for_each_property(fdt, nodes[int(RootChild::Chosen)], [&out](StrView name, const void* value, int len) {
        if (name.equals("bootargs")) {
            out.bootargs = static_cast<const char*>(value);
            out.bootargs_len = uint32_t(len);
        } else if (name.equals("gmm,boot-info")) {
            out.boot_info_gpa = prop_uint(value, len);
        } else if (name.equals("gmm,abi-version")) {
            out.abi_version = uint32_t(prop_uint(value, len));
        }
    });
    GMM_ASSERT(out.bootargs != nullptr && out.bootargs_len > 0);
    GMM_ASSERT(out.boot_info_gpa != 0);

    // The CPU count comes from gmm_boot_info: counting /cpus children through
    // libfdt costs ~1,500 emulated instructions per CPU.
    for_each_property(fdt, nodes[int(RootChild::Cpus)], [&out](StrView name, const void* value, int len) {
        if (name.equals("timebase-frequency")) out.timebase_hz = prop_uint(value, len);
    });
    GMM_ASSERT(out.timebase_hz != 0);

    // reg = (address, size) pairs with #address-cells = #size-cells = 2.
    for_each_property(fdt, nodes[int(RootChild::Memory)], [&out](StrView name, const void* value, int len) {
        if (!name.equals("reg")) return;
        GMM_ASSERT(len > 0 && len % 16 == 0);
        const auto* reg = static_cast<const fdt64_t*>(value);
        for (int i = 0; i < len / 16; ++i) out.ram_bytes += fdt64_ld(&reg[2 * i + 1]);
    });
    GMM_ASSERT(out.ram_bytes != 0);

    if (virtio_node >= 0) {
        bool compatible = false;
        for_each_property(fdt, virtio_node, [&out, &compatible](StrView name, const void* value, int len) {
            if (name.equals("compatible")) {
                compatible = len == 12 && StrView{static_cast<const char*>(value), 11}.equals("virtio,mmio");
            } else if (name.equals("reg")) {
                GMM_ASSERT_EQ(len, 16);
                out.virtio.mmio_gpa = fdt64_ld(static_cast<const fdt64_t*>(value));
                out.virtio.mmio_bytes = fdt64_ld(static_cast<const fdt64_t*>(value) + 1);
            } else if (name.equals("gmm,msi-vector")) {
                out.virtio.msi_vector = uint32_t(prop_uint(value, len));
            } else if (name.equals("gmm,msi-dest-apic-id")) {
                out.virtio.msi_dest_apic_id = uint32_t(prop_uint(value, len));
            }
        });
        GMM_ASSERT(compatible && "virtio_mmio node is not compatible = \"virtio,mmio\"");
        GMM_ASSERT(out.virtio.mmio_gpa != 0 && out.virtio.msi_vector != 0);
    }
}

}  // namespace gmm::kernel
