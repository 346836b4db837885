// The control socket without KVM: request parsing and limits, VM names, the
// uid check, ghost clean-up and name clashes, against a real ControlServer
// driving a fake VM (a memfd for guest RAM and counters for the commands).
#include <catch2/catch.hpp>

#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "control_client.h"
#include "gmm/abi/boot.h"
#include "control_server.h"
#include "control_test_util.h"

using gmm::Gpa;
using gmm::Ok;
using namespace gmm::vmm;
using gmm::test::TempDir;
using namespace std::chrono_literals;

namespace {

class FakeVm final : public ControlTarget {
public:
    FakeVm() {
        memfd_ = memfd_create("fake-guest-ram", MFD_CLOEXEC);
        REQUIRE(memfd_ >= 0);
        REQUIRE(ftruncate(memfd_, kRamBytes) == 0);
        const uint64_t magic = 0x1122334455667788ull;
        REQUIRE(pwrite(memfd_, &magic, sizeof magic, kCounterGpa) == sizeof magic);
    }
    ~FakeVm() override { close(memfd_); }
    ControlSnapshot snapshot() const override {
        ControlSnapshot s;
        s.vcpus = 2;
        s.ram_bytes = kRamBytes;
        s.state = paused ? VmRunState::Paused : VmRunState::Running;
        s.slots = ram_layout(kRamBytes);
        s.layout.kernel_pml4 = Gpa(0x10000);
        s.published.resize(2);
        s.published[0]["spin_counter_gpa"] = kCounterGpa;
        return s;
    }
    Status pause() override {
        ++pauses;
        paused = true;
        return Ok{};
    }
    Status resume() override {
        paused = false;
        return Ok{};
    }
    Status safepoint() override {
        ++safepoints;
        paused = true;
        return Ok{};
    }
    void stop() override { ++stops; }
    int memfd() const override { return memfd_; }
    std::vector<std::map<std::string, uint64_t>> kvm_stats() const override {
        ++kvm_stats_reads;
        return {{{"exits", 100}, {"insn_emulation", 5000}}, {{"exits", 7}, {"insn_emulation", 9}}};
    }

    int safepoints = 0;
    static constexpr uint64_t kRamBytes = 4ull << 20;
    static constexpr uint64_t kCounterGpa = 0x200008;
    bool paused = false;
    int pauses = 0, stops = 0;
    mutable int kvm_stats_reads = 0;

private:
    int memfd_ = -1;
};

std::unique_ptr<ControlServer> start_server(const std::string& dir, const std::string& name, ControlTarget& t,
                                            uint32_t timeout_ms = kControlRequestTimeoutMs) {
    auto s = ControlServer::start({dir, name, "spin", timeout_ms}, t);
    if (!s) FAIL("ControlServer::start: " << s.error().message());
    return std::move(*s);
}

// Sends raw bytes and returns the server's whole reply.
std::string raw_exchange(const std::string& path, const std::string& bytes) {
    const int fd = gmm::test::connect_unix(path);
    REQUIRE(fd >= 0);
    size_t off = 0;
    while (off < bytes.size()) {
        const ssize_t n = send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
        if (n <= 0) break;  // the server may stop reading once the cap is exceeded
        off += static_cast<size_t>(n);
    }
    shutdown(fd, SHUT_WR);
    std::string reply = gmm::test::read_until_eof(fd, 5000ms);
    close(fd);
    return reply;
}

std::string error_of(const std::string& reply_line) {
    auto v = parse_json(reply_line);
    REQUIRE(v.ok());
    REQUIRE(v->find("ok"));
    CHECK_FALSE(v->find("ok")->boolean);
    REQUIRE(v->find("error"));
    return v->find("error")->string;
}

}  // namespace

TEST_CASE("VM names: 1-64 of [A-Za-z0-9._-], no leading dot", "[control][unit]") {
    CHECK(validate_vm_name("gmm-1234"));
    CHECK(validate_vm_name("a"));
    CHECK(validate_vm_name("A.b_c-9"));
    CHECK(validate_vm_name(std::string(64, 'x')));
    CHECK_FALSE(validate_vm_name(""));
    CHECK_FALSE(validate_vm_name(std::string(65, 'x')));
    CHECK_FALSE(validate_vm_name(".hidden"));
    CHECK_FALSE(validate_vm_name("a/b"));
    CHECK_FALSE(validate_vm_name("../x"));
    CHECK_FALSE(validate_vm_name("sp ace"));
    CHECK_FALSE(validate_vm_name(std::string("nul\0x", 5)));
    auto st = validate_vm_name("a/b");
    CHECK(st.error().message().find("'a/b'") != std::string::npos);
    CHECK(st.error().kind == ErrorKind::BadInput);
}

