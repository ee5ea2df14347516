#pragma once
// measure_ecg: intervals and amplitudes measured on a 12-lead ECG signal, the way a machine ECG program does, so tests
// can check that a simulated condition shows in the waveform, not only in the generator's parameters. Works on any
// EcgRecord holding the 12 standard leads (found by name, case-insensitive, in any order), in mV; a value that cannot
// be measured is NaN, never made up.
// Method: the classic median-beat pipeline (zero-phase filtering, Pan-Tompkins-style R peaks, premature beats left
// out, a median beat per lead, onsets/offsets from the spatial velocity, T end by the tangent method); every
// threshold is a MeasureOptions field. Each step, the accuracy and the per-condition results: docs/measurements.md.
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
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace fgclep::synth {

// EcgMeasurements::leads is indexed by Lead and lead_names (lead_projection.hpp: MIMIC-IV-ECG order I, II, III,
// aVR, aVF, aVL, V1..V6); the record's own order does not matter.
inline constexpr std::size_t lead_count = lead_names.size();

struct MeasureOptions {
    double highpass_hz = 0.5;           // baseline wander
    double lowpass_hz = 40;             // muscle noise, for detection and delineation
    double amplitude_lowpass_hz = 150;  // the diagnostic bandwidth, for amplitudes (40 Hz blunts sharp peaks)
    double mains_hz = 50;               // notch; 0 turns it off
    double qrs_threshold = 0.10;        // fraction of the peak spatial velocity that bounds the QRS
    double p_threshold = 0.20;          // fraction of the P wave's peak spatial velocity that bounds it
    double p_min_mv = 0.03;             // smallest P amplitude (largest over leads) counted as a P wave
    double p_min_correlation = 0.8;     // a beat has a P wave when it correlates this well with the median P
    double premature_fraction = 0.8;    // RR below this fraction of the median RR: early
    double pvc_max_correlation = 0.8;   // an early beat whose QRS correlates less with the dominant one: ectopic
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
    double qtc_ms = nan;              // Bazett: QT / sqrt(RR in s)
    double qrs_axis_deg = nan;        // hexaxial angle from the net QRS areas in I and aVF
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
        if (v[k] >= thr)
            b.on = k, below = 0;
        else
            ++below;
    }
    for (std::int64_t k = peak, below = 0; k < w - 1 && below < gap; ++k) {
        if (v[k] >= thr)
            b.off = k, below = 0;
        else
            ++below;
    }
    return b;
}

// --- The steps of measure_ecg, in the order it runs them (docs/measurements.md describes each).

using Leads = std::array<std::vector<double>, lead_count>;  // one whole-record signal per lead

inline constexpr double butterworth_q = std::numbers::sqrt2 / 2;

// The record's sampling rate and length, and the window cut around each beat.
struct Frame {
    double fs;
    std::int64_t n;       // samples in the record
    std::int64_t pre, w;  // a beat's window: w samples, R at index pre (450 ms before R to 750 ms after)

    Frame(double fs_, std::int64_t n_) : fs(fs_), n(n_), pre(ms(450)), w(pre + ms(750) + 1) {}
    std::int64_t ms(double t_ms) const { return static_cast<std::int64_t>(std::lround(t_ms * fs / 1000)); }
    double to_ms(double samples) const { return samples * 1000 / fs; }
};

struct Interval {
    std::int64_t lo, hi;
};

// The leads by name, NaN samples as 0 (a gap adds no slope and no energy).
inline Leads lead_signals(const data::EcgRecord& record) {
    Leads raw;
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
    return raw;
}

// 1. High-pass, mains notch and low-pass at lowpass_hz, each only where the options and the rate allow it.
inline std::vector<Biquad> lead_filter(const MeasureOptions& options, double lowpass_hz, double fs) {
    std::vector<Biquad> sections;
    if (options.highpass_hz > 0) sections.push_back(make_biquad(1, options.highpass_hz, fs, butterworth_q));
    if (options.mains_hz > 0 && options.mains_hz < fs / 2) sections.push_back(make_biquad(2, options.mains_hz, fs, 30));
    if (lowpass_hz > 0 && lowpass_hz < fs / 2) sections.push_back(make_biquad(0, lowpass_hz, fs, butterworth_q));
    return sections;
}

