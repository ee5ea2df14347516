#pragma once
// measure_ecg: intervals and amplitudes measured on a 12-lead ECG signal, the way a machine reader does, so tests
// can check that a simulated condition shows in the waveform (not only in the generator's parameters). Works on
// any EcgRecord holding the 12 standard leads (found by name, case-insensitive, in any order), in mV.
//
// Method (the classic median-beat pipeline of machine ECG programs):
//   1. Filtering. Each lead is high-passed (0.5 Hz, removes baseline wander), notched at the mains frequency and
//      low-passed (40 Hz, removes muscle noise); all filters are 2nd-order Butterworth biquads run forward and
//      backward (zero phase, so intervals are not shifted).
//   2. R peaks (Pan-Tompkins style). Each raw lead is band-passed 5-15 Hz and differentiated; the squared slopes
//      are summed over leads and integrated over a 150 ms moving window. Peaks of its square root at least 250 ms
//      apart, above 30% of the typical beat height and QRS-sized (peak-to-peak over +-60 ms at least 40% of the
//      typical beat's) are beats; a peak within 360 ms of a beat and under half its height is a T wave. Gaps over
//      1.5 median RR are searched again at a third of the threshold (wide ectopic beats). Each beat is then placed
//      at the largest spatial magnitude of the filtered leads and aligned on the median beat by cross-correlation
//      (+-20 ms).
//   3. Premature beats: at least 20% earlier than the median RR, and wide (>= 120 ms and 20 ms wider than the
//      dominant beat) or shaped unlike the dominant beat (QRS correlation < 0.8).
//   4. Median beat per lead over the normal beats, aligned on R (NaN-aware at the record's edges).
//   5. QRS onset/offset from the spatial velocity (sum over leads of |derivative| of the median beats): the
//      region around its peak above 10% of the peak, gaps under 20 ms bridged.
//   6. T wave on the lead with the largest T: the T peak is the largest deviation from baseline after the QRS;
//      T end by the tangent method (the steepest slope of the descent after the peak, its tangent crossing the
//      baseline).
//   7. P wave: the largest deviation in a window before the QRS onset (after the previous T end), present when
//      at least p_min_mv and the window has an isoelectric stretch (40 ms flatter than isoelectric_max_mv: flutter
//      waves, locked to the QRS by the conduction ratio, survive the median but leave none). Onset/offset where
//      the spatial velocity of the (20 ms smoothed) median beat falls below 20% of its peak on the P wave's
//      flanks. Each beat has a P wave when its P segment correlates with the median P (r >= 0.8) and differs from
//      it by at most half its RMS; the PR interval is reported when most beats have one.
//   8. Baseline per lead: median of the PR segment (P offset to QRS onset; 10-30 ms before QRS onset when there
//      is no P wave). Amplitudes, ST (at J + 60 ms) and areas are relative to it, and are read from a second
//      median beat of the same beats filtered at the diagnostic bandwidth (150 Hz): 40 Hz blunts narrow peaks.
//   9. Baseline irregularity: RMS, over the TQ segments (T end + 40 ms to the next beat's P or QRS onset - 40 ms)
//      of the signal minus the median beat, detrended per segment; the largest over leads. Fibrillatory waves
//      raise it; an isoelectric TQ leaves only the noise.
// Accuracy and the per-condition results: docs/measurements.md.
#include "fgclep/core/error.hpp"
#include "fgclep/data/ecg_record.hpp"
#include "fgclep/synth/lead_projection.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <numeric>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace fgclep::synth {

// EcgMeasurements::leads is indexed by Lead and lead_names (lead_projection.hpp: MIMIC-IV-ECG order I, II, III,
// aVR, aVF, aVL, V1..V6); the record's own order does not matter.
inline constexpr std::size_t lead_count = lead_names.size();

struct MeasureOptions {
    double highpass_hz = 0.5;          // baseline wander
    double lowpass_hz = 40;            // muscle noise, for detection and delineation
    double amplitude_lowpass_hz = 150;  // the diagnostic bandwidth, for amplitudes (40 Hz blunts sharp peaks)
    double mains_hz = 50;              // notch; 0 turns it off
    double qrs_threshold = 0.10;       // fraction of the peak spatial velocity that bounds the QRS
    double p_threshold = 0.20;         // fraction of the P wave's peak spatial velocity that bounds it
    double p_min_mv = 0.03;            // smallest P amplitude (largest over leads) counted as a P wave
    double p_min_correlation = 0.8;    // a beat has a P wave when it correlates this well with the median P
    double premature_fraction = 0.8;   // RR below this fraction of the median RR: early
    double pvc_max_correlation = 0.8;  // an early beat whose QRS correlates less with the dominant one: ectopic
    double isoelectric_max_mv = 0.025;  // no flatter 40 ms before the QRS: atrial activity is not a P wave
};