TEST_CASE("requests: one object with a known cmd, nothing else", "[control][unit]") {
    CHECK(*parse_control_request(R"({"cmd":"info"})") == ControlCommand::Info);
    CHECK(*parse_control_request(R"( {"cmd" : "pause"} )") == ControlCommand::Pause);
    CHECK(*parse_control_request(R"({"cmd":"resume"})") == ControlCommand::Resume);
    CHECK(*parse_control_request(R"({"cmd":"stop"})") == ControlCommand::Stop);
    CHECK(*parse_control_request(R"({"cmd":"memfd"})") == ControlCommand::Memfd);
    auto msg = [](std::string_view line) {
        auto r = parse_control_request(line);
        REQUIRE_FALSE(r.ok());
        return r.error().message();
    };
    CHECK(msg(R"({"cmd":"info")").find("malformed JSON") != std::string::npos);
    CHECK(msg("").find("malformed JSON") != std::string::npos);
    CHECK(msg(R"(["info"])").find("not a JSON object") != std::string::npos);
    CHECK(msg(R"({"cmd":"reboot"})").find("unknown command 'reboot'") != std::string::npos);
    CHECK(msg(R"({"cmd":"reboot"})").find("accepted: info, pause") != std::string::npos);
    CHECK(msg(R"({"cmd":7})").find("not a string") != std::string::npos);
    CHECK(msg(R"({})").find("no \"cmd\"") != std::string::npos);
    CHECK(msg(R"({"cmd":"info","x":1})").find("unknown request member 'x'") != std::string::npos);
    CHECK(msg(R"({"cmd":"info","cmd":"stop"})").find("malformed JSON") != std::string::npos);  // duplicate key
}

TEST_CASE("only the owner or root may control a VM", "[control][unit]") {
    CHECK(control_peer_allowed(1000, 1000));
    CHECK(control_peer_allowed(0, 1000));
    CHECK(control_peer_allowed(0, 0));
    CHECK_FALSE(control_peer_allowed(1001, 1000));
    CHECK_FALSE(control_peer_allowed(65534, 0));
}

