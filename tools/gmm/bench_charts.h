// The suite's charts, drawn by gnuplot (Debian package gnuplot-nox) as SVG
// and PNG. Each chart is a self-contained gnuplot script (data inline) kept
// next to the images, so a chart can be re-drawn or restyled by hand. When
// gnuplot is missing or fails, the charts are listed as not drawn and the
// JSON/CSV results are complete regardless.
#pragma once

#include <string>
#include <vector>

#include "bench_output.h"

namespace gmm::cli::bench {

struct ChartPlan {
    std::vector<std::string> policies;  // guest/hosted policies, in legend order
    std::vector<unsigned> vcpus;
    std::vector<std::string> workloads;
};

struct ChartResult {
    std::vector<std::string> drawn;      // file names relative to the chart directory
    std::vector<std::string> not_drawn;  // "NAME: why"
};

// The gnuplot to use: $GMM_GNUPLOT if set, else `gnuplot` from PATH; empty when absent.
std::string find_gnuplot();

// Writes NAME.gp, NAME.svg and NAME.png for every chart into `dir`.
ChartResult draw_charts(const std::string& dir, const std::vector<AggregateRow>& rows, const ChartPlan& plan);

// The chart names, in order ("throughput-guest", ...), for listings and tests.
const std::vector<std::string>& chart_names();

}  // namespace gmm::cli::bench
