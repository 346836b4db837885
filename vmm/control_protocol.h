// The per-VM control socket (issue 6): what server and client share. VM names,
// the socket directory, the name lock, request parsing and the framing (one
// JSON object per line, size-capped, deadline-bounded; an fd rides along with
// SCM_RIGHTS). See docs/control-protocol.md.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "error.h"
#include "kvm.h"  // Fd

namespace gmm::vmm {

constexpr uint32_t kControlProtocolVersion = 1;
// Requests are tiny ({"cmd":"info"}); anything near this is abuse.
constexpr size_t kControlMaxRequestBytes = 4096;
// Replies carry slots and published results; bounded so a hostile server
// cannot make a client allocate without limit.
constexpr size_t kControlMaxReplyBytes = 256 * 1024;
// A client has this long to send its request (and to take the reply).
constexpr uint32_t kControlRequestTimeoutMs = 2000;
constexpr size_t kVmNameMaxChars = 64;

enum class ControlCommand { Info, Pause, Resume, Stop, Memfd, Safepoint, Dirty, Cr3, KvmStats };
const char* control_command_name(ControlCommand);
// "info, pause, resume, stop, memfd, safepoint, dirty, cr3, kvmstats"
std::string control_command_names();

// 1–64 characters of [A-Za-z0-9._-], no leading dot. The error is one line
// naming the input and the rule.
Status validate_vm_name(std::string_view name);

// Parses one request line: a JSON object {"cmd": "<command>"} and nothing
// else. The error names the problem (malformed JSON, wrong type, unknown
// command or member).
Result<ControlCommand> parse_control_request(std::string_view line);

// $XDG_RUNTIME_DIR/gmm when XDG_RUNTIME_DIR is an absolute path, else /run/gmm.
std::string default_control_dir();
std::string control_socket_path(const std::string& dir, std::string_view name);
// Creates `dir` (mode 0700) if missing. Refuses a path that is not a
// directory or belongs to another user; tightens our own directory to 0700.
Status ensure_private_dir(const std::string& dir);

// Only the VM's owner or root may control it (checked with SO_PEERCRED).
bool control_peer_allowed(uid_t peer_uid, uid_t owner_uid);

// An exclusive flock on <dir>/<name>.lock, held for the VM's lifetime. It makes
// "is this name taken?" atomic: the server takes it before binding, and a
// client only removes a stale socket while holding it.
class NameLock {
public:
    // nullopt: another live process holds the name.
    static Result<std::optional<NameLock>> try_acquire(const std::string& dir, std::string_view name);
    NameLock(NameLock&&) noexcept = default;
    NameLock& operator=(NameLock&&) noexcept = default;
    ~NameLock();
    // Removes the lock file while still holding the lock (acquirers re-check
    // the inode, so this is race-free), then releases it.
    void remove_and_release();

private:
    NameLock(Fd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
    Fd fd_;
    std::string path_;
};

enum class ReadEnd { Line, TooLarge, Timeout, Closed, Failed };
struct ReadResult {
    ReadEnd end = ReadEnd::Failed;
    std::string line;  // without the newline
    Fd fd;             // the first descriptor passed with SCM_RIGHTS, if any
    int err = 0;       // for Failed
};
// Reads one newline-terminated message (a final message without a newline at
// end of stream is accepted) of at most max_bytes including the newline,
// giving up after timeout_ms. Descriptors beyond the first are closed;
// descriptors are only accepted when accept_fd is true. `wake_fd` (optional,
// -1 for none) aborts the wait when readable (server shutdown).
ReadResult read_control_message(int sock, size_t max_bytes, uint32_t timeout_ms, bool accept_fd, int wake_fd = -1);

// Writes `text` + '\n'; when pass_fd >= 0 it rides with the first byte.
Status write_control_message(int sock, std::string_view text, int pass_fd, uint32_t timeout_ms);

}  // namespace gmm::vmm
