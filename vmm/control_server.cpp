#include "control_server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "gmm/abi/boot.h"
#include "json_writer.h"
#include "machine.h"

namespace gmm::vmm {

namespace {

// A timed-out or rejected client gets a best-effort error reply; it must not
// hold the server up for long.
constexpr uint32_t kErrorReplyTimeoutMs = 200;
// How long vCPUs get to park (each is at most one fault or system call away).
constexpr uint64_t kSafepointTimeoutMs = 10000;
// A safepoint nobody resumes within this is released (its checker died).
constexpr std::chrono::seconds kSafepointLease{30};
// Bound on the frames listed in a `dirty` reply (it must fit in 256 KiB).
constexpr size_t kMaxDirtyFramesReported = 4096;

std::string error_reply(std::string_view message) {
    JsonWriter j(JsonStyle::Compact);
    j.begin_object();
    j.key("ok"); j.boolean(false);
    j.key("protocol"); j.u64(kControlProtocolVersion);
    j.key("error"); j.string(message);
    j.end_object();
    return j.str();
}

bool fill_sockaddr(const std::string& path, sockaddr_un& addr) {
    addr = {};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) return false;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    return true;
}

}  // namespace

const char* vm_run_state_name(VmRunState s) {
    switch (s) {
        case VmRunState::Booting: return "booting";
        case VmRunState::Running: return "running";
        case VmRunState::Paused: return "paused";
        case VmRunState::Safepoint: return "safepoint";
    }
    return "?";
}

// ---- MachineControlTarget ----

MachineControlTarget::MachineControlTarget(Machine& machine, uint64_t ram_bytes)
    : machine_(machine), ram_bytes_(ram_bytes) {}

ControlSnapshot MachineControlTarget::snapshot() const {
    ControlSnapshot s;
    s.vcpus = machine_.vcpu_count();
    s.ram_bytes = ram_bytes_;
    s.state = !machine_.started()       ? VmRunState::Booting
              : machine_.in_safepoint() ? VmRunState::Safepoint
              : paused_                 ? VmRunState::Paused
                                        : VmRunState::Running;
    s.slots = machine_.memory().slots();
    const BootLayoutInfo& l = machine_.layout();
    s.layout = ControlLayout{Gpa(GMM_BOOT_INFO_GPA), l.pml4, l.kernel_start, l.kernel_end, l.fdt,
                             l.user_image, l.reserved_end, l.fdt_size_bytes, l.user_image_size_bytes,
                             machine_.memory().host_base().value()};
    s.published = machine_.results_snapshot();
    s.kvm_mode = kvm_mode_name(machine_.kvm_mode());
    return s;
}

Status MachineControlTarget::pause() {
    // Before run() starts the vCPU threads there is nothing to acknowledge.
    if (!machine_.started()) return Err{plain_error("the VM is still booting (vCPUs not started yet); retry")};
    if (paused_) return Ok{};  // pausing a paused VM is a no-op (pauses nest in the runner)
    machine_.pause_all();      // returns once every vCPU thread acknowledged
    paused_ = true;
    return Ok{};
}

Status MachineControlTarget::resume() {
    if (!machine_.started()) return Err{plain_error("the VM is still booting (vCPUs not started yet); retry")};
    if (holds_safepoint_) {
        holds_safepoint_ = false;
        Status st = machine_.safepoint_leave();
        paused_ = false;
        return st;
    }
    if (!paused_) return Ok{};  // resuming a running VM is a no-op
    machine_.resume_all();
    paused_ = false;
    return Ok{};
}

Status MachineControlTarget::safepoint() {
    if (!machine_.started()) return Err{plain_error("the VM is still booting (vCPUs not started yet); retry")};
    if (paused_) return Err{plain_error("the VM is paused; resume it before asking for a safepoint")};
    Status st = machine_.safepoint_enter(kSafepointTimeoutMs);
    if (st) {
        safepoint_since_ = std::chrono::steady_clock::now();
        holds_safepoint_ = true;
    }
    return st;
}

void MachineControlTarget::tick() {
    // Only a safepoint a control client took (not one of `gmm run --check`, in process).
    if (!holds_safepoint_ || !machine_.in_safepoint() ||
        std::chrono::steady_clock::now() - safepoint_since_ < kSafepointLease)
        return;
    holds_safepoint_ = false;
    std::fprintf(stderr, "gmm: control: safepoint released after %lld s without a resume (its client vanished?)\n",
                 static_cast<long long>(std::chrono::duration_cast<std::chrono::seconds>(kSafepointLease).count()));
    (void)machine_.safepoint_leave();
}

