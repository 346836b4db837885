// gmm storm FILE.lua: compile a storm script before boot (stormc/), run the
// programs on the storm workload with the checker attached if asked, and
// report per thread and per op kind (docs/storms.md).
#include <getopt.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "check_runner.h"
#include "commands.h"
#include "control_protocol.h"  // validate_vm_name
#include "disk_options.h"
#include "gmm/abi/boot.h"
#include "mm_policy.h"
#include "run_report.h"
#include "size_parse.h"
#include "storm_run.h"
#include "workloads.h"
#include "stormc.h"

namespace gmm::cli {

namespace {

constexpr uint64_t kDefaultTimeoutSec = 120;
constexpr uint64_t kDefaultStallSec = 10;
constexpr uint64_t kMaxMemBytes = 64ull << 30;

void print_storm_help(FILE* out) {
    std::fprintf(out,
                 "usage: gmm storm FILE.lua [OPTIONS]\n"
                 "Compile a storm script (Lua 5.4, sandboxed) into per-thread operation programs and run them\n"
                 "on N vCPUs against the memory manager, optionally under the invariant checker.\n\n"
                 "  -c, --vcpus N          vCPUs (default 2; 1..%u); the script sees VCPUS\n"
                 "      --mm POLICY        global | extents[,placement=leaf|hier][,freecache=global|percpu] (default extents)\n"
                 "      --seed S           the only source of randomness (math.random, random touch order; default 1)\n"
                 "  -p, --param KEY=VALUE  script parameter, read with param(KEY, default) (repeatable)\n"
                 "      --check[=MODE]     invariant checker during the run: safepoint (default) or async\n"
                 "      --check-interval MS  time between checks (default 100)\n"
                 "      --json FILE        the run report with a \"storm\" member ('-' for stdout)\n"
                 "%s"
                 "  -m, --mem SIZE         guest RAM (default 256M)\n"
                 "      --timeout SEC      stop the guest after SEC seconds (default %llu)\n"
                 "      --stall-timeout SEC  stop and report each thread's state when no thread made progress\n"
                 "                         for SEC seconds (default %llu)\n"
                 "      --describe         print the compiled programs and exit (no boot)\n"
                 "      --dump-programs FILE  write the compiled programs (abi/gmm/abi/storm.h) and exit\n"
                 "      --inject NAME      test only: plant one bug for the checker (names: gmm run --help)\n"
                 "      --payload-override FILE  test only: give the guest these bytes instead of the compiled\n"
                 "                         programs (the runner's validator must refuse corrupt ones)\n"
                 "      --name NAME        name of this VM (default gmm-PID)\n"
                 "      --kernel ELF, --user-image ELF  guest images (default: the built ones)\n"
                 "  -q, --quiet            print only the summaries\n"
                 "  -h, --help             this text\n\n"
                 "exit codes: 0 ok, 2 script or usage error (FILE:LINE: message), 4 no usable /dev/kvm,\n"
                 "10 an operation failed its expectation or the guest failed, 12 invariant violation (--check),\n"
                 "13 the storm stalled (thread states printed), 1 host failure, 124 timeout\n",
                 GMM_MAX_VCPUS, disk_options_help(), static_cast<unsigned long long>(kDefaultTimeoutSec),
                 static_cast<unsigned long long>(kDefaultStallSec));
}

// The planted bugs of the mm workloads' inject= parameter (workloads.cpp).
gmm::Status<std::string> check_inject_name(const std::string& name) {
    std::string accepted;
    if (const WorkloadSpec* w = find_workload("mmtest"))
        for (const ParamSpec& p : w->params)
            if (std::string(p.key) == "inject")
                for (const std::string& c : p.choices) {
                    if (c == name) return gmm::Ok{};
                    accepted += (accepted.empty() ? "" : ", ") + c;
                }
    return gmm::Err{"--inject " + name + " is not a planted bug (accepted: " + accepted + ")"};
}

int usage_error(const std::string& message) {
    std::fprintf(stderr, "gmm storm: %s\n", message.c_str());
    return kExitUsage;
}

bool write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    return bool(out);
}

}  // namespace

