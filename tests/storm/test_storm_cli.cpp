// `gmm storm` before boot (no KVM): --dump-programs is byte-identical across
// processes for the same seed (each process has its own Lua hash seed and
// ASLR), every library storm compiles, and script errors exit 2 with one
// FILE:LINE line.
#include <catch2/catch.hpp>

#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct Cli {
    int exit_code;
    std::string output;  // stdout + stderr
};

Cli run(const std::vector<std::string>& args) {
    std::string cmd = std::string(GMM_TEST_GMM_BINARY) + " storm";
    for (const auto& a : args) cmd += " '" + a + "'";
    cmd += " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    REQUIRE(p);
    std::string out;
    char buf[4096];
    while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    const int st = pclose(p);
    return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string temp(const std::string& what) { return "/tmp/gmm-storm-cli-" + std::to_string(getpid()) + "-" + what; }

std::vector<std::string> library() {
    std::vector<std::string> files;
    if (DIR* d = opendir(GMM_TEST_STORMS_DIR)) {
        while (dirent* e = readdir(d)) {
            const std::string n = e->d_name;
            if (n.size() > 4 && n.substr(n.size() - 4) == ".lua") files.push_back(std::string(GMM_TEST_STORMS_DIR) + "/" + n);
        }
        closedir(d);
    }
    return files;
}

}  // namespace

TEST_CASE("gmm storm: the same seed compiles to byte-identical programs in separate processes", "[storm_cli]") {
    const std::string script = std::string(GMM_TEST_STORMS_DIR) + "/random.lua";
    const std::string a = temp("a"), b = temp("b"), c = temp("c");
    REQUIRE(run({script, "--seed", "1234", "--vcpus", "3", "--dump-programs", a}).exit_code == 0);
    REQUIRE(run({script, "--seed", "1234", "--vcpus", "3", "--dump-programs", b}).exit_code == 0);
    REQUIRE(run({script, "--seed", "1235", "--vcpus", "3", "--dump-programs", c}).exit_code == 0);
    const std::string pa = slurp(a), pb = slurp(b), pc = slurp(c);
    CHECK(pa.size() > 64);
    CHECK(pa == pb);
    CHECK(pa != pc);
    for (const auto& f : {a, b, c}) unlink(f.c_str());
    // With file regions (the soak's files=true) too.
    REQUIRE(run({script, "--seed", "77", "--param", "files=true", "--dump-programs", a}).exit_code == 0);
    REQUIRE(run({script, "--seed", "77", "--param", "files=true", "--dump-programs", b}).exit_code == 0);
    CHECK(slurp(a) == slurp(b));
    CHECK(slurp(a).size() > 64);
    for (const auto& f : {a, b}) unlink(f.c_str());
}

TEST_CASE("gmm storm: every library storm compiles", "[storm_cli]") {
    const auto files = library();
    REQUIRE(files.size() >= 7);
    for (const std::string& f : files)
        for (const char* vcpus : {"2", "4"}) {
            DYNAMIC_SECTION(f << " --vcpus " << vcpus) {
                const Cli r = run({f, "--vcpus", vcpus, "--describe"});
                INFO(r.output);
                CHECK(r.exit_code == 0);
                CHECK(r.output.find("thread '") != std::string::npos);
            }
        }
}

TEST_CASE("gmm storm: script errors exit 2 with FILE:LINE", "[storm_cli]") {
    const std::string path = temp("bad.lua");
    {
        std::ofstream out(path);
        out << "local r = region{size = 4 * PAGE}\n"
               "thread{vcpu = 0,\n"
               "  touch(r, {length = 0}),\n"
               "}\n";
    }
    Cli r = run({path, "--describe"});
    CHECK(r.exit_code == 2);
    CHECK(r.output.find(path + ":3: touch: length 0") != std::string::npos);
    {
        std::ofstream out(path);
        out << "local f = io.open('/etc/passwd')\n";
    }
    r = run({path, "--describe"});
    CHECK(r.exit_code == 2);
    CHECK(r.output.find(path + ":1: 'io.open' is not available") != std::string::npos);
    r = run({temp("missing.lua")});
    CHECK(r.exit_code == 2);
    CHECK(r.output.find("cannot read the script") != std::string::npos);
    r = run({path, "--param", "x"});
    CHECK(r.exit_code == 2);
    CHECK(r.output.find("expected KEY=VALUE") != std::string::npos);
    r = run({path, "--mm", "nope"});
    CHECK(r.exit_code == 2);
    CHECK(r.output.find("unknown policy 'nope'") != std::string::npos);
    unlink(path.c_str());
}
