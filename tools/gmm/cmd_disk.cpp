// gmm disk: create, check and verify disk images (docs/virtio-blk.md).
//   gmm disk create FILE [--files N] [--file-size SIZE] [--force]
//   gmm disk check FILE [--json OUT]     validate the table and print it
//   gmm disk verify FILE [--json OUT]    also compare every page with its default pattern
#include <getopt.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "commands.h"
#include "disk_image.h"
#include "json_writer.h"
#include "size_parse.h"

namespace gmm::cli {

namespace {

void print_disk_help(FILE* out) {
    std::fprintf(out,
                 "usage: gmm disk create FILE [--files N] [--file-size SIZE] [--force]\n"
                 "       gmm disk check FILE [--json OUT]\n"
                 "       gmm disk verify FILE [--json OUT]\n"
                 "Disk images for the virtio-blk device (docs/virtio-blk.md).\n\n"
                 "  create   write a file table and N files file0..file<N-1> (default 8 x 8M) whose every\n"
                 "           4 KiB page carries its signature and pattern; --force overwrites FILE\n"
                 "  check    validate the table and print it\n"
                 "  verify   check, then compare every page of every file with its default content and\n"
                 "           list the pages that differ (file, page, first differing byte, bytes differing,\n"
                 "           whether the 32-byte signature is intact)\n"
                 "  --json OUT  also write the result as JSON to OUT ('-' for stdout)\n\n"
                 "exit codes: 0 ok (verify: every page is default), 3 verify found differing pages,\n"
                 "2 usage error or bad image, 1 host failure\n");
}

int usage(const std::string& m) {
    std::fprintf(stderr, "gmm disk: %s\n", m.c_str());
    return kExitUsage;
}

int fail(const vmm::Error& e) {
    std::fprintf(stderr, "gmm disk: %s\n", e.message().c_str());
    return e.kind == vmm::ErrorKind::BadInput ? kExitUsage : kExitHostError;
}

void table_json(vmm::JsonWriter& j, const vmm::DiskLayout& l) {
    j.key("image_bytes"); j.u64(l.image_bytes);
    j.key("files"); j.begin_array();
    for (const auto& f : l.files) {
        j.begin_object();
        j.key("name"); j.string(f.name);
        j.key("offset_bytes"); j.u64(f.offset_bytes);
        j.key("size_bytes"); j.u64(f.size_bytes);
        j.end_object();
    }
    j.end_array();
}

void table_text(const std::string& path, const vmm::DiskLayout& l) {
    std::printf("%s: %llu bytes, %zu files\n", path.c_str(), static_cast<unsigned long long>(l.image_bytes), l.files.size());
    std::printf("%-5s %-31s %14s %14s\n", "index", "name", "offset_bytes", "size_bytes");
    for (size_t i = 0; i < l.files.size(); ++i)
        std::printf("%-5zu %-31s %14llu %14llu\n", i, l.files[i].name.c_str(),
                    static_cast<unsigned long long>(l.files[i].offset_bytes),
                    static_cast<unsigned long long>(l.files[i].size_bytes));
}

int cmd_create(int argc, char** argv) {
    vmm::DiskSpec spec;
    bool force = false;
    enum { kFiles = 1000, kFileSize, kForce };
    static const option opts[] = {{"files", required_argument, nullptr, kFiles},
                                  {"file-size", required_argument, nullptr, kFileSize},
                                  {"force", no_argument, nullptr, kForce},
                                  {"help", no_argument, nullptr, 'h'},
                                  {nullptr, 0, nullptr, 0}};
    opterr = 0;
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, ":h", opts, nullptr)) != -1;) {
        switch (c) {
            case kFiles: {
                auto v = vmm::parse_u64(optarg, 1, GMM_DISK_MAX_FILES, "--files");
                if (!v) return usage(v.error().message());
                spec.files = uint32_t(*v);
                break;
            }
            case kFileSize: {
                auto v = vmm::parse_mem_size_bytes(optarg);
                if (!v || *v % GMM_DISK_PAGE_BYTES != 0 || *v > vmm::kDiskMaxFileBytes)
                    return usage(std::string("--file-size ") + optarg + " is not accepted (a multiple of 4K up to 1G)");
                spec.file_size_bytes = *v;
                break;
            }
            case kForce: force = true; break;
            case 'h': print_disk_help(stdout); return kExitOk;
            case ':': return usage(std::string("option ") + argv[optind - 1] + " needs a value");
            default: return usage(std::string("unknown option '") + argv[optind - 1] + "' (see gmm disk --help)");
        }
    }
    if (optind + 1 != argc) return usage("create needs exactly one FILE (see gmm disk --help)");
    const std::string path = argv[optind];
    if (Status st = vmm::create_disk_image(path, spec, force ? vmm::Overwrite::Yes : vmm::Overwrite::No); !st)
        return fail(st.error());
    table_text(path, vmm::default_disk_layout(spec));
    return kExitOk;
}

