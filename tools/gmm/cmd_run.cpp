// gmm run: boot the guest kernel on N vCPUs, run one workload, report.
#include <getopt.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "commands.h"
#include "control_protocol.h"  // validate_vm_name (issue 6)
#include "gmm/abi/boot.h"
#include "machine.h"
#include "mm_policy.h"
#include "check_runner.h"
#include "run_report.h"
#include "size_parse.h"
#include "workloads.h"

namespace gmm::cli {

namespace {

constexpr uint64_t kDefaultTimeoutSec = 60;
constexpr uint64_t kMaxTimeoutSec = 24 * 3600;
constexpr uint64_t kMaxMemBytes = 64ull << 30;  // the boot page-table area covers this much

void print_run_help(FILE* out) {
    std::fprintf(out,
                 "usage: gmm run [OPTIONS]\n"
                 "Boot the gmm guest kernel on N vCPUs and run one workload.\n\n"
                 "  -c, --vcpus N         vCPUs (default 2; 1..%u)\n"
                 "  -m, --mem SIZE        guest RAM, K/M/G suffix, MiB if bare, multiple of 2 MiB (default 256)\n"
                 "  -w, --workload NAME   %s (default boot)\n"
                 "  -p, --param KEY=VALUE workload parameter (repeatable)\n"
                 "      --kernel ELF      guest kernel (default: the built one)\n"
                 "      --user-image ELF  guest user runtime (default: the built one)\n"
                 "      --timeout SEC     stop the guest after SEC seconds (default %llu)\n"
                 "      --json FILE       write the run report as JSON ('-' for stdout)\n"
                 "      --name NAME       name of this VM (default gmm-PID)\n"
                 "      --dump-dtb FILE   write the device tree blob given to the guest\n"
                 "      --mm POLICY       memory manager of the user address space (mm workloads):\n"
                 "                        global | extents[,placement=leaf|hier][,freecache=global|percpu]\n"
                 "                        (default extents = extents,placement=leaf,freecache=global)\n"
                 "      --check[=MODE]    run the invariant checker during the run (mm workloads):\n"
                 "                        MODE safepoint (default) or async; exit code 12 on a violation\n"
                 "      --check-interval MS  time between checks (default 100)\n"
                 "      --free-frames HOW how the VMM returns freed guest frames to zero: zero (clear them\n"
                 "                        through its mapping; the default) or punch (holes in the RAM memfd:\n"
                 "                        gives host memory back, costs host TLB-shootdown IPIs; README)\n"
                 "%s"
                 "  -q, --quiet           print only the summary line\n"
                 "  -h, --help            this text\n\n"
                 "workloads:\n",
                 GMM_MAX_VCPUS, workload_names().c_str(), static_cast<unsigned long long>(kDefaultTimeoutSec),
                 disk_options_help());
    for (const WorkloadSpec& w : workloads()) {
        std::fprintf(out, "  %-10s %s\n", w.name, w.help);
        for (const ParamSpec& p : w.params)
            std::fprintf(out, "  %-10s   %s=... %s (default %s)\n", "", p.key, p.help, p.default_value);
    }
    std::fprintf(out, "  every workload:\n");
    for (const ParamSpec& p : global_params())
        std::fprintf(out, "  %-10s   %s=... %s (default %s)\n", "", p.key, p.help, p.default_value);
    std::fprintf(out,
                 "\nexit codes: 0 ok, 2 usage or bad input, 4 no usable /dev/kvm, 10 guest assertion or\n"
                 "exception, 12 invariant violation (--check), 1 host failure, 124 timeout\n");
}

int usage_error(const std::string& message) {
    std::fprintf(stderr, "gmm run: %s\n", message.c_str());
    return kExitUsage;
}

bool file_readable(const std::string& path) { return access(path.c_str(), R_OK) == 0; }

}  // namespace

int cmd_run(int argc, char** argv) {
    RunOptions opt;
    opt.kernel_path = GMM_DEFAULT_KERNEL;
    opt.user_image_path = GMM_DEFAULT_USER_IMAGE;
    opt.name = "gmm-" + std::to_string(getpid());
    std::string workload_name = "boot";
    std::vector<std::string> assignments;
    uint64_t timeout_sec = kDefaultTimeoutSec;

    enum { kKernel = 1000, kUserImage, kTimeout, kJson, kName, kDumpDtb, kMm, kCheck, kCheckInterval, kFreeFrames };
    std::string mm_text;
    static const option long_opts[] = {
        {"vcpus", required_argument, nullptr, 'c'},   {"mem", required_argument, nullptr, 'm'},
        {"workload", required_argument, nullptr, 'w'}, {"param", required_argument, nullptr, 'p'},
        {"kernel", required_argument, nullptr, kKernel}, {"user-image", required_argument, nullptr, kUserImage},
        {"timeout", required_argument, nullptr, kTimeout}, {"json", required_argument, nullptr, kJson},
        {"name", required_argument, nullptr, kName},   {"dump-dtb", required_argument, nullptr, kDumpDtb},
        {"mm", required_argument, nullptr, kMm},
        {"check", optional_argument, nullptr, kCheck}, {"check-interval", required_argument, nullptr, kCheckInterval},
        {"quiet", no_argument, nullptr, 'q'},          {"help", no_argument, nullptr, 'h'},
        {"free-frames", required_argument, nullptr, kFreeFrames},
        GMM_DISK_LONG_OPTIONS,
        {nullptr, 0, nullptr, 0},
    };
    opterr = 0;
    optind = 1;
    for (;;) {
        int idx = 0;
        const int c = getopt_long(argc, argv, ":c:m:w:p:qh", long_opts, &idx);
        if (c == -1) break;
        switch (c) {
            case 'c': {
                auto v = vmm::parse_u64(optarg, 1, GMM_MAX_VCPUS, "--vcpus");
                if (!v) return usage_error(v.error().message());
                opt.vcpus = static_cast<uint32_t>(*v);
                break;
            }
            case 'm': {
                auto v = vmm::parse_mem_size_bytes(optarg);
                if (!v) return usage_error("--mem: " + v.error().message());
                opt.mem_bytes = *v;
                break;
            }
            case 'w': workload_name = optarg; break;
            case 'p': assignments.push_back(optarg); break;
            case kKernel: opt.kernel_path = optarg; break;
            case kUserImage: opt.user_image_path = optarg; break;
            case kTimeout: {
                auto v = vmm::parse_u64(optarg, 1, kMaxTimeoutSec, "--timeout");
                if (!v) return usage_error(v.error().message());
                timeout_sec = *v;
                break;
            }
            case kJson: opt.json_path = optarg; break;
            case kName: {
                opt.name = optarg;
                if (auto st = vmm::validate_vm_name(opt.name); !st) return usage_error("--name: " + st.error().message());
                break;
            }
            case kDumpDtb: opt.dump_dtb_path = optarg; break;
            case kMm: mm_text = optarg; break;
            case kCheck: {
                check::CheckMode m = check::CheckMode::Safepoint;
                if (optarg && !parse_check_mode(optarg, m))
                    return usage_error(std::string("--check=") + optarg + " is not a mode (accepted: safepoint, async)");
                opt.check = m;
                break;
            }
            case kCheckInterval: {
                auto v = vmm::parse_u64(optarg, 1, 3600000, "--check-interval");
                if (!v) return usage_error(v.error().message());
                opt.check_interval_ms = *v;
                break;
            }
            case kFreeFrames: {
                const std::string how = optarg;
                if (how == "zero") opt.freed_frames = vmm::FreedFrames::Zero;
                else if (how == "punch") opt.freed_frames = vmm::FreedFrames::Punch;
                else return usage_error("--free-frames '" + how + "' is not a method (accepted: zero, punch)");
                break;
            }
            case 'q': opt.quiet = true; break;
            case 'h': print_run_help(stdout); return kExitOk;
            case kOptDisk: case kOptDiskFiles: case kOptDiskFileSize: case kOptDiskLatencyUs: {
                std::string error;
                if (!parse_disk_option(c, optarg, opt.disk, error)) return usage_error(error);
                break;
            }
            case ':':
                return usage_error(std::string("option ") + argv[optind - 1] + " needs a value (see gmm run --help)");
            default:
                return usage_error(std::string("unknown option '") + argv[optind - 1] + "' (see gmm run --help)");
        }
    }
    if (optind < argc) return usage_error(std::string("unexpected argument '") + argv[optind] + "' (see gmm run --help)");
    if (opt.mem_bytes % (2ull << 20) != 0)
        return usage_error("--mem " + std::to_string(opt.mem_bytes) + " bytes is not a multiple of 2 MiB "
                           "(accepted: 4M, 6M, ... up to 64G)");
    if (opt.mem_bytes > kMaxMemBytes)
        return usage_error("--mem " + std::to_string(opt.mem_bytes >> 20) + " MiB is above the maximum of 64G");
    const WorkloadSpec* w = find_workload(workload_name);
    if (!w) return usage_error("unknown workload '" + workload_name + "' (accepted: " + workload_names() + ")");
    auto params = resolve_params(*w, assignments);
    if (!params) return usage_error(params.error());
    if (opt.vcpus < w->min_vcpus)
        return usage_error("workload '" + workload_name + "' needs --vcpus " + std::to_string(w->min_vcpus) +
                           " or more");
    if (!file_readable(opt.kernel_path))
        return usage_error("--kernel " + opt.kernel_path + ": " + std::strerror(errno) +
                           " (expected the guest kernel ELF, e.g. build/guest-kernel/gmm-kernel.elf)");
    if (!file_readable(opt.user_image_path))
        return usage_error("--user-image " + opt.user_image_path + ": " + std::strerror(errno));
    opt.workload = w->name;
    opt.params = *params;
    opt.bootargs = make_bootargs(*w, *params);
    if (!mm_text.empty() && !w->uses_mm)
        return usage_error("--mm applies to the memory-manager workloads only (page_fault1, mmap1, mixed, mmtest), "
                           "not '" + workload_name + "'");
    if (opt.check && !w->uses_mm)
        return usage_error("--check needs a memory-manager workload (page_fault1, mmap1, mixed, mmtest), not '" +
                           workload_name + "'");
    if (w->uses_mm) {
        auto mm = parse_mm_policy(mm_text.empty() ? "extents" : mm_text);
        if (!mm) return usage_error(mm.error());
        opt.mm = mm->canonical;
        opt.bootargs += " " + mm->bootargs;
    }
    if (std::string error; !check_disk_options(opt.disk, error)) return usage_error(error);
    opt.timeout_ms = timeout_sec * 1000;
    return run_and_report(opt);
}

}  // namespace gmm::cli
