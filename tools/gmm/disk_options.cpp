#include "disk_options.h"

#include <getopt.h>
#include <unistd.h>

#include "size_parse.h"

namespace gmm::cli {

bool parse_disk_option(int id, const char* arg, DiskOptions& o, std::string& error) {
    switch (id) {
        case kOptDisk:
            if (!arg || !*arg) {
                error = "--disk needs a file name (or 'none')";
                return false;
            }
            o.path = arg;
            return true;
        case kOptDiskFiles: {
            auto v = vmm::parse_u64(arg, 1, GMM_DISK_MAX_FILES, "--disk-files");
            if (!v) {
                error = v.error().message();
                return false;
            }
            o.spec.files = uint32_t(*v);
            o.spec_given = true;
            return true;
        }
        case kOptDiskFileSize: {
            auto v = vmm::parse_mem_size_bytes(arg);
            if (!v || *v % GMM_DISK_PAGE_BYTES != 0 || *v > vmm::kDiskMaxFileBytes) {
                error = std::string("--disk-file-size ") + arg +
                        " is not accepted (a multiple of 4K up to 1G; K/M/G suffix, MiB if bare)";
                return false;
            }
            o.spec.file_size_bytes = *v;
            o.spec_given = true;
            return true;
        }
        case kOptDiskLatencyUs: {
            auto v = vmm::parse_u64(arg, 0, kMaxDiskLatencyUs, "--disk-latency-us");
            if (!v) {
                error = v.error().message();
                return false;
            }
            o.latency_us = uint32_t(*v);
            return true;
        }
    }
    error = "internal: not a disk option";
    return false;
}

bool check_disk_options(const DiskOptions& o, std::string& error) {
    if (o.spec_given && !o.path.empty()) {
        error = "--disk-files/--disk-file-size describe the temporary image; they cannot be combined with --disk " + o.path;
        return false;
    }
    if (o.path == "none") {
        if (o.latency_us) {
            error = "--disk-latency-us needs a disk (not --disk none)";
            return false;
        }
        return true;
    }
    if (!o.path.empty()) {
        auto d = vmm::open_disk_image(o.path);
        if (!d) {
            error = d.error().message();
            return false;
        }
        close(d->fd);
    }
    return true;
}

const char* disk_options_help() {
    return "      --disk FILE       disk image for the virtio-blk device (gmm disk create); 'none': no disk\n"
           "                        (default: a temporary image in $TMPDIR, deleted at exit)\n"
           "      --disk-files N    files in the temporary image, file0..file<N-1> (default 8; 1..64)\n"
           "      --disk-file-size SIZE  size of each (default 8M; multiple of 4K, up to 1G)\n"
           "      --disk-latency-us N    added to every disk request's completion (0..1000000, default 0)\n";
}

vmm::Result<DiskForRun> prepare_disk(const DiskOptions& o) {
    if (o.path == "none") return DiskForRun{};
    if (!o.path.empty()) return DiskForRun{o.path, false};
    auto tmp = vmm::create_temp_disk_image(o.spec);
    if (!tmp) return Err{tmp.error()};
    return DiskForRun{*tmp, true};
}

}  // namespace gmm::cli
