#include "bench_charts.h"

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "bench_runner.h"

namespace gmm::cli::bench {

namespace {

// One line of a panel: label, colour, and (x, median, min, max) points.
struct Series {
    std::string title;
    std::string color;   // gnuplot colour spec
    std::string dash;    // "" solid, else a dashtype
    std::vector<std::array<double, 4>> points;
};

struct Panel {
    std::string title;
    std::string ylabel;
    std::vector<Series> series;
    bool reference = false;  // dashed linear-scaling line at each series' 1-vCPU value
    std::string empty_note;  // shown when no series has points
    bool log_y = false;      // series orders of magnitude apart (hosted vs native)
};

const char* const kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};

std::string color_for(const std::string& policy, size_t index) {
    return policy == "linux" ? "black" : kPalette[index % (sizeof kPalette / sizeof kPalette[0])];
}

std::string fmt(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.6g", v);
    return buf;
}

std::string quoted(const std::string& s) {
    std::string out = "\"";
    for (char ch : s) out += (ch == '"' || ch == '\\') ? std::string("\\") + ch : std::string(1, ch);
    return out + "\"";
}

// A quoted gnuplot label broken before each parenthesis, so a long skip reason fits its panel.
std::string wrapped(const std::string& s) {
    std::string q = quoted(s);
    for (size_t at = 0; (at = q.find(" (", at)) != std::string::npos;) q.replace(at, 2, "\\n(");
    return q;
}

Series series_of(const std::vector<AggregateRow>& rows, Env env, const std::string& workload,
                 const std::string& policy, const std::vector<unsigned>& vcpus, const char* metric, size_t color) {
    Series s{policy_label(policy) + (env == Env::Native ? " (native)" : ""), color_for(policy, color), "", {}};
    for (unsigned v : vcpus) {
        const AggregateRow* r = find_row(rows, env, workload, policy, v);
        if (!r) continue;
        auto it = r->metrics.find(metric);
        if (it == r->metrics.end()) continue;
        s.points.push_back({double(v), it->second.median, it->second.min, it->second.max});
    }
    return s;
}

std::string skip_note(const std::vector<AggregateRow>& rows, Env env, const std::string& workload) {
    for (const AggregateRow& r : rows)
        if (r.env == env && r.workload == workload && !r.reason.empty()) return r.reason;
    return "no data";
}

// A multiplot of panels with x = vCPUs (1, 2, 4 on a log2 axis).
std::string lines_script(const std::string& title, const std::vector<Panel>& panels, const std::vector<unsigned>& vcpus) {
    std::string gp = "# gmm bench chart: " + title + " (data inline; gnuplot -e \"set terminal svg; set output 'x.svg'\" this.gp)\n";
    for (size_t p = 0; p < panels.size(); ++p)
        for (size_t s = 0; s < panels[p].series.size(); ++s) {
            gp += "$p" + std::to_string(p) + "s" + std::to_string(s) + " << EOD\n";
            for (const auto& pt : panels[p].series[s].points)
                gp += fmt(pt[0]) + " " + fmt(pt[1]) + " " + fmt(pt[2]) + " " + fmt(pt[3]) + "\n";
            gp += "EOD\n";
        }
    const size_t cols = panels.size() >= 3 ? 3 : panels.size();
    const size_t rows_n = (panels.size() + cols - 1) / cols;
    std::string xtics;
    for (unsigned v : vcpus) xtics += (xtics.empty() ? "" : ", ") + std::to_string(v);
    const double xmax = vcpus.empty() ? 4 : double(vcpus.back()) * 1.25;
    gp += "set multiplot layout " + std::to_string(rows_n) + "," + std::to_string(cols) + " title " + quoted(title) + "\n";
    for (size_t p = 0; p < panels.size(); ++p) {
        const Panel& pn = panels[p];
        gp += "unset label\nset title " + quoted(pn.title) + "\n";
        bool any = false;
        for (const Series& s : pn.series) any |= !s.points.empty();
        if (!any) {
            gp += "unset logscale\nset xrange [0:1]\nset yrange [0:1]\nunset xtics\nunset ytics\nunset xlabel\n"
                  "unset ylabel\nunset key\nset label 1 " + wrapped(pn.empty_note) + " at 0.5,0.5 center font \",8\"\n"
                  "plot -1 notitle\n";
            continue;
        }
        gp += "unset logscale\nset logscale x 2\nset xrange [0.8:" + fmt(xmax) + "]\nset xtics (" + xtics + ")\nset ytics\n" +
              std::string(pn.log_y ? "set logscale y\nset yrange [*:*]\n" : "set yrange [0:*]\n") +
              "set xlabel \"vCPUs / threads\"\nset ylabel " + quoted(pn.ylabel) + "\n"
              "set key top right samplen 2 spacing 0.9 font \",7\"\n";
        std::string plot;
        bool ref_titled = false;
        for (size_t s = 0; s < pn.series.size(); ++s) {
            const Series& se = pn.series[s];
            if (se.points.empty()) continue;
            plot += (plot.empty() ? "" : ", \\\n     ") + std::string("$p") + std::to_string(p) + "s" + std::to_string(s) +
                    " using 1:2:3:4 with yerrorlines lw 1.5 pt 7 ps 0.5 lc rgb " + quoted(se.color) +
                    (se.dash.empty() ? "" : " dt " + se.dash) + " title " + quoted(se.title);
            if (pn.reference && se.points.front()[0] == 1) {
                plot += ", \\\n     " + fmt(se.points.front()[1]) + " with lines dt 2 lw 1 lc rgb " + quoted(se.color) +
                        (ref_titled ? std::string(" notitle") : std::string(" title \"linear scaling (dashed)\""));
                ref_titled = true;
            }
        }
        gp += "plot " + plot + "\n";
    }
    gp += "unset multiplot\n";
    return gp;
}

// Clustered bars: for each policy, the faulting thread's rate alone and in mixed.
std::string mixed_script(const std::vector<AggregateRow>& rows, const ChartPlan& plan) {
    struct Bars {
        std::string title;
        std::vector<std::array<std::string, 3>> rows;  // label, solo, mixed
    };
    std::vector<Bars> panels;
    size_t cols = 0;
    for (unsigned v : plan.vcpus) cols += v >= 2;
    // One row per runner: their rates are orders of magnitude apart.
    for (Env env : {Env::Guest, Env::Hosted, Env::Native})
        for (unsigned v : plan.vcpus) {
            if (v < 2) continue;
            Bars b{std::string(env_name(env)) + ", " + std::to_string(v) + " threads (1 churner)", {}};
            const std::vector<std::string> ps = env == Env::Native ? std::vector<std::string>{"linux"} : plan.policies;
            for (const std::string& p : ps) {
                const double solo = median_of(rows, env, "page_fault1", p, 1, "ops_per_sec_per_thread");
                const double mixed = median_of(rows, env, "mixed", p, v, "faulter_ops_per_sec_per_thread");
                if (std::isnan(solo) && std::isnan(mixed)) continue;
                std::string label = policy_label(p);
                if (!std::isnan(solo) && !std::isnan(mixed) && solo > 0)
                    label += " (kept " + std::to_string(int(std::lround(100 * mixed / solo))) + "%)";
                b.rows.push_back({label, std::isnan(solo) ? "NaN" : fmt(solo), std::isnan(mixed) ? "NaN" : fmt(mixed)});
            }
            panels.push_back(b);
        }
    std::string gp = "# gmm bench chart: mixed vs solo fault rate (data inline)\n";
    for (size_t p = 0; p < panels.size(); ++p) {
        gp += "$m" + std::to_string(p) + " << EOD\n";
        for (const auto& r : panels[p].rows) gp += quoted(r[0]) + " " + r[1] + " " + r[2] + "\n";
        gp += "EOD\n";
    }
    gp += "set multiplot layout " + std::to_string(cols ? (panels.size() + cols - 1) / cols : 1) + "," +
          std::to_string(cols ? cols : 1) +
          " title \"page faults per second per faulting thread: alone (page_fault1, 1 thread) vs beside an mmap/munmap churner (mixed, N threads)\"\n"
          "set style data histogram\nset style histogram clustered gap 1\nset style fill solid 0.8 border -1\n"
          "set boxwidth 0.9\nset xtics rotate by -30 font \",7\"\nset yrange [0:*]\nset key top right font \",7\"\n"
          "set ylabel \"faults/s per faulting thread\"\n";
    for (size_t p = 0; p < panels.size(); ++p) {
        gp += "unset label\nset title " + quoted(panels[p].title) + "\n";
        bool any = false;  // gnuplot refuses a histogram without one valid point
        for (const auto& r : panels[p].rows) any |= r[1] != "NaN" || r[2] != "NaN";
        if (!any) {
            gp += "set label 1 \"not run\" at graph 0.5,0.5 center\nplot -1 notitle\n";
            continue;
        }
        gp += "plot $m" + std::to_string(p) + " using 2:xtic(1) title \"alone\" lc rgb \"#7f7f7f\", '' using 3 title "
              "\"in mixed\" lc rgb \"#1f77b4\"\n";
    }
    gp += "unset multiplot\n";
    return gp;
}

bool run_gnuplot(const std::string& gnuplot, const std::string& terminal, const std::string& out, const std::string& gp,
                 const std::string& log) {
    const std::string init = "set terminal " + terminal + "; set output " + quoted(out);
    const ChildResult r = run_child(gnuplot, {"-e", init, gp}, log, 60);
    if (r.exit_code != 0) return false;
    std::ifstream f(out, std::ios::binary);
    return f.good() && f.peek() != std::ifstream::traits_type::eof();
}

}  // namespace

