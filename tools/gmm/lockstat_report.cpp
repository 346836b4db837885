#include "lockstat_report.h"

#include <algorithm>

namespace gmm::cli {

namespace {

using vmm::LockstatSnapshot;
using vmm::LockstatValueType;

// Indexes of the counters the views use (parse_lockstat_layout guarantees them).
struct Idx {
    uint32_t acq, con, con_b, acq_b, wmin, wmax, wtot, hmin, hmax, htot;
    explicit Idx(const vmm::LockstatLayout& L)
        : acq(at(L, "acquisitions")), con(at(L, "contentions")), con_b(at(L, "con_bounces")),
          acq_b(at(L, "acq_bounces")), wmin(at(L, "waittime_min")), wmax(at(L, "waittime_max")),
          wtot(at(L, "waittime_total")), hmin(at(L, "holdtime_min")), hmax(at(L, "holdtime_max")),
          htot(at(L, "holdtime_total")) {}
    static uint32_t at(const vmm::LockstatLayout& L, std::string_view name) { return L.lock_counter(name).value(); }
};

// Monotonic in the guest; a smaller value means the counter restarted.
uint64_t delta(uint64_t now, uint64_t before) { return now >= before ? now - before : now; }

bool sampled_min(uint64_t v) { return v != 0 && v != ~uint64_t{0}; }

void merge_min(std::optional<uint64_t>& into, std::optional<uint64_t> v) {
    if (v && (!into || *v < *into)) into = v;
}
void merge_max(std::optional<uint64_t>& into, std::optional<uint64_t> v) {
    if (v && (!into || *v > *into)) into = v;
}

LockCounts counts_of(const LockstatSnapshot& now, const LockstatSnapshot* before, const Idx& x, uint32_t cpu,
                     uint32_t cls, uint32_t side) {
    auto cum = [&](uint32_t k) {
        const uint64_t n = now.lock(cpu, cls, side, k);
        return before ? delta(n, before->lock(cpu, cls, side, k)) : n;
    };
    const uint64_t khz = now.layout.tsc_khz;
    auto ns = [&](uint64_t cycles) { return vmm::lockstat_cycles_to_ns(cycles, khz); };
    LockCounts c;
    c.acquisitions = cum(x.acq);
    c.contentions = cum(x.con);
    c.con_bounces = cum(x.con_b);
    c.acq_bounces = cum(x.acq_b);
    c.waittime_total_ns = ns(cum(x.wtot));
    c.holdtime_total_ns = ns(cum(x.htot));
    const uint64_t wmin = now.lock(cpu, cls, side, x.wmin), hmin = now.lock(cpu, cls, side, x.hmin);
    const uint64_t wmax = now.lock(cpu, cls, side, x.wmax), hmax = now.lock(cpu, cls, side, x.hmax);
    if (sampled_min(wmin)) c.waittime_min_ns = ns(wmin);
    if (wmax) c.waittime_max_ns = ns(wmax);
    if (sampled_min(hmin)) c.holdtime_min_ns = ns(hmin);
    if (hmax) c.holdtime_max_ns = ns(hmax);
    return c;
}

void add_into(LockCounts& t, const LockCounts& c) {
    t.acquisitions += c.acquisitions;
    t.contentions += c.contentions;
    t.con_bounces += c.con_bounces;
    t.acq_bounces += c.acq_bounces;
    t.waittime_total_ns += c.waittime_total_ns;
    t.holdtime_total_ns += c.holdtime_total_ns;
    merge_min(t.waittime_min_ns, c.waittime_min_ns);
    merge_max(t.waittime_max_ns, c.waittime_max_ns);
    merge_min(t.holdtime_min_ns, c.holdtime_min_ns);
    merge_max(t.holdtime_max_ns, c.holdtime_max_ns);
}

// Microseconds with two decimals, as /proc/lock_stat prints times.
std::string us(std::optional<uint64_t> ns) {
    if (!ns) return "-";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", double(*ns) / 1000.0);
    return buf;
}
std::string avg_us(uint64_t total_ns, uint64_t n) {
    if (n == 0) return "-";
    return us(total_ns / n);
}

void print_counts(FILE* out, const std::string& label, const LockCounts& c) {
    std::fprintf(out, "%-18s %11llu %11llu %12s %12s %14s %12s %11llu %12llu %12s %12s %14s %12s\n", label.c_str(),
                 (unsigned long long)c.con_bounces, (unsigned long long)c.contentions, us(c.waittime_min_ns).c_str(),
                 us(c.waittime_max_ns).c_str(), us(c.waittime_total_ns).c_str(),
                 avg_us(c.waittime_total_ns, c.contentions).c_str(), (unsigned long long)c.acq_bounces,
                 (unsigned long long)c.acquisitions, us(c.holdtime_min_ns).c_str(), us(c.holdtime_max_ns).c_str(),
                 us(c.holdtime_total_ns).c_str(), avg_us(c.holdtime_total_ns, c.acquisitions).c_str());
}

void write_counts(vmm::JsonWriter& j, const LockCounts& c) {
    j.key("acquisitions"); j.u64(c.acquisitions);
    j.key("contentions"); j.u64(c.contentions);
    j.key("con_bounces"); j.u64(c.con_bounces);
    j.key("acq_bounces"); j.u64(c.acq_bounces);
    j.key("waittime_total_ns"); j.u64(c.waittime_total_ns);
    j.key("holdtime_total_ns"); j.u64(c.holdtime_total_ns);
    if (c.waittime_min_ns) { j.key("waittime_min_ns"); j.u64(*c.waittime_min_ns); }
    if (c.waittime_max_ns) { j.key("waittime_max_ns"); j.u64(*c.waittime_max_ns); }
    if (c.holdtime_min_ns) { j.key("holdtime_min_ns"); j.u64(*c.holdtime_min_ns); }
    if (c.holdtime_max_ns) { j.key("holdtime_max_ns"); j.u64(*c.holdtime_max_ns); }
}

}  // namespace

LockstatView make_lockstat_view(const LockstatSnapshot& now, const LockstatSnapshot* before) {
    const vmm::LockstatLayout& L = now.layout;
    // A `before` with another shape (cannot happen for one VM) is ignored.
    if (before && (before->layout.cpu_count != L.cpu_count || before->layout.classes.size() != L.classes.size() ||
                   before->layout.lock_counters.size() != L.lock_counters.size() ||
                   before->layout.cpu_counters.size() != L.cpu_counters.size()))
        before = nullptr;
    const Idx x(L);
    LockstatView v;
    v.enabled = L.enabled;
    v.tsc_khz = L.tsc_khz;
    for (uint32_t cls = 0; cls < L.classes.size(); ++cls) {
        const vmm::LockstatClassDesc& c = L.classes[cls];
        for (uint32_t side = 0; side < (c.rw ? 2u : 1u); ++side) {
            LockRow r;
            r.cls = c.name;
            r.side = !c.rw ? "exclusive" : side == 0 ? "write" : "read";
            r.label = !c.rw ? c.name : c.name + (side == 0 ? "-W" : "-R");
            for (uint32_t cpu = 0; cpu < L.cpu_count; ++cpu) {
                r.per_vcpu.push_back(counts_of(now, before, x, cpu, cls, side));
                add_into(r.total, r.per_vcpu.back());
            }
            v.rows.push_back(std::move(r));
        }
    }
    std::stable_sort(v.rows.begin(), v.rows.end(), [](const LockRow& a, const LockRow& b) {
        if (a.total.contentions != b.total.contentions) return a.total.contentions > b.total.contentions;
        return a.total.acquisitions > b.total.acquisitions;
    });
    for (const vmm::LockstatCounterDesc& d : L.cpu_counters) v.cpu_counter_names.push_back(d.name);
    for (uint32_t cpu = 0; cpu < L.cpu_count; ++cpu) {
        std::vector<uint64_t> row;
        for (size_t k = 0; k < L.cpu_counters.size(); ++k) {
            const uint64_t n = now.cpu_values[cpu][k];
            row.push_back(before ? delta(n, before->cpu_values[cpu][k]) : n);
        }
        v.cpu_counters.push_back(std::move(row));
    }
    return v;
}

void print_lock_table(FILE* out, const LockstatView& v, PerVcpu per_vcpu) {
    if (!v.enabled) {
        std::fprintf(out, "lockstat: off in this guest (booted with lockstat=off)\n");
        return;
    }
    bool any = false;
    for (const LockRow& r : v.rows) any |= r.total.acquisitions != 0 || r.total.contentions != 0;
    if (!any) {
        std::fprintf(out, "lockstat: no lock acquisitions\n");
        return;
    }
    std::fprintf(out, "%-18s %11s %11s %12s %12s %14s %12s %11s %12s %12s %12s %14s %12s\n", "class name",
                 "con-bounces", "contentions", "waittime-min", "waittime-max", "waittime-total", "waittime-avg",
                 "acq-bounces", "acquisitions", "holdtime-min", "holdtime-max", "holdtime-total", "holdtime-avg");
    size_t idle = 0;
    for (const LockRow& r : v.rows) {
        if (r.total.acquisitions == 0 && r.total.contentions == 0) {
            ++idle;
            continue;
        }
        print_counts(out, r.label, r.total);
        if (per_vcpu == PerVcpu::Hide) continue;
        for (size_t cpu = 0; cpu < r.per_vcpu.size(); ++cpu)
            if (r.per_vcpu[cpu].acquisitions || r.per_vcpu[cpu].contentions)
                print_counts(out, "  vcpu " + std::to_string(cpu), r.per_vcpu[cpu]);
    }
    std::fprintf(out, "(times in us; min/max since boot; %zu idle class%s not shown)\n", idle, idle == 1 ? "" : "es");
}

void print_lockstat_cpu_table(FILE* out, const LockstatView& v) {
    if (!v.enabled) return;
    std::fprintf(out, "%-5s", "vcpu");
    for (const std::string& n : v.cpu_counter_names) std::fprintf(out, " %*s", int(std::max<size_t>(n.size(), 8)), n.c_str());
    std::fprintf(out, "\n");
    for (size_t cpu = 0; cpu < v.cpu_counters.size(); ++cpu) {
        std::fprintf(out, "%-5zu", cpu);
        for (size_t k = 0; k < v.cpu_counters[cpu].size(); ++k)
            std::fprintf(out, " %*llu", int(std::max<size_t>(v.cpu_counter_names[k].size(), 8)),
                         (unsigned long long)v.cpu_counters[cpu][k]);
        std::fprintf(out, "\n");
    }
}

void write_lock_rows_json(vmm::JsonWriter& j, const LockstatView& v, PerVcpu per_vcpu) {
    j.begin_array();
    for (const LockRow& r : v.rows) {
        j.begin_object();
        j.key("class"); j.string(r.cls);
        j.key("side"); j.string(r.side);
        write_counts(j, r.total);
        if (per_vcpu == PerVcpu::Show) {
            j.key("per_vcpu"); j.begin_array();
            for (size_t cpu = 0; cpu < r.per_vcpu.size(); ++cpu) {
                j.begin_object();
                j.key("vcpu"); j.u64(cpu);
                write_counts(j, r.per_vcpu[cpu]);
                j.end_object();
            }
            j.end_array();
        }
        j.end_object();
    }
    j.end_array();
}

void write_lockstat_cpus_json(vmm::JsonWriter& j, const LockstatView& v) {
    j.begin_array();
    for (size_t cpu = 0; cpu < v.cpu_counters.size(); ++cpu) {
        j.begin_object();
        j.key("vcpu"); j.u64(cpu);
        for (size_t k = 0; k < v.cpu_counters[cpu].size(); ++k) {
            j.key(v.cpu_counter_names[k]);
            j.u64(v.cpu_counters[cpu][k]);
        }
        j.end_object();
    }
    j.end_array();
}

}  // namespace gmm::cli
