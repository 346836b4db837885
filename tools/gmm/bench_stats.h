// Summary statistics over a suite's repeats: median and spread (min, max,
// quartiles). Linear interpolation between order statistics (the "type 7"
// quantile of R and numpy), so a median of an even count is the mean of the
// middle two.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

namespace gmm::cli::bench {

struct Spread {
    size_t n = 0;
    double median = 0, min = 0, max = 0, q1 = 0, q3 = 0;
};

// q in [0, 1]; nullopt for an empty sample. NaNs are ignored.
std::optional<double> quantile(std::vector<double> sample, double q);
// nullopt for an empty sample (after dropping NaNs).
std::optional<Spread> spread(const std::vector<double>& sample);

}  // namespace gmm::cli::bench