// 2 s of reflection at each end: longer than the high-pass settles in.
inline Leads filter_leads(const Leads& raw, const std::vector<Biquad>& sections, const Frame& f) {
    Leads out;
    for (std::size_t l = 0; l < lead_count; ++l) out[l] = filtfilt(raw[l], sections, f.ms(2000));
    return out;
}

// 2. The squared slopes of the 5-15 Hz band, summed over leads (leads added in order: the sum is reproducible).
inline std::vector<double> slope_energy(const Leads& raw, const Frame& f) {
    const double fs = f.fs;
    const std::int64_t n = f.n;
    const std::vector<Biquad> qrs_band = {make_biquad(1, 5, fs, butterworth_q),
                                          make_biquad(0, std::min(15.0, fs / 4), fs, butterworth_q)};
    std::vector<double> energy(n, 0.0);
    for (std::size_t l = 0; l < lead_count; ++l) {
        const auto band = filtfilt(raw[l], qrs_band, f.ms(2000));
        for (std::int64_t t = 1; t + 1 < n; ++t) {
            const double d = (band[t + 1] - band[t - 1]) * fs / 2;
            energy[t] += d * d;
        }
    }
    return energy;
}

// Moving-window integration over 150 ms, square-rooted (a height in the slopes' unit).
inline std::vector<double> slope_envelope(const std::vector<double>& energy, const Frame& f) {
    const std::int64_t n = f.n, half_mwi = f.ms(75);
    std::vector<double> env(n, 0.0);
    std::vector<double> cum(n + 1, 0.0);
    for (std::int64_t t = 0; t < n; ++t) cum[t + 1] = cum[t] + energy[t];
    for (std::int64_t t = 0; t < n; ++t) {
        const std::int64_t a = std::max<std::int64_t>(0, t - half_mwi), b = std::min(n, t + half_mwi + 1);
        env[t] = std::sqrt((cum[b] - cum[a]) / static_cast<double>(b - a));
    }
    return env;
}

// Local maxima of the envelope, largest first, outside the refractory period of a larger one; a peak within
// 360 ms of a larger one and under half its height is its T wave.
inline std::vector<std::int64_t> envelope_peaks(const std::vector<double>& env, const Frame& f) {
    std::vector<std::int64_t> candidates;
    for (std::int64_t t = 1; t + 1 < f.n; ++t)
        if (env[t] >= env[t - 1] && env[t] > env[t + 1]) candidates.push_back(t);
    std::sort(candidates.begin(), candidates.end(), [&](auto a, auto b) { return env[a] > env[b]; });
    std::vector<std::int64_t> accepted;
    const std::int64_t refractory = f.ms(250);
    for (auto c : candidates) {
        bool clear = true;
        for (auto a : accepted)
            if (std::abs(a - c) < refractory || (std::abs(a - c) < f.ms(360) && env[c] < 0.5 * env[a])) clear = false;
        if (clear) accepted.push_back(c);
    }
    return accepted;
}

// Peak-to-peak over +-60 ms around t, the largest over leads.
inline double qrs_deflection(const Leads& clean, std::int64_t t, const Frame& f) {
    const std::int64_t lo = std::max<std::int64_t>(0, t - f.ms(60)), hi = std::min(f.n - 1, t + f.ms(60));
    double best = 0;
    for (const auto& x : clean) {
        const auto [mn, mx] = std::minmax_element(x.begin() + lo, x.begin() + hi + 1);
        best = std::max(best, *mx - *mn);
    }
    return best;
}

// Search back (Pan-Tompkins) in gaps over 1.5 median RR for a beat with little slope energy (a wide ectopic
// beat): a lower energy threshold, still QRS-sized.
inline void search_back(std::vector<std::int64_t>& beats, const std::vector<std::int64_t>& accepted,
                        const std::vector<double>& env, double typical, double size_median, const Leads& clean,
                        const Frame& f) {
    if (beats.size() < 3) return;
    const std::int64_t refractory = f.ms(250);
    std::vector<double> gaps;
    for (std::size_t i = 1; i < beats.size(); ++i) gaps.push_back(static_cast<double>(beats[i] - beats[i - 1]));
    const double gap_median = median_of(gaps);
    std::vector<std::int64_t> found;
    for (std::size_t i = 1; i < beats.size(); ++i) {
        if (static_cast<double>(beats[i] - beats[i - 1]) <= 1.5 * gap_median) continue;
        std::int64_t best = -1;
        for (auto c : accepted)
            if (c > beats[i - 1] + f.ms(360) && c < beats[i] - refractory && env[c] >= 0.1 * typical &&
                (best < 0 || env[c] > env[best]) && qrs_deflection(clean, c, f) >= 0.4 * size_median)
                best = c;
        if (best >= 0) found.push_back(best);
    }
    beats.insert(beats.end(), found.begin(), found.end());
    std::sort(beats.begin(), beats.end());
}

