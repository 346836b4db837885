#include "bench_output.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>

#include "json_writer.h"

namespace gmm::cli::bench {

namespace {

std::string csv_field(const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string out = "\"";
    for (char ch : s) out += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    return out + "\"";
}

std::string csv_number(double v) {
    if (std::isnan(v)) return "";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.6g", v);
    return buf;
}

void meta_json(vmm::JsonWriter& j, const SuiteMeta& m) {
    j.key("suite"); j.string(m.suite);
    j.key("started_utc"); j.string(m.started_utc);
    j.key("command_line"); j.string(m.command_line);
    j.key("duration_s"); j.number(m.duration_s);
    j.key("repeat"); j.u64(m.repeat);
    j.key("machine"); j.begin_object();
    j.key("cpu_model"); j.string(m.cpu_model);
    j.key("cores"); j.u64(m.cores);
    j.key("kernel"); j.string(m.kernel);
    j.key("kvm_mode"); j.string(m.kvm_mode);
    j.key("load_average_start"); j.string(m.load_start);
    j.key("load_average_end"); j.string(m.load_end);
    j.end_object();
    j.key("sizes"); j.begin_object();
    j.key("size_bytes"); j.u64(m.sizes.size_bytes);
    j.key("guest_fault_rounds"); j.u64(m.sizes.fault_rounds);
    j.key("guest_mmap_rounds"); j.u64(m.sizes.mmap_rounds);
    j.key("host_seconds"); j.number(m.sizes.host_seconds);
    j.end_object();
}

}  // namespace

std::string policy_label(const std::string& p) {
    if (p.rfind("extents", 0) != 0) return p;
    std::string out = "extents";
    out += p.find("placement=hier") != std::string::npos ? "-hier" : "-leaf";
    if (p.find("freecache=percpu") != std::string::npos) out += "-percpu";
    return out;
}

std::vector<AggregateRow> aggregate(const std::vector<RunRecord>& runs) {
    std::vector<AggregateRow> rows;
    std::vector<std::map<std::string, std::vector<double>>> samples;
    for (const RunRecord& r : runs) {
        size_t i = 0;
        for (; i < rows.size(); ++i)
            if (rows[i].env == r.c.env && rows[i].workload == r.c.workload && rows[i].policy == r.c.policy &&
                rows[i].vcpus == r.c.vcpus)
                break;
        if (i == rows.size()) {
            rows.push_back(AggregateRow{r.c.env, r.c.workload, r.c.policy, r.c.vcpus, 0, 0, 0, "", "", {}});
            samples.emplace_back();
        }
        AggregateRow& row = rows[i];
        if (r.status == "ok") {
            ++row.runs_ok;
            for (const auto& [k, v] : r.metrics) samples[i][k].push_back(v);
        } else {
            (r.status == "skipped" ? row.runs_skipped : row.runs_failed) += 1;
            if (row.reason.empty()) row.reason = r.reason;
        }
    }
    for (size_t i = 0; i < rows.size(); ++i) {
        AggregateRow& row = rows[i];
        row.status = row.runs_ok ? "ok" : row.runs_failed ? "failed" : "skipped";
        for (const auto& [k, v] : samples[i])
            if (auto s = spread(v)) row.metrics[k] = *s;
    }
    return rows;
}

std::string load_average() {
    std::ifstream in("/proc/loadavg");
    std::string a, b, c;
    if (!(in >> a >> b >> c)) return "";
    return a + " " + b + " " + c;
}

SuiteMeta machine_meta() {
    SuiteMeta m;
    std::ifstream cpu("/proc/cpuinfo");
    for (std::string line; std::getline(cpu, line);)
        if (line.rfind("model name", 0) == 0) {
            const size_t colon = line.find(':');
            if (colon != std::string::npos) m.cpu_model = line.substr(colon + 2);
            break;
        }
    const long n = ::sysconf(_SC_NPROCESSORS_ONLN);
    m.cores = n > 0 ? unsigned(n) : 0;
    utsname u{};
    if (::uname(&u) == 0) m.kernel = std::string(u.sysname) + " " + u.release;
    return m;
}

std::string runs_json(const SuiteMeta& meta, const std::vector<RunRecord>& runs) {
    vmm::JsonWriter j(vmm::JsonStyle::Pretty);
    j.begin_object();
    meta_json(j, meta);
    j.key("runs"); j.begin_array();
    for (const RunRecord& r : runs) {
        j.begin_object();
        j.key("env"); j.string(env_name(r.c.env));
        j.key("workload"); j.string(r.c.workload);
        j.key("policy"); j.string(r.c.policy);
        j.key("vcpus"); j.u64(r.c.vcpus);
        j.key("repeat"); j.u64(r.repeat);
        j.key("status"); j.string(r.status);
        if (!r.reason.empty()) { j.key("reason"); j.string(r.reason); }
        if (r.status == "ok") { j.key("ops_total"); j.u64(r.ops_total); }
        if (!r.kvm_mode.empty()) { j.key("kvm_mode"); j.string(r.kvm_mode); }
        if (!r.json_path.empty()) { j.key("report"); j.string(r.json_path); }
        for (const char* m : kMetrics)
            if (auto it = r.metrics.find(m); it != r.metrics.end()) { j.key(m); j.number(it->second); }
        j.end_object();
    }
    j.end_array();
    j.end_object();
    return j.str() + "\n";
}

std::string runs_csv(const std::vector<RunRecord>& runs) {
    std::string out = "env,workload,policy,vcpus,repeat,status,reason,ops_total";
    for (const char* m : kMetrics) out += std::string(",") + m;
    out += ",kvm_mode,report\n";
    for (const RunRecord& r : runs) {
        out += std::string(env_name(r.c.env)) + "," + r.c.workload + "," + csv_field(r.c.policy) + "," +
               std::to_string(r.c.vcpus) + "," + std::to_string(r.repeat) + "," + r.status + "," + csv_field(r.reason) +
               "," + (r.status == "ok" ? std::to_string(r.ops_total) : "");
        for (const char* m : kMetrics) {
            auto it = r.metrics.find(m);
            out += "," + (it == r.metrics.end() ? std::string() : csv_number(it->second));
        }
        out += "," + r.kvm_mode + "," + csv_field(r.json_path) + "\n";
    }
    return out;
}

std::string summary_json(const SuiteMeta& meta, const std::vector<AggregateRow>& rows,
                         const std::vector<std::string>& charts_missing) {
    vmm::JsonWriter j(vmm::JsonStyle::Pretty);
    j.begin_object();
    meta_json(j, meta);
    j.key("charts_not_drawn"); j.begin_array();
    for (const std::string& c : charts_missing) j.string(c);
    j.end_array();
    j.key("cells"); j.begin_array();
    for (const AggregateRow& r : rows) {
        j.begin_object();
        j.key("env"); j.string(env_name(r.env));
        j.key("workload"); j.string(r.workload);
        j.key("policy"); j.string(r.policy);
        j.key("vcpus"); j.u64(r.vcpus);
        j.key("status"); j.string(r.status);
        if (!r.reason.empty()) { j.key("reason"); j.string(r.reason); }
        j.key("runs_ok"); j.u64(r.runs_ok);
        j.key("runs_failed"); j.u64(r.runs_failed);
        j.key("runs_skipped"); j.u64(r.runs_skipped);
        j.key("metrics"); j.begin_object();
        for (const char* m : kMetrics) {
            auto it = r.metrics.find(m);
            if (it == r.metrics.end()) continue;
            const Spread& s = it->second;
            j.key(m); j.begin_object();
            j.key("n"); j.u64(s.n);
            j.key("median"); j.number(s.median);
            j.key("min"); j.number(s.min);
            j.key("max"); j.number(s.max);
            j.key("q1"); j.number(s.q1);
            j.key("q3"); j.number(s.q3);
            j.end_object();
        }
        j.end_object();
        j.end_object();
    }
    j.end_array();
    j.end_object();
    return j.str() + "\n";
}

std::string summary_csv(const std::vector<AggregateRow>& rows) {
    std::string out = "env,workload,policy,vcpus,status,reason,runs_ok,runs_failed";
    for (const char* m : kMetrics)
        for (const char* s : {"median", "min", "max", "q1", "q3"}) out += std::string(",") + m + "_" + s;
    out += "\n";
    for (const AggregateRow& r : rows) {
        out += std::string(env_name(r.env)) + "," + r.workload + "," + csv_field(r.policy) + "," +
               std::to_string(r.vcpus) + "," + r.status + "," + csv_field(r.reason) + "," + std::to_string(r.runs_ok) +
               "," + std::to_string(r.runs_failed);
        for (const char* m : kMetrics) {
            auto it = r.metrics.find(m);
            const bool have = it != r.metrics.end();
            const Spread s = have ? it->second : Spread{};
            for (double v : {s.median, s.min, s.max, s.q1, s.q3}) out += "," + (have ? csv_number(v) : std::string());
        }
        out += "\n";
    }
    return out;
}

const AggregateRow* find_row(const std::vector<AggregateRow>& rows, Env env, const std::string& workload,
                             const std::string& policy, unsigned vcpus) {
    for (const AggregateRow& r : rows)
        if (r.env == env && r.workload == workload && r.policy == policy && r.vcpus == vcpus) return &r;
    return nullptr;
}

double median_of(const std::vector<AggregateRow>& rows, Env env, const std::string& workload,
                 const std::string& policy, unsigned vcpus, const char* metric) {
    const AggregateRow* r = find_row(rows, env, workload, policy, vcpus);
    if (!r) return std::nan("");
    auto it = r->metrics.find(metric);
    return it == r->metrics.end() ? std::nan("") : it->second.median;
}

}  // namespace gmm::cli::bench