// Per-lead amplitudes (mV, relative to the PR-segment baseline) and Q-wave duration (ms).
struct LeadMeasurements {
    double st_deviation_mv = std::numeric_limits<double>::quiet_NaN();  // at J + 60 ms
    double t_amplitude_mv = std::numeric_limits<double>::quiet_NaN();   // signed: negative for an inverted T
    double q_duration_ms = 0;  // initial negative deflection, QRS onset to its return to baseline; 0 if none
    double q_depth_mv = 0;
    double r_amplitude_mv = 0;  // largest positive deflection in the QRS
    double s_amplitude_mv = 0;  // depth of the deepest negative deflection after the first R (positive number)
    double qrs_peak_to_peak_mv = 0;
    double qrs_area_mv_ms = 0;  // net area
};

struct EcgMeasurements {
    static constexpr double nan = std::numeric_limits<double>::quiet_NaN();
    std::vector<std::int64_t> r_peaks;  // sample indices of every beat
    std::vector<bool> premature;        // per beat of r_peaks
    double heart_rate_bpm = nan;        // 60 / mean RR
    double rr_ms = nan;                 // median RR
    double rr_cv = nan;                 // standard deviation / mean of RR
    double p_wave_present = 0;          // fraction of beats with a P wave
    double pr_ms = nan;                 // P onset to QRS onset; NaN when most beats have no P wave
    double p_duration_ms = nan;
    double qrs_ms = nan;
    double qt_ms = nan;
    double qtc_ms = nan;        // Bazett: QT / sqrt(RR in s)
    double qrs_axis_deg = nan;  // hexaxial angle from the net QRS areas in I and aVF
    double sokolow_lyon_mv = nan;     // S in V1 + the larger R in V5 or V6
    double limb_qrs_max_pp_mv = nan;  // largest QRS peak-to-peak over the six limb leads
    int premature_beats = 0;
    double baseline_irregularity_mv = nan;  // TQ-segment RMS after subtracting the median beat; NaN without TQ
    // Peak-to-peak (largest over leads) of the flattest 40 ms of the median beat between the previous T wave and
    // the QRS: near 0 with an isoelectric TP or PR segment, large when flutter waves leave none.
    double flattest_pre_qrs_mv = nan;
    int beats_in_median = 0;
    // Fiducial points of the median beat, ms relative to R (NaN where absent).
    double p_onset_ms = nan, p_offset_ms = nan, qrs_onset_ms = nan, qrs_offset_ms = nan, t_peak_ms = nan,
           t_end_ms = nan;
    std::array<LeadMeasurements, lead_count> leads{};

    const LeadMeasurements& lead(Lead l) const { return leads[static_cast<std::size_t>(l)]; }
};

namespace measure_detail {

inline constexpr double nan = std::numeric_limits<double>::quiet_NaN();

// A 2nd-order section (RBJ audio-EQ cookbook), a0 normalised to 1.
struct Biquad {
    double b0, b1, b2, a1, a2;
};

inline Biquad make_biquad(int kind, double f0, double fs, double q) {  // kind: 0 low-pass, 1 high-pass, 2 notch
    const double w = 2 * std::numbers::pi * f0 / fs, c = std::cos(w), alpha = std::sin(w) / (2 * q);
    const double a0 = 1 + alpha;
    if (kind == 0) return {(1 - c) / 2 / a0, (1 - c) / a0, (1 - c) / 2 / a0, -2 * c / a0, (1 - alpha) / a0};
    if (kind == 1) return {(1 + c) / 2 / a0, -(1 + c) / a0, (1 + c) / 2 / a0, -2 * c / a0, (1 - alpha) / a0};
    return {1 / a0, -2 * c / a0, 1 / a0, -2 * c / a0, (1 - alpha) / a0};
}

inline void run_biquad(std::vector<double>& x, const Biquad& f) {
    double z1 = 0, z2 = 0;
    for (double& v : x) {  // transposed direct form II
        const double y = f.b0 * v + z1;
        z1 = f.b1 * v - f.a1 * y + z2;
        z2 = f.b2 * v - f.a2 * y;
        v = y;
    }
}

// Zero-phase filtering: forward and backward over the signal extended at both ends by odd reflection (so a
// high-pass does not start with a step).
inline std::vector<double> filtfilt(std::span<const double> x, const std::vector<Biquad>& sections, std::int64_t pad) {
    const auto n = static_cast<std::int64_t>(x.size());
    if (n < 2) return {x.begin(), x.end()};
    pad = std::min(pad, n - 1);
    std::vector<double> y(static_cast<std::size_t>(n + 2 * pad));
    for (std::int64_t i = 0; i < pad; ++i) {
        y[i] = 2 * x[0] - x[pad - i];
        y[pad + n + i] = 2 * x[n - 1] - x[n - 2 - i];
    }
    std::copy(x.begin(), x.end(), y.begin() + pad);
    for (const auto& s : sections) {
        run_biquad(y, s);
        std::reverse(y.begin(), y.end());
        run_biquad(y, s);
        std::reverse(y.begin(), y.end());
    }
    return {y.begin() + pad, y.begin() + pad + n};
}

inline double median_of(std::vector<double> v) {
    std::erase_if(v, [](double a) { return std::isnan(a); });
    if (v.empty()) return nan;
    const auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
    std::nth_element(v.begin(), mid, v.end());
    if (v.size() % 2) return *mid;
    return (*mid + *std::max_element(v.begin(), mid)) / 2;
}

inline std::string lower(std::string_view s) {
    std::string out(s);
    for (char& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return out;
}

// Pearson correlation of two equally long sequences; 0 when either is constant.
inline double correlation(const std::vector<double>& a, const std::vector<double>& b) {
    const double n = static_cast<double>(a.size());
    if (a.empty()) return 0;
    const double ma = std::accumulate(a.begin(), a.end(), 0.0) / n, mb = std::accumulate(b.begin(), b.end(), 0.0) / n;
    double sab = 0, saa = 0, sbb = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::isnan(a[i]) || std::isnan(b[i])) continue;
        sab += (a[i] - ma) * (b[i] - mb);
        saa += (a[i] - ma) * (a[i] - ma);
        sbb += (b[i] - mb) * (b[i] - mb);
    }
    return saa > 0 && sbb > 0 ? sab / std::sqrt(saa * sbb) : 0;
}

