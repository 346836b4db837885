// gmm list / info / pause / resume / stop: clients of the per-VM control socket
// (vmm/control_client.h, docs/control-protocol.md).
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "commands.h"
#include "control_client.h"
#include "json_writer.h"

namespace gmm::cli {

namespace {

using vmm::ControlCommand;
using vmm::JsonValue;

struct Args {
    bool json = false;
    bool help = false;
    std::vector<std::string> positional;
};

// Parses [--json] [--help] and positionals; returns false after printing the error.
bool parse_args(const char* cmd, int argc, char** argv, bool json_allowed, Args& out) {
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--help" || a == "-h") out.help = true;
        else if (a == "--json" && json_allowed) out.json = true;
        else if (a.size() > 1 && a[0] == '-') {
            std::fprintf(stderr, "gmm %s: unknown option '%s' (see gmm %s --help)\n", cmd, a.c_str(), cmd);
            return false;
        } else out.positional.push_back(a);
    }
    return true;
}

std::string u64_member(const JsonValue& v, const char* key) {
    const JsonValue* m = v.find(key);
    return (m && m->as_u64) ? std::to_string(*m->as_u64) : "?";
}

std::string str_member(const JsonValue& v, const char* key) {
    const JsonValue* m = v.find(key);
    return (m && m->type == JsonValue::Type::String) ? m->string : "?";
}

std::string mem_text(const JsonValue& v) {
    const JsonValue* m = v.find("mem_bytes");
    if (!m || !m->as_u64) return "?";
    const uint64_t b = *m->as_u64;
    if (b % (1ull << 30) == 0) return std::to_string(b >> 30) + "G";
    return std::to_string(b >> 20) + "M";
}

std::string uptime_text(const JsonValue& v) {
    const JsonValue* m = v.find("uptime_ms");
    if (!m || !m->as_u64) return "?";
    const uint64_t s = *m->as_u64 / 1000;
    char buf[48];
    if (s < 60) std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(*m->as_u64) / 1000.0);
    else if (s < 3600) std::snprintf(buf, sizeof buf, "%llum%02llus", (unsigned long long)(s / 60), (unsigned long long)(s % 60));
    else std::snprintf(buf, sizeof buf, "%lluh%02llum", (unsigned long long)(s / 3600), (unsigned long long)(s / 60 % 60));
    return buf;
}

// Re-emits a reply (already validated by the parser) as pretty JSON.
void write_value(vmm::JsonWriter& j, const JsonValue& v) {
    switch (v.type) {
        case JsonValue::Type::Null: j.null(); break;
        case JsonValue::Type::Bool: j.boolean(v.boolean); break;
        case JsonValue::Type::Number:
            if (v.as_u64) j.u64(*v.as_u64);
            else if (v.as_i64) j.i64(*v.as_i64);
            else j.number(v.number);
            break;
        case JsonValue::Type::String: j.string(v.string); break;
        case JsonValue::Type::Array:
            j.begin_array();
            for (const JsonValue& item : v.items) write_value(j, item);
            j.end_array();
            break;
        case JsonValue::Type::Object:
            j.begin_object();
            for (size_t i = 0; i < v.items.size(); ++i) {
                j.key(v.keys[i]);
                write_value(j, v.items[i]);
            }
            j.end_object();
            break;
    }
}

std::string names_text(const std::string& dir) {
    auto names = vmm::list_vms(dir);
    if (!names || names->empty()) return "no VMs are running (control directory " + dir + ")";
    std::string out = "running:";
    for (const std::string& n : *names) out += " " + n;
    return out;
}

