#include "control_client.h"

#include <dirent.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace gmm::vmm {

namespace {

constexpr size_t kMaxSlots = 8;  // the boot protocol uses two; more is a confused peer

ControlError fail(ControlFailure f, std::string message) { return ControlError{f, std::move(message)}; }

// connect() to the socket at `path`; the Fd is invalid and `err` set on failure.
Fd connect_to(const std::string& path, int& err) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) {
        err = ENAMETOOLONG;
        return Fd();
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    Fd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd.valid()) {
        err = errno;
        return Fd();
    }
    if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        err = errno;
        return Fd();
    }
    err = 0;
    return fd;
}

bool member_u64(const JsonValue& obj, const char* key, uint64_t& out) {
    const JsonValue* v = obj.find(key);
    if (!v || !v->as_u64) return false;
    out = *v->as_u64;
    return true;
}

}  // namespace

ControlResult<ControlReply> control_request_raw(const std::string& path, std::string_view line, uint32_t timeout_ms) {
    int err = 0;
    Fd sock = connect_to(path, err);
    if (!sock.valid()) {
        if (err == ENOENT) return Err{fail(ControlFailure::NoSuchVm, "no control socket at " + path)};
        if (err == ECONNREFUSED)
            return Err{fail(ControlFailure::NoSuchVm, "nobody listens on " + path + " (the VM has ended)")};
        if (err == EACCES || err == EPERM)
            return Err{fail(ControlFailure::Refused, "connect " + path + ": permission denied (another user's VM?)")};
        return Err{fail(ControlFailure::Transport, "connect " + path + ": " + std::strerror(err))};
    }
    // A server that rejects a client (wrong uid) replies and closes without
    // reading: a failed write is only final if no reply follows.
    Status sent = write_control_message(sock.get(), line, -1, timeout_ms);
    ReadResult r = read_control_message(sock.get(), kControlMaxReplyBytes, sent ? timeout_ms : 500, /*accept_fd=*/true);
    if (!sent && r.end != ReadEnd::Line) return Err{fail(ControlFailure::Transport, sent.error().message())};
    switch (r.end) {
        case ReadEnd::Line: break;
        case ReadEnd::Timeout:
            return Err{fail(ControlFailure::Transport,
                            "no reply from " + path + " within " + std::to_string(timeout_ms) + " ms")};
        case ReadEnd::TooLarge:
            return Err{fail(ControlFailure::BadReply, "reply from " + path + " exceeds " +
                                                          std::to_string(kControlMaxReplyBytes) + " bytes")};
        case ReadEnd::Closed:
            return Err{fail(ControlFailure::Transport, path + " closed the connection without a reply")};
        case ReadEnd::Failed:
            return Err{fail(ControlFailure::Transport, "reading from " + path + ": " + std::strerror(r.err))};
    }
    auto json = parse_json(r.line);
    if (!json) return Err{fail(ControlFailure::BadReply, "malformed reply from " + path + ": " + json.error().message())};
    const JsonValue* ok = json->find("ok");
    if (!ok || ok->type != JsonValue::Type::Bool)
        return Err{fail(ControlFailure::BadReply, "reply from " + path + " has no boolean \"ok\"")};
    if (!ok->boolean) {
        const JsonValue* e = json->find("error");
        const std::string why = (e && e->type == JsonValue::Type::String) ? e->string : "(no reason given)";
        return Err{fail(ControlFailure::Refused, why)};
    }
    return ControlReply{std::move(*json), std::move(r.fd)};
}

ControlResult<ControlReply> control_request(const std::string& dir, std::string_view name, ControlCommand command,
                                            uint32_t timeout_ms) {
    if (Status st = validate_vm_name(name); !st) return Err{fail(ControlFailure::NoSuchVm, st.error().message())};
    const std::string line = std::string("{\"cmd\":\"") + control_command_name(command) + "\"}";
    return control_request_raw(control_socket_path(dir, name), line, timeout_ms);
}

