#include "control_protocol.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "json_writer.h"

namespace gmm::vmm {

namespace {

constexpr struct {
    ControlCommand command;
    const char* name;
} kCommands[] = {
    {ControlCommand::Info, "info"},     {ControlCommand::Pause, "pause"}, {ControlCommand::Resume, "resume"},
    {ControlCommand::Stop, "stop"},     {ControlCommand::Memfd, "memfd"}, {ControlCommand::Safepoint, "safepoint"},
    {ControlCommand::Dirty, "dirty"},   {ControlCommand::Cr3, "cr3"},
    {ControlCommand::KvmStats, "kvmstats"},  // lockstat (issue 7): per-vCPU KVM binary stats
};

// Printable, bounded rendering of untrusted text for error messages.
std::string quoted_excerpt(std::string_view s) {
    constexpr size_t kMax = 40;
    std::string out = "'";
    for (size_t i = 0; i < s.size() && i < kMax; ++i) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
    }
    if (s.size() > kMax) out += "...";
    return out + "'";
}

int64_t now_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

// Waits for `events` on sock until deadline; false on timeout, wake or error.
bool wait_ready(int sock, short events, int64_t deadline_ms, int wake_fd) {
    for (;;) {
        const int64_t left = deadline_ms - now_ms();
        if (left <= 0) return false;
        pollfd fds[2] = {{sock, events, 0}, {wake_fd, POLLIN, 0}};
        const int n = poll(fds, wake_fd >= 0 ? 2 : 1, static_cast<int>(left));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        if (wake_fd >= 0 && (fds[1].revents & POLLIN)) return false;
        return true;  // readable, writable, or HUP/ERR (the next call reports it)
    }
}

}  // namespace

const char* control_command_name(ControlCommand c) {
    for (const auto& k : kCommands)
        if (k.command == c) return k.name;
    return "?";
}

std::string control_command_names() {
    std::string out;
    for (const auto& k : kCommands) out += (out.empty() ? "" : ", ") + std::string(k.name);
    return out;
}

Status validate_vm_name(std::string_view name) {
    const std::string shown = quoted_excerpt(name);
    const std::string rule = " (accepted: 1-64 characters of A-Z a-z 0-9 . _ -, not starting with a dot)";
    if (name.empty()) return Err{input_error("VM name is empty" + rule)};
    if (name.size() > kVmNameMaxChars)
        return Err{input_error("VM name " + shown + " is " + std::to_string(name.size()) + " characters long" + rule)};
    if (name[0] == '.') return Err{input_error("VM name " + shown + " starts with a dot" + rule)};
    for (char c : name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                        c == '_' || c == '-';
        if (!ok) return Err{input_error("VM name " + shown + " contains a character outside the allowed set" + rule)};
    }
    return Ok{};
}

Result<ControlCommand> parse_control_request(std::string_view line) {
    const std::string accepted = "(accepted: " + control_command_names() + ")";
    auto v = parse_json(line);
    if (!v) return Err{input_error("malformed JSON request: " + v.error().message())};
    if (v->type != JsonValue::Type::Object)
        return Err{input_error("request is not a JSON object (expected {\"cmd\": \"info\"})")};
    for (const std::string& k : v->keys)
        if (k != "cmd") return Err{input_error("unknown request member " + quoted_excerpt(k) + " (accepted: cmd)")};
    const JsonValue* cmd = v->find("cmd");
    if (!cmd) return Err{input_error("request has no \"cmd\" member " + accepted)};
    if (cmd->type != JsonValue::Type::String) return Err{input_error("\"cmd\" is not a string " + accepted)};
    for (const auto& k : kCommands)
        if (cmd->string == k.name) return k.command;
    return Err{input_error("unknown command " + quoted_excerpt(cmd->string) + " " + accepted)};
}

std::string default_control_dir() {
    const char* xdg = std::getenv("XDG_RUNTIME_DIR");
    if (xdg && xdg[0] == '/') return std::string(xdg) + "/gmm";
    return "/run/gmm";
}

std::string control_socket_path(const std::string& dir, std::string_view name) {
    return dir + "/" + std::string(name) + ".sock";
}