// Subtracts from each of the consecutive blocks (one per lead) its own mean, so that a correlation over the
// concatenated leads compares shapes, not the leads' offsets.
inline void centre_blocks(std::vector<double>& v, std::size_t block) {
    for (std::size_t a = 0; a + block <= v.size(); a += block) {
        double mean = 0;
        for (std::size_t k = a; k < a + block; ++k) mean += v[k];
        mean /= static_cast<double>(block);
        for (std::size_t k = a; k < a + block; ++k) v[k] -= mean;
    }
}

using Beat = std::array<std::vector<double>, lead_count>;  // one window per lead, R at index `pre`

// Sum over leads of |derivative| (mV/s), NaN-free (NaN counts as 0).
inline std::vector<double> spatial_velocity(const Beat& beat, double fs) {
    const std::size_t w = beat[0].size();
    std::vector<double> v(w, 0.0);
    for (const auto& x : beat)
        for (std::size_t k = 1; k + 1 < w; ++k) {
            const double d = (x[k + 1] - x[k - 1]) * fs / 2;
            if (!std::isnan(d)) v[k] += std::abs(d);
        }
    return v;
}

// The QRS as the region around the velocity peak near R that stays above `threshold` x peak, bridging gaps
// shorter than `gap` samples (the velocity vanishes briefly at the top of R and at notches).
struct Bounds {
    std::int64_t on = -1, off = -1;
};
inline Bounds qrs_bounds(const std::vector<double>& v, std::int64_t centre, std::int64_t half_search, double threshold,
                         std::int64_t gap) {
    const auto w = static_cast<std::int64_t>(v.size());
    const std::int64_t lo = std::max<std::int64_t>(1, centre - half_search),
                       hi = std::min<std::int64_t>(w - 2, centre + half_search);
    std::int64_t peak = lo;
    for (std::int64_t k = lo; k <= hi; ++k)
        if (v[k] > v[peak]) peak = k;
    const double thr = threshold * v[peak];
    Bounds b{peak, peak};
    for (std::int64_t k = peak, below = 0; k >= 1 && below < gap; --k) {
        if (v[k] >= thr) b.on = k, below = 0;
        else ++below;
    }
    for (std::int64_t k = peak, below = 0; k < w - 1 && below < gap; ++k) {
        if (v[k] >= thr) b.off = k, below = 0;
        else ++below;
    }
    return b;
}

}  // namespace measure_detail