Result<ControlTarget::DirtyReport> MachineControlTarget::dirty() {
    if (!machine_.started()) return Err{plain_error("the VM is still booting (vCPUs not started yet); retry")};
    DirtyReport r;
    if (!dirty_started_) {
        if (Status st = machine_.enable_dirty_logging(); !st) return Err{st.error()};
        dirty_started_ = true;
        r.started = true;
    }
    auto pages = machine_.take_dirty_pages();
    if (!pages) return Err{pages.error()};
    r.dirty_pages = pages->size();
    auto free = machine_.free_frames_among(*pages, kMaxDirtyFramesReported);
    if (!free) return Err{free.error()};
    r.free_frames = std::move(free->first);
    r.truncated = free->second;
    return r;
}

Result<std::vector<uint64_t>> MachineControlTarget::cr3s() {
    if (!machine_.started()) return Err{plain_error("the VM is still booting (vCPUs not started yet); retry")};
    const bool pause = !paused_ && !machine_.in_safepoint();
    if (pause) machine_.pause_all();
    auto r = machine_.vcpu_cr3s();
    if (pause) machine_.resume_all();
    return r;
}

void MachineControlTarget::stop() {
    if (holds_safepoint_) {
        holds_safepoint_ = false;
        (void)machine_.safepoint_leave();
    }
    machine_.request_stop();
}

int MachineControlTarget::memfd() const { return machine_.memory().memfd(); }

std::vector<std::map<std::string, uint64_t>> MachineControlTarget::kvm_stats() const {
    return machine_.kvm_stats_snapshot();
}

// ---- ControlServer ----

ControlServer::ControlServer(const ControlServerOptions& options, ControlTarget& target)
    : options_(options), target_(target), started_(std::chrono::steady_clock::now()) {}

Result<std::unique_ptr<ControlServer>> ControlServer::start(const ControlServerOptions& options,
                                                            ControlTarget& target) {
    if (Status st = validate_vm_name(options.name); !st) return Err{st.error()};
    if (Status st = ensure_private_dir(options.dir); !st) return Err{st.error()};
    std::unique_ptr<ControlServer> s(new ControlServer(options, target));
    s->socket_path_ = control_socket_path(options.dir, options.name);
    sockaddr_un addr{};
    if (!fill_sockaddr(s->socket_path_, addr))
        return Err{input_error("control socket path " + s->socket_path_ + " is too long for AF_UNIX",
                               "use a shorter --name or XDG_RUNTIME_DIR")};

    auto lock = NameLock::try_acquire(options.dir, options.name);
    if (!lock) return Err{lock.error()};
    const std::string in_use = "a VM named '" + options.name + "' is already running (" + s->socket_path_ + ")";
    if (!lock->has_value()) return Err{input_error(in_use, "choose another --name")};
    s->lock_ = std::move(*lock);

    // Holding the name lock, a socket file left behind is a ghost if nobody
    // answers on it. A live listener (e.g. a VMM that predates the lock file)
    // still wins.
    Fd probe(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!probe.valid()) return Err{sys_error("socket(AF_UNIX)", errno)};
    if (connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0)
        return Err{input_error(in_use, "choose another --name")};
    if (errno == ECONNREFUSED) {
        if (unlink(s->socket_path_.c_str()) != 0 && errno != ENOENT)
            return Err{sys_error("unlink stale socket " + s->socket_path_, errno)};
    } else if (errno != ENOENT) {
        return Err{sys_error("connect " + s->socket_path_, errno, "is it a socket?")};
    }

    s->listen_fd_ = Fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!s->listen_fd_.valid()) return Err{sys_error("socket(AF_UNIX)", errno)};
    if (bind(s->listen_fd_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
        return Err{sys_error("bind " + s->socket_path_, errno)};
    s->owns_socket_ = true;
    // The directory is 0700, so nobody else can reach the socket before this.
    // (On failure from here on, the destructor unlinks the socket.)
    if (chmod(s->socket_path_.c_str(), 0600) != 0 || listen(s->listen_fd_.get(), 16) != 0)
        return Err{sys_error("chmod/listen " + s->socket_path_, errno)};
    s->wake_fd_ = Fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!s->wake_fd_.valid()) return Err{sys_error("eventfd", errno)};
    ControlServer* raw = s.get();
    s->thread_ = std::thread([raw] { raw->thread_main(); });
    return s;
}

