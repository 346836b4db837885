// gmm stat NAME: lock statistics and KVM's per-vCPU counters of a running VM,
// without stopping it. The guest's lockstat block is read from guest RAM (the
// read-only memfd from the control socket, through GuestRamView's bounds
// checks); KVM's binary stats come from the VMM (control command `kvmstats`).
// Without --interval: totals since boot, once. With it: deltas per interval.
#include <getopt.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "commands.h"
#include "control_client.h"
#include "json_writer.h"
#include "lockstat_report.h"
#include "lockstat_reader.h"
#include "size_parse.h"

namespace gmm::cli {

namespace {

using Clock = std::chrono::steady_clock;
using KvmStats = std::vector<std::map<std::string, uint64_t>>;

constexpr uint64_t kMinIntervalMs = 10, kMaxIntervalMs = 3600 * 1000;
constexpr uint64_t kMaxCount = 1000000;
constexpr auto kPublishWait = std::chrono::seconds(5);  // a VM that is still booting
// The KVM counters of the human table (the JSON has every cumulative one).
constexpr const char* kKvmColumns[] = {"exits", "pf_taken", "pf_fixed", "pf_guest", "insn_emulation", "halt_exits"};

struct Options {
    std::string name;
    uint64_t interval_ms = 0;  // 0: once, totals since boot
    uint64_t count = 0;        // 0: until the VM ends
    bool json = false;
    PerVcpu per_vcpu = PerVcpu::Hide;
};

void print_help(FILE* out) {
    std::fprintf(out,
                 "usage: gmm stat NAME [--interval MS] [--count N] [--per-vcpu] [--json]\n"
                 "Lock statistics (Linux lockstat's counters, per lock class, sorted by contentions) and\n"
                 "KVM's per-vCPU stats of a running VM, read without stopping it.\n\n"
                 "  -i, --interval MS  print deltas every MS milliseconds (%llu..%llu) until the VM ends;\n"
                 "                     without it: totals since boot, once\n"
                 "  -n, --count N      stop after N intervals\n"
                 "      --per-vcpu     a line per vCPU under each lock class\n"
                 "      --json         one JSON object per line per interval\n"
                 "  -h, --help         this text\n\n"
                 "Times are in microseconds in the table and nanoseconds in JSON (TSC cycles converted with\n"
                 "the TSC frequency KVM reports); min/max times are since boot. docs/lockstat.md explains\n"
                 "every counter. exit codes: 0 ok (also when the VM ends while watched), 2 usage or unknown\n"
                 "VM, 1 the VM refused, the socket failed or the guest's block is corrupt\n",
                 (unsigned long long)kMinIntervalMs, (unsigned long long)kMaxIntervalMs);
}

int usage(const std::string& message) {
    std::fprintf(stderr, "gmm stat: %s\n", message.c_str());
    return kExitUsage;
}

std::string running_names(const std::string& dir) {
    auto names = vmm::list_vms(dir);
    if (!names || names->empty()) return "no VMs are running";
    std::string out = "running:";
    for (const std::string& n : *names) out += " " + n;
    return out;
}

// Guest-physical reads through the read-only mapping of guest RAM; the block
// is 8-byte aligned throughout (a misaligned request is corrupt data).
vmm::GuestReadFn ram_reader(const vmm::GuestRamView& ram) {
    return [&ram](Gpa gpa, std::span<uint8_t> out) -> vmm::Status {
        if (!gpa.is_aligned(8) || out.size() % 8 != 0)
            return Err{vmm::plain_error("unaligned read of " + std::to_string(out.size()) + " bytes at GPA " +
                                        vmm::hex(gpa.value()))};
        for (size_t i = 0; i < out.size(); i += 8) {
            auto v = ram.read_u64(Gpa(gpa.value() + i));
            if (!v) return Err{v.error()};
            std::memcpy(out.data() + i, &*v, 8);
        }
        return Ok{};
    };
}

std::optional<uint64_t> published_gpa(const vmm::JsonValue& reply) {
    const vmm::JsonValue* p = reply.find("published");
    if (!p || p->type != vmm::JsonValue::Type::Array || p->items.empty()) return std::nullopt;
    const vmm::JsonValue* g = p->items[0].find("lockstat_gpa");
    if (!g || !g->as_u64) return std::nullopt;
    return *g->as_u64;
}

Result<KvmStats, std::string> kvm_stats_of(const vmm::JsonValue& reply) {
    const vmm::JsonValue* k = reply.find("kvm_stats");
    if (!k || k->type != vmm::JsonValue::Type::Array) return Err{std::string("the reply has no kvm_stats array")};
    KvmStats out;
    for (const vmm::JsonValue& vcpu : k->items) {
        if (vcpu.type != vmm::JsonValue::Type::Object) return Err{std::string("kvm_stats holds a non-object")};
        std::map<std::string, uint64_t> m;
        for (size_t i = 0; i < vcpu.items.size(); ++i)
            if (vcpu.items[i].as_u64) m[vcpu.keys[i]] = *vcpu.items[i].as_u64;
        out.push_back(std::move(m));
    }
    return out;
}

struct Sample {
    Clock::time_point at;
    vmm::LockstatSnapshot lockstat;
    KvmStats kvm;
};

uint64_t get(const std::map<std::string, uint64_t>& m, const std::string& k) {
    auto it = m.find(k);
    return it == m.end() ? 0 : it->second;
}
uint64_t kvm_delta(const Sample& now, const Sample* before, size_t cpu, const std::string& k) {
    const uint64_t n = cpu < now.kvm.size() ? get(now.kvm[cpu], k) : 0;
    const uint64_t b = before && cpu < before->kvm.size() ? get(before->kvm[cpu], k) : 0;
    return n >= b ? n - b : n;
}

void print_human(const Options& o, uint64_t index, double ms, const LockstatView& v, const Sample& now,
                 const Sample* before) {
    if (before) std::printf("--- %s: interval %llu, %.0f ms ---\n", o.name.c_str(), (unsigned long long)index, ms);
    else std::printf("--- %s: since boot ---\n", o.name.c_str());
    print_lock_table(stdout, v, o.per_vcpu);
    print_lockstat_cpu_table(stdout, v);
    std::printf("%-5s", "vcpu");
    for (const char* k : kKvmColumns) std::printf(" %14s", k);
    std::printf("\n");
    for (size_t cpu = 0; cpu < now.kvm.size(); ++cpu) {
        std::printf("%-5zu", cpu);
        for (const char* k : kKvmColumns) std::printf(" %14llu", (unsigned long long)kvm_delta(now, before, cpu, k));
        std::printf("\n");
    }
    std::fflush(stdout);
}

void print_json(const Options& o, uint64_t index, double ms, const LockstatView& v, const Sample& now,
                const Sample* before) {
    vmm::JsonWriter j(vmm::JsonStyle::Compact);
    j.begin_object();
    j.key("vm"); j.string(o.name);
    j.key("interval"); j.u64(index);
    j.key("since_boot"); j.boolean(before == nullptr);
    if (before) { j.key("interval_ms"); j.number(ms); }
    j.key("lockstat_enabled"); j.boolean(v.enabled);
    j.key("tsc_khz"); j.u64(v.tsc_khz);
    j.key("locks"); write_lock_rows_json(j, v, o.per_vcpu);
    j.key("lockstat_per_vcpu"); write_lockstat_cpus_json(j, v);
    j.key("kvm"); j.begin_array();
    for (size_t cpu = 0; cpu < now.kvm.size(); ++cpu) {
        j.begin_object();
        j.key("vcpu"); j.u64(cpu);
        for (const auto& [k, val] : now.kvm[cpu]) {
            if (k == "vcpu") continue;
            j.key(k);
            j.u64(kvm_delta(now, before, cpu, k));
        }
        j.end_object();
    }
    j.end_array();
    j.end_object();
    std::printf("%s\n", j.str().c_str());
    std::fflush(stdout);
}

enum class Outcome { Ok, VmEnded, Failed };

struct Watcher {
    const Options& o;
    std::string dir;
    vmm::GuestRamView& ram;
    Gpa block;
    std::string error;  // for Failed

