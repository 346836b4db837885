// Helpers shared by the control-socket tests: a private temp directory, raw
// socket clients that misbehave on purpose, and subprocesses with a hard limit.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace gmm::test {

// mkdtemp under $TMPDIR or /tmp; removed (shallowly) by the destructor.
class TempDir {
public:
    TempDir() {
        const char* base = std::getenv("TMPDIR");
        std::string tmpl = std::string(base && *base ? base : "/tmp") + "/gmm-ctl-XXXXXX";
        if (!mkdtemp(tmpl.data())) std::abort();
        path_ = tmpl;
    }
    ~TempDir() {
        // Best effort: the control dir inside holds at most sockets and locks.
        const std::string cmd = "rm -rf '" + path_ + "'";
        if (std::system(cmd.c_str()) != 0) { /* leftover temp dir is harmless */ }
    }
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

inline bool file_exists(const std::string& path) {
    struct stat st{};
    return lstat(path.c_str(), &st) == 0;
}

// A connected AF_UNIX stream socket, or -1.
inline int connect_unix(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) return -1;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

// Leaves a socket file nobody listens on: what a killed VM leaves behind.
inline bool make_dead_socket(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    const bool ok = fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 && listen(fd, 1) == 0;
    if (fd >= 0) close(fd);
    return ok;
}

// Reads until EOF or `limit` passes.
inline std::string read_until_eof(int fd, std::chrono::milliseconds limit) {
    std::string out;
    const auto end = std::chrono::steady_clock::now() + limit;
    char buf[4096];
    while (std::chrono::steady_clock::now() < end) {
        const ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) out.append(buf, static_cast<size_t>(n));
        else if (n == 0) break;
        else if (errno == EAGAIN || errno == EINTR) std::this_thread::sleep_for(std::chrono::milliseconds(5));
        else break;
    }
    return out;
}

inline std::string read_file_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

struct Proc {
    pid_t pid = -1;
    std::string out_path, err_path;
};

// Starts argv with stdout/stderr to files in `dir`.
inline Proc spawn(const std::vector<std::string>& args, const std::string& dir, const std::string& tag) {
    Proc p;
    p.out_path = dir + "/" + tag + ".out";
    p.err_path = dir + "/" + tag + ".err";
    std::vector<std::string> copy = args;
    std::vector<char*> argv;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    p.pid = fork();
    if (p.pid == 0) {
        const int out = open(p.out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        const int err = open(p.err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (out < 0 || err < 0) _exit(126);
        dup2(out, 1);
        dup2(err, 2);
        execv(argv[0], argv.data());
        _exit(127);
    }
    return p;
}

// Waits up to `limit`, then kills. Exit code, or -1 if killed/signalled.
inline int wait_exit(Proc& p, std::chrono::milliseconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    int status = 0;
    for (;;) {
        const pid_t r = waitpid(p.pid, &status, WNOHANG);
        if (r == p.pid) break;
        if (r < 0) return -1;
        if (std::chrono::steady_clock::now() > end) {
            kill(p.pid, SIGKILL);
            waitpid(p.pid, &status, 0);
            p.pid = -1;
            return -1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    p.pid = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

struct Captured {
    int exit_code = -1;
    std::string out, err;
};

inline Captured run_capture(const std::vector<std::string>& args, const std::string& dir, const std::string& tag,
                            std::chrono::milliseconds limit = std::chrono::milliseconds(15000)) {
    Proc p = spawn(args, dir, tag);
    Captured c;
    c.exit_code = wait_exit(p, limit);
    c.out = read_file_text(p.out_path);
    c.err = read_file_text(p.err_path);
    return c;
}

}  // namespace gmm::test
