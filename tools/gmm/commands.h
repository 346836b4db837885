// Subcommands of the gmm CLI and the process exit codes they share.
#pragma once

namespace gmm::cli {

// Exit codes (documented in README.md).
constexpr int kExitOk = 0;
constexpr int kExitHostError = 1;   // the host failed (not the guest, not the input)
constexpr int kExitUsage = 2;        // usage error or bad input
constexpr int kExitNoKvm = 4;        // no usable /dev/kvm
constexpr int kExitGuestFailed = 10; // guest assertion, exception or DONE(status != 0)
constexpr int kExitViolation = 12;   // invariant checker found violations
constexpr int kExitStormStuck = 13;  // gmm storm: no thread made progress (stall watchdog)
constexpr int kExitDiskDiffers = 3;  // gmm disk verify: pages differ from the default pattern
constexpr int kExitTimeout = 124;    // --timeout expired

int cmd_run(int argc, char** argv);
int cmd_mmbench(int argc, char** argv);
// Control-socket clients (cmd_control.cpp, issue 6).
int cmd_list(int argc, char** argv);
int cmd_info(int argc, char** argv);
int cmd_pause(int argc, char** argv);
int cmd_resume(int argc, char** argv);
int cmd_stop(int argc, char** argv);
int cmd_check(int argc, char** argv);  // cmd_check.cpp: the invariant checker
// Lock statistics and KVM stats of a running VM (cmd_stat.cpp, issue 7).
int cmd_stat(int argc, char** argv);
int cmd_storm(int argc, char** argv);
int cmd_disk(int argc, char** argv);   // cmd_disk.cpp: disk images for virtio-blk (issue 5)  // cmd_storm.cpp: scripted fault storms (issue 8)

}  // namespace gmm::cli
