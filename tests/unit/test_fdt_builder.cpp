// Device tree: build, then read every property back with libfdt's read-only API.
#include <catch2/catch.hpp>

#include <libfdt.h>

#include <cstring>

#include "fdt_builder.h"

using namespace gmm;
using namespace gmm::vmm;

namespace {

FdtConfig sample_config() {
    FdtConfig c;
    c.memory = {{Gpa(0), 3ull << 30}, {Gpa(4ull << 30), 1ull << 30}};
    c.vcpus = 3;
    c.tsc_hz = 2'100'000'000;
    c.bootargs = "workload=hello count=3";
    c.boot_info_gpa = Gpa(0x1000);
    c.reserved = {{Gpa(0), 0x345000}};
    return c;
}

std::vector<uint64_t> be64_list(const void* fdt, int node, const char* name) {
    int len = 0;
    const void* p = fdt_getprop(fdt, node, name, &len);
    REQUIRE(p != nullptr);
    REQUIRE(len % 8 == 0);
    std::vector<uint64_t> out;
    for (int i = 0; i < len; i += 8) {
        fdt64_t v;
        std::memcpy(&v, static_cast<const uint8_t*>(p) + i, 8);
        out.push_back(fdt64_to_cpu(v));
    }
    return out;
}

uint32_t be32(const void* fdt, int node, const char* name) {
    int len = 0;
    const void* p = fdt_getprop(fdt, node, name, &len);
    REQUIRE(p != nullptr);
    REQUIRE(len == 4);
    fdt32_t v;
    std::memcpy(&v, p, 4);
    return fdt32_to_cpu(v);
}

std::string str(const void* fdt, int node, const char* name) {
    int len = 0;
    const char* p = static_cast<const char*>(fdt_getprop(fdt, node, name, &len));
    REQUIRE(p != nullptr);
    REQUIRE(len >= 1);
    REQUIRE(p[len - 1] == '\0');
    return std::string(p, static_cast<size_t>(len - 1));
}

int node(const void* fdt, const char* path) {
    const int off = fdt_path_offset(fdt, path);
    INFO(path);
    REQUIRE(off >= 0);
    return off;
}

}  // namespace

