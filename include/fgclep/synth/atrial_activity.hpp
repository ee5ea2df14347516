#pragma once
// Atrial activity without P waves: the fibrillatory f waves of atrial fibrillation and the sawtooth F waves of
// atrial flutter, added to the dipole over the whole record (they continue through QRS and T, so there is no
// isoelectric baseline).
#include "fgclep/core/rng.hpp"
#include "fgclep/synth/lead_projection.hpp"

#include <cmath>
#include <cstddef>

namespace fgclep::synth {

// f waves: 6-10 Hz (350-600/min) oscillation of drifting frequency and amplitude, directed right-anterior and
// inferior so that they are largest in V1 (the atria lie right and in front) and next in II, III and aVF (about a
// third of V1), `v1_amplitude_mv` at their peaks in V1.
inline void add_fibrillatory_waves(double v1_amplitude_mv, double fs, std::size_t length, double* x, double* y,
                                   double* z, HostRng& rng) {
    const double two_pi = 6.283185307179586;
    Vec3 dir = unit(Vec3{-0.2, 0.5, 0.9});
    dir = (v1_amplitude_mv / project(dir)[V1]) * dir;
    double f0 = rng.uniform(6.8, 9.2), drift_hz = rng.uniform(0.1, 0.3), drift_phase = rng.uniform(0, two_pi);
    double am_hz = rng.uniform(0.2, 0.5), am_phase = rng.uniform(0, two_pi), phase = rng.uniform(0, two_pi);
    for (std::size_t i = 0; i < length; ++i) {
        double t = static_cast<double>(i) / fs;
        double hz = f0 + 0.8 * std::sin(two_pi * drift_hz * t + drift_phase);  // stays within 6.0-10.0 Hz
        phase += two_pi * hz / fs;
        double v = (0.75 + 0.25 * std::sin(two_pi * am_hz * t + am_phase)) * std::sin(phase);
        x[i] += v * dir.x, y[i] += v * dir.y, z[i] += v * dir.z;
    }
}

// F waves of typical (counter-clockwise) flutter: a sawtooth, slow descent and fast rise, negative in II, III and
// aVF, `inferior_peak_to_peak_mv` from trough to crest in II. The cycle starts (crest) at `origin` + k * cycle.
inline void add_flutter_waves(double inferior_peak_to_peak_mv, double cycle, double origin, double fs,
                              std::size_t length, double* x, double* y, double* z) {
    const double two_pi = 6.283185307179586;
    Vec3 dir = unit(Vec3{0.1, 1.0, -0.25});
    // Band-limited descending ramp: sum_k sin(k phi) / k, Lanczos-smoothed (no ringing); spans about pi.
    constexpr int harmonics = 6;
    auto saw = [&](double phi) {
        double v = 0;
        for (int k = 1; k <= harmonics; ++k) {
            double sigma =
                k == harmonics ? 0 : std::sin(3.141592653589793 * k / harmonics) / (3.141592653589793 * k / harmonics);
            v += sigma * std::sin(k * phi) / k;
        }
        return v;
    };
    double peak_to_peak = 0;
    {
        double lo = 1e9, hi = -1e9;
        for (int i = 0; i < 720; ++i) {
            double v = saw(two_pi * i / 720.0);
            lo = std::min(lo, v), hi = std::max(hi, v);
        }
        peak_to_peak = hi - lo;
    }
    dir = (inferior_peak_to_peak_mv / (peak_to_peak * project(dir)[II])) * dir;
    for (std::size_t i = 0; i < length; ++i) {
        double t = static_cast<double>(i) / fs;
        double v = saw(two_pi * (t - origin) / cycle);
        x[i] += v * dir.x, y[i] += v * dir.y, z[i] += v * dir.z;
    }
}

}  // namespace fgclep::synth
