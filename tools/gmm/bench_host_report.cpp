#include "bench_host_report.h"

#include <cerrno>
#include <cstdio>

#include "json_writer.h"

namespace gmm::cli::bench {

namespace {
const char* thread_role(const HostBenchReport& rep, size_t t) {
    if (rep.workload != "mixed") return rep.workload.c_str();
    return rep.result.churner[t] ? "mmap1" : "page_fault1";
}
}  // namespace

double total_ops_per_sec(const DriveResult& r) {
    uint64_t total = 0;
    for (uint64_t o : r.ops) total += o;
    return r.seconds > 0 ? double(total) / r.seconds : 0;
}

void print_host_report_line(const HostBenchReport& rep) {
    const DriveResult& r = rep.result;
    std::printf("%s workload=%s mm=%s threads=%zu size=%llu seconds=%.2f ops_per_sec=%.0f per_thread=[", rep.tool.c_str(),
                rep.workload.c_str(), rep.mm.c_str(), r.ops.size(), (unsigned long long)rep.size_bytes, r.seconds,
                total_ops_per_sec(r));
    for (size_t t = 0; t < r.ops.size(); ++t)
        std::printf("%s%.0f", t ? "," : "", r.seconds > 0 ? double(r.ops[t]) / r.seconds : 0.0);
    std::printf("]\n");
}

std::string host_report_json(const HostBenchReport& rep) {
    const DriveResult& r = rep.result;
    vmm::JsonWriter j(vmm::JsonStyle::Compact);
    j.begin_object();
    j.key("tool"); j.string(rep.tool);
    j.key("workload"); j.string(rep.workload);
    j.key("mm"); j.string(rep.mm);
    j.key("threads"); j.u64(r.ops.size());
    uint64_t total = 0;
    for (uint64_t o : r.ops) total += o;
    j.key("ops_total"); j.u64(total);
    j.key("ops_per_sec"); j.number(total_ops_per_sec(r));
    j.key("per_thread"); j.begin_array();
    for (uint64_t o : r.ops) j.number(r.seconds > 0 ? double(o) / r.seconds : 0.0);
    j.end_array();
    j.key("per_thread_ops"); j.begin_array();
    for (uint64_t o : r.ops) j.u64(o);
    j.end_array();
    j.key("per_thread_workload"); j.begin_array();
    for (size_t t = 0; t < r.ops.size(); ++t) j.string(thread_role(rep, t));
    j.end_array();
    j.key("seconds"); j.number(r.seconds);
    j.key("size_bytes"); j.u64(rep.size_bytes);
    if (!rep.kernel.empty()) { j.key("kernel"); j.string(rep.kernel); }
    if (!rep.counters.empty()) {
        j.key("counters"); j.begin_object();
        for (const auto& [k, v] : rep.counters) { j.key(k); j.i64(v); }
        j.end_object();
    }
    j.key("failed"); j.boolean(r.failed);
    j.end_object();
    return j.str() + "\n";
}

bool write_text_file(const std::string& path, const std::string& text) {
    if (path == "-") return std::fputs(text.c_str(), stdout) >= 0;
    FILE* f = std::fopen(path.c_str(), "w");
    if (!f) return false;
    const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
    const int saved = errno;
    if (std::fclose(f) != 0 || !ok) {
        if (!ok) errno = saved;
        return false;
    }
    return true;
}

}  // namespace gmm::cli::bench
