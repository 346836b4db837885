// gmm: command-line front end. One file per subcommand (cmd_*.cpp).
#include <cstdio>
#include <cstring>

#include "commands.h"

namespace {

struct Command {
    const char* name;
    int (*run)(int argc, char** argv);  // argv[0] is the subcommand name
    const char* summary;
};

constexpr Command kCommands[] = {
    {"run", gmm::cli::cmd_run, "boot the guest kernel and run a workload"},
    {"mmbench", gmm::cli::cmd_mmbench, "hosted memory-manager benchmark (host threads, no VM)"},
    // Control socket clients (cmd_control.cpp, issue 6).
    {"list", gmm::cli::cmd_list, "list running VMs (their control sockets)"},
    {"info", gmm::cli::cmd_info, "show a running VM: state, memory slots, layout"},
    {"pause", gmm::cli::cmd_pause, "pause every vCPU of a running VM"},
    {"resume", gmm::cli::cmd_resume, "resume a paused VM"},
    {"stop", gmm::cli::cmd_stop, "end the run of a VM"},
    {"check", gmm::cli::cmd_check, "check a running VM's memory-manager invariants"},
    {"stat", gmm::cli::cmd_stat, "lock statistics and KVM per-vCPU stats of a running VM"},
    {"disk", gmm::cli::cmd_disk, "create, check or verify a disk image for the virtio-blk device"},
    {"storm", gmm::cli::cmd_storm, "run a scripted multi-vCPU fault storm (Lua), optionally checked"},
};

void print_usage(FILE* out) {
    std::fprintf(out, "usage: gmm COMMAND [OPTIONS]\n\ncommands:\n");
    for (const Command& c : kCommands) std::fprintf(out, "  %-10s %s\n", c.name, c.summary);
    std::fprintf(out, "\n'gmm COMMAND --help' describes a command's options.\n");
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        print_usage(stderr);
        return gmm::cli::kExitUsage;
    }
    if (!std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
        print_usage(stdout);
        return 0;
    }
    for (const Command& c : kCommands)
        if (!std::strcmp(argv[1], c.name)) return c.run(argc - 1, argv + 1);
    std::fprintf(stderr, "gmm: unknown command '%s' (accepted:", argv[1]);
    for (const Command& c : kCommands) std::fprintf(stderr, " %s", c.name);
    std::fprintf(stderr, ")\n");
    return gmm::cli::kExitUsage;
}