const std::vector<std::string>& chart_names() {
    static const std::vector<std::string> names = {"throughput-guest", "throughput-host", "contention-guest",
                                                   "insns-guest", "mixed-vs-solo"};
    return names;
}

std::string find_gnuplot() {
    if (const char* env = std::getenv("GMM_GNUPLOT")) return ::access(env, X_OK) == 0 ? env : "";
    const char* path = std::getenv("PATH");
    std::string p = path ? path : "/usr/bin:/bin";
    for (size_t start = 0;;) {
        const size_t colon = p.find(':', start);
        const std::string dir = p.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
        const std::string cand = (dir.empty() ? "." : dir) + "/gnuplot";
        if (::access(cand.c_str(), X_OK) == 0) return cand;
        if (colon == std::string::npos) return "";
        start = colon + 1;
    }
}

ChartResult draw_charts(const std::string& dir, const std::vector<AggregateRow>& rows, const ChartPlan& plan) {
    std::vector<std::pair<std::string, std::string>> scripts;  // name, gnuplot text
    auto panels_for = [&](auto make) {
        std::vector<Panel> out;
        for (const std::string& w : plan.workloads) out.push_back(make(w));
        return out;
    };
    scripts.push_back({"throughput-guest", lines_script(
        "in-guest throughput per thread (median, bars min-max; supervisor mode emulated on this host)",
        panels_for([&](const std::string& w) {
            Panel p{w, "ops/s per thread", {}, true, skip_note(rows, Env::Guest, w)};
            for (size_t i = 0; i < plan.policies.size(); ++i)
                p.series.push_back(series_of(rows, Env::Guest, w, plan.policies[i], plan.vcpus, "ops_per_sec_per_thread", i));
            return p;
        }), plan.vcpus)});
    scripts.push_back({"throughput-host", lines_script(
        "hosted guestmm and Linux-native throughput per thread (median, bars min-max; log scale)",
        panels_for([&](const std::string& w) {
            Panel p{w, "ops/s per thread", {}, true, skip_note(rows, Env::Hosted, w)};
            p.log_y = true;
            for (size_t i = 0; i < plan.policies.size(); ++i)
                p.series.push_back(series_of(rows, Env::Hosted, w, plan.policies[i], plan.vcpus, "ops_per_sec_per_thread", i));
            p.series.push_back(series_of(rows, Env::Native, w, "linux", plan.vcpus, "ops_per_sec_per_thread", 0));
            return p;
        }), plan.vcpus)});
    scripts.push_back({"contention-guest", lines_script(
        "in-guest lock contentions per op (solid) and con_bounces per op (dashed), all lock classes",
        panels_for([&](const std::string& w) {
            Panel p{w, "per operation", {}, false, skip_note(rows, Env::Guest, w)};
            for (size_t i = 0; i < plan.policies.size(); ++i) {
                Series c = series_of(rows, Env::Guest, w, plan.policies[i], plan.vcpus, "contentions_per_op", i);
                Series b = series_of(rows, Env::Guest, w, plan.policies[i], plan.vcpus, "con_bounces_per_op", i);
                b.dash = "2";
                b.title += " bounces";
                p.series.push_back(c);
                p.series.push_back(b);
            }
            return p;
        }), plan.vcpus)});
    scripts.push_back({"insns-guest", lines_script(
        "guest-kernel instructions per operation (KVM insn_emulation; exact on this host)",
        panels_for([&](const std::string& w) {
            Panel p{w, "instructions / op", {}, false, skip_note(rows, Env::Guest, w)};
            for (size_t i = 0; i < plan.policies.size(); ++i)
                p.series.push_back(series_of(rows, Env::Guest, w, plan.policies[i], plan.vcpus, "guest_kernel_insns_per_op", i));
            return p;
        }), plan.vcpus)});
    scripts.push_back({"mixed-vs-solo", mixed_script(rows, plan)});

    ChartResult res;
    const std::string gnuplot = find_gnuplot();
    for (const auto& [name, text] : scripts) {
        const std::string gp = dir + "/" + name + ".gp";
        std::ofstream(gp) << text;
        if (gnuplot.empty()) {
            res.not_drawn.push_back(name + ": gnuplot not found (install the Debian package gnuplot-nox)");
            continue;
        }
        const std::string log = dir + "/" + name + ".log";
        if (!run_gnuplot(gnuplot, "svg size 1200,900 dynamic noenhanced font 'sans,10'", dir + "/" + name + ".svg", gp, log))
            res.not_drawn.push_back(name + ".svg: gnuplot failed (see " + name + ".log)");
        else
            res.drawn.push_back(name + ".svg");
        // pngcairo is nicer; plain png (libgd) where gnuplot was built without cairo.
        if (run_gnuplot(gnuplot, "pngcairo size 1200,900 noenhanced font 'sans,9'", dir + "/" + name + ".png", gp, log) ||
            run_gnuplot(gnuplot, "png size 1200,900 noenhanced", dir + "/" + name + ".png", gp, log))
            res.drawn.push_back(name + ".png");
        else
            res.not_drawn.push_back(name + ".png: gnuplot failed (see " + name + ".log)");
    }
    return res;
}

}  // namespace gmm::cli::bench
