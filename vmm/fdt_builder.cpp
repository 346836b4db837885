#include "fdt_builder.h"

#include <libfdt.h>

#include <cstdio>
#include <cstring>

namespace gmm::vmm {

namespace {

std::string hex_digits(uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(v));
    return buf;
}

// Sequential-write wrapper: each method is one checked libfdt call, and the
// error says which call failed in which node (kvmtool's _FDT(), as a Status).
class FdtWriter {
public:
    explicit FdtWriter(std::vector<uint8_t>& buf) : buf_(buf) {}

    Status create() { return check(fdt_create(buf_.data(), static_cast<int>(buf_.size())), "fdt_create", ""); }
    Status reserve(uint64_t addr, uint64_t size) {
        return check(fdt_add_reservemap_entry(buf_.data(), addr, size), "fdt_add_reservemap_entry", "");
    }
    Status finish_reservemap() { return check(fdt_finish_reservemap(buf_.data()), "fdt_finish_reservemap", ""); }
    Status begin_node(const std::string& name) {
        Status st = check(fdt_begin_node(buf_.data(), name.c_str()), "fdt_begin_node", name);
        nodes_.push_back(name);
        return st;
    }
    Status end_node() {
        Status st = check(fdt_end_node(buf_.data()), "fdt_end_node", "");
        if (!nodes_.empty()) nodes_.pop_back();
        return st;
    }
    Status u32(const char* name, uint32_t v) { return check(fdt_property_u32(buf_.data(), name, v), "fdt_property_u32", name); }
    Status u64(const char* name, uint64_t v) { return check(fdt_property_u64(buf_.data(), name, v), "fdt_property_u64", name); }
    Status string(const char* name, const std::string& v) {
        return check(fdt_property_string(buf_.data(), name, v.c_str()), "fdt_property_string", name);
    }
    // A list of big-endian u64 values (reg with #address-cells = #size-cells = 2).
    Status u64_list(const char* name, const std::vector<uint64_t>& values) {
        std::vector<fdt64_t> be;
        for (uint64_t v : values) be.push_back(cpu_to_fdt64(v));
        return check(fdt_property(buf_.data(), name, be.data(), static_cast<int>(be.size() * sizeof(fdt64_t))),
                     "fdt_property", name);
    }
    Status finish() { return check(fdt_finish(buf_.data()), "fdt_finish", ""); }

private:
    Status check(int rc, const char* call, const std::string& arg) {
        if (rc >= 0) return Ok{};
        std::string what = std::string(call) + (arg.empty() ? "" : "(\"" + arg + "\")");
        if (!nodes_.empty()) what += " in " + path();
        what += ": " + std::string(fdt_strerror(rc));
        return Err{plain_error("building the device tree: " + what,
                               rc == -FDT_ERR_NOSPACE ? "the device tree outgrew its space; use fewer vCPUs or devices" : "")};
    }
    std::string path() const {
        std::string p;
        for (size_t i = 1; i < nodes_.size(); ++i) p += "/" + nodes_[i];
        return p.empty() ? "/" : p;
    }
    std::vector<uint8_t>& buf_;
    std::vector<std::string> nodes_;  // open nodes, root first
};

#define GMM_FDT_TRY(expr)                      \
    do {                                       \
        Status st_ = (expr);                   \
        if (!st_) return Err{st_.error()};     \
    } while (0)

Status validate(const FdtConfig& c) {
    if (c.memory.empty()) return Err{plain_error("device tree: no memory ranges")};
    if (c.vcpus == 0 || c.vcpus > GMM_MAX_VCPUS)
        return Err{plain_error("device tree: vCPU count " + std::to_string(c.vcpus) + " is not in 1.." +
                               std::to_string(GMM_MAX_VCPUS))};
    if (c.tsc_hz == 0) return Err{plain_error("device tree: timebase frequency is 0")};
    if (c.bootargs.find('\0') != std::string::npos) return Err{plain_error("device tree: bootargs contain a NUL byte")};
    if (c.max_size_bytes < 1024 || c.max_size_bytes > (1u << 30))
        return Err{plain_error("device tree: size limit " + std::to_string(c.max_size_bytes) + " bytes is unreasonable")};
    return Ok{};
}

}  // namespace