// Each beat moves to the largest spatial magnitude of the filtered leads within 80 ms: the detection sits on the
// slope envelope, not on R.
inline void place_on_magnitude(std::vector<std::int64_t>& beats, const Leads& clean, const Frame& f) {
    for (auto& r : beats) {
        const std::int64_t lo = std::max<std::int64_t>(0, r - f.ms(80)), hi = std::min(f.n - 1, r + f.ms(80));
        double best = -1;
        for (std::int64_t t = lo; t <= hi; ++t) {
            double s = 0;
            for (const auto& x : clean) s += x[t] * x[t];
            if (s > best) best = s, r = t;
        }
    }
}

// The beats' R peaks, sorted; nullopt when the envelope has no peak at all.
inline std::optional<std::vector<std::int64_t>> detect_beats(const Leads& clean, const std::vector<double>& energy,
                                                             const Frame& f) {
    const std::vector<double> env = slope_envelope(energy, f);
    const std::vector<std::int64_t> accepted = envelope_peaks(env, f);
    if (accepted.empty()) return std::nullopt;
    const double top = env[accepted.front()];
    std::vector<double> heights;
    for (auto a : accepted)
        if (env[a] >= 0.2 * top) heights.push_back(env[a]);
    const double typical = median_of(heights);
    std::vector<std::int64_t> beats;
    for (auto a : accepted)
        if (env[a] >= 0.3 * typical) beats.push_back(a);
    std::sort(beats.begin(), beats.end());

    // A beat is also QRS-sized: its deflection at least 40% of that of the beats of typical or larger energy, so
    // that large atrial waves beside a low-voltage QRS (fibrillation, flutter) are not taken for beats.
    std::vector<double> sizes;
    for (auto b : beats)
        if (env[b] >= typical) sizes.push_back(qrs_deflection(clean, b, f));
    const double size_median = median_of(sizes);
    std::erase_if(beats, [&](std::int64_t b) { return qrs_deflection(clean, b, f) < 0.4 * size_median; });

    search_back(beats, accepted, env, typical, size_median, clean, f);
    place_on_magnitude(beats, clean, f);
    return beats;
}

// The window of the filtered leads around R (NaN outside the record).
inline Beat cut_beat(const Leads& clean, std::int64_t r, const Frame& f) {
    Beat b;
    for (std::size_t l = 0; l < lead_count; ++l) {
        b[l].assign(static_cast<std::size_t>(f.w), nan);
        for (std::int64_t k = 0; k < f.w; ++k) {
            const std::int64_t t = r - f.pre + k;
            if (t >= 0 && t < f.n) b[l][k] = clean[l][t];
        }
    }
    return b;
}

// Per lead and sample of the window, the median over the beats in `use` (a beat cut by the record's edge counts
// only where it has samples).
inline Beat median_beat(const Leads& src, const std::vector<std::int64_t>& beats, const std::vector<bool>& use,
                        const Frame& f) {
    Beat med;
    std::vector<double> column;
    for (std::size_t l = 0; l < lead_count; ++l) {
        med[l].assign(static_cast<std::size_t>(f.w), nan);
        for (std::int64_t k = 0; k < f.w; ++k) {
            column.clear();
            for (std::size_t i = 0; i < beats.size(); ++i) {
                const std::int64_t t = beats[i] - f.pre + k;
                if (use[i] && t >= 0 && t < f.n) column.push_back(src[l][t]);
            }
            med[l][k] = median_of(column);
        }
    }
    return med;
}