int cmd_check_or_verify(int argc, char** argv, bool verify) {
    std::string json_path;
    static const option opts[] = {{"json", required_argument, nullptr, 'j'}, {"help", no_argument, nullptr, 'h'},
                                  {nullptr, 0, nullptr, 0}};
    opterr = 0;
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, ":h", opts, nullptr)) != -1;) {
        if (c == 'j') json_path = optarg;
        else if (c == 'h') { print_disk_help(stdout); return kExitOk; }
        else if (c == ':') return usage(std::string("option ") + argv[optind - 1] + " needs a value");
        else return usage(std::string("unknown option '") + argv[optind - 1] + "' (see gmm disk --help)");
    }
    if (optind + 1 != argc) return usage(std::string(verify ? "verify" : "check") + " needs exactly one FILE");
    const std::string path = argv[optind];
    vmm::VerifyReport r;
    if (verify) {
        auto v = vmm::verify_disk_image(path);
        if (!v) return fail(v.error());
        r = std::move(*v);
    } else {
        auto d = vmm::open_disk_image(path);
        if (!d) return fail(d.error());
        close(d->fd);
        r.layout = d->layout;
    }
    if (!json_path.empty()) {
        vmm::JsonWriter j(vmm::JsonStyle::Pretty);
        j.begin_object();
        j.key("image"); j.string(path);
        table_json(j, r.layout);
        if (verify) {
            j.key("pages_checked"); j.u64(r.pages_checked);
            j.key("differing_pages"); j.begin_array();
            for (const auto& d : r.diffs) {
                j.begin_object();
                j.key("file"); j.string(r.layout.files[d.file_index].name);
                j.key("file_index"); j.u64(d.file_index);
                j.key("page"); j.u64(d.page_index);
                j.key("first_diff_byte"); j.u64(d.first_diff_byte);
                j.key("diff_bytes"); j.u64(d.diff_bytes);
                j.key("signature_ok"); j.boolean(d.signature_ok);
                j.end_object();
            }
            j.end_array();
        }
        j.end_object();
        if (json_path == "-") {
            std::fputs((j.str() + "\n").c_str(), stdout);
        } else {
            std::ofstream out(json_path);
            out << j.str() << "\n";
            if (!out) return usage("--json " + json_path + ": cannot write the file");
        }
    }
    if (json_path != "-") {
        table_text(path, r.layout);
        if (verify) {
            for (const auto& d : r.diffs)
                std::printf("differs: file %s page %llu first_diff_byte %u diff_bytes %u signature %s\n",
                            r.layout.files[d.file_index].name.c_str(), static_cast<unsigned long long>(d.page_index),
                            d.first_diff_byte, d.diff_bytes, d.signature_ok ? "ok" : "bad");
            std::printf("pages checked %llu, differing %zu\n", static_cast<unsigned long long>(r.pages_checked),
                        r.diffs.size());
        }
    }
    return verify && !r.diffs.empty() ? kExitDiskDiffers : kExitOk;
}

}  // namespace

int cmd_disk(int argc, char** argv) {
    if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
        print_disk_help(argc < 2 ? stderr : stdout);
        return argc < 2 ? kExitUsage : kExitOk;
    }
    const std::string sub = argv[1];
    if (sub == "create") return cmd_create(argc - 1, argv + 1);
    if (sub == "check") return cmd_check_or_verify(argc - 1, argv + 1, false);
    if (sub == "verify") return cmd_check_or_verify(argc - 1, argv + 1, true);
    return usage("unknown subcommand '" + sub + "' (accepted: create, check, verify)");
}

}  // namespace gmm::cli