int cmd_storm(int argc, char** argv) {
    RunOptions opt;
    opt.kernel_path = GMM_DEFAULT_KERNEL;
    opt.user_image_path = GMM_DEFAULT_USER_IMAGE;
    opt.name = "gmm-" + std::to_string(getpid());
    storm::CompileOptions copt;
    uint64_t timeout_sec = kDefaultTimeoutSec, stall_sec = kDefaultStallSec;
    std::string mm_text = "extents", dump_path;
    bool describe_only = false;
    std::string check_text;
    std::string inject;         // test only: a planted bug (docs/checker.md), so soak and tests see a violation
    std::string override_path;  // test only: send these bytes to the guest instead of the compiled programs

    enum { kKernel = 1000, kUserImage, kTimeout, kJson, kName, kMm, kCheck, kCheckInterval, kSeed, kStall, kDescribe, kDump, kPayloadOverride, kInject };
    static const option long_opts[] = {
        {"vcpus", required_argument, nullptr, 'c'},      {"mem", required_argument, nullptr, 'm'},
        {"param", required_argument, nullptr, 'p'},      {"kernel", required_argument, nullptr, kKernel},
        {"user-image", required_argument, nullptr, kUserImage}, {"timeout", required_argument, nullptr, kTimeout},
        {"json", required_argument, nullptr, kJson},     {"name", required_argument, nullptr, kName},
        {"mm", required_argument, nullptr, kMm},         {"check", optional_argument, nullptr, kCheck},
        {"check-interval", required_argument, nullptr, kCheckInterval},
        {"seed", required_argument, nullptr, kSeed},     {"stall-timeout", required_argument, nullptr, kStall},
        {"describe", no_argument, nullptr, kDescribe},   {"dump-programs", required_argument, nullptr, kDump},
        {"payload-override", required_argument, nullptr, kPayloadOverride},
        {"inject", required_argument, nullptr, kInject},
        GMM_DISK_LONG_OPTIONS,
        {"quiet", no_argument, nullptr, 'q'},            {"help", no_argument, nullptr, 'h'},
        {nullptr, 0, nullptr, 0},
    };
    opterr = 0;
    optind = 1;
    for (;;) {
        int idx = 0;
        const int c = getopt_long(argc, argv, ":c:m:p:qh", long_opts, &idx);
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
            case 'p': {
                const std::string a = optarg;
                const size_t eq = a.find('=');
                if (eq == std::string::npos || eq == 0)
                    return usage_error("--param " + a + ": expected KEY=VALUE");
                if (!copt.params.emplace(a.substr(0, eq), a.substr(eq + 1)).second)
                    return usage_error("--param " + a.substr(0, eq) + " given twice");
                break;
            }
            case kKernel: opt.kernel_path = optarg; break;
            case kUserImage: opt.user_image_path = optarg; break;
            case kTimeout: {
                auto v = vmm::parse_u64(optarg, 1, 24 * 3600, "--timeout");
                if (!v) return usage_error(v.error().message());
                timeout_sec = *v;
                break;
            }
            case kStall: {
                auto v = vmm::parse_u64(optarg, 1, 24 * 3600, "--stall-timeout");
                if (!v) return usage_error(v.error().message());
                stall_sec = *v;
                break;
            }
            case kSeed: {
                auto v = vmm::parse_u64(optarg, 0, ~0ull, "--seed");
                if (!v) return usage_error(v.error().message());
                copt.seed = *v;
                break;
            }
            case kJson: opt.json_path = optarg; break;
            case kName:
                opt.name = optarg;
                if (auto st = vmm::validate_vm_name(opt.name); !st) return usage_error("--name: " + st.error().message());
                break;
            case kMm: mm_text = optarg; break;
            case kCheck: {
                check::CheckMode m = check::CheckMode::Safepoint;
                if (optarg && !parse_check_mode(optarg, m))
                    return usage_error(std::string("--check=") + optarg + " is not a mode (accepted: safepoint, async)");
                opt.check = m;
                check_text = optarg ? optarg : "safepoint";
                break;
            }
            case kCheckInterval: {
                auto v = vmm::parse_u64(optarg, 1, 3600000, "--check-interval");
                if (!v) return usage_error(v.error().message());
                opt.check_interval_ms = *v;
                break;
            }
            case kDescribe: describe_only = true; break;
            case kDump: dump_path = optarg; break;
            case kPayloadOverride: override_path = optarg; break;
            case kInject: inject = optarg; break;
            case kOptDisk: case kOptDiskFiles: case kOptDiskFileSize: case kOptDiskLatencyUs: {
                std::string error;
                if (!parse_disk_option(c, optarg, opt.disk, error)) return usage_error(error);
                break;
            }
            case 'q': opt.quiet = true; break;
            case 'h': print_storm_help(stdout); return kExitOk;
            case ':':
                return usage_error(std::string("option ") + argv[optind - 1] + " needs a value (see gmm storm --help)");
            default:
                return usage_error(std::string("unknown option '") + argv[optind - 1] + "' (see gmm storm --help)");
        }
    }
    if (optind >= argc) return usage_error("no script given (usage: gmm storm FILE.lua [OPTIONS], see --help)");
    const std::string script = argv[optind++];
    if (optind < argc) return usage_error(std::string("unexpected argument '") + argv[optind] + "' (one script per run)");
    if (opt.mem_bytes % (2ull << 20) != 0 || opt.mem_bytes > kMaxMemBytes)
        return usage_error("--mem " + std::to_string(opt.mem_bytes) + " bytes (accepted: a multiple of 2 MiB up to 64G)");
    auto mm = parse_mm_policy(mm_text);
    if (!mm) return usage_error(mm.error());
    if (std::string error; !check_disk_options(opt.disk, error)) return usage_error(error);

    copt.vcpus = opt.vcpus;
    copt.mm = mm->canonical;
    auto program = storm::compile_file(script, copt);
    if (!program) {
        std::fprintf(stderr, "%s\n", program.error().message.c_str());
        return kExitUsage;
    }
    if (describe_only) {
        std::fputs(storm::describe(*program).c_str(), stdout);
        if (dump_path.empty()) return kExitOk;
    }
    if (!dump_path.empty()) {
        if (!write_file(dump_path, program->blob))
            return usage_error("--dump-programs " + dump_path + ": cannot write the file");
        return kExitOk;
    }
    if (access(opt.kernel_path.c_str(), R_OK) != 0)
        return usage_error("--kernel " + opt.kernel_path + ": " + std::strerror(errno));
    if (access(opt.user_image_path.c_str(), R_OK) != 0)
        return usage_error("--user-image " + opt.user_image_path + ": " + std::strerror(errno));

    opt.workload = "storm";
    opt.mm = mm->canonical;
    opt.bootargs = "workload=storm " + mm->bootargs;
    if (!inject.empty()) {
        if (auto st = check_inject_name(inject); !st) return usage_error(st.error());
        opt.bootargs += " inject=" + inject;
    }
    opt.timeout_ms = timeout_sec * 1000;
    opt.payload = program->blob;
    if (!override_path.empty()) {  // test only: the guest's validator must refuse what the host would never send
        std::ifstream in(override_path, std::ios::binary);
        if (!in) return usage_error("--payload-override " + override_path + ": " + std::strerror(errno));
        opt.payload.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        if (opt.payload.empty() || opt.payload.size() > GMM_STORM_MAX_BLOB_BYTES)
            return usage_error("--payload-override " + override_path + ": empty or larger than 4 MiB");
    }
    opt.results_size_bytes = sizeof(gmm_storm_results);
    opt.params = program->params;
    std::string line = "gmm storm " + script + " --name " + opt.name + " --vcpus " + std::to_string(opt.vcpus) +
                       " --mem " + std::to_string(opt.mem_bytes >> 20) + "M --mm " + mm->canonical + " --seed " +
                       std::to_string(copt.seed);
    for (const auto& [k, v] : program->params) line += " --param " + k + "=" + v;
    if (!inject.empty()) line += " --inject " + inject;
    if (opt.check) line += " --check=" + check_text + " --check-interval " + std::to_string(opt.check_interval_ms);
    line += " --timeout " + std::to_string(timeout_sec) + " --stall-timeout " + std::to_string(stall_sec);
    opt.effective_command_line = line;
    for (const std::string& n : program->notes) std::printf("note: %s\n", n.c_str());
    StormHooks hooks(*program, stall_sec * 1000);
    opt.hooks = &hooks;
    return run_and_report(opt);
}

}  // namespace gmm::cli
