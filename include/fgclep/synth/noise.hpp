#pragma once
// Recording noise: baseline wander, mains hum and muscle (EMG) noise, each at a chosen RMS level in mV.
//
// Noise is generated for the independent leads (I, II, V1..V6) only; the derived limb leads get theirs through
// Einthoven's and Goldberger's identities, as electrode noise does in a real recorder. Each process is scaled so
// that its RMS over the record equals the requested level exactly, which makes levels testable.
#include "fgclep/core/rng.hpp"
#include "fgclep/synth/lead_projection.hpp"

#include <cmath>
#include <cstdint>
#include <vector>

namespace fgclep::synth {

// RMS levels in mV per independent lead; mains_hz is 50 (Europe) or 60 (Americas).
struct NoiseOptions {
    double baseline_wander_mv = 0.05, mains_mv = 0.01, mains_hz = 50, muscle_mv = 0.01;
};

namespace detail {
inline void scale_to_rms(std::vector<double>& x, double rms) {
    double sum = 0;
    for (double v : x) sum += v * v;
    double current = x.empty() ? 0 : std::sqrt(sum / static_cast<double>(x.size()));
    double s = current > 0 ? rms / current : 0;
    for (double& v : x) v *= s;
}

// Adds amplitude * sin(2 pi hz t + phase) to x by rotating a phasor: two multiplications a sample instead of a
// sin call (the wander and hum would otherwise dominate the simulator's time).
inline void add_sinusoid(std::vector<double>& x, double fs, double hz, double amplitude, double phase) {
    const double step = 6.283185307179586 * hz / fs;
    double wr = std::cos(step), wi = std::sin(step);
    double re = amplitude * std::cos(phase), im = amplitude * std::sin(phase);
    for (std::size_t t = 0; t < x.size(); ++t) {
        x[t] += im;
        double next_re = re * wr - im * wi;
        im = re * wi + im * wr;
        re = next_re;
    }
}

// Standard normal pairs from Box-Muller (both outputs used); std::normal_distribution is avoided because its
// output differs between standard libraries.
inline void fill_normal(std::vector<double>& x, HostRng& rng) {
    const double two_pi = 6.283185307179586;
    for (std::size_t t = 0; t < x.size(); t += 2) {
        double u1 = rng.uniform(), u2 = rng.uniform();
        if (u1 < 1e-300) u1 = 1e-300;
        double r = std::sqrt(-2.0 * std::log(u1));
        x[t] = r * std::cos(two_pi * u2);
        if (t + 1 < x.size()) x[t + 1] = r * std::sin(two_pi * u2);
    }
}
}  // namespace detail

// Baseline wander: a respiratory sinusoid (0.15-0.35 Hz) plus slow drifts (0.03-0.5 Hz), different in
// amplitude and phase per lead.
inline std::vector<double> baseline_wander(std::size_t length, double fs, double rms, HostRng& rng) {
    std::vector<double> x(length, 0.0);
    if (rms <= 0 || length == 0) return x;
    const double two_pi = 6.283185307179586;
    double freq[4] = {rng.uniform(0.15, 0.35), rng.uniform(0.03, 0.1), rng.uniform(0.1, 0.5), rng.uniform(0.03, 0.5)};
    for (double hz : freq) {
        double amplitude = rng.uniform(0.3, 1.0), phase = rng.uniform(0, two_pi);
        detail::add_sinusoid(x, fs, hz, amplitude, phase);
    }
    detail::scale_to_rms(x, rms);
    return x;
}

// Mains hum: the line frequency with a weak third harmonic, at a lead-specific phase.
inline std::vector<double> mains_hum(std::size_t length, double fs, double rms, double hz, HostRng& rng) {
    std::vector<double> x(length, 0.0);
    if (rms <= 0 || length == 0) return x;
    const double two_pi = 6.283185307179586;
    double phase = rng.uniform(0, two_pi), third = rng.uniform(0.0, 0.2);
    detail::add_sinusoid(x, fs, hz, 1.0, phase);
    if (3 * hz < fs / 2) detail::add_sinusoid(x, fs, 3 * hz, third, 3 * phase);
    detail::scale_to_rms(x, rms);
    return x;
}

// Muscle noise: broadband Gaussian noise in bursts (a slowly varying envelope, as with tensing and relaxing).
inline std::vector<double> muscle_noise(std::size_t length, double fs, double rms, HostRng& rng) {
    std::vector<double> x(length, 0.0);
    if (rms <= 0 || length == 0) return x;
    const double two_pi = 6.283185307179586;
    std::vector<double> envelope(length, 1.0);
    detail::add_sinusoid(envelope, fs, rng.uniform(0.1, 0.6), rng.uniform(0.2, 0.8), rng.uniform(0, two_pi));
    detail::fill_normal(x, rng);
    for (std::size_t t = 0; t < length; ++t) x[t] *= envelope[t];
    detail::scale_to_rms(x, rms);
    return x;
}

// Adds all three noises to the independent leads of a channel-major 12-lead buffer (before the limb leads are
// derived). Deterministic for a seed; every lead and process has its own stream, so switching one process off
// leaves the others unchanged.
inline void add_noise(double* samples, std::size_t length, double fs, const NoiseOptions& options, std::uint64_t seed) {
    HostRng base = HostRng::for_name(seed, "noise");
    for (std::size_t k = 0; k < independent_lead_count; ++k) {
        double* lead = samples + independent_leads[k] * length;
        HostRng wander_rng(base.next()), hum_rng(base.next()), emg_rng(base.next());
        auto wander = baseline_wander(length, fs, options.baseline_wander_mv, wander_rng);
        auto hum = mains_hum(length, fs, options.mains_mv, options.mains_hz, hum_rng);
        auto emg = muscle_noise(length, fs, options.muscle_mv, emg_rng);
        for (std::size_t t = 0; t < length; ++t) lead[t] += wander[t] + hum[t] + emg[t];
    }
}

}  // namespace fgclep::synth