TEST_CASE("the server serves info, pause, resume, stop over a 0600 socket", "[control][unit]") {
    TempDir tmp;
    const std::string dir = tmp.path() + "/gmm";
    FakeVm vm;
    auto server = start_server(dir, "vm-a", vm);
    struct stat st{};
    REQUIRE(stat(dir.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0700);
    REQUIRE(stat(server->socket_path().c_str(), &st) == 0);
    CHECK(S_ISSOCK(st.st_mode));
    CHECK((st.st_mode & 0777) == 0600);

    auto info = control_request(dir, "vm-a", ControlCommand::Info);
    REQUIRE(info.ok());
    const JsonValue& j = info->json;
    CHECK(j.find("name")->string == "vm-a");
    CHECK(*j.find("pid")->as_u64 == static_cast<uint64_t>(getpid()));
    CHECK(*j.find("vcpus")->as_u64 == 2);
    CHECK(*j.find("mem_bytes")->as_u64 == FakeVm::kRamBytes);
    CHECK(j.find("workload")->string == "spin");
    CHECK(j.find("state")->string == "running");
    CHECK(*j.find("abi_version")->as_u64 == GMM_ABI_VERSION);
    CHECK(j.find("slots")->items.size() == 1);
    CHECK(*j.find("layout")->find("kernel_pml4_gpa")->as_u64 == 0x10000);
    CHECK(*j.find("published")->items[0].find("spin_counter_gpa")->as_u64 == FakeVm::kCounterGpa);
    CHECK_FALSE(info->fd.valid());

    REQUIRE(control_request(dir, "vm-a", ControlCommand::Pause).ok());
    CHECK(vm.pauses == 1);
    CHECK(control_request(dir, "vm-a", ControlCommand::Info)->json.find("state")->string == "paused");
    REQUIRE(control_request(dir, "vm-a", ControlCommand::Resume).ok());
    CHECK_FALSE(vm.paused);
    REQUIRE(control_request(dir, "vm-a", ControlCommand::Stop).ok());
    CHECK(vm.stops == 1);

    server->stop();
    CHECK_FALSE(gmm::test::file_exists(control_socket_path(dir, "vm-a")));
    CHECK_FALSE(gmm::test::file_exists(dir + "/vm-a.lock"));
    auto gone = control_request(dir, "vm-a", ControlCommand::Info);
    REQUIRE_FALSE(gone.ok());
    CHECK(gone.error().failure == ControlFailure::NoSuchVm);
}

TEST_CASE("bad input gets an error reply naming the problem, and the server lives on", "[control][unit]") {
    TempDir tmp;
    FakeVm vm;
    auto server = start_server(tmp.path(), "vm-b", vm, 300);
    const std::string path = server->socket_path();

    CHECK(error_of(raw_exchange(path, "{\"cmd\":\n")).find("malformed JSON") != std::string::npos);
    CHECK(error_of(raw_exchange(path, "{\"cmd\":\"format-disk\"}\n")).find("unknown command 'format-disk'") !=
          std::string::npos);
    CHECK(error_of(raw_exchange(path, std::string(5000, 'x'))).find("too large") != std::string::npos);
    // Exactly at the cap (newline included) is accepted; one more byte is not.
    const std::string base = "{\"cmd\":\"info\"}";
    const std::string fits = base + std::string(kControlMaxRequestBytes - base.size() - 1, ' ') + "\n";
    CHECK(raw_exchange(path, fits).find("\"ok\":true") != std::string::npos);
    CHECK(error_of(raw_exchange(path, base + std::string(kControlMaxRequestBytes - base.size(), ' ') + "\n"))
              .find("too large") != std::string::npos);
    CHECK(error_of(raw_exchange(path, std::string("\x01\xff\xfe\n", 4))).find("malformed JSON") != std::string::npos);
    // A request without a trailing newline at end of stream still counts.
    CHECK(raw_exchange(path, base).find("\"ok\":true") != std::string::npos);
    CHECK(server->requests_rejected() == 5);

    // Connect and stay silent: the server times out (300 ms) and serves the next client.
    const int silent = gmm::test::connect_unix(path);
    REQUIRE(silent >= 0);
    const auto t0 = std::chrono::steady_clock::now();
    auto info = control_request(tmp.path(), "vm-b", ControlCommand::Info, 5000);
    CHECK(info.ok());
    CHECK(std::chrono::steady_clock::now() - t0 < 3s);
    CHECK(gmm::test::read_until_eof(silent, 1000ms).find("timeout") != std::string::npos);
    close(silent);

    // Descriptors sent to the server are dropped, not kept.
    const int sock = gmm::test::connect_unix(path);
    REQUIRE(sock >= 0);
    REQUIRE(write_control_message(sock, base, STDIN_FILENO, 1000).ok());
    CHECK(gmm::test::read_until_eof(sock, 2000ms).find("\"ok\":true") != std::string::npos);
    close(sock);
    CHECK(control_request(tmp.path(), "vm-b", ControlCommand::Info).ok());
}

TEST_CASE("kvmstats: the VM description plus each vCPU's KVM stats, read on request", "[control][unit]") {
    TempDir tmp;
    FakeVm vm;
    auto server = start_server(tmp.path(), "vm-k", vm);
    auto reply = control_request(tmp.path(), "vm-k", ControlCommand::KvmStats);
    REQUIRE(reply.ok());
    CHECK(vm.kvm_stats_reads == 1);
    const JsonValue& j = reply->json;
    CHECK(j.find("cmd")->string == "kvmstats");
    CHECK(j.find("name")->string == "vm-k");
    const JsonValue* k = j.find("kvm_stats");
    REQUIRE(k != nullptr);
    REQUIRE(k->items.size() == 2);
    CHECK(*k->items[0].find("exits")->as_u64 == 100);
    CHECK(*k->items[0].find("insn_emulation")->as_u64 == 5000);
    CHECK(*k->items[1].find("exits")->as_u64 == 7);
    CHECK_FALSE(reply->fd.valid());
    // Other replies do not carry it (nor read the stats).
    auto info = control_request(tmp.path(), "vm-k", ControlCommand::Info);
    REQUIRE(info.ok());
    CHECK(info->json.find("kvm_stats") == nullptr);
    CHECK(vm.kvm_stats_reads == 1);
}

TEST_CASE("memfd arrives over SCM_RIGHTS and maps read-only only", "[control][unit]") {
    TempDir tmp;
    FakeVm vm;
    auto server = start_server(tmp.path(), "vm-c", vm);
    auto reply = control_request(tmp.path(), "vm-c", ControlCommand::Memfd);
    REQUIRE(reply.ok());
    REQUIRE(reply->fd.valid());
    // The server reopened it O_RDONLY: a writable shared mapping is refused.
    void* w = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, reply->fd.get(), 0);
    CHECK(w == MAP_FAILED);
    if (w != MAP_FAILED) munmap(w, 4096);
    auto view = GuestRamView::map(*reply);
    REQUIRE(view.ok());
    auto v = view->read_u64(Gpa(FakeVm::kCounterGpa));
    REQUIRE(v.ok());
    CHECK(*v == 0x1122334455667788ull);
    CHECK_FALSE(view->read_u64(Gpa(FakeVm::kRamBytes - 4)).ok());  // straddles the end
    CHECK_FALSE(view->read_u64(Gpa(~0ull - 3)).ok());
}

