#include "kvm_stats.h"

#include <linux/kvm.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace gmm::vmm {

namespace {

struct StatsHeader {  // struct kvm_stats_header
    uint32_t flags, name_size, num_desc, id_offset, desc_offset, data_offset;
};
struct StatsDescFixed {  // struct kvm_stats_desc without the name
    uint32_t flags;
    int16_t exponent;
    uint16_t size;
    uint32_t offset;
    uint32_t bucket_size;
};
static_assert(sizeof(StatsHeader) == sizeof(kvm_stats_header));
// Not sizeof(kvm_stats_desc): in C++ its flexible-array macro adds an empty
// struct, moving `name` to offset 17. The kernel ABI has it at 16.
static_assert(sizeof(StatsDescFixed) == 16);

Error corrupt(const std::string& what) { return plain_error("KVM stats: " + what, "the kernel's stats layout is unexpected"); }

KvmStatType type_of(uint32_t flags) {
    switch (flags & KVM_STATS_TYPE_MASK) {
        case KVM_STATS_TYPE_CUMULATIVE: return KvmStatType::Cumulative;
        case KVM_STATS_TYPE_INSTANT: return KvmStatType::Instant;
        case KVM_STATS_TYPE_PEAK: return KvmStatType::Peak;
        case KVM_STATS_TYPE_LINEAR_HIST: return KvmStatType::LinearHistogram;
        case KVM_STATS_TYPE_LOG_HIST: return KvmStatType::LogHistogram;
        default: return KvmStatType::Unknown;
    }
}

// A NUL-terminated, non-empty string inside [p, p + max).
bool read_name(const uint8_t* p, uint32_t max, std::string& out) {
    const void* nul = std::memchr(p, 0, max);
    if (!nul || nul == p) return false;
    out.assign(reinterpret_cast<const char*>(p), static_cast<const uint8_t*>(nul) - p);
    return true;
}

// Bytes needed from offset 0 to cover header, id and descriptor table; checks the header.
Result<uint64_t> layout_bytes(const StatsHeader& h) {
    if (h.name_size == 0 || h.name_size > kKvmStatsMaxNameBytes)
        return Err{corrupt("name size " + std::to_string(h.name_size) + " is not in 1.." +
                           std::to_string(kKvmStatsMaxNameBytes))};
    if (h.num_desc > kKvmStatsMaxDescriptors)
        return Err{corrupt("descriptor count " + std::to_string(h.num_desc) + " is absurd")};
    const uint64_t table = uint64_t{h.num_desc} * (sizeof(StatsDescFixed) + h.name_size);  // < 2^45: no overflow
    const uint64_t end = std::max(uint64_t{h.id_offset} + h.name_size, uint64_t{h.desc_offset} + table);
    if (end > kKvmStatsMaxLayoutBytes)
        return Err{corrupt("id and descriptors would end at byte " + std::to_string(end) + ", absurd")};
    return std::max<uint64_t>(end, sizeof(StatsHeader));
}

bool pread_all(int fd, uint8_t* buf, uint64_t size, uint64_t offset, int& err) {
    uint64_t done = 0;
    while (done < size) {
        const ssize_t n = ::pread(fd, buf + done, size - done, static_cast<off_t>(offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            err = n < 0 ? errno : 0;
            return false;
        }
        done += static_cast<uint64_t>(n);
    }
    return true;
}

}  // namespace

Result<KvmStatsLayout> parse_kvm_stats_layout(std::span<const uint8_t> file) {
    if (file.size() < sizeof(StatsHeader))
        return Err{corrupt("only " + std::to_string(file.size()) + " bytes, shorter than the header")};
    StatsHeader h;
    std::memcpy(&h, file.data(), sizeof h);
    auto need = layout_bytes(h);
    if (!need) return Err{need.error()};
    if (*need > file.size())
        return Err{corrupt("id or descriptors (up to byte " + std::to_string(*need) + ") lie beyond the " +
                           std::to_string(file.size()) + " bytes available")};
    KvmStatsLayout out;
    out.data_offset = h.data_offset;
    if (!read_name(file.data() + h.id_offset, h.name_size, out.id)) return Err{corrupt("id string is not terminated")};
    const uint64_t stride = sizeof(StatsDescFixed) + h.name_size;
    for (uint32_t i = 0; i < h.num_desc; ++i) {
        const uint8_t* p = file.data() + h.desc_offset + i * stride;
        StatsDescFixed d;
        std::memcpy(&d, p, sizeof d);
        KvmStatDescriptor desc{{}, type_of(d.flags), d.flags, d.exponent, d.size, d.offset};
        if (!read_name(p + sizeof d, h.name_size, desc.name))
            return Err{corrupt("descriptor " + std::to_string(i) + ": name is empty or not terminated")};
        const uint64_t end = uint64_t{d.offset} + uint64_t{d.size} * 8;
        if (end > kKvmStatsMaxDataBytes)
            return Err{corrupt("\"" + desc.name + "\": values end at data byte " + std::to_string(end) + ", absurd")};
        out.data_size_bytes = std::max(out.data_size_bytes, end);
        const bool duplicate = std::any_of(out.descriptors.begin(), out.descriptors.end(),
                                           [&](const KvmStatDescriptor& o) { return o.name == desc.name; });
        if (duplicate) return Err{corrupt("\"" + desc.name + "\" is described twice")};
        out.descriptors.push_back(std::move(desc));
    }
    return out;
}

Result<std::map<std::string, uint64_t>> extract_kvm_stats(const KvmStatsLayout& layout,
                                                         std::span<const uint8_t> data) {
    if (data.size() < layout.data_size_bytes)
        return Err{corrupt("data block is " + std::to_string(data.size()) + " bytes, descriptors need " +
                           std::to_string(layout.data_size_bytes))};
    std::map<std::string, uint64_t> values;
    for (const KvmStatDescriptor& d : layout.descriptors) {
        if (!d.is_scalar()) continue;
        uint64_t v;
        std::memcpy(&v, data.data() + d.offset_bytes, sizeof v);
        values.emplace(d.name, v);
    }
    return values;
}

Result<KvmStatsReader> KvmStatsReader::open(int stats_fd) {
    Fd fd(stats_fd);
    if (!fd.valid()) return Err{plain_error("KVM stats: invalid file descriptor")};
    StatsHeader h;
    int err = 0;
    if (!pread_all(fd.get(), reinterpret_cast<uint8_t*>(&h), sizeof h, 0, err))
        return Err{err ? sys_error("read KVM stats header", err) : corrupt("file shorter than the header")};
    auto need = layout_bytes(h);
    if (!need) return Err{need.error()};
    std::vector<uint8_t> bytes(*need);
    if (!pread_all(fd.get(), bytes.data(), bytes.size(), 0, err))
        return Err{err ? sys_error("read KVM stats descriptors", err) : corrupt("file ends inside the descriptors")};
    auto layout = parse_kvm_stats_layout(bytes);
    if (!layout) return Err{layout.error()};
    return KvmStatsReader(std::move(fd), std::move(*layout));
}

Result<std::map<std::string, uint64_t>> KvmStatsReader::read_all() const {
    std::vector<uint8_t> data(layout_.data_size_bytes);
    int err = 0;
    if (!data.empty() && !pread_all(fd_.get(), data.data(), data.size(), layout_.data_offset, err))
        return Err{err ? sys_error("read KVM stats data", err) : corrupt("file ends inside the data block")};
    return extract_kvm_stats(layout_, data);
}

Result<uint64_t> KvmStatsReader::read(std::string_view name) const {
    for (const KvmStatDescriptor& d : layout_.descriptors) {
        if (d.name != name) continue;
        if (!d.is_scalar()) return Err{plain_error("KVM stat \"" + d.name + "\" is not a single counter")};
        uint64_t v = 0;
        int err = 0;
        if (!pread_all(fd_.get(), reinterpret_cast<uint8_t*>(&v), sizeof v, uint64_t{layout_.data_offset} + d.offset_bytes, err))
            return Err{err ? sys_error("read KVM stat " + d.name, err) : corrupt("file ends inside \"" + d.name + "\"")};
        return v;
    }
    return Err{plain_error("KVM stat \"" + std::string(name) + "\" does not exist in " + layout_.id,
                           "this kernel may not provide it")};
}

}  // namespace gmm::vmm