Result<std::vector<std::string>> list_vms(const std::string& dir) {
    std::vector<std::string> names;
    DIR* d = opendir(dir.c_str());
    if (!d) {
        if (errno == ENOENT) return names;
        return Err{sys_error("opendir " + dir, errno)};
    }
    std::vector<std::string> candidates;
    while (dirent* e = readdir(d)) {
        const std::string_view file = e->d_name;
        constexpr std::string_view kSuffix = ".sock";
        if (file.size() <= kSuffix.size() || !file.ends_with(kSuffix)) continue;
        const std::string_view name = file.substr(0, file.size() - kSuffix.size());
        if (validate_vm_name(name)) candidates.emplace_back(name);
    }
    closedir(d);
    for (const std::string& name : candidates) {
        const std::string path = control_socket_path(dir, name);
        int err = 0;
        if (connect_to(path, err).valid()) {
            names.push_back(name);
            continue;
        }
        if (err != ECONNREFUSED) continue;  // vanished meanwhile, or not ours to judge
        // A ghost: only remove it while holding the name lock, and only if it
        // still does not answer (a VM may have started under that name).
        auto lock = NameLock::try_acquire(dir, name);
        if (!lock || !lock->has_value()) continue;
        if (!connect_to(path, err).valid() && err == ECONNREFUSED) unlink(path.c_str());
        (*lock)->remove_and_release();
    }
    std::sort(names.begin(), names.end());
    return names;
}

Result<GuestRamView> GuestRamView::map(ControlReply& reply) {
    if (!reply.fd.valid()) return Err{plain_error("memfd reply carried no file descriptor")};
    struct stat st{};
    if (fstat(reply.fd.get(), &st) != 0) return Err{sys_error("fstat on the received memfd", errno)};
    const uint64_t file_bytes = static_cast<uint64_t>(st.st_size);
    const JsonValue* slots = reply.json.find("slots");
    if (!slots || slots->type != JsonValue::Type::Array || slots->items.empty() || slots->items.size() > kMaxSlots)
        return Err{plain_error("memfd reply: \"slots\" is not an array of 1.." + std::to_string(kMaxSlots) + " slots")};
    GuestRamView view;
    for (const JsonValue& s : slots->items) {
        uint64_t id = 0, gpa = 0, size = 0, off = 0, end = 0;
        if (!member_u64(s, "slot", id) || !member_u64(s, "gpa", gpa) || !member_u64(s, "size_bytes", size) ||
            !member_u64(s, "memfd_offset", off))
            return Err{plain_error("memfd reply: a slot lacks slot/gpa/size_bytes/memfd_offset")};
        // The slot must lie inside the file, or reads would fault (SIGBUS).
        if (size < sizeof(uint64_t) || __builtin_add_overflow(off, size, &end) || end > file_bytes ||
            __builtin_add_overflow(gpa, size, &end))
            return Err{plain_error("memfd reply: slot " + std::to_string(id) + " does not fit the " +
                                   std::to_string(file_bytes) + "-byte memfd")};
        view.slots_.push_back(MemorySlot{static_cast<uint32_t>(id), Gpa(gpa), size, off});
    }
    if (file_bytes == 0) return Err{plain_error("the received memfd is empty")};
    void* p = mmap(nullptr, file_bytes, PROT_READ, MAP_SHARED, reply.fd.get(), 0);
    if (p == MAP_FAILED) return Err{sys_error("mmap of the received memfd (read-only)", errno)};
    view.base_ = static_cast<const uint8_t*>(p);
    view.size_bytes_ = file_bytes;
    return view;
}

GuestRamView::GuestRamView(GuestRamView&& o) noexcept
    : base_(std::exchange(o.base_, nullptr)), size_bytes_(std::exchange(o.size_bytes_, 0)),
      slots_(std::move(o.slots_)) {}

GuestRamView::~GuestRamView() {
    if (base_) munmap(const_cast<uint8_t*>(base_), size_bytes_);
}

Result<uint64_t> GuestRamView::read_u64(Gpa gpa) const {
    for (const MemorySlot& s : slots_) {
        if (gpa < s.gpa || gpa.minus(s.gpa) > s.size_bytes - sizeof(uint64_t)) continue;
        const uint8_t* p = base_ + s.memfd_offset + gpa.minus(s.gpa);
        if (gpa.is_aligned(sizeof(uint64_t)))
            return __atomic_load_n(reinterpret_cast<const uint64_t*>(p), __ATOMIC_RELAXED);
        uint64_t v = 0;
        std::memcpy(&v, p, sizeof v);
        return v;
    }
    return Err{input_error("GPA " + std::to_string(gpa.value()) + " (8 bytes) is outside guest RAM")};
}

}  // namespace gmm::vmm