Status ensure_private_dir(const std::string& dir) {
    if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
        return Err{sys_error("mkdir " + dir, errno, "set XDG_RUNTIME_DIR to a directory you own, or run as root")};
    struct stat st{};
    if (lstat(dir.c_str(), &st) != 0) return Err{sys_error("lstat " + dir, errno)};
    if (!S_ISDIR(st.st_mode)) return Err{plain_error(dir + " is not a directory (a symlink or file is refused)")};
    if (st.st_uid != geteuid())
        return Err{plain_error(dir + " belongs to uid " + std::to_string(st.st_uid) + ", not to us (uid " +
                               std::to_string(geteuid()) + ")",
                               "remove it or set XDG_RUNTIME_DIR")};
    if ((st.st_mode & 077) != 0 && chmod(dir.c_str(), 0700) != 0) return Err{sys_error("chmod 0700 " + dir, errno)};
    return Ok{};
}

bool control_peer_allowed(uid_t peer_uid, uid_t owner_uid) { return peer_uid == owner_uid || peer_uid == 0; }

Result<std::optional<NameLock>> NameLock::try_acquire(const std::string& dir, std::string_view name) {
    const std::string path = dir + "/" + std::string(name) + ".lock";
    // Bounded: each retry means another process removed the file meanwhile.
    for (int attempt = 0; attempt < 8; ++attempt) {
        Fd fd(open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
        if (!fd.valid()) return Err{sys_error("open " + path, errno)};
        if (flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
            if (errno == EWOULDBLOCK) return std::optional<NameLock>{};
            return Err{sys_error("flock " + path, errno)};
        }
        // The holder may have unlinked the file just before we locked it:
        // only a lock on the inode still at `path` counts.
        struct stat held{}, now{};
        if (fstat(fd.get(), &held) != 0) return Err{sys_error("fstat " + path, errno)};
        if (stat(path.c_str(), &now) == 0 && now.st_ino == held.st_ino && now.st_dev == held.st_dev)
            return std::optional<NameLock>(NameLock(std::move(fd), path));
    }
    return Err{plain_error("cannot lock " + path + ": it keeps being replaced")};
}

NameLock::~NameLock() = default;  // closing the fd releases the flock

void NameLock::remove_and_release() {
    if (!fd_.valid()) return;
    unlink(path_.c_str());
    fd_ = Fd();
}

ReadResult read_control_message(int sock, size_t max_bytes, uint32_t timeout_ms, bool accept_fd, int wake_fd) {
    ReadResult r;
    const int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        if (!wait_ready(sock, POLLIN, deadline, wake_fd)) {
            r.end = ReadEnd::Timeout;
            return r;
        }
        // Read at most up to the cap (+1 to see that it was exceeded).
        char buf[4096];
        const size_t want = std::min(sizeof buf, max_bytes + 1 - r.line.size());
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
        iovec iov{buf, want};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        const ssize_t n = recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n < 0) {
            r.end = ReadEnd::Failed;
            r.err = errno;
            return r;
        }
        // Take ownership of every passed descriptor before anything else so
        // none leaks; keep the first only when one is expected.
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
            const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < count; ++i) {
                int fd = -1;
                std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
                if (accept_fd && !r.fd.valid()) r.fd = Fd(fd);
                else close(fd);
            }
        }
        if (n == 0) {
            r.end = r.line.empty() ? ReadEnd::Closed : ReadEnd::Line;
            return r;
        }
        r.line.append(buf, static_cast<size_t>(n));
        if (const size_t nl = r.line.find('\n'); nl != std::string::npos) {
            if (nl + 1 > max_bytes) {
                r.end = ReadEnd::TooLarge;
                return r;
            }
            r.line.resize(nl);  // anything after the first message is ignored
            r.end = ReadEnd::Line;
            return r;
        }
        if (r.line.size() >= max_bytes) {
            r.end = ReadEnd::TooLarge;
            return r;
        }
    }
}

Status write_control_message(int sock, std::string_view text, int pass_fd, uint32_t timeout_ms) {
    std::string data(text);
    data += '\n';
    const int64_t deadline = now_ms() + timeout_ms;
    size_t sent = 0;
    while (sent < data.size()) {
        iovec iov{data.data() + sent, data.size() - sent};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
        if (sent == 0 && pass_fd >= 0) {
            msg.msg_control = control;
            msg.msg_controllen = sizeof control;
            cmsghdr* c = CMSG_FIRSTHDR(&msg);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof(int));
            std::memcpy(CMSG_DATA(c), &pass_fd, sizeof pass_fd);
        }
        const ssize_t n = sendmsg(sock, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            sent += static_cast<size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno != EAGAIN) return Err{sys_error("control socket sendmsg", errno)};
        if (!wait_ready(sock, POLLOUT, deadline, -1))
            return Err{plain_error("control socket: peer did not take the message within " +
                                   std::to_string(timeout_ms) + " ms")};
    }
    return Ok{};
}

}  // namespace gmm::vmm