// Aligns every beat on the median beat by cross-correlation over the QRS region (+-20 ms); returns the median
// beat of the aligned beats (all of them: premature beats are not known yet).
inline Beat align_beats(std::vector<std::int64_t>& beats, const Leads& clean, const Frame& f) {
    const std::vector<bool> all(beats.size(), true);
    const Beat tmpl = median_beat(clean, beats, all, f);
    const std::int64_t pre = f.pre, span = f.ms(60), shift = f.ms(20);
    for (auto& r : beats) {
        double best = -std::numeric_limits<double>::infinity();
        std::int64_t best_s = 0;
        for (std::int64_t s = -shift; s <= shift; ++s) {
            double score = 0;
            for (std::size_t l = 0; l < lead_count; ++l)
                for (std::int64_t k = pre - span; k <= pre + span; ++k) {
                    const std::int64_t t = r + s + k - pre;
                    if (t >= 0 && t < f.n && !std::isnan(tmpl[l][k])) score += clean[l][t] * tmpl[l][k];
                }
            if (score > best) best = score, best_s = s;
        }
        r += best_s;
    }
    return median_beat(clean, beats, all, f);
}

// Heart rate, median RR and RR variation into m; returns the median RR in samples (NaN with a single beat).
inline double rr_statistics(const std::vector<std::int64_t>& beats, const Frame& f, EcgMeasurements& m) {
    std::vector<double> rr;
    for (std::size_t i = 1; i < beats.size(); ++i) rr.push_back(static_cast<double>(beats[i] - beats[i - 1]));
    double rr_median = nan;
    if (!rr.empty()) {
        const double mean = std::accumulate(rr.begin(), rr.end(), 0.0) / static_cast<double>(rr.size());
        double var = 0;
        for (double v : rr) var += (v - mean) * (v - mean);
        rr_median = median_of(rr);
        m.heart_rate_bpm = 60 * f.fs / mean;
        m.rr_ms = f.to_ms(rr_median);
        m.rr_cv = std::sqrt(var / static_cast<double>(rr.size())) / mean;
    }
    return rr_median;
}

// The QRS of a beat's window from its spatial velocity: the peak searched within 80 ms of R, gaps under 20 ms bridged.
inline Bounds qrs_of(const Beat& beat, const MeasureOptions& options, const Frame& f) {
    return qrs_bounds(spatial_velocity(beat, f.fs), f.pre, f.ms(80), options.qrs_threshold, f.ms(20));
}