TEST_CASE("a live name is refused; a ghost socket is cleaned up", "[control][unit]") {
    TempDir tmp;
    const std::string dir = tmp.path();
    FakeVm vm;
    auto first = start_server(dir, "twin", vm);
    auto second = ControlServer::start({dir, "twin", "spin"}, vm);
    REQUIRE_FALSE(second.ok());
    CHECK(second.error().kind == ErrorKind::BadInput);
    CHECK(second.error().message().find("already running") != std::string::npos);
    CHECK(control_request(dir, "twin", ControlCommand::Info).ok());  // the first is untouched

    // A VM killed without clean-up leaves a socket nobody answers on.
    REQUIRE(gmm::test::make_dead_socket(control_socket_path(dir, "ghost")));
    REQUIRE(gmm::test::make_dead_socket(control_socket_path(dir, "ghost2")));
    auto refused = control_request(dir, "ghost", ControlCommand::Info);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().failure == ControlFailure::NoSuchVm);
    // Starting a VM under a ghost's name replaces the ghost.
    auto reborn = start_server(dir, "ghost", vm);
    CHECK(control_request(dir, "ghost", ControlCommand::Info).ok());
    // Listing removes the remaining ghost and reports only live VMs.
    auto names = list_vms(dir);
    REQUIRE(names.ok());
    CHECK(*names == std::vector<std::string>{"ghost", "twin"});
    CHECK_FALSE(gmm::test::file_exists(control_socket_path(dir, "ghost2")));
    CHECK_FALSE(gmm::test::file_exists(dir + "/ghost2.lock"));
    CHECK(list_vms(dir + "/missing")->empty());
}

TEST_CASE("the control directory must be a private directory of ours", "[control][unit]") {
    TempDir tmp;
    const std::string file = tmp.path() + "/plain-file";
    { std::ofstream(file) << "x"; }
    CHECK_FALSE(ensure_private_dir(file).ok());
    const std::string link = tmp.path() + "/link";
    REQUIRE(symlink(tmp.path().c_str(), link.c_str()) == 0);
    CHECK_FALSE(ensure_private_dir(link).ok());
    const std::string loose = tmp.path() + "/loose";
    REQUIRE(mkdir(loose.c_str(), 0777) == 0);
    REQUIRE(chmod(loose.c_str(), 0777) == 0);
    REQUIRE(ensure_private_dir(loose).ok());
    struct stat st{};
    REQUIRE(stat(loose.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0700);
    FakeVm vm;
    auto bad = ControlServer::start({tmp.path(), "../escape", "spin"}, vm);
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().kind == ErrorKind::BadInput);
}

TEST_CASE("a client of another uid is refused by SO_PEERCRED", "[control][unit][uid]") {
    if (geteuid() != 0) {
        WARN("not root: cannot become another uid; covered by the control_peer_allowed unit test");
        return;
    }
    TempDir tmp;
    FakeVm vm;
    auto server = start_server(tmp.path() + "/gmm", "vm-d", vm);
    // Open the file-system path so only the SO_PEERCRED check stands in the way.
    REQUIRE(chmod(tmp.path().c_str(), 0755) == 0);
    REQUIRE(chmod((tmp.path() + "/gmm").c_str(), 0755) == 0);
    REQUIRE(chmod(server->socket_path().c_str(), 0666) == 0);
    const uint64_t rejected_before = server->requests_rejected();
    const pid_t pid = fork();
    if (pid == 0) {
        if (setgid(65534) != 0 || setuid(65534) != 0) _exit(3);
        auto r = control_request_raw(server->socket_path(), R"({"cmd":"stop"})", 3000);
        if (r.ok()) _exit(1);  // served: the check failed
        _exit(r.error().failure == ControlFailure::Refused &&
                      r.error().message.find("permission denied: uid 65534") != std::string::npos
                  ? 0
                  : 2);
    }
    REQUIRE(pid > 0);
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(vm.stops == 0);
    CHECK(server->requests_rejected() == rejected_before + 1);
}