Result<std::vector<uint8_t>> build_fdt(const FdtConfig& c) {
    GMM_FDT_TRY(validate(c));
    std::vector<uint8_t> buf(c.max_size_bytes, 0);
    FdtWriter w(buf);
    GMM_FDT_TRY(w.create());
    for (const FdtRange& r : c.reserved) GMM_FDT_TRY(w.reserve(r.base.value(), r.size_bytes));
    GMM_FDT_TRY(w.finish_reservemap());

    GMM_FDT_TRY(w.begin_node(""));
    GMM_FDT_TRY(w.u32("#address-cells", 2));
    GMM_FDT_TRY(w.u32("#size-cells", 2));
    GMM_FDT_TRY(w.string("compatible", kFdtCompatible));
    GMM_FDT_TRY(w.string("model", "gmm KVM lab"));

    // /chosen first, /cpus last: the guest walks nodes byte by byte in emulated
    // ring 0, so what it looks up most should come first.
    GMM_FDT_TRY(w.begin_node("chosen"));
    GMM_FDT_TRY(w.string("bootargs", c.bootargs));
    GMM_FDT_TRY(w.u64("gmm,boot-info", c.boot_info_gpa.value()));
    GMM_FDT_TRY(w.u32("gmm,abi-version", c.abi_version));
    GMM_FDT_TRY(w.end_node());

    GMM_FDT_TRY(w.begin_node("memory@" + hex_digits(c.memory.front().base.value())));
    GMM_FDT_TRY(w.string("device_type", "memory"));
    std::vector<uint64_t> reg;
    for (const FdtRange& r : c.memory) {
        reg.push_back(r.base.value());
        reg.push_back(r.size_bytes);
    }
    GMM_FDT_TRY(w.u64_list("reg", reg));
    GMM_FDT_TRY(w.end_node());

    for (const VirtioMmioNode& d : c.virtio) {
        GMM_FDT_TRY(w.begin_node("virtio_mmio@" + hex_digits(d.base.value())));
        GMM_FDT_TRY(w.string("compatible", "virtio,mmio"));
        GMM_FDT_TRY(w.u64_list("reg", {d.base.value(), d.size_bytes}));
        GMM_FDT_TRY(w.u32("interrupts", d.irq));
        if (d.msi_vector != 0) {
            GMM_FDT_TRY(w.u32("gmm,msi-vector", d.msi_vector));
            GMM_FDT_TRY(w.u32("gmm,msi-dest-apic-id", d.msi_dest_apic_id));
        }
        GMM_FDT_TRY(w.end_node());
    }

    GMM_FDT_TRY(w.begin_node("cpus"));
    GMM_FDT_TRY(w.u32("#address-cells", 1));
    GMM_FDT_TRY(w.u32("#size-cells", 0));
    if (c.tsc_hz <= UINT32_MAX) GMM_FDT_TRY(w.u32("timebase-frequency", static_cast<uint32_t>(c.tsc_hz)));
    else GMM_FDT_TRY(w.u64("timebase-frequency", c.tsc_hz));
    for (uint32_t cpu = 0; cpu < c.vcpus; ++cpu) {
        GMM_FDT_TRY(w.begin_node("cpu@" + hex_digits(cpu)));
        GMM_FDT_TRY(w.string("device_type", "cpu"));
        GMM_FDT_TRY(w.u32("reg", cpu));
        GMM_FDT_TRY(w.end_node());
    }
    GMM_FDT_TRY(w.end_node());

    GMM_FDT_TRY(w.end_node());  // root
    GMM_FDT_TRY(w.finish());
    buf.resize(fdt_totalsize(buf.data()));
    return buf;
}

}  // namespace gmm::vmm