ControlServer::~ControlServer() { stop(); }

void ControlServer::stop() {
    if (stopped_) return;
    stopped_ = true;
    if (thread_.joinable()) {
        const uint64_t one = 1;
        if (write(wake_fd_.get(), &one, sizeof one) < 0) { /* eventfd cannot fail here; join anyway */ }
        thread_.join();
    }
    listen_fd_ = Fd();
    // Still holding the name lock, so the socket at this path is ours. A
    // server refused at start never bound and must not touch the live one.
    if (owns_socket_) unlink(socket_path_.c_str());
    if (lock_) lock_->remove_and_release();
}

void ControlServer::thread_main() {
    for (;;) {
        pollfd fds[2] = {{listen_fd_.get(), POLLIN, 0}, {wake_fd_.get(), POLLIN, 0}};
        const int n = poll(fds, 2, 500);
        target_.tick();
        if (n == 0 || (n < 0 && errno == EINTR)) continue;
        if (n < 0 || (fds[1].revents & POLLIN)) return;
        if (fds[0].revents & (POLLERR | POLLNVAL)) return;
        Fd client(accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
        if (!client.valid()) continue;  // EAGAIN, ECONNABORTED, EMFILE: try again on the next event
        serve_one(client.get());
    }
}

void ControlServer::serve_one(int client) {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (getsockopt(client, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof cred) {
        ++rejected_;
        return;
    }
    if (!control_peer_allowed(cred.uid, geteuid())) {
        ++rejected_;
        (void)write_control_message(client,
                                    error_reply("permission denied: uid " + std::to_string(cred.uid) +
                                                " may not control VM '" + options_.name + "' (owner uid " +
                                                std::to_string(geteuid()) + ")"),
                                    -1, kErrorReplyTimeoutMs);
        return;
    }
    ReadResult req = read_control_message(client, kControlMaxRequestBytes, options_.request_timeout_ms,
                                          /*accept_fd=*/false, wake_fd_.get());
    std::string reply;
    int pass_fd = -1;
    switch (req.end) {
        case ReadEnd::Closed:
        case ReadEnd::Failed: return;
        case ReadEnd::Timeout:
            ++rejected_;
            reply = error_reply("timeout: no complete request line within " +
                                std::to_string(options_.request_timeout_ms) + " ms");
            break;
        case ReadEnd::TooLarge:
            ++rejected_;
            reply = error_reply("request too large: the limit is " + std::to_string(kControlMaxRequestBytes) +
                                " bytes including the newline");
            break;
        case ReadEnd::Line: {
            auto command = parse_control_request(req.line);
            if (!command) {
                ++rejected_;
                reply = error_reply(command.error().message());
            } else {
                reply = execute(*command, pass_fd);
            }
            break;
        }
    }
    (void)write_control_message(client, reply, pass_fd,
                                req.end == ReadEnd::Line ? options_.request_timeout_ms : kErrorReplyTimeoutMs);
    if (pass_fd >= 0) close(pass_fd);
}

std::string ControlServer::execute(ControlCommand command, int& pass_fd) {
    switch (command) {
        case ControlCommand::Info: return info_json();
        case ControlCommand::Pause:
            if (Status st = target_.pause(); !st) return error_reply("pause: " + st.error().message());
            return info_json("pause");
        case ControlCommand::Resume:
            if (Status st = target_.resume(); !st) return error_reply("resume: " + st.error().message());
            return info_json("resume");
        case ControlCommand::Safepoint:
            if (Status st = target_.safepoint(); !st) return error_reply("safepoint: " + st.error().message());
            return info_json("safepoint");
        case ControlCommand::Dirty: {
            auto d = target_.dirty();
            if (!d) return error_reply("dirty: " + d.error().message());
            JsonWriter j(JsonStyle::Compact);
            j.begin_object();
            j.key("ok"); j.boolean(true);
            j.key("protocol"); j.u64(kControlProtocolVersion);
            j.key("cmd"); j.string("dirty");
            j.key("started"); j.boolean(d->started);
            j.key("dirty_pages"); j.u64(d->dirty_pages);
            j.key("truncated"); j.boolean(d->truncated);
            j.key("free_frames"); j.begin_array();
            for (uint64_t g : d->free_frames) j.u64(g);
            j.end_array();
            j.end_object();
            return j.str();
        }
        case ControlCommand::Cr3: {
            auto c = target_.cr3s();
            if (!c) return error_reply("cr3: " + c.error().message());
            JsonWriter j(JsonStyle::Compact);
            j.begin_object();
            j.key("ok"); j.boolean(true);
            j.key("protocol"); j.u64(kControlProtocolVersion);
            j.key("cmd"); j.string("cr3");
            j.key("cr3"); j.begin_array();
            for (uint64_t v : *c) j.u64(v);
            j.end_array();
            j.end_object();
            return j.str();
        }
        case ControlCommand::Stop:
            target_.stop();
            return info_json("stop");
        case ControlCommand::Memfd: {
            // A new read-only open of the same memfd: the client cannot map
            // guest RAM writable even if it tried.
            const std::string proc = "/proc/self/fd/" + std::to_string(target_.memfd());
            pass_fd = open(proc.c_str(), O_RDONLY | O_CLOEXEC);
            if (pass_fd < 0) return error_reply("memfd: reopening guest RAM read-only failed: " +
                                                std::string(errno_name(errno)));
            return info_json("memfd");
        }
        case ControlCommand::KvmStats: {  // lockstat (issue 7)
            const auto stats = target_.kvm_stats();
            return info_json("kvmstats", &stats);
        }
    }
    return error_reply("internal: unhandled command");
}

std::string ControlServer::info_json(const char* done,
                                     const std::vector<std::map<std::string, uint64_t>>* kvm_stats) const {
    const ControlSnapshot s = target_.snapshot();
    const uint64_t uptime_ms = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started_).count());
    JsonWriter j(JsonStyle::Compact);
    j.begin_object();
    j.key("ok"); j.boolean(true);
    j.key("protocol"); j.u64(kControlProtocolVersion);
    j.key("cmd"); j.string(done ? done : "info");
    j.key("name"); j.string(options_.name);
    j.key("pid"); j.u64(static_cast<uint64_t>(getpid()));
    j.key("vcpus"); j.u64(s.vcpus);
    j.key("mem_bytes"); j.u64(s.ram_bytes);
    j.key("workload"); j.string(options_.workload);
    j.key("state"); j.string(vm_run_state_name(s.state));
    j.key("uptime_ms"); j.u64(uptime_ms);
    j.key("abi_version"); j.u64(GMM_ABI_VERSION);
    j.key("kvm_mode"); j.string(s.kvm_mode);
    j.key("slots"); j.begin_array();
    for (const MemorySlot& m : s.slots) {
        j.begin_object();
        j.key("slot"); j.u64(m.slot_id);
        j.key("gpa"); j.u64(m.gpa.value());
        j.key("size_bytes"); j.u64(m.size_bytes);
        j.key("memfd_offset"); j.u64(m.memfd_offset);
        j.end_object();
    }
    j.end_array();
    const ControlLayout& l = s.layout;
    j.key("layout"); j.begin_object();
    j.key("boot_info_gpa"); j.u64(l.boot_info.value());
    j.key("kernel_pml4_gpa"); j.u64(l.kernel_pml4.value());
    j.key("kernel_start_gpa"); j.u64(l.kernel_start.value());
    j.key("kernel_end_gpa"); j.u64(l.kernel_end.value());
    j.key("fdt_gpa"); j.u64(l.fdt.value());
    j.key("fdt_size_bytes"); j.u64(l.fdt_size_bytes);
    j.key("user_image_gpa"); j.u64(l.user_image.value());
    j.key("user_image_size_bytes"); j.u64(l.user_image_size_bytes);
    j.key("reserved_end_gpa"); j.u64(l.reserved_end.value());
    j.key("host_base_hva"); j.u64(l.host_base_hva);
    j.end_object();
    j.key("published"); j.begin_array();
    for (size_t cpu = 0; cpu < s.published.size(); ++cpu) {
        j.begin_object();
        for (const auto& [k, v] : s.published[cpu]) { j.key(k); j.u64(v); }
        j.end_object();
    }
    j.end_array();
    if (kvm_stats) {  // kvmstats: one object of scalar KVM stats per vCPU
        j.key("kvm_stats"); j.begin_array();
        for (const auto& vcpu : *kvm_stats) {
            j.begin_object();
            for (const auto& [k, v] : vcpu) { j.key(k); j.u64(v); }
            j.end_object();
        }
        j.end_array();
    }
    j.end_object();
    return j.str();
}

}  // namespace gmm::vmm