// 3. Marks in m the beats that are early and wide or shaped unlike the dominant beat; returns the others (all
// beats when every one is premature, so that a median beat exists).
inline std::vector<bool> find_premature(const std::vector<std::int64_t>& beats, const Leads& clean, const Beat& tmpl,
                                        double rr_median, const MeasureOptions& options, const Frame& f,
                                        EcgMeasurements& m) {
    const auto nb = beats.size();
    const Bounds tmpl_qrs = qrs_of(tmpl, options, f);
    const double dominant_width = f.to_ms(static_cast<double>(tmpl_qrs.off - tmpl_qrs.on));
    m.premature.assign(nb, false);
    std::vector<bool> normal(nb, true);
    for (std::size_t i = 1; i < nb; ++i) {
        if (!(static_cast<double>(beats[i] - beats[i - 1]) < options.premature_fraction * rr_median)) continue;
        const Beat b = cut_beat(clean, beats[i], f);
        const Bounds bq = qrs_of(b, options, f);
        const double width = f.to_ms(static_cast<double>(bq.off - bq.on));
        std::vector<double> xa, xb;
        for (std::size_t l = 0; l < lead_count; ++l)
            // 20 ms either side of the dominant QRS, kept inside the beat window (a QRS near its edge would
            // otherwise read outside it)
            for (std::int64_t k = std::max<std::int64_t>(0, tmpl_qrs.on - f.ms(20));
                 k <= std::min<std::int64_t>(f.w - 1, tmpl_qrs.off + f.ms(20)); ++k)
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
    if (std::find(normal.begin(), normal.end(), true) == normal.end()) normal.assign(nb, true);
    return normal;
}

// 5. QRS onset and offset of the median beat, into m.
inline Bounds qrs_onset_offset(const Beat& med, const MeasureOptions& options, const Frame& f, EcgMeasurements& m) {
    const Bounds qrs = qrs_of(med, options, f);
    m.qrs_onset_ms = f.to_ms(static_cast<double>(qrs.on - f.pre));
    m.qrs_offset_ms = f.to_ms(static_cast<double>(qrs.off - f.pre));
    m.qrs_ms = f.to_ms(static_cast<double>(qrs.off - qrs.on));
    return qrs;
}

// Median of one lead of a beat over [a, b], clamped to the window.
inline double segment_median(const std::vector<double>& x, std::int64_t a, std::int64_t b) {
    const auto w = static_cast<std::int64_t>(x.size());
    a = std::clamp<std::int64_t>(a, 0, w - 1), b = std::clamp<std::int64_t>(b, 0, w - 1);
    return median_of(std::vector<double>(x.begin() + a, x.begin() + b + 1));
}

// Per-lead baseline: the PR segment (P offset to QRS onset) when there is a P wave ending at least 10 ms before
// the QRS, else 10-30 ms before the QRS onset.
inline std::array<double, lead_count> pr_baseline(const Beat& beat, std::int64_t on, bool has_p, std::int64_t p_off,
                                                  const Frame& f) {
    std::array<double, lead_count> base{};
    for (std::size_t l = 0; l < lead_count; ++l) {
        if (has_p && on - p_off >= f.ms(10))
            base[l] = segment_median(beat[l], p_off, on - 1);
        else
            base[l] = segment_median(beat[l], on - f.ms(30), on - f.ms(10));
    }
    return base;
}

// 6. Where the T wave is looked for: from 40 ms after the QRS offset to where the next beat's P wave may start.
inline Interval t_window(std::int64_t qrs_off, double rr_s, const Frame& f) {
    return {qrs_off + f.ms(40), std::min(f.w - 2, f.pre + f.ms(1000 * std::max(0.65 * rr_s, rr_s - 0.2)))};
}

struct TWave {
    std::int64_t peak = -1, end = -1;
    std::size_t lead = 0;
};

// The T peak on the lead with the largest T; the end by the tangent method.
inline TWave find_t_wave(const Beat& med, const std::array<double, lead_count>& base, Interval win) {
    const std::int64_t t_lo = win.lo, t_hi = win.hi;
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
}

// 7. A 20 ms moving average of the median beat (NaN within 10 ms of the window's ends): the P wave is small
// beside the noise.
inline Beat smoothed(const Beat& med, const Frame& f) {
    Beat smooth;
    const std::int64_t h = f.ms(10), w = f.w;
    for (std::size_t l = 0; l < lead_count; ++l) {
        smooth[l].assign(static_cast<std::size_t>(w), nan);
        for (std::int64_t k = h; k < w - h; ++k) {
            double s = 0;
            for (std::int64_t j = k - h; j <= k + h; ++j) s += med[l][j];
            smooth[l][k] = s / static_cast<double>(2 * h + 1);
        }
    }
    return smooth;
}

// Where the P wave is looked for: up to 20 ms before the QRS onset, from 450 ms before it or from the previous
// beat's T end (its T peak when that end leaves under 60 ms).
inline Interval p_window(std::int64_t on, const TWave& tw, double rr_median, const Frame& f) {
    const std::int64_t p_hi = on - f.ms(20);
    std::int64_t p_lo = std::max<std::int64_t>(on - f.ms(450), f.ms(12));
    if (tw.end >= 0 && !std::isnan(rr_median)) {
        const auto prev_t_end = tw.end - static_cast<std::int64_t>(rr_median) + f.ms(20);
        const auto prev_t_peak = tw.peak - static_cast<std::int64_t>(rr_median);
        p_lo = std::max(p_lo, prev_t_end < p_hi - f.ms(60) ? prev_t_end : prev_t_peak);
    }
    return {p_lo, p_hi};
}

// The flattest 40 ms of the window (largest peak-to-peak over leads); NaN when the window is shorter. A sinus
// rhythm has an isoelectric TP or PR segment; flutter waves leave none.
inline double flattest_stretch(const Beat& smooth, Interval win, const Frame& f) {
    double flattest = nan;
    for (std::int64_t a = win.lo; a + f.ms(40) <= win.hi; ++a) {
        double worst = 0;
        for (std::size_t l = 0; l < lead_count; ++l) {
            const auto [lo, hi] = std::minmax_element(smooth[l].begin() + a, smooth[l].begin() + a + f.ms(40) + 1);
            worst = std::max(worst, *hi - *lo);
        }
        flattest = std::isnan(flattest) ? worst : std::min(flattest, worst);
    }
    return flattest;
}

// The median beat's P wave: the largest deviation from the window's end (at least p_min_mv, inside the window),
// bounded where the spatial velocity falls below p_threshold of its peak on each flank; {-1, -1} when none.
inline Bounds median_p_wave(const Beat& smooth, Interval win, const MeasureOptions& options, const Frame& f) {
    const std::int64_t p_lo = win.lo, p_hi = win.hi;
    Bounds p;
    std::vector<double> amp(static_cast<std::size_t>(f.w), 0.0), vel(static_cast<std::size_t>(f.w), 0.0);
    for (std::int64_t k = p_lo; k <= p_hi; ++k)
        for (std::size_t l = 0; l < lead_count; ++l) {
            amp[k] = std::max(amp[k], std::abs(smooth[l][k] - smooth[l][p_hi]));
            vel[k] += std::abs(smooth[l][k + 1] - smooth[l][k - 1]) * f.fs / 2;
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
        p.on = left;
        while (p.on > p_lo && vel[p.on] >= options.p_threshold * vel[left]) --p.on;
        p.off = right;
        while (p.off < p_hi && vel[p.off] >= options.p_threshold * vel[right]) ++p.off;
    }
    return p;
}

// The share of the beats whose P segment looks like the median P: same shape and close to it (fibrillatory
// waves can correlate with a median P by chance, but stay far from it). Beats whose P segment is cut by the
// record's edge or holds the previous beat's T wave (a short RR) tell nothing either way and are not counted.
inline double p_wave_share(const Beat& smooth, const Leads& clean, const std::vector<std::int64_t>& beats, Bounds p,
                           std::int64_t on, const TWave& tw, const MeasureOptions& options, const Frame& f) {
    const std::int64_t pre = f.pre, n = f.n;
    const std::int64_t a = std::max<std::int64_t>(0, p.on - f.ms(20)), b = std::min(p.off + f.ms(20), on);
    std::vector<double> ref;
    for (std::size_t l = 0; l < lead_count; ++l)
        for (std::int64_t k = a; k <= b; ++k) ref.push_back(smooth[l][k]);
    centre_blocks(ref, static_cast<std::size_t>(b - a + 1));
    int with_p = 0, counted = 0;
    for (std::size_t i = 0; i < beats.size(); ++i) {
        if (beats[i] - pre + a - f.ms(10) < 0 || beats[i] - pre + b + f.ms(10) >= n) continue;
        if (i > 0 && tw.end >= 0 && beats[i - 1] + (tw.end - pre) > beats[i] - pre + a) continue;
        std::vector<double> x;
        for (std::size_t l = 0; l < lead_count; ++l)
            for (std::int64_t k = a; k <= b; ++k) {
                double s = 0;
                for (std::int64_t j = -f.ms(10); j <= f.ms(10); ++j) s += clean[l][beats[i] - pre + k + j];
                x.push_back(s / static_cast<double>(2 * f.ms(10) + 1));
            }
        centre_blocks(x, static_cast<std::size_t>(b - a + 1));
        ++counted;
        double miss = 0, size = 0;
        for (std::size_t j = 0; j < x.size(); ++j) miss += (x[j] - ref[j]) * (x[j] - ref[j]), size += ref[j] * ref[j];
        if (correlation(x, ref) >= options.p_min_correlation && miss <= 0.25 * size) ++with_p;
    }
    return counted ? static_cast<double>(with_p) / counted : 0.0;
}

// Step 7 into m: the flattest stretch before the QRS, the share of beats with a P wave and, when most have one,
// the P wave's fiducials and PR. Returns the median beat's P wave ({-1, -1} when none).
inline Bounds measure_p_wave(const Beat& med, const Leads& clean, const std::vector<std::int64_t>& beats,
                             std::int64_t on, const TWave& tw, double rr_median, const MeasureOptions& options,
                             const Frame& f, EcgMeasurements& m) {
    const Beat smooth = smoothed(med, f);
    const Interval win = p_window(on, tw, rr_median, f);
    m.flattest_pre_qrs_mv = flattest_stretch(smooth, win, f);
    const bool flutter_like = m.flattest_pre_qrs_mv > options.isoelectric_max_mv;
    Bounds p;
    if (win.hi - win.lo >= f.ms(40) && !flutter_like) p = median_p_wave(smooth, win, options, f);
    if (p.on >= 0) {
        m.p_wave_present = p_wave_share(smooth, clean, beats, p, on, tw, options, f);
        if (m.p_wave_present >= 0.5) {
            m.p_onset_ms = f.to_ms(static_cast<double>(p.on - f.pre));
            m.p_offset_ms = f.to_ms(static_cast<double>(p.off - f.pre));
            m.p_duration_ms = f.to_ms(static_cast<double>(p.off - p.on));
            m.pr_ms = f.to_ms(static_cast<double>(on - p.on));
        }
    }
    return p;
}

// 8. T peak and end, QT and QTc into m.
inline void report_t_wave(const TWave& tw, std::int64_t on, double rr_s, const Frame& f, EcgMeasurements& m) {
    if (tw.peak >= 0) m.t_peak_ms = f.to_ms(static_cast<double>(tw.peak - f.pre));
    if (tw.end >= 0) {
        m.t_end_ms = f.to_ms(static_cast<double>(tw.end - f.pre));
        m.qt_ms = f.to_ms(static_cast<double>(tw.end - on));
        m.qtc_ms = m.qt_ms / std::sqrt(rr_s);
    }
}

// The median beat of the same beats at the diagnostic bandwidth: 40 Hz blunts narrow peaks.
inline Beat amplitude_beat(const Leads& raw, const std::vector<std::int64_t>& beats, const std::vector<bool>& normal,
                           const MeasureOptions& options, const Frame& f) {
    return median_beat(filter_leads(raw, lead_filter(options, options.amplitude_lowpass_hz, f.fs), f), beats, normal,
                       f);
}

// Per lead, relative to its baseline: R, S, peak-to-peak and net area of the QRS, the Q wave, ST at J + 60 ms and
// the T wave's extreme.
inline void lead_amplitudes(const Beat& amp_med, const std::array<double, lead_count>& amp_base, Bounds qrs,
                            Interval t_win, const Frame& f, EcgMeasurements& m) {
    const std::int64_t on = qrs.on, off = qrs.off;
    const double q_min_mv = 0.05;  // smaller first deflections are not a Q wave
    for (std::size_t l = 0; l < lead_count; ++l) {
        auto& lm = m.leads[l];
        const auto y = [&](std::int64_t k) { return amp_med[l][k] - amp_base[l]; };
        double hi = 0, lo = 0, area = 0;
        for (std::int64_t k = on; k <= off; ++k) {
            hi = std::max(hi, y(k));
            lo = std::min(lo, y(k));
            area += y(k);
        }
        lm.r_amplitude_mv = hi;
        lm.qrs_peak_to_peak_mv = hi - lo;
        lm.qrs_area_mv_ms = f.to_ms(area);
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
            lm.q_duration_ms = f.to_ms(static_cast<double>(end - on));
            lm.q_depth_mv = depth;
        }
        if (off + f.ms(60) < f.w) lm.st_deviation_mv = y(off + f.ms(60));
        double t_extreme = 0;
        for (std::int64_t k = t_win.lo; k <= t_win.hi; ++k)
            if (std::abs(y(k)) > std::abs(t_extreme)) t_extreme = y(k);
        lm.t_amplitude_mv = t_extreme;
    }
}

