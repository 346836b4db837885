// The disk options shared by `gmm run` and `gmm storm` (--disk, --disk-files,
// --disk-file-size, --disk-latency-us) and what they turn into: the image
// path the VMM opens, created in $TMPDIR when none was given (and unlinked as
// soon as the VMM holds it open). docs/virtio-blk.md.
#pragma once

#include <cstdint>
#include <string>

#include "disk_image.h"

namespace gmm::cli {

struct DiskOptions {
    std::string path;          // --disk FILE; "none" = no device; empty = a temporary default image
    vmm::DiskSpec spec;        // --disk-files / --disk-file-size (temporary image only)
    bool spec_given = false;
    uint32_t latency_us = 0;   // --disk-latency-us
};

constexpr uint32_t kMaxDiskLatencyUs = 1000000;  // 1 s

// getopt long-option values for the disk options.
enum DiskOptionId { kOptDisk = 1900, kOptDiskFiles, kOptDiskFileSize, kOptDiskLatencyUs };
#define GMM_DISK_LONG_OPTIONS                                                        \
    {"disk", required_argument, nullptr, gmm::cli::kOptDisk},                        \
        {"disk-files", required_argument, nullptr, gmm::cli::kOptDiskFiles},         \
        {"disk-file-size", required_argument, nullptr, gmm::cli::kOptDiskFileSize},  \
        {"disk-latency-us", required_argument, nullptr, gmm::cli::kOptDiskLatencyUs}

// Handles one of the options above; returns false with a one-line message on bad input.
bool parse_disk_option(int id, const char* arg, DiskOptions& out, std::string& error);
// Cross-option checks and validation of --disk FILE (exists, table valid).
bool check_disk_options(const DiskOptions& o, std::string& error);
// Help lines for the options.
const char* disk_options_help();

// The image for this run: the user's file, or a fresh temporary one
// (temporary = true: the caller unlinks it once the VMM opened it). Empty path = no disk.
struct DiskForRun {
    std::string path;
    bool temporary = false;
};
vmm::Result<DiskForRun> prepare_disk(const DiskOptions& o);

}  // namespace gmm::cli