inline EcgMeasurements measure_ecg(const data::EcgRecord& record, const MeasureOptions& options = {}) {
    using namespace measure_detail;
    record.check();
    const double fs = record.fs;
    const std::int64_t n = record.length;
    if (!(fs > 0)) fail("measure_ecg: record '{}' has sampling frequency {}", record.name, fs);
    if (n < static_cast<std::int64_t>(2 * fs))
        fail("measure_ecg: record '{}' has {} samples, at least 2 s are needed", record.name, n);
    const auto ms = [fs](double t_ms) { return static_cast<std::int64_t>(std::lround(t_ms * fs / 1000)); };
    const auto to_ms = [fs](double samples) { return samples * 1000 / fs; };

    // --- leads by name, NaN samples as 0 (a gap adds no slope and no energy)
    std::array<std::vector<double>, lead_count> raw;
    for (std::size_t l = 0; l < lead_count; ++l) {
        std::int64_t found = -1;
        for (std::int64_t c = 0; c < record.channels(); ++c)
            if (lower(record.leads[c]) == lower(lead_names[l])) found = c;
        if (found < 0) fail("measure_ecg: record '{}' has no lead {}", record.name, lead_names[l]);
        auto ch = record.channel(found);
        raw[l].assign(ch.begin(), ch.end());
        for (double& v : raw[l])
            if (!std::isfinite(v)) v = 0;
    }

    // --- 1. filtering
    const double q = std::numbers::sqrt2 / 2;
    std::vector<Biquad> clean_filter;
    if (options.highpass_hz > 0) clean_filter.push_back(make_biquad(1, options.highpass_hz, fs, q));
    if (options.mains_hz > 0 && options.mains_hz < fs / 2)
        clean_filter.push_back(make_biquad(2, options.mains_hz, fs, 30));
    if (options.lowpass_hz > 0 && options.lowpass_hz < fs / 2)
        clean_filter.push_back(make_biquad(0, options.lowpass_hz, fs, q));
    const std::vector<Biquad> qrs_band = {make_biquad(1, 5, fs, q), make_biquad(0, std::min(15.0, fs / 4), fs, q)};
    const std::int64_t pad = ms(2000);
    std::array<std::vector<double>, lead_count> clean;
    std::vector<double> energy(n, 0.0);
    for (std::size_t l = 0; l < lead_count; ++l) {
        clean[l] = filtfilt(raw[l], clean_filter, pad);
        const auto band = filtfilt(raw[l], qrs_band, pad);
        for (std::int64_t t = 1; t + 1 < n; ++t) {
            const double d = (band[t + 1] - band[t - 1]) * fs / 2;
            energy[t] += d * d;
        }
    }

    // --- 2. R peaks: moving-window integration, local maxima, refractory period, T-wave rejection
    const std::int64_t half_mwi = ms(75);
    std::vector<double> env(n, 0.0);
    {
        std::vector<double> cum(n + 1, 0.0);
        for (std::int64_t t = 0; t < n; ++t) cum[t + 1] = cum[t] + energy[t];
        for (std::int64_t t = 0; t < n; ++t) {
            const std::int64_t a = std::max<std::int64_t>(0, t - half_mwi), b = std::min(n, t + half_mwi + 1);
            env[t] = std::sqrt((cum[b] - cum[a]) / static_cast<double>(b - a));
        }
    }
    std::vector<std::int64_t> candidates;
    for (std::int64_t t = 1; t + 1 < n; ++t)
        if (env[t] >= env[t - 1] && env[t] > env[t + 1]) candidates.push_back(t);
    std::sort(candidates.begin(), candidates.end(), [&](auto a, auto b) { return env[a] > env[b]; });
    std::vector<std::int64_t> accepted;
    const std::int64_t refractory = ms(250);
    for (auto c : candidates) {
        bool clear = true;
        for (auto a : accepted)
            if (std::abs(a - c) < refractory || (std::abs(a - c) < ms(360) && env[c] < 0.5 * env[a])) clear = false;
        if (clear) accepted.push_back(c);
    }
    EcgMeasurements m;
    if (accepted.empty()) return m;
    const double top = env[accepted.front()];
    std::vector<double> heights;
    for (auto a : accepted)
        if (env[a] >= 0.2 * top) heights.push_back(env[a]);
    const double typical = median_of(heights);
    std::vector<std::int64_t> beats;
    for (auto a : accepted)
        if (env[a] >= 0.3 * typical) beats.push_back(a);
    std::sort(beats.begin(), beats.end());

    // A beat is also QRS-sized: its deflection (peak-to-peak over +-60 ms, largest over leads) at least 40% of
    // that of the beats of typical or larger energy, so that large atrial waves beside a low-voltage QRS
    // (fibrillation, flutter) are not taken for beats.
    const auto deflection = [&](std::int64_t t) {
        const std::int64_t lo = std::max<std::int64_t>(0, t - ms(60)), hi = std::min(n - 1, t + ms(60));
        double best = 0;
        for (const auto& x : clean) {
            const auto [mn, mx] = std::minmax_element(x.begin() + lo, x.begin() + hi + 1);
            best = std::max(best, *mx - *mn);
        }
        return best;
    };
    double size_median = 0;
    {
        std::vector<double> sizes;
        for (auto b : beats)
            if (env[b] >= typical) sizes.push_back(deflection(b));
        size_median = median_of(sizes);
        std::erase_if(beats, [&](std::int64_t b) { return deflection(b) < 0.4 * size_median; });
    }

    // Search back (Pan-Tompkins) in gaps over 1.5 median RR for a beat with little slope energy (a wide ectopic
    // beat): a lower energy threshold, still QRS-sized.
    if (beats.size() >= 3) {
        std::vector<double> gaps;
        for (std::size_t i = 1; i < beats.size(); ++i) gaps.push_back(static_cast<double>(beats[i] - beats[i - 1]));
        const double gap_median = median_of(gaps);
        std::vector<std::int64_t> found;
        for (std::size_t i = 1; i < beats.size(); ++i) {
            if (static_cast<double>(beats[i] - beats[i - 1]) <= 1.5 * gap_median) continue;
            std::int64_t best = -1;
            for (auto c : accepted)
                if (c > beats[i - 1] + ms(360) && c < beats[i] - refractory && env[c] >= 0.1 * typical &&
                    (best < 0 || env[c] > env[best]) && deflection(c) >= 0.4 * size_median)
                    best = c;
            if (best >= 0) found.push_back(best);
        }
        beats.insert(beats.end(), found.begin(), found.end());
        std::sort(beats.begin(), beats.end());
    }

    // Place each beat at the largest spatial magnitude of the filtered leads near the detection.
    for (auto& r : beats) {
        const std::int64_t lo = std::max<std::int64_t>(0, r - ms(80)), hi = std::min(n - 1, r + ms(80));
        double best = -1;
        for (std::int64_t t = lo; t <= hi; ++t) {
            double s = 0;
            for (const auto& x : clean) s += x[t] * x[t];
            if (s > best) best = s, r = t;
        }
    }
    const auto nb = beats.size();

    // --- beats as windows around R (NaN outside the record)
    const std::int64_t pre = ms(450), post = ms(750), w = pre + post + 1;
    const auto cut = [&](std::int64_t r) {
        Beat b;
        for (std::size_t l = 0; l < lead_count; ++l) {
            b[l].assign(static_cast<std::size_t>(w), nan);
            for (std::int64_t k = 0; k < w; ++k) {
                const std::int64_t t = r - pre + k;
                if (t >= 0 && t < n) b[l][k] = clean[l][t];
            }
        }
        return b;
    };
    const auto median_beat = [&](const std::array<std::vector<double>, lead_count>& src, const std::vector<bool>& use) {
        Beat med;
        std::vector<double> column;
        for (std::size_t l = 0; l < lead_count; ++l) {
            med[l].assign(static_cast<std::size_t>(w), nan);
            for (std::int64_t k = 0; k < w; ++k) {
                column.clear();
                for (std::size_t i = 0; i < nb; ++i) {
                    const std::int64_t t = beats[i] - pre + k;
                    if (use[i] && t >= 0 && t < n) column.push_back(src[l][t]);
                }
                med[l][k] = median_of(column);
            }
        }
        return med;
    };
    std::vector<bool> all(nb, true);
    Beat tmpl = median_beat(clean, all);

    // Align every beat on the template by cross-correlation over the QRS region (+-20 ms).
    {
        const std::int64_t span = ms(60), shift = ms(20);
        for (auto& r : beats) {
            double best = -std::numeric_limits<double>::infinity();
            std::int64_t best_s = 0;
            for (std::int64_t s = -shift; s <= shift; ++s) {
                double score = 0;
                for (std::size_t l = 0; l < lead_count; ++l)
                    for (std::int64_t k = pre - span; k <= pre + span; ++k) {
                        const std::int64_t t = r + s + k - pre;
                        if (t >= 0 && t < n && !std::isnan(tmpl[l][k])) score += clean[l][t] * tmpl[l][k];
                    }
                if (score > best) best = score, best_s = s;
            }
            r += best_s;
        }
        tmpl = median_beat(clean, all);
    }
    m.r_peaks = beats;

    // --- RR statistics
    std::vector<double> rr;
    for (std::size_t i = 1; i < nb; ++i) rr.push_back(static_cast<double>(beats[i] - beats[i - 1]));
    double rr_median = nan;
    if (!rr.empty()) {
        const double mean = std::accumulate(rr.begin(), rr.end(), 0.0) / static_cast<double>(rr.size());
        double var = 0;
        for (double v : rr) var += (v - mean) * (v - mean);
        rr_median = median_of(rr);
        m.heart_rate_bpm = 60 * fs / mean;
        m.rr_ms = to_ms(rr_median);
        m.rr_cv = std::sqrt(var / static_cast<double>(rr.size())) / mean;
    }

    // --- 3. premature beats: early and wide or shaped unlike the dominant beat
    const std::int64_t gap = ms(20), search = ms(80);
    const Bounds tmpl_qrs = qrs_bounds(spatial_velocity(tmpl, fs), pre, search, options.qrs_threshold, gap);
    const double dominant_width = to_ms(static_cast<double>(tmpl_qrs.off - tmpl_qrs.on));
    m.premature.assign(nb, false);
    std::vector<bool> normal(nb, true);
    for (std::size_t i = 1; i < nb; ++i) {
        if (!(static_cast<double>(beats[i] - beats[i - 1]) < options.premature_fraction * rr_median)) continue;
        const Beat b = cut(beats[i]);
        const Bounds bq = qrs_bounds(spatial_velocity(b, fs), pre, search, options.qrs_threshold, gap);
        const double width = to_ms(static_cast<double>(bq.off - bq.on));
        std::vector<double> xa, xb;
        for (std::size_t l = 0; l < lead_count; ++l)
            for (std::int64_t k = tmpl_qrs.on - ms(20); k <= tmpl_qrs.off + ms(20); ++k)
                xa.push_back(b[l][k]), xb.push_back(tmpl[l][k]);
        centre_blocks(xa, xa.size() / lead_count);
        centre_blocks(xb, xb.size() / lead_count);
        const bool wide = width >= 120 && width >= dominant_width + 20;
        if (wide || correlation(xa, xb) < options.pvc_max_correlation) {
            m.premature[i] = true;
            normal[i] = false;
            ++m.premature_beats;
        }
    }
    if (std::find(normal.begin(), normal.end(), true) == normal.end()) normal = all;

    // --- 4. median beat over the normal beats
    const Beat med = median_beat(clean, normal);
    m.beats_in_median = static_cast<int>(std::count(normal.begin(), normal.end(), true));

    // --- 5. QRS onset and offset
    const Bounds qrs = qrs_bounds(spatial_velocity(med, fs), pre, search, options.qrs_threshold, gap);
    const std::int64_t on = qrs.on, off = qrs.off;
    m.qrs_onset_ms = to_ms(static_cast<double>(on - pre));
    m.qrs_offset_ms = to_ms(static_cast<double>(off - pre));
    m.qrs_ms = to_ms(static_cast<double>(off - on));

    const auto segment_median = [&](std::size_t l, std::int64_t a, std::int64_t b) {
        a = std::clamp<std::int64_t>(a, 0, w - 1), b = std::clamp<std::int64_t>(b, 0, w - 1);
        return median_of(std::vector<double>(med[l].begin() + a, med[l].begin() + b + 1));
    };
    std::array<double, lead_count> base{};
    for (std::size_t l = 0; l < lead_count; ++l) base[l] = segment_median(l, on - ms(30), on - ms(10));

    // --- 6. T wave: peak on the lead with the largest T, end by the tangent method
    const double rr_s = std::isnan(rr_median) ? 1.0 : rr_median / fs;
    const std::int64_t t_lo = off + ms(40);
    const std::int64_t t_hi = std::min(w - 2, pre + ms(1000 * std::max(0.65 * rr_s, rr_s - 0.2)));
    struct TWave {
        std::int64_t peak = -1, end = -1;
        std::size_t lead = 0;
    };
    const auto find_t = [&]() {
        TWave t;
        double best = 0;
        for (std::size_t l = 0; l < lead_count; ++l)
            for (std::int64_t k = t_lo; k <= t_hi; ++k)
                if (std::abs(med[l][k] - base[l]) > best) best = std::abs(med[l][k] - base[l]), t.peak = k, t.lead = l;
        if (t.peak < 0) return t;
        const auto& x = med[t.lead];
        const double sign = x[t.peak] > base[t.lead] ? 1.0 : -1.0;
        std::int64_t steep = -1;
        double slope = 0;  // per sample, towards the baseline
        // Only along the T wave's own descent: stop once it has returned to the baseline or rises again (the
        // next P wave can fall in the window at long PR).
        const double height = sign * (x[t.peak] - base[t.lead]);
        double lowest = height;
        for (std::int64_t k = t.peak; k < t_hi; ++k) {
            const double level = sign * (x[k] - base[t.lead]);
            if (level < -0.1 * height || level > lowest + 0.1 * height) break;
            lowest = std::min(lowest, level);
            const double d = -sign * (x[k + 1] - x[k - 1]) / 2;
            if (d > slope) slope = d, steep = k;
        }
        if (steep < 0) return t;
        const double cross = static_cast<double>(steep) + sign * (x[steep] - base[t.lead]) / slope;
        t.end = std::clamp<std::int64_t>(std::llround(cross), t.peak, t_hi);
        return t;
    };
    TWave tw = find_t();

    // --- 7. P wave in the window between the previous T end and the QRS onset
    Beat smooth;  // 20 ms moving average of the median beat, for the P wave
    {
        const std::int64_t h = ms(10);
        for (std::size_t l = 0; l < lead_count; ++l) {
            smooth[l].assign(static_cast<std::size_t>(w), nan);
            for (std::int64_t k = h; k < w - h; ++k) {
                double s = 0;
                for (std::int64_t j = k - h; j <= k + h; ++j) s += med[l][j];
                smooth[l][k] = s / static_cast<double>(2 * h + 1);
            }
        }
    }
    const std::int64_t p_hi = on - ms(20);
    std::int64_t p_lo = std::max<std::int64_t>(on - ms(450), ms(12));
    if (tw.end >= 0 && !std::isnan(rr_median)) {
        const auto prev_t_end = tw.end - static_cast<std::int64_t>(rr_median) + ms(20);
        const auto prev_t_peak = tw.peak - static_cast<std::int64_t>(rr_median);
        p_lo = std::max(p_lo, prev_t_end < p_hi - ms(60) ? prev_t_end : prev_t_peak);
    }
    // The flattest 40 ms before the QRS (largest peak-to-peak over leads): a sinus rhythm has an isoelectric TP
    // or PR segment; flutter waves leave none.
    for (std::int64_t a = p_lo; a + ms(40) <= p_hi; ++a) {
        double worst = 0;
        for (std::size_t l = 0; l < lead_count; ++l) {
            const auto [lo, hi] = std::minmax_element(smooth[l].begin() + a, smooth[l].begin() + a + ms(40) + 1);
            worst = std::max(worst, *hi - *lo);
        }
        m.flattest_pre_qrs_mv = std::isnan(m.flattest_pre_qrs_mv) ? worst : std::min(m.flattest_pre_qrs_mv, worst);
    }
    const bool flutter_like = m.flattest_pre_qrs_mv > options.isoelectric_max_mv;
    std::int64_t p_on = -1, p_off = -1;
    if (p_hi - p_lo >= ms(40) && !flutter_like) {
        std::vector<double> amp(static_cast<std::size_t>(w), 0.0), vel(static_cast<std::size_t>(w), 0.0);
        for (std::int64_t k = p_lo; k <= p_hi; ++k)
            for (std::size_t l = 0; l < lead_count; ++l) {
                amp[k] = std::max(amp[k], std::abs(smooth[l][k] - smooth[l][p_hi]));
                vel[k] += std::abs(smooth[l][k + 1] - smooth[l][k - 1]) * fs / 2;
            }
        std::int64_t peak = p_lo;
        for (std::int64_t k = p_lo; k <= p_hi; ++k)
            if (amp[k] > amp[peak]) peak = k;
        if (amp[peak] >= options.p_min_mv && peak > p_lo && peak < p_hi) {
            std::int64_t left = p_lo, right = peak;
            for (std::int64_t k = p_lo; k <= peak; ++k)
                if (vel[k] > vel[left]) left = k;
            for (std::int64_t k = peak; k <= p_hi; ++k)
                if (vel[k] > vel[right]) right = k;
            p_on = left;
            while (p_on > p_lo && vel[p_on] >= options.p_threshold * vel[left]) --p_on;
            p_off = right;
            while (p_off < p_hi && vel[p_off] >= options.p_threshold * vel[right]) ++p_off;
        }
    }
    if (p_on >= 0) {
        // Per beat: does its P segment look like the median P?
        const std::int64_t a = std::max<std::int64_t>(0, p_on - ms(20)), b = std::min(p_off + ms(20), on);
        std::vector<double> ref;
        for (std::size_t l = 0; l < lead_count; ++l)
            for (std::int64_t k = a; k <= b; ++k) ref.push_back(smooth[l][k]);
        centre_blocks(ref, static_cast<std::size_t>(b - a + 1));
        int with_p = 0, counted = 0;
        for (std::size_t i = 0; i < nb; ++i) {
            if (beats[i] - pre + a - ms(10) < 0 || beats[i] - pre + b + ms(10) >= n) continue;
            // A beat whose P segment holds the previous beat's T wave (a short RR) tells nothing either way.
            if (i > 0 && tw.end >= 0 && beats[i - 1] + (tw.end - pre) > beats[i] - pre + a) continue;
            std::vector<double> x;
            for (std::size_t l = 0; l < lead_count; ++l)
                for (std::int64_t k = a; k <= b; ++k) {
                    double s = 0;
                    for (std::int64_t j = -ms(10); j <= ms(10); ++j) s += clean[l][beats[i] - pre + k + j];
                    x.push_back(s / static_cast<double>(2 * ms(10) + 1));
                }
            centre_blocks(x, static_cast<std::size_t>(b - a + 1));
            ++counted;
            // Same shape and close to it: fibrillatory waves can correlate with a median P by chance, but stay
            // far from it.
            double miss = 0, size = 0;
            for (std::size_t j = 0; j < x.size(); ++j)
                miss += (x[j] - ref[j]) * (x[j] - ref[j]), size += ref[j] * ref[j];
            if (correlation(x, ref) >= options.p_min_correlation && miss <= 0.25 * size) ++with_p;
        }
        m.p_wave_present = counted ? static_cast<double>(with_p) / counted : 0.0;
        if (m.p_wave_present >= 0.5) {
            m.p_onset_ms = to_ms(static_cast<double>(p_on - pre));
            m.p_offset_ms = to_ms(static_cast<double>(p_off - pre));
            m.p_duration_ms = to_ms(static_cast<double>(p_off - p_on));
            m.pr_ms = to_ms(static_cast<double>(on - p_on));
        }
    }
    const bool has_p = !std::isnan(m.pr_ms);

    // Amplitudes come from a median beat of the same beats at the diagnostic bandwidth.
    Beat amp_med;
    {
        std::vector<Biquad> amp_filter;
        if (options.highpass_hz > 0) amp_filter.push_back(make_biquad(1, options.highpass_hz, fs, q));
        if (options.mains_hz > 0 && options.mains_hz < fs / 2)
            amp_filter.push_back(make_biquad(2, options.mains_hz, fs, 30));
        if (options.amplitude_lowpass_hz > 0 && options.amplitude_lowpass_hz < fs / 2)
            amp_filter.push_back(make_biquad(0, options.amplitude_lowpass_hz, fs, q));
        std::array<std::vector<double>, lead_count> amp_signal;
        for (std::size_t l = 0; l < lead_count; ++l) amp_signal[l] = filtfilt(raw[l], amp_filter, pad);
        amp_med = median_beat(amp_signal, normal);
    }
    const auto amp_segment_median = [&](std::size_t l, std::int64_t a, std::int64_t b) {
        a = std::clamp<std::int64_t>(a, 0, w - 1), b = std::clamp<std::int64_t>(b, 0, w - 1);
        return median_of(std::vector<double>(amp_med[l].begin() + a, amp_med[l].begin() + b + 1));
    };

    // --- 8. PR-segment baseline; per-lead amplitudes, Q waves, ST, T; the T end again on the final baseline
    for (std::size_t l = 0; l < lead_count; ++l) {
        if (has_p && on - p_off >= ms(10)) base[l] = segment_median(l, p_off, on - 1);
        else base[l] = segment_median(l, on - ms(30), on - ms(10));
    }
    tw = find_t();
    if (tw.peak >= 0) m.t_peak_ms = to_ms(static_cast<double>(tw.peak - pre));
    if (tw.end >= 0) {
        m.t_end_ms = to_ms(static_cast<double>(tw.end - pre));
        m.qt_ms = to_ms(static_cast<double>(tw.end - on));
        m.qtc_ms = m.qt_ms / std::sqrt(rr_s);
    }
    const double q_min_mv = 0.05;  // smaller first deflections are not a Q wave
    for (std::size_t l = 0; l < lead_count; ++l) {
        auto& lm = m.leads[l];
        const double amp_base = has_p && on - p_off >= ms(10) ? amp_segment_median(l, p_off, on - 1)
                                                               : amp_segment_median(l, on - ms(30), on - ms(10));
        const auto y = [&](std::int64_t k) { return amp_med[l][k] - amp_base; };
        double hi = 0, lo = 0, area = 0;
        for (std::int64_t k = on; k <= off; ++k) {
            hi = std::max(hi, y(k));
            lo = std::min(lo, y(k));
            area += y(k);
        }
        lm.r_amplitude_mv = hi;
        lm.qrs_peak_to_peak_mv = hi - lo;
        lm.qrs_area_mv_ms = to_ms(area);
        // S: the deepest negative deflection after the first R wave (in a QS complex, the deepest one).
        std::int64_t first_r = on;
        while (first_r <= off && y(first_r) < q_min_mv) ++first_r;
        if (first_r > off) first_r = on;
        double s_depth = 0;
        for (std::int64_t k = first_r; k <= off; ++k) s_depth = std::max(s_depth, -y(k));
        lm.s_amplitude_mv = s_depth;
        std::int64_t first = on;  // first sizeable deflection
        while (first <= off && std::abs(y(first)) < q_min_mv) ++first;
        if (first <= off && y(first) < 0) {
            std::int64_t end = first;
            double depth = 0;
            while (end <= off && y(end) < 0) depth = std::max(depth, -y(end)), ++end;
            lm.q_duration_ms = to_ms(static_cast<double>(end - on));
            lm.q_depth_mv = depth;
        }
        if (off + ms(60) < w) lm.st_deviation_mv = y(off + ms(60));
        double t_extreme = 0;
        for (std::int64_t k = t_lo; k <= t_hi; ++k)
            if (std::abs(y(k)) > std::abs(t_extreme)) t_extreme = y(k);
        lm.t_amplitude_mv = t_extreme;
    }
    const auto& L = [&](Lead l) -> const LeadMeasurements& { return m.lead(l); };
    // Einthoven: I = E cos(axis), aVF = (II + III) / 2 = (sqrt(3) / 2) E sin(axis); the factor is undone.
    m.qrs_axis_deg = std::atan2(L(Lead::aVF).qrs_area_mv_ms * 2 / std::sqrt(3.0), L(Lead::I).qrs_area_mv_ms) * 180 /
                     std::numbers::pi;
    m.sokolow_lyon_mv = L(Lead::V1).s_amplitude_mv + std::max(L(Lead::V5).r_amplitude_mv, L(Lead::V6).r_amplitude_mv);
    m.limb_qrs_max_pp_mv = 0;
    for (Lead l : {Lead::I, Lead::II, Lead::III, Lead::aVR, Lead::aVF, Lead::aVL})
        m.limb_qrs_max_pp_mv = std::max(m.limb_qrs_max_pp_mv, L(l).qrs_peak_to_peak_mv);

    // --- 9. baseline irregularity in the TQ segments, after subtracting the median beat
    if (tw.end >= 0 && nb >= 2) {
        std::array<double, lead_count> sum{};
        std::int64_t count = 0;
        const std::int64_t next_start = has_p ? p_on : on;
        for (std::size_t i = 0; i + 1 < nb; ++i) {
            const std::int64_t a = beats[i] + (tw.end - pre) + ms(40), b = beats[i + 1] + (next_start - pre) - ms(40);
            if (b - a < ms(60)) continue;
            for (std::size_t l = 0; l < lead_count; ++l) {
                std::vector<double> r;
                for (std::int64_t t = a; t <= b; ++t) {
                    const std::int64_t k = t - beats[i + 1] + pre;  // position in the next beat's template
                    const double tmpl_v = k >= 0 && !std::isnan(med[l][k]) ? med[l][k] : base[l];
                    r.push_back(clean[l][t] - tmpl_v);
                }
                // Remove the straight line through the segment (residual baseline wander).
                const double len = static_cast<double>(r.size() - 1);
                const double r0 = r.front(), r1 = r.back();
                double mean = 0;
                for (std::size_t j = 0; j < r.size(); ++j)
                    mean += r[j] - (r0 + (r1 - r0) * static_cast<double>(j) / len);
                mean /= static_cast<double>(r.size());
                for (std::size_t j = 0; j < r.size(); ++j) {
                    const double d = r[j] - (r0 + (r1 - r0) * static_cast<double>(j) / len) - mean;
                    sum[l] += d * d;
                }
            }
            count += b - a + 1;
        }
        if (count > 0) {
            double worst = 0;
            for (double s : sum) worst = std::max(worst, std::sqrt(s / static_cast<double>(count)));
            m.baseline_irregularity_mv = worst;
        }
    }
    return m;
}

}  // namespace fgclep::synth
