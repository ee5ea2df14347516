#pragma once
// The 12-lead ECG simulator (issue 8): records with known conditions and waveform features.
//
// simulate() draws the record's physiology from the seed within each condition's clinical ranges (rate, PR, QRS,
// QTc, axis, voltages, ST shifts; see docs/synthetic-ecg.md), designs the dominant beat (beat_model.hpp), places
// beats with the rhythm's RR process (rhythm.hpp), adds atrial activity (atrial_activity.hpp), projects the
// dipole onto the 12 leads (lead_projection.hpp) and adds recording noise (noise.hpp). Same conditions, seed and
// options give bit-identical samples: all randomness comes from splitmix64 streams named per purpose, and normal
// variates from our own Box-Muller.
#include "fgclep/core/error.hpp"
#include "fgclep/core/rng.hpp"
#include "fgclep/data/ecg_record.hpp"
#include "fgclep/synth/atrial_activity.hpp"
#include "fgclep/synth/beat_model.hpp"
#include "fgclep/synth/conditions.hpp"
#include "fgclep/synth/lead_projection.hpp"
#include "fgclep/synth/noise.hpp"
#include "fgclep/synth/rhythm.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

namespace fgclep::synth {

struct SimulatorOptions {
    double fs = 500;       // samples per second
    double seconds = 10;   // record length
    NoiseOptions noise{};  // RMS levels in mV per independent lead
};

// One simulated beat's true fiducials, in seconds from the record start (to check delineators against).
struct BeatAnnotation {
    double p_onset = std::numeric_limits<double>::quiet_NaN();  // NaN where the beat has no P wave (AF, flutter, PVC)
    double qrs_onset = 0, r_peak = 0, qrs_offset = 0, t_offset = 0;  // r_peak: peak of the largest QRS wave
    bool premature_ventricular = false;
};

struct SimulatedEcg {
    data::EcgRecord record;             // 12 leads in MIMIC-IV-ECG order (I, II, III, aVR, aVF, aVL, V1..V6), mV
    std::vector<Condition> conditions;  // sorted by enum value, unique
    std::vector<Feature> features;      // union of defining_features(conditions), sorted by enum value, unique
    double heart_rate_bpm = 0;          // mean ventricular rate over the record
    std::vector<BeatAnnotation> beats;  // ground truth for every beat whose QRS starts inside the record
};

inline bool is_rhythm(Condition c) {
    using C = Condition;
    return c == C::sinus_rhythm || c == C::sinus_bradycardia || c == C::sinus_tachycardia ||
           c == C::atrial_fibrillation || c == C::atrial_flutter;
}

inline bool is_sinus(Condition c) {
    return c == Condition::sinus_rhythm || c == Condition::sinus_bradycardia || c == Condition::sinus_tachycardia;
}

// Whether two conditions can be shown in one record. Excluded: two rhythms; RBBB with LBBB; LVH with low voltage
// or LBBB (voltage criteria do not apply in LBBB); first-degree AV block and long QT without a P wave or at
// sinus tachycardia (P merges into T); infarction or ischaemia with LBBB (secondary ST-T hides them); ischaemia
// with infarction and the two infarctions together (opposite ST shifts in shared leads); anterior infarction with
// RBBB (the R' replaces the anterior QS); inferior infarction with left axis deviation (opposite initial forces);
// low voltage with infarction (ST elevation would dwarf the QRS).
inline bool compatible(Condition a, Condition b) {
    using C = Condition;
    if (a == b) return true;
    if (is_rhythm(a) && is_rhythm(b)) return false;
    auto pair = [&](C x, C y) { return (a == x && b == y) || (a == y && b == x); };
    for (C needs_p : {C::first_degree_av_block, C::long_qt})
        for (C rhythm : {C::sinus_tachycardia, C::atrial_fibrillation, C::atrial_flutter})
            if (pair(needs_p, rhythm)) return false;
    return !(pair(C::right_bundle_branch_block, C::left_bundle_branch_block) ||
             pair(C::left_ventricular_hypertrophy, C::low_qrs_voltage) ||
             pair(C::left_ventricular_hypertrophy, C::left_bundle_branch_block) ||
             pair(C::left_bundle_branch_block, C::inferior_infarction) ||
             pair(C::left_bundle_branch_block, C::anterior_infarction) ||
             pair(C::left_bundle_branch_block, C::ischemia) || pair(C::ischemia, C::inferior_infarction) ||
             pair(C::ischemia, C::anterior_infarction) || pair(C::inferior_infarction, C::anterior_infarction) ||
             pair(C::right_bundle_branch_block, C::anterior_infarction) ||
             pair(C::inferior_infarction, C::left_axis_deviation) || pair(C::low_qrs_voltage, C::inferior_infarction) ||
             pair(C::low_qrs_voltage, C::anterior_infarction));
}

// Throws fgclep::Error unless the set has exactly one rhythm and only compatible pairs.
inline void check_conditions(std::span<const Condition> conditions) {
    std::vector<std::string_view> rhythms;
    for (Condition c : conditions)
        if (is_rhythm(c) && std::find(rhythms.begin(), rhythms.end(), statement(c)) == rhythms.end())
            rhythms.push_back(statement(c));
    if (rhythms.empty())
        fail(
            "simulate: the conditions name no rhythm; add one of sinus rhythm, sinus bradycardia, sinus "
            "tachycardia, atrial fibrillation, atrial flutter");
    for (std::size_t i = 0; i < conditions.size(); ++i)
        for (std::size_t j = i + 1; j < conditions.size(); ++j)
            if (!compatible(conditions[i], conditions[j]))
                fail("simulate: '{}' and '{}' cannot occur in one record", statement(conditions[i]),
                     statement(conditions[j]));
}

namespace detail {
inline bool has(const std::vector<Condition>& set, Condition c) {
    return std::find(set.begin(), set.end(), c) != set.end();
}
}  // namespace detail

inline SimulatedEcg simulate(std::span<const Condition> conditions, std::uint64_t seed,
                             const SimulatorOptions& options = {}) {
    using C = Condition;
    if (!(options.fs > 0) || !(options.seconds > 0))
        fail("simulate: fs ({}) and seconds ({}) must be positive", options.fs, options.seconds);
    check_conditions(conditions);
    SimulatedEcg out;
    out.conditions.assign(conditions.begin(), conditions.end());
    std::sort(out.conditions.begin(), out.conditions.end());
    out.conditions.erase(std::unique(out.conditions.begin(), out.conditions.end()), out.conditions.end());
    const auto& set = out.conditions;
    auto has = [&](C c) { return detail::has(set, c); };
    for (C c : set)
        for (Feature f : defining_features(c)) out.features.push_back(f);
    std::sort(out.features.begin(), out.features.end());
    out.features.erase(std::unique(out.features.begin(), out.features.end()), out.features.end());

    // --- physiology, drawn within each condition's range
    HostRng rng = HostRng::for_name(seed, "physiology");
    RhythmPlan rhythm;
    BeatPlan plan;
    const bool sinus = has(C::sinus_rhythm) || has(C::sinus_bradycardia) || has(C::sinus_tachycardia);
    double rate_lo = 62, rate_hi = 98;
    if (has(C::sinus_bradycardia)) rate_lo = 42, rate_hi = 54;
    if (has(C::sinus_tachycardia)) rate_lo = 107, rate_hi = 148;
    if (has(C::atrial_fibrillation)) rate_lo = 70, rate_hi = 92, rhythm.kind = RhythmKind::fibrillation;
    if (has(C::atrial_flutter)) rhythm.kind = RhythmKind::flutter;
    plan.p_wave = sinus;
    const bool bbb = has(C::right_bundle_branch_block) || has(C::left_bundle_branch_block);
    const bool infarct = has(C::inferior_infarction) || has(C::anterior_infarction);
    plan.qrs_duration = bbb ? rng.uniform(0.13, 0.155) : infarct ? rng.uniform(0.09, 0.098) : rng.uniform(0.084, 0.102);
    // Rate, PR and QTc together: the next P wave must start >= 120 ms after the T wave ends, also at the shortest
    // RR of the respiratory modulation.
    double rate = 0, pr = 0, qtc = 0;
    for (int attempt = 0; attempt < 200; ++attempt) {
        rate = rng.uniform(rate_lo, rate_hi);
        pr = has(C::first_degree_av_block) ? rng.uniform(0.23, 0.31)
             : has(C::sinus_tachycardia)   ? rng.uniform(0.125, 0.16)
                                           : rng.uniform(0.13, 0.19);
        qtc = has(C::long_qt) ? rng.uniform(0.49, 0.55) : rng.uniform(0.395, 0.43);
        double rr = 60.0 / rate;
        if (!sinus || qtc * std::sqrt(rr) + pr + 0.12 <= 0.9 * rr) break;
        if (attempt == 199)
            rate = rate_lo, pr = has(C::first_degree_av_block) ? 0.23 : 0.13, qtc = has(C::long_qt) ? 0.49 : 0.395;
    }
    if (has(C::atrial_flutter)) {
        rhythm.flutter_cycle = 60.0 / rng.uniform(250, 350);
        rhythm.conduction = 4;
        rhythm.flutter_origin = rng.uniform(0, rhythm.flutter_cycle);
        rhythm.flutter_delay = rng.uniform(0.18, 0.26);
        rate = 60.0 / (rhythm.conduction * rhythm.flutter_cycle);
    }
    rhythm.mean_rr = 60.0 / rate;
    plan.pr = pr;
    plan.qt = qtc * std::sqrt(rhythm.mean_rr);
    rhythm.respiration_hz = rng.uniform(0.15, 0.35);
    rhythm.respiration_depth = rng.uniform(0.01, 0.03) * (has(C::sinus_bradycardia) ? 1.5 : 1.0);
    rhythm.mayer_hz = rng.uniform(0.08, 0.12);
    rhythm.mayer_depth = rng.uniform(0.005, 0.015);
    rhythm.jitter = rng.uniform(0.004, 0.01);
    rhythm.fibrillation_spread = rng.uniform(0.22, 0.32);
    rhythm.shortest_rr = std::max(0.4, plan.qt + 0.08);

    // With an inferior infarct this is the axis of the QRS without its Q wave; the Q waves pull the net axis up.
    plan.axis_degrees = has(C::left_axis_deviation)   ? rng.uniform(-70, -50)
                        : has(C::inferior_infarction) ? rng.uniform(45, 80)
                                                      : rng.uniform(-10, 75);
    plan.rbbb = has(C::right_bundle_branch_block);
    plan.lbbb = has(C::left_bundle_branch_block);
    plan.lvh = has(C::left_ventricular_hypertrophy);
    plan.low_voltage = has(C::low_qrs_voltage);
    plan.left_axis_deviation = has(C::left_axis_deviation);
    plan.inferior_infarction = has(C::inferior_infarction);
    plan.anterior_infarction = has(C::anterior_infarction);
    plan.ischemia = has(C::ischemia);
    plan.sokolow_lyon_mv = plan.lvh ? rng.uniform(3.8, 5.0) : rng.uniform(1.6, 2.9);
    plan.limb_peak_to_peak_mv = rng.uniform(0.25, 0.42);
    plan.st_elevation_mv = rng.uniform(0.12, 0.3);
    plan.st_depression_mv = rng.uniform(0.1, 0.2);
    HostRng beat_rng = HostRng::for_name(seed, "beat");
    const BeatShape beat = design_beat(plan, beat_rng);
    BeatShape pvc = design_pvc(plan.qt, beat_rng.uniform() < 0.5, beat_rng);
    {
        // An ectopic QRS is at least as large as the record's own (hypertrophied hearts give large PVCs too): grow
        // the PVC's QRS until its largest lead peak-to-peak is 1.1-1.5 times the dominant beat's (ST-T by the root).
        auto largest_peak_to_peak = [](const BeatShape& b) {
            auto leads = detail::lead_template(b.qrs, {}, 0, b.qrs_duration + 0.02);
            double most = 0;
            for (const auto& lead : leads) most = std::max(most, detail::peak_to_peak(lead));
            return most;
        };
        const double wanted = beat_rng.uniform(1.1, 1.5) * largest_peak_to_peak(beat);
        const double k = wanted / largest_peak_to_peak(pvc);
        if (k > 1) {
            for (auto& w : pvc.qrs) w.direction = k * w.direction;
            for (auto& w : pvc.t) w.direction = std::sqrt(k) * w.direction;
            for (auto& p : pvc.st) p.direction = std::sqrt(k) * p.direction;
        }
    }

    // --- beat times
    HostRng rhythm_rng = HostRng::for_name(seed, "rhythm");
    auto beats = beat_times(rhythm, 0, options.seconds, rhythm_rng);
    if (has(C::premature_ventricular_complexes)) {
        int count = 1 + static_cast<int>(rhythm_rng.uniform() * 3);
        insert_pvcs(beats, std::min(count, 3), 0, options.seconds, plan.qt + 0.04, rhythm_rng);
    }

    // --- dipole
    const std::size_t n = static_cast<std::size_t>(std::llround(options.fs * options.seconds));
    std::vector<double> dipole(3 * n, 0.0);
    double *x = dipole.data(), *y = x + n, *z = y + n;
    for (const auto& b : beats) {
        render_beat(b.premature_ventricular ? pvc : beat, b.qrs_onset, options.fs, n, x, y, z);
        if (b.qrs_onset < 0 || b.qrs_onset > options.seconds) continue;
        const BeatShape& shape = b.premature_ventricular ? pvc : beat;
        BeatAnnotation a;
        a.premature_ventricular = b.premature_ventricular;
        a.qrs_onset = b.qrs_onset;
        a.qrs_offset = b.qrs_onset + shape.qrs_duration;
        const Wave* largest = &shape.qrs.front();
        for (const auto& w : shape.qrs)
            if (norm(w.direction) > norm(largest->direction)) largest = &w;
        a.r_peak = b.qrs_onset + largest->center;
        a.t_offset = b.qrs_onset + shape.qt;
        if (!b.premature_ventricular && !shape.p.empty()) a.p_onset = b.qrs_onset - shape.pr;
        out.beats.push_back(a);
    }
    HostRng atrial_rng = HostRng::for_name(seed, "atrial");
    if (has(C::atrial_fibrillation))
        add_fibrillatory_waves(atrial_rng.uniform(0.05, 0.15) * (plan.low_voltage ? 0.6 : 1.0), options.fs, n, x, y, z,
                               atrial_rng);
    if (has(C::atrial_flutter))
        add_flutter_waves(atrial_rng.uniform(0.2, 0.35), rhythm.flutter_cycle, rhythm.flutter_origin, options.fs, n, x,
                          y, z);

    // --- leads, noise, derived limb leads
    data::EcgRecord& record = out.record;
    record.name = "synthetic-" + std::to_string(seed);
    record.fs = options.fs;
    record.length = static_cast<std::int64_t>(n);
    for (auto name : lead_names) record.leads.emplace_back(name), record.units.emplace_back("mV");
    record.samples.assign(12 * n, 0.0);
    const auto& vectors = lead_vectors();
    for (std::size_t k = 0; k < independent_lead_count; ++k) {
        double* lead = record.samples.data() + independent_leads[k] * n;
        Vec3 v = vectors[k];
        for (std::size_t t = 0; t < n; ++t) lead[t] = v.x * x[t] + v.y * y[t] + v.z * z[t];
    }
    add_noise(record.samples.data(), n, options.fs, options.noise, seed);
    derive_limb_leads(record.samples.data(), n);

    // Mean ventricular rate over the beats inside the record (a compensatory pause keeps the count).
    if (out.beats.size() >= 2)
        out.heart_rate_bpm = 60.0 * static_cast<double>(out.beats.size() - 1) /
                             (out.beats.back().qrs_onset - out.beats.front().qrs_onset);
    else
        out.heart_rate_bpm = rate;
    return out;
}

// A plausible combination: one rhythm by its prevalence, then each other condition with its own prevalence
// (visited in a seed-shuffled order) when compatible with everything chosen so far.
inline std::vector<Condition> sample_conditions(std::uint64_t seed) {
    using C = Condition;
    HostRng rng = HostRng::for_name(seed, "conditions");
    struct Share {
        C condition;
        double p;
    };
    static constexpr Share rhythms[] = {{C::sinus_rhythm, 0.55},
                                        {C::sinus_bradycardia, 0.14},
                                        {C::sinus_tachycardia, 0.12},
                                        {C::atrial_fibrillation, 0.13},
                                        {C::atrial_flutter, 0.06}};
    static constexpr Share extras[] = {{C::first_degree_av_block, 0.08},
                                       {C::right_bundle_branch_block, 0.08},
                                       {C::left_bundle_branch_block, 0.05},
                                       {C::left_ventricular_hypertrophy, 0.08},
                                       {C::low_qrs_voltage, 0.05},
                                       {C::inferior_infarction, 0.06},
                                       {C::anterior_infarction, 0.05},
                                       {C::ischemia, 0.08},
                                       {C::long_qt, 0.06},
                                       {C::premature_ventricular_complexes, 0.08},
                                       {C::left_axis_deviation, 0.08}};
    std::vector<C> chosen;
    double u = rng.uniform(), acc = 0;
    chosen.push_back(rhythms[4].condition);
    for (const auto& r : rhythms)
        if (u < (acc += r.p)) {
            chosen.back() = r.condition;
            break;
        }
    std::vector<Share> order(std::begin(extras), std::end(extras));
    for (std::size_t i = order.size() - 1; i > 0; --i)  // Fisher-Yates with our own generator
        std::swap(order[i], order[static_cast<std::size_t>(rng.uniform() * static_cast<double>(i + 1)) % (i + 1)]);
    for (const auto& e : order) {
        if (rng.uniform() >= e.p) continue;
        bool ok = std::all_of(chosen.begin(), chosen.end(), [&](C c) { return compatible(c, e.condition); });
        if (ok) chosen.push_back(e.condition);
    }
    std::sort(chosen.begin(), chosen.end());
    return chosen;
}

}  // namespace fgclep::synth
