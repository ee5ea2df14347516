#pragma once
// Resampling by a rational factor up/down with a polyphase FIR filter, the method of scipy.signal.resample_poly
// with its default window: a low-pass Kaiser-windowed sinc (beta 5) with cutoff 1/max(up, down) of Nyquist and
// 10 * max(up, down) taps either side of the centre, scaled to unit gain at DC, applied to the signal upsampled by
// `up` (zeros between samples) and keeping every `down`-th output. The output has ceil(n * up / down) samples and
// is the same, to rounding, as resample_poly(x, up, down) (with padtype='constant', or 'mean' for
// ResampleEdge::mean). Sample m of the output lies at time m / fs_out, as sample m*down/up of the input.
//
// Accuracy (the same numbers as scipy's; tests/data/test_preprocess.cpp checks the first set): away from the first
// and last 0.2 s, a sine at 30-40% of the lower Nyquist rate comes through with a maximum error of 4e-5 to 1.6e-3
// of its amplitude (100->500 Hz at 20 Hz: 6.5e-4; 257->500 at 40 Hz: 1.5e-3; 1000->500 at 100 Hz: 3.7e-5), and at
// 80% of it below 4e-3. Near the ends the signal is taken as zero outside (or as its mean, ResampleEdge::mean), as
// scipy does, which gives an edge transient (up to 0.3 of the amplitude in the first samples). Content above the
// lower Nyquist rate is attenuated (Kaiser beta 5: about -50 dB in the stop band).
//
//   PolyphaseResampler r(100, 500);                    // 100 Hz -> 500 Hz: up 5, down 1
//   std::vector<double> y = r.apply(x);                // x.size() * 5 samples
#include "fgclep/core/error.hpp"

#include <cmath>
#include <cstdint>
#include <numeric>
#include <span>
#include <utility>
#include <vector>

namespace fgclep::data {

enum class ResampleEdge {
    zero,  // the signal is zero outside the record (scipy's default padtype='constant')
    mean,  // the signal is its mean outside the record (padtype='mean'): no step at the ends for an offset baseline
};

// up/down in lowest terms for resampling from fs_in to fs_out Hz. The rates must be rational with a denominator
// of at most 1000 (257.0, 500, 128.5); the error names the rates otherwise.
inline std::pair<std::int64_t, std::int64_t> resample_ratio(double fs_in, double fs_out) {
    if (!(fs_in > 0) || !(fs_out > 0) || !std::isfinite(fs_in) || !std::isfinite(fs_out))
        fail("resampling from {} Hz to {} Hz: both rates must be positive and finite", fs_in, fs_out);
    for (std::int64_t scale : {1, 10, 100, 1000}) {
        const double a = fs_in * static_cast<double>(scale), b = fs_out * static_cast<double>(scale);
        if (std::abs(a - std::round(a)) < 1e-6 && std::abs(b - std::round(b)) < 1e-6 && a < 1e9 && b < 1e9) {
            const auto in = static_cast<std::int64_t>(std::llround(a)),
                       out = static_cast<std::int64_t>(std::llround(b));
            const std::int64_t g = std::gcd(in, out);
            return {out / g, in / g};
        }
    }
    fail("resampling from {} Hz to {} Hz: the ratio of the rates is not a fraction with a small denominator", fs_in,
         fs_out);
}

// Modified Bessel function of the first kind, order 0 (its power series; enough for the Kaiser window's beta).
inline double bessel_i0(double x) {
    double sum = 1, term = 1;
    const double q = x * x / 4;
    for (int k = 1; k < 500; ++k) {
        term *= q / (static_cast<double>(k) * static_cast<double>(k));
        sum += term;
        if (term < sum * 1e-17) break;
    }
    return sum;
}

class PolyphaseResampler {
public:
    // Largest max(up, down) accepted: the filter has 20 * max(up, down) + 1 taps.
    static constexpr std::int64_t max_rate_limit = 100000;

    PolyphaseResampler(double fs_in, double fs_out, ResampleEdge edge = ResampleEdge::zero) : edge_(edge) {
        std::tie(up_, down_) = resample_ratio(fs_in, fs_out);
        const std::int64_t max_rate = std::max(up_, down_);
        if (max_rate > max_rate_limit)
            fail(
                "resampling from {} Hz to {} Hz needs up {} / down {}: a filter of {} taps; choose rates with a "
                "simpler ratio",
                fs_in, fs_out, up_, down_, 20 * max_rate + 1);
        if (up_ == 1 && down_ == 1) return;
        // firwin(2 * half_len + 1, 1 / max_rate, window=('kaiser', 5.0)) * up, as resample_poly builds it.
        half_len_ = 10 * max_rate;
        const std::int64_t taps = 2 * half_len_ + 1;
        const double cutoff = 1.0 / static_cast<double>(max_rate), beta = 5.0, pi = 3.14159265358979323846;
        h_.resize(static_cast<std::size_t>(taps));
        const double i0_beta = bessel_i0(beta);
        double sum = 0;
        for (std::int64_t n = 0; n < taps; ++n) {
            const double m = static_cast<double>(n - half_len_);
            const double x = cutoff * m;
            const double sinc = x == 0 ? 1.0 : std::sin(pi * x) / (pi * x);
            const double r = 2.0 * static_cast<double>(n) / static_cast<double>(taps - 1) - 1.0;
            const double window = bessel_i0(beta * std::sqrt(std::max(0.0, 1.0 - r * r))) / i0_beta;
            h_[static_cast<std::size_t>(n)] = cutoff * sinc * window;
            sum += h_[static_cast<std::size_t>(n)];
        }
        for (double& v : h_) v = v / sum * static_cast<double>(up_);
    }

    std::int64_t up() const { return up_; }
    std::int64_t down() const { return down_; }
    bool identity() const { return up_ == 1 && down_ == 1; }
    std::int64_t output_length(std::int64_t n) const { return (n * up_ + down_ - 1) / down_; }

    // y[m] = sum_k x[k] h[m*down + half_len - k*up]: the upsampled signal convolved with the centred filter.
    std::vector<double> apply(std::span<const double> x) const {
        if (identity()) return {x.begin(), x.end()};
        const auto n = static_cast<std::int64_t>(x.size());
        double background = 0;
        if (edge_ == ResampleEdge::mean && n > 0) {
            for (double v : x) background += v;
            background /= static_cast<double>(n);
        }
        std::vector<double> y(static_cast<std::size_t>(output_length(n)));
        for (std::int64_t m = 0; m < static_cast<std::int64_t>(y.size()); ++m) {
            const std::int64_t t = m * down_ + half_len_;
            // k with 0 <= t - k*up <= 2*half_len and 0 <= k < n.
            const std::int64_t k_hi = std::min(n - 1, t / up_);
            const std::int64_t lo = t - 2 * half_len_;
            const std::int64_t k_lo = std::max<std::int64_t>(0, lo <= 0 ? 0 : (lo + up_ - 1) / up_);
            double acc = 0;
            for (std::int64_t k = k_lo; k <= k_hi; ++k)
                acc += (x[static_cast<std::size_t>(k)] - background) * h_[static_cast<std::size_t>(t - k * up_)];
            y[static_cast<std::size_t>(m)] = acc + background;
        }
        return y;
    }

private:
    ResampleEdge edge_;
    std::int64_t up_ = 1, down_ = 1, half_len_ = 0;
    std::vector<double> h_;
};

}  // namespace fgclep::data