// Runs one command against VM `name`; prints errors; returns the exit code.
int request(const char* cmd, const std::string& dir, const std::string& name, ControlCommand command,
            vmm::ControlReply& reply) {
    if (Status st = vmm::validate_vm_name(name); !st) {
        std::fprintf(stderr, "gmm %s: %s\n", cmd, st.error().message().c_str());
        return kExitUsage;
    }
    auto r = vmm::control_request(dir, name, command);
    if (r) {
        reply = std::move(*r);
        return kExitOk;
    }
    if (r.error().failure == vmm::ControlFailure::NoSuchVm) {
        std::fprintf(stderr, "gmm %s: no VM named '%s' (%s)\n", cmd, name.c_str(), names_text(dir).c_str());
        return kExitUsage;
    }
    std::fprintf(stderr, "gmm %s: VM '%s': %s\n", cmd, name.c_str(), r.error().message.c_str());
    return kExitHostError;
}

void print_help(const char* cmd, FILE* out) {
    const std::string dir = vmm::default_control_dir();
    if (!std::strcmp(cmd, "list"))
        std::fprintf(out, "usage: gmm list [--json]\nList the running VMs (NAME PID VCPUS MEM WORKLOAD STATE UPTIME).\n"
                          "Sockets of VMs that died are removed.\n");
    else if (!std::strcmp(cmd, "info"))
        std::fprintf(out, "usage: gmm info NAME [--json]\nShow a running VM: identity, state, memory slots, boot "
                          "layout and the results its guest published.\n");
    else if (!std::strcmp(cmd, "pause"))
        std::fprintf(out, "usage: gmm pause NAME\nStop every vCPU of VM NAME; returns once each has acknowledged.\n");
    else if (!std::strcmp(cmd, "resume"))
        std::fprintf(out, "usage: gmm resume NAME\nLet the vCPUs of a paused VM run again.\n");
    else
        std::fprintf(out, "usage: gmm stop NAME\nEnd the run of VM NAME (its `gmm run` exits 0 with reason stopped).\n");
    std::fprintf(out, "\nControl sockets live in %s ($XDG_RUNTIME_DIR/gmm, else /run/gmm).\n"
                      "exit codes: 0 ok, 2 usage or unknown VM, 1 the VM refused or the socket failed\n",
                 dir.c_str());
}

int list_impl(int argc, char** argv) {
    Args a;
    if (!parse_args("list", argc, argv, true, a)) return kExitUsage;
    if (a.help) { print_help("list", stdout); return kExitOk; }
    if (!a.positional.empty()) {
        std::fprintf(stderr, "gmm list: unexpected argument '%s' (see gmm list --help)\n", a.positional[0].c_str());
        return kExitUsage;
    }
    const std::string dir = vmm::default_control_dir();
    auto names = vmm::list_vms(dir);
    if (!names) {
        std::fprintf(stderr, "gmm list: %s\n", names.error().message().c_str());
        return kExitHostError;
    }
    std::vector<JsonValue> infos;
    for (const std::string& n : *names) {
        auto r = vmm::control_request(dir, n, ControlCommand::Info);
        if (r) infos.push_back(std::move(r->json));  // a VM that ended meanwhile is simply not listed
    }
    if (a.json) {
        vmm::JsonWriter j(vmm::JsonStyle::Pretty);
        j.begin_array();
        for (const JsonValue& v : infos) write_value(j, v);
        j.end_array();
        std::printf("%s\n", j.str().c_str());
        return kExitOk;
    }
    std::printf("%-24s %8s %5s %6s %-10s %-8s %s\n", "NAME", "PID", "VCPUS", "MEM", "WORKLOAD", "STATE", "UPTIME");
    for (const JsonValue& v : infos)
        std::printf("%-24s %8s %5s %6s %-10s %-8s %s\n", str_member(v, "name").c_str(), u64_member(v, "pid").c_str(),
                    u64_member(v, "vcpus").c_str(), mem_text(v).c_str(), str_member(v, "workload").c_str(),
                    str_member(v, "state").c_str(), uptime_text(v).c_str());
    return kExitOk;
}

