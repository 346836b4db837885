#include "run_report.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <vector>
#include <fstream>

#include "commands.h"
#include "control_server.h"  // control socket (issue 6)
#include "json_writer.h"
#include "run_checker.h"
#include "lockstat_report.h"

namespace gmm::cli {

namespace {

using vmm::hex;

uint64_t stat_or_zero(const vmm::VcpuReport& v, const char* name) {
    auto it = v.kvm.find(name);
    return it == v.kvm.end() ? 0 : it->second;
}

constexpr const char* kKvmStatKeys[] = {"exits", "pf_taken", "pf_fixed", "pf_guest", "insn_emulation", "halt_exits"};

// Throughput of the memory-manager workloads, from the user threads' REPORTs
// (ops, measured_ns) and the host's insn_emulation windows (MARK).
struct OpsSummary {
    bool present = false;
    std::vector<uint64_t> per_vcpu;
    uint64_t total = 0, measured_ns = 0;
    double per_sec = 0;
    double insns_per_op = -1, insns_per_fault = -1;  // -1: not measured
};

uint64_t result_or_zero(const vmm::VcpuReport& v, const char* key) {
    auto it = v.results.find(key);
    return it == v.results.end() ? 0 : it->second;
}

OpsSummary ops_summary(const vmm::RunReport& r) {
    OpsSummary s;
    uint64_t insns = 0, fault_insns = 0, fault_ops = 0;
    for (const auto& v : r.vcpus) {
        s.present |= v.results.count("ops") != 0;
        const uint64_t ops = result_or_zero(v, "ops");
        s.per_vcpu.push_back(ops);
        s.total += ops;
        s.measured_ns = std::max(s.measured_ns, result_or_zero(v, "measured_ns"));
        insns += result_or_zero(v, "insns_measured");
        if (v.results.count("insns_faults")) {
            fault_insns += result_or_zero(v, "insns_faults");
            fault_ops += ops;
        }
    }
    if (s.measured_ns) s.per_sec = double(s.total) * 1e9 / double(s.measured_ns);
    if (r.kvm_mode == vmm::KvmMode::Emulated && s.total) s.insns_per_op = double(insns) / double(s.total);
    if (r.kvm_mode == vmm::KvmMode::Emulated && fault_ops) s.insns_per_fault = double(fault_insns) / double(fault_ops);
    return s;
}

void print_ops(const RunOptions& o, const vmm::RunReport& r) {
    const OpsSummary s = ops_summary(r);
    if (!s.present) return;
    std::printf("%s --mm %s: %llu ops in %.1f ms (measured section) = %.0f ops/s; per vCPU:", o.workload.c_str(),
                o.mm.c_str(), static_cast<unsigned long long>(s.total), double(s.measured_ns) / 1e6, s.per_sec);
    for (size_t i = 0; i < s.per_vcpu.size(); ++i)
        std::printf(" %zu:%llu", i, static_cast<unsigned long long>(s.per_vcpu[i]));
    std::printf("\n");
    if (s.insns_per_op >= 0) {
        std::printf("guest-kernel instructions (insn_emulation) per op: %.1f", s.insns_per_op);
        if (s.insns_per_fault >= 0) std::printf(", per page fault (touch phases only): %.1f", s.insns_per_fault);
        std::printf("\n");
    }
}

void print_effective_command_line(const RunOptions& o) {
    if (!o.effective_command_line.empty()) {
        std::printf("%s\n", o.effective_command_line.c_str());
        std::fflush(stdout);
        return;
    }
    std::string line = "gmm run --name " + o.name + " --vcpus " + std::to_string(o.vcpus) + " --mem " +
                       std::to_string(o.mem_bytes >> 20) + "M --workload " + o.workload;
    for (const auto& [k, v] : o.params) line += " --param " + k + "=" + v;
    line += " --timeout " + std::to_string(o.timeout_ms / 1000) + " --kernel " + o.kernel_path;
    if (!o.disk.path.empty()) line += " --disk " + o.disk.path;
    if (o.disk.latency_us) line += " --disk-latency-us " + std::to_string(o.disk.latency_us);
    line += std::string(" --free-frames ") + vmm::freed_frames_name(o.freed_frames);
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
}

void print_vcpu_table(const vmm::RunReport& r) {
    std::printf("%-5s %-5s %-7s %10s %14s %10s  %s\n", "vcpu", "apic", "online", "exits", "insn_emulation",
                "halt_exits", "results");
    for (size_t i = 0; i < r.vcpus.size(); ++i) {
        const vmm::VcpuReport& v = r.vcpus[i];
        std::string results;
        for (const auto& [k, val] : v.results) results += (results.empty() ? "" : " ") + k + "=" + std::to_string(val);
        std::printf("%-5zu %-5llu %-7s %10llu %14llu %10llu  %s\n", i, static_cast<unsigned long long>(v.apic_id),
                    v.online ? "yes" : "no", static_cast<unsigned long long>(stat_or_zero(v, "exits")),
                    static_cast<unsigned long long>(stat_or_zero(v, "insn_emulation")),
                    static_cast<unsigned long long>(stat_or_zero(v, "halt_exits")), results.c_str());
    }
}

void print_summary(const vmm::RunReport& r, int code) {
    const double ms = static_cast<double>(r.duration_ns) / 1e6;
    size_t online = 0;
    for (const auto& v : r.vcpus) online += v.online;
    std::printf("summary: %s", vmm::run_end_name(r.end));
    if (r.end == vmm::RunEnd::Done) std::printf(" (status %llu)", static_cast<unsigned long long>(r.done_status));
    std::printf(", %zu/%zu vCPUs online, %.1f ms, kvm_mode %s, exit code %d\n", online, r.vcpus.size(), ms,
                vmm::kvm_mode_name(r.kvm_mode), code);
    if (r.kvm_mode == vmm::KvmMode::Emulated)
        std::printf("note: this KVM emulates guest supervisor mode (%llu instructions counted over the probe "
                    "loop); absolute in-guest times are not representative of hardware-assisted KVM\n",
                    static_cast<unsigned long long>(r.probe_insns));
    if (r.exception) {
        const auto& e = *r.exception;
        std::printf("guest exception on cpu %u: vector %llu (%s), error code %s, rip %s, cr2 %s\n", e.cpu,
                    static_cast<unsigned long long>(e.vector), e.description.c_str(), hex(e.error_code).c_str(),
                    hex(e.rip).c_str(), hex(e.cr2).c_str());
    }
    if (r.assertion) {
        const auto& a = *r.assertion;
        std::printf("guest assertion failed on cpu %u: %s:%llu: %s", a.cpu, a.file.c_str(),
                    static_cast<unsigned long long>(a.line), a.expression.c_str());
        if (a.has_values)
            std::printf(" (%s vs %s)", hex(a.lhs).c_str(), hex(a.rhs).c_str());
        std::printf("\n");
    }
    if (!r.error.empty()) std::printf("%s: %s\n", vmm::run_end_name(r.end), r.error.c_str());
}

// The guest's lock statistics at the end of the run, read from guest memory
// through the bounds-checked translator (the block's GPA is what the guest
// published as "lockstat_gpa").
struct FinalLockstat {
    std::optional<LockstatView> view;
    std::string error;  // why there is no view
};

FinalLockstat final_lockstat(vmm::Machine& m, const vmm::RunReport& r) {
    FinalLockstat f;
    if (r.vcpus.empty() || r.vcpus[0].results.count("lockstat_gpa") == 0) {
        f.error = "the guest did not publish lockstat_gpa (it ended before lockstat_init)";
        return f;
    }
    const vmm::GuestMemory& mem = m.memory();
    auto snap = vmm::read_lockstat([&mem](Gpa gpa, std::span<uint8_t> out) { return mem.read(gpa, out); },
                                   Gpa(r.vcpus[0].results.at("lockstat_gpa")));
    if (!snap) {
        f.error = snap.error().message();
        return f;
    }
    f.view = make_lockstat_view(*snap, nullptr);
    return f;
}

void print_final_lockstat(const FinalLockstat& f) {
    if (!f.view) {
        std::printf("lockstat: %s\n", f.error.c_str());
        return;
    }
    print_lock_table(stdout, *f.view, PerVcpu::Hide);
    bool any = false;
    for (const LockRow& row : f.view->rows) any |= row.total.acquisitions != 0;
    if (any) print_lockstat_cpu_table(stdout, *f.view);
}

void write_final_lockstat_json(vmm::JsonWriter& j, const FinalLockstat& f) {
    j.key("lockstat_enabled"); j.boolean(f.view && f.view->enabled);
    if (!f.view) {
        j.key("lockstat"); j.begin_array(); j.end_array();
        j.key("lockstat_error"); j.string(f.error);
        return;
    }
    j.key("lockstat_tsc_khz"); j.u64(f.view->tsc_khz);
    j.key("lockstat"); write_lock_rows_json(j, *f.view, PerVcpu::Show);
    j.key("lockstat_per_vcpu"); write_lockstat_cpus_json(j, *f.view);
}

}  // namespace

int exit_code_for(const vmm::RunReport& r) {
    switch (r.end) {
        case vmm::RunEnd::Done: return r.done_status == 0 ? kExitOk : kExitGuestFailed;
        case vmm::RunEnd::Assert:
        case vmm::RunEnd::Exception: return kExitGuestFailed;
        case vmm::RunEnd::Timeout: return kExitTimeout;
        case vmm::RunEnd::Error: return kExitGuestFailed;
        case vmm::RunEnd::Stopped: return kExitOk;
    }
    return kExitGuestFailed;
}

namespace {

std::string report_to_json(const RunOptions& o, const vmm::RunReport& r, int code, const FinalLockstat& ls,
                           const CheckSummary* check) {
    vmm::JsonWriter j(vmm::JsonStyle::Pretty);
    j.begin_object();
    j.key("name"); j.string(o.name);
    j.key("control_socket"); j.string(vmm::control_socket_path(vmm::default_control_dir(), o.name));  // issue 6
    j.key("workload"); j.string(o.workload);
    j.key("params"); j.begin_object();
    for (const auto& [k, v] : o.params) { j.key(k); j.string(v); }
    j.end_object();
    j.key("vcpus"); j.u64(o.vcpus);
    j.key("mem_mib"); j.u64(o.mem_bytes >> 20);
    j.key("kvm_mode"); j.string(vmm::kvm_mode_name(r.kvm_mode));
    j.key("free_frames"); j.string(vmm::freed_frames_name(o.freed_frames));
    j.key("duration_ns"); j.u64(r.duration_ns);
    const OpsSummary ops = ops_summary(r);
    if (!o.mm.empty()) { j.key("mm"); j.string(o.mm); }
    if (ops.present) {
        j.key("ops_total"); j.u64(ops.total);
        j.key("ops_per_sec"); j.number(ops.per_sec);
        j.key("measured_ns"); j.u64(ops.measured_ns);
        if (ops.insns_per_op >= 0) { j.key("guest_kernel_insns_per_op"); j.number(ops.insns_per_op); }
        if (ops.insns_per_fault >= 0) { j.key("guest_kernel_insns_per_fault"); j.number(ops.insns_per_fault); }
    }
    if (check) {
        j.key("check");
        check->write_json(j);
    }
    j.key("exit"); j.begin_object();
    j.key("status"); j.i64(code);
    j.key("reason"); j.string(vmm::run_end_name(r.end));
    j.key("done_status"); j.u64(r.done_status);
    j.key("detail"); j.string(r.error);
    j.end_object();
    j.key("per_vcpu"); j.begin_array();
    for (size_t i = 0; i < r.vcpus.size(); ++i) {
        const auto& v = r.vcpus[i];
        j.begin_object();
        j.key("vcpu"); j.u64(i);
        j.key("online"); j.boolean(v.online);
        j.key("apic_id"); j.u64(v.apic_id);
        if (ops.present) { j.key("ops"); j.u64(ops.per_vcpu[i]); }
        j.key("results"); j.begin_object();
        for (const auto& [k, val] : v.results) { j.key(k); j.u64(val); }
        j.end_object();
        j.end_object();
    }
    j.end_array();
    if (r.exception) {
        const auto& e = *r.exception;
        j.key("exception"); j.begin_object();
        j.key("cpu"); j.u64(e.cpu);
        j.key("vector"); j.u64(e.vector);
        j.key("error_code"); j.u64(e.error_code);
        j.key("rip"); j.u64(e.rip);
        j.key("cr2"); j.u64(e.cr2);
        j.key("description"); j.string(e.description);
        j.end_object();
    }
    if (r.assertion) {
        const auto& a = *r.assertion;
        j.key("assert"); j.begin_object();
        j.key("cpu"); j.u64(a.cpu);
        j.key("file"); j.string(a.file);
        j.key("line"); j.u64(a.line);
        j.key("expression"); j.string(a.expression);
        if (a.has_values) { j.key("lhs"); j.u64(a.lhs); j.key("rhs"); j.u64(a.rhs); }
        j.end_object();
    }
    if (o.hooks) o.hooks->write_json(j);
    j.key("kvm"); j.begin_array();
    for (size_t i = 0; i < r.vcpus.size(); ++i) {
        j.begin_object();
        j.key("vcpu"); j.u64(i);
        for (const char* k : kKvmStatKeys) { j.key(k); j.u64(stat_or_zero(r.vcpus[i], k)); }
        j.end_object();
    }
    j.end_array();
    if (!r.disk.empty()) {
        j.key("disk"); j.begin_object();
        for (const auto& [k, v] : r.disk) { j.key(k); j.u64(v); }
        j.end_object();
    }
    write_final_lockstat_json(j, ls);
    j.key("console"); j.string(r.console);
    j.end_object();
    return j.str() + "\n";
}

}  // namespace

int run_and_report(const RunOptions& o) {
    if (!o.quiet) print_effective_command_line(o);
    vmm::MachineConfig cfg;
    cfg.vcpus = o.vcpus;
    cfg.ram_bytes = o.mem_bytes;
    cfg.kernel_path = o.kernel_path;
    cfg.user_image_path = o.user_image_path;
    cfg.bootargs = o.bootargs;
    cfg.payload = o.payload;
    cfg.results_size_bytes = o.results_size_bytes;
    auto disk = prepare_disk(o.disk);
    if (!disk) {
        std::fprintf(stderr, "gmm run: %s\n", disk.error().message().c_str());
        return disk.error().kind == vmm::ErrorKind::BadInput ? kExitUsage : kExitHostError;
    }
    cfg.disk_path = disk->path;
    cfg.disk_latency_us = o.disk.latency_us;
    cfg.freed_frames = o.freed_frames;
    if (!o.quiet)
        cfg.console_line = [](const std::string& line) {
            std::printf("guest| %s\n", line.c_str());
            std::fflush(stdout);
        };
    auto machine = vmm::Machine::create(cfg);
    if (disk->temporary) unlink(disk->path.c_str());  // the VMM holds it open; gone at exit either way
    if (!machine) {
        const vmm::Error& e = machine.error();
        std::fprintf(stderr, "gmm run: %s\n", e.message().c_str());
        switch (e.kind) {
            case vmm::ErrorKind::NoKvm: return kExitNoKvm;
            case vmm::ErrorKind::BadInput: return kExitUsage;
            default: return kExitHostError;
        }
    }
    if (!o.dump_dtb_path.empty()) {
        std::ofstream out(o.dump_dtb_path, std::ios::binary);
        const auto& blob = (*machine)->layout().fdt_blob;
        out.write(reinterpret_cast<const char*>(blob.data()), static_cast<std::streamsize>(blob.size()));
        if (!out) {
            std::fprintf(stderr, "gmm run: --dump-dtb %s: cannot write the file\n", o.dump_dtb_path.c_str());
            return kExitUsage;
        }
    }
    // --- control socket (issue 6, helper ctl): info/pause/resume/stop/memfd while the VM runs.
    vmm::MachineControlTarget control_target(**machine, o.mem_bytes);
    auto control = vmm::ControlServer::start({vmm::default_control_dir(), o.name, o.workload}, control_target);
    if (!control) {
        std::fprintf(stderr, "gmm run: control socket: %s\n", control.error().message().c_str());
        return control.error().kind == vmm::ErrorKind::BadInput ? kExitUsage : kExitHostError;
    }
    if (!o.quiet) std::printf("control socket: %s\n", (*control)->socket_path().c_str());
    std::fflush(stdout);
    // --- end control socket
    std::optional<RunChecker> checker;
    if (o.check) {
        checker.emplace(**machine, *o.check, o.check_interval_ms, !o.quiet);
        checker->start();
    }
    if (o.hooks) o.hooks->started(**machine);
    const vmm::RunReport report = (*machine)->run(o.timeout_ms);
    (*control)->stop();  // removes the socket before the report is printed
    int code = exit_code_for(report);
    if (checker) {
        checker->finish(report);
        if (code == kExitOk && checker->summary().violation_count()) code = kExitViolation;
    }
    if (o.hooks) {
        o.hooks->finished(**machine, report);
        code = o.hooks->exit_code(code);
    }
    const FinalLockstat lockstat = final_lockstat(**machine, report);
    if (!o.quiet) {
        print_vcpu_table(report);
        if (!report.disk.empty()) {
            std::string line;
            for (const auto& [k, v] : report.disk) line += " " + k + "=" + std::to_string(v);
            std::printf("disk:%s\n", line.c_str());
        }
        print_final_lockstat(lockstat);
    }
    print_ops(o, report);
    print_summary(report, code);
    if (checker) checker->summary().print(stdout);
    if (o.hooks) o.hooks->print(stdout);
    if (!o.json_path.empty()) {
        const std::string json = report_to_json(o, report, code, lockstat, checker ? &checker->summary() : nullptr);
        if (o.json_path == "-") {
            std::fputs(json.c_str(), stdout);
        } else {
            std::ofstream out(o.json_path);
            out << json;
            if (!out) {
                std::fprintf(stderr, "gmm run: --json %s: cannot write the file\n", o.json_path.c_str());
                return code == kExitOk ? kExitHostError : code;
            }
        }
    }
    return code;
}

}  // namespace gmm::cli
