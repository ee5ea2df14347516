#pragma once
// When the ventricles beat: the RR process of each rhythm, and premature ventricular complexes.
//
// Sinus rhythm: RR intervals modulated by respiration (respiratory sinus arrhythmia, 0.15-0.4 Hz) and Mayer
// waves (~0.1 Hz) plus a small random part, so the coefficient of variation stays a few percent. Atrial
// fibrillation: independent log-normal RR intervals, redrawn until their coefficient of variation over the
// record exceeds 0.18 ("irregularly irregular"). Atrial flutter: a fixed atrial cycle (250-350/min) conducted
// 4:1, so the ventricular rhythm is exactly regular. PVCs replace a sinus beat by an early ventricular beat; the
// next beat keeps its time (a full compensatory pause).
#include "fgclep/core/rng.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace fgclep::synth {

enum class RhythmKind : std::uint8_t { sinus, fibrillation, flutter };

struct RhythmPlan {
    RhythmKind kind = RhythmKind::sinus;
    double mean_rr = 1.0;  // seconds
    // Sinus heart-rate variability (fractions of the mean RR).
    double respiration_hz = 0.25, respiration_depth = 0.03, mayer_hz = 0.1, mayer_depth = 0.015, jitter = 0.008;
    // Atrial fibrillation: log-normal spread of RR and the shortest interval conducted.
    double fibrillation_spread = 0.25, shortest_rr = 0.4;
    // Atrial flutter: atrial cycle (seconds), conduction ratio, first flutter-wave time, AV delay to the QRS.
    double flutter_cycle = 0.2, flutter_origin = 0, flutter_delay = 0.2;
    int conduction = 4;
};

struct BeatTime {
    double qrs_onset = 0;  // seconds from the record start
    bool premature_ventricular = false;
};

namespace detail {
inline double coefficient_of_variation(const std::vector<double>& x) {
    if (x.size() < 2) return 0;
    double mean = 0, var = 0;
    for (double v : x) mean += v;
    mean /= static_cast<double>(x.size());
    for (double v : x) var += (v - mean) * (v - mean);
    return std::sqrt(var / static_cast<double>(x.size() - 1)) / mean;
}
}  // namespace detail

// QRS onsets covering [begin, end] with one beat before `begin` (its T wave reaches into the record).
inline std::vector<BeatTime> beat_times(const RhythmPlan& plan, double begin, double end, HostRng& rng) {
    const double two_pi = 6.283185307179586;
    std::vector<BeatTime> beats;
    if (plan.kind == RhythmKind::flutter) {
        double rr = plan.conduction * plan.flutter_cycle;
        double first = plan.flutter_origin + plan.flutter_delay;
        while (first > begin - rr) first -= rr;
        for (double t = first; t < end + rr; t += rr) beats.push_back({t, false});
        return beats;
    }
    double start = begin - rng.uniform(0.2, 1.0) * plan.mean_rr;
    if (plan.kind == RhythmKind::sinus) {
        double resp_phase = rng.uniform(0, two_pi), mayer_phase = rng.uniform(0, two_pi);
        for (double t = start; t < end + plan.mean_rr;) {
            beats.push_back({t, false});
            double rr =
                plan.mean_rr *
                (1 + plan.respiration_depth * std::sin(two_pi * plan.respiration_hz * t + resp_phase) +
                 plan.mayer_depth * std::sin(two_pi * plan.mayer_hz * t + mayer_phase) + plan.jitter * rng.normal());
            t += rr;
        }
        return beats;
    }
    // Fibrillation: redraw until the intervals inside the record are irregular enough (measured, not assumed).
    for (int attempt = 0; attempt < 100; ++attempt) {
        beats.clear();
        std::vector<double> inside;
        double previous = -1e9;
        for (double t = start; t < end + plan.mean_rr;) {
            beats.push_back({t, false});
            if (t >= begin && t <= end) {
                if (previous >= begin) inside.push_back(t - previous);
                previous = t;
            }
            double s = plan.fibrillation_spread;
            double rr = plan.mean_rr * std::exp(s * rng.normal() - s * s / 2);
            t += std::clamp(rr, plan.shortest_rr, 2.0);
        }
        // Irregular enough, and a mean rate that stays 60-100 bpm (no rate feature is claimed for AF).
        double mean = 0;
        for (double v : inside) mean += v;
        mean /= std::max<double>(1, static_cast<double>(inside.size()));
        if (detail::coefficient_of_variation(inside) > 0.18 && mean >= 0.62 && mean <= 0.97) break;
    }
    return beats;
}

// Replaces `count` beats inside [begin, end] by premature ventricular beats at `coupling` (0.55-0.7) of the
// preceding interval, but no earlier than `earliest` seconds after the preceding QRS onset (after its T wave).
// The following beat keeps its time: a full compensatory pause. Never two PVCs in a row, never the first beat.
inline void insert_pvcs(std::vector<BeatTime>& beats, int count, double begin, double end, double earliest,
                        HostRng& rng) {
    std::vector<std::size_t> candidates;
    for (std::size_t i = 1; i + 1 < beats.size(); ++i)
        if (beats[i - 1].qrs_onset >= begin && beats[i + 1].qrs_onset + 0.3 <= end) candidates.push_back(i);
    for (int placed = 0; placed < count && !candidates.empty(); ++placed) {
        std::size_t pick = static_cast<std::size_t>(rng.uniform() * static_cast<double>(candidates.size()));
        pick = std::min(pick, candidates.size() - 1);
        std::size_t i = candidates[pick];
        double interval = beats[i].qrs_onset - beats[i - 1].qrs_onset;
        beats[i].qrs_onset = beats[i - 1].qrs_onset + std::max(rng.uniform(0.55, 0.7) * interval, earliest);
        beats[i].premature_ventricular = true;
        std::erase_if(candidates, [&](std::size_t c) { return c + 1 >= i && c <= i + 1; });
    }
}

}  // namespace fgclep::synth
