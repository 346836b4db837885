// KVM binary statistics (KVM_GET_STATS_FD on a VM or vCPU; see the kernel's
// Documentation/virt/kvm/api.rst "KVM_GET_STATS_FD"). The header and the
// descriptors are parsed once and checked against the bytes actually there;
// values are re-read with pread on every call.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "error.h"
#include "kvm.h"

namespace gmm::vmm {

enum class KvmStatType { Cumulative, Instant, Peak, LinearHistogram, LogHistogram, Unknown };

struct KvmStatDescriptor {
    std::string name;
    KvmStatType type;
    uint32_t flags;         // raw: type | unit | base
    int16_t exponent;
    uint16_t size;          // number of u64 values
    uint32_t offset_bytes;  // from the start of the data block
    // A single u64 counter or gauge (what read() and read_all() return).
    bool is_scalar() const {
        return size == 1 && (type == KvmStatType::Cumulative || type == KvmStatType::Instant || type == KvmStatType::Peak);
    }
};

struct KvmStatsLayout {
    std::string id;                 // e.g. "kvm-1234/vcpu-0"
    uint32_t data_offset = 0;       // of the data block in the file
    uint64_t data_size_bytes = 0;   // covers every descriptor's values
    std::vector<KvmStatDescriptor> descriptors;
};

// Limits against corrupt or hostile headers.
constexpr uint32_t kKvmStatsMaxNameBytes = 4096;
constexpr uint32_t kKvmStatsMaxDescriptors = 65536;
constexpr uint64_t kKvmStatsMaxDataBytes = 16ull << 20;
constexpr uint64_t kKvmStatsMaxLayoutBytes = 16ull << 20;  // header + id + descriptors

// Parses a stats file's beginning: `file` must hold at least the header, the id
// and the descriptor table (as read from offset 0).
Result<KvmStatsLayout> parse_kvm_stats_layout(std::span<const uint8_t> file);

// Scalar values from a data block (`data` starts at data_offset); histogram and
// unknown types are skipped.
Result<std::map<std::string, uint64_t>> extract_kvm_stats(const KvmStatsLayout& layout, std::span<const uint8_t> data);

class KvmStatsReader {
public:
    // Takes ownership of `stats_fd` (closed even when parsing fails).
    static Result<KvmStatsReader> open(int stats_fd);

    Result<std::map<std::string, uint64_t>> read_all() const;
    Result<uint64_t> read(std::string_view name) const;
    const KvmStatsLayout& layout() const { return layout_; }

private:
    KvmStatsReader(Fd fd, KvmStatsLayout layout) : fd_(std::move(fd)), layout_(std::move(layout)) {}
    Fd fd_;
    KvmStatsLayout layout_;
};

}  // namespace gmm::vmm