    Outcome sample(Sample& s) {
        auto reply = vmm::control_request(dir, o.name, vmm::ControlCommand::KvmStats);
        if (!reply) {
            if (reply.error().failure == vmm::ControlFailure::NoSuchVm) return Outcome::VmEnded;
            // A VM that is shutting down may close a connection unanswered:
            // it has ended if its socket is gone a moment later.
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            auto again = vmm::control_request(dir, o.name, vmm::ControlCommand::Info);
            if (!again && again.error().failure == vmm::ControlFailure::NoSuchVm) return Outcome::VmEnded;
            error = "VM '" + o.name + "': " + reply.error().message;
            return Outcome::Failed;
        }
        auto kvm = kvm_stats_of(reply->json);
        if (!kvm) {
            error = "VM '" + o.name + "': kvmstats reply: " + kvm.error();
            return Outcome::Failed;
        }
        auto ls = vmm::read_lockstat(ram_reader(ram), block);
        if (!ls) {
            error = "VM '" + o.name + "': " + ls.error().message();
            return Outcome::Failed;
        }
        s = Sample{Clock::now(), std::move(*ls), std::move(*kvm)};
        return Outcome::Ok;
    }
};

Result<Options, std::string> parse(int argc, char** argv, bool& help) {
    Options o;
    enum { kPerVcpu = 1000, kJson };
    static const option long_opts[] = {
        {"interval", required_argument, nullptr, 'i'}, {"count", required_argument, nullptr, 'n'},
        {"per-vcpu", no_argument, nullptr, kPerVcpu},  {"json", no_argument, nullptr, kJson},
        {"help", no_argument, nullptr, 'h'},           {nullptr, 0, nullptr, 0},
    };
    opterr = 0;
    optind = 1;
    for (;;) {
        const int c = getopt_long(argc, argv, ":i:n:h", long_opts, nullptr);
        if (c == -1) break;
        switch (c) {
            case 'i': {
                auto v = vmm::parse_u64(optarg, kMinIntervalMs, kMaxIntervalMs, "--interval");
                if (!v)
                    return Err{std::string("--interval '") + optarg + "': expected milliseconds from " +
                               std::to_string(kMinIntervalMs) + " to " + std::to_string(kMaxIntervalMs)};
                o.interval_ms = *v;
                break;
            }
            case 'n': {
                auto v = vmm::parse_u64(optarg, 1, kMaxCount, "--count");
                if (!v)
                    return Err{std::string("--count '") + optarg + "': expected an integer from 1 to " +
                               std::to_string(kMaxCount)};
                o.count = *v;
                break;
            }
            case kPerVcpu: o.per_vcpu = PerVcpu::Show; break;
            case kJson: o.json = true; break;
            case 'h': help = true; return o;
            case ':': return Err{std::string("option ") + argv[optind - 1] + " needs a value (see gmm stat --help)"};
            default: return Err{std::string("unknown option '") + argv[optind - 1] + "' (see gmm stat --help)"};
        }
    }
    if (argc - optind != 1)
        return Err{"expected exactly one VM name, got " + std::to_string(argc - optind) + " (see gmm stat --help; " +
                   running_names(vmm::default_control_dir()) + ")"};
    o.name = argv[optind];
    if (o.count && !o.interval_ms) return Err{std::string("--count needs --interval")};
    return o;
}

}  // namespace

int cmd_stat(int argc, char** argv) {
    bool help = false;
    auto parsed = parse(argc, argv, help);
    if (!parsed) return usage(parsed.error());
    if (help) {
        print_help(stdout);
        return kExitOk;
    }
    const Options& o = *parsed;
    const std::string dir = vmm::default_control_dir();
    if (Status st = vmm::validate_vm_name(o.name); !st) return usage(st.error().message());

    // Guest RAM (read-only) and the block's address, once the guest published it.
    const auto give_up = Clock::now() + kPublishWait;
    std::optional<vmm::GuestRamView> ram;
    std::optional<uint64_t> gpa;
    for (;;) {
        auto reply = vmm::control_request(dir, o.name, vmm::ControlCommand::Memfd);
        if (!reply) {
            if (reply.error().failure == vmm::ControlFailure::NoSuchVm)
                return usage("no VM named '" + o.name + "' (" + running_names(dir) + ")");
            std::fprintf(stderr, "gmm stat: VM '%s': %s\n", o.name.c_str(), reply.error().message.c_str());
            return kExitHostError;
        }
        gpa = published_gpa(reply->json);
        if (gpa) {
            auto view = vmm::GuestRamView::map(*reply);
            if (!view) {
                std::fprintf(stderr, "gmm stat: VM '%s': %s\n", o.name.c_str(), view.error().message().c_str());
                return kExitHostError;
            }
            ram.emplace(std::move(*view));
            break;
        }
        if (Clock::now() >= give_up) {
            std::fprintf(stderr, "gmm stat: VM '%s' has not published its lockstat block (lockstat_gpa) after %llds\n",
                         o.name.c_str(), (long long)std::chrono::duration_cast<std::chrono::seconds>(kPublishWait).count());
            return kExitHostError;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }

    Watcher w{o, dir, *ram, Gpa(*gpa), {}};
    Sample prev;
    switch (w.sample(prev)) {
        case Outcome::Ok: break;
        case Outcome::VmEnded: return usage("VM '" + o.name + "' ended (" + running_names(dir) + ")");
        case Outcome::Failed: std::fprintf(stderr, "gmm stat: %s\n", w.error.c_str()); return kExitHostError;
    }
    if (!o.interval_ms) {
        const LockstatView v = make_lockstat_view(prev.lockstat, nullptr);
        if (o.json) print_json(o, 0, 0, v, prev, nullptr);
        else print_human(o, 0, 0, v, prev, nullptr);
        return kExitOk;
    }
    auto next = prev.at;
    for (uint64_t i = 1; !o.count || i <= o.count; ++i) {
        next += std::chrono::milliseconds(o.interval_ms);
        std::this_thread::sleep_until(next);
        Sample now;
        switch (w.sample(now)) {
            case Outcome::Ok: break;
            case Outcome::VmEnded:
                if (!o.json) std::printf("--- %s ended ---\n", o.name.c_str());
                return kExitOk;
            case Outcome::Failed: std::fprintf(stderr, "gmm stat: %s\n", w.error.c_str()); return kExitHostError;
        }
        const double ms = std::chrono::duration<double, std::milli>(now.at - prev.at).count();
        const LockstatView v = make_lockstat_view(now.lockstat, &prev.lockstat);
        if (o.json) print_json(o, i, ms, v, now, &prev);
        else print_human(o, i, ms, v, now, &prev);
        prev = std::move(now);
    }
    return kExitOk;
}

}  // namespace gmm::cli