TEST_CASE("device tree round trip: every property reads back", "[fdt]") {
    auto blob = build_fdt(sample_config());
    REQUIRE(blob.ok());
    const void* fdt = blob->data();
    REQUIRE(fdt_check_header(fdt) == 0);
    CHECK(fdt_totalsize(fdt) == blob->size());
    CHECK(blob->size() < 64 * 1024);

    const int root = node(fdt, "/");
    CHECK(be32(fdt, root, "#address-cells") == 2);
    CHECK(be32(fdt, root, "#size-cells") == 2);
    CHECK(str(fdt, root, "compatible") == "gmm,virt");

    const int memory = node(fdt, "/memory@0");
    CHECK(str(fdt, memory, "device_type") == "memory");
    CHECK(be64_list(fdt, memory, "reg") == std::vector<uint64_t>{0, 3ull << 30, 4ull << 30, 1ull << 30});

    const int cpus = node(fdt, "/cpus");
    CHECK(be32(fdt, cpus, "#address-cells") == 1);
    CHECK(be32(fdt, cpus, "#size-cells") == 0);
    CHECK(be32(fdt, cpus, "timebase-frequency") == 2'100'000'000u);
    for (uint32_t i = 0; i < 3; ++i) {
        const std::string path = "/cpus/cpu@" + std::to_string(i);
        const int cpu = node(fdt, path.c_str());
        CHECK(be32(fdt, cpu, "reg") == i);
        CHECK(str(fdt, cpu, "device_type") == "cpu");
    }
    CHECK(fdt_path_offset(fdt, "/cpus/cpu@3") == -FDT_ERR_NOTFOUND);

    const int chosen = node(fdt, "/chosen");
    CHECK(str(fdt, chosen, "bootargs") == "workload=hello count=3");
    CHECK(be64_list(fdt, chosen, "gmm,boot-info") == std::vector<uint64_t>{0x1000});
    CHECK(be32(fdt, chosen, "gmm,abi-version") == GMM_ABI_VERSION);

    REQUIRE(fdt_num_mem_rsv(fdt) == 1);
    uint64_t addr = 1, size = 0;
    REQUIRE(fdt_get_mem_rsv(fdt, 0, &addr, &size) == 0);
    CHECK(addr == 0);
    CHECK(size == 0x345000);
    CHECK(fdt_node_offset_by_compatible(fdt, -1, "virtio,mmio") == -FDT_ERR_NOTFOUND);
}

TEST_CASE("device tree lists virtio-mmio devices with reg and interrupts", "[fdt]") {
    FdtConfig c = sample_config();
    c.virtio = {{Gpa(0xd0000000), 0x200, 5}, {Gpa(0xd0000200), 0x200, 6}};
    auto blob = build_fdt(c);
    REQUIRE(blob.ok());
    const void* fdt = blob->data();
    const int dev = node(fdt, "/virtio_mmio@d0000200");
    CHECK(str(fdt, dev, "compatible") == "virtio,mmio");
    CHECK(be64_list(fdt, dev, "reg") == std::vector<uint64_t>{0xd0000200, 0x200});
    CHECK(be32(fdt, dev, "interrupts") == 6);
    CHECK(fdt_node_offset_by_compatible(fdt, -1, "virtio,mmio") == node(fdt, "/virtio_mmio@d0000000"));
}

TEST_CASE("device tree puts /chosen first and /cpus last (guest lookups are linear)", "[fdt]") {
    FdtConfig c = sample_config();
    c.virtio = {{Gpa(0xd0000000), 0x200, 5}};
    auto blob = build_fdt(c);
    REQUIRE(blob.ok());
    const void* fdt = blob->data();
    std::vector<std::string> names;
    for (int n = fdt_first_subnode(fdt, 0); n >= 0; n = fdt_next_subnode(fdt, n)) names.push_back(fdt_get_name(fdt, n, nullptr));
    CHECK(names == std::vector<std::string>{"chosen", "memory@0", "virtio_mmio@d0000000", "cpus"});
}

TEST_CASE("device tree writes a timebase above 4 GHz as u64", "[fdt]") {
    FdtConfig c = sample_config();
    c.tsc_hz = 5'000'000'000ull;
    auto blob = build_fdt(c);
    REQUIRE(blob.ok());
    CHECK(be64_list(blob->data(), node(blob->data(), "/cpus"), "timebase-frequency") ==
          std::vector<uint64_t>{5'000'000'000ull});
}

TEST_CASE("device tree reports libfdt's error with the call and node when out of space", "[fdt]") {
    FdtConfig c = sample_config();
    c.vcpus = GMM_MAX_VCPUS;
    c.max_size_bytes = 2048;
    auto blob = build_fdt(c);
    REQUIRE_FALSE(blob.ok());
    const std::string what = blob.error().what;
    CHECK(what.find("FDT_ERR_NOSPACE") != std::string::npos);
    CHECK(what.find("fdt_") != std::string::npos);
    CHECK(what.find("/cpus") != std::string::npos);
    CHECK_FALSE(blob.error().advice.empty());
}

TEST_CASE("device tree rejects an invalid configuration", "[fdt]") {
    FdtConfig c = sample_config();
    c.vcpus = 0;
    CHECK_FALSE(build_fdt(c).ok());
    c = sample_config();
    c.memory.clear();
    CHECK_FALSE(build_fdt(c).ok());
    c = sample_config();
    c.bootargs.push_back('\0');
    CHECK_FALSE(build_fdt(c).ok());
    c = sample_config();
    c.tsc_hz = 0;
    CHECK_FALSE(build_fdt(c).ok());
}
