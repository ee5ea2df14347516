#pragma once
// Amplitude normalisation of a record, in place.
//
//   min_max_record: (x - min) / (max - min + 1e-8) with ONE min and max over all leads and samples of the record:
//                   the benchmark's normalisation (method.md section 5), computed in double exactly as written.
//   zscore_lead:    (x - mean) / (std + eps) per lead, population std (numpy's default ddof=0).
//   zscore_record:  the same with one mean and std over the whole record.
//   none:           the physical values (mV) as read.
//
// A constant record or lead maps to 0 (min-max: 0 / 1e-8; z-score: 0 / eps), not NaN.
#include "fgclep/data/ecg_record.hpp"

#include <algorithm>
#include <cmath>
#include <span>
#include <string_view>

namespace fgclep::data {

enum class Normalization { none, min_max_record, zscore_lead, zscore_record };

inline std::string_view to_string(Normalization n) {
    switch (n) {
        case Normalization::none:
            return "none";
        case Normalization::min_max_record:
            return "min_max_record";
        case Normalization::zscore_lead:
            return "zscore_lead";
        case Normalization::zscore_record:
            return "zscore_record";
    }
    return "?";
}

struct NormalizeOptions {
    Normalization method = Normalization::min_max_record;
    double min_max_eps = 1e-8;  // the benchmark's
    double zscore_eps = 1e-8;
};

namespace detail {
inline void zscore(std::span<double> x, double eps) {
    if (x.empty()) return;
    double mean = 0;
    for (double v : x) mean += v;
    mean /= static_cast<double>(x.size());
    double var = 0;
    for (double v : x) var += (v - mean) * (v - mean);
    const double sd = std::sqrt(var / static_cast<double>(x.size()));
    for (double& v : x) v = (v - mean) / (sd + eps);
}
}  // namespace detail

inline void normalize(EcgRecord& record, const NormalizeOptions& options = {}) {
    std::span<double> all(record.samples);
    switch (options.method) {
        case Normalization::none:
            return;
        case Normalization::min_max_record: {
            if (all.empty()) return;
            const auto [lo, hi] = std::minmax_element(all.begin(), all.end());
            const double min = *lo, range = *hi - *lo + options.min_max_eps;
            for (double& v : all) v = (v - min) / range;
            return;
        }
        case Normalization::zscore_lead:
            for (std::int64_t c = 0; c < record.channels(); ++c) detail::zscore(record.channel(c), options.zscore_eps);
            return;
        case Normalization::zscore_record:
            detail::zscore(all, options.zscore_eps);
            return;
    }
}

}  // namespace fgclep::data
