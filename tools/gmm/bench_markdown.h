// The BENCHMARKS.md section generated from a suite run: the machine, the KVM
// mode, the ratios that answer the seed's question, the medians, the skipped
// cells and links to the charts. It lives between two marker comments and is
// replaced in place on the next run; the rest of the file is left alone.
#pragma once

#include <string>
#include <vector>

#include "bench_charts.h"
#include "bench_output.h"

namespace gmm::cli::bench {

inline constexpr const char* kMarkdownBegin = "<!-- BEGIN gmm bench generated section: edits inside are overwritten -->";
inline constexpr const char* kMarkdownEnd = "<!-- END gmm bench generated section -->";

// The section text, markers included. `chart_link_dir` is the charts'
// directory as seen from the Markdown file ("docs/bench").
std::string markdown_section(const SuiteMeta& meta, const std::vector<AggregateRow>& rows, const ChartPlan& plan,
                             const ChartResult& charts, const std::string& chart_link_dir);

// `document` with the section replaced (or appended when the markers are absent).
std::string splice_section(const std::string& document, const std::string& section);

}  // namespace gmm::cli::bench
