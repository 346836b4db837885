#include "gmm_runner.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

namespace gmm::test {

namespace {

std::string read_all(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string temp_path(const char* what) {
    static int counter = 0;
    const char* dir = std::getenv("TMPDIR");
    return std::string(dir && *dir ? dir : "/tmp") + "/gmm-vmtest-" + std::to_string(getpid()) + "-" +
           std::to_string(counter++) + "-" + what;
}

}  // namespace

GmmRun run_gmm(const std::vector<std::string>& args, std::chrono::seconds hard_limit) {
    return run_gmm_command("run", args, hard_limit);
}

GmmRun run_gmm_command(const std::string& subcommand, const std::vector<std::string>& args,
                       std::chrono::seconds hard_limit) {
    const std::string out_path = temp_path("stdout"), err_path = temp_path("stderr"), json_path = temp_path("json");
    std::vector<std::string> argv_s = {GMM_TEST_GMM_BINARY, subcommand};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    argv_s.push_back("--json");
    argv_s.push_back(json_path);
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);

    GmmRun run;
    const auto start = std::chrono::steady_clock::now();
    const pid_t pid = fork();
    if (pid == 0) {
        const int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (out < 0 || err < 0) _exit(126);
        dup2(out, 1);
        dup2(err, 2);
        execv(argv[0], argv.data());
        _exit(127);
    }
    if (pid < 0) {
        run.stderr_text = "fork failed";
        return run;
    }
    int status = 0;
    for (;;) {
        const pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) break;
        if (std::chrono::steady_clock::now() - start > hard_limit) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            run.killed_at_limit = true;
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    run.wall = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    run.stdout_text = read_all(out_path);
    run.stderr_text = read_all(err_path);
    const std::string json_text = read_all(json_path);
    if (!json_text.empty()) {
        try {
            run.json = JsonValue::parse(json_text);
        } catch (const std::exception& e) {
            run.json_error = e.what();
        }
    } else {
        run.json_error = "no JSON written";
    }
    unlink(out_path.c_str());
    unlink(err_path.c_str());
    unlink(json_path.c_str());
    return run;
}

GmmRun run_workload(const std::string& workload, int vcpus, const std::string& mm,
                    const std::vector<std::string>& params, const std::vector<std::string>& extra,
                    std::chrono::seconds timeout, std::chrono::seconds hard_limit) {
    std::vector<std::string> args = {"--vcpus", std::to_string(vcpus), "--workload", workload, "--timeout",
                                     std::to_string(timeout.count())};
    if (!mm.empty()) {
        args.push_back("--mm");
        args.push_back(mm);
    }
    for (const auto& p : params) {
        args.push_back("--param");
        args.push_back(p);
    }
    args.insert(args.end(), extra.begin(), extra.end());
    return run_gmm(args, hard_limit);
}

uint64_t result_u64(const GmmRun& run, size_t vcpu, const std::string& key) {
    return (*run.json)["per_vcpu"][vcpu]["results"][key].as_u64();
}

std::string describe(const GmmRun& run) {
    std::string s = "exit " + std::to_string(run.exit_code) + (run.killed_at_limit ? " (killed at hard limit)" : "") +
                    ", wall " + std::to_string(run.wall.count()) + " ms";
    if (run.json && run.json->has("exit")) {
        const JsonValue& e = (*run.json)["exit"];
        if (e.has("reason")) s += ", reason " + e["reason"].as_string();
        if (e.has("detail") && !e["detail"].as_string().empty()) s += " (" + e["detail"].as_string() + ")";
    } else {
        s += ", " + run.json_error;
    }
    if (run.json && run.json->has("assert")) {
        const JsonValue& a = (*run.json)["assert"];
        s += ", assert " + a["file"].as_string() + ":" + std::to_string(a["line"].as_u64()) + " " +
             a["expression"].as_string();
    }
    if (run.json && run.json->has("exception"))
        s += ", exception " + (*run.json)["exception"]["description"].as_string();
    if (!run.stderr_text.empty()) s += "\nstderr: " + run.stderr_text;
    if (run.json && run.json->has("console")) s += "\nconsole: " + (*run.json)["console"].as_string();
    return s;
}

}  // namespace gmm::test