void print_info(const JsonValue& v) {
    std::printf("name:        %s\npid:         %s\nvcpus:       %s\nmem:         %s\nworkload:    %s\n"
                "state:       %s\nuptime:      %s\nabi_version: %s\n",
                str_member(v, "name").c_str(), u64_member(v, "pid").c_str(), u64_member(v, "vcpus").c_str(),
                mem_text(v).c_str(), str_member(v, "workload").c_str(), str_member(v, "state").c_str(),
                uptime_text(v).c_str(), u64_member(v, "abi_version").c_str());
    if (const JsonValue* slots = v.find("slots"); slots && slots->type == JsonValue::Type::Array)
        for (const JsonValue& s : slots->items) {
            const JsonValue* gpa = s.find("gpa");
            const JsonValue* size = s.find("size_bytes");
            std::printf("slot %s:      gpa 0x%llx, %llu MiB, memfd offset %s\n", u64_member(s, "slot").c_str(),
                        (unsigned long long)(gpa && gpa->as_u64 ? *gpa->as_u64 : 0),
                        (unsigned long long)(size && size->as_u64 ? *size->as_u64 >> 20 : 0),
                        u64_member(s, "memfd_offset").c_str());
        }
    if (const JsonValue* l = v.find("layout"); l && l->type == JsonValue::Type::Object)
        for (size_t i = 0; i < l->items.size(); ++i)
            if (l->items[i].as_u64)
                std::printf("layout:      %-22s 0x%llx\n", l->keys[i].c_str(), (unsigned long long)*l->items[i].as_u64);
    if (const JsonValue* p = v.find("published"); p && p->type == JsonValue::Type::Array)
        for (size_t cpu = 0; cpu < p->items.size(); ++cpu)
            for (size_t i = 0; i < p->items[cpu].items.size(); ++i)
                if (p->items[cpu].items[i].as_u64)
                    std::printf("published:   cpu %zu %s = 0x%llx\n", cpu, p->items[cpu].keys[i].c_str(),
                                (unsigned long long)*p->items[cpu].items[i].as_u64);
}

// info, pause, resume, stop: one NAME.
int cmd_one(const char* cmd, ControlCommand command, bool json_allowed, int argc, char** argv) {
    Args a;
    if (!parse_args(cmd, argc, argv, json_allowed, a)) return kExitUsage;
    if (a.help) { print_help(cmd, stdout); return kExitOk; }
    if (a.positional.size() != 1) {
        std::fprintf(stderr, "gmm %s: expected exactly one VM name, got %zu (see gmm %s --help; %s)\n", cmd,
                     a.positional.size(), cmd, names_text(vmm::default_control_dir()).c_str());
        return kExitUsage;
    }
    vmm::ControlReply reply;
    if (int code = request(cmd, vmm::default_control_dir(), a.positional[0], command, reply)) return code;
    if (a.json) {
        vmm::JsonWriter j(vmm::JsonStyle::Pretty);
        write_value(j, reply.json);
        std::printf("%s\n", j.str().c_str());
    } else if (command == ControlCommand::Info) {
        print_info(reply.json);
    } else {
        std::printf("%s: %s (state %s)\n", a.positional[0].c_str(),
                    command == ControlCommand::Stop ? "stop requested" : control_command_name(command),
                    str_member(reply.json, "state").c_str());
    }
    return kExitOk;
}

}  // namespace

int cmd_list(int argc, char** argv) { return list_impl(argc, argv); }
int cmd_info(int argc, char** argv) { return cmd_one("info", ControlCommand::Info, true, argc, argv); }
int cmd_pause(int argc, char** argv) { return cmd_one("pause", ControlCommand::Pause, false, argc, argv); }
int cmd_resume(int argc, char** argv) { return cmd_one("resume", ControlCommand::Resume, false, argc, argv); }
int cmd_stop(int argc, char** argv) { return cmd_one("stop", ControlCommand::Stop, false, argc, argv); }

}  // namespace gmm::cli
