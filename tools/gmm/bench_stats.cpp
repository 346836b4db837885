#include "bench_stats.h"

#include <algorithm>
#include <cmath>

namespace gmm::cli::bench {

namespace {
std::vector<double> finite_sorted(const std::vector<double>& in) {
    std::vector<double> v;
    for (double x : in)
        if (!std::isnan(x)) v.push_back(x);
    std::sort(v.begin(), v.end());
    return v;
}

double quantile_sorted(const std::vector<double>& v, double q) {
    const double pos = q * double(v.size() - 1);
    const size_t lo = size_t(std::floor(pos));
    const size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (v[hi] - v[lo]) * (pos - double(lo));
}
}  // namespace

std::optional<double> quantile(std::vector<double> sample, double q) {
    const std::vector<double> v = finite_sorted(sample);
    if (v.empty() || !(q >= 0 && q <= 1)) return std::nullopt;
    return quantile_sorted(v, q);
}

std::optional<Spread> spread(const std::vector<double>& sample) {
    const std::vector<double> v = finite_sorted(sample);
    if (v.empty()) return std::nullopt;
    return Spread{v.size(), quantile_sorted(v, 0.5), v.front(), v.back(), quantile_sorted(v, 0.25),
                  quantile_sorted(v, 0.75)};
}

}  // namespace gmm::cli::bench
