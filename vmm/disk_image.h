// gmm disk images (abi/gmm/abi/disk.h): validating the file table of a
// user-supplied image, creating images filled with page signatures, and
// checking an image's pages against the default pattern. Every error is
// ErrorKind::BadInput with one line naming the image and the problem.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "error.h"
#include "gmm/abi/disk.h"

namespace gmm::vmm {

struct DiskFile {
    std::string name;
    uint64_t offset_bytes = 0, size_bytes = 0;
};

struct DiskLayout {
    uint64_t image_bytes = 0;
    std::vector<DiskFile> files;
};

// Checks a table against an image of image_bytes bytes: magic, version,
// count, names (1..31 of [A-Za-z0-9_.-], NUL-padded, unique), alignment,
// sizes, every file inside the image and after the table, no overlaps.
Result<DiskLayout> validate_disk_table(const gmm_disk_table& table, uint64_t image_bytes);

// Opens `path` read-write and validates it: exists, a regular file, readable
// and writable, a multiple of 512 bytes, holds a table, the table is valid.
// Returns the open fd (caller owns it) and the layout.
struct OpenDisk {
    int fd = -1;
    DiskLayout layout;
};
Result<OpenDisk> open_disk_image(const std::string& path);

// Default image contents.
struct DiskSpec {
    uint32_t files = 8;                   // "file0".."file<N-1>"
    uint64_t file_size_bytes = 8ull << 20; // each; multiple of 4 KiB
};
constexpr uint64_t kDiskMaxFileBytes = 1ull << 30;
// Checks the spec's ranges (files 1..64, size 4 KiB..1 GiB, multiple of 4 KiB).
Status validate_disk_spec(const DiskSpec& spec);
DiskLayout default_disk_layout(const DiskSpec& spec);
// Writes table + every page's signature pattern to `fd` (truncated to size).
Status write_disk_image(int fd, const DiskSpec& spec, const std::string& what);
// Creates `path` (must not exist unless overwrite) with the default contents.
enum class Overwrite { No, Yes };
Status create_disk_image(const std::string& path, const DiskSpec& spec, Overwrite overwrite);
// Creates an unnamed-after-use image in $TMPDIR (default /tmp): returns its
// path; the caller unlinks it (gmm run does so as soon as the VMM opened it).
Result<std::string> create_temp_disk_image(const DiskSpec& spec);

// Page-by-page comparison with the default pattern (what `gmm disk verify` prints).
struct PageDiff {
    uint32_t file_index;
    uint64_t page_index;
    uint32_t first_diff_byte;  // offset within the page of the first differing byte
    uint32_t diff_bytes;       // bytes that differ
    bool signature_ok;         // the first 32 bytes still carry the page's signature
};
struct VerifyReport {
    DiskLayout layout;
    uint64_t pages_checked = 0;
    std::vector<PageDiff> diffs;  // every differing page, in file/page order
};
Result<VerifyReport> verify_disk_image(const std::string& path);

}  // namespace gmm::vmm