// The QRS axis, Sokolow-Lyon voltage and largest limb-lead QRS, from the per-lead measurements.
inline void qrs_summary(EcgMeasurements& m) {
    const auto& L = [&](Lead l) -> const LeadMeasurements& { return m.lead(l); };
    // Einthoven: I = E cos(axis), aVF = (II + III) / 2 = (sqrt(3) / 2) E sin(axis); the factor is undone.
    m.qrs_axis_deg = std::atan2(L(Lead::aVF).qrs_area_mv_ms * 2 / std::sqrt(3.0), L(Lead::I).qrs_area_mv_ms) * 180 /
                     std::numbers::pi;
    m.sokolow_lyon_mv = L(Lead::V1).s_amplitude_mv + std::max(L(Lead::V5).r_amplitude_mv, L(Lead::V6).r_amplitude_mv);
    m.limb_qrs_max_pp_mv = 0;
    for (Lead l : {Lead::I, Lead::II, Lead::III, Lead::aVR, Lead::aVF, Lead::aVL})
        m.limb_qrs_max_pp_mv = std::max(m.limb_qrs_max_pp_mv, L(l).qrs_peak_to_peak_mv);
}

// 9. RMS over the TQ segments (T end + 40 ms to the next beat's P or QRS onset - 40 ms) of the signal minus the
// median beat, detrended per segment; the largest over leads. NaN without a T end, two beats or a TQ segment.
inline double baseline_irregularity(const Leads& clean, const Beat& med, const std::array<double, lead_count>& base,
                                    const std::vector<std::int64_t>& beats, const TWave& tw, std::int64_t next_start,
                                    const Frame& f) {
    const auto nb = beats.size();
    const std::int64_t pre = f.pre;
    if (!(tw.end >= 0 && nb >= 2)) return nan;
    std::array<double, lead_count> sum{};
    std::int64_t count = 0;
    for (std::size_t i = 0; i + 1 < nb; ++i) {
        const std::int64_t a = beats[i] + (tw.end - pre) + f.ms(40), b = beats[i + 1] + (next_start - pre) - f.ms(40);
        if (b - a < f.ms(60)) continue;
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
            for (std::size_t j = 0; j < r.size(); ++j) mean += r[j] - (r0 + (r1 - r0) * static_cast<double>(j) / len);
            mean /= static_cast<double>(r.size());
            for (std::size_t j = 0; j < r.size(); ++j) {
                const double d = r[j] - (r0 + (r1 - r0) * static_cast<double>(j) / len) - mean;
                sum[l] += d * d;
            }
        }
        count += b - a + 1;
    }
    if (count == 0) return nan;
    double worst = 0;
    for (double s : sum) worst = std::max(worst, std::sqrt(s / static_cast<double>(count)));
    return worst;
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
    const Frame f(fs, n);
    const Leads raw = lead_signals(record);

    // --- 1. filtering
    const Leads clean = filter_leads(raw, lead_filter(options, options.lowpass_hz, fs), f);

    // --- 2. R peaks, placed on the filtered leads and aligned on the median beat
    EcgMeasurements m;
    auto detected = detect_beats(clean, slope_energy(raw, f), f);
    if (!detected) return m;
    std::vector<std::int64_t> beats = std::move(*detected);
    const Beat tmpl = align_beats(beats, clean, f);
    m.r_peaks = beats;
    const double rr_median = rr_statistics(beats, f, m);

    // --- 3. premature beats
    const std::vector<bool> normal = find_premature(beats, clean, tmpl, rr_median, options, f, m);

    // --- 4. median beat over the normal beats
    const Beat med = median_beat(clean, beats, normal, f);
    m.beats_in_median = static_cast<int>(std::count(normal.begin(), normal.end(), true));

    // --- 5. QRS onset and offset
    const Bounds qrs = qrs_onset_offset(med, options, f, m);

    // --- 6. T wave, first on the baseline just before the QRS: step 7 needs it to bound the P wave's window
    const double rr_s = std::isnan(rr_median) ? 1.0 : rr_median / fs;
    const Interval t_win = t_window(qrs.off, rr_s, f);
    const TWave first_t = find_t_wave(med, pr_baseline(med, qrs.on, false, -1, f), t_win);

    // --- 7. P wave
    const Bounds p = measure_p_wave(med, clean, beats, qrs.on, first_t, rr_median, options, f, m);
    const bool has_p = !std::isnan(m.pr_ms);

    // --- 8. PR-segment baseline; the T wave again on it; per-lead amplitudes at the diagnostic bandwidth
    const auto base = pr_baseline(med, qrs.on, has_p, p.off, f);
    const TWave tw = find_t_wave(med, base, t_win);
    report_t_wave(tw, qrs.on, rr_s, f, m);
    const Beat amp_med = amplitude_beat(raw, beats, normal, options, f);
    lead_amplitudes(amp_med, pr_baseline(amp_med, qrs.on, has_p, p.off, f), qrs, t_win, f, m);
    qrs_summary(m);

    // --- 9. baseline irregularity in the TQ segments
    m.baseline_irregularity_mv = baseline_irregularity(clean, med, base, beats, tw, has_p ? p.on : qrs.on, f);
    return m;
}

}  // namespace fgclep::synth
