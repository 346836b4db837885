#include "bench_runner.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cmath>
#include <fstream>
#include <sstream>
#include <thread>

namespace gmm::cli::bench {

namespace {

double num(const vmm::JsonValue* v) {
    return v && v->type == vmm::JsonValue::Type::Number ? v->number : std::nan("");
}

std::string slug(const std::string& s) {
    std::string out;
    for (char ch : s) out += (std::isalnum(static_cast<unsigned char>(ch)) || ch == '_') ? ch : '-';
    return out;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string last_line(const std::string& text) {
    std::string t = text;
    while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
    const size_t nl = t.rfind('\n');
    return nl == std::string::npos ? t : t.substr(nl + 1);
}

}  // namespace

std::string self_exe() {
    char buf[PATH_MAX];
    const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    return n > 0 ? std::string(buf, size_t(n)) : std::string("gmm");
}

std::string extract_metrics(Env env, const vmm::JsonValue& j, unsigned threads, RunRecord& out) {
    const vmm::JsonValue* ops = j.find("ops_total");
    const vmm::JsonValue* rate = j.find("ops_per_sec");
    if (!ops || !ops->as_u64 || !rate || rate->type != vmm::JsonValue::Type::Number)
        return "report has no ops_total/ops_per_sec";
    out.ops_total = *ops->as_u64;
    out.metrics["ops_per_sec"] = rate->number;
    out.metrics["ops_per_sec_per_thread"] = rate->number / double(threads ? threads : 1);
    const bool mixed = out.c.workload == "mixed";
    if (env == Env::Guest) {
        if (const vmm::JsonValue* m = j.find("kvm_mode"); m && m->type == vmm::JsonValue::Type::String)
            out.kvm_mode = m->string;
        for (const char* k : {"guest_kernel_insns_per_op", "guest_kernel_insns_per_fault"})
            if (double v = num(j.find(k)); !std::isnan(v)) out.metrics[k] = v;
        if (const vmm::JsonValue* ls = j.find("lockstat"); ls && ls->type == vmm::JsonValue::Type::Array && out.ops_total) {
            double cont = 0, bounces = 0;
            for (const vmm::JsonValue& row : ls->items) {
                cont += std::isnan(num(row.find("contentions"))) ? 0 : num(row.find("contentions"));
                bounces += std::isnan(num(row.find("con_bounces"))) ? 0 : num(row.find("con_bounces"));
            }
            out.metrics["contentions_per_op"] = cont / double(out.ops_total);
            out.metrics["con_bounces_per_op"] = bounces / double(out.ops_total);
        }
        if (mixed) {
            // Each faulting vCPU's own rate: its ops over its measured section.
            const vmm::JsonValue* per = j.find("per_vcpu");
            double sum = 0;
            unsigned n = 0;
            for (size_t i = 1; per && i < per->items.size(); ++i) {
                const vmm::JsonValue& v = per->items[i];
                const vmm::JsonValue* res = v.find("results");
                const double o = num(v.find("ops")), ns = res ? num(res->find("measured_ns")) : std::nan("");
                if (!std::isnan(o) && ns > 0) sum += o * 1e9 / ns, ++n;
            }
            if (n) out.metrics["faulter_ops_per_sec_per_thread"] = sum / n;
        }
    } else if (mixed) {
        const vmm::JsonValue* per = j.find("per_thread");
        const vmm::JsonValue* role = j.find("per_thread_workload");
        double sum = 0;
        unsigned n = 0;
        for (size_t i = 0; per && role && i < per->items.size() && i < role->items.size(); ++i)
            if (role->items[i].string == "page_fault1") sum += per->items[i].number, ++n;
        if (n) out.metrics["faulter_ops_per_sec_per_thread"] = sum / n;
    }
    return "";
}

ChildResult run_child(const std::string& exe, const std::vector<std::string>& args, const std::string& log_path,
                      double deadline_s) {
    ChildResult r;
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(exe.c_str()));
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) return r;
    if (pid == 0) {
        const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0) {
            ::dup2(fd, 1);
            ::dup2(fd, 2);
        }
        const int null_fd = ::open("/dev/null", O_RDONLY);
        if (null_fd >= 0) ::dup2(null_fd, 0);
        ::execv(exe.c_str(), argv.data());
        _exit(127);
    }
    int status = 0;
    for (;;) {
        const pid_t w = ::waitpid(pid, &status, WNOHANG);
        if (w == pid) break;
        if (w < 0 && errno != EINTR) return r;
        if (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > deadline_s) {
            ::kill(pid, SIGKILL);  // our own child, by its pid
            ::waitpid(pid, &status, 0);
            r.timed_out = true;
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    r.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!r.timed_out && WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
    return r;
}

RunRecord run_case(const std::string& gmm_exe, const std::string& out_dir, const Case& c, const SuiteSizes& sizes,
                   unsigned repeat) {
    RunRecord rec;
    rec.c = c;
    rec.repeat = repeat;
    if (!c.skip.empty()) {
        rec.status = "skipped";
        rec.reason = c.skip;
        return rec;
    }
    const std::string base = std::string(env_name(c.env)) + "-" + c.workload + "-" + slug(c.policy) + "-v" +
                             std::to_string(c.vcpus) + "-r" + std::to_string(repeat);
    rec.json_path = "runs/" + base + ".json";
    const std::string log = out_dir + "/runs/" + base + ".log";
    std::vector<std::string> args = case_command(c, sizes);
    args.insert(args.end(), {"--json", out_dir + "/" + rec.json_path});
    const double deadline = c.env == Env::Guest ? double(sizes.guest_timeout_s) + 30 : sizes.host_seconds * 4 + 60;
    const ChildResult child = run_child(gmm_exe, args, log, deadline);
    rec.metrics["wall_seconds"] = child.wall_seconds;
    if (child.timed_out || child.exit_code != 0) {
        rec.status = "failed";
        rec.reason = child.timed_out ? "killed after " + std::to_string(int(deadline)) + " s"
                                     : "exit " + std::to_string(child.exit_code) + ": " + last_line(read_file(log));
        return rec;
    }
    auto parsed = vmm::parse_json(read_file(out_dir + "/" + rec.json_path));
    if (!parsed) {
        rec.status = "failed";
        rec.reason = "unreadable report " + rec.json_path + ": " + parsed.error().message();
        return rec;
    }
    const std::string err = extract_metrics(c.env, *parsed, c.vcpus, rec);
    rec.status = err.empty() ? "ok" : "failed";
    rec.reason = err;
    return rec;
}

}  // namespace gmm::cli::bench
